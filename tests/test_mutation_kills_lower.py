"""The C engine's quantization arithmetic (firmware_export/cengine/lower.py and fixed_point.py) against an
independent exact computation (fractions) and values worked out by hand from TFLite's
quantization_util.cc / kernel_util.cc / padding.h. Kills mutmut's survivors; see docs/MUTATION.md."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.graph import Op, Tensor
from firmware_export.cengine.fixed_point import quantize_multiplier, round_half_away
from firmware_export.cengine.lower import activation_range, same_padding, softmax_scaling


def exact_quantize_multiplier(real: float, single_rounding: bool) -> tuple[int, int]:
    """QuantizeMultiplier with exact rationals: q in [2^30, 2^31] * 2^shift, halves away from zero."""
    if real == 0:
        return 0, 0
    value = Fraction(abs(real))
    shift = 0
    while value >= 1:
        value /= 2
        shift += 1
    while value < Fraction(1, 2):
        value *= 2
        shift -= 1
    scaled = value * 2**31
    q = math.floor(scaled) + (1 if scaled - math.floor(scaled) >= Fraction(1, 2) else 0)
    if q == 2**31:
        q, shift = 2**30, shift + 1
    if real < 0:
        q = -q
    if shift < -31:
        return 0, 0
    if single_rounding and shift > 30:
        return 2**31 - 1, 30
    return q, shift


@pytest.mark.parametrize("value, expected", [(0.5, 1), (1.5, 2), (2.5, 3), (-0.5, -1), (-2.5, -3), (0.49999, 0),
                                             (-0.49999, 0), (2.0, 2), (-2.0, -2), (0.0, 0), (7.7, 8), (-7.7, -8)])
def test_round_half_away_from_zero(value, expected):
    result = round_half_away(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("real, single, expected", [
    (0.5, False, (2**30, 0)),
    (0.75, False, (3 * 2**29, 0)),
    (1.0, False, (2**30, 1)),
    (0.0001, False, (1759218604, -13)),
    (0.0, True, (0, 0)),
    (2.0**-40, False, (0, 0)),             # shift -39 < -31: flushed to zero
    (1 - 2.0**-40, False, (2**30, 1)),     # rounds up to 2^31: halved, shift + 1
    (2 - 2.0**-39, False, (2**30, 2)),     # the same from shift 1
    (2.0**40, False, (2**30, 41)),
    (2.0**40, True, (2**31 - 1, 30)),      # single rounding clamps the shift to 30
    (2.0**30, True, (2**31 - 1, 30)),      # shift 31 > 30: clamped too
    (2.0**29, True, (2**30, 30)),          # shift exactly 30 is kept
    (2.0**-31, False, (2**30, -30)),
    (2.0**-32, False, (2**30, -31)),       # shift exactly -31 is kept
    (2.0**-33, False, (0, 0)),             # below: flushed to zero
])
def test_quantize_multiplier_by_hand_and_exactly(real, single, expected):
    assert all(type(value) is int for value in quantize_multiplier(real, single))
    assert quantize_multiplier(real, single) == expected == exact_quantize_multiplier(real, single)


@pytest.mark.parametrize("seed", range(4))
def test_quantize_multiplier_matches_the_exact_computation_on_random_scales(seed):
    rng = np.random.default_rng(seed)
    for real in np.exp(rng.uniform(-30, 5, size=200)):
        for single in (False, True):
            assert quantize_multiplier(float(real), single) == exact_quantize_multiplier(float(real), single)


def test_quantize_multiplier_of_negative_values_keeps_the_sign():
    assert quantize_multiplier(-0.75, False) == (-3 * 2**29, 0) == exact_quantize_multiplier(-0.75, False)


def output(scale: float, zero_point: int) -> Tensor:
    return Tensor(index=5, name="out", shape=(1, 4), dtype="int8", scales=(scale,), zero_points=(zero_point,))


OP = Op(index=2, name="FULLY_CONNECTED", inputs=(0, 1), outputs=(5,))


@pytest.mark.parametrize("activation, scale, zero_point, expected", [
    ("NONE", 0.1, 0, (-128, 127)),
    ("RELU", 0.1, -20, (-20, 127)),          # 0 -> zero point
    ("RELU", 0.1, -128, (-128, 127)),
    ("RELU6", 0.05, -128, (-128, -8)),       # 6 / 0.05 = 120 -> -128 + 120
    ("RELU6", 0.01, 0, (0, 127)),            # 600 clamps to 127
    ("RELU6", 0.1, -200, (-128, -140)),      # 0 -> -200 clamps to -128; 6 -> -140 (below max, kept)
    ("RELU_N1_TO_1", 0.01, 0, (-100, 100)),
    ("RELU_N1_TO_1", 1 / 64, 10, (-54, 74)),
    ("RELU_N1_TO_1", 0.001, 0, (-128, 127)),  # both clamp
    ("RELU6", 0.4, 3, (3, 18)),              # 6 / 0.4 = 15.000000596 in float32 -> 15
    ("RELU6", 0.048, 0, (0, 125)),           # 6 / 0.048 = 125.0 -> 125
    ("RELU6", 2.4, 0, (0, 3)),               # 2.5 -> 3: half away from zero
])
def test_activation_range(activation, scale, zero_point, expected):
    assert activation_range(activation, output(scale, zero_point), OP) == expected


def test_activation_range_uses_a_float32_division():
    # float32(1) / float32(s) is exactly 1.5 (-> 2), while 1 / s in float64 is 1.49999997 (-> 1)
    scale = 0.6666666865348816
    assert 1.0 / scale < 1.5 and float(np.float32(1.0) / np.float32(scale)) == 1.5
    assert activation_range("RELU_N1_TO_1", output(scale, 0), OP) == (-2, 2)


def test_an_unsupported_activation_names_op_and_tensor():
    with pytest.raises(EdgeMLError) as error:
        activation_range("TANH", output(0.1, 0), OP)
    assert str(error.value) == (f"op 2 FULLY_CONNECTED on {output(0.1, 0).describe()}: the C engine does not support "
                                "fused activation TANH; export for TFLite Micro instead: edgeml export ... --engine tflm")


@pytest.mark.parametrize("stride, dilation, in_size, filter_size, out_size, expected", [
    (1, 1, 28, 3, 28, 1),   # total 2
    (2, 1, 28, 3, 14, 0),   # (13*2 + 3 - 28) = 1 -> 0 before, 1 after
    (2, 1, 5, 3, 3, 1),     # total 2
    (1, 2, 10, 3, 10, 2),   # effective filter 5: total 4
    (1, 1, 4, 5, 4, 2),     # total 4
    (3, 1, 7, 2, 3, 0),     # (2*3 + 2 - 7) = 1 -> 0
    (1, 1, 4, 1, 4, 0),     # 1x1: no padding
    (4, 1, 4, 1, 1, 0),     # negative total clamps to 0
])
def test_same_padding_by_hand(stride, dilation, in_size, filter_size, out_size, expected):
    assert same_padding(stride, dilation, in_size, filter_size, out_size) == expected


def exact_softmax_scaling(beta: float, input_scale: float, single_rounding: bool) -> tuple[int, int, int]:
    max_real = (2**30 - 1) if single_rounding else (2**31 - 1)
    real = min(beta * input_scale * 2**26, float(max_real))
    multiplier, shift = exact_quantize_multiplier(real, single_rounding)
    radius = math.floor(31 * 2**26 / 2**shift)  # (2^5 - 1) * 2^(31 - 5) / 2^shift
    return multiplier, shift, -radius


@pytest.mark.parametrize("beta, input_scale", [(1.0, 1 / 256), (1.0, 0.1), (1.0, 0.0390625), (2.0, 0.05),
                                               (1.0, 1000.0), (1e6, 1e6)])
@pytest.mark.parametrize("single", [False, True])
def test_softmax_scaling(beta, input_scale, single):
    assert softmax_scaling(beta, input_scale, single) == exact_softmax_scaling(beta, input_scale, single)


def test_softmax_scaling_by_hand():
    # beta * scale * 2^26 = 2^18 for scale 1/256: multiplier 2^30, shift 19; radius 31 * 2^26 / 2^19 = 3968
    assert softmax_scaling(1.0, 1 / 256, False) == (2**30, 19, -3968)
    # huge scales clamp the real multiplier to 2^31 - 1 (double rounding): q = 2^31 - 1, shift 31,
    # radius floor(31 * 2^26 / 2^31) = 0; or to 2^30 - 1 (single): q = 2^31 - 2, shift 30, radius 1
    assert softmax_scaling(1.0, 1e9, False) == (2**31 - 1, 31, 0)
    assert softmax_scaling(1.0, 1e9, True) == (2**31 - 2, 30, -1)
