/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* CONV_2D or DEPTHWISE_CONV_2D fused with the MAX_POOL_2D or AVERAGE_POOL_2D that alone reads its
   output, so the convolution's output tensor never exists. For each pooled pixel, the conv pixels of its
   window (all channels) are computed into scratch by the unfused kernels themselves (edgeml_conv.c),
   called on a one-pixel output, then reduced per channel exactly as edgeml_pool.c does: the bytes are
   those of the two ops run one after the other, by construction (tests/test_cengine_memory.py checks
   them against TFLite Micro and LiteRT). Scratch: filter_h * filter_w * conv output channels bytes,
   then CONV_2D's two im2col columns.
   When pool windows overlap (stride smaller than the window) the shared conv pixels are computed once
   per window that covers them: time traded for the conv output's memory.
   CONV_2D + MAX_POOL_2D takes a faster path, edgeml_conv_2d_max (edgeml_conv.c): the window's maximum of
   the accumulators, requantized once (exact where requantization is monotonic; see there). Its scratch:
   conv output_c int32 maxima, then the two im2col columns. */

/* `count` conv output pixels of one batch from (conv_y, conv_x) along the row, all channels, into out:
   the unfused kernel on a 1 x count output whose window is moved onto them by shifting the padding (so
   CONV_2D pairs them into its 2x2 tiles). The parameters are copied field by field: a struct assignment
   would become a memcpy call on Cortex-M (EDGEML_CONV_GEOMETRY_AT, edgeml_geometry.h). */
static void conv_pixels(const edgeml_conv_pool_params *p, const int8_t *batch_input, int32_t conv_y,
                        int32_t conv_x, int32_t count, int8_t *out, int8_t *im2col)
{
    const edgeml_conv_params *conv = &p->conv;
    edgeml_depthwise_params one;
    EDGEML_CONV_GEOMETRY_AT(one.conv, conv, conv_y, conv_x, count);
    one.conv.input_offset = conv->input_offset;
    one.conv.output_offset = conv->output_offset;
    one.conv.activation_min = conv->activation_min;
    one.conv.activation_max = conv->activation_max;
    one.conv.filter = conv->filter;
    one.conv.bias = conv->bias;
    one.conv.multiplier = conv->multiplier;
    one.conv.shift = conv->shift;
    one.depth_multiplier = p->depth_multiplier;
    if (p->depthwise) {
        edgeml_depthwise_conv_2d(&one, batch_input, out);
    } else {
        edgeml_conv_2d(&one.conv, batch_input, out, im2col);
    }
}

/* The pool of edgeml_pool.c over the window's conv pixels: MAX_POOL_2D starts from -128 and keeps the
   largest, AVERAGE_POOL_2D divides the sum by the inside count rounding half away from zero.
   TFLite: reference_integer_ops::MaxPool / AveragePool, .../reference/integer_ops/pooling.h @ 90b983c2. */
void edgeml_conv_pool(const edgeml_conv_pool_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const edgeml_pool_params *pool = &p->pool;
    const int32_t channels = pool->channels;
    const int32_t fast_max = !p->depthwise && !p->average; /* edgeml_conv_2d_max, scratch as fuse.py says */
    int8_t *const im2col = scratch + (fast_max ? 4 : pool->filter_h * pool->filter_w) * channels;
    /* The pool's clamp changes nothing over the whole int8 range (Keras pools have no activation). */
    const int32_t pool_clamps = pool->activation_min > -128 || pool->activation_max < 127;
    int32_t batch, out_y, out_x, c, fy, fy_start, fy_end, fx_start, fx_end, pixel, pixels, monotonic = 1;
    for (c = 0; fast_max && c < channels; ++c) { /* see edgeml_conv_2d_max */
        monotonic &= p->conv.shift[c] <= 0;
    }
    for (batch = 0; batch < pool->batches; ++batch) {
        const int8_t *batch_input = input + batch * p->conv.input_h * p->conv.input_w * p->conv.input_c;
        for (out_y = 0; out_y < pool->output_h; ++out_y) {
            const int32_t conv_y_origin = edgeml_window_origin(out_y, pool->stride_h, pool->pad_top);
            edgeml_pool_window(conv_y_origin, pool->filter_h, pool->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < pool->output_w; ++out_x) {
                const int32_t conv_x_origin = edgeml_window_origin(out_x, pool->stride_w, pool->pad_left);
                int8_t *out = output + ((batch * pool->output_h + out_y) * pool->output_w + out_x) * channels;
                edgeml_pool_window(conv_x_origin, pool->filter_w, pool->input_w, &fx_start, &fx_end);
                if (fast_max) {
                    edgeml_conv_2d_max(&p->conv, batch_input, conv_y_origin + fy_start, conv_y_origin + fy_end,
                                       conv_x_origin + fx_start, conv_x_origin + fx_end, monotonic, scratch, im2col,
                                       out);
                    for (c = 0; pool_clamps && c < channels; ++c) {
                        out[c] = (int8_t)edgeml_clamp(out[c], pool->activation_min, pool->activation_max);
                    }
                    continue;
                }
                pixels = 0; /* > 0: the generator only emits windows that overlap the input */
                for (fy = fy_start; fy < fy_end; ++fy) {
                    conv_pixels(p, batch_input, conv_y_origin + fy, conv_x_origin + fx_start, fx_end - fx_start,
                                scratch + pixels * channels, im2col);
                    pixels += fx_end - fx_start;
                }
                for (c = 0; c < channels; ++c) {
                    int32_t reduced = p->average ? 0 : -128;
                    for (pixel = 0; pixel < pixels; ++pixel) {
                        const int32_t value = scratch[pixel * channels + c];
                        if (p->average) {
                            reduced += value;
                        } else if (value > reduced) {
                            reduced = value;
                        }
                    }
                    if (p->average) {
                        reduced = reduced > 0 ? (reduced + pixels / 2) / pixels : (reduced - pixels / 2) / pixels;
                    }
                    out[c] = (int8_t)edgeml_clamp(reduced, pool->activation_min, pool->activation_max);
                }
            }
        }
    }
}
