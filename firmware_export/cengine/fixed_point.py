"""Fixed-point helpers of the export's Prepare step, shared by :mod:`.lower` and :mod:`.lookup`: a real
multiplier as TFLite's int32 fraction and exponent, and std::round's halves away from zero.

Source: TFLite's QuantizeMultiplier, tensorflow/lite/kernels/internal/quantization_util.cc
@ tensorflow/tflite-micro 90b983c2b3f1480642e040bbd2ddb37b998f3424.
"""

from __future__ import annotations

import math


def quantize_multiplier(real_multiplier: float, single_rounding: bool) -> tuple[int, int]:
    """``real_multiplier`` as an int32 fraction of 2^31 and a power-of-two exponent.

    TFLite's QuantizeMultiplier (quantization_util.cc): frexp, round half away from zero, fix the
    2^31 overflow, flush tiny values to zero; single-rounding builds clamp the shift to 30.

    >>> quantize_multiplier(0.5, False), quantize_multiplier(0.75, False)
    ((1073741824, 0), (1610612736, 0))
    >>> quantize_multiplier(0.0001, False)
    (1759218604, -13)
    """
    if real_multiplier == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real_multiplier)
    q_fixed = round_half_away(fraction * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def round_half_away(value: float) -> int:
    """std::round: halves away from zero (exact: no ``+ 0.5`` that could itself round)."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    rounded = whole + (1 if magnitude - whole >= 0.5 else 0)
    return int(rounded) if value >= 0 else -int(rounded)
