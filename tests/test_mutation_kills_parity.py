"""Parity arithmetic of firmware_export/parity.py (main's version) on hand-made outputs: counts, largest
difference, top-class agreement and the report text, worked out by hand. The LiteRT runs are replaced by
given arrays here; the real runtimes are compared in test_firmware_export.py. Kills mutmut's survivors;
see docs/MUTATION.md."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import TensorInfo
from firmware_export import parity
from firmware_export.parity import KernelAgreement, ParityReport

INT8_OUTPUT = TensorInfo("out", (1, 3), "int8", 0.25, -10, False)
SIGMOID_INT8 = TensorInfo("out", (1, 1), "int8", 1 / 256, -128, False)
SIGMOID_FLOAT = TensorInfo("out", (1, 1), "float32", None, None, False)


def test_integers_must_match_exactly_and_floats_within_rounding_noise():
    assert parity._unequal(np.array([3, 4], np.int8), np.array([3, 5], np.int8)).tolist() == [False, True]
    a = np.array([1.0, 1.0, 0.0, 0.0, 100.0], np.float32)
    b = np.array([1.0 + 5e-6, 1.0 + 5e-5, 5e-7, 5e-6, 100.0 + 9e-4], np.float32)
    # |a-b| <= 1e-6 + 1e-5 * |b|: 5e-6 yes, 5e-5 no, 5e-7 yes, 5e-6 no, 9e-4 <= 1e-3 yes
    assert parity._unequal(a, b).tolist() == [False, True, False, True, False]
    # one float side is enough to compare with the tolerance
    assert parity._unequal(np.array([1], np.int32), np.array([1.000001])).tolist() == [False]
    assert parity._unequal(np.array([1.000001]), np.array([1], np.int32)).tolist() == [False]
    assert (parity.FLOAT_RTOL, parity.FLOAT_ATOL) == (1e-5, 1e-6)


def test_differing_counts_whole_vectors():
    a = np.array([[1, 2], [3, 4], [5, 6]], np.int8)
    b = np.array([[1, 2], [3, 5], [0, 0]], np.int8)
    assert parity._differing(a, b).tolist() == [False, True, True]


def test_agreement_of_int8_outputs_by_hand():
    tflm = np.array([[[10, 20, 30]], [[5, 1, 0]], [[0, 0, 9]], [[7, 7, 1]]], np.int8)  # (4, 1, 3): batch axis kept
    litert = np.array([[[10, 20, 30]], [[5, 2, 0]], [[3, -1, 9]], [[7, 8, 1]]], np.int8)
    agreement = parity._agreement("LiteRT X", tflm, litert, INT8_OUTPUT)
    # vectors 2, 3, 4 differ; 4 values; largest |0 - 3| = 3; top class: 2 = 2, 0 = 0, 2 = 2, 0 vs 1 -> 3/4
    assert agreement == KernelAgreement(runtime="LiteRT X", samples=4, differing_vectors=3, differing_values=4,
                                        max_abs_diff=3.0, integer_output=True, top_class_agreement=0.75)
    assert agreement.identical is False
    assert agreement.describe() == ("vs LiteRT X: 3/4 output vectors differ (4 values, by at most 3 LSB), top class "
                                    "agrees on 75.0%")
    # int8 differences are taken in float64: -128 vs 127 is 255, not an int8 wrap-around
    wide = parity._agreement("L", np.array([[-128]], np.int8), np.array([[127]], np.int8), SIGMOID_INT8)
    assert wide.max_abs_diff == 255.0


def test_identical_and_float_descriptions():
    same = parity._agreement("L", np.ones((2, 3), np.int8), np.ones((2, 3), np.int8), INT8_OUTPUT)
    assert (same.identical, same.max_abs_diff, same.top_class_agreement) == (True, 0.0, 1.0)
    assert same.describe() == "vs L: all 2 output vectors identical"
    floats = parity._agreement("L", np.array([[0.5, 0.25]], np.float32), np.array([[0.5, 0.25]], np.float32),
                               INT8_OUTPUT)
    assert floats.integer_output is False
    assert floats.describe() == "vs L: all 1 output vectors equal up to float32 rounding"
    differ = KernelAgreement("L", 10, 1, 1, 0.0123456, False, 0.9, first_divergence="op 3 SOFTMAX")
    assert differ.describe() == ("vs L: 1/10 output vectors differ (1 value, by at most 0.0123), top class agrees "
                                 "on 90.0%; first diverges at op 3 SOFTMAX")


def test_one_sigmoid_unit_is_class_one_from_probability_one_half():
    # int8 with scale 1/256, zero point -128: q = 0 is exactly 0.5, q = -1 is 0.496
    q = np.array([[-1], [0], [127], [-128]], np.int8)
    assert parity._top_class(q, SIGMOID_INT8).tolist() == [0, 1, 1, 0]
    assert parity._top_class(np.array([[0.4999], [0.5], [0.9]], np.float32), SIGMOID_FLOAT).tolist() == [0, 1, 1]
    # an integer output without a per-tensor scale is read as the probability itself
    unscaled = TensorInfo("out", (1, 1), "int8", None, None, True)
    assert parity._top_class(np.array([[0], [1]], np.int8), unscaled).tolist() == [0, 1]
    # a float output is never dequantized, even with a scale on record
    assert parity._top_class(np.array([[0.6]], np.float32), SIGMOID_INT8).tolist() == [1]
    # several outputs, two included: argmax, not the first column read as a probability
    assert parity._top_class(np.array([[1, 5, 2], [9, 0, 9]]), INT8_OUTPUT).tolist() == [1, 0]
    assert parity._top_class(np.array([[0.2, 0.8], [0.7, 0.3]], np.float32), SIGMOID_FLOAT).tolist() == [1, 0]


def test_small_helpers():
    assert parity._plural(1, "value") == "1 value"
    assert parity._plural(0, "value") == "0 values"
    assert parity._plural(2, "value") == "2 values"
    assert parity._numpy_dtype("bool") == "bool_"
    assert parity._numpy_dtype("int8") == "int8"


def test_report_text():
    reference = KernelAgreement(parity.REFERENCE, 3, 0, 0, 0.0, True, 1.0)
    xnnpack = KernelAgreement(parity.XNNPACK, 3, 1, 2, 1.0, True, 1.0)
    assert ParityReport("the test set", 3, reference, xnnpack).describe() == (
        "TFLite Micro vs LiteRT on 3 inputs (the test set):\n"
        "  vs LiteRT builtin kernels, no delegate: all 3 output vectors identical\n"
        "  vs LiteRT default (XNNPACK delegate): 1/3 output vectors differ (2 values, by at most 1 LSB), top class "
        "agrees on 100.0%")


@pytest.fixture
def fake_litert(monkeypatch):
    """LiteRT's outputs given per configuration; first_divergence recorded instead of run."""
    calls = []

    def install(reference_outputs, xnnpack_outputs):
        def run(model, inputs, reference_kernels):
            assert model == b"model"
            calls.append(("run", inputs.dtype.name, inputs.tolist(), reference_kernels))
            return reference_outputs if reference_kernels else xnnpack_outputs

        def divergence(model, info, sample, arena_bytes, resolver):
            from ai_edge_litert.interpreter import OpResolverType

            assert (model, info.inputs, resolver) == (b"model", INFO.inputs, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            calls.append(("divergence", sample.tolist(), arena_bytes))
            return "op 1 FULLY_CONNECTED"

        monkeypatch.setattr(parity, "_run_litert", run)
        monkeypatch.setattr(parity, "first_divergence", divergence)
        return calls
    return install


INFO = SimpleNamespace(inputs=(TensorInfo("in", (1, 2), "int8", 0.5, 0, False),), outputs=(INT8_OUTPUT,))


def test_compare_traces_the_first_differing_sample_against_the_reference_only(fake_litert):
    tflm = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.int8)
    reference = np.array([[1, 2, 3], [4, 5, 7], [7, 9, 9]], np.int8)
    calls = fake_litert(reference, np.array([[1, 2, 4], [4, 5, 6], [7, 8, 9]], np.int8))
    report = parity.compare_with_litert(b"model", INFO, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], 2048, "three",
                                        tflm_outputs=tflm)
    assert calls == [("run", "int8", [[1, 2], [3, 4], [5, 6]], True),
                     ("divergence", [3, 4], 2048),  # sample 2 is the first that differs
                     ("run", "int8", [[1, 2], [3, 4], [5, 6]], False)]
    assert report == ParityReport(
        "three", 3,
        KernelAgreement(parity.REFERENCE, 3, 2, 2, 1.0, True, 2 / 3, first_divergence="op 1 FULLY_CONNECTED"),
        KernelAgreement(parity.XNNPACK, 3, 1, 1, 1.0, True, 1.0))


def test_compare_without_differences_traces_nothing(fake_litert):
    tflm = np.array([[1, 2, 3]], np.int8)
    calls = fake_litert(tflm.copy(), tflm.copy())
    report = parity.compare_with_litert(b"model", INFO, np.array([[1, 2]]), 64, tflm_outputs=tflm)
    assert [call[0] for call in calls] == ["run", "run"]
    assert (report.inputs, report.reference.first_divergence, report.xnnpack.identical) == ("given inputs", None, True)


def test_compare_runs_tflm_with_the_arena_when_not_given(fake_litert, monkeypatch):
    calls = fake_litert(np.array([[0, 0, 1]], np.int8), np.array([[0, 0, 1]], np.int8))
    monkeypatch.setattr(parity, "run_tflm", lambda model, inputs, samples, arena: (
        calls.append(("tflm", model, inputs, samples.tolist(), arena)) or np.array([[0, 0, 1]], np.int8)))
    parity.compare_with_litert(b"model", INFO, np.array([[1, 2]]), 512)
    assert calls[0] == ("tflm", b"model", INFO.inputs, [[1, 2]], 512)


def test_compare_with_no_inputs_is_one_error(fake_litert):
    fake_litert(None, None)
    with pytest.raises(EdgeMLError) as error:
        parity.compare_with_litert(b"model", INFO, np.zeros((0, 2)), 64)
    assert str(error.value) == "no inputs to compare TFLite Micro and LiteRT on"


def test_compare_reads_a_sigmoid_output_through_its_quantization(fake_litert):
    info = SimpleNamespace(inputs=INFO.inputs, outputs=(SIGMOID_INT8,))
    # q = -1 and q = 0 are probabilities 0.496 and 0.5: classes 0 and 1 (as raw numbers both would be 0)
    fake_litert(np.array([[0]], np.int8), np.array([[0]], np.int8))
    report = parity.compare_with_litert(b"model", info, np.array([[1, 2]]), 64, tflm_outputs=np.array([[-1]], np.int8))
    assert report.reference.top_class_agreement == 0.0


def test_compare_without_litert_installed_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    with pytest.raises(EdgeMLError) as error:
        parity.compare_with_litert(b"model", INFO, np.array([[1, 2]]), 64)
    assert str(error.value) == "comparing with LiteRT needs ai-edge-litert: pip install 'edgeml[pi]'"
