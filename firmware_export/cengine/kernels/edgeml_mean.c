/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* MEAN over axes 1 and 2 (H, W) of int8 NHWC data, or axis 1 of (batch, steps, channels) data (width 1),
   as the TFLite Micro interpreter computes it: reference_ops::QuantizedMeanOrSum
   (tensorflow/lite/kernels/internal/reference/reduce.h @ 90b983c2) sums the raw values in int32, subtracts
   zero_point * count, and requantizes once with a multiplier that the generator has already divided by the
   element count (the same integer steps as the kernel's "Readapt output rescaling" block). LiteRT
   BUILTIN_REF (ai-edge-litert 2.x) gives the same bytes with the same double rounding, so both builds run
   this (edgeml_requantize_mean). (Older TensorFlow Lite reference kernels computed int8 MEAN in float32;
   the LiteRT release edgeml tests against does not.)
   Channel by channel, so no int32 scratch array is needed. Not in place (the output is smaller). */
void edgeml_mean_hw(const edgeml_mean_params *p, const int8_t *input, int8_t *output)
{
    const int32_t count = p->height * p->width;
    int32_t batch, channel, position;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *in = input + batch * count * p->channels;
        for (channel = 0; channel < p->channels; ++channel) {
            int32_t sum = 0;
            int32_t result;
            for (position = 0; position < count; ++position) {
                sum += in[position * p->channels + channel];
            }
            result = edgeml_requantize_mean(sum - p->input_zero_point * count, p->multiplier, p->shift) +
                     p->output_zero_point;
            output[batch * p->channels + channel] = (int8_t)edgeml_clamp(result, -128, 127);
        }
    }
}
