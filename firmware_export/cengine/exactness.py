"""Is the C engine bit-exact? Its outputs against the runtime whose arithmetic each build follows.

Default build (double rounding) against the tflite-micro interpreter (reference kernels); the
single-rounding build against LiteRT's ``OpResolverType.BUILTIN_REF`` (TFLite's reference kernels,
built with TFLITE_SINGLE_ROUNDING). Zero differing bytes is the bar, never a tolerance. On a
difference, every op's output is compared (the engine's through its trace hook, the reference's with
all intermediate tensors kept) to name the first op and tensor that diverge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.graph import Graph
from edgeml.tflite_model import read_tflite_bytes
from firmware_export.cengine.host import HostEngine
from firmware_export.tflm import run_tflm, tflm_tensors

# TFLM places every tensor of these tiny models in far less; nobody measures it for a comparison.
REFERENCE_ARENA_BYTES = 4 << 20


class Reference(str, Enum):
    TFLM = "tflite-micro interpreter (double rounding)"
    BUILTIN_REF = "LiteRT BUILTIN_REF (single rounding)"


@dataclass(frozen=True)
class Exactness:
    reference: Reference
    samples: int
    differing_vectors: int
    differing_bytes: int
    first_divergence: str | None = None

    @property
    def identical(self) -> bool:
        return self.differing_vectors == 0

    def describe(self) -> str:
        if self.identical:
            return f"C engine vs {self.reference.value}: all {self.samples} output vectors identical"
        return (f"C engine vs {self.reference.value}: {self.differing_vectors}/{self.samples} output vectors "
                f"differ ({self.differing_bytes} bytes); first diverges at {self.first_divergence}")


def reference_outputs(model: bytes, inputs: np.ndarray, reference: Reference) -> np.ndarray:
    """int8 outputs (samples x output size) of the reference runtime, one invoke per sample."""
    info = read_tflite_bytes(model)
    inputs = np.asarray(inputs, dtype=np.int8).reshape(len(inputs), *[abs(d) for d in info.inputs[0].shape[1:]])
    if reference is Reference.TFLM:
        outputs = run_tflm(model, info.inputs, inputs, REFERENCE_ARENA_BYTES)
    else:
        interpreter = _builtin_ref(model, preserve_all_tensors=False)
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]
        outputs = []
        for sample in inputs:
            interpreter.set_tensor(input_index, sample[np.newaxis])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(output_index).copy())
        outputs = np.concatenate(outputs)
    return np.asarray(outputs).reshape(len(inputs), -1)


def compare(model: bytes, graph: Graph, engine: HostEngine, inputs: np.ndarray, reference: Reference,
            tracing_engine: HostEngine | None = None) -> Exactness:
    """The engine's outputs on ``inputs`` (int8, one row per sample) against ``reference``.

    ``tracing_engine`` (the same build with ``trace=True``) lets a difference name its first op."""
    inputs = np.asarray(inputs, dtype=np.int8)
    expected = reference_outputs(model, inputs, reference)
    actual = engine.run(inputs)
    differing = (expected != actual).any(axis=1)
    divergence = None
    if differing.any() and tracing_engine is not None:
        divergence = first_divergence(model, graph, tracing_engine, inputs[int(np.argmax(differing))], reference)
    return Exactness(reference, len(inputs), int(differing.sum()), int((expected != actual).sum()), divergence)


def first_divergence(model: bytes, graph: Graph, tracing_engine: HostEngine, sample: np.ndarray,
                     reference: Reference) -> str:
    """'op 3 FULLY_CONNECTED, tensor 7 'dense_1' (2 of 16 bytes differ)' for the first op whose output differs."""
    engine_outputs = tracing_engine.trace(sample)
    sample = np.asarray(sample, dtype=np.int8).reshape([abs(d) for d in graph.tensor(graph.inputs[0]).shape[1:]])
    output_tensors = {op.index: op.outputs[0] for op in graph.ops if op.index in engine_outputs}
    expected = _reference_tensors(model, sample, sorted(set(output_tensors.values())), reference)
    for op in graph.ops:
        if op.index not in engine_outputs:
            continue
        tensor = graph.tensor(op.outputs[0])
        mine = engine_outputs[op.index]
        theirs = expected[tensor.index].reshape(-1).astype(np.int8)
        if mine.shape != theirs.shape or (mine != theirs).any():
            count = int((mine != theirs).sum()) if mine.shape == theirs.shape else len(mine)
            return f"{op.describe()}, {tensor.describe()} ({count} of {len(mine)} bytes differ)"
    return "no op (every op's output agrees; the difference is in how the output is read)"


def _reference_tensors(model: bytes, sample: np.ndarray, indices: list[int],
                       reference: Reference) -> dict[int, np.ndarray]:
    if reference is Reference.TFLM:
        info = read_tflite_bytes(model)
        return tflm_tensors(model, info.inputs, sample, REFERENCE_ARENA_BYTES, indices)
    interpreter = _builtin_ref(model, preserve_all_tensors=True)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sample[np.newaxis])
    interpreter.invoke()
    return {index: interpreter.get_tensor(index) for index in indices}


def _builtin_ref(model: bytes, preserve_all_tensors: bool):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise EdgeMLError("comparing with LiteRT's reference kernels needs ai-edge-litert: "
                          "pip install 'edgeml[pi]'") from None
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=preserve_all_tensors)
    interpreter.allocate_tensors()
    return interpreter
