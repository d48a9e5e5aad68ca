/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Order of accumulation follows TensorFlow Lite's float
 * reference kernels (Copyright The TensorFlow Authors; Apache License 2.0); see edgeml_float.h.
 */
#include <float.h>

#include "edgeml_float.h"

/* CONV_2D or DEPTHWISE_CONV_2D fused with the MAX_POOL_2D or AVERAGE_POOL_2D that alone reads its output,
   so the convolution's output tensor never exists (the float build's counterpart of edgeml_conv_pool.c).
   For each pooled pixel, the conv pixels of its window (all channels) are computed into scratch by the
   unfused kernels themselves (edgeml_float_conv.c) on a one-pixel output, then reduced per channel in the
   order edgeml_float_pool.c uses: the values are those of the two ops run one after the other, bit for bit.
   Scratch: pool filter_h * filter_w * conv output channels floats. Overlapping pool windows compute their
   shared conv pixels once per window: time traded for the conv output's memory. */

/* The conv output pixel (conv_y, conv_x) of one batch, all channels, into out: the unfused kernel on a
   one-pixel output whose window is moved onto (conv_y, conv_x) by shifting the padding
   (EDGEML_CONV_GEOMETRY_AT, edgeml_geometry.h). */
static void conv_pixel(const edgeml_float_conv_pool_params *p, const float *batch_input, int32_t conv_y,
                       int32_t conv_x, float *out)
{
    const edgeml_float_conv_params *conv = &p->conv;
    edgeml_float_depthwise_params one;
    EDGEML_CONV_GEOMETRY_AT(one.conv, conv, conv_y, conv_x, 1);
    one.conv.activation_min = conv->activation_min;
    one.conv.activation_max = conv->activation_max;
    one.conv.filter = conv->filter;
    one.conv.bias = conv->bias;
    one.depth_multiplier = p->depth_multiplier;
    if (p->depthwise) {
        edgeml_float_depthwise_conv_2d(&one, batch_input, out);
    } else {
        edgeml_float_conv_2d(&one.conv, batch_input, out);
    }
}

/* The pool over the window's conv pixels, row by row: AVERAGE_POOL_2D sums and divides by the count,
   MAX_POOL_2D keeps the largest; then the pool's clamp. TFLite: reference_ops::AveragePool / MaxPool for
   float (reference/pooling.h @ 28f241bb). */
void edgeml_float_conv_pool(const edgeml_float_conv_pool_params *p, const float *input, float *output, float *scratch)
{
    const edgeml_float_pool_params *pool = &p->pool;
    const int32_t channels = pool->channels;
    int32_t batch, out_y, out_x, c, fy, fx, fy_start, fy_end, fx_start, fx_end, pixel, pixels;
    for (batch = 0; batch < pool->batches; ++batch) {
        const float *batch_input = input + batch * p->conv.input_h * p->conv.input_w * p->conv.input_c;
        for (out_y = 0; out_y < pool->output_h; ++out_y) {
            const int32_t conv_y_origin = edgeml_window_origin(out_y, pool->stride_h, pool->pad_top);
            edgeml_pool_window(conv_y_origin, pool->filter_h, pool->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < pool->output_w; ++out_x) {
                const int32_t conv_x_origin = edgeml_window_origin(out_x, pool->stride_w, pool->pad_left);
                float *out = output + ((batch * pool->output_h + out_y) * pool->output_w + out_x) * channels;
                edgeml_pool_window(conv_x_origin, pool->filter_w, pool->input_w, &fx_start, &fx_end);
                pixels = 0;
                for (fy = fy_start; fy < fy_end; ++fy) {
                    for (fx = fx_start; fx < fx_end; ++fx) {
                        conv_pixel(p, batch_input, conv_y_origin + fy, conv_x_origin + fx, scratch + pixels * channels);
                        ++pixels;
                    }
                }
                for (c = 0; c < channels; ++c) {
                    float reduced = p->average ? 0.0f : -FLT_MAX;
                    for (pixel = 0; pixel < pixels; ++pixel) {
                        const float value = scratch[pixel * channels + c];
                        if (p->average) {
                            reduced += value;
                        } else if (value > reduced) {
                            reduced = value;
                        }
                    }
                    if (p->average) {
                        reduced = pixels > 0 ? reduced / (float)pixels : 0.0f;
                    }
                    out[c] = EDGEML_FLOAT_CLAMP(reduced, pool->activation_min, pool->activation_max);
                }
            }
        }
    }
}
