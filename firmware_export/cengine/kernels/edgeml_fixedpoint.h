/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
/* Fixed-point primitives shared by the kernels (gemmlowp fixedpoint.h semantics on int32). */
#ifndef EDGEML_FIXEDPOINT_H
#define EDGEML_FIXEDPOINT_H

#include <stdint.h>

/* Inlined even at -Os: the FC and conv kernels requantize every output without a call (and without the
   callee's stack frame on top of theirs). */
#if defined(__GNUC__) || defined(__clang__)
#define EDGEML_FIXEDPOINT_INLINE static inline __attribute__((always_inline))
#else
#define EDGEML_FIXEDPOINT_INLINE static inline
#endif

/* (a * b * 2) >> 32, rounded to nearest (ties away from zero), saturating the single overflow case
   INT32_MIN * INT32_MIN. gemmlowp: SaturatingRoundingDoublingHighMul, which adds a nudge of 2^30
   (product >= 0) or 1 - 2^30 (product < 0) and divides by 2^31 truncating toward zero. Both cases are
   floor((product + 2^30) / 2^31): for a negative sum s = product + 1 - 2^30, truncation is
   ceil(s / 2^31) = floor((s + 2^31 - 1) / 2^31) = floor((product + 2^30) / 2^31). So one 64-bit addition
   and an arithmetic shift give gemmlowp's bits (|product| < 2^62 here, no overflow). */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero. gemmlowp: RoundingDivideByPOT. */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^exponent for exponent >= 0, saturating to the int32 range.
   gemmlowp: SaturatingRoundingMultiplyByPOT with a positive exponent. */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_saturating_shift_left(int32_t x, int32_t exponent)
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
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_shift_left_wrapping(int32_t x, int32_t left_shift)
{
    return (int32_t)((uint32_t)x << left_shift);
}

EDGEML_FIXEDPOINT_INLINE int32_t edgeml_clamp(int32_t x, int32_t low, int32_t high)
{
    return x < low ? low : (x > high ? high : x);
}

/* TFLite: MultiplyByQuantizedMultiplier(int32_t x, int32_t quantized_multiplier, int shift),
   tensorflow/lite/kernels/internal/common.cc @ 90b983c2, the TFLITE_SINGLE_ROUNDING branch:
   (x * multiplier + 2^(30 - shift)) >> (31 - shift), shift in [-31, 30]. Inline here so the FC and
   conv kernels requantize without a call; edgeml_requantize.c exports the same functions. */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_requantize_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total_shift);
}

/* The same function's default branch: the high half of the doubled product, rounded, then a
   rounding right shift. */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_requantize_double(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return edgeml_rounding_divide_by_pot(edgeml_srdhm(edgeml_shift_left_wrapping(x, left_shift), multiplier),
                                         right_shift);
}

/* edgeml_requantize_double for a multiplier in [0, 2^31 - 1], the range of QuantizeMultiplier's results
   (fixed_point.py: quantize_multiplier; CONV_2D and DEPTHWISE_CONV_2D scales are positive): the doubling high
   multiply saturates only for INT32_MIN * INT32_MIN, so its check is left out; the same bits otherwise. */
EDGEML_FIXEDPOINT_INLINE int32_t edgeml_requantize_double_nonnegative(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    const int64_t product = (int64_t)edgeml_shift_left_wrapping(x, left_shift) * (int64_t)multiplier;
    return edgeml_rounding_divide_by_pot((int32_t)((product + ((int64_t)1 << 30)) >> 31), right_shift);
}

/* The inline requantization of FULLY_CONNECTED and CONV_2D / DEPTHWISE_CONV_2D in this build (the
   same choice as edgeml_engine.h's edgeml_requantize_fully_connected / _conv). */
#if EDGEML_SINGLE_ROUNDING
#define edgeml_requantize_fully_connected_inline edgeml_requantize_single
#else
#define edgeml_requantize_fully_connected_inline edgeml_requantize_double
#endif
#define edgeml_requantize_conv_inline edgeml_requantize_double_nonnegative

#endif /* EDGEML_FIXEDPOINT_H */
