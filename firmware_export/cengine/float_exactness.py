"""The float build against LiteRT's reference kernels: within a stated bound, else the first op that differs.

Float kernels cannot be compared byte for byte with a runtime compiled by another compiler (libm's expf,
the order of additions), so the bar is a bound (issue 15): max |difference| of the outputs (probabilities
after a softmax) at most :data:`MAX_ABS_DIFFERENCE` against LiteRT ``OpResolverType.BUILTIN_REF`` float
(TFLite's reference kernels, whose order of accumulation the float kernels follow), and the same top class
on every sample whose top-2 margin exceeds :data:`CLEAR_MARGIN`. Beyond the bound, every op's output is
compared (the engine's through its trace hook, LiteRT's with all intermediate tensors kept) and the first
op whose output differs by more than the bound is named.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.graph import Graph
from firmware_export.cengine.exactness import _builtin_ref
from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library

MAX_ABS_DIFFERENCE = 1e-5
CLEAR_MARGIN = 2e-5
REFERENCE = "LiteRT BUILTIN_REF float (TFLite's reference kernels)"


class FloatHostEngine(HostEngine):
    """The float build's ``<symbol>_invoke(const float *input, float *output)`` in a loaded shared library
    (its arena is a static array of the library); ``trace`` gives each op's output as float32."""

    def __init__(self, library: Path, symbol: str, input_size: int, output_size: int) -> None:
        super().__init__(library, symbol, input_size, output_size, 0, (np.float32, np.float32))
        self.invoke_function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """float32 outputs (samples x output size) for ``inputs`` (one row per sample)."""
        inputs = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1))
        if inputs.shape[1] != self.input_size:
            raise EdgeMLError(f"the engine takes {self.input_size} values per sample, got {inputs.shape[1]}")
        outputs = np.zeros((len(inputs), self.output_size), dtype=np.float32)
        for row, sample in enumerate(inputs):
            status = self.invoke_function(sample.ctypes.data, outputs[row].ctypes.data)
            if status != 0:
                raise EdgeMLError(f"the C engine's invoke returned {status}")
        return outputs

    def trace(self, sample: np.ndarray) -> dict[int, np.ndarray]:
        return {op: data.view(np.float32) for op, data in super().trace(sample).items()}


def build_float_engine(folder: Path, symbol: str, graph: Graph, trace: bool = False, poison: bool = False,
                       compiler: str = "gcc") -> FloatHostEngine:
    """Build the float files in ``folder`` (strict C99, -O2) into a shared library and load it; ``poison``
    overwrites each arena tensor once it is dead (EDGEML_DEBUG_POISON), so reading one changes the outputs."""
    name = f"lib{symbol}_float{'_trace' if trace else ''}{'_poison' if poison else ''}.so"
    library = build_shared_library(folder, folder / name, BuildOptions(compiler=compiler, trace=trace, poison=poison,
                                                                       extra_flags=("-lm",)))
    sizes = [graph.tensor(index).element_count for index in (graph.inputs[0], graph.outputs[0])]
    return FloatHostEngine(library, symbol, *sizes)


def tracing_factory(folder: Path, symbol: str, graph: Graph, compiler: str = "gcc") -> Callable[[], FloatHostEngine]:
    """Builds the trace build of the files in ``folder`` when called (for :func:`compare_float`)."""
    return partial(build_float_engine, folder, symbol, graph, trace=True, compiler=compiler)


@dataclass(frozen=True)
class FloatAgreement:
    """The float build's outputs against :data:`REFERENCE` on ``samples`` inputs."""

    samples: int
    max_abs_difference: float
    clear_samples: int  # samples whose reference top-2 margin exceeds CLEAR_MARGIN
    top_class_differences: int  # among the clear samples
    first_divergence: str | None = None
    inputs: str = "given inputs"

    @property
    def within_bound(self) -> bool:
        return self.max_abs_difference <= MAX_ABS_DIFFERENCE and self.top_class_differences == 0

    def describe(self) -> str:
        verdict = "within" if self.within_bound else "OUTSIDE"
        text = (f"C engine (float32) vs {REFERENCE} on {self.samples} inputs ({self.inputs}): max |difference| "
                f"{self.max_abs_difference:.3g} ({verdict} the bound {MAX_ABS_DIFFERENCE:g}); top class differs on "
                f"{self.top_class_differences} of {self.clear_samples} samples with a top-2 margin > {CLEAR_MARGIN:g}")
        return text + (f"; first op beyond the bound: {self.first_divergence}" if self.first_divergence else "")

    def to_json(self) -> dict:
        return {"reference": REFERENCE, "inputs": self.inputs, "samples": self.samples,
                "max_abs_difference": self.max_abs_difference,
                "bound": MAX_ABS_DIFFERENCE, "clear_margin": CLEAR_MARGIN, "clear_samples": self.clear_samples,
                "top_class_differences": self.top_class_differences, "within_bound": self.within_bound,
                "first_divergence": self.first_divergence}


def reference_outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """float32 outputs (samples x output size) of LiteRT BUILTIN_REF, one invoke per sample."""
    interpreter = _builtin_ref(model, preserve_all_tensors=False)
    input_detail = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    shape = [abs(int(d)) for d in input_detail["shape"]]
    outputs = []
    for sample in np.asarray(inputs, dtype=np.float32):
        interpreter.set_tensor(input_detail["index"], sample.reshape(shape))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index).reshape(-1).copy())
    return np.asarray(outputs, dtype=np.float32)


def compare_float(model: bytes, graph: Graph, engine: FloatHostEngine, inputs: np.ndarray,
                  tracing_engine: Callable[[], FloatHostEngine] | None = None,
                  inputs_label: str = "given inputs") -> FloatAgreement:
    """The engine's outputs on ``inputs`` (float32, one row per sample) against BUILTIN_REF.

    ``tracing_engine`` makes the same files built with ``trace=True`` (called only for a result beyond the
    bound), so that such a result names its first op."""
    inputs = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    if len(inputs) == 0:
        raise EdgeMLError("no inputs to compare the float engine on")
    expected, actual = reference_outputs(model, inputs), engine.run(inputs)
    differences = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    per_sample = differences.max(axis=1)
    clear = _top2_margin(expected) > CLEAR_MARGIN
    top_differs = clear & (_top_class(expected) != _top_class(actual))
    agreement = FloatAgreement(len(inputs), float(per_sample.max()), int(clear.sum()), int(top_differs.sum()),
                               inputs=inputs_label)
    if not agreement.within_bound and tracing_engine is not None:
        worst = int(np.argmax(per_sample + top_differs))  # a top-class flip first, else the largest difference
        agreement = replace(agreement, first_divergence=first_divergence(model, graph, tracing_engine(), inputs[worst]))
    return agreement


def first_divergence(model: bytes, graph: Graph, tracing_engine: FloatHostEngine, sample: np.ndarray) -> str:
    """'op 3 FULLY_CONNECTED, tensor 7 'dense_1' (max |difference| 3e-4 over 2 of 16 values)' for the first op
    whose output differs from BUILTIN_REF's by more than the bound."""
    engine_outputs = tracing_engine.trace(sample)
    interpreter = _builtin_ref(model, preserve_all_tensors=True)
    detail = interpreter.get_input_details()[0]
    shape = [abs(int(d)) for d in detail["shape"]]
    interpreter.set_tensor(detail["index"], np.asarray(sample, np.float32).reshape(shape))
    interpreter.invoke()
    for op in graph.ops:
        if op.index not in engine_outputs:
            continue
        tensor = graph.tensor(op.outputs[0])
        mine = engine_outputs[op.index].astype(np.float64)
        theirs = interpreter.get_tensor(tensor.index).reshape(-1).astype(np.float64)
        if mine.shape != theirs.shape:
            return f"{op.describe()}, {tensor.describe()} ({len(mine)} values, the reference has {len(theirs)})"
        difference = np.abs(mine - theirs)
        if difference.max() > MAX_ABS_DIFFERENCE:
            return (f"{op.describe()}, {tensor.describe()} (max |difference| {difference.max():.3g} over "
                    f"{int((difference > MAX_ABS_DIFFERENCE).sum())} of {len(mine)} values)")
    return "no op beyond the bound (the intermediate outputs agree; the difference is in how the output is read)"


def _top_class(outputs: np.ndarray) -> np.ndarray:
    return np.argmax(outputs, axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] >= 0.5).astype(np.int64)


def _top2_margin(outputs: np.ndarray) -> np.ndarray:
    if outputs.shape[1] == 1:  # one sigmoid unit: the distance from the 0.5 threshold, in probability
        return np.abs(2 * outputs[:, 0].astype(np.float64) - 1)
    top2 = np.sort(outputs.astype(np.float64), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]

