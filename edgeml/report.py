"""The run report: ``report.html`` (one self-contained file) and ``report.md``, from a run directory.

``build_report`` reads what the stages left in the run directory (run by ``edgeml pipeline`` or command by
command: ``edgeml report RUN_DIR``) into sections of typed blocks (facts, tables, figures, code, details on
demand); ``render_html`` and ``render_markdown`` render those same blocks through the Jinja2 templates in
``report_templates/`` (HTML autoescaped; both with ``StrictUndefined``); ``write_report`` writes both files. An
artifact a stage did not produce becomes a one-line note that names the stage. Each stage result is read by its
own type's ``from_json`` (:class:`TrainingRecord`, :class:`TrainingHistory`, :class:`Metrics`,
:class:`QuantizationReport`, :class:`BenchmarkReport`, the export records of
:mod:`firmware_export.export_record`), through :class:`JsonObject`: a corrupt JSON file, a missing key or a
value of the wrong type is one EdgeMLError naming the file and the key, and any other exception raised while
a section is built is edgeml's bug and propagates. The
HTML embeds every image as a base64 data URI and its CSS inline, and needs no JavaScript, so it can be
mailed or archived alone; the Markdown refers to the images by their paths relative to the run directory.
The stages drew their plots; the report draws one itself, from benchmark.json's emulated rows (float32 vs
int8 instructions per board, a :class:`BarChart` block), and ``write_report`` writes it beside report.html.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence, Union
from urllib.parse import quote

from edgeml import __version__
from edgeml.artifact_json import JsonObject, read_json_object
from edgeml.artifacts import file_set, write_bytes
from edgeml.benchmark import BenchmarkReport, LatencyRatio, arena_cell, flash_cell, latency_ratios
from edgeml.data import Normalization
from edgeml.errors import EdgeMLError
from edgeml.evaluate_metrics import Metrics
from edgeml.history import TrainingHistory
from edgeml.measurement import QEMU_PREFIX, BoardPair, ImageBytes, Measurement, ModelParity, Variant, board_pairs
from edgeml.models import ModelSpec
from edgeml.quantize import QuantizationReport
from edgeml.qemu_tables import INSTRUCTIONS_NOTE, engine_flash
from edgeml.rundir import (
    BENCHMARK_FILE, C_ENGINE_DIR, C_ENGINE_EXPORT_FILE, CONFIG_FILE, CONFUSION_PLOT, EXPORT_FILE, FIRMWARE_DIR,
    HISTORY_FILE, HISTORY_PLOT, HTML_REPORT, INT8_PREFIX, LATENCY_PLOT, MARKDOWN_REPORT, METRICS_FILE, PIPELINE_FILE,
    QUANTIZATION_FILE, ROC_PLOT, SUMMARY_FILE, StageOutcome,
)
from edgeml.train import TrainingRecord
from firmware_export.export_record import (CEngineExportRecord, CFloatExportRecord, ExportRecord, TflmExportRecord,
                                           read_export_record, read_previous_layout, record_from_json)

FIRMWARE_CONFIG_HEADER = "model_config.h"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Which pipeline stage writes each artifact: a missing artifact's note names its stage, and the
# stage's status in pipeline.json when it is listed there.
STAGE_OF_ARTIFACT = {
    CONFIG_FILE: "train",
    SUMMARY_FILE: "train",
    HISTORY_FILE: "train",
    HISTORY_PLOT: "train",
    METRICS_FILE: "evaluate",
    CONFUSION_PLOT: "evaluate",
    ROC_PLOT: "evaluate",
    INT8_PREFIX + METRICS_FILE: "evaluate_int8",
    INT8_PREFIX + CONFUSION_PLOT: "evaluate_int8",
    INT8_PREFIX + ROC_PLOT: "evaluate_int8",
    QUANTIZATION_FILE: "quantize",
    BENCHMARK_FILE: "benchmark",
    LATENCY_PLOT: "benchmark",
    EXPORT_FILE: "export",
    C_ENGINE_EXPORT_FILE: "export",
}
INT8_METRICS_FILE = INT8_PREFIX + METRICS_FILE
NOTHING = "—"


# ------------------------------------------------------------------------------------------ the blocks


@dataclass(frozen=True)
class Text:
    text: str
    kind: ClassVar[str] = "text"  # the templates' name for the block


@dataclass(frozen=True)
class Note:
    """Something absent or not measured; rendered muted."""

    text: str
    kind: ClassVar[str] = "note"


@dataclass(frozen=True)
class Facts:
    items: tuple[tuple[str, str], ...]
    kind: ClassVar[str] = "facts"


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the run directory, with forward slashes
    caption: str


@dataclass(frozen=True)
class Figures:
    """Images shown side by side (one is fine)."""

    figures: tuple[Figure, ...]
    kind: ClassVar[str] = "figures"


@dataclass(frozen=True)
class Code:
    caption: str
    text: str
    language: str = ""
    kind: ClassVar[str] = "code"


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    kind: ClassVar[str] = "bullets"


@dataclass(frozen=True)
class Details:
    """Blocks shown on demand: collapsed under ``summary`` in HTML; in Markdown the summary is a line
    above them (a Markdown viewer scrolls wide tables itself)."""

    summary: str
    blocks: tuple["Block", ...]
    kind: ClassVar[str] = "details"


@dataclass(frozen=True)
class BarChart:
    """Grouped bars, drawn with matplotlib when the report is rendered (:func:`draw_bar_chart`): one group
    per label in ``groups``, one bar per series in each; a None value draws no bar. The HTML embeds the PNG;
    :func:`write_report` writes it to ``path`` (relative to the run directory), where the Markdown links it."""

    path: str
    caption: str
    groups: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (name, one value per group)
    value_label: str
    kind: ClassVar[str] = "chart"


Block = Union[Text, Note, Facts, Table, Figures, Code, Bullets, Details, BarChart]


@dataclass(frozen=True)
class Section:
    key: str  # stable name for tests and anchors: "stages", "dataset", ...
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    run_dir: Path
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)

    def figures(self) -> tuple[Figure, ...]:
        return tuple(
            figure
            for section in self.sections
            for block in section.blocks
            if isinstance(block, Figures)
            for figure in block.figures
        )

    def charts(self) -> tuple[BarChart, ...]:
        return tuple(block for section in self.sections for block in section.blocks if isinstance(block, BarChart))


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path


# ----------------------------------------------------------------------------------------------- API


def write_report(run_dir: Path | str, title: str | None = None, force: bool = False) -> ReportFiles:
    """Write ``report.html`` and ``report.md`` into ``run_dir``, and the PNG of each chart the Markdown links, as
    one file set (all of them or none); return the reports' paths.

    Raises EdgeMLError when ``run_dir`` holds none of the stages' files (not an edgeml run directory), when it
    already holds a report file and ``force`` is false (naming the files), and for an ``OSError`` while writing
    (a report name taken by a folder, no space), besides those :func:`build_report` raises.
    """
    run_dir = Path(run_dir)
    if run_dir.is_dir() and not any((run_dir / name).exists() for name in (*STAGE_OF_ARTIFACT, PIPELINE_FILE)):
        raise EdgeMLError(f"{run_dir} is not an edgeml run directory: it holds none of the files the stages write "
                          f"({CONFIG_FILE}, {METRICS_FILE}, {BENCHMARK_FILE}, {EXPORT_FILE}, ...)")
    report = build_report(run_dir, title)
    contents = {chart.path: chart_png(chart) for chart in report.charts()}
    contents[HTML_REPORT] = render_html(report).encode("utf-8")
    contents[MARKDOWN_REPORT] = render_markdown(report).encode("utf-8")
    existing = [name for name in contents if (report.run_dir / name).exists()]
    if existing and not force:
        raise EdgeMLError(f"{report.run_dir} already holds {', '.join(existing)}; use --force to replace them")
    with file_set(report.run_dir) as staging:
        for name, data in contents.items():
            write_bytes(staging / name, data)
    return ReportFiles(html=report.run_dir / HTML_REPORT, markdown=report.run_dir / MARKDOWN_REPORT)


def build_report(run_dir: Path | str, title: str | None = None) -> Report:
    """Read the run directory into the report's sections; writes nothing."""
    run = _Run.load(Path(run_dir))
    sections = (
        _stages_section(run),
        _dataset_section(run),
        _model_section(run),
        _training_section(run),
        _evaluation_section(run),
        _quantization_section(run),
        _benchmark_section(run),
        _microcontroller_section(run),
        _firmware_section(run),
    )
    return Report(title=title or _default_title(run), run_dir=run.run_dir, sections=sections)


# ------------------------------------------------------------------------------------- the run's files


@dataclass(frozen=True)
class Exports:
    """The run's export records: TFLite Micro's and the C engine's (None: not exported), and the folder of
    each, relative to the run directory (``firmware``, ``firmware/c_engine``)."""

    tflm: TflmExportRecord | None = None
    c_engine: CEngineExportRecord | CFloatExportRecord | None = None
    tflm_dir: str = FIRMWARE_DIR
    c_engine_dir: str = f"{FIRMWARE_DIR}/{C_ENGINE_DIR}"

    @classmethod
    def read(cls, run_dir: Path) -> "Exports":
        """``firmware/export.json`` (a TFLite Micro record) and ``firmware/c_engine/export.json`` (a C engine
        record, int8 or float32); a pipeline's ``firmware/export.json`` from before export records (no
        ``schema_version``, an ``engines`` key, the C engine's facts inside it) is read too. A record of another
        kind in either folder is one EdgeMLError naming the file, what it holds and what belongs there; so is a
        top-level file with neither ``schema_version`` nor ``engines`` unless it is the first layout's TFLite
        Micro facts (:func:`_first_layout`)."""
        top = read_json_object(run_dir / EXPORT_FILE)
        tflm: ExportRecord | None = None
        c_engine: ExportRecord | None = None
        c_engine_dir = C_ENGINE_DIR
        if top is not None and "schema_version" not in top and "engines" in top:
            tflm, c_engine = read_previous_layout(top)
            c_engine_dir = top.object("c_engine").text("dir") or C_ENGINE_DIR
        elif top is not None and "schema_version" not in top:
            tflm = _first_layout(top)
        elif top is not None:
            tflm = _belonging(record_from_json(top), top.path, TFLM_FOLDER)
        c_engine_path = run_dir / C_ENGINE_EXPORT_FILE
        c_engine_file = read_export_record(c_engine_path)
        if c_engine_file is not None:
            c_engine_file = _belonging(c_engine_file, c_engine_path, C_ENGINE_FOLDER)
        if c_engine is None and c_engine_file is not None:
            c_engine, c_engine_dir = c_engine_file, C_ENGINE_DIR
        return cls(tflm, c_engine, FIRMWARE_DIR, f"{FIRMWARE_DIR}/{c_engine_dir}")  # type: ignore[arg-type]


def _first_layout(top: JsonObject) -> TflmExportRecord:
    """A pipeline's ``firmware/export.json`` from before the C engine (edgeml of 2026-11-24 to ac19c14): only the
    TFLite Micro facts, no ``schema_version`` nor ``engines``. Any other object there is no export record."""
    try:
        return TflmExportRecord.from_json(top)
    except EdgeMLError as exc:
        raise EdgeMLError(f"{top.path} is not an export record: it has no schema_version, no engines key (the "
                          "layout before records), and as the first layout's TFLite Micro facts it "
                          f"{str(exc).removeprefix(f'{top.path} ')}") from None


# What each export folder's export.json must hold: the record types and how to name them and the command.
TFLM_FOLDER = ((TflmExportRecord,), "the TFLite Micro export's record (edgeml export RUN --out RUN/firmware)")
C_ENGINE_FOLDER = ((CEngineExportRecord, CFloatExportRecord),
                   "the C engine export's record (edgeml export RUN --engine c --out RUN/firmware/c_engine)")


def _belonging(record: ExportRecord, path: Path,
               folder: tuple[tuple[type, ...], str]) -> ExportRecord:
    """``record``, read from ``path``, if it is the kind ``folder`` holds; else one EdgeMLError saying both."""
    kinds, belongs = folder
    if isinstance(record, kinds):
        return record
    held = {TflmExportRecord: "a TFLite Micro export record (engine 'tflm')",
            CEngineExportRecord: "a C engine int8 export record (engine 'c')",
            CFloatExportRecord: "a C engine float32 export record (engine 'c', dtype 'float32')"}[type(record)]
    raise EdgeMLError(f"{path} holds {held}; that folder's export.json is {belongs}")


@dataclass(frozen=True)
class _Run:
    """Every stage result of a run directory, read once and typed (None when its stage did not write it);
    ``pipeline`` (pipeline.json: the stages' outcomes) is read through :class:`JsonObject`."""

    run_dir: Path
    training: TrainingRecord | None
    history: TrainingHistory | None
    float_metrics: Metrics | None
    int8_metrics: Metrics | None
    quantization: QuantizationReport | None
    benchmark: BenchmarkReport | None
    pipeline: JsonObject | None
    stages: tuple[StageOutcome, ...]
    exports: Exports

    @classmethod
    def load(cls, run_dir: Path) -> "_Run":
        if not run_dir.is_dir():
            raise EdgeMLError(f"run directory not found: {run_dir}")
        float_metrics, int8_metrics = (read_json_object(run_dir / name) for name in (METRICS_FILE, INT8_METRICS_FILE))
        pipeline, benchmark = (read_json_object(run_dir / name) for name in (PIPELINE_FILE, BENCHMARK_FILE))
        return cls(run_dir=run_dir, training=TrainingRecord.read(run_dir / CONFIG_FILE),
                   history=TrainingHistory.read(run_dir / HISTORY_FILE),
                   float_metrics=Metrics.from_json(float_metrics) if float_metrics is not None else None,
                   int8_metrics=Metrics.from_json(int8_metrics) if int8_metrics is not None else None,
                   quantization=QuantizationReport.read(run_dir / QUANTIZATION_FILE),
                   benchmark=BenchmarkReport.from_json(benchmark) if benchmark is not None else None, pipeline=pipeline,
                   stages=StageOutcome.last_run(pipeline) if pipeline is not None else (), exports=Exports.read(run_dir))

    def exists(self, name: str) -> bool:
        return (self.run_dir / name).is_file()

    def missing(self, artifact: str) -> Note:
        """'<artifact> not produced (stage X did not run)', or what pipeline.json says about stage X."""
        stage = STAGE_OF_ARTIFACT.get(artifact, "?")
        entry = next((outcome for outcome in self.stages if outcome.name == stage), None)
        if entry is None:
            why = f"stage {stage} did not run"
        elif entry.status == "failed":
            why = f"stage {stage} failed: {entry.error or 'no error recorded'}"
        elif entry.status == "done":
            why = f"although stage {stage} is marked done"
        else:
            why = f"stage {stage}: {entry.status}"
        return Note(f"{artifact} not produced ({why})")

    def figures(self, *figures: tuple[str, str, bool]) -> list[Block]:
        """The (path, caption, written) images that exist, side by side, then a note for each missing one,
        unless the stage result written with it is missing too (``written`` False: its note says it all)."""
        present, notes = [], []
        for path, caption, written in figures:
            if not self.exists(path):
                if written:
                    notes.append(self.missing(path))
            elif not _is_png(self.run_dir / path):
                notes.append(Note(f"{path} is not a PNG image"))
            else:
                present.append(Figure(path, caption))
        return ([Figures(tuple(present))] if present else []) + notes


def _is_png(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(PNG_MAGIC)) == PNG_MAGIC


def _default_title(run: _Run) -> str:
    if run.training is None:
        return f"edgeml run report: {run.run_dir.resolve().name}"
    return f"edgeml run report: {_model_name(run.training)} on {run.training.dataset.name}"


def _model_name(training: TrainingRecord) -> str:
    if training.train.model_path:
        return Path(training.train.model_path).name
    return "model" if training.keras_model is not None else training.train.model.arch


# ------------------------------------------------------------------------------------------ sections


def _stages_section(run: _Run) -> Section:
    if run.pipeline is None:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} not found: the stages' status is unknown"),))
    if not run.stages:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} records no stage outcomes"),))
    rows = tuple((stage.name, stage.status, _number(stage.seconds, ".1f"), stage.error or "") for stage in run.stages)
    total_s = sum(stage.seconds or 0 for stage in run.stages)
    return Section("stages", "Stages", (Table(("stage", "status", "seconds", "error"), rows),
                                        Text(f"{len(rows)} stages, {total_s:.1f} s in total.")))


def _dataset_section(run: _Run) -> Section:
    if run.training is None:
        return Section("dataset", "Dataset", (run.missing(CONFIG_FILE),))
    dataset = run.training.dataset
    facts = [
        ("name", dataset.name),
        ("source", dataset.source or NOTHING),
        ("input shape", " × ".join(map(str, dataset.input_shape)) or NOTHING),
        ("classes", f"{len(dataset.class_names)}: {', '.join(dataset.class_names)}"),
        ("normalisation", _normalization_text(dataset.normalization)),
        *([("input fit", dataset.input_fit)] if dataset.input_fit else []),
        ("training samples", _count(dataset.train_samples)),
        ("test samples", _count(dataset.test_samples)),
    ]
    return Section("dataset", "Dataset", (Facts(tuple(facts)),))


def _model_section(run: _Run) -> Section:
    blocks: list[Block] = []
    summary = (run.run_dir / SUMMARY_FILE).read_text(encoding="utf-8", errors="replace") \
        if run.exists(SUMMARY_FILE) else None
    facts = []
    if run.training is not None:
        train = run.training.train
        if train.model_path:
            facts.append(("model", f"your model {train.model_path}"))
        elif run.training.keras_model is not None:
            facts.append(("model", f"your model object {run.training.keras_model}"))
        else:
            spec = train.model
            facts.append(("architecture", spec.arch))
            facts.append(("options", ", ".join(f"{option.name} {_plain(getattr(spec, option.name))}"
                                               for option in fields(spec) if _applies(option.name, spec))))
    parameters = _parameter_count(run, summary)
    if parameters is not None:
        facts.append(("parameters", f"{parameters:,} ({4 * parameters:,} bytes as float32, "
                                    f"{parameters:,} bytes as int8)"))
    if facts:
        blocks.append(Facts(tuple(facts)))
    elif run.training is None:
        blocks.append(run.missing(CONFIG_FILE))
    if summary is not None:
        model_summary = summary.split("\nfit diagnosis:")[0].rstrip()
        blocks.append(Code("model.summary()", model_summary))
    else:
        blocks.append(run.missing(SUMMARY_FILE))
    return Section("model", "Model", tuple(blocks))


def _applies(option: str, spec: ModelSpec) -> bool:
    """Whether a ModelSpec option shaped the model (the MLP has no convs; no BN, no momentum)."""
    if option == "arch":
        return False
    if option in ("filters", "kernel_size", "pooling"):
        return spec.arch != "mlp"
    if option == "bn_momentum":
        return bool(spec.batchnorm)
    return True


def _parameter_count(run: _Run, summary: str | None) -> int | None:
    if run.quantization is not None:
        return run.quantization.parameter_count
    found = re.search(r"Total params:\s*([\d,]+)", summary or "")
    return int(found.group(1).replace(",", "")) if found else None


def _training_section(run: _Run) -> Section:
    blocks: list[Block] = []
    training, history = run.training, run.history
    facts: list[tuple[str, str]] = []
    if training is not None:
        train, result = training.train, training.result
        facts += [
            ("test accuracy", _accuracy(result.test_accuracy)),
            ("test loss", _number(result.test_loss, ".4f")),
            ("best epoch", f"{result.best_epoch} of {result.epochs_run} run"),
            ("fit diagnosis", result.diagnosis or NOTHING),
            ("optimizer", f"{train.optimizer}, learning rate {_plain(train.lr)}, batch size {train.batch_size}"),
            ("wall time", f"{_number(result.wall_time_s, '.1f')} s"),
        ]
        if result.interrupted:
            facts.append(("interrupted", "yes: the run was completed from the best checkpoint"))
    elif history is not None:
        facts += [("best epoch", str(history.best_epoch)), ("fit diagnosis", history.diagnosis or NOTHING)]
    if history is not None and history.last_epoch():
        facts.append(("last epoch", ", ".join(f"{name} {value:.4f}" for name, value in history.last_epoch())))
    if facts:
        blocks.append(Facts(tuple(facts)))
    else:
        blocks.append(run.missing(CONFIG_FILE))
    blocks += run.figures((HISTORY_PLOT, "accuracy and loss per epoch, train vs validation", history is not None))
    if history is None:
        blocks.append(run.missing(HISTORY_FILE))
    return Section("training", "Training", tuple(blocks))


def _evaluation_section(run: _Run) -> Section:
    files = (("Keras float", METRICS_FILE, run.float_metrics), ("int8 TFLite", INT8_METRICS_FILE, run.int8_metrics))
    blocks: list[Block] = [run.missing(name) for _, name, metrics in files if metrics is None]
    measured = [(label, metrics) for label, _, metrics in files if metrics is not None]
    if measured:
        headline = tuple((label, _accuracy(metrics.accuracy), _number(metrics.loss, ".4f"),
                          _number(metrics.auc_micro, ".4f"), _number(metrics.auc_macro, ".4f"),
                          _count(metrics.num_samples)) for label, metrics in measured)
        blocks.append(Table(("model", "accuracy", "loss", "AUC micro", "AUC macro", "samples"), headline))
    float_written, int8_written = run.float_metrics is not None, run.int8_metrics is not None
    blocks += run.figures((CONFUSION_PLOT, "confusion matrix, Keras float", float_written),
                          (INT8_PREFIX + CONFUSION_PLOT, "confusion matrix, int8 TFLite", int8_written))
    blocks += run.figures((ROC_PLOT, "ROC, Keras float", float_written),
                          (INT8_PREFIX + ROC_PLOT, "ROC, int8 TFLite", int8_written))
    if measured:
        blocks.append(Text("Per class (accuracy here is the class's recall: the share of its samples "
                           "classified correctly):"))
        blocks.append(_per_class_table(run.float_metrics, run.int8_metrics))
    return Section("evaluation", "Evaluation", tuple(blocks))


def _per_class_table(float_metrics: Metrics | None, int8_metrics: Metrics | None) -> Table:
    float_rows, int8_rows = ({} if metrics is None else {row.name: row for row in metrics.per_class}
                             for metrics in (float_metrics, int8_metrics))
    class_names = list(float_rows) + [name for name in int8_rows if name not in float_rows]
    header: tuple[str, ...] = ("class", "support")
    if float_rows:
        header += ("float precision", "float accuracy", "float F1", "float AUC")
    if int8_rows:
        header += ("int8 precision", "int8 accuracy", "int8 F1")
    if float_rows and int8_rows:
        header += ("Δ F1",)
    rows = []
    for name in class_names:
        float_row, int8_row = float_rows.get(name), int8_rows.get(name)
        cells = [name, _count((float_row or int8_row).support)]
        if float_rows:
            cells += [_number(getattr(float_row, key) if float_row else None, ".4f")
                      for key in ("precision", "recall", "f1", "auc")]
        if int8_rows:
            cells += [_number(getattr(int8_row, key) if int8_row else None, ".4f") for key in ("precision", "recall", "f1")]
        if float_rows and int8_rows:
            cells.append(_number(int8_row.f1 - float_row.f1, "+.4f") if float_row and int8_row else NOTHING)
        rows.append(tuple(cells))
    return Table(header, tuple(rows))


def _quantization_section(run: _Run) -> Section:
    quantization = run.quantization
    if quantization is None:
        return Section("quantization", "Quantization", (run.missing(QUANTIZATION_FILE),))
    keras_accuracy = quantization.keras_float_accuracy
    qat_epochs = quantization.qat_epochs
    facts = [
        ("method", quantization.method + (f", {qat_epochs} QAT epoch(s)" if qat_epochs else "")),
        ("int8 input/output", quantization.io),
        ("calibration samples", _count(quantization.calibration_samples)),
        ("measured with", f"{quantization.runtime} on {_count(quantization.test_samples)} test samples"),
        ("Keras float accuracy", _accuracy(keras_accuracy)),
    ]
    rows = tuple((variant.name, variant.file, _count(variant.size_bytes), _accuracy(variant.accuracy),
                  _number((variant.accuracy - keras_accuracy) * 100, "+.2f"), _percent(variant.agreement_with_float),
                  _number(variant.mean_abs_diff, ".5f"), _number(variant.max_abs_diff, ".4f"),
                  "yes" if variant.fully_int8 else "no") for variant in quantization.variants)
    ratio = quantization.int8_to_float32_size
    lines = [f"int8 / float32 file size: {ratio:.3f} ({ratio:.1%} of the float32 file).",
             f"Parameter floor (one byte per parameter in int8, four in float32): "
             f"{_count(quantization.parameter_count)} bytes int8, {_count(4 * quantization.parameter_count)} bytes "
             "float32."]
    table = Table(("variant", "file", "bytes", "accuracy", "Δ vs Keras (pp)", "agreement", "mean |Δp|",
                   "max |Δp|", "fully int8"), rows)
    return Section("quantization", "Quantization", (Facts(tuple(facts)), table, *(Text(line) for line in lines)))


# The host benchmark's columns: the ones a reader compares first stay in the table (it fits a 1280-px
# window); the rest are one click away in a second table.
BENCHMARK_COLUMNS = ("where", "model", "runtime", "accuracy", "agreement", "p50 µs", "p99 µs", "file bytes",
                     "RAM bytes", "C engine flash bytes")
BENCHMARK_LEGEND = ("RAM bytes: TFLite Micro's measured tensor arena (which holds the input and output), or the C "
                    "engine's static RAM (arena + input + output); C engine flash bytes: text + data linked for a "
                    "Cortex-M4 (-Os).")
BENCHMARK_DETAIL_COLUMNS = ("where", "model", "runtime", "threads", "p90 µs", "init ms", "first invoke ms",
                            "samples/s (batch)", "peak RSS MiB")
BENCHMARK_DETAILS = "More columns: threads, p90 latency, init, first invoke, batch throughput, peak RSS"


def _benchmark_section(run: _Run) -> Section:
    name = BENCHMARK_FILE
    benchmark = run.benchmark
    if benchmark is None:
        plot = run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", False))
        return Section("benchmark", "Benchmark", (run.missing(name), *plot))
    blocks: list[Block] = []
    host = tuple((item.name, getattr(benchmark.host, item.name)) for item in fields(benchmark.host)
                 if getattr(benchmark.host, item.name) is not None)
    if host:
        blocks.append(Facts(host))
    measured = [row for row in benchmark.rows if not row.emulated]
    if measured:
        rows = tuple(_benchmark_row(row) for row in measured)
        blocks.append(Table(BENCHMARK_COLUMNS, rows))
        if any(row[-2:] != (NOTHING, NOTHING) for row in rows):
            blocks.append(Text(BENCHMARK_LEGEND))
        blocks.append(Details(BENCHMARK_DETAILS, (Table(BENCHMARK_DETAIL_COLUMNS, tuple(
            (*_named(row), _plain(row.threads), _number(row.latency.p90_us, ",.1f"), _number(row.init_ms, ",.1f"),
             _number(row.first_invoke_ms, ",.2f"), _number(row.throughput_per_s, ",.0f"),
             _mebibytes(row.peak_rss_bytes)) for row in measured)),)))
    else:
        blocks.append(Note(f"{name} holds no host measurements, only the emulated Cortex-M's (below)"))
    blocks += run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", True))
    ratio_lines = [_ratio_line(ratio) for ratio in latency_ratios(benchmark.rows)]
    if ratio_lines:
        blocks.append(Text("int8 over float32, p50 latency in the same runtime and place:"))
        blocks.append(Bullets(tuple(ratio_lines)))
    blocks += [block for parity in benchmark.parity for block in _parity_blocks(parity)]
    if benchmark.skipped:
        blocks.append(Text("Not measured:"))
        blocks.append(Bullets(benchmark.skipped))
    return Section("benchmark", "Benchmark", tuple(blocks))


def _named(row: Measurement) -> tuple[str, str, str]:
    return row.target, row.model, f"{row.runtime} {row.runtime_version or ''}".strip()


def _benchmark_row(row: Measurement) -> tuple[str, ...]:
    return (*_named(row), _accuracy(row.accuracy), _percent(row.agreement_with_float),
            _number(row.latency.p50_us, ",.1f"), _number(row.latency.p99_us, ",.1f"), _count(row.file_bytes),
            arena_cell(row, ",") or NOTHING, flash_cell(row, ",") or NOTHING)


def _parity_blocks(parity: ModelParity, model: str | None = None) -> list[Block]:
    """The four-way parity of one model: each runtime against the tflite-micro interpreter."""
    rows = tuple((row.runtime, f"not run: {row.not_run}", NOTHING, NOTHING) if row.not_run else
                 (row.runtime, f"{row.differing_vectors}/{parity.samples}", _number(row.max_lsb, "g"),
                  row.first_divergence or NOTHING)
                 for row in parity.runtimes)
    return [Text(f"Parity of {model or parity.model} against the {parity.baseline} ({parity.inputs}):"),
            Table(("runtime", "differing output vectors", "max LSB", "first divergence"), rows)]


def _engines_side_by_side(tflm: TflmExportRecord | None, c_engine: CEngineExportRecord | CFloatExportRecord,
                          c_engine_dir: str) -> list[Block]:
    """TFLite Micro's export and the C engine's (firmware/c_engine/): RAM, flash, ops and parity; the float32
    build's RAM beside the int8 build's; the C engine's warnings."""
    memory = c_engine.memory
    not_exported = "not exported"
    rows = (
        ("RAM bytes (TFLM: arena, which holds input and output; C: arena + input + output)",
         _count(tflm.arena_bytes) if tflm else not_exported,
         f"{_count(memory.ram_bytes)} ({_count(memory.arena_bytes)} + {_count(memory.input_bytes)} + "
         f"{_count(memory.output_bytes)})"),
        ("flash bytes (text + data, Cortex-M4 -Os)",
         (f"{_count(tflm.flash.flash_bytes)} model array + the TFLM library (not measured)"
          if tflm.flash.flash_bytes is not None else "not measured") if tflm else not_exported,
         _count(memory.flash_bytes) if memory.flash_bytes is not None else f"not measured: {memory.flash_not_measured}"),
        ("ops", str(len(tflm.ops)) if tflm else not_exported, str(len(c_engine.ops))),
        ("files", f"{FIRMWARE_DIR}/ ({len(tflm.files)})" if tflm else not_exported,
         f"{c_engine_dir}/ ({len(c_engine.files)})"),
    )
    engine = "C engine" if isinstance(c_engine, CEngineExportRecord) else "C engine (float32)"
    blocks: list[Block] = [Text("TFLite Micro and edgeml's C engine, side by side:"),
                           Table(("", "TFLite Micro", engine), rows)]
    if isinstance(c_engine, CFloatExportRecord):
        if c_engine.ram is not None:
            blocks.append(Text(c_engine.ram.describe()))
        blocks.append(Text(c_engine.parity.describe() if c_engine.parity
                           else f"float outputs not compared: {c_engine.parity_not_run}"))
    elif c_engine.parity:
        blocks += _parity_blocks(c_engine.parity, model="the exported model")
    if c_engine.warnings:
        blocks += [Text("C engine warnings:"), Bullets(c_engine.warnings)]
    return blocks


def _ratio_line(ratio: LatencyRatio) -> str:
    value = ratio.int8_over_float32_p50
    verdict = f"int8 {1 / value:.2f}× faster" if value < 1 else f"int8 {value:.2f}× slower" if value > 1 else "equal"
    return f"{ratio.model} on {ratio.runtime} ({ratio.target}): {value:.3f} — {verdict}"


# The emulated Cortex-M (issue 13): what a missing measurement needs, and how many ops to show per model.
QEMU_TOOLS = ("arm-none-eabi-gcc with newlib-nano and qemu-system-arm (Debian/Ubuntu: sudo apt install "
              "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
QEMU_TOOL_NAMES = ("arm-none-eabi", "qemu-system-arm", "newlib")
TOP_OPS = 3
MICROCONTROLLER_COLUMNS = ("device", "board", "model", "samples", "accuracy", "agreement", "instructions / inference",
                           "flash bytes", "RAM bytes")
FLASH_PARTS = (("engine", "engine_bytes"), ("model", "model_bytes"), ("harness", "harness_bytes"),
               ("samples", "samples_bytes"))
RAM_PARTS = (("model buffers", "model_bytes"), ("engine stack", "engine_stack_bytes"), ("harness", "harness_bytes"))


def _microcontroller_section(run: _Run) -> Section:
    title = "Microcontroller (emulated)"
    if run.benchmark is None:
        return Section("microcontroller", title, (run.missing(BENCHMARK_FILE),))
    emulated = [row for row in run.benchmark.rows if row.emulated]
    if not emulated:
        return Section("microcontroller", title, (Note(
            f"no emulated Cortex-M in {BENCHMARK_FILE}: edgeml benchmark RUN_DIR --device qemu:cortex-m4 runs the "
            f"int8 model in edgeml's C engine on an emulated Cortex-M4; it needs {QEMU_TOOLS}"),))
    measured = [row for row in emulated if row.not_measured is None]
    blocks: list[Block] = []
    if measured:
        blocks.append(Table(MICROCONTROLLER_COLUMNS, tuple(_microcontroller_row(row) for row in measured)))
        for row in measured:
            blocks += _microcontroller_details(row)
        resolutions = sorted({row.instructions.resolution for row in measured})
        float_rows = any(row.variant is Variant.FLOAT32 for row in measured)
        blocks.append(Text(
            f"Agreement: the share of samples whose outputs are byte-identical to both edgeml's C engine built on "
            f"this machine and the tflite-micro interpreter (a difference fails the benchmark)"
            + (FLOAT_AGREEMENT if float_rows else "") + ". Counts are "
            f"{INSTRUCTIONS_NOTE.format(resolution=resolutions[-1])}: each op's count (a mean over the profiled "
            f"samples) has a resolution of {' or '.join(format(value, 'g') for value in resolutions)} "
            f"instructions; an M4 and an M7 give the same counts for the same code."))
    blocks += _float_vs_int8_blocks(emulated)
    missing = tuple(f"{row.device}{f' ({row.board})' if row.board else ''}, {row.model}: not measured: "
                    f"{_with_install_hint(row.not_measured)}" for row in emulated if row.not_measured is not None)
    if missing:
        blocks.append(Text("Not measured:"))
        blocks.append(Bullets(missing))
    return Section("microcontroller", title, tuple(blocks))


def _microcontroller_row(row: Measurement) -> tuple[str, ...]:
    return (row.device, row.board or NOTHING, row.model, _count(row.samples), _accuracy(row.accuracy),
            _percent(min(row.agreement_with_host_c, row.agreement_with_litert_ref
                         if row.variant is Variant.FLOAT32 else row.agreement_with_tflm)),
            _number(row.instructions.per_inference, ",.0f"), _count(row.image_flash.total),
            _count(row.image_ram.total))


# float32 vs int8 on the same emulated board (issue 15).
FLOAT_AGREEMENT = ("; for a float32 model, the share of samples whose top class equals both the float C engine "
                   "built on this machine and LiteRT's BUILTIN_REF float kernels")
FLOAT_VS_INT8_LEAD = ("float32 vs int8 on the microcontroller, per emulated board (instructions per inference; "
                      "flash of the engine and model, without the harness and the embedded test samples; RAM of "
                      "the image; bytes):")
FLOAT_VS_INT8_COLUMNS = ("board", "float ABI", "accuracy float32", "accuracy int8",
                         "instructions float32", "instructions int8",
                         "int8 / float32 instructions", "flash float32", "flash int8", "RAM float32",
                         "RAM int8", "float32 / int8 RAM")
FLOAT_VS_INT8_NOTE = (
    "These are instructions, not cycles: QEMU counts each executed instruction once, whatever it costs on a real "
    "core. The float ABI is how each float32 image was built: soft (Cortex-M0 and M3 have no FPU), every float add, "
    "multiply or compare is a call into the compiler's software floating-point library (libgcc's __aeabi_fadd, "
    "__aeabi_fmul, ...), tens of instructions each; hard (the Cortex-M4's single-precision FPU), one FPU "
    "instruction each. int8 uses integer multiply-accumulates on every core.")
MCU_INSTRUCTIONS_PLOT = "report_mcu_instructions.png"  # written by write_report, beside report.html


def _float_vs_int8_blocks(emulated: Sequence[Measurement]) -> list[Block]:
    """The float32 vs int8 table of each board, one line per board stating the measured instruction and RAM
    ratios (or which variant is missing), the note on instructions, and the bar chart of instructions."""
    pairs = board_pairs(emulated)
    if not any(row.variant is Variant.FLOAT32 for row in emulated):
        return [Note(f"float32 vs int8 on the microcontroller: no float32 row in {BENCHMARK_FILE} (edgeml benchmark "
                     "RUN_DIR --device qemu:cortex-mN measures model_float32.tflite beside model_int8.tflite)")]
    shown = [pair for pair in pairs if pair.float32 is not None or pair.int8 is not None]
    blocks: list[Block] = [Text(FLOAT_VS_INT8_LEAD)]
    if shown:
        blocks.append(Table(FLOAT_VS_INT8_COLUMNS, tuple(_float_vs_int8_row(pair) for pair in shown)))
    blocks.append(Bullets(tuple(_float_vs_int8_line(pair) for pair in pairs)))
    blocks.append(Text(FLOAT_VS_INT8_NOTE))
    if shown:
        blocks.append(BarChart(
            MCU_INSTRUCTIONS_PLOT, "instructions per inference, float32 vs int8, per emulated board",
            groups=tuple(pair.device.removeprefix(QEMU_PREFIX) for pair in shown),
            series=tuple((variant.value, tuple(None if row is None else row.instructions.per_inference
                                               for row in (getattr(pair, variant.value) for pair in shown)))
                         for variant in (Variant.FLOAT32, Variant.INT8)),
            value_label="instructions per inference"))
    return blocks


def _float_vs_int8_row(pair: BoardPair) -> tuple[str, ...]:
    float32, int8 = pair.float32, pair.int8

    def each(value) -> tuple[str, str]:
        return tuple(value(row) if row is not None else NOTHING for row in (float32, int8))

    return (pair.device.removeprefix(QEMU_PREFIX), float32.float_abi if float32 is not None else NOTHING,
            *each(lambda row: _accuracy(row.accuracy)),
            *each(lambda row: _number(row.instructions.per_inference, ",.0f")),
            _number(pair.int8_over_float32_instructions, ".3f"),
            *each(lambda row: _count(engine_flash(row))), *each(lambda row: _count(row.image_ram.total)),
            _number(pair.float32_over_int8_ram, ".2f"))


def _float_vs_int8_line(pair: BoardPair) -> str:
    """What was measured on one board: the instruction and RAM ratios, or which variant is missing and why."""
    float32, int8 = pair.float32, pair.int8
    if float32 is not None and int8 is not None:
        ratio = pair.int8_over_float32_instructions
        samples = (f"the same {_count(int8.samples)} samples" if int8.samples == float32.samples else
                   f"{_count(float32.samples)} samples float32, {_count(int8.samples)} int8: accuracies not comparable")
        return (f"{pair.device} ({float32.float_abi} float, {samples}): {_times(ratio, 'instructions')} "
                f"({_number(int8.instructions.per_inference, ',.0f')} vs "
                f"{_number(float32.instructions.per_inference, ',.0f')} per inference); float32 needs "
                f"{pair.float32_over_int8_ram:.2f}× the RAM of int8 ({_count(float32.image_ram.total)} vs "
                f"{_count(int8.image_ram.total)} bytes)")
    why = {row.variant: row.not_measured for row in pair.not_measured}
    missing = [variant.value + (f" not measured: {_with_install_hint(why[variant])}" if variant in why
                                else f": no row in {BENCHMARK_FILE}")
               for variant, row in ((Variant.FLOAT32, float32), (Variant.INT8, int8)) if row is None]
    if len(missing) == 2:
        return f"{pair.device}: nothing to compare: {'; '.join(missing)}"
    only = "int8" if float32 is None else "float32"
    return f"{pair.device}: only {only} measured, no ratio: {missing[0]}"


def _times(ratio: float, what: str) -> str:
    """int8/float32 ``ratio`` as a sentence: 'int8 needs 3.2× fewer instructions than float32', '... 1.4× more
    ...' (two decimals below 1.05×, where one would round to 1.0)."""
    if ratio == 1:
        return f"int8 needs as many {what} as float32"
    factor, direction = (1 / ratio, "fewer") if ratio < 1 else (ratio, "more")
    return f"int8 needs {factor:.{2 if factor < 1.05 else 1}f}× {direction} {what} than float32"


def _microcontroller_details(row: Measurement) -> list[Block]:
    """Where the bytes go, and the ops with the most instructions."""
    def parts(image: ImageBytes, owners: tuple[tuple[str, str], ...]) -> str:
        return " + ".join(f"{label} {image.part(key):,}" for label, key in owners if image.part(key) is not None)

    blocks: list[Block] = [Text(
        f"{row.model} on {row.device}: flash {_count(row.image_flash.total)} = {parts(row.image_flash, FLASH_PARTS)} "
        f"(text + rodata + data); RAM {_count(row.image_ram.total)} = {parts(row.image_ram, RAM_PARTS)} "
        "(data + bss + stack peak by stack painting).")]
    top = row.instructions.top_ops(TOP_OPS)
    if top:
        blocks.append(Text(f"The {len(top)} ops with the most instructions of {len(row.instructions.per_op)} "
                           "(mean per inference over the profiled samples):"))
        blocks.append(Table(("op", "instructions / inference", "MACs", "instructions / MAC"), tuple(
            (f"op {op.op_index} {op.op}", _number(op.instructions, ",.0f"), _count(op.macs),
             _number(op.instructions_per_mac, ".2f")) for op in top)))
    return blocks


def _with_install_hint(reason: str) -> str:
    """A reason that names a missing Arm tool also says how to install them all, if it does not already."""
    if "install" in reason or not any(tool in reason for tool in QEMU_TOOL_NAMES):
        return reason
    return f"{reason}; install {QEMU_TOOLS}"


def _firmware_section(run: _Run) -> Section:
    tflm, c_engine = run.exports.tflm, run.exports.c_engine
    if tflm is None and c_engine is None:
        return Section("firmware", "Firmware", (run.missing(EXPORT_FILE),))
    if tflm is None:
        return Section("firmware", "Firmware", (
            Note(f"TFLite Micro: not exported ({EXPORT_FILE} holds no TFLite Micro export)"),
            *_engines_side_by_side(None, c_engine, run.exports.c_engine_dir)))
    firmware_dir = run.run_dir / run.exports.tflm_dir
    file_rows = tuple((name, _count((firmware_dir / name).stat().st_size) if (firmware_dir / name).is_file()
                       else "missing") for name in tflm.files)
    flash = tflm.flash
    arena_detail = "" if tflm.arena_minimum_bytes is None else (
        f" (measured minimum {_count(tflm.arena_minimum_bytes)} + margin {_count(tflm.arena_margin_bytes)})")
    facts = (
        ("symbol", tflm.symbol),
        ("model sha256", tflm.model_sha256),
        ("flash: model array", f"{_count(tflm.model_bytes)} bytes"),
        ("flash: model object (text + data)",
         f"{_count(flash.flash_bytes)} bytes (arm-none-eabi-size)" if flash.flash_bytes is not None
         else f"not measured: {flash.not_measured or 'no reason recorded'}"),
        ("RAM: tensor arena", f"{_count(tflm.arena_bytes)} bytes{arena_detail}"),
        ("ops", f"{len(tflm.ops)}: {', '.join(tflm.ops)}" if tflm.ops else NOTHING),
        ("TFLM vs LiteRT parity", tflm.parity or "not checked"),
    )
    blocks: list[Block] = [Facts(facts)]
    if c_engine is not None:
        blocks += _engines_side_by_side(tflm, c_engine, run.exports.c_engine_dir)
    blocks.append(Table(("file", "bytes"), file_rows) if file_rows else Note(f"{EXPORT_FILE} lists no files"))
    if tflm.warnings:
        blocks.append(Text("Warnings:"))
        blocks.append(Bullets(tflm.warnings))
    if flash.size_output:
        blocks.append(Code("arm-none-eabi-size", flash.size_output))
    header = firmware_dir / FIRMWARE_CONFIG_HEADER
    if header.is_file():
        text = header.read_text(encoding="utf-8", errors="replace")
        blocks.append(Code(f"{run.exports.tflm_dir}/{FIRMWARE_CONFIG_HEADER}", text, "c"))
    else:
        blocks.append(Note(f"{run.exports.tflm_dir}/{FIRMWARE_CONFIG_HEADER} not found"))
    return Section("firmware", "Firmware", tuple(blocks))


# ----------------------------------------------------------------------------------- number formatting


def _number(value: float | None, spec: str) -> str:
    return NOTHING if value is None else format(float(value), spec)


def _accuracy(value: float | None) -> str:
    return _number(value, ".4f")


def _percent(value: float | None) -> str:
    return NOTHING if value is None else f"{100 * float(value):.2f}%"


def _count(value: int | None) -> str:
    return NOTHING if value is None else f"{int(value):,}"


def _mebibytes(value: int | None) -> str:
    return NOTHING if value is None else f"{int(value) / 2**20:,.1f}"


def _normalization_text(normalization: Normalization) -> str:
    """``model_input = (raw − 0) / 255 (pixels: default for pixel data)``; per-channel values in brackets."""
    def values(value: float | tuple[float, ...]) -> str:
        return f"[{_plain(value)}]" if isinstance(value, tuple) else _plain(value)

    per_channel = normalization.channels is not None
    text = (f"model_input = (raw − {values(normalization.mean)}) / {values(normalization.std)}"
            + (" per channel (last axis)" if per_channel else ""))
    how = ": ".join(part for part in (normalization.method, normalization.note) if part)
    return text + (f" ({how})" if how else "")


def _plain(value: Any) -> str:
    """A config value as a person would write it: lists without brackets, None as a dash."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(_plain(item) for item in value) or NOTHING
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


# ------------------------------------------------------------------------------------------ rendering

TEMPLATES_DIR = Path(__file__).parent / "report_templates"
HTML_TEMPLATE = "report.html.jinja"
MARKDOWN_TEMPLATE = "report.md.jinja"

# A table cell that is a number (with separators, sign, unit or percent) is right-aligned, except in
# the first column, which names the row (a class called "3" is a label).
_NUMBER_CELL = re.compile(r"^[-+−]?[\d,]*\.?\d+\s*(%|×)?$")


def render_html(report: Report) -> str:
    """One self-contained page (``report_templates/report.html.jinja``): inline CSS, images as data URIs,
    no scripts, every text autoescaped. Raises EdgeMLError when an image cannot be read."""
    environment = _environment(autoescape=True)
    environment.filters["data_uri"] = lambda path: _data_uri(report.run_dir / path)
    environment.filters["chart_uri"] = lambda chart: "data:image/png;base64," + base64.b64encode(
        chart_png(chart)).decode("ascii")
    return environment.get_template(HTML_TEMPLATE).render(
        report=report, version=__version__, run_name=report.run_dir.resolve().name)


def draw_bar_chart(chart: BarChart):
    """The chart as a matplotlib ``Figure`` (no pyplot: no display, no global figure state): one bar container
    per series, the bars of a group side by side, each labelled with its value, "not measured" where a value
    is None. A linear axis from zero, so bar lengths compare as the numbers do."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    figure = Figure(figsize=(max(5.0, 1.6 * len(chart.groups) + 2.5), 4.0))
    axes = figure.add_subplot()
    positions = np.arange(len(chart.groups))
    width = 0.8 / len(chart.series)
    for index, (name, values) in enumerate(chart.series):
        offsets = positions + (index - (len(chart.series) - 1) / 2) * width
        bars = axes.bar(offsets, [np.nan if value is None else value for value in values], width, label=name)
        axes.bar_label(bars, labels=["" if value is None else f"{value:,.0f}" for value in values], fontsize=7)
        for offset in offsets[[value is None for value in values]]:
            axes.text(offset, 0, "not measured", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
    axes.set_xticks(positions, chart.groups)
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.set_ylabel(chart.value_label)
    axes.set_title(chart.caption, fontsize=10)
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


@functools.lru_cache(maxsize=4)
def chart_png(chart: BarChart) -> bytes:
    """:func:`draw_bar_chart` as PNG bytes (computed once per chart: the HTML embeds the bytes the file holds)."""
    buffer = io.BytesIO()
    draw_bar_chart(chart).savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def render_markdown(report: Report) -> str:
    """The same report as Markdown (``report_templates/report.md.jinja``); images are links relative to
    the run directory, where report.md lives."""
    environment = _environment(autoescape=False)
    environment.filters.update(md=_md, md_cell=_md_cell, fence=_fence, trim_end=str.rstrip, image_md=_image_markdown)
    environment.globals["markdown_alignment"] = _markdown_alignment
    text = environment.get_template(MARKDOWN_TEMPLATE).render(report=report, version=__version__)
    return text.rstrip() + "\n"


def _environment(autoescape: bool):
    """Strict templates: an undefined name or attribute raises (a bug in edgeml, never a blank cell)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=autoescape, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.tests["number_cell"] = lambda cell: bool(_NUMBER_CELL.match(cell))
    environment.globals["unknown_block"] = _unknown_block
    return environment


def _unknown_block(block: object) -> str:
    raise TypeError(f"unknown report block {block!r}")


def _data_uri(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EdgeMLError(f"cannot read the image {path}: {exc.strerror or exc}") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _markdown_alignment(header: Sequence[str], rows: Sequence[Sequence[str]], escape: bool = True) -> list[str]:
    """``---:`` for a column (not the first) whose every cell is a number or a dash; ``---`` otherwise."""
    if not escape:
        return ["---"] * len(header)
    return ["---:" if index > 0 and rows and all(_NUMBER_CELL.match(row[index]) or row[index] == NOTHING
                                                  for row in rows) else "---"
            for index in range(len(header))]


def _image_markdown(figure: Figure) -> str:
    return f"![{_md(figure.caption or figure.path)}]({quote(figure.path)})"


def _md(text: str) -> str:
    """Markdown renderers pass raw HTML through, so text is HTML-escaped here too."""
    return html.escape(str(text), quote=False)


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside ``text``."""
    return "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
