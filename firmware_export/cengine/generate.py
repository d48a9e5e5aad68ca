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
from edgeml.data import Normalization
from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, Tensor, read_graph_bytes
from firmware_export import cgen
from firmware_export.cengine.edges import EDGE_KERNELS, edge_call, int8_core
from firmware_export.cengine.fold import fold_input_offsets
from firmware_export.cengine.fuse import Fusion, InPlace, fuse_conv_pool, in_place_roots, scratch_bytes
from firmware_export.cengine.lower import ALIAS_OPS, ConstArray, KernelCall, LoweredGraph, lower
from firmware_export.cengine.measure import EngineMemory, measure_engine
from firmware_export.cengine.plan import Lifetime, MemoryPlan, plan_memory

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
KERNEL_FILES = tuple(sorted(path.name for path in KERNELS_DIR.iterdir() if path.suffix in (".c", ".h")))
# The convolution and pooling index arithmetic, shipped with the float32 kernels too (float_generate).
GEOMETRY_HEADER = KERNELS_DIR / "edgeml_geometry.h"
ENGINE_JSON = "engine.json"
_STRUCTS = {
    "fully_connected": "edgeml_fully_connected_params", "conv_2d": "edgeml_conv_params",
    "depthwise_conv_2d": "edgeml_depthwise_params", "max_pool_2d": "edgeml_pool_params",
    "average_pool_2d": "edgeml_pool_params", "softmax": "edgeml_softmax_params", "add": "edgeml_add_params",
    "mean_hw": "edgeml_mean_params", "conv_pool": "edgeml_conv_pool_params",
    **{kernel: "io_requantize_params" for kernel in EDGE_KERNELS.values()},  # defined in model.c
}


@dataclass(frozen=True)
class CEngineConfig:
    """``source`` is a run directory (its ``model_int8.tflite``) or a ``.tflite`` file; ``name`` becomes
    the C symbol prefix (``<name>_invoke``, ``<NAME>_ARENA_BYTES``). ``measure`` adds the ``memory``
    section to engine.json: a Cortex-M4 build's stack and flash, TFLite Micro's arena (:mod:`.measure`)."""

    source: str
    out: str
    name: str = "model"
    force: bool = False
    measure: bool = True


@dataclass(frozen=True)
class Labels:
    """Class names by output index (empty: none recorded) and where they come from."""

    names: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class TensorStorage:
    """Where one activation tensor lives: ``input``/``output`` (the caller's buffers), ``arena`` at
    ``offset``, or ``unstored`` (a conv output consumed inside a fused conv + pool call)."""

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
    memory: EngineMemory | None = None

    def summary(self) -> str:
        return "\n".join([
            f"wrote {', '.join(path.name for path in self.files)} to {self.out_dir}",
            f"C engine `{self.symbol}_invoke`: {len(self.ops)} ops ({', '.join(sorted(set(self.ops)))})",
            f"arena {self.arena_bytes:,} bytes (liveness floor {self.liveness_floor_bytes:,} bytes); "
            "input and output stay in the caller's buffers",
            *([_memory_line(self.memory)] if self.memory else []),
        ])


def _memory_line(memory: EngineMemory) -> str:
    def show(measurement, unit: str = " bytes") -> str:
        return f"{measurement.value:,}{unit}" if measurement.not_measured is None else measurement.as_json()

    flash = memory.cortex_m4.flash
    flash_text = (f"{flash.value.total_bytes:,} bytes (kernels {flash.value.kernels_bytes:,})"
                  if flash.not_measured is None else flash.as_json())
    return (f"RAM {show(memory.ram_bytes)} (arena + input + output + invoke stack, Cortex-M4) = "
            f"{show(memory.ram_percent_of_tflm, '%')} of TFLite Micro's arena ({show(memory.tflm_arena)}); "
            f"flash {flash_text}")


@dataclass(frozen=True)
class CompiledModel:
    """Everything the generated files say, before any is written."""

    graph: Graph
    lowered: LoweredGraph  # after fusion
    plan: MemoryPlan
    tensors: tuple[TensorStorage, ...]
    fusions: tuple[Fusion, ...]
    in_place: tuple[InPlace, ...]
    files: dict[str, str]  # file name -> contents
    symbol: str


PARITY_NOT_RUN = ("not run: the four-way comparison (C engine, tflite-micro, LiteRT BUILTIN_REF, LiteRT default) "
                  "runs in `edgeml export --engine c` unless --check-samples is 0")


def export_c_engine(config: CEngineConfig, parity: dict | None = None) -> CEngineResult:
    """Write ``<name>_model.h``, ``<name>_model.c``, the kernel files and ``engine.json`` to ``config.out``.
    ``parity`` (``FourWayParity.to_json()``, measured by the caller before anything is written) becomes
    engine.json's ``parity``; without it, ``parity`` says it was not run and why."""
    from firmware_export.source import (class_labels as _labels, read_model as _read_model,
                                        resolve_source as _resolve_source)

    model_path, record = _resolve_source(Path(config.source))
    model = _read_model(model_path)
    symbol = cgen.c_identifier(config.name)
    labels = Labels()
    if record is not None:  # class names only when the run recorded them (no numbered stand-ins)
        from edgeml.tflite_model import read_tflite_bytes

        labels = Labels(*_labels(read_tflite_bytes(model).outputs[0], record))
    compiled = compile_model(model, symbol, str(model_path), labels, record.normalization if record else None)
    out_dir = check_output_dir(config.out, config.force, tuple(compiled.files))
    contents, memory = compiled.files, None
    engine = json.loads(contents[ENGINE_JSON])
    if config.measure:
        memory = measure_compiled(compiled, model)
        engine["memory"] = memory.as_json()
    engine["parity"] = parity if parity is not None else {"not_run": PARITY_NOT_RUN}
    contents = {**contents, ENGINE_JSON: json.dumps(engine, indent=2) + "\n"}
    files = write_files(out_dir, contents)
    return CEngineResult(
        out_dir=out_dir, files=files, symbol=symbol, model_sha256=hashlib.sha256(model).hexdigest(),
        ops=tuple(op.name for op in compiled.graph.ops), arena_bytes=compiled.plan.arena_bytes,
        liveness_floor_bytes=compiled.plan.liveness_floor_bytes, tensors=compiled.tensors,
        warnings=(f"--name {config.name!r} is not a usable C identifier; the symbol is {symbol!r}",)
        if symbol != config.name else (),
        memory=memory,
    )


def measure_compiled(compiled: CompiledModel, model: bytes, with_tflm: bool = True) -> EngineMemory:
    """RAM and flash of ``compiled`` (a Cortex-M4 build of its files) next to TFLite Micro's arena."""
    graph = compiled.graph
    return measure_engine(compiled.files, compiled.symbol, model, compiled.plan.arena_bytes,
                          compiled.plan.liveness_floor_bytes, graph.tensor(graph.inputs[0]).byte_size,
                          graph.tensor(graph.outputs[0]).byte_size, with_tflm)


def compile_model(model: bytes, symbol: str, source_name: str = "<bytes>", labels: Labels = Labels(),
                  normalization: Normalization | None = None) -> CompiledModel:
    """Lower and plan ``model`` and render every file in memory (no file is touched); ``labels`` go
    into the header as ``<symbol>_labels`` when there are any; ``normalization`` (the run's, None: none
    recorded) into the header's helpers that turn raw values into model inputs."""
    graph = read_graph_bytes(model, source_name)
    helpers = _helpers(model, symbol, normalization)
    core, edges = int8_core(graph)
    lowered = fold_input_offsets(lower(core))
    calls = ([edge_call(graph, edge) for edge in edges if edge.kind == "input"] + list(lowered.calls)
             + [edge_call(graph, edge) for edge in edges if edge.kind == "output"])
    lowered = LoweredGraph(tuple(calls), lowered.aliases)
    roots = _alias_roots(graph, lowered)
    input_root, output_root = roots[graph.inputs[0]], roots[graph.outputs[0]]
    if input_root == output_root:
        raise EdgeMLError(f"{source_name}: the output is the input reshaped; there is nothing to compile")
    lowered, fusions = fuse_conv_pool(graph, lowered, roots)
    roots, in_place = in_place_roots(graph, lowered, roots, (input_root, output_root))
    lifetimes = _lifetimes(graph, lowered, roots, (input_root, output_root))
    plan = plan_memory(lifetimes)
    unstored = frozenset(fusion.unstored_tensor for fusion in fusions)
    tensors = _storage(graph, roots, plan, input_root, output_root, unstored)
    files = _render(graph, lowered, plan, tensors, symbol, hashlib.sha256(model).hexdigest(), source_name,
                    fusions, in_place, labels, helpers)
    return CompiledModel(graph, lowered, plan, tensors, fusions, in_place, files, symbol)


def _helpers(model: bytes, symbol: str, normalization: Normalization | None) -> str:
    """The header's normalisation constants and float helpers, the same C as the TFLite Micro export's
    model_config.h (firmware_export/templates/helpers.h.in): used outside invoke, never by the engine."""
    from edgeml.tflite_model import read_tflite_bytes
    from firmware_export.source import recorded_normalization as _normalization
    from firmware_export.render import HelperSubject, normalization_constants, render_helpers

    info = read_tflite_bytes(model)
    if normalization is None:
        normalization, source = _normalization(None)
    else:
        source = normalization.describe()
    subject = HelperSubject(symbol, normalization, info.inputs[0], info.outputs[0])
    return "\n".join([
        cgen.block_comment([f"Normalisation recorded at training ({source}):",
                            "model input = (raw - MEAN) / STD, raw being the value as the dataset stores it."]),
        normalization_constants(subject), "", render_helpers(subject).rstrip("\n")])


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
               caller_buffers: tuple[int, int], scratch_of=scratch_bytes) -> list[Lifetime]:
    """Each stored activation's lifetime (bytes, first and last call) and each call's scratch, sized by
    ``scratch_of(call)`` in bytes (the int8 kernels' :func:`fuse.scratch_bytes` unless given)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for position, call in enumerate(lowered.calls):
        output = roots[call.output]
        first.setdefault(output, position)
        last[output] = max(last.get(output, position), position)
        for source in (roots[index] for index in call.inputs):
            last[source] = max(last.get(source, position), position)
    tensors = [
        Lifetime(tensor, graph.tensor(tensor).byte_size, first[tensor], last[tensor])
        for tensor in sorted(first) if tensor not in caller_buffers
    ]
    scratch = [Lifetime(_scratch_id(position), scratch_of(call), position, position)
               for position, call in enumerate(lowered.calls) if scratch_of(call)]
    return tensors + scratch


def _scratch_id(position: int) -> int:
    """The plan's name for the scratch of the call at ``position`` (negative: no tensor has it)."""
    return -1 - position


def _position_of_scratch(scratch_id: int) -> int:
    return -1 - scratch_id


def _storage(graph: Graph, roots: dict[int, int], plan: MemoryPlan, input_root: int,
             output_root: int, unstored: frozenset[int]) -> tuple[TensorStorage, ...]:
    placed = {p.lifetime.tensor: p.offset for p in plan.placements}
    rows = []
    for tensor in graph.tensors:
        if tensor.is_constant or tensor.dtype not in ("int8", "uint8"):
            continue
        root = roots[tensor.index]
        storage = ("input" if root == input_root else "output" if root == output_root
                   else "unstored" if root in unstored else "arena")
        rows.append(TensorStorage(
            tensor=tensor.index, name=tensor.name, shape=tensor.shape, size_bytes=tensor.byte_size, storage=storage,
            offset=placed.get(root) if storage == "arena" else None,
            alias_of=root if root != tensor.index else None,
        ))
    return tuple(rows)


def template_environment():
    """The Jinja2 environment of the C engine's templates (``templates/``; StrictUndefined, no autoescape: C),
    shared by the int8 and the float32 builds."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )


@dataclass(frozen=True)
class Flavour:
    """What the int8 and the float32 builds' generated files differ in, for :func:`render_model`."""

    build: str                         # the banner's "(C engine<build>)": "" or ", float32"
    kernels_note: tuple[str, ...]      # the banner's lines on the kernels beside the model
    template_prefix: str               # templates/<prefix>model.{h,c}.jinja
    element_bytes: int                 # the arena's element: the C array the templates index (1: int8_t, 4: float)
    kernel_sources: tuple[Path, ...]   # copied beside the model


INT8_FLAVOUR = Flavour(
    build="", template_prefix="", element_bytes=1, kernel_sources=tuple(KERNELS_DIR / name for name in KERNEL_FILES),
    kernels_note=(
        "Kernels: edgeml_*.c/.h beside this file (Apache License 2.0, arithmetic of TensorFlow Lite's",
        "reference kernels; see edgeml_engine.h). Compile all .c files together; -DEDGEML_SINGLE_ROUNDING=1",
        "selects TFLite's single-rounding arithmetic (LiteRT BUILTIN_REF) instead of TFLite Micro's."))


def render_model(flavour: Flavour, graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, symbol: str,
                 model_sha256: str, source_name: str, labels: Labels, helpers: str, calls: list[dict],
                 arrays: list[dict], engine: dict, **values) -> dict[str, str]:
    """The generated files of either build: ``<symbol>_model.h/.c`` rendered from ``flavour``'s templates,
    its kernels and ``engine.json``. ``calls``: each call's build-specific template values (function,
    struct, pointers, ...), in ``lowered.calls`` order; the values both builds share (op, description,
    parameters, arena releases in elements) are added here; ``values``: the build's other template values."""
    environment = template_environment()
    prefix = cgen.macro_prefix(symbol)
    banner = cgen.block_comment([
        f"{symbol}_model: generated by edgeml {_edgeml_version()} (C engine{flavour.build}) from "
        f"{Path(source_name).name}", f"model sha256 {model_sha256}", *flavour.kernels_note])
    releases = _releases(lowered, plan, flavour.element_bytes)
    calls = [{"op_index": call.op_index, "op_name": call.op_name,
              "description": cgen.comment_text(f"{', '.join(graph.tensor(i).describe() for i in call.inputs)} -> "
                                               f"{graph.tensor(call.output).describe()}"),
              "params": _initializer(call.params), "releases": releases[position], **specific}
             for position, (call, specific) in enumerate(zip(lowered.calls, calls, strict=True))]
    io = {kind: _io_values(graph.tensor(index)) for kind, index in (("input", graph.inputs[0]),
                                                                   ("output", graph.outputs[0]))}
    values = dict(banner=banner, symbol=symbol, prefix=prefix, guard=f"{prefix}_MODEL_H",
                  arena_bytes=plan.arena_bytes, calls=calls, arrays=arrays,
                  labels=[cgen.c_string_literal(name) for name in labels.names],
                  labels_source=cgen.comment_text(labels.source), helpers=helpers, **io, **values)
    files = {f"{symbol}_model.{suffix}": environment.get_template(
        f"{flavour.template_prefix}model.{suffix}.jinja").render(values) for suffix in ("h", "c")}
    files.update({path.name: path.read_text() for path in flavour.kernel_sources})
    files[ENGINE_JSON] = json.dumps(engine, indent=2) + "\n"
    return files


def _render(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
            symbol: str, model_sha256: str, source_name: str, fusions: tuple[Fusion, ...],
            in_place: tuple[InPlace, ...], labels: Labels, helpers: str) -> dict[str, str]:
    storage = {row.tensor: row for row in tensors}
    calls = [
        {
            "kernel": call.kernel,
            "function": call.kernel if call.kernel in EDGE_KERNELS.values() else f"edgeml_{call.kernel}",
            "struct": call.struct or _STRUCTS[call.kernel],
            "single_params": _initializer(call.single_params) if call.single_params else None,
            "input_pointers": ", ".join(_pointer(storage[index], const=True) for index in call.inputs),
            "output_pointer": _pointer(storage[call.output], const=False),
            "scratch_pointer": (f", ARENA_OUT({plan.offset_of(_scratch_id(position))})"
                                if scratch_bytes(call) else ""),
            "output_bytes": storage[call.output].size_bytes,
        }
        for position, call in enumerate(lowered.calls)
    ]
    arrays = [_array_values(array) for call in lowered.calls for array in call.arrays]
    edge_kernels = sorted({call.kernel for call in lowered.calls} & set(EDGE_KERNELS.values()))
    engine = _engine_json(graph, lowered, plan, tensors, symbol, model_sha256, fusions, in_place)
    return render_model(INT8_FLAVOUR, graph, lowered, plan, symbol, model_sha256, source_name, labels, helpers,
                        calls, arrays, engine, edge_kernels=edge_kernels,
                        uint8_edges=" and ".join(kind for kind, kernel in EDGE_KERNELS.items()
                                                 if kernel in edge_kernels))


def _releases(lowered: LoweredGraph, plan: MemoryPlan, element_bytes: int = 1) -> list[list[dict[str, int]]]:
    """For each call, the arena tensors whose last use it is (poisoned after it in debug builds): offset and
    size in arena elements of ``element_bytes`` (the float32 build's arena is a float array)."""
    releases: list[list[dict[str, int]]] = [[] for _ in lowered.calls]
    for placement in plan.placements:
        releases[placement.lifetime.last_op].append(
            {"offset": placement.offset // element_bytes, "size": placement.lifetime.size_bytes // element_bytes})
    return releases


def _pointer(row: TensorStorage, const: bool, arena=None) -> str:
    """The C expression of a tensor's storage: the caller's ``input`` or ``output``, else its place in the
    arena, ``arena(offset in bytes)`` (default: the int8 build's ARENA_IN / ARENA_OUT byte offsets)."""
    if row.storage == "input":
        if not const:
            raise AssertionError("the planner never writes into the caller's input")
        return "input"
    if row.storage == "output":
        return "output"
    if arena is not None:
        return arena(row.offset)
    return f"ARENA_IN({row.offset})" if const else f"ARENA_OUT({row.offset})"


def _initializer(params: tuple[tuple[str, object], ...], indent: str = "") -> str:
    """A designated initializer, one field per line, nested structs indented.

    >>> print(_initializer((("a", 1), ("inner", (("b", None),)))))
    {
        .a = 1,
        .inner = {
            .b = NULL,
        },
    }
    """
    fields = []
    for name, value in params:
        if isinstance(value, tuple):
            text = _initializer(value, indent + "    ")
        elif value is None:
            text = "NULL"
        else:
            text = str(value)
        fields.append(f".{name} = {text}")
    return "{\n" + "".join(f"{indent}    {field},\n" for field in fields) + indent + "}"


def _array_values(array: ConstArray) -> dict[str, object]:
    return {
        "name": array.name, "ctype": array.ctype, "count": len(array.values), "single": array.single,
        "body": _body(array.values), "single_body": _body(array.single) if array.single is not None else "",
    }


def _body(values: tuple[int, ...], per_line: int = 16) -> str:
    lines = [", ".join(str(v) for v in values[start:start + per_line]) for start in range(0, len(values), per_line)]
    return ",\n".join(f"    {line}" for line in lines)


def _io_values(tensor: Tensor) -> dict[str, object]:
    """The model header's values of its input or output: size and shape, and the quantization of an integer one."""
    values = {"size": tensor.element_count, "shape": ", ".join(str(d) for d in tensor.shape)}
    if tensor.dtype == "float32":
        return values
    return values | {"ctype": f"{tensor.dtype}_t", "scale": cgen.c_float_literal(tensor.scale),
                     "zero_point": cgen.c_int_literal(tensor.zero_point)}


def _engine_json(graph: Graph, lowered: LoweredGraph, plan: MemoryPlan, tensors: tuple[TensorStorage, ...],
                 symbol: str, model_sha256: str, fusions: tuple[Fusion, ...], in_place: tuple[InPlace, ...]) -> dict:
    kernels = {call.op_index: call.kernel for call in lowered.calls}
    kernels.update({fusion.conv_op: "conv_pool" for fusion in fusions})
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
        "fused": [{"conv_op": f.conv_op, "pool_op": f.pool_op, "unstored_tensor": f.unstored_tensor}
                  for f in fusions],
        "in_place": [{"op": item.op, "output": item.output, "over_input": item.input} for item in in_place],
        "scratch": [{"op": lowered.calls[_position_of_scratch(p.lifetime.tensor)].op_index, "offset": p.offset,
                     "bytes": p.lifetime.size_bytes}
                    for p in sorted(plan.placements, key=lambda p: -p.lifetime.tensor) if p.lifetime.tensor < 0],
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
