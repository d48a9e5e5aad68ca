/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Order of accumulation follows TensorFlow Lite's float
 * reference kernels (Copyright The TensorFlow Authors; Apache License 2.0); see edgeml_float.h.
 */
#include <stddef.h>

#include "edgeml_float.h"

/* total + a[0] * b[0] + a[1] * b[1] + ... + a[n - 1] * b[n - 1], each product and sum rounded in that
   order (as the reference kernels' loops add them); four products per loop iteration, so a Cortex-M spends
   fewer of its instructions on the loop itself. */
static inline float dot(const float *a, const float *b, int32_t n, float total)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        total += a[i] * b[i];
        total += a[i + 1] * b[i + 1];
        total += a[i + 2] * b[i + 2];
        total += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) {
        total += a[i] * b[i];
    }
    return total;
}

/* FULLY_CONNECTED. TFLite: reference_ops::FullyConnected for float (reference/fully_connected.h
   @ 0f563557): the products summed over the depth from 0, then the bias added, then the activation's clamp. */
void edgeml_float_fully_connected(const edgeml_float_fully_connected_params *p, const float *input, float *output)
{
    int32_t b, u;
    for (b = 0; b < p->batches; ++b) {
        const float *row = input + b * p->depth;
        for (u = 0; u < p->units; ++u) {
            const float *weights = p->filter + u * p->depth;
            float total = dot(row, weights, p->depth, 0.0f);
            total += p->bias != NULL ? p->bias[u] : 0.0f;
            output[b * p->units + u] = EDGEML_FLOAT_CLAMP(total, p->activation_min, p->activation_max);
        }
    }
}

/* CONV_2D. TFLite: reference_ops::Conv for float (reference/conv.h @ 08df8c40): for each output value the
   sum runs over filter_y, filter_x, input channel (pixels outside the image are skipped: zero padding),
   then the bias is added and the activation's clamp applied. The taps outside the image are cut from the
   loops' ranges rather than tested one by one (edgeml_tap_range, edgeml_geometry.h), and without dilation a filter row's taps and
   channels are one contiguous dot product (NHWC input, OHWI filter): the same products, added in the same
   order. */
void edgeml_float_conv_2d(const edgeml_float_conv_params *p, const float *input, float *output)
{
    const int32_t depth = p->input_c, pixel_step = p->dilation_w * p->input_c;
    int32_t b, out_y, out_x, out_c, filter_y, filter_x, fy_start, fy_end, fx_start, fx_end;
    for (b = 0; b < p->batches; ++b) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
            edgeml_tap_range(in_y_origin, p->dilation_h, p->filter_h, p->input_h, &fy_start, &fy_end);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
                float *out = output + ((b * p->output_h + out_y) * p->output_w + out_x) * p->output_c;
                edgeml_tap_range(in_x_origin, p->dilation_w, p->filter_w, p->input_w, &fx_start, &fx_end);
                for (out_c = 0; out_c < p->output_c; ++out_c) {
                    float total = 0.0f;
                    for (filter_y = fy_start; filter_y < fy_end; ++filter_y) {
                        const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
                        const int32_t in_x = in_x_origin + p->dilation_w * fx_start;
                        const float *pixel = input + ((b * p->input_h + in_y) * p->input_w + in_x) * depth;
                        const float *weights =
                            p->filter + ((out_c * p->filter_h + filter_y) * p->filter_w + fx_start) * depth;
                        if (p->dilation_w == 1) {  /* the row's taps and channels: one run of memory in both */
                            total = dot(pixel, weights, (fx_end - fx_start) * depth, total);
                            continue;
                        }
                        for (filter_x = fx_start; filter_x < fx_end; ++filter_x) {
                            total = dot(pixel, weights, depth, total);
                            pixel += pixel_step;
                            weights += depth;
                        }
                    }
                    total += p->bias != NULL ? p->bias[out_c] : 0.0f;
                    out[out_c] = EDGEML_FLOAT_CLAMP(total, p->activation_min, p->activation_max);
                }
            }
        }
    }
}

/* DEPTHWISE_CONV_2D. TFLite: reference_ops::DepthwiseConv for float (reference/depthwiseconv_float.h
   @ a4f54022): output channel in_c * depth_multiplier + m sums over filter_y, filter_x, then the bias. */
void edgeml_float_depthwise_conv_2d(const edgeml_float_depthwise_params *d, const float *input, float *output)
{
    const edgeml_float_conv_params *p = &d->conv;
    int32_t b, out_y, out_x, in_c, m, filter_y, filter_x;
    for (b = 0; b < p->batches; ++b) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
                for (in_c = 0; in_c < p->input_c; ++in_c) {
                    for (m = 0; m < d->depth_multiplier; ++m) {
                        const int32_t out_c = in_c * d->depth_multiplier + m;
                        float total = 0.0f;
                        for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
                            const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
                            for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
                                const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
                                if (in_x < 0 || in_x >= p->input_w || in_y < 0 || in_y >= p->input_h) {
                                    continue;
                                }
                                total += input[((b * p->input_h + in_y) * p->input_w + in_x) * p->input_c + in_c] *
                                         p->filter[(filter_y * p->filter_w + filter_x) * p->output_c + out_c];
                            }
                        }
                        total += p->bias != NULL ? p->bias[out_c] : 0.0f;
                        output[((b * p->output_h + out_y) * p->output_w + out_x) * p->output_c + out_c] =
                            EDGEML_FLOAT_CLAMP(total, p->activation_min, p->activation_max);
                    }
                }
            }
        }
    }
}
