/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

#include "edgeml_dot.h"

EDGEML_FIXEDPOINT_INLINE int8_t fc_output(const edgeml_fully_connected_params *p, int32_t acc, int32_t unit)
{
    const int32_t channel = p->per_channel ? unit : 0;
    if (p->bias != NULL) {
        acc += p->bias[unit];
    }
    acc = edgeml_requantize_fully_connected_inline(acc, p->multiplier[channel], p->shift[channel]) + p->output_offset;
    return (int8_t)edgeml_clamp(acc, p->activation_min, p->activation_max);
}

/* FULLY_CONNECTED: output[b][u] = requantize(sum_d (filter[u][d] + filter_offset) *
   (input[b][d] + input_offset) + bias[u]) + output_offset, clamped.
   TFLite: reference_integer_ops::FullyConnected and FullyConnectedPerChannel,
   tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h @ 90b983c2. The input's
   rank does not matter (keep_num_dims only changes the output's shape): it is read as batches x depth.
   The export folds input_offset into the bias (fold.py: sum_d w * (x + o) = sum_d w * x + o * sum_d w),
   so with int8 weights (filter_offset 0) both offsets are 0 and four units at a time share each input
   load (edgeml_dot.h); other offsets take TFLite's loop as written. */
void edgeml_fully_connected(const edgeml_fully_connected_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, unit, d;
    const int32_t depth = p->depth, units = p->units;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *in = input + batch * depth;
        int8_t *out = output + batch * units;
        if (p->input_offset != 0 || p->filter_offset != 0) {
            for (unit = 0; unit < units; ++unit) {
                const int8_t *weights = p->filter + unit * depth;
                int32_t acc = 0;
                for (d = 0; d < depth; ++d) {
                    acc += ((int32_t)weights[d] + p->filter_offset) * ((int32_t)in[d] + p->input_offset);
                }
                out[unit] = fc_output(p, acc, unit);
            }
            continue;
        }
        for (unit = 0; unit + 3 < units; unit += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            edgeml_dot_4rows(p->filter + unit * depth, in, depth, acc);
            out[unit] = fc_output(p, acc[0], unit);
            out[unit + 1] = fc_output(p, acc[1], unit + 1);
            out[unit + 2] = fc_output(p, acc[2], unit + 2);
            out[unit + 3] = fc_output(p, acc[3], unit + 3);
        }
        for (; unit < units; ++unit) {
            out[unit] = fc_output(p, edgeml_dot_1(p->filter + unit * depth, in, depth), unit);
        }
    }
}
