"""Float vs quantized, measured: accuracy, agreement, latency, throughput, size, memory, TFLM arena, and
instructions, flash and RAM on an emulated Cortex-M.

Where to measure is a list of devices (``local``, ``ssh://user@host``, ``qemu:cortex-m4``), each a target of
:mod:`edgeml.targets` (prepare, deploy, run, clean up). On the host each (model, runtime) pair is measured
by :mod:`edgeml.bench_runner` in a process of its own; device results (from a bundle run on a Raspberry
Pi, or over SSH) have the same shape and merge into the same report; ``qemu:`` rows carry instruction
counts instead of latencies. Only ``.keras`` models need TensorFlow; everything else runs on the lite
runtimes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeml.artifacts import atomic_path, check_output_dir, file_set, write_json, write_text
from edgeml.bench_runner import device_info
from edgeml.device import SshOptions
from edgeml.errors import EdgeMLError
from edgeml.artifact_json import JsonObject
from edgeml.measurement import HostInfo, Measurement, ModelParity, Variant, read_measurements, write_measurements
from edgeml.rundir import BENCHMARK_DIR, BENCHMARK_FILE, BENCHMARK_MARKDOWN, CONFIG_FILE, LATENCY_PLOT
from edgeml.targets.base import MeasureJob
from edgeml.targets.local import LocalOptions, plan  # noqa: F401  (plan: the host's pairs, imported from here)
from edgeml.targets.model_set import (  # noqa: F401  (the models and samples every stage reads, imported from here)
    MODEL_SUFFIXES, ModelSet, TflmArena, check_tflm_can_run, collect_models, load_test_samples, measure_tflm_arena,
    measured_arena, write_samples,
)
from edgeml.targets.registry import LOCAL, devices_to_measure, open_target, target_class
from edgeml.targets.results import import_results
from edgeml.text_tables import aligned_table as _table

# The report folder's files (RUN_DIR/benchmark/ in a run, or --out).
JSON_NAME, MARKDOWN_NAME, PLOT_NAME = (Path(name).name for name in (BENCHMARK_FILE, BENCHMARK_MARKDOWN, LATENCY_PLOT))
BENCHMARK_FILES = (JSON_NAME, MARKDOWN_NAME, PLOT_NAME)


@dataclass(frozen=True)
class BenchmarkOptions:
    """How and where to measure. The pipeline's [benchmark] table.

    ``device``: where (repeatable ``--device``): ``local`` (this machine), ``ssh://user@host[:port]`` (a
    Raspberry Pi, measured beside this machine) or ``qemu:cortex-m0|m3|m4|m7`` (the C engine on an emulated
    Cortex-M); one string is one device. ``runtimes`` .. ``batch_size`` are the host's and the Pi's options
    (:class:`~edgeml.targets.local.LocalOptions`), the ``ssh`` ones reach the Pi
    (:class:`~edgeml.device.SshOptions`).
    """

    runtimes: tuple[str, ...] = LocalOptions.runtimes
    threads: int = LocalOptions.threads
    runs: int = LocalOptions.runs
    warmup: int = LocalOptions.warmup
    batch_size: int = LocalOptions.batch_size
    test_samples: int | None = 1000
    dataset: str | None = None
    imports: tuple[str, ...] = ()
    device: tuple[str, ...] = (LOCAL,)
    device_python: str = SshOptions.device_python
    identity: str | None = SshOptions.identity_file
    known_hosts: str | None = SshOptions.known_hosts_file
    host_key_checking: str = SshOptions.host_key_checking
    ssh_timeout_s: float = SshOptions.connect_timeout_s
    ssh_config: str | None = SshOptions.config_file

    def __post_init__(self) -> None:
        if isinstance(self.device, str):
            object.__setattr__(self, "device", (self.device,))
        LocalOptions(tuple(self.runtimes), self.threads, self.runs, self.warmup, self.batch_size)  # checks them
        for device in self.devices():
            open_target(device, self)  # an unknown scheme, a bad address, board or SSH option fails here
        fixed = {runtime for device in self.devices() for runtime in target_class(device).only_runtimes}
        if all(target_class(device).only_runtimes for device in self.devices()) and not set(self.runtimes) <= {"all", *fixed}:
            # --runtime would choose nothing: every device runs its own engine (beside local it is the host's choice)
            raise EdgeMLError(f"{', '.join(self.device)} runs edgeml's C engine only: drop --runtime or use --runtime c")

    def devices(self) -> tuple[str, ...]:
        """Where to measure, in order (:func:`edgeml.targets.registry.devices_to_measure`)."""
        return devices_to_measure(self.device)


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
        if set(self.device) - {LOCAL} and not self.targets:
            raise EdgeMLError("--device needs the run directory or model files to send to the device")


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
class LatencyRatio:
    """p50 latency of ``model`` (an int8 model) over the float32 model's, in ``runtime`` on ``target``."""

    model: str
    runtime: str
    target: str
    int8_over_float32_p50: float

    def to_json(self) -> dict[str, str | float]:
        return {"model": self.model, "runtime": self.runtime, "source": self.target,
                "int8_over_float32_p50": self.int8_over_float32_p50}


@dataclass(frozen=True)
class BenchmarkReport:
    rows: tuple[Measurement, ...]
    skipped: tuple[str, ...]
    host: HostInfo  # the machine that wrote the report
    files: dict[str, Path] = field(default_factory=dict)
    parity: tuple[ModelParity, ...] = ()  # the four-way parity of each model the C engine ran

    def to_dict(self) -> dict:
        """benchmark.json: the rows (:func:`edgeml.measurement.write_measurements`, no predictions) with
        their schema version, what was skipped, the int8/float32 latency ratios and the parities."""
        return {"host": self.host.to_json(), **write_measurements(self.rows), "skipped": list(self.skipped),
                "latency_ratios": [ratio.to_json() for ratio in latency_ratios(self.rows)],
                "parity": [parity.to_json() for parity in self.parity]}

    @classmethod
    def from_json(cls, data: JsonObject) -> "BenchmarkReport":
        """What :meth:`to_dict` wrote (its latency ratios are :func:`latency_ratios` of the rows); a missing key or a
        value of the wrong type is one EdgeMLError naming the file and the key."""
        return cls(rows=read_measurements(data), skipped=tuple(data.strings("skipped")),
                   host=HostInfo.from_json(data.object("host")),
                   parity=tuple(ModelParity.from_json(parity) for parity in data.objects("parity")))


def run_benchmark(config: BenchmarkConfig) -> BenchmarkReport:
    """Measure ``config.targets`` on every device and merge ``config.imports``; write the report files
    together (or none). EdgeMLError when nothing at all was measured, naming each reason."""
    out_dir = check_output_dir(report_dir(config), config.force, BENCHMARK_FILES)
    rows: list[Measurement] = []
    skipped: list[str] = []
    parity: list[ModelParity] = []
    if config.targets:
        model_set = collect_models(config.targets)
        job = MeasureJob(model_set.models, model_set.record, config.dataset, config.test_samples)
        for device in config.devices():
            outcome = open_target(device, config).measure(job)
            rows += outcome.rows
            skipped += outcome.skipped
            parity += outcome.parity
    for imported in config.imports:
        rows += import_results(imported)
    if all(row.not_measured for row in rows):
        reasons = skipped + [f"{row.model} on {row.device}: {row.not_measured}" for row in rows]
        raise EdgeMLError("no measurement succeeded: " + "; ".join(reasons))
    report = BenchmarkReport(tuple(add_agreement(rows)), tuple(skipped), HostInfo(**device_info()),
                             parity=tuple(parity))
    timed = [row for row in report.rows if not row.emulated]
    with file_set(out_dir) as staging:  # the report's files appear together or not at all
        staged = {
            "json": write_json(staging / JSON_NAME, report.to_dict()),
            "markdown": write_text(staging / MARKDOWN_NAME, format_markdown(report)),
        }
        if timed and importlib.util.find_spec("matplotlib") is not None:  # (qemu: rows have no latency)
            staged["plot"] = plot_latency(timed, staging / PLOT_NAME)
        elif timed:  # the Raspberry Pi install (edgeml[pi]) has no matplotlib
            skipped.append("latency.png: matplotlib is not installed (pip install matplotlib)")
    files = {name: out_dir / path.name for name, path in staged.items()}
    return BenchmarkReport(report.rows, tuple(skipped), report.host, files, report.parity)


def format_rows(rows: Sequence[Measurement]) -> str:
    """The printed tables: :func:`format_table` of the timed rows, then the emulated Cortex-M table of the
    ``qemu:`` rows."""
    from edgeml.qemu_tables import format_qemu_table

    timed = [row for row in rows if not row.emulated]
    emulated = [row for row in rows if row.emulated]
    tables = ([format_table(timed)] if timed or not emulated else []) + (
        [format_qemu_table(emulated)] if emulated else [])
    return "\n\n".join(tables)


def format_parity(parity: ModelParity) -> list[str]:
    """Markdown lines: one table of the runtimes against the tflite-micro interpreter."""
    cells = [(row.runtime, f"not run: {row.not_run}", "", "") if row.not_run else
             (row.runtime, f"{row.differing_vectors}/{parity.samples}", f"{row.max_lsb:g}", row.first_divergence or "")
             for row in parity.runtimes]
    return [f"Parity of {parity.model} against the {parity.baseline} ({parity.inputs}): output vectors "
            "that differ in any byte, largest difference and the first op that diverges.", "",
            *_table(cells, PARITY_HEADERS, "pipe", text_columns=4).splitlines()]


def arena_cell(row: Measurement, spec: str) -> str:
    """A row's RAM on a device: TFLM's measured arena (which holds the input and output too) or "not
    measured: <why>"; the C engine's static RAM (arena + input + output); blank for other runtimes."""
    if row.arena_bytes is not None:
        return format(row.arena_bytes, spec)
    if row.static_ram_bytes is not None:
        return f"{format(row.static_ram_bytes, spec)} static"
    return f"not measured: {row.arena_not_measured}" if row.arena_not_measured else ""


def flash_cell(row: Measurement, spec: str) -> str:
    """The C engine's flash (text + data, Cortex-M4 -Os) or "not measured: <why>"; blank for other runtimes."""
    if row.flash_bytes is not None:
        return format(row.flash_bytes, spec)
    return f"not measured: {row.flash_not_measured}" if row.flash_not_measured else ""


def add_agreement(rows: Sequence[Measurement]) -> list[Measurement]:
    """Share of samples on which each row predicts the same class as the float reference of its target.

    The reference is the Keras model where measured, else the float32 .tflite in the same runtime; a row
    without predictions (or a reference without them) has no agreement. ``qemu:`` rows are left as they
    are: they carry their agreement with the host C engine and TFLM.
    """
    by_target: dict[str, list[Measurement]] = {}
    for row in rows:
        if not row.emulated:
            by_target.setdefault(row.target, []).append(row)
    result = []
    for row in rows:
        if row.emulated:
            result.append(row)
            continue
        here = by_target[row.target]
        keras = next((r for r in here if r.variant is Variant.KERAS), None)
        reference = keras or next((r for r in here if r.variant is Variant.FLOAT32 and r.runtime == row.runtime), None)
        agreement = None
        if reference is not None and reference.predictions and row.predictions:
            agreement = float(np.mean(np.asarray(reference.predictions) == np.asarray(row.predictions)))
        result.append(replace(row, agreement_with_float=agreement))
    return result


def latency_ratios(rows: Sequence[Measurement]) -> list[LatencyRatio]:
    """p50 latency of each int8 model over the float32 model in the same runtime and place."""
    timed = [row for row in rows if not row.emulated and row.latency is not None]
    ratios = []
    for row in (row for row in timed if row.variant is Variant.INT8):
        float_row = next((r for r in timed if r.variant is Variant.FLOAT32 and r.runtime == row.runtime
                          and r.target == row.target), None)
        if float_row:
            ratios.append(LatencyRatio(row.model, row.runtime, row.target,
                                       round(row.latency.p50_us / float_row.latency.p50_us, 3)))
    return ratios


TEXT_HEADERS = ("where", "model", "runtime", "acc", "agree", "p50 us", "p90 us", "p99 us", "batch/s", "bytes",
                "RSS MB", "RAM B", "flash B")
PARITY_HEADERS = ("runtime", "differing vectors", "max LSB", "first divergence")
MARKDOWN_HEADERS = ("where", "model", "runtime", "threads", "accuracy", "agreement", "p50 µs", "p90 µs", "p99 µs",
                    "init ms", "first invoke ms", "batch/s", "bytes", "peak RSS MB",
                    "RAM B (TFLM arena; C engine static)", "C engine flash B")


def format_table(rows: Sequence[Measurement]) -> str:
    """The printed table of timed rows (:data:`TEXT_HEADERS`): text left, numbers right-aligned."""
    cells = [(row.target, row.model, row.runtime, f"{row.accuracy:.4f}", _fmt(row.agreement_with_float, ".2%"),
              *_latency_cells(row), _fmt(row.throughput_per_s, ".0f"), str(row.file_bytes),
              f"{row.peak_rss_bytes / 2**20:.1f}", arena_cell(row, "d"), flash_cell(row, "d")) for row in rows]
    return _table(cells, TEXT_HEADERS, "plain", text_columns=3)


def _latency_cells(row: Measurement) -> tuple[str, str, str]:
    latency = row.latency
    return f"{latency.p50_us:.1f}", f"{latency.p90_us:.1f}", f"{latency.p99_us:.1f}"


def format_markdown(report: BenchmarkReport) -> str:
    """benchmark.md: the timed rows' table, ratios and parities, then the ``qemu:`` rows' section (only that
    section, as :func:`edgeml.qemu_tables.format_qemu_markdown`, when nothing else was measured)."""
    from edgeml.qemu_tables import format_qemu_markdown, qemu_markdown_lines

    timed = [row for row in report.rows if not row.emulated]
    emulated = [row for row in report.rows if row.emulated]
    if not timed:
        return format_qemu_markdown(emulated, report.host, report.skipped)
    host = report.host
    cells = [(row.target, row.model, f"{row.runtime} {row.runtime_version or ''}".strip(), _fmt(row.threads or None, "d"),
              f"{row.accuracy:.4f}", _fmt(row.agreement_with_float, ".2%"), *_latency_cells(row),
              f"{row.init_ms:.1f}", f"{row.first_invoke_ms:.3f}", _fmt(row.throughput_per_s, ".0f"),
              f"{row.file_bytes:,}", f"{row.peak_rss_bytes / 2**20:.1f}", arena_cell(row, ","), flash_cell(row, ","))
             for row in timed]
    lines = [
        "# edgeml benchmark",
        "",
        f"Host: {host.cpu} ({host.cores} cores), {host.os}, Python {host.python}. "
        "Latency: single-sample invokes after warm-up, median (p50) and tail percentiles; one run.",
        "",
        _table(cells, MARKDOWN_HEADERS, "pipe", text_columns=3),
    ]
    ratios = latency_ratios(report.rows)
    if ratios:
        lines += ["", "int8 / float32 p50 latency (below 1: int8 is faster):", ""]
        lines += [f"- {r.target} {r.runtime}: {r.int8_over_float32_p50:.2f}" for r in ratios]
    for parity in report.parity:
        lines += ["", *format_parity(parity)]
    if emulated:
        lines += ["", "## Emulated Cortex-M (edgeml's C engine under QEMU)", "", *qemu_markdown_lines(emulated)]
    if report.skipped:
        lines += ["", "Not measured:", ""] + [f"- {reason}" for reason in report.skipped]
    return "\n".join(lines) + "\n"


def plot_latency(rows: Sequence[Measurement], path: Path) -> Path:
    """p50 latency (log scale) and accuracy per model and runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.model.replace('model_', '').replace('.tflite', '')}\n{r.runtime}"
              + ("" if r.target == "host" else f"\n{r.target[:12]}") for r in rows]
    colors = ["tab:orange" if r.variant is Variant.INT8 else "tab:blue" for r in rows]
    figure, (latency_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(rows) + 4), 4.5))
    positions = np.arange(len(rows))
    latency_axis.bar(positions, [r.latency.p50_us for r in rows], color=colors)
    latency_axis.set_yscale("log")
    latency_axis.set_ylabel("p50 latency per sample (µs, log)")
    accuracy_axis.bar(positions, [r.accuracy for r in rows], color=colors)
    low = min(r.accuracy for r in rows)
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
