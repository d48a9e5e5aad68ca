"""Int8 element-wise functions as 256-entry tables computed at export, one per build.

An int8 op of one input has only 256 possible inputs, so a table computed here with the reference
runtime's exact arithmetic gives the same bytes as that runtime for every input, with one load per element
on the device. LOGISTIC is where the two references differ beyond rounding:

- TFLite Micro (default build): reference_integer_ops::Logistic (tensorflow/lite/kernels/internal/
  reference/integer_ops/logistic.h @ tflite-micro 90b983c2), parameters from CalculateArithmeticOpDataLogistic
  (micro/kernels/logistic_common.cc): the input rescaled to Q4.27 with a double-rounding
  MultiplyByQuantizedMultiplier, gemmlowp's fixed-point logistic (fixedpoint.h: exp_on_negative_values,
  one_over_one_plus_x_for_x_in_0_1), a rounding shift to Q0.8 and the zero point -128; inputs beyond the
  input radius saturate.
- LiteRT BUILTIN_REF (single-rounding build): PopulateLookupTable (tensorflow/lite/kernels/activations.cc)
  in float32: round(1 / (1 + exp(-scale * (x - zero point))) / output scale) + output zero point.
  exp is float32 exp, taken here as float64 exp rounded to float32.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_LOGISTIC_INPUT_INTEGER_BITS = 4  # kInputIntegerBits in logistic.h
_EXP_OF_MINUS_TWO_TO_THE = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)  # e^-2^k, k=-2..4


def logistic_table_tflm(input_scale: float, input_zero_point: int) -> tuple[int, ...]:
    """TFLite Micro's int8 LOGISTIC output for each input -128..127 (output scale 1/256, zero point -128)."""
    from firmware_export.cengine.lower import _round_half_away

    fraction, left_shift = math.frexp(float(np.float32(input_scale)) * (1 << (31 - _LOGISTIC_INPUT_INTEGER_BITS)))
    multiplier = _round_half_away(fraction * (1 << 31))
    # CalculateInputRadius(4, left_shift, 31)
    radius = math.floor(((1 << _LOGISTIC_INPUT_INTEGER_BITS) - 1) * (1 << (31 - _LOGISTIC_INPUT_INTEGER_BITS))
                        / (1 << left_shift))
    table = []
    for value in range(-128, 128):
        x = value - input_zero_point
        if x <= -radius:
            table.append(-128)
        elif x >= radius:
            table.append(127)
        else:
            q4 = _requantize_double_rounding(x, multiplier, left_shift)
            q0 = _logistic_q4(q4)
            table.append(max(-128, min(127, _rounding_divide_by_pot(q0, 31 - 8) - 128)))
    return tuple(table)


def logistic_table_litert(input_scale: float, input_zero_point: int, output_scale: float,
                          output_zero_point: int) -> tuple[int, ...]:
    """LiteRT BUILTIN_REF's int8 LOGISTIC table (PopulateLookupTable, float32 arithmetic)."""
    f32 = np.float32
    inverse_scale = f32(1) / f32(output_scale)
    table = []
    for value in range(-128, 128):
        dequantized = f32(input_scale) * f32(value - input_zero_point)
        exp = f32(math.exp(-float(dequantized)))
        transformed = f32(1) / (f32(1) + exp)
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


def _one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    total = a + INT32_MAX
    half_denominator = (abs(total + (1 if total >= 0 else -1)) // 2) * (1 if total >= 0 else -1)
    x = 1515870810 + _srdhm(half_denominator, -1010580540)
    for _ in range(3):
        one_minus = (1 << 29) - _srdhm(half_denominator, x)
        x = x + _saturating_shift_left(_srdhm(x, one_minus), 2)
    return _saturating_shift_left(x, 1)


def _logistic_q4(a: int) -> int:
    """gemmlowp logistic on Q4.27, result Q0.31."""
    if a == 0:
        return 1 << 30
    positive = _one_over_one_plus_x_for_x_in_0_1(_exp_on_negative_values(-abs(a), _LOGISTIC_INPUT_INTEGER_BITS))
    return positive if a > 0 else _wrap(INT32_MAX - positive)


def hard_swish_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> tuple[int, ...]:
    """int8 HARD_SWISH for each input -128..127: reference_ops::HardSwish (reference/hard_swish.h), which
    TFLite Micro and LiteRT BUILTIN_REF both run, with HardSwishPrepare's float32 parameters
    (activations.cc / micro hard_swish_common.cc) and int16 fixed point."""
    from firmware_export.cengine.lower import quantize_multiplier

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
