/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* CONV_2D, per output channel requantization.
   TFLite: reference_integer_ops::ConvPerChannel, tensorflow/lite/kernels/internal/reference/
   integer_ops/conv.h @ 90b983c2. Accumulates filter * (input - input_zero_point) in int32, adds the
   bias, requantizes with the channel's multiplier and shift, adds the output zero point, clamps. */
void edgeml_conv_2d(const edgeml_conv_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, out_y, out_x, out_c, filter_y, filter_x, in_c;
    for (batch = 0; batch < p->batches; ++batch) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = out_y * p->stride_h - p->pad_top;
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = out_x * p->stride_w - p->pad_left;
                int8_t *out = output + ((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c;
                for (out_c = 0; out_c < p->output_c; ++out_c) {
                    int32_t acc = 0;
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
                    out[out_c] = (int8_t)edgeml_clamp(acc, p->activation_min, p->activation_max);
                }
            }
        }
    }
}

/* DEPTHWISE_CONV_2D: output channel in_c * depth_multiplier + m sees only input channel in_c.
   TFLite: reference_integer_ops::DepthwiseConvPerChannel, .../reference/integer_ops/depthwise_conv.h
   @ 90b983c2. */
void edgeml_depthwise_conv_2d(const edgeml_depthwise_params *dp, const int8_t *input, int8_t *output)
{
    const edgeml_conv_params *p = &dp->conv;
    int32_t batch, out_y, out_x, in_c, m, filter_y, filter_x;
    for (batch = 0; batch < p->batches; ++batch) {
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = out_y * p->stride_h - p->pad_top;
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = out_x * p->stride_w - p->pad_left;
                int8_t *out = output + ((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c;
                for (in_c = 0; in_c < p->input_c; ++in_c) {
                    for (m = 0; m < dp->depth_multiplier; ++m) {
                        const int32_t out_c = in_c * dp->depth_multiplier + m;
                        int32_t acc = 0;
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
                        out[out_c] = (int8_t)edgeml_clamp(acc, p->activation_min, p->activation_max);
                    }
                }
            }
        }
    }
}
