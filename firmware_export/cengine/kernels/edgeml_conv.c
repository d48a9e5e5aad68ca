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
#if defined(__ARM_FEATURE_UNALIGNED) || !defined(__arm__)
    const uint32_t word = (uint32_t)(uint8_t)source * 0x01010101u;
    while (n >= 4) {
        memcpy(to, &word, 4);
        to += 4;
        n -= 4;
    }
#endif
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

/* conv_output's constants copied out of the parameters, for the loops that store many outputs: a store through
   an int8_t pointer may alias anything, so values read through p would be read again after every store. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t offset, low, high;
} requantizer;

static inline requantizer requantizer_of(const edgeml_conv_params *p)
{
    requantizer r;
    r.multiplier = p->multiplier;
    r.shift = p->shift;
    r.offset = p->output_offset;
    r.low = p->activation_min;
    r.high = p->activation_max;
    return r;
}

/* conv_output with r's constants: the same bits. */
static inline int8_t requantized(const requantizer *r, int32_t acc, int32_t channel)
{
    acc = edgeml_requantize_conv_inline(acc, r->multiplier[channel], r->shift[channel]) + r->offset;
    return (int8_t)edgeml_clamp(acc, r->low, r->high);
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
    const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
    const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
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

/* Builds that optimize for speed compile max_tiles once per constant `first` and `monotonic` (three copies,
   no test of either per tile); -Os keeps one. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__OPTIMIZE_SIZE__)
#define EDGEML_SPECIALIZE_TILES 1
#define EDGEML_TILES_INLINE static inline __attribute__((always_inline))
#else
#define EDGEML_SPECIALIZE_TILES 0
#define EDGEML_TILES_INLINE static inline
#endif

/* The 2x2 tiles of two im2col columns (scratch) against every pair of output channels, each pair's maxima
   kept in best (see edgeml_conv_2d_max); an odd last channel is left to the caller. */
EDGEML_TILES_INLINE void max_tiles(const edgeml_conv_params *p, const int8_t *scratch, int32_t k, int8_t *best,
                                   int32_t first, int32_t monotonic)
{
    const int8_t *rows = p->filter;
    int8_t *slot = best;
    int32_t oc;
    for (oc = 0; oc + 1 < p->output_c; oc += 2, rows += 2 * k, slot += 8) {
        int32_t acc[4], max0, max1;
        acc[0] = acc[1] = conv_bias(p, oc);
        acc[2] = acc[3] = conv_bias(p, oc + 1);
        edgeml_dot_2x2(rows, scratch, k, acc);
        if (monotonic) {
            max0 = larger(acc[0], acc[1]);
            max1 = larger(acc[2], acc[3]);
        } else {
            max0 = larger(max_candidate(p, acc[0], oc), max_candidate(p, acc[1], oc));
            max1 = larger(max_candidate(p, acc[2], oc + 1), max_candidate(p, acc[3], oc + 1));
        }
        keep_max(slot, 0, max0, first);
        keep_max(slot, 1, max1, first);
    }
}

void edgeml_conv_2d_max(const edgeml_conv_params *p, const int8_t *batch_input, int32_t y0, int32_t y1, int32_t x0,
                        int32_t x1, int32_t monotonic, int8_t *best, int8_t *scratch, int8_t *out)
{
    const int32_t k = p->filter_h * p->filter_w * p->input_c;
    const int32_t channels = p->output_c, width = x1 - x0, pixels = (y1 - y0) * width;
    int8_t *const col0 = scratch;
    int8_t *const col1 = scratch + k;
    int32_t pixel, oc;
    for (pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t first = pixel == 0;
        im2col_at(p, batch_input, y0 + pixel / width, x0 + pixel % width, col0);
        if (pixel + 1 < pixels) {
            im2col_at(p, batch_input, y0 + (pixel + 1) / width, x0 + (pixel + 1) % width, col1);
#if EDGEML_SPECIALIZE_TILES
            if (monotonic && first) {
                max_tiles(p, scratch, k, best, 1, 1);
            } else if (monotonic) {
                max_tiles(p, scratch, k, best, 0, 1);
            } else {
                max_tiles(p, scratch, k, best, first, 0);
            }
#else
            max_tiles(p, scratch, k, best, first, monotonic);
#endif
            oc = channels & ~1;
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
    {
        const requantizer r = requantizer_of(p);
        for (oc = 0; oc < channels; ++oc) {
            int32_t kept;
            memcpy(&kept, best + 4 * oc, 4);
            out[oc] = r.shift[oc] > 0 ? (int8_t)kept : requantized(&r, kept, oc);
        }
    }
}

/* The taps of one output pixel that read the input: rows x cols of them from (fy0, fx0), the input and the
   filter at the first one (channel 0), the steps between taps along a row, and what moves the pointers from
   the end of a row (cols steps on) to the start of the next. */
typedef struct {
    int32_t rows, cols;
    const int8_t *x, *w;
    int32_t x_col_step, w_col_step, x_row_skip, w_row_skip;
} edgeml_dw_taps;

/* acc[j] += filter * input over the taps, for output channels oc + j, j < lanes (<= 4), whose input channels are
   at offsets offset[j] from the input of channel 0 (oc / depth multiplier). Portable C: byte loads. */
static inline void dw_lanes_c(const edgeml_dw_taps *t, int32_t oc, const int32_t offset[4], int32_t lanes,
                              int32_t acc[4])
{
    const int8_t *x = t->x + offset[0], *w = t->w + oc;
    const int32_t x_step = t->x_col_step, w_step = t->w_col_step, x_skip = t->x_row_skip, w_skip = t->w_row_skip;
    int32_t r, c;
    if (lanes == 4) { /* lanes share an input when the depth multiplier is above 1 */
        const int32_t o1 = offset[1] - offset[0], o2 = offset[2] - offset[0], o3 = offset[3] - offset[0];
        int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
        for (r = t->rows; r > 0; --r, x += x_skip, w += w_skip) {
            for (c = t->cols; c > 0; --c, x += x_step, w += w_step) {
                a0 += w[0] * x[0];
                a1 += w[1] * x[o1];
                a2 += w[2] * x[o2];
                a3 += w[3] * x[o3];
            }
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
    for (r = t->rows; r > 0; --r, x += x_skip, w += w_skip) {
        for (c = t->cols; c > 0; --c, x += x_step, w += w_step) {
            int32_t j;
            for (j = 0; j < lanes; ++j) {
                acc[j] += w[j] * x[offset[j] - offset[0]];
            }
        }
    }
}

/* Builds that optimize for speed unroll the rows of 3-wide filters (the common 3x3); -Os does not. */
#if defined(__OPTIMIZE_SIZE__)
#define EDGEML_DW_UNROLL_3 0
#else
#define EDGEML_DW_UNROLL_3 1
#endif

#if EDGEML_DSP
/* One tap of four channels, 4 MACs, on Armv7E-M: four channels' inputs and weights are four consecutive bytes
   each, one word load apiece; SXTB16 (and its ROR #8 form) unpacks channels 0, 2 and 1, 3 as int16 pairs, and
   SMLABB / SMLATT multiply-accumulate the bottom and the top halves. (SMLAD's two products go to one
   accumulator, so it would need two taps of one channel in a register: NHWC keeps those in_c bytes apart and
   packing them costs one PKHBT/PKHTB per pair, more than it saves.) */
#define EDGEML_DW_TAP(x, w)                                                                                        \
    do {                                                                                                           \
        const int32_t xs = edgeml_read_s8x4(x), ws = edgeml_read_s8x4(w);                                          \
        const int32_t x02 = __sxtb16(xs), w02 = __sxtb16(ws);                                                      \
        const int32_t x13 = edgeml_sxtb16_ror8(xs), w13 = edgeml_sxtb16_ror8(ws);                                  \
        a0 = __smlabb(x02, w02, a0);                                                                               \
        a2 = __smlatt(x02, w02, a2);                                                                               \
        a1 = __smlabb(x13, w13, a1);                                                                               \
        a3 = __smlatt(x13, w13, a3);                                                                               \
    } while (0)
#else
/* One tap of four channels, 4 MACs, in portable C: byte loads at constant offsets from one pointer apiece
   (dw_lanes_c's general offsets take three more registers, which a Cortex-M3 spills in the inner loop). */
#define EDGEML_DW_TAP(x, w)                                                                                        \
    do {                                                                                                           \
        a0 += (w)[0] * (x)[0];                                                                                     \
        a1 += (w)[1] * (x)[1];                                                                                     \
        a2 += (w)[2] * (x)[2];                                                                                     \
        a3 += (w)[3] * (x)[3];                                                                                     \
    } while (0)
#endif

/* Depth multiplier 1: acc[j] += filter * input over the taps for the four output channels oc + j, whose inputs
   (and weights) are four consecutive bytes, EDGEML_DW_TAP at a time. */
static inline void dw_4channels(const edgeml_dw_taps *t, int32_t oc, int32_t acc[4])
{
    const int8_t *x = t->x + oc, *w = t->w + oc;
    const int32_t x_step = t->x_col_step, w_step = t->w_col_step, cols = t->cols;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, c;
    for (r = t->rows; r > 0; --r) {
        if (EDGEML_DW_UNROLL_3 && cols == 3) { /* a 3-wide filter's row inside the input, unrolled */
            EDGEML_DW_TAP(x, w);
            EDGEML_DW_TAP(x + x_step, w + w_step);
            EDGEML_DW_TAP(x + 2 * x_step, w + 2 * w_step);
            x += 3 * x_step;
            w += 3 * w_step;
        } else {
            for (c = cols; c > 0; --c, x += x_step, w += w_step) {
                EDGEML_DW_TAP(x, w);
            }
        }
        x += t->x_row_skip;
        w += t->w_row_skip;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc[j] += filter * input zero point over the taps outside the input, [0, filter_h) x [0, filter_w) but not
   [fy0, fy1) x [fx0, fx1), for the output channels oc + j, j < lanes (see the folding above). */
static void dw_border(const edgeml_conv_params *p, int32_t oc, int32_t lanes, int32_t fy0, int32_t fy1, int32_t fx0,
                      int32_t fx1, int32_t acc[4])
{
    const int32_t out_c = p->output_c, zero_point = -p->input_offset;
    int32_t fy, fx, j;
    for (fy = 0; fy < p->filter_h; ++fy) {
        const int32_t inside_row = fy >= fy0 && fy < fy1 && fx0 < fx1;
        for (fx = 0; fx < p->filter_w; ++fx) {
            const int8_t *w = p->filter + (fy * p->filter_w + fx) * out_c + oc;
            if (inside_row && fx == fx0) {
                fx = fx1 - 1; /* skip the taps inside */
                continue;
            }
            for (j = 0; j < lanes; ++j) {
                acc[j] += w[j] * zero_point;
            }
        }
    }
}

/* DEPTHWISE_CONV_2D: output channel in_c * depth_multiplier + m sees only input channel in_c.
   TFLite: reference_integer_ops::DepthwiseConvPerChannel, .../reference/integer_ops/depthwise_conv.h
   @ 90b983c2. The taps inside the input form a rectangle [fy0, fy1) x [fx0, fx1); the others (only at
   the borders) add filter * input zero point (see the folding above). Four output channels at a time walk
   the rectangle's taps (input and filter both contiguous in channels), then the last out_c % 4 together;
   with depth multiplier 1, dw_4channels (SXTB16 + SMLABB/SMLATT on a DSP core, constant offsets in portable
   C). */
void edgeml_depthwise_conv_2d(const edgeml_depthwise_params *dp, const int8_t *input, int8_t *output)
{
    const edgeml_conv_params *p = &dp->conv;
    const int32_t multiplier = dp->depth_multiplier, in_c = p->input_c, out_c = p->output_c;
    const requantizer r = requantizer_of(p);
    int32_t batch, out_y, out_x, oc, fy0, fy1, fx0, fx1, j;
    edgeml_dw_taps t;
    t.x_col_step = p->dilation_w * in_c;
    t.w_col_step = out_c;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *batch_input = input + batch * p->input_h * p->input_w * in_c;
        for (out_y = 0; out_y < p->output_h; ++out_y) {
            const int32_t in_y_origin = edgeml_window_origin(out_y, p->stride_h, p->pad_top);
            edgeml_tap_range(in_y_origin, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
            for (out_x = 0; out_x < p->output_w; ++out_x) {
                const int32_t in_x_origin = edgeml_window_origin(out_x, p->stride_w, p->pad_left);
                int8_t *out = output + ((batch * p->output_h + out_y) * p->output_w + out_x) * out_c;
                int32_t border;
                edgeml_tap_range(in_x_origin, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
                border = fy0 != 0 || fy1 != p->filter_h || fx0 != 0 || fx1 != p->filter_w;
                t.rows = fy1 - fy0;
                t.cols = fx1 - fx0;
                t.x_row_skip = p->dilation_h * p->input_w * in_c - t.cols * t.x_col_step;
                t.w_row_skip = (p->filter_w - t.cols) * out_c;
                t.x = batch_input + ((in_y_origin + p->dilation_h * fy0) * p->input_w + in_x_origin +
                                     p->dilation_w * fx0) * in_c;
                t.w = p->filter + (fy0 * p->filter_w + fx0) * out_c;
                for (oc = 0; oc < out_c; oc += 4) {
                    const int32_t lanes = out_c - oc < 4 ? out_c - oc : 4;
                    int32_t acc[4], offset[4];
                    for (j = 0; j < lanes; ++j) {
                        acc[j] = conv_bias(p, oc + j);
                    }
                    if (multiplier == 1 && lanes == 4) {
                        dw_4channels(&t, oc, acc);
                    } else {
                        for (j = 0; j < lanes; ++j) {
                            offset[j] = multiplier == 1 ? oc + j : (oc + j) / multiplier;
                        }
                        dw_lanes_c(&t, oc, offset, lanes, acc);
                    }
                    if (border) {
                        dw_border(p, oc, lanes, fy0, fy1, fx0, fx1, acc);
                    }
                    for (j = 0; j < lanes; ++j) {
                        out[oc + j] = requantized(&r, acc[j], oc + j);
                    }
                }
            }
        }
    }
}
