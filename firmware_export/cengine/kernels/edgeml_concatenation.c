/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* CONCATENATION of int8 tensors that share the output's quantization: a copy, no arithmetic.
   TFLite: reference_ops::Concatenation (reference/concatenation.h @ 90b983c2): for each outer index, the
   inputs' blocks (their size along the axis times the inner size) one after the other.
   Not in place: the output interleaves the inputs. */
static void concatenate(const edgeml_concatenation_params *p, const int8_t *const *inputs, int32_t count,
                        int8_t *output)
{
    const int32_t sizes[4] = {p->size0, p->size1, p->size2, p->size3};
    int32_t outer, k;
    for (outer = 0; outer < p->outer; ++outer) {
        for (k = 0; k < count; ++k) {
            memcpy(output, inputs[k] + outer * sizes[k], (size_t)sizes[k]);
            output += sizes[k];
        }
    }
}

void edgeml_concatenation2(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           int8_t *output)
{
    const int8_t *inputs[2];
    inputs[0] = input0;
    inputs[1] = input1;
    concatenate(p, inputs, 2, output);
}

void edgeml_concatenation3(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           const int8_t *input2, int8_t *output)
{
    const int8_t *inputs[3];
    inputs[0] = input0;
    inputs[1] = input1;
    inputs[2] = input2;
    concatenate(p, inputs, 3, output);
}

void edgeml_concatenation4(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           const int8_t *input2, const int8_t *input3, int8_t *output)
{
    const int8_t *inputs[4];
    inputs[0] = input0;
    inputs[1] = input1;
    inputs[2] = input2;
    inputs[3] = input3;
    concatenate(p, inputs, 4, output);
}
