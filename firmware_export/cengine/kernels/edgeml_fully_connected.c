/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* FULLY_CONNECTED: output[b][u] = requantize(sum_d (filter[u][d] + filter_offset) *
   (input[b][d] + input_offset) + bias[u]) + output_offset, clamped.
   TFLite: reference_integer_ops::FullyConnected and FullyConnectedPerChannel,
   tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h @ 90b983c2. The input's
   rank does not matter (keep_num_dims only changes the output's shape): it is read as batches x depth. */
void edgeml_fully_connected(const edgeml_fully_connected_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, unit, d;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *in = input + batch * p->depth;
        for (unit = 0; unit < p->units; ++unit) {
            const int8_t *weights = p->filter + unit * p->depth;
            const int32_t channel = p->per_channel ? unit : 0;
            int32_t acc = 0;
            for (d = 0; d < p->depth; ++d) {
                acc += ((int32_t)weights[d] + p->filter_offset) * ((int32_t)in[d] + p->input_offset);
            }
            if (p->bias != NULL) {
                acc += p->bias[unit];
            }
            acc = edgeml_requantize_fully_connected(acc, p->multiplier[channel], p->shift[channel]) + p->output_offset;
            output[batch * p->units + unit] = (int8_t)edgeml_clamp(acc, p->activation_min, p->activation_max);
        }
    }
}
