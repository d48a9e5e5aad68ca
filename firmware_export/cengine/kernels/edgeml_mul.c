/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* One element of MUL. TFLite: reference_integer_ops::MulElementwise (reference/integer_ops/mul.h
   @ 90b983c2): the product of the two offset inputs, requantized once by MultiplyByQuantizedMultiplier
   (double rounding in TFLite Micro, single with TFLITE_SINGLE_ROUNDING: edgeml_requantize_mul). */
static int8_t mul_one(const void *params, int8_t a, int8_t b)
{
    const edgeml_mul_params *p = (const edgeml_mul_params *)params;
    const int32_t product = ((int32_t)a + p->input1_offset) * ((int32_t)b + p->input2_offset);
    const int32_t result = edgeml_requantize_mul(product, p->output_multiplier, p->output_shift) +
                           p->output_offset;
    return (int8_t)edgeml_clamp(result, p->activation_min, p->activation_max);
}

/* MUL, element by element or broadcasting. In place: see edgeml_broadcast_binary (edgeml_add.c). */
void edgeml_mul(const edgeml_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    edgeml_broadcast_binary(p->size, p->broadcast, mul_one, p, input1, input2, output);
}
