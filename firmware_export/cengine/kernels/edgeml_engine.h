/*
 * edgeml C engine: int8 kernels for a model compiled ahead of time (no interpreter, no malloc,
 * no floating point, C99, only <stdint.h> and <string.h>).
 *
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). The integer arithmetic follows TensorFlow Lite's
 * reference kernels and gemmlowp's fixed-point library (Copyright The TensorFlow Authors and
 * The gemmlowp Authors, Apache License 2.0): tensorflow/tflite-micro at commit
 * 90b983c2b3f1480642e040bbd2ddb37b998f3424, files tensorflow/lite/kernels/internal/common.{h,cc},
 * .../reference/integer_ops/{conv,depthwise_conv,fully_connected,pooling}.h,
 * .../reference/softmax.h and third_party gemmlowp fixedpoint/fixedpoint.h. This is edgeml's own
 * code written to produce the same bits; each function names the routine whose arithmetic it follows.
 *
 * Rounding: by default requantization rounds twice, as the TFLite Micro interpreter does in every op
 * (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT). Define EDGEML_SINGLE_ROUNDING to 1 to
 * follow LiteRT's reference kernels (OpResolverType.BUILTIN_REF of ai-edge-litert 2.x) instead, which
 * round once (64-bit multiply, add half, shift: TFLite's TFLITE_SINGLE_ROUNDING) in FULLY_CONNECTED,
 * ADD and softmax's input scaling but twice in CONV_2D, DEPTHWISE_CONV_2D, MEAN, MUL and LEAKY_RELU;
 * measured op by op in tests/test_cengine_ops.py. The generated model file holds the constants of
 * both builds.
 *
 * Speed: FULLY_CONNECTED and CONV_2D multiply raw int8 inputs (the export folds the input zero point into
 * the bias) in the dot products of edgeml_dot.h: SXTB16 + SMLAD on Armv7E-M cores with the DSP extension
 * (Cortex-M4, M7, M33; -DEDGEML_NO_DSP turns it off), unrolled portable C everywhere else. Same bits.
 * DEPTHWISE_CONV_2D with depth multiplier 1 uses SXTB16 + SMLABB/SMLATT there (edgeml_conv.c).
 *
 * Assumes two's complement integers with arithmetic right shift of negative values (every
 * compiler edgeml targets: gcc, clang, arm-none-eabi-gcc), as TFLite itself does.
 */
#ifndef EDGEML_ENGINE_H
#define EDGEML_ENGINE_H

#include <stdint.h>
#include <string.h> /* NULL, memset */

#include "edgeml_geometry.h"

#ifndef EDGEML_SINGLE_ROUNDING
#define EDGEML_SINGLE_ROUNDING 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EDGEML_ALIGN(n) __attribute__((aligned(n)))
#else
#define EDGEML_ALIGN(n)
#endif

/* Requantization: x * (multiplier / 2^31) * 2^shift, rounded once or twice.
   Follow MultiplyByQuantizedMultiplier (common.cc, its two branches). */
int32_t edgeml_requantize_double_rounding(int32_t x, int32_t multiplier, int32_t shift);
int32_t edgeml_requantize_single_rounding(int32_t x, int32_t multiplier, int32_t shift);

/* The requantization each kernel uses in this build (see "Rounding" above). */
#define edgeml_requantize_conv edgeml_requantize_double_rounding
#define edgeml_requantize_mean edgeml_requantize_double_rounding
#define edgeml_requantize_leaky_relu edgeml_requantize_double_rounding
#define edgeml_requantize_mul edgeml_requantize_double_rounding
#if EDGEML_SINGLE_ROUNDING
#define edgeml_requantize_fully_connected edgeml_requantize_single_rounding
#define edgeml_requantize_add edgeml_requantize_single_rounding
#else
#define edgeml_requantize_fully_connected edgeml_requantize_double_rounding
#define edgeml_requantize_add edgeml_requantize_double_rounding
#endif

/* CONV_2D on NHWC int8 data, OHWI int8 filter, one multiplier/shift per output channel. */
typedef struct {
    EDGEML_CONV_GEOMETRY_FIELDS
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t activation_min, activation_max;
    const int8_t *filter;
    const int32_t *bias; /* may be NULL */
    const int32_t *multiplier;
    const int32_t *shift;
} edgeml_conv_params;

/* CONV_2D. bias: TFLite's bias plus input_offset * the output channel's filter sum (folded at export,
   fold.py; NULL when both are 0). scratch: two im2col columns, 2 * filter_h * filter_w * input_c bytes
   (any alignment). */
void edgeml_conv_2d(const edgeml_conv_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/* DEPTHWISE_CONV_2D: filter is 1 x H x W x (input_c * depth_multiplier). */
typedef struct {
    edgeml_conv_params conv;
    int32_t depth_multiplier;
} edgeml_depthwise_params;

/* For a CONV_2D fused with a MAX_POOL_2D (edgeml_conv_pool.c): out[c] = the largest requantized CONV_2D output
   of channel c over the conv pixels [y0, y1) x [x0, x1) of one batch (batch_input). monotonic: every channel's
   shift <= 0 (requantization never decreases). best: output_c int32 values of working space, scratch: two
   im2col columns as edgeml_conv_2d's (both any alignment). */
void edgeml_conv_2d_max(const edgeml_conv_params *p, const int8_t *batch_input, int32_t y0, int32_t y1, int32_t x0,
                        int32_t x1, int32_t monotonic, int8_t *best, int8_t *scratch, int8_t *out);

/* bias: folded as CONV_2D's (fold.py). */
void edgeml_depthwise_conv_2d(const edgeml_depthwise_params *p, const int8_t *input, int8_t *output);

/* FULLY_CONNECTED: input is batches x depth (any rank, flattened), filter is units x depth.
   multiplier/shift hold one value per unit when per_channel, else one value. */
typedef struct {
    int32_t batches, depth, units;
    int32_t input_offset, filter_offset, output_offset;
    int32_t activation_min, activation_max;
    int32_t per_channel;
    const int8_t *filter;
    const int32_t *bias; /* may be NULL */
    const int32_t *multiplier;
    const int32_t *shift;
} edgeml_fully_connected_params;

void edgeml_fully_connected(const edgeml_fully_connected_params *p, const int8_t *input, int8_t *output);

/* MAX_POOL_2D / AVERAGE_POOL_2D: input and output share their quantization. */
typedef struct {
    EDGEML_POOL_GEOMETRY_FIELDS
    int32_t activation_min, activation_max;
} edgeml_pool_params;

void edgeml_max_pool_2d(const edgeml_pool_params *p, const int8_t *input, int8_t *output);
void edgeml_average_pool_2d(const edgeml_pool_params *p, const int8_t *input, int8_t *output);

/* SOFTMAX over the last axis, int8 in and out (output scale 1/256, zero point -128). */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} edgeml_softmax_params;

void edgeml_softmax(const edgeml_softmax_params *p, const int8_t *input, int8_t *output);

/* Broadcasting of a binary element-wise op (ADD, MUL) over at most 4 dimensions: 12 values, the output's
   4 dimensions, then input1's and input2's strides in elements per output dimension (0 where that input
   has size 1 and is repeated). NULL in a params struct: both inputs have the output's shape. */
typedef const int32_t *edgeml_broadcast;

/* ADD of two int8 tensors: both inputs rescaled to a common scale with 20 bits of headroom, summed,
   requantized to the output. */
typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t activation_min, activation_max;
    edgeml_broadcast broadcast; /* may be NULL */
} edgeml_add_params;

void edgeml_add(const edgeml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

/* MUL of two int8 tensors: (input1 - zp1) * (input2 - zp2) requantized to the output. */
typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t activation_min, activation_max;
    edgeml_broadcast broadcast; /* may be NULL */
} edgeml_mul_params;

void edgeml_mul(const edgeml_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

/* The step that runs a binary element-wise op on every output element, broadcasting as b says (NULL:
   same shapes). Shared by ADD and MUL. */
typedef int8_t (*edgeml_binary_function)(const void *params, int8_t a, int8_t b);
void edgeml_broadcast_binary(int32_t size, edgeml_broadcast b, edgeml_binary_function f, const void *params,
                             const int8_t *input1, const int8_t *input2, int8_t *output);

/* Element-wise requantization with two slopes: LEAKY_RELU (identity for x >= zero point, alpha below), and
   RELU / RELU6 (the same slope on both sides, then the activation clamp). */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t identity_multiplier, identity_shift;
    int32_t alpha_multiplier, alpha_shift;
    int32_t activation_min, activation_max;
} edgeml_leaky_relu_params;

void edgeml_leaky_relu(const edgeml_leaky_relu_params *p, const int8_t *input, int8_t *output);

/* QUANTIZE from int8 to int8: x -> clamp(requantize(x + input_offset) + output_offset), rounded as this
   build's FULLY_CONNECTED (edgeml_requantize.c). */
typedef struct {
    int32_t size;
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t multiplier, shift;
} edgeml_quantize_params;

void edgeml_quantize(const edgeml_quantize_params *p, const int8_t *input, int8_t *output);

/* PAD of at most 4 dimensions (a lower rank is padded with leading 1s): the input's dimensions, the
   padding before and after each, and the value written there. */
typedef struct {
    int32_t input_d0, input_d1, input_d2, input_d3;
    int32_t before0, before1, before2, before3;
    int32_t after0, after1, after2, after3;
    int32_t pad_value;
} edgeml_pad_params;

void edgeml_pad(const edgeml_pad_params *p, const int8_t *input, int8_t *output);

/* An element-wise int8 function (LOGISTIC, HARD_SWISH) as a table: output = table[input + 128]. */
typedef struct {
    int32_t size;
    const int8_t *table;
} edgeml_lookup_params;

void edgeml_lookup(const edgeml_lookup_params *p, const int8_t *input, int8_t *output);

/* CONCATENATION of 2 to 4 int8 tensors sharing one quantization, along one axis: each of the outer
   blocks of the output is input 0's block of size0 bytes, then input 1's of size1 bytes, ... */
typedef struct {
    int32_t outer;
    int32_t size0, size1, size2, size3;
} edgeml_concatenation_params;

void edgeml_concatenation2(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           int8_t *output);
void edgeml_concatenation3(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           const int8_t *input2, int8_t *output);
void edgeml_concatenation4(const edgeml_concatenation_params *p, const int8_t *input0, const int8_t *input1,
                           const int8_t *input2, const int8_t *input3, int8_t *output);

/* MEAN over the height and width of NHWC data (global average pooling; width 1 for the steps of a Conv1D
   model's data); the multiplier and shift already include the division by height * width. */
typedef struct {
    int32_t batches, height, width, channels;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} edgeml_mean_params;

void edgeml_mean_hw(const edgeml_mean_params *p, const int8_t *input, int8_t *output);

/* CONV_2D or DEPTHWISE_CONV_2D fused with the MAX_POOL_2D or AVERAGE_POOL_2D that alone reads its
   output (edgeml_conv_pool.c): the conv output is never stored; the result is the pool's, bit for bit.
   scratch holds pool.filter_h * pool.filter_w * conv.output_c bytes, then for CONV_2D the two im2col
   columns edgeml_conv_2d needs (any alignment). */
typedef struct {
    edgeml_conv_params conv;
    int32_t depthwise;        /* 0: CONV_2D, 1: DEPTHWISE_CONV_2D */
    int32_t depth_multiplier; /* DEPTHWISE_CONV_2D only (1 for CONV_2D) */
    edgeml_pool_params pool;  /* its input is the conv output */
    int32_t average;          /* 0: MAX_POOL_2D, 1: AVERAGE_POOL_2D */
} edgeml_conv_pool_params;

void edgeml_conv_pool(const edgeml_conv_pool_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

#endif /* EDGEML_ENGINE_H */
