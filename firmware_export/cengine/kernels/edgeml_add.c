/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* Runs f on every output element. Without broadcasting, element i of each input meets element i of the
   output; with it, a 4-deep loop over the output's dimensions walks each input with its own strides
   (0 along a dimension the input repeats). TFLite: the index arithmetic of BroadcastAdd6DSlow /
   BroadcastMul6DSlow (reference/integer_ops/add.h, mul.h @ 90b983c2) for at most 4 dimensions.
   In place: output may be input1 or input2 when that input has the output's shape (each output element
   is written once, after both of its input elements are read, and no later element reads it). */
void edgeml_broadcast_binary(int32_t size, edgeml_broadcast b, edgeml_binary_function f, const void *params,
                             const int8_t *input1, const int8_t *input2, int8_t *output)
{
    int32_t i, d0, d1, d2, d3;
    if (b == NULL) {
        for (i = 0; i < size; ++i) {
            output[i] = f(params, input1[i], input2[i]);
        }
        return;
    }
    i = 0;
    for (d0 = 0; d0 < b[0]; ++d0) {
        for (d1 = 0; d1 < b[1]; ++d1) {
            for (d2 = 0; d2 < b[2]; ++d2) {
                for (d3 = 0; d3 < b[3]; ++d3) {
                    const int32_t at1 = d0 * b[4] + d1 * b[5] + d2 * b[6] + d3 * b[7];
                    const int32_t at2 = d0 * b[8] + d1 * b[9] + d2 * b[10] + d3 * b[11];
                    output[i++] = f(params, input1[at1], input2[at2]);
                }
            }
        }
    }
}

/* One element of ADD. TFLite: reference_integer_ops::AddFunc (reference/integer_ops/add.h @ 90b983c2),
   whose MultiplyByQuantizedMultiplierSmallerThanOneExp is a double-rounding requantization unless
   TFLITE_SINGLE_ROUNDING (then the single-rounding one): edgeml_requantize_add. */
static int8_t add_one(const void *params, int8_t a, int8_t b)
{
    const edgeml_add_params *p = (const edgeml_add_params *)params;
    const int32_t shifted1 = edgeml_shift_left_wrapping((int32_t)a + p->input1_offset, p->left_shift);
    const int32_t shifted2 = edgeml_shift_left_wrapping((int32_t)b + p->input2_offset, p->left_shift);
    const int32_t scaled1 = edgeml_requantize_add(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = edgeml_requantize_add(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t result = edgeml_requantize_add(scaled1 + scaled2, p->output_multiplier, p->output_shift) +
                           p->output_offset;
    return (int8_t)edgeml_clamp(result, p->activation_min, p->activation_max);
}

/* ADD, element by element or broadcasting (the converter's residual and squeeze-and-excite sums).
   In place: see edgeml_broadcast_binary. */
void edgeml_add(const edgeml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    edgeml_broadcast_binary(p->size, p->broadcast, add_one, p, input1, input2, output);
}
