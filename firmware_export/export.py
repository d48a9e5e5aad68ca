"""``edgeml export``: a quantized model as C/C++ files that drop into a TensorFlow Lite Micro firmware.

Reads the model without TensorFlow (``edgeml.tflite_model``), measures the tensor arena with the
tflite-micro interpreter, compares TFLM's outputs with LiteRT's, then writes every file at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeml.artifact_json import JsonObject
from edgeml.artifacts import check_output_dir, file_set
from edgeml.data import Normalization, balanced_indices, load_dataset
from edgeml.errors import EdgeMLError
from edgeml.interpreter import TensorQuantization, decide_class
from edgeml.measurement import ModelParity
from edgeml.rundir import EXPORT_RECORD, INT8_TFLITE_FILE, RunRecord
from edgeml.tflite_model import TensorInfo, TFLiteModelInfo, validate
from firmware_export import cgen
from firmware_export.arena import DEFAULT_MARGIN_PERCENT, ArenaMeasurement, measure_arena
from firmware_export.export_record import (FLOAT_FLASH_HOW, CEngineExportRecord, CFloatExportRecord,
                                           FloatRamComparison, TflmExportRecord)
from firmware_export.model_flash import FlashMeasurement, arm_flash_bytes
from firmware_export.ops import resolver_methods
from firmware_export.parity import ParityReport, compare_with_litert
from firmware_export.tflm import run_tflm
from firmware_export.render import C_TYPES, ExampleInput, FirmwarePlan, Lang, file_names, render_files
from firmware_export.source import class_labels, read_model, recorded_normalization, resolve_source

if TYPE_CHECKING:
    from firmware_export.cengine.build import StaticMemory
    from firmware_export.cengine import CEngineResult
    from firmware_export.cengine.exactness import FourWayParity
    from firmware_export.cengine.float_exactness import FloatAgreement
    from firmware_export.cengine.measure import Measurement

DEFAULT_CHECK_SAMPLES = 200
RANDOM_INPUT_SEED = 0


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """How to export, whatever the model: the ``edgeml export`` flags' defaults and the pipeline's
    ``[export]`` table. ``lang`` is the :class:`Lang` member when given its value (TOML and the CLI give
    strings); any other value is kept as given, for :class:`ExportConfig` to refuse when the stage runs."""

    name: str = "model"
    lang: Lang = Lang.CC
    section: str | None = None
    progmem: bool = False
    allow_float: bool = False
    arena_margin_percent: float = DEFAULT_MARGIN_PERCENT
    check_samples: int = DEFAULT_CHECK_SAMPLES

    def __post_init__(self) -> None:
        if self.lang in tuple(Lang):  # a str enum's member equals its value
            object.__setattr__(self, "lang", Lang(self.lang))


@dataclass(frozen=True)
class ExportConfig(ExportOptions):
    """What ``edgeml export`` was asked to do. ``source`` is a run directory or a ``.tflite`` file; how:
    :class:`ExportOptions` (keyword arguments)."""

    source: str
    out: str
    force: bool = False

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "lang", Lang(self.lang))
        except ValueError:
            raise EdgeMLError(f"--lang {self.lang!r}: choose cc, cpp or c") from None
        if self.section is not None:
            cgen.section_attribute(self.section)  # validates the name
        if self.section and self.progmem:
            raise EdgeMLError("--section and --progmem both choose where the array goes; use one")
        if self.arena_margin_percent < 0:
            raise EdgeMLError(f"--arena-margin must be zero or positive, got {self.arena_margin_percent}")
        if self.check_samples < 0:
            raise EdgeMLError(f"--check-samples must be zero (skip) or positive, got {self.check_samples}")


@dataclass(frozen=True)
class ExportResult:
    """The TFLite Micro export: the files written (``export.json``, the :attr:`record`, last), the measured
    arena, TFLM vs LiteRT parity (None: ``--check-samples 0``) and the model object's flash on a Cortex-M4."""

    out_dir: Path
    files: tuple[Path, ...]
    symbol: str
    model_path: Path
    model_bytes: int
    model_sha256: str
    ops: tuple[str, ...]
    arena: ArenaMeasurement
    parity: ParityReport | None
    flash: FlashMeasurement
    warnings: tuple[str, ...] = field(default=())

    @property
    def record(self) -> TflmExportRecord:
        """What ``export.json`` holds."""
        return TflmExportRecord(
            model=self.model_path.name, symbol=self.symbol,
            files=tuple(path.name for path in self.files if path.name != EXPORT_RECORD), model_bytes=self.model_bytes,
            model_sha256=self.model_sha256, ops=self.ops, arena_bytes=self.arena.arena_bytes,
            arena_minimum_bytes=self.arena.minimum_bytes, arena_margin_bytes=self.arena.margin_bytes,
            arena=self.arena.describe(), parity=self.parity.describe() if self.parity else None, flash=self.flash,
            warnings=self.warnings)

    def summary(self) -> str:
        """What the CLI prints (warnings are separate: ``warnings``)."""
        lines = [
            f"wrote {', '.join(path.name for path in self.files)} to {self.out_dir}",
            f"model {self.model_path} ({self.model_bytes:,} bytes, sha256 {self.model_sha256[:16]}...) "
            f"as `{self.symbol}`",
            f"{len(self.ops)} ops: {', '.join(self.ops)} -> MicroMutableOpResolver<{len(self.ops)}>",
            self.arena.describe(),
            f"flash of the model object {self.flash.flash_bytes:,} bytes (text + data, Cortex-M4 -Os, arm-none-eabi-size)"
            if self.flash.flash_bytes is not None else f"flash of the model object not measured: {self.flash.not_measured}",
        ]
        if self.parity:
            lines.append(self.parity.describe())
        return "\n".join(lines)


class Engine(str, Enum):
    """What runs the exported model: TFLite Micro's interpreter or edgeml's compiled C engine (issue 12)."""

    TFLM = "tflm"
    C = "c"


@dataclass(frozen=True)
class CExportResult:
    """``edgeml export --engine c``: the generated files and, unless ``--check-samples 0``, the four-way
    parity (C engine, TFLM, LiteRT BUILTIN_REF, LiteRT default) on the run's test samples or random inputs."""

    engine: "CEngineResult"  # its files end with export.json, the record
    memory: "StaticMemory"
    parity: "FourWayParity | None"
    record: CEngineExportRecord
    warnings: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return self.engine.files

    def summary(self) -> str:
        memory = self.memory
        flash = (f"flash {memory.flash_bytes:,} bytes (text + data, Cortex-M4 -Os, arm-none-eabi-size)"
                 if memory.flash_bytes is not None else f"flash not measured: {memory.flash_not_measured}")
        lines = [self.engine.summary(),
                 f"static RAM {memory.ram_bytes:,} bytes (arena {memory.arena_bytes:,} + input {memory.input_bytes:,} "
                 f"+ output {memory.output_bytes:,}); {flash}"]
        return "\n".join(lines + ([self.parity.describe()] if self.parity else []))


@dataclass(frozen=True)
class CFloatExportResult:
    """``edgeml export MODEL_FLOAT32.tflite --engine c``: the float32 build's files, its RAM next to the int8
    build's, and (unless ``--check-samples 0``) its outputs against LiteRT BUILTIN_REF float."""

    out_dir: Path
    files: tuple[Path, ...]
    symbol: str
    ops: tuple[str, ...]
    arena_bytes: int
    liveness_floor_bytes: int
    input_bytes: int
    output_bytes: int
    ram: FloatRamComparison
    flash: "Measurement"  # bytes of the Cortex-M4 (FPU) build, or why not measured
    parity: "FloatAgreement | None"
    parity_not_run: str | None
    record: CFloatExportRecord
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        parity = self.parity.describe() if self.parity else f"float outputs not compared: {self.parity_not_run}"
        return "\n".join([
            f"wrote {', '.join(path.name for path in self.files)} to {self.out_dir}",
            f"C engine `{self.symbol}_invoke` (float32): {len(self.ops)} ops ({', '.join(sorted(set(self.ops)))})",
            f"arena {self.arena_bytes:,} bytes (liveness floor {self.liveness_floor_bytes:,} bytes, static inside "
            f"{self.symbol}_model.c) + input {self.input_bytes:,} + output {self.output_bytes:,}; "
            f"{self.ram.describe()}",
            f"flash {self.flash.value:,} bytes ({FLOAT_FLASH_HOW})" if self.flash.not_measured is None
            else f"flash not measured: {self.flash.not_measured}",
            parity,
        ])

    def to_json(self) -> dict:
        """What ``export.json`` holds (:attr:`record`)."""
        return self.record.to_json()


def export_for_engine(config: ExportConfig,
                      engine: Engine = Engine.TFLM) -> "ExportResult | CExportResult | CFloatExportResult":
    """``edgeml export --engine``: the TFLite Micro files, or the C engine's (which take source, out, name,
    force and check_samples from ``config``; a float32 model gets the engine's float build)."""
    if Engine(engine) is Engine.C:
        return export_c(config)
    return export_firmware(config)


def export_c(config: ExportConfig) -> "CExportResult | CFloatExportResult":
    """The C engine's files, after comparing the four runtimes on ``config.check_samples`` inputs (the
    comparison runs first: a runtime that cannot run the model stops the export before a file is written; an
    output folder that already holds the files, without ``force``, is refused before the comparison).
    A model whose input is float32 goes to the float build (:func:`export_c_float`)."""
    from firmware_export.cengine import CEngineConfig, export_c_engine
    from firmware_export.cengine.exactness import four_way_parity
    from firmware_export.cengine.float_lower import is_float_graph
    from firmware_export.cengine.generate import ENGINE_JSON, KERNEL_FILES

    from firmware_export.cengine.build import static_memory
    from edgeml.graph import read_graph_bytes

    model_path, record = resolve_source(Path(config.source))
    model = read_model(model_path)
    if is_float_graph(read_graph_bytes(model, str(model_path))):
        return export_c_float(config, model_path, record, model)
    symbol = cgen.c_identifier(config.name)
    # The names the int8 build writes (cengine.generate.render_model: <symbol>_model.h/.c, every kernel file,
    # engine.json), checked before the four-way comparison; the set below checks what it staged again.
    out_dir = check_output_dir(config.out, config.force, (f"{symbol}_model.h", f"{symbol}_model.c", *KERNEL_FILES,
                                                          ENGINE_JSON, EXPORT_RECORD))
    warnings: list[str] = []
    parity = None
    if config.check_samples:
        tensor = validate(model, str(model_path)).inputs[0]
        normalization, _ = recorded_normalization(record)
        raw, _, inputs_label = _check_inputs(tensor, record, normalization, config.check_samples, warnings)
        parity = four_way_parity(model, _to_model_inputs(raw, tensor, normalization), inputs_label)
    with file_set(out_dir) as staging:  # the engine's files and export.json: all or none
        staged = export_c_engine(CEngineConfig(source=config.source, out=str(staging), name=config.name, force=True),
                                 parity.to_json() if parity else None)
        check_output_dir(out_dir, config.force, tuple(path.name for path in staged.files))
        flash = staged.memory.cortex_m4.flash  # measured by the export (firmware_export.cengine.measure)
        memory = static_memory(read_graph_bytes(model, str(model_path)), staged.arena_bytes,
                               flash.value.total_bytes if flash.not_measured is None else None, flash.not_measured)
        warnings += staged.warnings
        record = CEngineExportRecord(
            model=model_path.name, symbol=staged.symbol, files=tuple(path.name for path in staged.files),
            ops=staged.ops, liveness_floor_bytes=staged.liveness_floor_bytes, memory=memory,
            parity=ModelParity.from_json(JsonObject({"model": model_path.name, **parity.to_json()},
                                                    Path(f"the parity of {model_path.name}"))) if parity else None,
            warnings=tuple(warnings))
        _write(staging / EXPORT_RECORD, _record_text(record))
    files = tuple(out_dir / path.name for path in staged.files) + (out_dir / EXPORT_RECORD,)
    return CExportResult(replace(staged, out_dir=out_dir, files=files), memory, parity, record, tuple(warnings))


def export_c_float(config: ExportConfig, model_path: Path, record: RunRecord | None,
                   model: bytes) -> CFloatExportResult:
    """The float32 build of ``model``: compiled and planned in memory, compared with LiteRT BUILTIN_REF float
    on ``config.check_samples`` inputs (built on this machine; without a C compiler the comparison says it
    was not run), its RAM compared with the int8 build of ``model_int8.tflite`` beside it, its flash measured
    for a Cortex-M4 with FPU (:mod:`firmware_export.cengine.float_measure`), then written."""
    import tempfile

    from firmware_export.cengine.float_exactness import build_float_engine, compare_float, tracing_factory
    from firmware_export.cengine.float_generate import ENGINE_JSON, compile_float_model
    from firmware_export.cengine.float_measure import float_flash
    from firmware_export.cengine.build import INSTALL_COMPILER, StaticMemory, find_compiler
    from firmware_export.cengine.generate import Labels, write_files
    from edgeml.tflite_model import read_tflite_bytes

    symbol = cgen.c_identifier(config.name)
    warnings = [f"--name {config.name!r} is not a usable C identifier; the symbol is {symbol!r}"] \
        if symbol != config.name else []
    labels = Labels(*class_labels(read_tflite_bytes(model).outputs[0], record)) if record is not None else Labels()
    compiled = compile_float_model(model, symbol, str(model_path), labels, record.normalization if record else None)
    out_dir = check_output_dir(config.out, config.force, (*compiled.files, EXPORT_RECORD))
    parity, parity_not_run = None, "--check-samples is 0"
    compiler = find_compiler()
    with tempfile.TemporaryDirectory(prefix="edgeml-float-") as scratch:
        folder = write_files(Path(scratch) / "engine", compiled.files)[0].parent
        flash = float_flash(folder, symbol)
        if config.check_samples and compiler is None:
            parity_not_run = INSTALL_COMPILER
        elif config.check_samples:
            tensor = validate(model, str(model_path)).inputs[0]
            normalization, _ = recorded_normalization(record)
            raw, _, inputs_label = _check_inputs(tensor, record, normalization, config.check_samples, warnings)
            inputs = _to_model_inputs(raw, tensor, normalization).reshape(len(raw), -1)
            try:
                engine = build_float_engine(folder, symbol, compiled.graph, compiler=compiler)
            except EdgeMLError as exc:
                parity_not_run = f"the float build could not be built on this machine: {exc}"
            else:
                parity = compare_float(model, compiled.graph, engine, inputs,
                                       tracing_factory(folder, symbol, compiled.graph, compiler), inputs_label)
    ram = _float_ram_comparison(compiled.static_ram_bytes, model_path)
    engine_json = json.loads(compiled.files[ENGINE_JSON])
    engine_json["ram_vs_int8"] = ram.to_json()
    engine_json["parity"] = parity.to_json() if parity else {"not_run": parity_not_run}
    engine_json["flash_bytes"], engine_json["flash"] = flash.as_json(), FLOAT_FLASH_HOW
    contents = {**compiled.files, ENGINE_JSON: json.dumps(engine_json, indent=2) + "\n"}
    ops = tuple(op.name for op in compiled.graph.ops)
    memory = StaticMemory(compiled.plan.arena_bytes, compiled.input_bytes, compiled.output_bytes,
                          flash.value if flash.not_measured is None else None, flash.not_measured)
    record = CFloatExportRecord(
        model=model_path.name, symbol=symbol, files=tuple(contents), ops=ops,
        liveness_floor_bytes=compiled.plan.liveness_floor_bytes, memory=memory, ram=ram, parity=parity, parity_not_run=None if parity else parity_not_run, warnings=tuple(warnings))
    files = write_files(out_dir, {**contents, EXPORT_RECORD: _record_text(record)})
    return CFloatExportResult(
        out_dir=out_dir, files=files, symbol=symbol, ops=ops,
        arena_bytes=compiled.plan.arena_bytes, liveness_floor_bytes=compiled.plan.liveness_floor_bytes,
        input_bytes=compiled.input_bytes, output_bytes=compiled.output_bytes, ram=ram, flash=flash, parity=parity,
        parity_not_run=None if parity else parity_not_run, record=record, warnings=tuple(warnings))


def _float_ram_comparison(float_ram_bytes: int, model_path: Path) -> FloatRamComparison:
    """The int8 build's static RAM from the run's ``model_int8.tflite`` beside the float model."""
    from firmware_export.cengine.generate import compile_model

    int8_path = model_path.parent / INT8_TFLITE_FILE
    if not int8_path.is_file():
        return FloatRamComparison(float_ram_bytes, not_compared=f"no {INT8_TFLITE_FILE} beside {model_path.name}")
    try:
        int8 = compile_model(read_model(int8_path), "int8", str(int8_path))
    except EdgeMLError as exc:
        return FloatRamComparison(float_ram_bytes,
                                  not_compared=f"the int8 build cannot compile {int8_path.name}: {exc}")
    graph = int8.graph
    int8_ram = int8.plan.arena_bytes + sum(graph.tensor(i).byte_size for i in (graph.inputs[0], graph.outputs[0]))
    return FloatRamComparison(float_ram_bytes, int8_ram, f"{int8_path.parent.name}/{INT8_TFLITE_FILE}")


def export_firmware(config: ExportConfig) -> ExportResult:
    """Write model_data.h/.cc, model_config.h, model_ops.h, main.cc, arduino_sketch.ino and README.md."""
    model_path, record = resolve_source(Path(config.source))
    model = read_model(model_path)
    info = validate(model, str(model_path))
    warnings: list[str] = []
    _check_model(info, config.allow_float, warnings)
    ops = resolver_methods(info)
    symbol = cgen.c_identifier(config.name)
    if symbol != config.name:
        warnings.append(f"--name {config.name!r} is not a usable C identifier; the symbol is {symbol!r}")
    if config.progmem:
        warnings.append("--progmem: on AVR the array then lives in flash, which TFLite Micro cannot read "
                        "through ordinary pointers; use it on cores where PROGMEM is memory-mapped")
    labels, labels_source = class_labels(info.outputs[0], record)
    normalization, normalization_source = recorded_normalization(record)
    produces = file_names(config.lang)
    out_dir = check_output_dir(config.out, config.force, (*produces, EXPORT_RECORD))

    arena = measure_arena(model, info.inputs, config.arena_margin_percent)
    if not arena.verified:
        raise EdgeMLError(f"the measured arena of {arena.arena_bytes} bytes did not run the model again; "
                          "this is a tflite-micro problem worth reporting")
    parity, example = None, None
    if config.check_samples:
        raw, true_labels, inputs_label = _check_inputs(info.inputs[0], record, normalization,
                                                       config.check_samples, warnings)
        model_inputs = _to_model_inputs(raw, info.inputs[0], normalization)
        tflm_outputs = run_tflm(model, info.inputs, model_inputs, arena.arena_bytes)
        if importlib.util.find_spec("ai_edge_litert") is not None:
            parity = compare_with_litert(model, info, model_inputs, arena.arena_bytes, inputs_label, tflm_outputs)
        else:
            warnings.append("ai-edge-litert is not installed, so TFLite Micro was not compared with LiteRT "
                            "(pip install 'edgeml[pi]')")
        if true_labels is not None:
            example = _example(raw[0], labels[true_labels[0]], tflm_outputs[0], labels, info.outputs[0])

    plan = FirmwarePlan(
        symbol=symbol, model_file=model_path.name, model=model, model_sha256=hashlib.sha256(model).hexdigest(),
        input=info.inputs[0], output=info.outputs[0], ops=ops, arena=arena, labels=labels,
        labels_source=labels_source, normalization=normalization, normalization_source=normalization_source,
        lang=config.lang, section=config.section, progmem=config.progmem, example=example, parity=parity,
    )
    contents = render_files(plan)
    with file_set(out_dir) as staging:  # all files or none: a re-run after a failure needs no --force
        for name in produces:
            _write(staging / name, contents[name])
        result = ExportResult(
            out_dir=out_dir, files=tuple(out_dir / name for name in (*produces, EXPORT_RECORD)), symbol=symbol,
            model_path=model_path, model_bytes=len(model), model_sha256=plan.model_sha256,
            ops=tuple(op for op, _ in ops), arena=arena, parity=parity,
            flash=arm_flash_bytes(tuple(staging / name for name in produces)), warnings=tuple(warnings),
        )
        _write(staging / EXPORT_RECORD, _record_text(result.record))
    return result


def _check_model(info: TFLiteModelInfo, allow_float: bool, warnings: list[str]) -> None:
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise EdgeMLError(
            f"{info.path} has {len(info.inputs)} inputs and {len(info.outputs)} outputs; "
            "export handles models with one input and one output"
        )
    for kind, tensor in (("input", info.inputs[0]), ("output", info.outputs[0])):
        if tensor.dtype not in C_TYPES:
            raise EdgeMLError(f"the model's {kind} is {tensor.dtype}; export handles {', '.join(C_TYPES)}")
        if tensor.per_channel:
            raise EdgeMLError(f"the model's {kind} is quantized per channel; export needs one scale per tensor")
    if info.tflm_problems:
        raise EdgeMLError(f"TFLite Micro cannot run {info.path}: {'; '.join(info.tflm_problems)}")
    if info.integer_only:  # int8 throughout, or uint8 I/O around int8 ops (`--io uint8`)
        return
    reason = "; ".join(info.not_int8_reasons())
    if not allow_float:
        raise EdgeMLError(
            f"{info.path} is not fully int8 ({reason}); export the int8 model from `edgeml quantize`, "
            "or pass --allow-float to export it anyway"
        )
    cost = ("float kernels are slower and bigger on a microcontroller; "
            if info.float_ops or info.float_conversion_ops else "")
    warnings.append(
        f"exporting a model that is not fully int8 ({reason}) because of --allow-float: {cost}"
        f"the helpers in model_config.h take and give its {info.inputs[0].dtype}/{info.outputs[0].dtype} I/O"
    )


# ------------------------------------------------------------------------------------- parity inputs


def _check_inputs(tensor: TensorInfo, record: RunRecord | None, normalization: Normalization, count: int,
                  warnings: list[str]) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Raw (un-normalised) inputs for the parity check: the run's test set, else seeded random values."""
    sample_shape = tuple(tensor.shape[1:])
    if record is not None:
        try:
            dataset = load_dataset(record.dataset, data_path=record.data_path, seed=record.seed)
        except EdgeMLError as exc:
            warnings.append(f"the run's dataset could not be loaded ({exc}); TFLM was checked on random inputs")
        else:
            rng = np.random.default_rng(record.seed)
            chosen = np.sort(balanced_indices(dataset.y_test, min(count, len(dataset.y_test)), rng))
            raw = dataset.x_test[chosen]
            if int(np.prod(raw.shape[1:])) != int(np.prod(sample_shape)):
                raise EdgeMLError(
                    f"the run's {record.dataset} samples have shape {raw.shape[1:]} but the model takes "
                    f"{sample_shape}: the run directory belongs to another model"
                )
            return (raw.reshape((len(raw), *sample_shape)).astype(np.float32), dataset.y_test[chosen],
                    f"{len(raw)} samples of the {record.dataset} test set")
    rng = np.random.default_rng(RANDOM_INPUT_SEED)
    if tensor.dtype == "float32":
        normalised = rng.normal(size=(count, *sample_shape)).astype(np.float32)
    else:
        quantization = _quantization(tensor)
        info = np.iinfo(tensor.dtype)
        levels = rng.integers(info.min, info.max + 1, size=(count, *sample_shape))
        normalised = quantization.dequantize(levels.astype(tensor.dtype))
    # Back to raw values, so that every path goes through the same normalise-then-quantize step.
    raw = normalised * np.float32(normalization.std) + np.float32(normalization.mean)
    return raw.astype(np.float32), None, f"random inputs, seed {RANDOM_INPUT_SEED}"


def _to_model_inputs(raw: np.ndarray, tensor: TensorInfo, normalization: Normalization) -> np.ndarray:
    return _quantization(tensor).quantize(normalization.apply(raw))


def _quantization(tensor: TensorInfo) -> TensorQuantization:
    dtype = np.dtype(tensor.dtype).type
    if tensor.dtype == "float32" or tensor.scale is None:
        return TensorQuantization(dtype, 0.0, 0)
    return TensorQuantization(dtype, tensor.scale, tensor.zero_point or 0)


def _example(raw: np.ndarray, label: str, tflm_output: np.ndarray, labels: tuple[str, ...],
             output: TensorInfo) -> ExampleInput:
    """The first test sample for main.cc and the sketch, with what TFLM predicted for it on this host (the
    class :func:`edgeml.interpreter.decide_class` decides from its raw output)."""
    predicted = labels[int(decide_class(np.asarray(tflm_output)[np.newaxis], _quantization(output))[0])]
    return ExampleInput(raw_values=tuple(float(v) for v in raw.reshape(-1)), label=label, predicted=predicted)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _record_text(record: "TflmExportRecord | CEngineExportRecord | CFloatExportRecord") -> str:
    return json.dumps(record.to_json(), indent=2) + "\n"
