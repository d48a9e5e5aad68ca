"""Is the C engine bit-exact? Its outputs against the runtime whose arithmetic each build follows.

Default build (double rounding) against the tflite-micro interpreter (reference kernels); the
single-rounding build against LiteRT's ``OpResolverType.BUILTIN_REF`` (TFLite's reference kernels,
built with TFLITE_SINGLE_ROUNDING). Zero differing bytes is the bar, never a tolerance. On a
difference, every op's output is compared (the engine's through its trace hook, the reference's with
all intermediate tensors kept) to name the first op and tensor that diverge.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, read_graph_bytes
from edgeml.tflite_model import read_tflite_bytes
from firmware_export.cengine.generate import compile_model
from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library
from firmware_export.parity import KernelAgreement
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


# ------------------------------------------------------------------------------ the four-way parity report

C_ENGINE = "edgeml C engine (default build)"
BUILTIN_REF = "LiteRT BUILTIN_REF (reference kernels)"
LITERT_DEFAULT = "LiteRT default (XNNPACK delegate)"
BASELINE = "tflite-micro interpreter"


@dataclass(frozen=True)
class FourWayParity:
    """The C engine, LiteRT BUILTIN_REF and LiteRT default, each against the tflite-micro interpreter (the
    runtime the engine replaces) on the same int8 inputs: differing output vectors and the first op that
    diverges (none can be named inside the XNNPACK delegate). ``c_engine`` is None when the engine could
    not compile or build the model; ``c_engine_not_run`` says why."""

    inputs: str
    samples: int
    c_engine: KernelAgreement | None
    builtin_ref: KernelAgreement
    litert_default: KernelAgreement
    c_engine_not_run: str | None = None

    def describe(self) -> str:
        c_line = self.c_engine.describe() if self.c_engine else f"vs {C_ENGINE}: not run: {self.c_engine_not_run}"
        return "\n".join([f"{BASELINE} vs three runtimes on {self.samples} inputs ({self.inputs}):", f"  {c_line}",
                          f"  {self.builtin_ref.describe()}", f"  {self.litert_default.describe()}"])

    def to_json(self) -> dict:
        rows = [(C_ENGINE, self.c_engine), (BUILTIN_REF, self.builtin_ref), (LITERT_DEFAULT, self.litert_default)]
        return {
            "baseline": BASELINE, "inputs": self.inputs, "samples": self.samples,
            "runtimes": [
                {"runtime": name, "differing_vectors": row.differing_vectors if row else None,
                 "max_lsb": row.max_abs_diff if row else None, "first_divergence": row.first_divergence if row else None,
                 "not_run": None if row else self.c_engine_not_run}
                for name, row in rows
            ],
        }


FLOAT_GRAPH_NOT_COMPARED = ("the four-way comparison is of int8 outputs; a float32 model's C build is compared with "
                            "LiteRT BUILTIN_REF float within a bound (edgeml export MODEL --engine c)")


def four_way_parity(model: bytes, inputs: np.ndarray, inputs_label: str = "given inputs") -> FourWayParity:
    """Raw int8 outputs of the tflite-micro interpreter, the C engine (built on this machine by the ``c``
    runtime), LiteRT ``BUILTIN_REF`` and LiteRT's default, for ``inputs`` (one row per sample, int8).

    Raises EdgeMLError when TFLite Micro or LiteRT cannot run the model, or when it is a float32 graph (the
    float build is held to a bound against LiteRT BUILTIN_REF float instead:
    :func:`firmware_export.cengine.float_exactness.compare_float`); the C engine's own failure (an op it
    does not compile, no C compiler) is recorded in the result instead.
    """
    from ai_edge_litert.interpreter import OpResolverType

    from firmware_export.cengine.float_lower import is_float_graph
    from firmware_export.parity import _agreement, _run_litert
    from firmware_export.parity import first_divergence as litert_first_divergence

    if is_float_graph(read_graph_bytes(model)):
        raise EdgeMLError(FLOAT_GRAPH_NOT_COMPARED)
    info = read_tflite_bytes(model)
    inputs = np.asarray(inputs, dtype=np.int8).reshape(len(inputs), *[abs(d) for d in info.inputs[0].shape[1:]])
    if len(inputs) == 0:
        raise EdgeMLError("no inputs to compare the runtimes on")
    tflm = reference_outputs(model, inputs, Reference.TFLM)
    reference = reference_outputs(model, inputs, Reference.BUILTIN_REF)
    builtin_ref = _agreement(BUILTIN_REF, tflm, reference, info.outputs[0])
    if not builtin_ref.identical:
        first = int(np.argmax((reference != tflm).any(axis=1)))
        where = litert_first_divergence(model, info, inputs[first], REFERENCE_ARENA_BYTES, OpResolverType.BUILTIN_REF)
        builtin_ref = replace(builtin_ref, first_divergence=where)
    litert_default = _agreement(LITERT_DEFAULT, tflm, _run_litert(model, inputs, reference_kernels=False).reshape(
        len(inputs), -1), info.outputs[0])
    if not litert_default.identical:
        litert_default = replace(litert_default, first_divergence="an op inside the XNNPACK delegate (not traceable)")
    c_engine, not_run = _c_engine_agreement(model, inputs, tflm, info)
    return FourWayParity(inputs_label, len(inputs), c_engine, builtin_ref, litert_default, not_run)


def _c_engine_agreement(model: bytes, inputs: np.ndarray, tflm: np.ndarray,
                        info) -> tuple[KernelAgreement | None, str | None]:
    from firmware_export.cengine.build import SYMBOL, build_engine
    from firmware_export.parity import _agreement

    graph = read_graph_bytes(model)
    sizes = [graph.tensor(index).element_count for index in (graph.inputs[0], graph.outputs[0])]
    try:
        build = build_engine(model)
    except EdgeMLError as exc:
        return None, str(exc)
    engine = HostEngine(build.library, SYMBOL, *sizes, build.memory.arena_bytes)
    outputs = engine.run(inputs.reshape(len(inputs), -1))
    agreement = _agreement(C_ENGINE, tflm, outputs, info.outputs[0])
    if agreement.identical:
        return agreement, None
    with tempfile.TemporaryDirectory(prefix="edgeml-trace-") as scratch:
        files = compile_model(model, SYMBOL).files
        for name, text in files.items():
            (Path(scratch) / name).write_text(text)
        library = build_shared_library(Path(scratch), Path(scratch) / "trace.so", BuildOptions(trace=True))
        tracing = HostEngine(library, SYMBOL, *sizes, build.memory.arena_bytes)
        first = int(np.argmax((outputs != tflm).any(axis=1)))
        where = first_divergence(model, graph, tracing, inputs[first], Reference.TFLM)
    return replace(agreement, first_divergence=where), None
