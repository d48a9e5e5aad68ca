/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"

/* PAD of int8 data of at most 4 dimensions with the output's zero point (the quantized 0.0). TFLite:
   reference_ops::PadImpl (tensorflow/lite/kernels/internal/reference/pad.h @ 90b983c2), which TFLite Micro
   and LiteRT both run for int8 PAD (pad value: the output zero point). Rows of the innermost dimension are
   copied whole. Not in place (the output is larger). */
void edgeml_pad(const edgeml_pad_params *p, const int8_t *input, int8_t *output)
{
    const int32_t row = p->input_d3;
    const int32_t out_row = p->input_d3 + p->before3 + p->after3;
    int32_t d0, d1, d2;
    const int32_t out_d0 = p->input_d0 + p->before0 + p->after0;
    const int32_t out_d1 = p->input_d1 + p->before1 + p->after1;
    const int32_t out_d2 = p->input_d2 + p->before2 + p->after2;
    memset(output, (int)p->pad_value, (size_t)(out_d0 * out_d1 * out_d2 * out_row));
    for (d0 = 0; d0 < p->input_d0; ++d0) {
        for (d1 = 0; d1 < p->input_d1; ++d1) {
            for (d2 = 0; d2 < p->input_d2; ++d2) {
                const int32_t out_index =
                    (((d0 + p->before0) * out_d1 + d1 + p->before1) * out_d2 + d2 + p->before2) * out_row + p->before3;
                memcpy(output + out_index, input + ((d0 * p->input_d1 + d1) * p->input_d2 + d2) * row, (size_t)row);
            }
        }
    }
}
