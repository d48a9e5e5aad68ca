/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

#include "edgeml_dot.h"

/* The export folds input_offset * (the channel's filter sum) into every conv bias (fold.py), so the kernels
   multiply raw int8 inputs and read a tap in the padding as the input zero point (-input_offset): its
   w * zero point cancels the folded input_offset * w, leaving TFLite's "padding contributes nothing". */

/* n bytes from `from` to `to`, a word at a time where unaligned words are allowed (Armv7-M, the host);
   byte by byte elsewhere (the Cortex-M0 faults on an unaligned word). */
static void copy_bytes(int8_t *to, const int8_t *from, int32_t n)
{
#if defined(__ARM_FEATURE_UNALIGNED) || !defined(__arm__)
    while (n >= 4) {
        uint32_t word;
        memcpy(&word, from, 4);
        memcpy(to, &word, 4);
        to += 4;
        from += 4;
        n -= 4;
    }
#endif
    while (n > 0) {
        *to++ = *from++;
        --n;
    }
}

/* n copies of value (the padding's taps). Read through a volatile: GCC would turn the loop into a call of
   memset, a library function the engine does not otherwise need (measure.py cannot see its stack). */
static void fill_bytes(int8_t *to, int8_t value, int32_t n)
{
    volatile int8_t source = value;
    while (n > 0) {
        *to++ = source;
        --n;
    }
}

static inline int8_t conv_output(const edgeml_conv_params *p, int32_t acc, int32_t channel)
{
    acc = edgeml_requantize_conv_inline(acc, p->multiplier[channel], p->shift[channel]) + p->output_offset;
    return (int8_t)edgeml_clamp(acc, p->activation_min, p->activation_max);
}

static inline int32_t conv_bias(const edgeml_conv_params *p, int32_t channel)
{
    return p->bias != NULL ? p->bias[channel] : 0;
}

/* The im2col column of the output pixel (out_y, out_x) of one batch: the filter_h * filter_w * input_c input
   values its window covers, in the filter's OHWI order, the padding's as the input zero point. */
static void im2col_at(const edgeml_conv_params *p, const int8_t *batch_input, int32_t out_y, int32_t out_x,
                      int8_t *column)
{
    const int32_t ic = p->input_c, row_bytes = p->filter_w * ic;
    const int32_t in_y_origin = out_y * p->stride_h - p->pad_top, in_x_origin = out_x * p->stride_w - p->pad_left;
    const int8_t pad = (int8_t)(-p->input_offset);
    int32_t fy, fx;
    for (fy = 0; fy < p->filter_h; ++fy, column += row_bytes) {
        const int32_t in_y = in_y_origin + p->dilation_h * fy;
        const int8_t *row;
        if (in_y < 0 || in_y >= p->input_h) {
            fill_bytes(column, pad, row_bytes);
            continue;
        }
        row = batch_input + in_y * p->input_w * ic;
        if (p->dilation_w == 1 && in_x_origin >= 0 && in_x_origin + p->filter_w <= p->input_w) {
            copy_bytes(column, row + in_x_origin * ic, row_bytes); /* the window's row is contiguous */
            continue;
        }
        for (fx = 0; fx < p->filter_w; ++fx) {
            const int32_t in_x = in_x_origin + p->dilation_w * fx;
            if (in_x < 0 || in_x >= p->input_w) {
                fill_bytes(column + fx * ic, pad, ic);
            } else {
                copy_bytes(column + fx * ic, row + in_x * ic, ic);
            }
        }
    }
}

/* The im2col column of output pixel `pixel` (batch, row and column in raster order). */
static void im2col(const edgeml_conv_params *p, const int8_t *input, int32_t pixel, int8_t *column)
{
    const int32_t per_batch = p->output_h * p->output_w;
    const int32_t batch = pixel / per_batch;
    im2col_at(p, input + batch * p->input_h * p->input_w * p->input_c, pixel % per_batch / p->output_w,
              pixel % p->output_w, column);
}

/* CONV_2D, per output channel requantization.
   TFLite: reference_integer_ops::ConvPerChannel, tensorflow/lite/kernels/internal/reference/
   integer_ops/conv.h @ 90b983c2: accumulate filter * (input - input_zero_point) in int32, add the bias,
   requantize with the channel's multiplier and shift, add the output zero point, clamp.
   Computed as CMSIS-NN does (Lai et al., arXiv:1801.06601, section 3.2): two output pixels at a time
   are copied into two im2col columns in scratch (k = filter_h * filter_w * input_c bytes each, one after
   the other), then two output channels' filters (each a contiguous row of k bytes) run against both
   columns (edgeml_dot_2x2). */
void edgeml_conv_2d(const edgeml_conv_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t k = p->filter_h * p->filter_w * p->input_c;
    const int32_t channels = p->output_c;
    const int32_t pixels = p->batches * p->output_h * p->output_w;
    int8_t *const col0 = scratch;
    int8_t *const col1 = scratch + k;
    int32_t pixel, oc;
    for (pixel = 0; pixel < pixels; pixel += 2) {
        int8_t *const out0 = output + pixel * channels;
        int8_t *const out1 = out0 + channels;
        im2col(p, input, pixel, col0);
        if (pixel + 1 < pixels) {
            im2col(p, input, pixel + 1, col1);
            for (oc = 0; oc + 1 < channels; oc += 2) {
                int32_t acc[4];
                acc[0] = acc[1] = conv_bias(p, oc);
                acc[2] = acc[3] = conv_bias(p, oc + 1);
                edgeml_dot_2x2(p->filter + oc * k, scratch, k, acc);
                out0[oc] = conv_output(p, acc[0], oc);
                out1[oc] = conv_output(p, acc[1], oc);
                out0[oc + 1] = conv_output(p, acc[2], oc + 1);
                out1[oc + 1] = conv_output(p, acc[3], oc + 1);
            }
            if (oc < channels) { /* an odd last channel */
                out0[oc] = conv_output(p, conv_bias(p, oc) + edgeml_dot_1(p->filter + oc * k, col0, k), oc);
                out1[oc] = conv_output(p, conv_bias(p, oc) + edgeml_dot_1(p->filter + oc * k, col1, k), oc);
            }
        } else { /* an odd last pixel */
            for (oc = 0; oc < channels; ++oc) {
                out0[oc] = conv_output(p, conv_bias(p, oc) + edgeml_dot_1(p->filter + oc * k, col0, k), oc);
            }
        }
    }
}

/* What the max of a pool window keeps for one conv output: the accumulator itself where requantization is
   monotonic (no left shift: srdhm with a multiplier >= 0, the rounding shift, the clamp never decrease), so
   that the max of the accumulators requantized once equals the max of the requantized outputs; else (a left
   shift, which may wrap) the requantized output. */
static inline int32_t max_candidate(const edgeml_conv_params *p, int32_t acc, int32_t channel)
{
    return p->shift[channel] > 0 ? conv_output(p, acc, channel) : acc;
}

static inline int32_t larger(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

/* best[channel] (int32, any alignment) = max(best[channel], value), or value when `first`. */
static inline void keep_max(int8_t *best, int32_t channel, int32_t value, int32_t first)
{
    int32_t kept;
    if (!first) {
        memcpy(&kept, best + 4 * channel, 4);
        value = larger(kept, value);
    }
    memcpy(best + 4 * channel, &value, 4);
}

void edgeml_conv_2d_max(const edgeml_conv_params *p, const int8_t *batch_input, int32_t y0, int32_t y1, int32_t x0,
                        int32_t x1, int8_t *best, int8_t *scratch, int8_t *out)
{
    const int32_t k = p->filter_h * p->filter_w * p->input_c;
    const int32_t channels = p->output_c, width = x1 - x0, pixels = (y1 - y0) * width;
    int8_t *const col0 = scratch;
    int8_t *const col1 = scratch + k;
    int32_t pixel, oc, monotonic = 1;
    for (oc = 0; oc < channels; ++oc) {
        monotonic &= p->shift[oc] <= 0;
    }
    for (pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t first = pixel == 0;
        im2col_at(p, batch_input, y0 + pixel / width, x0 + pixel % width, col0);
        if (pixel + 1 < pixels) {
            im2col_at(p, batch_input, y0 + (pixel + 1) / width, x0 + (pixel + 1) % width, col1);
            for (oc = 0; oc + 1 < channels; oc += 2) {
                int32_t acc[4];
                acc[0] = acc[1] = conv_bias(p, oc);
                acc[2] = acc[3] = conv_bias(p, oc + 1);
                edgeml_dot_2x2(p->filter + oc * k, scratch, k, acc);
                if (monotonic) {
                    keep_max(best, oc, larger(acc[0], acc[1]), first);
                    keep_max(best, oc + 1, larger(acc[2], acc[3]), first);
                    continue;
                }
                keep_max(best, oc, larger(max_candidate(p, acc[0], oc), max_candidate(p, acc[1], oc)), first);
                keep_max(best, oc + 1, larger(max_candidate(p, acc[2], oc + 1), max_candidate(p, acc[3], oc + 1)),
                         first);
            }
            if (oc < channels) {
                const int32_t bias = conv_bias(p, oc);
                keep_max(best, oc, larger(max_candidate(p, bias + edgeml_dot_1(p->filter + oc * k, col0, k), oc),
                                          max_candidate(p, bias + edgeml_dot_1(p->filter + oc * k, col1, k), oc)),
                         first);
            }
        } else {
            for (oc = 0; oc < channels; ++oc) {
                keep_max(best, oc, max_candidate(p, conv_bias(p, oc) + edgeml_dot_1(p->filter + oc * k, col0, k), oc),
                         first);
            }
        }
    }
    for (oc = 0; oc < channels; ++oc) {
        int32_t kept;
        memcpy(&kept, best + 4 * oc, 4);
        out[oc] = p->shift[oc] > 0 ? (int8_t)kept : conv_output(p, kept, oc);
    }
}

/* The filter taps [*start, *end) whose input origin + dilation * tap lies inside [0, size). */
static void valid_taps(int32_t origin, int32_t dilation, int32_t taps, int32_t size, int32_t *start, int32_t *end)
{
    int32_t first = 0, last = taps;
    while (first < taps && origin + dilation * first < 0) {
        ++first;
    }
    while (last > first && origin + dilation * (last - 1) >= size) {
        --last;
    }
    *start = first;
    *end = last;
}

/* DEPTHWISE_CONV_2D: output channel in_c * depth_multiplier + m sees only input channel in_c.
   TFLite: reference_integer_ops::DepthwiseConvPerChannel, .../reference/integer_ops/depthwise_conv.h
   @ 90b983c2. The taps inside the input form a rectangle [fy0, fy1) x [fx0, fx1); the others (only at
   the borders) add filter * input zero point (see the folding above). With depth multiplier 1, four
   channels at a time walk the taps (input and filter are both contiguous in channels). */
void edgeml_depthwise_conv_2d(const edgeml_depthwise_params *dp, const int8_t *input, int8_t *output)
{
    const edgeml_conv_params *p = &dp->conv;
    const int32_t multiplier = dp->depth_multiplier, in_c = p->input_c, out_c = p->output_c;
    const int32_t zero_point = -p->input_offset;
    const int32_t x_step = p->dilation_w * in_c;
    int32_t batch, out_y, out_x, oc, fy, fx, fy0, fy1, fx0, fx1;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *batch_input = input + batch * p->input_h * p->input_w * in_c;
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = out_y * p->stride_h - p->pad_top;
            valid_taps(in_y_origin, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = out_x * p->stride_w - p->pad_left;
                int8_t *out = output + ((batch * p->output_h + out_y) * p->output_w + out_x) * out_c;
                int32_t border;
                valid_taps(in_x_origin, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
                border = fy0 != 0 || fy1 != p->filter_h || fx0 != 0 || fx1 != p->filter_w;
                oc = 0;
                if (multiplier == 1) {
                    for (; oc + 3 < out_c; oc += 4) {
                        int32_t acc0 = conv_bias(p, oc), acc1 = conv_bias(p, oc + 1);
                        int32_t acc2 = conv_bias(p, oc + 2), acc3 = conv_bias(p, oc + 3);
                        for (fy = fy0; fy < fy1; ++fy) {
                            const int8_t *x = batch_input +
                                ((in_y_origin + p->dilation_h * fy) * p->input_w + in_x_origin + p->dilation_w * fx0) * in_c + oc;
                            const int8_t *w = p->filter + (fy * p->filter_w + fx0) * out_c + oc;
                            for (fx = fx0; fx < fx1; ++fx) {
                                acc0 += w[0] * x[0];
                                acc1 += w[1] * x[1];
                                acc2 += w[2] * x[2];
                                acc3 += w[3] * x[3];
                                x += x_step;
                                w += out_c;
                            }
                        }
                        if (border) {
                            for (fy = 0; fy < p->filter_h; ++fy) {
                                for (fx = 0; fx < p->filter_w; ++fx) {
                                    const int8_t *w = p->filter + (fy * p->filter_w + fx) * out_c + oc;
                                    if (fy >= fy0 && fy < fy1 && fx >= fx0 && fx < fx1) {
                                        continue;
                                    }
                                    acc0 += w[0] * zero_point;
                                    acc1 += w[1] * zero_point;
                                    acc2 += w[2] * zero_point;
                                    acc3 += w[3] * zero_point;
                                }
                            }
                        }
                        out[oc] = conv_output(p, acc0, oc);
                        out[oc + 1] = conv_output(p, acc1, oc + 1);
                        out[oc + 2] = conv_output(p, acc2, oc + 2);
                        out[oc + 3] = conv_output(p, acc3, oc + 3);
                    }
                }
                for (; oc < out_c; ++oc) {
                    const int32_t channel = oc / multiplier;
                    int32_t acc = conv_bias(p, oc);
                    for (fy = 0; fy < p->filter_h; ++fy) {
                        for (fx = 0; fx < p->filter_w; ++fx) {
                            const int32_t weight = p->filter[(fy * p->filter_w + fx) * out_c + oc];
                            if (fy >= fy0 && fy < fy1 && fx >= fx0 && fx < fx1) {
                                acc += weight * batch_input[((in_y_origin + p->dilation_h * fy) * p->input_w +
                                                             in_x_origin + p->dilation_w * fx) * in_c + channel];
                            } else {
                                acc += weight * zero_point;
                            }
                        }
                    }
                    out[oc] = conv_output(p, acc, oc);
                }
            }
        }
    }
}
