"""The whole job in one command: train → evaluate → quantize → evaluate int8 → export → benchmark → report.

Each stage records in ``pipeline.json`` a fingerprint of what it depended on (its own options and the
files it read) and of what it wrote. A stage whose fingerprint still matches and whose outputs are
unchanged is skipped, so a re-run after a finished run does nothing and a re-run after a failure
resumes at the failed stage. A stage that fails leaves the earlier stages' outputs as they were.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, get_type_hints

from edgeml import rundir as layout
from edgeml.artifacts import read_json, write_json
from edgeml.benchmark import BenchmarkOptions
from edgeml.errors import EdgeMLError
from edgeml.evaluate import EvaluateConfig, EvaluateOptions
from edgeml.models import ModelSpec
from edgeml.quantize import QuantizeConfig, QuantizeOptions
from edgeml.rundir import PIPELINE_FILE, RunLayout, StageOutcome
from edgeml.train import TrainConfig
from firmware_export.export import ExportConfig, ExportOptions as FirmwareExportOptions

STAGES = ("train", "evaluate", "quantize", "evaluate_int8", "export", "benchmark", "report")


EXPORT_ENGINES = ("tflm", "c", "both")


# Each stage table is the stage's own options dataclass (QuantizeOptions, EvaluateOptions,
# firmware_export's ExportOptions, BenchmarkOptions: the stage's config is a subclass of it adding what
# differs per run: target, out, force, verbose); the stage checks the values when it runs. Only [export]
# adds a choice of the pipeline's own (which engines).


@dataclass(frozen=True, kw_only=True)
class ExportOptions(FirmwareExportOptions):
    """[export]: :class:`firmware_export.export.ExportOptions`, and ``engine``: ``tflm`` (TFLite Micro's
    files in firmware/), ``c`` (edgeml's C engine in firmware/c_engine/) or ``both``; unset: both when a
    C compiler is found, else tflm with a printed note."""

    engine: str | None = None

    def __post_init__(self) -> None:
        if self.engine is not None and self.engine not in EXPORT_ENGINES:
            raise EdgeMLError(f"[export] engine = {self.engine!r}: choose {', '.join(map(repr, EXPORT_ENGINES))}")
        super().__post_init__()

    def engines(self) -> tuple[str, ...]:
        """The engines to export for, in order; the unset default prints why the C engine is left out."""
        from edgeml.c_runtime import find_compiler

        engine = self.engine
        if engine is None:
            engine = "both" if find_compiler() else "tflm"
            if engine == "tflm":
                print("note: no C compiler found ($CC, gcc, clang or cc): exporting for TFLite Micro only; "
                      "install gcc to get edgeml's C engine too ([export] engine = \"both\")")
        return ("tflm", "c") if engine == "both" else (engine,)


@dataclass(frozen=True)
class PipelineConfig:
    """Every stage's options; ``edgeml.toml`` has one table per stage (``[train]``, ``[train.model]``, ...)."""

    out: str = "runs/pipeline"
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateOptions = field(default_factory=EvaluateOptions)
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)
    export: ExportOptions = field(default_factory=ExportOptions)
    benchmark: BenchmarkOptions = field(default_factory=BenchmarkOptions)

    def to_dict(self) -> dict[str, Any]:
        train = self.train.to_dict()
        train.pop("out", None)
        return {
            "out": self.out,
            "train": train,
            "evaluate": asdict(self.evaluate),
            "quantize": asdict(self.quantize),
            "export": asdict(self.export),
            "benchmark": {**asdict(self.benchmark), "runtimes": list(self.benchmark.runtimes),
                          "imports": list(self.benchmark.imports), "device": list(self.benchmark.device)},
        }

    def to_toml(self) -> str:
        """The effective configuration, in the same TOML form it is read from."""
        data = self.to_dict()
        model = data["train"].pop("model")
        lines = [f"out = {_toml_value(data['out'])}", ""]
        for table, values in (("train", data["train"]), ("train.model", model), ("evaluate", data["evaluate"]),
                              ("quantize", data["quantize"]),
                              ("export", data["export"]), ("benchmark", data["benchmark"])):
            lines.append(f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


# ------------------------------------------------------------------------------------------- configuration


# Top-level keys that stand for a stage option, as on the command line (`edgeml pipeline --dataset/--epochs`,
# `edgeml train --model/--data`): `dataset = "digits"` is `[train] dataset = "digits"`.
SHORTCUTS = {"dataset": "train.dataset", "data": "train.data_path", "epochs": "train.epochs",
             "model": "train.model.arch (or train.model_path for a .keras/.h5 file)"}
STAGE_TABLES = ("train", "evaluate", "quantize", "export", "benchmark")


def load_config(path: str | Path | None = None, overrides: tuple[str, ...] = ()) -> PipelineConfig:
    """Defaults, then the TOML file, then ``section.key=value`` overrides (values in TOML syntax).

    The file may use the top-level :data:`SHORTCUTS`; setting one both as a shortcut and in its table is an
    error. A ``--set`` shortcut (``--set dataset=digits``) overrides the file like its full key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(Path(path))
        for key in [key for key in data if key in SHORTCUTS]:
            value = data.pop(key)
            tables, name = _shortcut_target(key, value)
            target = _nested_table(data, tables, f"{path}: {key}")
            if name in target:
                raise EdgeMLError(f"{path} sets {key} twice: at the top level (short for "
                                  f"[{'.'.join(tables)}] {name}) and in [{'.'.join(tables)}]; keep one")
            target[name] = value
    for override in overrides:
        _apply_override(data, override)
    return _build_config(data)


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise EdgeMLError("reading TOML on Python 3.10 needs tomli: pip install tomli") from None
    return tomllib


def _read_toml(path: Path) -> dict[str, Any]:
    tomllib = _tomllib()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeMLError(f"pipeline config not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeMLError(f"cannot read pipeline config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgeMLError(f"{path} is not valid TOML: {exc}") from None


def override(key: str, value: Any) -> str:
    """A ``--set`` string for ``key`` = ``value`` (quoted as TOML)."""
    return f"{key}={_toml_value(value)}"


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, separator, raw_value = override.partition("=")
    if not separator or not key.strip():
        raise EdgeMLError(f"--set takes section.key=value (e.g. train.epochs=5), got {override!r}")
    tomllib = _tomllib()
    try:
        value = tomllib.loads(f"value = {raw_value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw_value.strip()  # a bare word such as fashion_mnist is meant as a string
    *tables, name = key.strip().split(".")
    if not tables and name in SHORTCUTS:
        tables, name = _shortcut_target(name, value)
    _nested_table(data, tables, f"--set {key}")[name] = value


def _nested_table(data: dict[str, Any], tables: list[str], where: str) -> dict[str, Any]:
    """The table at the path ``tables`` in ``data``, created where missing; EdgeMLError if a step is a value."""
    target = data
    for table in tables:
        target = target.setdefault(table, {})
        if not isinstance(target, dict):
            raise EdgeMLError(f"{where}: {table} is not a table")
    return target


def _shortcut_target(key: str, value: Any) -> tuple[list[str], str]:
    """The table path and option name a top-level shortcut stands for."""
    if key == "model":
        is_file = isinstance(value, str) and value.endswith((".keras", ".h5"))
        return (["train"], "model_path") if is_file else (["train", "model"], "arch")
    table, name = SHORTCUTS[key].split(".")
    return [table], name


def _misplaced_keys_error(keys: list[str]) -> EdgeMLError:
    """Name the table(s) each top-level key belongs in, or say that no stage has it."""
    option_tables = {
        "train": {f.name for f in fields(TrainConfig)} - {"out", "force", "verbose", "model"},
        "train.model": {f.name for f in fields(ModelSpec)},
        "evaluate": {f.name for f in fields(EvaluateOptions)},
        "quantize": {f.name for f in fields(QuantizeOptions)},
        "export": {f.name for f in fields(ExportOptions)},
        "benchmark": {f.name for f in fields(BenchmarkOptions)},
    }
    placed = []
    for key in keys:
        homes = [f"[{table}]" for table, names in option_tables.items() if key in names]
        placed.append(f"{key} belongs in {' or '.join(homes)}" if homes else f"{key} is no option of any stage")
    return EdgeMLError(
        f"unknown top-level key(s) in the pipeline config: {'; '.join(placed)} (top level takes out, "
        f"{', '.join(SHORTCUTS)} and the tables {', '.join(f'[{table}]' for table in STAGE_TABLES)})"
    )


def _options(cls, values: Any, table: str):
    if not isinstance(values, dict):
        raise EdgeMLError(f"[{table}] must be a table")
    known = {f.name for f in fields(cls)} - {"out", "force", "verbose"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EdgeMLError(f"unknown option(s) in [{table}]: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    converted = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
    try:
        return cls(**converted)
    except TypeError as exc:
        raise EdgeMLError(f"[{table}]: {exc}") from None


def _build_config(data: dict[str, Any]) -> PipelineConfig:
    unknown = sorted(set(data) - {"out", *STAGE_TABLES})
    if unknown:
        raise _misplaced_keys_error(unknown)
    train_values = dict(data.get("train", {}))
    model_values = train_values.pop("model", {})
    arch = model_values.get("arch", "mlp") if isinstance(model_values, dict) else "mlp"
    defaults = ModelSpec.default_for(arch).to_dict()
    spec = _options(ModelSpec, {**defaults, **model_values}, "train.model")
    train = replace(_options(TrainConfig, train_values, "train"), model=spec)
    return PipelineConfig(
        out=str(data.get("out", PipelineConfig.out)),
        train=train,
        evaluate=_options(EvaluateOptions, data.get("evaluate", {}), "evaluate"),
        quantize=_options(QuantizeOptions, data.get("quantize", {}), "quantize"),
        export=_options(ExportOptions, data.get("export", {}), "export"),
        benchmark=_options(BenchmarkOptions, data.get("benchmark", {}), "benchmark"),
    )


# ------------------------------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class PipelineResult:
    run_dir: Path
    stages: tuple[StageOutcome, ...]
    report_html: Path
    report_markdown: Path


@dataclass(frozen=True)
class Stage:
    name: str
    reads: tuple[str, ...]  # files (relative to the run dir) whose content the stage depends on
    writes: tuple[str, ...]  # files it produces
    options: dict[str, Any]
    run: Callable[[], None]


def run_pipeline(config: PipelineConfig, force: bool = False, verbose: bool = False) -> PipelineResult:
    run_dir = Path(config.out)
    state_path = run_dir / PIPELINE_FILE
    stages = _stages(config, run_dir, verbose)
    if state_path.is_file() and not force:
        state = read_json(state_path, "pipeline state")
        if not isinstance(state, dict) or not isinstance(state.get("stages"), dict):
            raise EdgeMLError(f"{state_path} is not an edgeml pipeline state; remove it or use --force")
    else:
        state = {"stages": {}}
        # Not a pipeline's folder yet: outputs of a hand-run `edgeml train` are not overwritten silently.
        existing = [name for stage in stages for name in stage.writes if (run_dir / name).exists()]
        if existing and not force:
            raise EdgeMLError(
                f"{run_dir} already holds {', '.join(existing[:4])}{' ...' if len(existing) > 4 else ''} but no "
                f"{PIPELINE_FILE}; use --force to overwrite or choose another --out"
            )
    outcomes: list[StageOutcome] = []
    for stage in stages:
        fingerprint = _fingerprint(stage, run_dir)
        recorded = state["stages"].get(stage.name, {})
        if (not force and recorded.get("fingerprint") == fingerprint
                and recorded.get("outputs") == _hashes(run_dir, stage.writes)):
            outcomes.append(StageOutcome(stage.name, "skipped (current)", 0.0))
            print(f"[{stage.name}] current, skipped")
            continue
        print(f"[{stage.name}] running")
        started = time.perf_counter()
        try:
            stage.run()
        except EdgeMLError as exc:
            outcomes.append(StageOutcome(stage.name, "failed", round(time.perf_counter() - started, 2), str(exc)))
            state["stages"].pop(stage.name, None)
            _save_state(state_path, state, outcomes)
            raise EdgeMLError(
                f"stage {stage.name} failed: {exc} (the outputs of earlier stages are kept; "
                f"re-run to resume from {stage.name})"
            ) from None
        seconds = round(time.perf_counter() - started, 2)
        state["stages"][stage.name] = {"fingerprint": fingerprint, "outputs": _hashes(run_dir, stage.writes)}
        outcomes.append(StageOutcome(stage.name, "done", seconds))
        _save_state(state_path, state, outcomes)
    _save_state(state_path, state, outcomes)
    files = RunLayout(run_dir)
    return PipelineResult(run_dir, tuple(outcomes), files.html_report, files.markdown_report)


def _save_state(path: Path, state: dict, outcomes: list[StageOutcome]) -> None:
    state["last_run"] = [asdict(outcome) for outcome in outcomes]
    write_json(path, state)


def _fingerprint(stage: Stage, run_dir: Path) -> str:
    digest = hashlib.sha256(json.dumps(stage.options, sort_keys=True, default=str).encode())
    for name, file_hash in sorted(_hashes(run_dir, stage.reads).items()):
        digest.update(f"{name}:{file_hash}".encode())
    return digest.hexdigest()


def _hashes(run_dir: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    hashes = {}
    for name in names:
        path = run_dir / name
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return hashes


def _stages(config: PipelineConfig, run_dir: Path, verbose: bool) -> list[Stage]:
    out = str(run_dir)
    trained = (layout.MODEL_FILE, layout.CONFIG_FILE)
    int8 = (layout.INT8_TFLITE_FILE, layout.CONFIG_FILE)
    metrics = layout.evaluation_files()
    engines = config.export.engines()
    exports = tuple(EXPORT_RECORDS[engine] for engine in engines)
    return [
        Stage("train", (), trained + (layout.HISTORY_FILE, layout.HISTORY_PLOT, layout.SUMMARY_FILE),
              config.to_dict()["train"], lambda: _train(config, out, verbose)),
        Stage("evaluate", trained, metrics, asdict(config.evaluate),
              lambda: _evaluate(config.evaluate, out, verbose)),
        Stage("quantize", trained, (layout.FLOAT_TFLITE_FILE, layout.INT8_TFLITE_FILE, layout.QUANTIZATION_FILE),
              asdict(config.quantize), lambda: _quantize(config.quantize, out, verbose)),
        Stage("evaluate_int8", int8, layout.evaluation_files(layout.INT8_PREFIX), {},
              lambda: _evaluate_int8(run_dir)),
        Stage("export", int8, exports, asdict(config.export), lambda: _export(config.export, run_dir, engines)),
        Stage("benchmark", (layout.MODEL_FILE, layout.FLOAT_TFLITE_FILE, layout.INT8_TFLITE_FILE, layout.CONFIG_FILE),
              (layout.BENCHMARK_FILE, layout.BENCHMARK_MARKDOWN, layout.LATENCY_PLOT),
              asdict(config.benchmark), lambda: _benchmark(config.benchmark, out)),
        Stage("report", (layout.CONFIG_FILE, layout.METRICS_FILE, layout.INT8_PREFIX + layout.METRICS_FILE,
                         layout.QUANTIZATION_FILE, *exports, layout.BENCHMARK_FILE),
              (layout.HTML_REPORT, layout.MARKDOWN_REPORT), {}, lambda: _report(run_dir)),
    ]


def _values(options: Any) -> dict[str, Any]:
    """A stage table's options as keywords of its stage's config (the config is a subclass of the table)."""
    return {option.name: getattr(options, option.name) for option in fields(options)}


def _train(config: PipelineConfig, out: str, verbose: bool) -> None:
    from edgeml.train import train

    train(replace(config.train, out=out, force=True, verbose=verbose))


def _evaluate(options: EvaluateOptions, out: str, verbose: bool) -> None:
    from edgeml.evaluate import evaluate

    evaluate(EvaluateConfig(target=out, force=True, verbose=verbose, **_values(options)))


def _quantize(options: QuantizeOptions, out: str, verbose: bool) -> None:
    from edgeml.quantize import QATUnsupportedError, quantize

    try:
        quantize(QuantizeConfig(target=out, force=True, verbose=verbose, **_values(options)))
    except QATUnsupportedError as exc:  # say it in the pipeline's words, not `edgeml quantize`'s
        raise exc.for_option("--set quantize.method=ptq (or method = \"ptq\" in [quantize])") from None


def _evaluate_int8(run_dir: Path) -> None:
    """Metrics of the int8 file through the lite runtime, on the run's own test set (int8_metrics.json, ...)."""
    from edgeml.evaluate import evaluate

    evaluate(EvaluateConfig(target=str(RunLayout(run_dir).int8_tflite), force=True))


# Each engine's export record in the run directory; the export writes its files into the record's folder.
EXPORT_RECORDS = {"tflm": layout.EXPORT_FILE, "c": layout.C_ENGINE_EXPORT_FILE}


def _export(options: ExportOptions, run_dir: Path, engines: tuple[str, ...]) -> None:
    """The exports, as by hand: ``edgeml export RUN --out RUN/firmware`` (TFLite Micro) and ``edgeml export RUN
    --engine c --out RUN/firmware/c_engine``; each writes its own export.json."""
    from firmware_export.export import Engine, export_for_engine

    values = {name: value for name, value in _values(options).items() if name != "engine"}
    for engine in engines:
        out = (run_dir / EXPORT_RECORDS[engine]).parent
        result = export_for_engine(ExportConfig(source=str(run_dir), out=str(out), force=True, **values), Engine(engine))
        for warning in result.warnings:
            print(f"warning: {warning}")
        print(result.summary())
    for engine, record in EXPORT_RECORDS.items():  # an engine this run no longer exports: the report must not show it
        stale = run_dir / record
        if engine not in engines and stale.is_file():
            stale.unlink()
            print(f"note: removed {record} of an earlier export: [export] engine no longer includes {engine!r} "
                  f"(its other files in {stale.parent} are left as they were)")


def _benchmark(options: BenchmarkOptions, out: str) -> None:
    from edgeml.benchmark import BenchmarkConfig, format_rows, run_benchmark

    report = run_benchmark(BenchmarkConfig(targets=(out,), out=str(RunLayout(out).benchmark_dir), force=True,
                                           **_values(options)))
    print(format_rows(report.rows))


def _report(run_dir: Path) -> None:
    from edgeml.report import write_report

    write_report(run_dir, force=True)  # the pipeline owns its run directory's report
