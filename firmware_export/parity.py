"""Does the firmware compute what LiteRT computes? TFLite Micro's outputs compared with LiteRT's, raw.

The outputs are compared as the model produces them (int8 stays int8), one sample at a time, against
LiteRT's builtin kernels without the default XNNPACK delegate (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``) and,
reported separately, against LiteRT's default (XNNPACK), which rounds some int8 ops its own way
(tflm#3130, tflm#2629). For the first differing sample the first operator whose output differs is named.

Measured on the digits MLP and CNN of the tests (all 359 test samples): TFLM differs from the builtin
kernels on 1 and 4 output vectors, from XNNPACK on 3 and 25, always by 1 LSB, never in the top class.
Every difference from the builtin (and from the BUILTIN_REF reference) kernels starts at a
FULLY_CONNECTED layer; the convolutions agree exactly (inside the XNNPACK delegate nothing can be traced).
It is requantization rounding at near-ties: in the MLP's case the exact requantized value is -32.5017 LSB,
TFLM rounds it to -33 and LiteRT's optimized kernel to -32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.interpreter import LiteModel, TensorQuantization, decide_class, raw_outputs
from edgeml.tflite_model import TensorInfo, TFLiteModelInfo
from firmware_export.tflm import run_tflm, tflm_tensors

REFERENCE = "LiteRT builtin kernels, no delegate"
XNNPACK = "LiteRT default (XNNPACK delegate)"
FLOAT_RTOL, FLOAT_ATOL = 1e-5, 1e-6  # float outputs: kernels sum in different orders


@dataclass(frozen=True)
class KernelAgreement:
    """TFLM against one LiteRT configuration. ``max_abs_diff`` is in the output's own units: LSB for an
    integer output, plain float for a float one."""

    runtime: str
    samples: int
    differing_vectors: int
    differing_values: int
    max_abs_diff: float
    integer_output: bool
    top_class_agreement: float
    first_divergence: str | None = None

    @property
    def identical(self) -> bool:
        return self.differing_vectors == 0

    def describe(self) -> str:
        if self.identical:
            same = "identical" if self.integer_output else "equal up to float32 rounding"
            return f"vs {self.runtime}: all {self.samples} output vectors {same}"
        where = f"; first diverges at {self.first_divergence}" if self.first_divergence else ""
        largest = f"{self.max_abs_diff:g} LSB" if self.integer_output else f"{self.max_abs_diff:.3g}"
        return (
            f"vs {self.runtime}: {self.differing_vectors}/{self.samples} output vectors differ "
            f"({_plural(self.differing_values, 'value')}, by at most {largest}), top class agrees on "
            f"{self.top_class_agreement:.1%}{where}"
        )


@dataclass(frozen=True)
class ParityReport:
    inputs: str
    samples: int
    reference: KernelAgreement
    xnnpack: KernelAgreement

    def describe(self) -> str:
        return "\n".join([
            f"TFLite Micro vs LiteRT on {self.samples} inputs ({self.inputs}):",
            f"  {self.reference.describe()}",
            f"  {self.xnnpack.describe()}",
        ])


def compare_with_litert(model: bytes, info: TFLiteModelInfo, inputs: np.ndarray, arena_bytes: int,
                        inputs_label: str = "given inputs", tflm_outputs: np.ndarray | None = None) -> ParityReport:
    """Run ``inputs`` (already in the model's input dtype, one row per sample, without the batch axis)
    through TFLM with ``arena_bytes`` and through LiteRT twice, and compare the raw outputs.

    ``tflm_outputs`` skips the TFLM run when the caller already has them (from :func:`run_tflm`)."""
    try:
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:
        raise EdgeMLError("comparing with LiteRT needs ai-edge-litert: pip install 'edgeml[pi]'") from None
    input_dtype = np.dtype(info.inputs[0].dtype)
    inputs = np.asarray(inputs).astype(input_dtype, copy=False)
    if len(inputs) == 0:
        raise EdgeMLError("no inputs to compare TFLite Micro and LiteRT on")
    if tflm_outputs is None:
        tflm_outputs = run_tflm(model, info.inputs, inputs, arena_bytes)
    agreements = []
    for label, resolver in ((REFERENCE, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
                            (XNNPACK, OpResolverType.AUTO)):
        litert_outputs = _run_litert(model, inputs, resolver is OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        agreement = _agreement(label, tflm_outputs, litert_outputs, info.outputs[0])
        if resolver is OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES and not agreement.identical:
            first = int(np.nonzero(_differing(tflm_outputs, litert_outputs))[0][0])
            divergence = first_divergence(model, info, inputs[first], arena_bytes, resolver)
            agreement = KernelAgreement(**{**agreement.__dict__, "first_divergence": divergence})
        agreements.append(agreement)
    return ParityReport(inputs=inputs_label, samples=len(inputs), reference=agreements[0], xnnpack=agreements[1])


def first_divergence(model: bytes, info: TFLiteModelInfo, sample: np.ndarray, arena_bytes: int,
                     resolver) -> str | None:
    """The first operator whose output differs between TFLM and LiteRT on ``sample``, e.g. 'op 3 SOFTMAX'.

    Both interpreters keep every intermediate tensor for this; it uses LiteRT's ``_get_ops_details``
    (a private method the TFLite model analyzer relies on), so it answers None where that is missing.
    """
    from ai_edge_litert.interpreter import Interpreter

    litert = Interpreter(model_content=model, experimental_op_resolver_type=resolver,
                         experimental_preserve_all_tensors=True)
    if not hasattr(litert, "_get_ops_details"):
        return None
    litert.allocate_tensors()
    litert.set_tensor(litert.get_input_details()[0]["index"], sample[np.newaxis])
    litert.invoke()
    ops = litert._get_ops_details()
    # Nothing is reused when every tensor is kept: room for all of them on top of the measured arena,
    # generously, since nobody measured this configuration (a short arena only costs the answer).
    activation_bytes = sum(
        int(np.prod([abs(d) for d in tensor.shape])) * np.dtype(_numpy_dtype(tensor.dtype)).itemsize
        for tensor in info.tensors if not tensor.is_constant
    )
    indices = sorted({int(index) for op in ops for index in op["outputs"]})
    try:
        tflm_values = tflm_tensors(model, info.inputs, sample, 4 * (arena_bytes + activation_bytes) + (1 << 20),
                                   indices)
    except EdgeMLError:
        return None
    for op in ops:
        for tensor_index in op["outputs"]:
            expected = litert.get_tensor(int(tensor_index))
            actual = tflm_values[int(tensor_index)]
            if expected.shape != actual.shape or _unequal(expected, actual).any():
                return f"op {op['index']} {op['op_name']}"
    return None


def _run_litert(model: bytes, inputs: np.ndarray, reference_kernels: bool) -> np.ndarray:
    """Raw outputs, one sample per invoke as in TFLM, through edgeml's own LiteRT wrapper."""
    return raw_outputs(LiteModel(model, "litert", threads=1, reference_kernels=reference_kernels), inputs)


def _unequal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: integers must match exactly; floats within float32 rounding noise."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return ~np.isclose(a, b, rtol=FLOAT_RTOL, atol=FLOAT_ATOL)
    return a != b


def _differing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _unequal(a, b).reshape(len(a), -1).any(axis=1)


def _agreement(label: str, tflm: np.ndarray, litert: np.ndarray, output: TensorInfo) -> KernelAgreement:
    tflm, litert = tflm.reshape(len(tflm), -1), litert.reshape(len(litert), -1)
    difference = np.abs(tflm.astype(np.float64) - litert.astype(np.float64))
    return KernelAgreement(
        runtime=label,
        samples=len(tflm),
        differing_vectors=int(_differing(tflm, litert).sum()),
        differing_values=int(_unequal(tflm, litert).sum()),
        max_abs_diff=float(difference.max()) if difference.size else 0.0,
        integer_output=tflm.dtype.kind in "iu",
        top_class_agreement=float(np.mean(_top_class(tflm, output) == _top_class(litert, output))),
    )


def _top_class(outputs: np.ndarray, output: TensorInfo) -> np.ndarray:
    """:func:`edgeml.interpreter.decide_class` on raw outputs, with the output tensor's quantization."""
    quantization = TensorQuantization(outputs.dtype.type, output.scale or 0.0, output.zero_point or 0)
    return decide_class(outputs, quantization)


def _numpy_dtype(name: str) -> str:
    return {"bool": "bool_"}.get(name, name)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
