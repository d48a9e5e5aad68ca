/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Order of accumulation follows TensorFlow Lite's float
 * reference kernels (Copyright The TensorFlow Authors; Apache License 2.0); see edgeml_float.h.
 */
#include <float.h>

#include "edgeml_float.h"

/* One pooling window clipped to the image, as reference_ops::AveragePool/MaxPool compute it. */
typedef struct {
    int32_t y_start, y_end, x_start, x_end, in_y_origin, in_x_origin;
} window;

static window clip(const edgeml_float_pool_params *p, int32_t out_y, int32_t out_x)
{
    window w;
    w.in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
    w.in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
    edgeml_pool_window(w.in_y_origin, p->filter_h, p->input_h, &w.y_start, &w.y_end);
    edgeml_pool_window(w.in_x_origin, p->filter_w, p->input_w, &w.x_start, &w.x_end);
    return w;
}

/* AVERAGE_POOL_2D (average != 0) and MAX_POOL_2D. TFLite: reference_ops::AveragePool and MaxPool for float
   (reference/pooling.h @ 28f241bb): the window's values taken row by row, clipped to the image; the sum
   divided by the count of values inside the image, or the largest; then the activation's clamp. */
static void pool(const edgeml_float_pool_params *p, const float *input, float *output, int average)
{
    int32_t b, out_y, out_x, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const window w = clip(p, out_y, out_x);
                for (c = 0; c < p->channels; ++c) {
                    float reduced = average ? 0.0f : -FLT_MAX;
                    int32_t count = 0;
                    for (y = w.y_start; y < w.y_end; ++y) {
                        for (x = w.x_start; x < w.x_end; ++x) {
                            const int32_t in_y = w.in_y_origin + y, in_x = w.in_x_origin + x;
                            const float value = input[((b * p->input_h + in_y) * p->input_w + in_x) * p->channels + c];
                            if (average) {
                                reduced += value;
                            } else if (value > reduced) {
                                reduced = value;
                            }
                            ++count;
                        }
                    }
                    if (average) {
                        reduced = count > 0 ? reduced / (float)count : 0.0f;
                    }
                    output[((b * p->output_h + out_y) * p->output_w + out_x) * p->channels + c] =
                        EDGEML_FLOAT_CLAMP(reduced, p->activation_min, p->activation_max);
                }
            }
        }
    }
}

void edgeml_float_average_pool_2d(const edgeml_float_pool_params *p, const float *input, float *output)
{
    pool(p, input, output, 1);
}

void edgeml_float_max_pool_2d(const edgeml_float_pool_params *p, const float *input, float *output)
{
    pool(p, input, output, 0);
}

/* MEAN over height and width. TFLite: reference_ops::Mean for float (reference/reduce.h, the
   4-D special case over axes 1 and 2; the generic path sums in the same order): per batch and channel,
   the values summed over y then x, divided by height * width. */
void edgeml_float_mean_hw(const edgeml_float_mean_params *p, const float *input, float *output)
{
    int32_t b, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        for (c = 0; c < p->channels; ++c) {
            float total = 0.0f;
            for (y = 0; y < p->height; ++y) {
                for (x = 0; x < p->width; ++x) {
                    total += input[((b * p->height + y) * p->width + x) * p->channels + c];
                }
            }
            output[b * p->channels + c] = total / (float)(p->height * p->width);
        }
    }
}
