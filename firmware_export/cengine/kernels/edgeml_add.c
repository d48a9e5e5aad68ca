/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* ADD, element by element. TFLite: reference_integer_ops::AddElementwise / AddFunc
   (tensorflow/lite/kernels/internal/reference/integer_ops/add.h @ 90b983c2), whose
   MultiplyByQuantizedMultiplierSmallerThanOneExp is a double-rounding requantization unless
   TFLITE_SINGLE_ROUNDING (then the single-rounding one): edgeml_requantize_add. */
void edgeml_add(const edgeml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t shifted1 = edgeml_shift_left_wrapping((int32_t)input1[i] + p->input1_offset, p->left_shift);
        const int32_t shifted2 = edgeml_shift_left_wrapping((int32_t)input2[i] + p->input2_offset, p->left_shift);
        const int32_t scaled1 = edgeml_requantize_add(shifted1, p->input1_multiplier, p->input1_shift);
        const int32_t scaled2 = edgeml_requantize_add(shifted2, p->input2_multiplier, p->input2_shift);
        const int32_t sum = scaled1 + scaled2;
        const int32_t result = edgeml_requantize_add(sum, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)edgeml_clamp(result, p->activation_min, p->activation_max);
    }
}
