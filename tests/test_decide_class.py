"""One rule for the class a model's output decides (issue 10 item 7): edgeml.runtime.decide_class, used by
evaluate, quantize, the benchmark, predict and the firmware parity check. Expectations are hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from edgeml.predict import class_probabilities, ranked_classes
from edgeml.runtime import TensorQuantization, decide_class
from edgeml.tflite_model import TensorInfo
from firmware_export.export import _example
from firmware_export.parity import _top_class

# An int8 sigmoid output as the converter writes it: scale 1/256, zero point -128 (q = 0 is exactly 0.5).
SIGMOID_INT8 = TensorQuantization(np.int8, 1 / 256, -128)


def test_several_units_take_the_first_largest():
    scores = np.array([[0.1, 0.7, 0.2], [0.4, 0.2, 0.4], [0.0, 0.5, 0.5]])
    assert decide_class(scores).tolist() == [1, 0, 1]
    assert decide_class(scores).dtype == np.int64


def test_raw_int8_scores_decide_as_their_dequantized_values():
    raw = np.array([[-128, 12, 12], [100, -5, 101]], dtype=np.int8)
    quantization = TensorQuantization(np.int8, 0.5, 3)
    assert decide_class(raw, quantization).tolist() == [1, 2]
    assert decide_class(quantization.dequantize(raw)).tolist() == [1, 2]


@pytest.mark.parametrize("raw, expected", [(0, 1), (-1, 0), (127, 1), (-128, 0)])
def test_one_raw_sigmoid_unit_is_dequantized_first(raw, expected):
    """q = 0 -> p = (0 + 128) / 256 = 0.5 -> class 1; q = -1 -> 127/256 < 0.5 -> class 0. Without the
    quantization the raw value would be read as a probability (0 >= 0.5 is false)."""
    assert decide_class(np.array([[raw]], dtype=np.int8), SIGMOID_INT8).tolist() == [expected]
    assert decide_class(SIGMOID_INT8.dequantize(np.array([[raw]], dtype=np.int8))).tolist() == [expected]


def test_one_float_sigmoid_unit_is_a_probability():
    assert decide_class(np.array([[0.5], [0.49], [0.93]], dtype=np.float32)).tolist() == [1, 0, 1]


def test_per_sample_shapes_are_flattened():
    scores = np.zeros((2, 1, 1, 4))
    scores[0, 0, 0, 3] = scores[1, 0, 0, 1] = 1
    assert decide_class(scores).tolist() == [3, 1]


def test_firmware_parity_decides_with_the_output_tensor():
    output = TensorInfo("out", (1, 1), "int8", 1 / 256, -128, False)
    raw = np.array([[0], [-1]], dtype=np.int8)
    assert _top_class(raw, output).tolist() == [1, 0]
    float_output = TensorInfo("out", (1, 3), "float32", None, None, False)
    assert _top_class(np.array([[0.2, 0.2, 0.1]], dtype=np.float32), float_output).tolist() == [0]


def test_predict_ranks_the_decided_class_first():
    """A sigmoid at exactly 0.5 is class 1 for evaluate and the benchmark, so predict shows class 1 first
    too, although both columns of [1 - p, p] are 0.5; a two-class softmax tie stays class 0."""
    probabilities, output = class_probabilities(np.array([[0.5], [0.25]]), 1 / 256)
    assert output == "sigmoid"
    assert ranked_classes(probabilities, sigmoid=True).tolist() == [[1, 0], [0, 1]]
    softmax = np.array([[0.5, 0.5], [0.2, 0.8]])
    assert ranked_classes(softmax, sigmoid=False).tolist() == [[0, 1], [1, 0]]
    three = np.array([[0.2, 0.4, 0.4], [0.6, 0.1, 0.3]])
    assert ranked_classes(three, sigmoid=False).tolist() == [[1, 2, 0], [0, 2, 1]]


def test_the_firmware_example_names_the_class_decide_class_decides():
    """export's main.cc/sketch example shows what TFLM predicted for the first sample, by the same rule:
    q = 0 of an int8 sigmoid is p = 0.5, class 1; q = -1 is 127/256, class 0; a three-way tie of raw
    scores is the first class."""
    sigmoid = TensorInfo("out", (1, 1), "int8", 1 / 256, -128, False)
    raw = np.zeros(4, dtype=np.float32)
    assert _example(raw, "yes", np.array([[0]], dtype=np.int8), ("no", "yes"), sigmoid).predicted == "yes"
    assert _example(raw, "yes", np.array([[-1]], dtype=np.int8), ("no", "yes"), sigmoid).predicted == "no"
    softmax = TensorInfo("out", (1, 3), "int8", 1 / 256, -128, False)
    tie = np.array([[40, 40, -100]], dtype=np.int8)
    assert _example(raw, "b", tie, ("a", "b", "c"), softmax).predicted == "a"
    assert _example(raw, "b", np.array([[40, 41, -100]], dtype=np.int8), ("a", "b", "c"), softmax).predicted == "b"
