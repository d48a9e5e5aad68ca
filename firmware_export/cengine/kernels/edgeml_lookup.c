/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"

/* An int8 -> int8 function as a 256-entry table indexed by input + 128 (LOGISTIC, HARD_SWISH). The generator
   computes the table with the arithmetic of the runtime each build follows (firmware_export/cengine/
   lookup.py). LOGISTIC differs between them beyond rounding: TFLite Micro's fixed-point
   reference_integer_ops::Logistic (reference/integer_ops/logistic.h @ 90b983c2, gemmlowp's logistic) in the
   default build, LiteRT BUILTIN_REF's float32 lookup table (PopulateLookupTable, activations.cc) in the
   single-rounding build. HARD_SWISH: reference_ops::HardSwish (reference/hard_swish.h, int16 fixed point)
   in both.
   In place: output may be input (element i is read before it is written, and only once). */
void edgeml_lookup(const edgeml_lookup_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[(int32_t)input[i] + 128];
    }
}
