/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/* LEAKY_RELU, RELU and RELU6. TFLite: reference_ops::QuantizeLeakyRelu (reference/leaky_relu.h
   @ 90b983c2): x - input zero point requantized with the identity multiplier (input scale / output scale)
   where it is >= 0, with the alpha multiplier (input scale * alpha / output scale) below, plus the output
   zero point, clamped. RELU is the same with one multiplier for both sides and the activation's clamp
   (TFLite Micro's ReluQuantized, micro/kernels/activations_common.cc). RELU6 differs between the runtimes
   beyond rounding: TFLite Micro's Relu6Quantized only clamps the input to [input zero point, 6 quantized
   in the input's scale], ignoring the output's quantization (the generator passes zero points 0, a unit
   multiplier and that clamp to the default build); LiteRT BUILTIN_REF's QuantizedReluX requantizes like
   RELU (the single-rounding build's parameters). Requantization: MultiplyByQuantizedMultiplier, which
   rounds twice in both runtimes here (edgeml_requantize_leaky_relu).
   In place: output may be input (element i is read before it is written, and only once). */
void edgeml_leaky_relu(const edgeml_leaky_relu_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        const int32_t scaled = x >= 0 ? edgeml_requantize_leaky_relu(x, p->identity_multiplier, p->identity_shift)
                                      : edgeml_requantize_leaky_relu(x, p->alpha_multiplier, p->alpha_shift);
        output[i] = (int8_t)edgeml_clamp(scaled + p->output_zero_point, p->activation_min, p->activation_max);
    }
}
