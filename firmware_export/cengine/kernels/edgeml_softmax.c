/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
#include "edgeml_engine.h"
#include "edgeml_fixedpoint.h"

/*
 * SOFTMAX, int8 -> int8, TFLite's integer algorithm as the TFLite Micro interpreter runs it:
 * reference_ops::Softmax (tensorflow/lite/kernels/internal/reference/softmax.h @ 90b983c2) with
 * gemmlowp's exp_on_negative_values and one_over_one_plus_x_for_x_in_0_1 (fixedpoint.h).
 *
 * Fixed-point formats: Qm.n below means an int32 with m integer bits and n = 31 - m fraction bits.
 * The scaled input differences are Q5.26, exp() results Q0.31, the sum of exps Q12.19.
 */

enum { SCALED_DIFF_INTEGER_BITS = 5, ACCUMULATION_INTEGER_BITS = 12 };

/* exp(a) for a in [-1/4, 0), a and the result in Q0.31: a Taylor polynomial around -1/8.
   gemmlowp: exp_on_interval_between_negative_one_quarter_and_0_excl. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) in Q0.31 */
    const int32_t constant_1_over_3 = 715827883;  /* 1/3 in Q0.31 */
    const int32_t x = a + (1 << 28);              /* a + 1/8 */
    const int32_t x2 = edgeml_srdhm(x, x);
    const int32_t x3 = edgeml_srdhm(x2, x);
    const int32_t x4 = edgeml_srdhm(x2, x2);
    const int32_t x4_over_4 = edgeml_rounding_divide_by_pot(x4, 2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 =
        edgeml_rounding_divide_by_pot(edgeml_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + edgeml_srdhm(constant_term, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

/* exp(a) for a <= 0, a in Q5.26, result in Q0.31. gemmlowp: exp_on_negative_values, with
   kIntegerBits = 5: a = -(k/4 + r) is split into a quarter remainder, done by the polynomial,
   and a multiple of 1/4 whose bits select constant factors exp(-2^e), e = -2..4. */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t exp_of_minus_two_to_the[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1)   */
        290630308,  /* exp(-2)   */
        39332535,   /* exp(-4)   */
        720401,     /* exp(-8)   */
        242,        /* exp(-16)  */
    };
    const int32_t fraction_bits = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = (int32_t)1 << (fraction_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    /* Rescale Q5.26 -> Q0.31: a saturating left shift by 5. */
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        edgeml_saturating_shift_left(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    int32_t exponent;
    for (exponent = -2; exponent <= 4; ++exponent) {
        if (remainder & ((int32_t)1 << (fraction_bits + exponent))) {
            result = edgeml_srdhm(result, exp_of_minus_two_to_the[exponent + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result; /* exp(0) = 1, saturated in Q0.31 */
}

/* 1 / (1 + x) for x in [0, 1), x in Q0.31, result in Q0.31: three Newton-Raphson steps in Q2.29.
   gemmlowp: one_over_one_plus_x_for_x_in_0_1. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;                    /* RoundingHalfSum(a, 1) */
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t constant_48_over_17 = 1515870810;                /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540;           /* Q2.29 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = constant_48_over_17 + edgeml_srdhm(half_denominator, constant_neg_32_over_17);
    int step;
    for (step = 0; step < 3; ++step) {
        const int32_t half_denominator_times_x = edgeml_srdhm(half_denominator, x);      /* Q2.29 */
        const int32_t one_minus_half_denominator_times_x = one_q2 - half_denominator_times_x;
        /* Q2.29 * Q2.29 = Q4.27, rescaled to Q2.29 by a saturating left shift of 2. */
        x = x + edgeml_saturating_shift_left(edgeml_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    /* x / 2 (Q1.30 with the same bits), rescaled to Q0.31. */
    return edgeml_saturating_shift_left(x, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t count = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++count;
    }
    return count;
}

/* The Q0.31 reciprocal of sum (Q12.19) and how many bits it lies above 1.
   TFLite: GetReciprocal, tensorflow/lite/kernels/internal/common.h @ 90b983c2. */
static int32_t reciprocal(int32_t sum, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum);
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31));
    *num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* (input - row max) * beta * input_scale in Q5.26: TFLite's MultiplyByQuantizedMultiplierGreaterThanOne
   (common.h), which rounds once in single-rounding builds. */
static int32_t scaled_difference(const edgeml_softmax_params *p, int32_t input_diff)
{
#if EDGEML_SINGLE_ROUNDING
    return edgeml_requantize_single_rounding(input_diff, p->input_multiplier, p->input_left_shift);
#else
    return edgeml_srdhm(edgeml_shift_left_wrapping(input_diff, p->input_left_shift), p->input_multiplier);
#endif
}

void edgeml_softmax(const edgeml_softmax_params *p, const int8_t *input, int8_t *output)
{
    int32_t row, c;
    for (row = 0; row < p->rows; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t num_bits_over_unit, shifted_scale;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= p->diff_min) {
                /* Q0.31 -> Q12.19 */
                sum_of_exps += edgeml_rounding_divide_by_pot(
                    exp_on_negative_values(scaled_difference(p, input_diff)), ACCUMULATION_INTEGER_BITS);
            }
        }
        shifted_scale = reciprocal(sum_of_exps, &num_bits_over_unit);
        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= p->diff_min) {
                const int32_t exp_in_0 = exp_on_negative_values(scaled_difference(p, input_diff));
                const int32_t unsaturated = edgeml_rounding_divide_by_pot(
                    edgeml_srdhm(shifted_scale, exp_in_0), num_bits_over_unit + 31 - 8);
                out[c] = (int8_t)edgeml_clamp(unsaturated - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
