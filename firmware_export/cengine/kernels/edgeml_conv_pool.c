/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* CONV_2D or DEPTHWISE_CONV_2D fused with the MAX_POOL_2D or AVERAGE_POOL_2D that alone reads its
   output, so the convolution's output tensor never exists: each pooled value is reduced from the conv
   values of its window, computed on the spot. No scratch memory. Each conv value is the int8 that the
   unfused conv kernel (edgeml_conv.c) would have stored, computed with the same arithmetic in the same
   order, and the pool reduces them as edgeml_pool.c does, so the output is bit-identical to the two ops
   run one after the other (tests/test_cengine_memory.py checks it against TFLite Micro and LiteRT).
   When pool windows overlap (stride smaller than the window) the shared conv values are computed once
   per window that covers them: time traded for the conv output's memory. */

/* The int8 output of CONV_2D at (batch, out_y, out_x, out_c), exactly as edgeml_conv_2d computes it.
   TFLite: reference_integer_ops::ConvPerChannel, .../reference/integer_ops/conv.h @ 90b983c2. */
static int32_t conv_value(const edgeml_conv_params *p, const int8_t *input, int32_t batch, int32_t out_y,
                          int32_t out_x, int32_t out_c)
{
    const int32_t in_y_origin = out_y * p->stride_h - p->pad_top;
    const int32_t in_x_origin = out_x * p->stride_w - p->pad_left;
    int32_t acc = 0;
    int32_t filter_y, filter_x, in_c;
    for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
        const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
        if (in_y < 0 || in_y >= p->input_h) {
            continue; /* zero padding contributes nothing */
        }
        for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
            const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
            const int8_t *in;
            const int8_t *weights;
            if (in_x < 0 || in_x >= p->input_w) {
                continue;
            }
            in = input + ((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c;
            weights = p->filter + ((out_c * p->filter_h + filter_y) * p->filter_w + filter_x) * p->input_c;
            for (in_c = 0; in_c < p->input_c; ++in_c) {
                acc += (int32_t)weights[in_c] * ((int32_t)in[in_c] + p->input_offset);
            }
        }
    }
    if (p->bias != NULL) {
        acc += p->bias[out_c];
    }
    acc = edgeml_requantize_conv(acc, p->multiplier[out_c], p->shift[out_c]) + p->output_offset;
    return edgeml_clamp(acc, p->activation_min, p->activation_max);
}

/* The int8 output of DEPTHWISE_CONV_2D at (batch, out_y, out_x, out_c), as edgeml_depthwise_conv_2d.
   TFLite: reference_integer_ops::DepthwiseConvPerChannel, .../integer_ops/depthwise_conv.h @ 90b983c2. */
static int32_t depthwise_value(const edgeml_conv_params *p, int32_t depth_multiplier, const int8_t *input,
                               int32_t batch, int32_t out_y, int32_t out_x, int32_t out_c)
{
    const int32_t in_c = out_c / depth_multiplier;
    const int32_t in_y_origin = out_y * p->stride_h - p->pad_top;
    const int32_t in_x_origin = out_x * p->stride_w - p->pad_left;
    int32_t acc = 0;
    int32_t filter_y, filter_x;
    for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
        const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
        if (in_y < 0 || in_y >= p->input_h) {
            continue;
        }
        for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
            const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
            int32_t in_value, weight;
            if (in_x < 0 || in_x >= p->input_w) {
                continue;
            }
            in_value = input[((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c + in_c];
            weight = p->filter[(filter_y * p->filter_w + filter_x) * p->output_c + out_c];
            acc += weight * (in_value + p->input_offset);
        }
    }
    if (p->bias != NULL) {
        acc += p->bias[out_c];
    }
    acc = edgeml_requantize_conv(acc, p->multiplier[out_c], p->shift[out_c]) + p->output_offset;
    return edgeml_clamp(acc, p->activation_min, p->activation_max);
}

/* The part of the pool window that lies inside the conv output (as in edgeml_pool.c). */
static void window(int32_t origin, int32_t filter_size, int32_t input_size, int32_t *start, int32_t *end)
{
    *start = origin < 0 ? -origin : 0;
    *end = input_size - origin < filter_size ? input_size - origin : filter_size;
}

/* The pool of edgeml_pool.c over conv values: MAX_POOL_2D starts from -128 and keeps the largest,
   AVERAGE_POOL_2D divides the sum by the window's inside count rounding half away from zero.
   TFLite: reference_integer_ops::MaxPool / AveragePool, .../reference/integer_ops/pooling.h @ 90b983c2. */
void edgeml_conv_pool(const edgeml_conv_pool_params *p, const int8_t *input, int8_t *output)
{
    const edgeml_pool_params *pool = &p->pool;
    int32_t batch, out_y, out_x, c, fy, fx, fy_start, fy_end, fx_start, fx_end;
    for (batch = 0; batch < pool->batches; ++batch) {
        for (out_y = 0; out_y < pool->output_h; ++out_y) {
            const int32_t conv_y_origin = out_y * pool->stride_h - pool->pad_top;
            window(conv_y_origin, pool->filter_h, pool->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < pool->output_w; ++out_x) {
                const int32_t conv_x_origin = out_x * pool->stride_w - pool->pad_left;
                int32_t count;
                window(conv_x_origin, pool->filter_w, pool->input_w, &fx_start, &fx_end);
                count = (fy_end - fy_start) * (fx_end - fx_start);
                for (c = 0; c < pool->channels; ++c) {
                    int32_t reduced = p->average ? 0 : -128;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t conv_y = conv_y_origin + fy, conv_x = conv_x_origin + fx;
                            const int32_t value = p->depthwise
                                ? depthwise_value(&p->conv, p->depth_multiplier, input, batch, conv_y, conv_x, c)
                                : conv_value(&p->conv, input, batch, conv_y, conv_x, c);
                            if (p->average) {
                                reduced += value;
                            } else if (value > reduced) {
                                reduced = value;
                            }
                        }
                    }
                    if (p->average) {
                        /* count > 0: the generator only emits windows that overlap the input. */
                        reduced = reduced > 0 ? (reduced + count / 2) / count : (reduced - count / 2) / count;
                    }
                    output[((batch * pool->output_h + out_y) * pool->output_w + out_x) * pool->channels + c] =
                        (int8_t)edgeml_clamp(reduced, pool->activation_min, pool->activation_max);
                }
            }
        }
    }
}
