"""Int8 element-wise functions as 256-entry tables computed at export, one per build.

An int8 op of one input has only 256 possible inputs, so a table computed here with the reference
runtime's exact arithmetic gives the same bytes as that runtime for every input, with one load per element
on the device. LOGISTIC and TANH are where the two references differ beyond rounding:

- TFLite Micro (default build): reference_integer_ops::Logistic / ::Tanh (tensorflow/lite/kernels/internal/
  reference/integer_ops/{logistic,tanh}.h @ tflite-micro 90b983c2), parameters from
  CalculateArithmeticOpDataLogistic (micro/kernels/logistic_common.cc) / CalculateArithmeticOpData
  (micro/kernels/tanh.cc): the input rescaled to Q4.27 with a double-rounding MultiplyByQuantizedMultiplier,
  gemmlowp's fixed-point function (fixedpoint.h: logistic = one_over_one_plus_x_for_x_in_0_1 of
  exp_on_negative_values; tanh = one_minus_x_over_one_plus_x_for_x_in_0_1 of exp_on_negative_values of 2x,
  i.e. the same raw value read as Q5.26), a rounding shift to Q0.8 (LOGISTIC, zero point -128) or Q0.7
  (TANH, zero point 0); inputs beyond the input radius saturate.
- LiteRT BUILTIN_REF (single-rounding build): PopulateLookupTable (tensorflow/lite/kernels/activations.cc,
  LogisticPrepare / TanhPrepare for kReference) in float32: round(f(scale * (x - zero point)) / output
  scale) + output zero point, f = 1 / (1 + exp(-v)) or tanh(v). exp is float32 exp, taken here as float64
  exp rounded to float32; std::tanh(float) is the C library's tanhf, which is not correctly rounded
  (glibc's tanhf(-0.8070664) is -0.6679687, where float64 tanh rounded to float32 is -0.66796875, exactly
  -85.5 / 128: the output of input -18 at input scale 0.0224185, zero point 18), so it is called here
  through ctypes and the table matches LiteRT on the machine that exports.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import numpy as np

from firmware_export.cengine.fixed_point import quantize_multiplier, round_half_away

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_INPUT_INTEGER_BITS = 4  # kInputIntegerBits in integer_ops/logistic.h and tanh.h
_EXP_OF_MINUS_TWO_TO_THE = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)  # e^-2^k, k=-2..4


def logistic_table_tflm(input_scale: float, input_zero_point: int) -> tuple[int, ...]:
    """TFLite Micro's int8 LOGISTIC output for each input -128..127 (output scale 1/256, zero point -128)."""
    return _fixed_point_table(input_scale, input_zero_point, _logistic_q4, output_fraction_bits=8,
                              output_zero_point=-128)


def tanh_table_tflm(input_scale: float, input_zero_point: int) -> tuple[int, ...]:
    """TFLite Micro's int8 TANH output for each input -128..127 (output scale 1/128, zero point 0)."""
    return _fixed_point_table(input_scale, input_zero_point, _tanh_q4, output_fraction_bits=7,
                              output_zero_point=0)


def logistic_table_litert(input_scale: float, input_zero_point: int, output_scale: float,
                          output_zero_point: int) -> tuple[int, ...]:
    """LiteRT BUILTIN_REF's int8 LOGISTIC table (PopulateLookupTable, float32 arithmetic)."""
    def logistic(v: float) -> np.float32:
        with np.errstate(over="ignore"):  # float32 exp overflows to inf, and 1 / (1 + inf) is 0, as in C
            return np.float32(1) / (np.float32(1) + np.float32(math.exp(-v)))

    return _float32_table(logistic, input_scale, input_zero_point, output_scale, output_zero_point)


def tanh_table_litert(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int) -> tuple[int, ...]:
    """LiteRT BUILTIN_REF's int8 TANH table (PopulateLookupTable with std::tanh, float32 arithmetic)."""
    return _float32_table(_c_library_tanhf(), input_scale, input_zero_point, output_scale, output_zero_point)


@functools.cache
def _c_library_tanhf():
    """The C library's float32 tanh (what std::tanh(float) calls), or float64 tanh rounded to float32 where
    no C math library can be loaded."""
    name = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    try:
        tanhf = ctypes.CDLL(name).tanhf
    except (OSError, AttributeError, TypeError):
        return math.tanh
    tanhf.restype, tanhf.argtypes = ctypes.c_float, [ctypes.c_float]
    return tanhf


def _fixed_point_table(input_scale: float, input_zero_point: int, function, output_fraction_bits: int,
                       output_zero_point: int) -> tuple[int, ...]:
    """reference_integer_ops::Logistic / ::Tanh for int8: ``function`` maps a Q4.27 raw value to Q0.31."""
    fraction, left_shift = math.frexp(float(np.float32(input_scale)) * (1 << (31 - _INPUT_INTEGER_BITS)))
    multiplier = round_half_away(fraction * (1 << 31))
    # CalculateInputRadius(4, left_shift, 31)
    radius = math.floor(((1 << _INPUT_INTEGER_BITS) - 1) * (1 << (31 - _INPUT_INTEGER_BITS)) / (1 << left_shift))
    table = []
    for value in range(-128, 128):
        x = value - input_zero_point
        if x <= -radius:
            table.append(-128)
        elif x >= radius:
            table.append(127)
        else:
            q0 = function(_requantize_double_rounding(x, multiplier, left_shift))
            table.append(max(-128, min(127, _rounding_divide_by_pot(q0, 31 - output_fraction_bits)
                                       + output_zero_point)))
    return tuple(table)


def _float32_table(function, input_scale: float, input_zero_point: int, output_scale: float,
                   output_zero_point: int) -> tuple[int, ...]:
    """PopulateLookupTable: each step in float32, ``function``'s result rounded to float32."""
    f32 = np.float32
    inverse_scale = f32(1) / f32(output_scale)
    table = []
    for value in range(-128, 128):
        dequantized = f32(input_scale) * f32(value - input_zero_point)
        transformed = f32(function(float(dequantized)))
        scaled = float(transformed * inverse_scale)
        rounded = math.copysign(math.floor(abs(scaled) + 0.5), scaled)  # std::round
        table.append(max(-128, min(127, int(f32(rounded) + f32(output_zero_point)))))
    return tuple(table)


def _wrap(x: int) -> int:
    return ((x - INT32_MIN) % (1 << 32)) + INT32_MIN


def _srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    product = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
    return (abs(product) >> 31) * (1 if product >= 0 else -1)


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _saturating_shift_left(x: int, exponent: int) -> int:
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << exponent


def _requantize_double_rounding(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return _rounding_divide_by_pot(_srdhm(_wrap(x << left), multiplier), right)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term, constant_1_over_3 = 1895147668, 715827883
    x = a + (1 << 28)
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4_over_4 = _rounding_divide_by_pot(_srdhm(x2, x2), 2)
    polynomial = _rounding_divide_by_pot(_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1)
    return constant_term + _srdhm(constant_term, x + polynomial)


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    fraction_bits = 31 - integer_bits
    one_quarter = 1 << (fraction_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = _wrap(a_mod_quarter_minus_one_quarter - a)
    for exponent in range(-2, min(integer_bits, 5)):
        if remainder & (1 << (fraction_bits + exponent)):
            result = _srdhm(result, _EXP_OF_MINUS_TWO_TO_THE[exponent + 2])
    return INT32_MAX if a == 0 else result


def _newton_reciprocal_q2(a: int) -> int:
    """The Newton-Raphson loop both of gemmlowp's x-in-(0, 1) divisions share: ~1 / ((1 + x) / 2) in Q2.29."""
    total = a + INT32_MAX
    half_denominator = (abs(total + (1 if total >= 0 else -1)) // 2) * (1 if total >= 0 else -1)  # RoundingHalfSum
    x = 1515870810 + _srdhm(half_denominator, -1010580540)
    for _ in range(3):
        one_minus = (1 << 29) - _srdhm(half_denominator, x)
        x = x + _saturating_shift_left(_srdhm(x, one_minus), 2)
    return x


def _one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return _saturating_shift_left(_newton_reciprocal_q2(a), 1)


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return _saturating_shift_left(_wrap(_newton_reciprocal_q2(a) - (1 << 29)), 2)


def _logistic_q4(a: int) -> int:
    """gemmlowp logistic on Q4.27, result Q0.31."""
    if a == 0:
        return 1 << 30
    positive = _one_over_one_plus_x_for_x_in_0_1(_exp_on_negative_values(-abs(a), _INPUT_INTEGER_BITS))
    return positive if a > 0 else _wrap(INT32_MAX - positive)


def _tanh_q4(a: int) -> int:
    """gemmlowp tanh on Q4.27, result Q0.31: neg_tanh_on_negative_values of -|a| (ExactMulByPot<1> keeps the
    raw value and reads it as Q5.26, i.e. exp(2 * -|a|)), negated for a negative a; 0 for 0."""
    if a == 0:
        return 0
    magnitude = _one_minus_x_over_one_plus_x_for_x_in_0_1(_exp_on_negative_values(-abs(a), _INPUT_INTEGER_BITS + 1))
    return magnitude if a > 0 else _wrap(-magnitude)


def hard_swish_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> tuple[int, ...]:
    """int8 HARD_SWISH for each input -128..127: reference_ops::HardSwish (reference/hard_swish.h), which
    TFLite Micro and LiteRT BUILTIN_REF both run, with HardSwishPrepare's float32 parameters
    (activations.cc / micro hard_swish_common.cc) and int16 fixed point."""

    f32 = np.float32
    hires_input_scale = f32(1.0 / 128.0) * f32(input_scale)
    output_multiplier, output_exponent = quantize_multiplier(float(hires_input_scale / f32(output_scale)), False)
    reluish_multiplier, reluish_exponent = quantize_multiplier(float(hires_input_scale / f32(3.0 / 32768.0)), False)
    output_multiplier16 = _down_scale_to_int16(output_multiplier)
    reluish_multiplier16 = _down_scale_to_int16(reluish_multiplier)
    table = []
    for value in range(-128, 128):
        hires = _int16(value - input_zero_point) * 128
        preshift_output = _srdhm16(_int16(hires), output_multiplier16)
        reluish = _int16(hires)
        if reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, reluish_exponent - 1)
        reluish = _srdhm16(reluish, reluish_multiplier16)
        if reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if reluish_exponent < 0:
            reluish = _rounding_divide_by_pot(reluish, -reluish_exponent)
        reluish = _int16((reluish + (1 << 15)) >> 1)
        preshift = _saturating_doubling_high_mul16(reluish, preshift_output)
        result = _int16(_rounding_divide_by_pot(preshift, -output_exponent) + output_zero_point)
        table.append(max(-128, min(127, result)))
    return tuple(table)


def _int16(x: int) -> int:
    return ((x + (1 << 15)) % (1 << 16)) - (1 << 15)


def _down_scale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier (quantization_util.cc)."""
    return (1 << 15) - 1 if multiplier >= INT32_MAX - (1 << 15) else (multiplier + (1 << 15)) >> 16


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    product = a * b
    nudged = product + ((1 << 14) if product >= 0 else 1 - (1 << 14))
    return _int16((abs(nudged) >> 15) * (1 if nudged >= 0 else -1))


def _saturating_doubling_high_mul16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul (reference/hard_swish.h): no rounding, division truncating toward zero."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    product = a * b
    return _int16((abs(product) >> 15) * (1 if product >= 0 else -1))


def _saturating_left_shift16(value: int, amount: int) -> int:
    return max(-(1 << 15), min((1 << 15) - 1, value * (1 << amount)))
