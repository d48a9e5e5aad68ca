"""Float vs quantized, measured: accuracy, agreement, latency, throughput, size, memory, TFLM arena.

Each (model, runtime) pair is measured by :mod:`edgeml.bench_runner` in a process of its own; device
results (from a bundle run on a Raspberry Pi, or over SSH) have the same shape and merge into the
same report. Only ``.keras`` models need TensorFlow; everything else runs on the lite runtimes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeml.artifacts import atomic_path, check_output_dir, file_set, read_json, write_json, write_text
from edgeml.bench_runner import MeasureConfig, device_info, measure_in_subprocess
from edgeml.errors import EdgeMLError
from edgeml.progress import show_progress
from edgeml.rundir import (
    BENCHMARK_DIR, BENCHMARK_FILE, BENCHMARK_MARKDOWN, CONFIG_FILE, LATENCY_PLOT, MODEL_FILE, RunRecord,
)
from edgeml.runtime import LITE_RUNTIMES, RUNTIMES, available_runtimes, runtime_spec

# The report folder's files (RUN_DIR/benchmark/ in a run, or --out).
JSON_NAME, MARKDOWN_NAME, PLOT_NAME = (Path(name).name for name in (BENCHMARK_FILE, BENCHMARK_MARKDOWN, LATENCY_PLOT))
BENCHMARK_FILES = (JSON_NAME, MARKDOWN_NAME, PLOT_NAME)
MODEL_SUFFIXES = (".tflite", ".keras", ".h5")
# What every measurement row (bench_runner.measure) carries; imported rows are checked against it.
ROW_KEYS = ("model", "runtime", "accuracy", "latency_us", "file_bytes", "peak_rss_bytes", "init_ms", "first_invoke_ms")
PERCENTILES = ("mean", "p50", "p90", "p99")


@dataclass(frozen=True)
class BenchmarkOptions:
    """How to measure; the device options add a Raspberry Pi over SSH. The pipeline's [benchmark] table."""

    runtimes: tuple[str, ...] = ("all",)
    threads: int = MeasureConfig.threads
    runs: int = MeasureConfig.runs
    warmup: int = MeasureConfig.warmup
    batch_size: int = MeasureConfig.batch_size
    test_samples: int | None = 1000
    dataset: str | None = None
    imports: tuple[str, ...] = ()
    device: str | None = None
    device_python: str = "python3"
    identity: str | None = None
    known_hosts: str | None = None
    host_key_checking: str = "accept-new"
    ssh_timeout_s: float = 10.0
    ssh_config: str | None = None

    def __post_init__(self) -> None:
        for runtime in self.runtimes:
            if runtime not in (*RUNTIMES, "all"):
                raise EdgeMLError(f"unknown runtime {runtime!r}: choose from all, {', '.join(RUNTIMES)}")
        if self.runs <= 0 or self.warmup < 0 or self.batch_size <= 0 or self.threads <= 0:
            raise EdgeMLError("--runs, --batch-size and --threads must be positive and --warmup not negative")


@dataclass(frozen=True)
class BenchmarkConfig(BenchmarkOptions):
    """What to measure (``targets``: run directories or model files) and where the report goes."""

    targets: tuple[str, ...] = ()
    out: str | None = None  # None: report_dir() (the run directory's benchmark/, like evaluate)
    force: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.targets and not self.imports:
            raise EdgeMLError("nothing to benchmark: give a run directory or model files, or --import results")
        if self.device and not self.targets:
            raise EdgeMLError("--device needs the run directory or model files to send to the device")
        if is_qemu_device(self.device):
            from firmware_export.mcu.boards import board_for

            board_for(self.device)  # an unknown board fails here, before anything is built
            if self.imports:
                raise EdgeMLError("--import merges Raspberry Pi results; benchmark a qemu: device on its own")
            if not set(self.runtimes) <= {"all", "c"}:
                raise EdgeMLError(f"{self.device} runs edgeml's C engine only: drop --runtime or use --runtime c")


def is_qemu_device(device: object) -> bool:
    """``qemu:<core>``: the emulated Cortex-M target rather than a Raspberry Pi over SSH."""
    from firmware_export.mcu.boards import is_qemu_device as is_qemu

    return is_qemu(device)


def report_dir(config: BenchmarkConfig) -> Path:
    """``config.out``, else ``benchmark/`` inside the run directory of the first target that has one
    (a run directory, or a model file beside its run's config.json), else ``./benchmark``."""
    if config.out:
        return Path(config.out)
    for target in map(Path, config.targets):
        run_dir = target if target.is_dir() else target.parent
        if (run_dir / CONFIG_FILE).is_file():
            return run_dir / BENCHMARK_DIR
    return Path("benchmark")


@dataclass(frozen=True)
class ModelSet:
    """The model files to compare and the run they came from (whose test set they are measured on)."""

    models: tuple[Path, ...]
    record: RunRecord | None


@dataclass(frozen=True)
class BenchmarkReport:
    rows: tuple[dict, ...]
    skipped: tuple[str, ...]
    host: dict[str, str]
    files: dict[str, Path] = field(default_factory=dict)
    parity: tuple[dict, ...] = ()  # FourWayParity.to_json() of each model the C engine ran, with "model"

    def to_dict(self) -> dict:
        rows = [{k: v for k, v in row.items() if k != "predictions"} for row in self.rows]
        return {"host": self.host, "rows": rows, "skipped": list(self.skipped), "latency_ratios": latency_ratios(self.rows),
                "parity": list(self.parity)}


def collect_models(targets: Sequence[str]) -> ModelSet:
    """Model files from run directories (Keras model and every .tflite) and from explicit paths."""
    models: list[Path] = []
    record = None

    def same_run(found: RunRecord) -> RunRecord:
        # One report measures every model on one test set: models of two different runs would be
        # measured on the first run's data and normalisation.
        if record is not None and (found.dataset, found.normalization, found.class_names) != (
            record.dataset, record.normalization, record.class_names
        ):
            raise EdgeMLError(
                f"{found.run_dir} and {record.run_dir} were trained on different data or normalisation; "
                "benchmark them separately"
            )
        return found

    for target in map(Path, targets):
        if target.is_dir():
            if not (target / CONFIG_FILE).is_file():
                raise EdgeMLError(f"{target} is not a run directory (no {CONFIG_FILE})")
            record = same_run(RunRecord.load(target))
            found = sorted(target.glob("model_*.tflite"))
            if not found:
                raise EdgeMLError(f"{target} has no .tflite models yet: run edgeml quantize {target} first")
            keras_model = target / MODEL_FILE
            models += ([keras_model] if keras_model.is_file() else []) + found
        elif target.is_file():
            if target.suffix not in MODEL_SUFFIXES:
                raise EdgeMLError(f"{target} is not a model file ({', '.join(MODEL_SUFFIXES)})")
            models.append(target)
            if (target.parent / CONFIG_FILE).is_file():
                record = same_run(RunRecord.load(target.parent))
        else:
            raise EdgeMLError(f"no such run directory or model file: {target}")
    return ModelSet(tuple(models), record)


def load_test_samples(
    record: RunRecord | None, dataset: str | None, test_samples: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The run's test set (same subset, same normalisation as at training), or ``dataset``'s: inputs, labels."""
    from edgeml.data import load_dataset

    if dataset is None and record is None:
        raise EdgeMLError("model files outside a run directory need --dataset to measure accuracy on")
    name = dataset or record.dataset
    data = load_dataset(
        name,
        data_path=record.data_path if record and dataset is None else None,
        test_samples=test_samples or (record.test_samples if record else None),
        seed=record.seed if record else 0,
    )
    normalization = record.normalization if record else data.normalization
    samples = data.x_test
    if record is not None and dataset is None:  # the run's samples as its model takes them (see models.fit_input)
        samples = samples.reshape((len(samples), *record.input_shape))
    return normalization.apply(samples), data.y_test


def write_samples(record: RunRecord | None, dataset: str | None, test_samples: int | None, path: Path) -> Path:
    """:func:`load_test_samples` as ``x``/``y`` in an .npz, for the runner (here or on a device)."""
    inputs, labels = load_test_samples(record, dataset, test_samples)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, x=inputs, y=labels)
    return path


def plan(models: Sequence[Path], runtimes: Sequence[str]) -> list[tuple[Path, str]]:
    """(model, runtime) pairs: Keras models run in Keras, .tflite files in each requested runtime.

    ``all`` is every runtime installed here; ``auto`` the first installed lite runtime.
    """
    installed = available_runtimes()
    resolved: list[str] = []
    for runtime in runtimes:
        if runtime == "all":
            chosen = installed
        elif runtime == "auto":
            chosen = [r for r in LITE_RUNTIMES if r in installed][:1]
            if not chosen:
                raise EdgeMLError("no lite runtime is installed: pip install ai-edge-litert")
        elif runtime in installed:
            chosen = [runtime]
        else:
            raise EdgeMLError(f"runtime {runtime} is not installed here")
        resolved += [r for r in chosen if r not in resolved]
    pairs = []
    for model in models:
        if model.suffix in (".keras", ".h5"):
            pairs.append((model, "keras"))
        else:
            pairs += [(model, runtime) for runtime in resolved]
    return pairs


def run_benchmark(config: BenchmarkConfig) -> BenchmarkReport:
    out_dir = check_output_dir(report_dir(config), config.force, BENCHMARK_FILES)
    if is_qemu_device(config.device):
        return _qemu_benchmark(config, out_dir)
    rows: list[dict] = []
    skipped: list[str] = []
    parity: list[dict] = []
    if config.device:
        # First, so that an unreachable device fails fast and never leaves a partial report.
        rows += _device_rows(config)
    if config.targets:
        model_set = collect_models(config.targets)
        pairs = plan(model_set.models, config.runtimes)
        with tempfile.TemporaryDirectory(prefix="edgeml-bench-") as scratch:
            samples = write_samples(model_set.record, config.dataset, config.test_samples, Path(scratch) / "samples.npz")
            for index, (model, runtime) in enumerate(pairs):
                show_progress(index, len(pairs), f"{model.name} on {runtime}")
                measures_arena = runtime_spec(runtime).measures_arena
                cannot_run = runtime_spec(runtime).cannot_run
                try:
                    if cannot_run and (why := cannot_run(model.read_bytes())):  # a float32 model in the C engine
                        skipped.append(f"{model.name} on {runtime}: {why}")
                        continue
                    if measures_arena:
                        check_tflm_can_run(model)
                    arena = measure_tflm_arena(model) if measures_arena else None
                    measure_config = MeasureConfig(
                        model=str(model), samples=str(samples), runtime=runtime, threads=config.threads,
                        warmup=config.warmup, runs=config.runs, batch_size=config.batch_size,
                        arena_bytes=arena.arena_bytes if arena else None,
                    )
                    row = measure_in_subprocess(measure_config)
                except EdgeMLError as exc:
                    skipped.append(str(exc))
                    continue
                if arena is not None and arena.not_measured:
                    row["arena_not_measured"] = arena.not_measured
                row["source"] = "host"
                rows.append(row)
            show_progress(len(pairs), len(pairs), "done")
            compiled = [row for row in rows if runtime_spec(row["runtime"]).static_memory]  # the C engine's
            parity = four_way_parities(compiled, model_set.models, samples, skipped)
    for imported in config.imports:
        rows += import_results(imported)
    if not rows:
        raise EdgeMLError("no measurement succeeded: " + "; ".join(skipped))
    rows = add_agreement(rows)
    report = BenchmarkReport(tuple(rows), tuple(skipped), device_info(), parity=tuple(parity))
    with file_set(out_dir) as staging:  # the report's files appear together or not at all
        staged = {
            "json": write_json(staging / JSON_NAME, report.to_dict()),
            "markdown": write_text(staging / MARKDOWN_NAME, format_markdown(report)),
        }
        if importlib.util.find_spec("matplotlib") is not None:
            staged["plot"] = plot_latency(report.rows, staging / PLOT_NAME)
        else:  # the Raspberry Pi install (edgeml[pi]) has no matplotlib
            skipped.append("latency.png: matplotlib is not installed (pip install matplotlib)")
    files = {name: out_dir / path.name for name, path in staged.items()}
    return BenchmarkReport(report.rows, tuple(skipped), report.host, files, report.parity)


def _qemu_benchmark(config: BenchmarkConfig, out_dir: Path) -> BenchmarkReport:
    """Every int8 .tflite of the targets in edgeml's C engine on the emulated board (:mod:`edgeml.qemu_target`).
    A model the C engine cannot compile (float, Keras) is a line of ``skipped``; any other failure (does
    not fit, hang, fault, an output byte unlike the host's or TFLM's) is the error."""
    from edgeml.qemu_target import QemuOptions, format_qemu_markdown, run_on_qemu
    from firmware_export.cengine.generate import compile_model

    from firmware_export.mcu.boards import board_for

    board = board_for(config.device)
    model_set = collect_models(config.targets)
    inputs, labels = load_test_samples(model_set.record, config.dataset, config.test_samples)
    rows, skipped = [], []
    for index, model in enumerate(model_set.models):
        show_progress(index, len(model_set.models), f"{model.name} on {board.device}")
        try:
            if model.suffix != ".tflite":
                raise EdgeMLError("the C engine compiles .tflite models; convert it first")
            compile_model(model.read_bytes(), "model", str(model))
        except EdgeMLError as exc:
            skipped.append(f"{model.name} on {board.device}: {exc}")
            continue
        options = QemuOptions(max_samples=config.test_samples or len(inputs))
        rows.append(run_on_qemu(model, board, inputs, labels, options).to_row())
    show_progress(len(model_set.models), len(model_set.models), "done")
    if not rows:
        raise EdgeMLError("no measurement succeeded: " + "; ".join(skipped))
    report = BenchmarkReport(tuple(rows), tuple(skipped), device_info())
    with file_set(out_dir) as staging:
        staged = {"json": write_json(staging / JSON_NAME, report.to_dict()),
                  "markdown": write_text(staging / MARKDOWN_NAME, format_qemu_markdown(report))}
    files = {name: out_dir / path.name for name, path in staged.items()}
    return BenchmarkReport(report.rows, report.skipped, report.host, files)


def format_rows(rows: Sequence[dict]) -> str:
    """The printed table: :func:`format_table`, or the emulated Cortex-M table for ``qemu:`` rows."""
    if rows and all(is_qemu_device(row.get("device")) for row in rows):
        from edgeml.qemu_target import format_qemu_table

        return format_qemu_table(rows)
    return format_table(rows)


def four_way_parities(c_rows: Sequence[dict], models: Sequence[Path], samples: Path, skipped: list[str]) -> list[dict]:
    """For each model the C engine ran: the C engine, TFLM, LiteRT BUILTIN_REF and LiteRT default on the
    benchmark's samples (:func:`firmware_export.cengine.exactness.four_way_parity`); a runtime that cannot
    run the model makes its reason a line of ``skipped``."""
    from edgeml.runtime import open_model
    from firmware_export.cengine.exactness import four_way_parity

    with np.load(samples, allow_pickle=False) as data:
        inputs = data["x"].astype(np.float32)
    results = []
    runtime_of = {row["model"]: row["runtime"] for row in c_rows}
    for model in (m for m in models if m.name in runtime_of):
        show_progress(0, 1, f"{model.name}: parity of four runtimes")
        try:
            quantized = open_model(model, runtime_of[model.name]).input_quantization.quantize(inputs)
            parity = four_way_parity(model.read_bytes(), quantized, f"{len(inputs)} benchmark samples")
        except EdgeMLError as exc:
            skipped.append(f"parity of {model.name}: {exc}")
            continue
        results.append({"model": model.name, **parity.to_json()})
    return results


def format_parity(parity: dict) -> list[str]:
    """Markdown lines: one table of the runtimes against the tflite-micro interpreter."""
    lines = [f"Parity of {parity['model']} against the {parity['baseline']} ({parity['inputs']}): output vectors "
             "that differ in any byte, largest difference and the first op that diverges.", "",
             "| runtime | differing vectors | max LSB | first divergence |", "|---|---|---|---|"]
    for row in parity["runtimes"]:
        if row.get("not_run"):
            lines.append(f"| {row['runtime']} | not run: {row['not_run']} | | |")
            continue
        lines.append(f"| {row['runtime']} | {row['differing_vectors']}/{parity['samples']} | {row['max_lsb']:g} | "
                     f"{row.get('first_divergence') or ''} |")
    return lines


def _device_rows(config: BenchmarkConfig) -> list[dict]:
    from edgeml.device import RunnerOptions, SshOptions, benchmark_on_device

    ssh = SshOptions(
        identity_file=config.identity, device_python=config.device_python, known_hosts_file=config.known_hosts,
        host_key_checking=config.host_key_checking, connect_timeout_s=config.ssh_timeout_s,
        config_file=config.ssh_config,
    )
    device_runtimes = () if {"auto", "all"} & set(config.runtimes) else tuple(
        r for r in config.runtimes if runtime_spec(r).on_device
    )
    runner = RunnerOptions(config.threads, config.runs, config.warmup, config.batch_size, runtimes=device_runtimes)
    return benchmark_on_device(config.targets, config.device, config.dataset, config.test_samples, ssh, runner)


@dataclass(frozen=True)
class TflmArena:
    """The arena TFLM rows run with: measured as ``edgeml export`` measures it, or why it was not."""

    arena_bytes: int | None
    not_measured: str | None = None


def measure_tflm_arena(model: Path) -> TflmArena:
    """Minimum plus margin, verified by an invoke (firmware_export.arena); a failure is its reason, never a default."""
    from edgeml.tflite_model import read_tflite_bytes

    try:
        from firmware_export.arena import measure_arena
    except ImportError as exc:
        return TflmArena(None, f"the arena measurement is not importable ({exc})")
    try:
        content = model.read_bytes()
        arena = measure_arena(content, read_tflite_bytes(content, str(model)).inputs)
    except (EdgeMLError, OSError) as exc:
        return TflmArena(None, str(exc))
    if not arena.verified:
        return TflmArena(None, f"the measured arena of {arena.arena_bytes:,} bytes did not run the model again")
    return TflmArena(arena.arena_bytes)


def measured_arena(model: Path) -> int | None:
    """:func:`measure_tflm_arena`'s bytes, None when it could not be measured (the bundle's manifest)."""
    return measure_tflm_arena(model).arena_bytes


def check_tflm_can_run(model: Path) -> None:
    """EdgeMLError saying why, when TFLite Micro cannot run the model at all (an op or a type it has no
    kernel for: float16 weights, hybrid kernels): no arena size would help, so none is blamed."""
    from edgeml.tflite_model import read_tflite

    problems = read_tflite(model).tflm_problems
    if problems:
        raise EdgeMLError(f"{model.name} on tflm: TFLite Micro cannot run it: {'; '.join(problems)}")


def arena_cell(row: dict, spec: str) -> str:
    """A row's RAM on a device: TFLM's measured arena (which holds the input and output too) or "not
    measured: <why>"; the C engine's static RAM (arena + input + output); blank for other runtimes."""
    if row.get("arena_bytes") is not None:
        return format(row["arena_bytes"], spec)
    if row.get("static_ram_bytes") is not None:
        return f"{format(row['static_ram_bytes'], spec)} static"
    return f"not measured: {row['arena_not_measured']}" if row.get("arena_not_measured") else ""


def flash_cell(row: dict, spec: str) -> str:
    """The C engine's flash (text + data, Cortex-M4 -Os) or "not measured: <why>"; blank for other runtimes."""
    if row.get("flash_bytes") is not None:
        return format(row["flash_bytes"], spec)
    return f"not measured: {row['flash_not_measured']}" if row.get("flash_not_measured") else ""


def import_results(path: str | Path) -> list[dict]:
    """Rows measured elsewhere (``edgeml bundle`` run on a device), labelled with that device."""
    data = read_json(path, "benchmark results")
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise EdgeMLError(f"{path} is not an edgeml results file (no rows with latency_us)")
    for index, row in enumerate(rows):
        missing = [key for key in ROW_KEYS if key not in row]
        latency = row.get("latency_us")
        if missing or not isinstance(latency, dict) or not all(isinstance(latency.get(p), (int, float)) for p in PERCENTILES):
            raise EdgeMLError(
                f"{path} is not an edgeml results file: row {index} lacks "
                f"{', '.join(missing) or 'latency_us percentiles'}"
            )
        device = row.get("device") if isinstance(row.get("device"), dict) else {}
        row.setdefault("source", device.get("cpu", "device"))
    return rows


def add_agreement(rows: list[dict]) -> list[dict]:
    """Share of samples on which each row predicts the same class as the float reference of its source.

    The reference is the Keras model where measured, else the float32 .tflite in the same runtime.
    """
    by_source: dict[str, list[dict]] = {}
    for row in rows:
        by_source.setdefault(row.get("source", "host"), []).append(row)
    result = []
    for source_rows in by_source.values():
        keras = next((r for r in source_rows if r["runtime"] == "keras"), None)
        for row in source_rows:
            reference = keras or next(
                (r for r in source_rows if r["model"].endswith("float32.tflite") and r["runtime"] == row["runtime"]), None
            )
            agreement = None
            if reference is not None and reference.get("predictions") and row.get("predictions"):
                agreement = float(np.mean(np.asarray(reference["predictions"]) == np.asarray(row["predictions"])))
            result.append({**row, "agreement_with_float": agreement})
    return result


def latency_ratios(rows: Sequence[dict]) -> list[dict]:
    """p50 latency of each int8 model over the float32 model in the same runtime and place."""
    ratios = []
    for row in rows:
        if "int8" not in row["model"]:
            continue
        float_row = next(
            (r for r in rows if r["model"] == row["model"].replace("int8", "float32")
             and r["runtime"] == row["runtime"] and r.get("source") == row.get("source")),
            None,
        )
        if float_row:
            ratios.append({
                "model": row["model"], "runtime": row["runtime"], "source": row.get("source"),
                "int8_over_float32_p50": round(row["latency_us"]["p50"] / float_row["latency_us"]["p50"], 3),
            })
    return ratios


def format_table(rows: Sequence[dict]) -> str:
    header = (f"{'where':<8} {'model':<22} {'runtime':<14} {'acc':>7} {'agree':>7} {'p50 us':>9} {'p90 us':>9} "
              f"{'p99 us':>9} {'batch/s':>10} {'bytes':>9} {'RSS MB':>7} {'RAM B':>8} {'flash B':>8}")
    lines = [header]
    for row in rows:
        agreement = row.get("agreement_with_float")
        lines.append(
            f"{str(row.get('source', 'host'))[:8]:<8} {row['model'][:22]:<22} {row['runtime'][:14]:<14} "
            f"{row['accuracy']:>7.4f} {_fmt(agreement, '.2%'):>7} "
            f"{row['latency_us']['p50']:>9.1f} {row['latency_us']['p90']:>9.1f} {row['latency_us']['p99']:>9.1f} "
            f"{_fmt(row.get('throughput_per_s'), '.0f'):>10} "
            f"{row['file_bytes']:>9} {row['peak_rss_bytes'] / 2**20:>7.1f} "
            f"{arena_cell(row, 'd'):>8} {flash_cell(row, 'd'):>8}".rstrip()
        )
    return "\n".join(lines)


def format_markdown(report: BenchmarkReport) -> str:
    host = report.host
    lines = [
        "# edgeml benchmark",
        "",
        f"Host: {host['cpu']} ({host['cores']} cores), {host['os']}, Python {host['python']}. "
        "Latency: single-sample invokes after warm-up, median (p50) and tail percentiles; one run.",
        "",
        "| where | model | runtime | threads | accuracy | agreement | p50 µs | p90 µs | p99 µs | init ms | "
        "first invoke ms | batch/s | bytes | peak RSS MB | RAM B (TFLM arena; C engine static) | C engine flash B |",
        "|---" * 16 + "|",
    ]
    for row in report.rows:
        agreement = row.get("agreement_with_float")
        lines.append(
            f"| {row.get('source', 'host')} | {row['model']} | {row['runtime']} {row.get('runtime_version', '')} | "
            f"{row.get('threads') or ''} | {row['accuracy']:.4f} | {_fmt(agreement, '.2%')} | "
            f"{row['latency_us']['p50']:.1f} | {row['latency_us']['p90']:.1f} | {row['latency_us']['p99']:.1f} | "
            f"{row['init_ms']:.1f} | {row['first_invoke_ms']:.3f} | "
            f"{_fmt(row.get('throughput_per_s'), '.0f')} | {row['file_bytes']:,} | "
            f"{row['peak_rss_bytes'] / 2**20:.1f} | {arena_cell(row, ',')} | {flash_cell(row, ',')} |"
        )
    ratios = latency_ratios(report.rows)
    if ratios:
        lines += ["", "int8 / float32 p50 latency (below 1: int8 is faster):", ""]
        lines += [f"- {r['source']} {r['runtime']}: {r['int8_over_float32_p50']:.2f}" for r in ratios]
    for parity in report.parity:
        lines += ["", *format_parity(parity)]
    if report.skipped:
        lines += ["", "Not measured:", ""] + [f"- {reason}" for reason in report.skipped]
    return "\n".join(lines) + "\n"


def plot_latency(rows: Sequence[dict], path: Path) -> Path:
    """p50 latency (log scale) and accuracy per model and runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model'].replace('model_', '').replace('.tflite', '')}\n{r['runtime']}"
              + ("" if r.get("source", "host") == "host" else f"\n{str(r['source'])[:12]}") for r in rows]
    colors = ["tab:orange" if "int8" in r["model"] else "tab:blue" for r in rows]
    figure, (latency_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(rows) + 4), 4.5))
    positions = np.arange(len(rows))
    latency_axis.bar(positions, [r["latency_us"]["p50"] for r in rows], color=colors)
    latency_axis.set_yscale("log")
    latency_axis.set_ylabel("p50 latency per sample (µs, log)")
    accuracy_axis.bar(positions, [r["accuracy"] for r in rows], color=colors)
    low = min(r["accuracy"] for r in rows)
    accuracy_axis.set_ylim(max(0.0, low - 0.05), 1.0)
    accuracy_axis.set_ylabel("test accuracy")
    for axis, title in ((latency_axis, "Latency (orange: int8)"), (accuracy_axis, "Accuracy")):
        axis.set_xticks(positions)
        axis.set_xticklabels(labels, fontsize=7)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
    return path


def _fmt(value, spec: str) -> str:
    """Blank for a missing value, else ``format(value, spec)``."""
    return "" if value is None else format(value, spec)
