/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite's float reference
 * kernels (Copyright The TensorFlow Authors; Apache License 2.0); see edgeml_float.h.
 */
#include <math.h>
#include <stddef.h>

#include "edgeml_float.h"

typedef float (*binary_function)(float a, float b);

static float add_one(float a, float b)
{
    return a + b;
}

static float mul_one(float a, float b)
{
    return a * b;
}

/* f on every output element, then the activation's clamp. Without broadcasting, element i of each input
   meets element i of the output; with it, a 4-deep loop over the output's dimensions walks each input with
   its own strides. TFLite: reference_ops::Add/Mul and BroadcastAdd6DSlow/BroadcastMul6DSlow for float
   (reference/add.h, mul.h). In place: output may be an input of the output's shape (each output
   element is written once, after its input elements are read, and no later element reads them). */
static void binary(const edgeml_float_binary_params *p, binary_function f, const float *input1,
                   const float *input2, float *output)
{
    const int32_t *b = p->broadcast;
    int32_t i, d0, d1, d2, d3;
    if (b == NULL) {
        for (i = 0; i < p->size; ++i) {
            const float value = f(input1[i], input2[i]);
            output[i] = EDGEML_FLOAT_CLAMP(value, p->activation_min, p->activation_max);
        }
        return;
    }
    i = 0;
    for (d0 = 0; d0 < b[0]; ++d0) {
        for (d1 = 0; d1 < b[1]; ++d1) {
            for (d2 = 0; d2 < b[2]; ++d2) {
                for (d3 = 0; d3 < b[3]; ++d3) {
                    const float value = f(input1[d0 * b[4] + d1 * b[5] + d2 * b[6] + d3 * b[7]],
                                          input2[d0 * b[8] + d1 * b[9] + d2 * b[10] + d3 * b[11]]);
                    output[i++] = EDGEML_FLOAT_CLAMP(value, p->activation_min, p->activation_max);
                }
            }
        }
    }
}

void edgeml_float_add(const edgeml_float_binary_params *p, const float *input1, const float *input2, float *output)
{
    binary(p, add_one, input1, input2, output);
}

void edgeml_float_mul(const edgeml_float_binary_params *p, const float *input1, const float *input2, float *output)
{
    binary(p, mul_one, input1, input2, output);
}

/* RELU: max(0, x); RELU6: min(max(0, x), 6). TFLite: activations.cc's float Relu and Relu6 (the same in
   every kernel type). In place. */
void edgeml_float_relu(const edgeml_float_unary_params *p, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = input[i] > 0.0f ? input[i] : 0.0f;
    }
}

void edgeml_float_relu6(const edgeml_float_unary_params *p, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = EDGEML_FLOAT_CLAMP(input[i], 0.0f, 6.0f);
    }
}

/* LEAKY_RELU: x if x > 0 else alpha * x. TFLite: reference_ops::LeakyRelu (reference/leaky_relu.h). In place. */
void edgeml_float_leaky_relu(const edgeml_float_unary_params *p, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = input[i] > 0.0f ? input[i] : input[i] * p->alpha;
    }
}

/* LOGISTIC. TFLite: reference_ops::Logistic for float (reference/logistic.h @ 235cb9a0): 1 above
   16.619047164916992188, exp(x) below -9, else 1 / (1 + exp(-x)). In place. */
void edgeml_float_logistic(const edgeml_float_unary_params *p, const float *input, float *output)
{
    const float cutoff_upper = 16.619047164916992188f;
    const float cutoff_lower = -9.0f;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float value = input[i];
        output[i] = value > cutoff_upper ? 1.0f : value < cutoff_lower ? expf(value) : 1.0f / (1.0f + expf(-value));
    }
}

/* TANH. TFLite: reference_ops::Tanh for float (reference/tanh.h): std::tanh. In place. */
void edgeml_float_tanh(const edgeml_float_unary_params *p, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = tanhf(input[i]);
    }
}

/* SOFTMAX. TFLite: reference_ops::Softmax for float (reference/softmax.h @ 0bc740a0): per row the max, then
   exp((x - max) * beta) summed from the first value, then each exp divided by the sum. */
void edgeml_float_softmax(const edgeml_float_softmax_params *p, const float *input, float *output)
{
    int32_t row, c;
    for (row = 0; row < p->rows; ++row) {
        const float *in = input + row * p->depth;
        float *out = output + row * p->depth;
        float largest = in[0], sum = 0.0f;
        for (c = 1; c < p->depth; ++c) {
            largest = in[c] > largest ? in[c] : largest;
        }
        for (c = 0; c < p->depth; ++c) {
            out[c] = expf((in[c] - largest) * p->beta);
            sum += out[c];
        }
        for (c = 0; c < p->depth; ++c) {
            out[c] = out[c] / sum;
        }
    }
}
