/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* MultiplyByQuantizedMultiplier's two branches (edgeml_fixedpoint.h has them inline). */
int32_t edgeml_requantize_single_rounding(int32_t x, int32_t multiplier, int32_t shift)
{
    return edgeml_requantize_single(x, multiplier, shift);
}

int32_t edgeml_requantize_double_rounding(int32_t x, int32_t multiplier, int32_t shift)
{
    return edgeml_requantize_double(x, multiplier, shift);
}

/* QUANTIZE int8 -> int8 (the converter's requantization between two scales of one value).
   TFLite: reference_ops::Requantize, tensorflow/lite/kernels/internal/reference/requantize.h @ 90b983c2:
   TFLite Micro rounds twice (MultiplyByQuantizedMultiplier's default branch), LiteRT's reference
   kernels once. Reads input[i] before writing output[i], so it may run in place. */
void edgeml_quantize(const edgeml_quantize_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t value =
            edgeml_requantize_fully_connected((int32_t)input[i] + p->input_offset, p->multiplier, p->shift) +
            p->output_offset;
        output[i] = (int8_t)(value < -128 ? -128 : value > 127 ? 127 : value);
    }
}
