/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* MAX_POOL_2D. TFLite: reference_integer_ops::MaxPool, .../reference/integer_ops/pooling.h @ 90b983c2. */
void edgeml_max_pool_2d(const edgeml_pool_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, out_y, out_x, c, fy, fx, fy_start, fy_end, fx_start, fx_end;
    for (batch = 0; batch < p->batches; ++batch) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
            edgeml_pool_window(in_y_origin, p->filter_h, p->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
                edgeml_pool_window(in_x_origin, p->filter_w, p->input_w, &fx_start, &fx_end);
                for (c = 0; c < p->channels; ++c) {
                    int32_t max = -128;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t value = input[((batch * p->input_h + in_y_origin + fy) * p->input_w +
                                                         in_x_origin + fx) * p->channels + c];
                            max = value > max ? value : max;
                        }
                    }
                    output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->channels + c] =
                        (int8_t)edgeml_clamp(max, p->activation_min, p->activation_max);
                }
            }
        }
    }
}

/* AVERAGE_POOL_2D: the sum over the window's inside part divided by its element count, rounded to
   nearest with ties away from zero, in integers.
   TFLite: reference_integer_ops::AveragePool, .../reference/integer_ops/pooling.h @ 90b983c2. */
void edgeml_average_pool_2d(const edgeml_pool_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, out_y, out_x, c, fy, fx, fy_start, fy_end, fx_start, fx_end;
    for (batch = 0; batch < p->batches; ++batch) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
            edgeml_pool_window(in_y_origin, p->filter_h, p->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
                int32_t count;
                edgeml_pool_window(in_x_origin, p->filter_w, p->input_w, &fx_start, &fx_end);
                count = (fy_end - fy_start) * (fx_end - fx_start);
                for (c = 0; c < p->channels; ++c) {
                    int32_t sum = 0;
                    int32_t average;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            sum += input[((batch * p->input_h + in_y_origin + fy) * p->input_w +
                                          in_x_origin + fx) * p->channels + c];
                        }
                    }
                    /* count > 0: the generator only emits windows that overlap the input. */
                    average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->channels + c] =
                        (int8_t)edgeml_clamp(average, p->activation_min, p->activation_max);
                }
            }
        }
    }
}
