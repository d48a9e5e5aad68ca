/*
 * edgeml C engine: float32 kernels for a model compiled ahead of time (no interpreter, no malloc, C99,
 * <stdint.h>, <float.h> and <math.h> only: expf for SOFTMAX and LOGISTIC, tanhf for TANH).
 *
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Each kernel computes what TensorFlow Lite's float
 * reference kernel computes, in the same order of accumulation, so that its outputs match LiteRT's
 * OpResolverType.BUILTIN_REF to float32 rounding (Copyright The TensorFlow Authors, Apache License 2.0):
 * the files each function names under tensorflow/lite/kernels/internal/reference/ of
 * tensorflow/tensorflow, at the commit given beside each. This is edgeml's own code.
 *
 * Build with floating-point contraction off: a fused multiply-add rounds once where the reference rounds
 * twice. gcc's ISO C modes (-std=c99) turn it off; clang contracts within an expression by default, so
 * pass -ffp-contract=off to clang.
 */
#ifndef EDGEML_FLOAT_H
#define EDGEML_FLOAT_H

#include <stdint.h>

#include "edgeml_geometry.h" /* shared with the int8 kernels */

/* The clamp of a fused activation: TFLite's ActivationFunctionWithMinMax (reference/../common.h). */
#define EDGEML_FLOAT_CLAMP(x, low, high) ((x) < (low) ? (low) : (x) > (high) ? (high) : (x))

/* FULLY_CONNECTED: output[b][u] = act(sum_d input[b][d] * filter[u][d] + bias[u]). */
typedef struct {
    int32_t batches, depth, units;
    float activation_min, activation_max;
    const float *filter; /* units x depth */
    const float *bias;   /* units, may be NULL */
} edgeml_float_fully_connected_params;

void edgeml_float_fully_connected(const edgeml_float_fully_connected_params *p, const float *input, float *output);

/* CONV_2D on NHWC data, OHWI filter; DEPTHWISE_CONV_2D with a 1 x H x W x (input_c * depth_multiplier) filter. */
typedef struct {
    EDGEML_CONV_GEOMETRY_FIELDS
    float activation_min, activation_max;
    const float *filter;
    const float *bias; /* may be NULL */
} edgeml_float_conv_params;

typedef struct {
    edgeml_float_conv_params conv;
    int32_t depth_multiplier;
} edgeml_float_depthwise_params;

void edgeml_float_conv_2d(const edgeml_float_conv_params *p, const float *input, float *output);
void edgeml_float_depthwise_conv_2d(const edgeml_float_depthwise_params *p, const float *input, float *output);

/* MAX_POOL_2D and AVERAGE_POOL_2D on NHWC data. */
typedef struct {
    EDGEML_POOL_GEOMETRY_FIELDS
    float activation_min, activation_max;
} edgeml_float_pool_params;

void edgeml_float_max_pool_2d(const edgeml_float_pool_params *p, const float *input, float *output);
void edgeml_float_average_pool_2d(const edgeml_float_pool_params *p, const float *input, float *output);

/* A CONV_2D or DEPTHWISE_CONV_2D fused with the MAX_POOL_2D or AVERAGE_POOL_2D that alone reads its
   output (edgeml_float_conv_pool.c): the conv output is never stored; the values are the two ops', bit for
   bit. scratch holds pool.filter_h * pool.filter_w * conv.output_c floats. */
typedef struct {
    edgeml_float_conv_params conv;
    int32_t depthwise;              /* 0: CONV_2D, 1: DEPTHWISE_CONV_2D */
    int32_t depth_multiplier;       /* DEPTHWISE_CONV_2D only (1 for CONV_2D) */
    edgeml_float_pool_params pool;  /* its input is the conv output */
    int32_t average;                /* 0: MAX_POOL_2D, 1: AVERAGE_POOL_2D */
} edgeml_float_conv_pool_params;

void edgeml_float_conv_pool(const edgeml_float_conv_pool_params *p, const float *input, float *output, float *scratch);

/* MEAN over height and width of NHWC data (or over the steps of NWC data: width 1). */
typedef struct {
    int32_t batches, height, width, channels;
} edgeml_float_mean_params;

void edgeml_float_mean_hw(const edgeml_float_mean_params *p, const float *input, float *output);

/* ADD and MUL, element by element or broadcasting over at most 4 dimensions: broadcast is NULL, or
   the output's 4 dimensions, then each input's 4 strides (0 along a dimension it repeats). */
typedef struct {
    int32_t size;
    float activation_min, activation_max;
    const int32_t *broadcast; /* may be NULL */
} edgeml_float_binary_params;

void edgeml_float_add(const edgeml_float_binary_params *p, const float *input1, const float *input2, float *output);
void edgeml_float_mul(const edgeml_float_binary_params *p, const float *input1, const float *input2, float *output);

/* Element-wise activations (in place allowed: output may be input). */
typedef struct {
    int32_t size;
    float alpha; /* LEAKY_RELU's slope for negative values; unused by the others */
} edgeml_float_unary_params;

void edgeml_float_relu(const edgeml_float_unary_params *p, const float *input, float *output);
void edgeml_float_relu6(const edgeml_float_unary_params *p, const float *input, float *output);
void edgeml_float_leaky_relu(const edgeml_float_unary_params *p, const float *input, float *output);
void edgeml_float_logistic(const edgeml_float_unary_params *p, const float *input, float *output);
void edgeml_float_tanh(const edgeml_float_unary_params *p, const float *input, float *output);

/* SOFTMAX over the last dimension (rows x depth values). */
typedef struct {
    int32_t rows, depth;
    float beta;
} edgeml_float_softmax_params;

void edgeml_float_softmax(const edgeml_float_softmax_params *p, const float *input, float *output);

/* CONCATENATION of 2 to 4 tensors along one axis: outer blocks, each input contributing size_k values. */
typedef struct {
    int32_t outer;
    int32_t size0, size1, size2, size3;
} edgeml_float_concatenation_params;

void edgeml_float_concatenation2(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, float *output);
void edgeml_float_concatenation3(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, const float *input2, float *output);
void edgeml_float_concatenation4(const edgeml_float_concatenation_params *p, const float *input0,
                                 const float *input1, const float *input2, const float *input3, float *output);

/* PAD with a constant value over at most 4 dimensions (input dims d0..d3, before/after each). */
typedef struct {
    int32_t input_d0, input_d1, input_d2, input_d3;
    int32_t before0, before1, before2, before3;
    int32_t after0, after1, after2, after3;
    float pad_value;
} edgeml_float_pad_params;

void edgeml_float_pad(const edgeml_float_pad_params *p, const float *input, float *output);

#endif /* EDGEML_FLOAT_H */
