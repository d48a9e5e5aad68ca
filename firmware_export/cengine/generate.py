"""``edgeml export --engine c``: an int8 ``.tflite`` compiled to standalone C99 (no interpreter).

Reads the graph (:mod:`edgeml.graph`), lowers every op to a kernel call with its constants precomputed
(:mod:`.lower`), plans the arena (:mod:`.plan`), renders ``<name>_model.h/.c`` from the templates in
``templates/`` and copies the kernels of ``kernels/`` beside them, with ``engine.json`` describing the
plan. Everything is checked and rendered before anything is written; files appear through a temporary
folder renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgeml.artifacts import check_output_dir, current_umask
from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, Tensor, read_graph_bytes
from firmware_export import cgen
from firmware_export.cengine.lower import ALIAS_OPS, ConstArray, KernelCall, LoweredGraph, lower
from firmware_export.cengine.plan import Lifetime, MemoryPlan, plan_memory

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
KERNEL_FILES = tuple(sorted(path.name for path in KERNELS_DIR.iterdir() if path.suffix in (".c", ".h")))
ENGINE_JSON = "engine.json"
_STRUCTS = {
    "fully_connected": "edgeml_fully_connected_params", "conv_2d": "edgeml_conv_params",
    "depthwise_conv_2d": "edgeml_depthwise_params", "max_pool_2d": "edgeml_pool_params",
    "average_pool_2d": "edgeml_pool_params", "softmax": "edgeml_softmax_params", "add": "edgeml_add_params",
    "mean_hw": "edgeml_mean_params",
}


@dataclass(frozen=True)
class CEngineConfig:
    """``source`` is a run directory (its ``model_int8.tflite``) or a ``.tflite`` file; ``name`` becomes
    the C symbol prefix (``<name>_invoke``, ``<NAME>_ARENA_BYTES``)."""

    source: str
    out: str
    name: str = "model"
    force: bool = False


@dataclass(frozen=True)
class TensorStorage:
    """Where one activation tensor lives: ``input``/``output`` (the caller's buffers) or ``arena`` at ``offset``."""

    tensor: int
    name: str
    shape: tuple[int, ...]
    size_bytes: int
    storage: str
    offset: int | None
    alias_of: int | None


@dataclass(frozen=True)
class CEngineResult:
    out_dir: Path
    files: tuple[Path, ...]
    symbol: str
    model_sha256: str
    ops: tuple[str, ...]
    arena_bytes: int
    liveness_floor_bytes: int
    tensors: tuple[TensorStorage, ...]
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        return "\n".join([
            f"wrote {', '.join(path.name for path in self.files)} to {self.out_dir}",
            f"C engine `{self.symbol}_invoke`: {len(self.ops)} ops ({', '.join(sorted(set(self.ops)))})",
            f"arena {self.arena_bytes:,} bytes (liveness floor {self.liveness_floor_bytes:,} bytes); "
            "input and output stay in the caller's buffers",
        ])


@dataclass(frozen=True)
class CompiledModel:
    """Everything the generated files say, before any is written."""

    graph: Graph
    lowered: LoweredGraph
    plan: MemoryPlan
    tensors: tuple[TensorStorage, ...]
    files: dict[str, str]  # file name -> contents


def export_c_engine(config: CEngineConfig) -> CEngineResult:
    """Write ``<name>_model.h``, ``<name>_model.c``, the kernel files and ``engine.json`` to ``config.out``."""
    from firmware_export.export import _read_model, _resolve_source  # the TFLM export's source rules

    model_path, _ = _resolve_source(Path(config.source))
    model = _read_model(model_path)
    symbol = cgen.c_identifier(config.name)
    compiled = compile_model(model, symbol, str(model_path))
    out_dir = check_output_dir(config.out, config.force, tuple(compiled.files))
    files = write_files(out_dir, compiled.files)
    return CEngineResult(
        out_dir=out_dir, files=files, symbol=symbol, model_sha256=hashlib.sha256(model).hexdigest(),
        ops=tuple(op.name for op in compiled.graph.ops), arena_bytes=compiled.plan.arena_bytes,
        liveness_floor_bytes=compiled.plan.liveness_floor_bytes, tensors=compiled.tensors,
        warnings=(f"--name {config.name!r} is not a usable C identifier; the symbol is {symbol!r}",)
        if symbol != config.name else (),
    )


def compile_model(model: bytes, symbol: str, source_name: str = "<bytes>") -> CompiledModel:
    """Lower and plan ``model`` and render every file in memory (no file is touched)."""
    graph = read_graph_bytes(model, source_name)
    lowered = lower(graph)
    roots = _alias_roots(graph, lowered)
    input_root, output_root = roots[graph.inputs[0]], roots[graph.outputs[0]]
    if input_root == output_root:
        raise EdgeMLError(f"{source_name}: the output is the input reshaped; there is nothing to compile")
    lifetimes = _lifetimes(graph, lowered, roots, (input_root, output_root))
    plan = plan_memory(lifetimes)
    tensors = _storage(graph, roots, plan, input_root, output_root)
    files = _render(graph, lowered, plan, tensors, symbol, hashlib.sha256(model).hexdigest(), source_name)
    return CompiledModel(graph, lowered, plan, tensors, files)


def _alias_roots(graph: Graph, lowered: LoweredGraph) -> dict[int, int]:
    """Each activation tensor -> the tensor that owns its bytes (itself unless it is a reshape's output)."""
    roots: dict[int, int] = {}
    for tensor in graph.tensors:
        index = tensor.index
        while index in lowered.aliases:
            index = lowered.aliases[index]
        roots[tensor.index] = index
    return roots


def _lifetimes(graph: Graph, lowered: LoweredGraph, roots: dict[int, int],
               caller_buffers: tuple[int, int]) -> list[Lifetime]:
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for position, call in enumerate(lowered.calls):
        output = roots[call.output]
        first.setdefault(output, position)
        last[output] = max(last.get(output, position), position)
        for source in (roots[index] for index in call.inputs):
            last[source] = max(last.get(source, position), position)
    return [
        Lifetime(tensor, graph.tensor(tensor).byte_size, first[tensor], last[tensor])
        for tensor in sorted(first) if tensor not in caller_buffers
    ]


def _storage(graph: Graph, roots: dict[int, int], plan: MemoryPlan, input_root: int,
             output_root: int) -> tuple[TensorStorage, ...]:
    placed = {p.lifetime.tensor: p.offset for p in plan.placements}
    rows = []
    for tensor in graph.tensors:
        if tensor.is_constant or tensor.dtype != "int8":
            continue
        root = roots[tensor.index]
        storage = "input" if root == input_root else "output" if root == output_root else "arena"
        rows.append(TensorStorage(
            tensor=tensor.index, name=tensor.name, shape=tensor.shape, size_bytes=tensor.byte_size, storage=storage,
            offset=placed.get(root) if storage == "arena" else None,
            alias_of=root if root != tensor.index else None,
        ))
    return tuple(rows)


def _render(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
            symbol: str, model_sha256: str, source_name: str) -> dict[str, str]:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )
    storage = {row.tensor: row for row in tensors}
    prefix = cgen.macro_prefix(symbol)
    banner = cgen.block_comment([
        f"{symbol}_model: generated by edgeml {_edgeml_version()} (C engine) from {Path(source_name).name}",
        f"model sha256 {model_sha256}",
        "Kernels: edgeml_*.c/.h beside this file (Apache License 2.0, arithmetic of TensorFlow Lite's",
        "reference kernels; see edgeml_engine.h). Compile all .c files together; -DEDGEML_SINGLE_ROUNDING=1",
        "selects TFLite's single-rounding arithmetic (LiteRT BUILTIN_REF) instead of TFLite Micro's.",
    ])
    releases = _releases(lowered, plan, graph)
    calls = [
        {
            "op_index": call.op_index, "op_name": call.op_name, "kernel": call.kernel,
            "struct": call.struct or _STRUCTS[call.kernel],
            "description": cgen.comment_text(
                f"{', '.join(graph.tensor(i).describe() for i in call.inputs)} -> "
                f"{graph.tensor(call.output).describe()}"),
            "params": _initializer(call.params),
            "single_params": _initializer(call.single_params) if call.single_params else None,
            "input_pointers": ", ".join(_pointer(storage[index], const=True) for index in call.inputs),
            "output_pointer": _pointer(storage[call.output], const=False),
            "output_bytes": storage[call.output].size_bytes,
            "releases": releases[position],
        }
        for position, call in enumerate(lowered.calls)
    ]
    arrays = [_array_values(array) for call in lowered.calls for array in call.arrays]
    io = {kind: _io_values(graph.tensor(index)) for kind, index in (("input", graph.inputs[0]),
                                                                   ("output", graph.outputs[0]))}
    values = dict(banner=banner, symbol=symbol, prefix=prefix, guard=f"{prefix}_MODEL_H",
                  arena_bytes=plan.arena_bytes, calls=calls, arrays=arrays, **io)
    files = {
        f"{symbol}_model.h": environment.get_template("model.h.jinja").render(values),
        f"{symbol}_model.c": environment.get_template("model.c.jinja").render(values),
    }
    files.update({name: (KERNELS_DIR / name).read_text() for name in KERNEL_FILES})
    files[ENGINE_JSON] = json.dumps(_engine_json(graph, lowered, plan, tensors, symbol, model_sha256), indent=2) + "\n"
    return files


def _releases(lowered: LoweredGraph, plan: MemoryPlan, graph: Graph) -> list[list[dict[str, int]]]:
    """For each call, the arena tensors whose last use it is (poisoned after it in debug builds)."""
    releases: list[list[dict[str, int]]] = [[] for _ in lowered.calls]
    for placement in plan.placements:
        releases[placement.lifetime.last_op].append(
            {"offset": placement.offset, "size": placement.lifetime.size_bytes})
    return releases


def _pointer(row: TensorStorage, const: bool) -> str:
    if row.storage == "input":
        if not const:
            raise AssertionError("the planner never writes into the caller's input")
        return "input"
    if row.storage == "output":
        return "output"
    return f"ARENA_IN({row.offset})" if const else f"ARENA_OUT({row.offset})"


def _initializer(params: tuple[tuple[str, object], ...], nested: bool = False) -> str:
    """A designated initializer, one field per line (a nested struct on one line)."""
    fields = []
    for name, value in params:
        if isinstance(value, tuple):
            text = _initializer(value, nested=True)
        elif value is None:
            text = "NULL"
        else:
            text = str(value)
        fields.append(f".{name} = {text}")
    if nested:
        return "{" + ", ".join(fields) + "}"
    return "{\n" + "".join(f"    {field},\n" for field in fields) + "}"


def _array_values(array: ConstArray) -> dict[str, object]:
    return {
        "name": array.name, "ctype": array.ctype, "count": len(array.values), "single": array.single,
        "body": _body(array.values), "single_body": _body(array.single) if array.single is not None else "",
    }


def _body(values: tuple[int, ...], per_line: int = 16) -> str:
    lines = [", ".join(str(v) for v in values[start:start + per_line]) for start in range(0, len(values), per_line)]
    return ",\n".join(f"    {line}" for line in lines)


def _io_values(tensor: Tensor) -> dict[str, object]:
    return {"size": tensor.element_count, "shape": ", ".join(str(d) for d in tensor.shape),
            "scale": cgen.c_float_literal(tensor.scale), "zero_point": cgen.c_int_literal(tensor.zero_point)}


def _engine_json(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
                 symbol: str, model_sha256: str) -> dict:
    kernels = {call.op_index: call.kernel for call in lowered.calls}
    return {
        "schema_version": 1,
        "symbol": symbol,
        "model_sha256": model_sha256,
        "arena_bytes": plan.arena_bytes,
        "liveness_floor_bytes": plan.liveness_floor_bytes,
        "default_rounding": "double (TFLite Micro)",
        "ops": [
            {"index": op.index, "name": op.name, "kernel": kernels.get(op.index, "alias" if op.name in ALIAS_OPS else None),
             "inputs": list(op.inputs), "outputs": list(op.outputs)}
            for op in graph.ops
        ],
        "tensors": [
            {"index": row.tensor, "name": row.name, "shape": list(row.shape), "bytes": row.size_bytes,
             "storage": row.storage, "offset": row.offset, "alias_of": row.alias_of}
            for row in tensors
        ],
    }


def write_files(out_dir: Path, files: dict[str, str]) -> tuple[Path, ...]:
    """Write every file into a temporary folder beside ``out_dir``, then move each into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
            os.chmod(staging / name, 0o666 & ~current_umask())
        if not out_dir.exists():
            os.replace(staging, out_dir)
        else:
            for name in files:
                os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tuple(out_dir / name for name in files)


def _edgeml_version() -> str:
    try:
        return version("edgeml")
    except PackageNotFoundError:
        return "unknown"
