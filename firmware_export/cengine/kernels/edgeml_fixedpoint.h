/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
/* Fixed-point primitives shared by the kernels (gemmlowp fixedpoint.h semantics on int32). */
#ifndef EDGEML_FIXEDPOINT_H
#define EDGEML_FIXEDPOINT_H

#include <stdint.h>

/* (a * b * 2) >> 32, rounded to nearest (ties away from zero), saturating the single overflow case
   INT32_MIN * INT32_MIN. gemmlowp: SaturatingRoundingDoublingHighMul. */
static inline int32_t edgeml_srdhm(int32_t a, int32_t b)
{
    int64_t product;
    int32_t nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    product = (int64_t)a * (int64_t)b;
    nudge = product >= 0 ? (1 << 30) : (1 - (1 << 30));
    /* Division (not a shift) truncates toward zero, as gemmlowp does. */
    return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. gemmlowp: RoundingDivideByPOT. */
static inline int32_t edgeml_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^exponent for exponent >= 0, saturating to the int32 range.
   gemmlowp: SaturatingRoundingMultiplyByPOT with a positive exponent. */
static inline int32_t edgeml_saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* x * 2^left_shift with the wrap-around of TFLite's int32 multiply (x * (1 << left_shift)). */
static inline int32_t edgeml_shift_left_wrapping(int32_t x, int32_t left_shift)
{
    return (int32_t)((uint32_t)x << left_shift);
}

static inline int32_t edgeml_clamp(int32_t x, int32_t low, int32_t high)
{
    return x < low ? low : (x > high ? high : x);
}

#endif /* EDGEML_FIXEDPOINT_H */
