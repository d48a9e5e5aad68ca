/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Data movement of TensorFlow Lite's CONCATENATION and PAD
 * (reference/concatenation.h, pad.h; Copyright The TensorFlow Authors; Apache License 2.0).
 */
#include <string.h>

#include "edgeml_float.h"

static float *copy_block(float *output, const float *input, int32_t block, int32_t size)
{
    memcpy(output, input + block * size, (size_t)size * sizeof(float));
    return output + size;
}

/* CONCATENATION: for each outer block, each input's block in turn (reference_ops::Concatenation). */
void edgeml_float_concatenation2(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, float *output)
{
    int32_t block;
    for (block = 0; block < p->outer; ++block) {
        output = copy_block(output, input0, block, p->size0);
        output = copy_block(output, input1, block, p->size1);
    }
}

void edgeml_float_concatenation3(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, const float *input2, float *output)
{
    int32_t block;
    for (block = 0; block < p->outer; ++block) {
        output = copy_block(output, input0, block, p->size0);
        output = copy_block(output, input1, block, p->size1);
        output = copy_block(output, input2, block, p->size2);
    }
}

void edgeml_float_concatenation4(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, const float *input2, const float *input3, float *output)
{
    int32_t block;
    for (block = 0; block < p->outer; ++block) {
        output = copy_block(output, input0, block, p->size0);
        output = copy_block(output, input1, block, p->size1);
        output = copy_block(output, input2, block, p->size2);
        output = copy_block(output, input3, block, p->size3);
    }
}

/* PAD: every output value is the input value it covers or pad_value (reference_ops::Pad, reference/pad.h). */
void edgeml_float_pad(const edgeml_float_pad_params *p, const float *input, float *output)
{
    const int32_t out_d1 = p->before1 + p->input_d1 + p->after1;
    const int32_t out_d2 = p->before2 + p->input_d2 + p->after2;
    const int32_t out_d3 = p->before3 + p->input_d3 + p->after3;
    const int32_t out_d0 = p->before0 + p->input_d0 + p->after0;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_d0; ++i0) {
        for (i1 = 0; i1 < out_d1; ++i1) {
            for (i2 = 0; i2 < out_d2; ++i2) {
                for (i3 = 0; i3 < out_d3; ++i3) {
                    const int32_t j0 = i0 - p->before0, j1 = i1 - p->before1;
                    const int32_t j2 = i2 - p->before2, j3 = i3 - p->before3;
                    const int inside = j0 >= 0 && j0 < p->input_d0 && j1 >= 0 && j1 < p->input_d1 && j2 >= 0 &&
                                       j2 < p->input_d2 && j3 >= 0 && j3 < p->input_d3;
                    *output++ = inside ? input[((j0 * p->input_d1 + j1) * p->input_d2 + j2) * p->input_d3 + j3]
                                       : p->pad_value;
                }
            }
        }
    }
}
