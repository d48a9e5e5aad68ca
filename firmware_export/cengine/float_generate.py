"""The C engine's float32 build: a float32 ``.tflite`` compiled to standalone C99 (issue 15).

The same pipeline as the int8 build (:mod:`.generate`): the graph is read, lowered to float kernel calls
(:mod:`.float_lower`), planned with the same static memory planner (:mod:`.plan`; 4 bytes per value,
reshapes aliased, element-wise ops in place) and rendered from ``templates/float_model.{c,h}.jinja`` with
the kernels of ``float_kernels/``. A conv followed by the pool that alone reads it is fused as in the int8
build (:func:`.fuse.fuse_conv_pool`; the float kernel ``edgeml_float_conv_pool`` gives the same bits as the
two ops). Everything is rendered in memory before anything is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from edgeml.data import Normalization
from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, read_graph_bytes
from firmware_export.cengine.fuse import Fusion, InPlace, fuse_conv_pool, in_place_roots
from firmware_export.cengine.generate import (ENGINE_JSON, GEOMETRY_HEADER, Flavour, Labels, TensorStorage,
                                              _alias_roots, _helpers, _lifetimes, _position_of_scratch, _scratch_id,
                                              render_model)
from firmware_export.cengine.generate import _pointer as _storage_pointer  # the float build's ARENA(floats)
from firmware_export.cengine.lower import ALIAS_OPS, LoweredGraph
from firmware_export.cengine.float_lower import lower_float
from firmware_export.cengine.plan import MemoryPlan, plan_memory

FLOAT_KERNELS_DIR = Path(__file__).resolve().parent / "float_kernels"
FLOAT_BYTES = 4
FLOAT_FLAVOUR = Flavour(
    build=", float32", template_prefix="float_", element_bytes=FLOAT_BYTES,
    kernel_sources=tuple(sorted(path for path in FLOAT_KERNELS_DIR.iterdir() if path.suffix in (".c", ".h")))
    + (GEOMETRY_HEADER,),
    kernels_note=("Kernels: edgeml_float*.c/.h and edgeml_geometry.h beside this file (Apache License 2.0, the float",
                  "reference kernels of TensorFlow Lite; see edgeml_float.h). Compile all .c files together; link",
                  "the math library (-lm)."))


@dataclass(frozen=True)
class CompiledFloatModel:
    """Everything the generated files of a float32 model say, before any is written."""

    graph: Graph
    lowered: LoweredGraph
    plan: MemoryPlan
    tensors: tuple[TensorStorage, ...]
    fusions: tuple[Fusion, ...]
    in_place: tuple[InPlace, ...]
    files: dict[str, str]  # file name -> contents (engine.json included)
    symbol: str

    @property
    def input_bytes(self) -> int:
        return self.graph.tensor(self.graph.inputs[0]).byte_size

    @property
    def output_bytes(self) -> int:
        return self.graph.tensor(self.graph.outputs[0]).byte_size

    @property
    def static_ram_bytes(self) -> int:
        """Arena + the caller's input and output buffers (as :class:`edgeml.c_runtime.StaticMemory` counts)."""
        return self.plan.arena_bytes + self.input_bytes + self.output_bytes


def compile_float_model(model: bytes, symbol: str, source_name: str = "<bytes>", labels: Labels = Labels(),
                        normalization: Normalization | None = None) -> CompiledFloatModel:
    """Lower and plan the float32 ``model`` and render every file in memory (nothing is written).

    Raises EdgeMLError naming the op and tensor the float build cannot run."""
    graph = read_graph_bytes(model, source_name)
    lowered = lower_float(graph)
    roots = _alias_roots(graph, lowered)
    caller_buffers = (roots[graph.inputs[0]], roots[graph.outputs[0]])
    if caller_buffers[0] == caller_buffers[1]:
        raise EdgeMLError(f"{source_name}: the output is the input reshaped; there is nothing to compile")
    lowered, fusions = fuse_conv_pool(graph, lowered, roots)
    lowered = LoweredGraph(tuple(replace(call, struct="edgeml_float_conv_pool_params") if call.kernel == "conv_pool"
                                 else call for call in lowered.calls), lowered.aliases)
    # Planning sees activations only: a constant operand (ADD of a constant) is never overwritten or placed.
    activations = LoweredGraph(tuple(replace(call, inputs=tuple(i for i in call.inputs
                                                                if not graph.tensor(i).is_constant))
                                     for call in lowered.calls), lowered.aliases)
    roots, in_place = in_place_roots(graph, activations, roots, caller_buffers)
    lifetimes = _lifetimes(graph, activations, roots, caller_buffers, scratch_of=float_scratch_bytes)
    plan = plan_memory(lifetimes, alignment=FLOAT_BYTES)
    tensors = _storage(graph, roots, plan, caller_buffers, frozenset(f.unstored_tensor for f in fusions))
    files = _render(graph, lowered, plan, tensors, fusions, in_place, symbol, hashlib.sha256(model).hexdigest(),
                    source_name, labels, _helpers(model, symbol, normalization))
    return CompiledFloatModel(graph, lowered, plan, tensors, fusions, in_place, files, symbol)


def float_scratch_bytes(call) -> int:
    """Arena scratch of a float call: a fused conv + pool computes the conv pixels of one pool window, all
    channels, into it (``4 * pool.filter_h * pool.filter_w * conv.output_c`` bytes,
    float_kernels/edgeml_float_conv_pool.c); no other float kernel takes scratch (the int8 build's im2col
    columns and int32 maxima, :func:`fuse.scratch_bytes`, are the DSP/portable int8 kernels' own)."""
    if call.kernel != "conv_pool":
        return 0
    params = dict(call.params)
    pool, conv = dict(params["pool"]), dict(params["conv"])
    return FLOAT_BYTES * pool["filter_h"] * pool["filter_w"] * conv["output_c"]


def _storage(graph: Graph, roots: dict[int, int], plan: MemoryPlan, caller_buffers: tuple[int, int],
             unstored: frozenset[int]) -> tuple[TensorStorage, ...]:
    """Where each activation lives: the caller's ``input``/``output``, the ``arena`` at its offset, or
    ``unstored`` (a conv output consumed inside a fused conv + pool call)."""
    placed = {p.lifetime.tensor: p.offset for p in plan.placements}
    rows = []
    for tensor in graph.tensors:
        root = roots[tensor.index]
        if tensor.is_constant or tensor.dtype != "float32":
            continue
        storage = ("input" if root == caller_buffers[0] else "output" if root == caller_buffers[1]
                   else "unstored" if root in unstored else "arena")
        rows.append(TensorStorage(tensor.index, tensor.name, tensor.shape, tensor.byte_size, storage,
                                  placed.get(root) if storage == "arena" else None,
                                  root if root != tensor.index else None))
    return tuple(rows)


def _pointer(graph: Graph, storage: dict[int, TensorStorage], index: int, const: bool) -> str:
    if graph.tensor(index).is_constant:
        return f"tensor{index}"  # float_lower's const array of a constant operand
    return _storage_pointer(storage[index], const, arena=lambda offset: f"ARENA({offset // FLOAT_BYTES})")


def _render(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
            fusions: tuple[Fusion, ...], in_place: tuple[InPlace, ...], symbol: str, model_sha256: str,
            source_name: str, labels: Labels,
            helpers: str) -> dict[str, str]:
    storage = {row.tensor: row for row in tensors}
    calls = [
        {
            "struct": call.struct, "function": f"edgeml_float_{call.kernel}",
            "input_pointers": ", ".join(_pointer(graph, storage, index, const=True) for index in call.inputs),
            "output_pointer": _pointer(graph, storage, call.output, const=False),
            "scratch_pointer": (f", ARENA({plan.offset_of(_scratch_id(position)) // FLOAT_BYTES})"
                                if float_scratch_bytes(call) else ""),
            "output_bytes": graph.tensor(call.output).byte_size,
        }
        for position, call in enumerate(lowered.calls)
    ]
    unique = {array.name: array for call in lowered.calls for array in call.arrays}  # a constant two ops share
    arrays = [{"name": array.name, "ctype": array.ctype, "count": len(array.values), "body": _body(array.values)}
              for array in unique.values()]
    engine = _engine_json(graph, lowered, plan, tensors, fusions, in_place, symbol, model_sha256)
    return render_model(FLOAT_FLAVOUR, graph, lowered, plan, symbol, model_sha256, source_name, labels, helpers,
                        calls, arrays, engine, arena_floats=plan.arena_bytes // FLOAT_BYTES)


def _body(values: tuple, per_line: int = 8) -> str:
    lines = [", ".join(str(v) for v in values[start:start + per_line]) for start in range(0, len(values), per_line)]
    return ",\n".join(f"    {line}" for line in lines)


def _engine_json(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
                 fusions: tuple[Fusion, ...], in_place: tuple[InPlace, ...], symbol: str, model_sha256: str) -> dict:
    kernels = {call.op_index: call.kernel for call in lowered.calls}
    kernels.update({fusion.conv_op: "conv_pool" for fusion in fusions})
    return {
        "schema_version": 1,
        "symbol": symbol,
        "dtype": "float32",
        "model_sha256": model_sha256,
        "arena_bytes": plan.arena_bytes,
        "liveness_floor_bytes": plan.liveness_floor_bytes,
        "arena": f"static float array inside {symbol}_model.c",
        "ops": [{"index": op.index, "name": op.name,
                 "kernel": kernels.get(op.index, "alias" if op.name in ALIAS_OPS else None),
                 "inputs": list(op.inputs), "outputs": list(op.outputs)} for op in graph.ops],
        "tensors": [{"index": row.tensor, "name": row.name, "shape": list(row.shape), "bytes": row.size_bytes,
                     "storage": row.storage, "offset": row.offset, "alias_of": row.alias_of} for row in tensors],
        "fused": [{"conv_op": f.conv_op, "pool_op": f.pool_op, "unstored_tensor": f.unstored_tensor} for f in fusions],
        "in_place": [{"op": item.op, "output": item.output, "over_input": item.input} for item in in_place],
        "scratch": [{"op": lowered.calls[_position_of_scratch(p.lifetime.tensor)].op_index, "offset": p.offset,
                     "bytes": p.lifetime.size_bytes}
                    for p in sorted(plan.placements, key=lambda p: -p.lifetime.tensor) if p.lifetime.tensor < 0],
    }

