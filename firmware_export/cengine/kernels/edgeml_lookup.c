/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"

/* An int8 -> int8 function as a 256-entry table indexed by input + 128 (LOGISTIC, TANH, HARD_SWISH). The
   generator computes the table with the arithmetic of the runtime each build follows (firmware_export/
   cengine/lookup.py). LOGISTIC and TANH differ between them beyond rounding:
   - default build, TFLite Micro: fixed point. reference_integer_ops::Logistic (reference/integer_ops/
     logistic.h @ tflite-micro 90b983c2) and reference_integer_ops::Tanh (reference/integer_ops/tanh.h,
     parameters from CalculateArithmeticOpData in micro/kernels/tanh.cc): x - input zero point rescaled to
     Q4.27 by a double-rounding MultiplyByQuantizedMultiplier (saturating beyond the input radius), then
     gemmlowp's logistic or tanh (fixedpoint.h; tanh(x) = (1 - e^-2|x|) / (1 + e^-2|x|) by Newton-Raphson
     division), rounded to Q0.8 with zero point -128 (LOGISTIC) or to Q0.7 with zero point 0 (TANH);
   - single-rounding build, LiteRT BUILTIN_REF: a float32 table (PopulateLookupTable in
     tensorflow/lite/kernels/activations.cc, which LogisticPrepare / TanhPrepare fill for the reference
     kernel with 1 / (1 + exp(-v)) / std::tanh(v)), rounded to the output's scale and zero point.
   The two differ by an LSB on some inputs of most scales (tests/test_cengine_ops.py checks each build
   against its runtime on random scales). HARD_SWISH: reference_ops::HardSwish (reference/hard_swish.h,
   int16 fixed point) in both.
   In place: output may be input (element i is read before it is written, and only once). */
void edgeml_lookup(const edgeml_lookup_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[(int32_t)input[i] + 128];
    }
}
