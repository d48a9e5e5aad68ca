"""The run report: ``report.html`` (one self-contained file) and ``report.md``, from a run directory.

``build_report`` reads what the pipeline's stages left in the run directory into sections of typed
blocks (facts, tables, figures, code, details on demand); ``render_html`` and ``render_markdown`` render
those same blocks through the Jinja2 templates in ``report_templates/`` (HTML autoescaped; both with
``StrictUndefined``); ``write_report`` writes both files. An artifact a stage did not produce becomes a
one-line note that names the stage. The artifacts are read through typed accessors (:class:`_Contents`):
a corrupt JSON file, a missing key or a value of the wrong type is one EdgeMLError naming the file and
the key, and any other exception raised while a section is built is edgeml's bug and propagates. The
HTML embeds every image as a base64 data URI and its CSS inline, and needs no JavaScript, so it can be
mailed or archived alone; the Markdown refers to the images by their paths relative to the run directory.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence, Union
from urllib.parse import quote

from edgeml import __version__
from edgeml.artifacts import read_json, write_text
from edgeml.benchmark import arena_cell, flash_cell, is_qemu_device
from edgeml.errors import EdgeMLError
from edgeml.qemu_target import INSTRUCTIONS_NOTE
from edgeml.rundir import (
    BENCHMARK_FILE, CONFIG_FILE, CONFUSION_PLOT, EXPORT_FILE, FIRMWARE_DIR, HISTORY_FILE, HISTORY_PLOT, HTML_REPORT,
    INT8_PREFIX, LATENCY_PLOT, MARKDOWN_REPORT, METRICS_FILE, PIPELINE_FILE, QUANTIZATION_FILE, ROC_PLOT, SUMMARY_FILE,
)

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
}
JSON_ARTIFACTS = tuple(name for name in STAGE_OF_ARTIFACT if name.endswith(".json")) + (PIPELINE_FILE,)
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


Block = Union[Text, Note, Facts, Table, Figures, Code, Bullets, Details]


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


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path


# ----------------------------------------------------------------------------------------------- API


def write_report(run_dir: Path | str, title: str | None = None) -> ReportFiles:
    """Write ``report.html`` and ``report.md`` into ``run_dir`` (each atomically) and return their paths."""
    report = build_report(run_dir, title)
    html_path = write_text(report.run_dir / HTML_REPORT, render_html(report))
    markdown_path = write_text(report.run_dir / MARKDOWN_REPORT, render_markdown(report))
    return ReportFiles(html=html_path, markdown=markdown_path)


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
class StageOutcome:
    """One stage of the pipeline's last run, as pipeline.json records it."""

    name: str
    status: str
    seconds: float | None
    error: str | None


@dataclass(frozen=True)
class _Run:
    """Every JSON artifact of a run directory, read once (None when the stage did not write it)."""

    run_dir: Path
    json: dict[str, "_Contents | None"]
    stages: tuple[StageOutcome, ...]

    @classmethod
    def load(cls, run_dir: Path) -> "_Run":
        if not run_dir.is_dir():
            raise EdgeMLError(f"run directory not found: {run_dir}")
        loaded = {name: _read_object(run_dir / name) for name in JSON_ARTIFACTS}
        pipeline = loaded[PIPELINE_FILE]
        return cls(run_dir=run_dir, json=loaded, stages=_outcomes(pipeline) if pipeline is not None else ())

    def get(self, name: str) -> "_Contents | None":
        return self.json[name]

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

    def figures(self, *figures: tuple[str, str, str]) -> list[Block]:
        """The (path, caption, written_with) images that exist, side by side, then a note for each missing
        one, unless the JSON file written with it is missing too (that file's note says it all)."""
        present, notes = [], []
        for path, caption, written_with in figures:
            if not self.exists(path):
                if self.get(written_with) is not None:
                    notes.append(self.missing(path))
            elif not _is_png(self.run_dir / path):
                notes.append(Note(f"{path} is not a PNG image"))
            else:
                present.append(Figure(path, caption))
        return ([Figures(tuple(present))] if present else []) + notes


def _outcomes(pipeline: "_Contents") -> tuple[StageOutcome, ...]:
    """The last run's stage outcomes ({name, status, seconds, error}). edgeml.pipeline keeps them under
    "last_run", beside "stages", which there maps each stage's name to its fingerprints; a list of
    outcomes under "stages" is read too."""
    if "last_run" in pipeline:
        entries = pipeline.objects("last_run")
    elif isinstance(pipeline.raw("stages"), dict):
        entries = []
    else:
        entries = pipeline.objects("stages")
    return tuple(StageOutcome(entry.text("name", required=True), entry.text("status") or "?", entry.number("seconds"),
                              entry.text("error")) for entry in entries)


def _read_object(path: Path) -> "_Contents | None":
    if not path.is_file():
        return None
    data = read_json(path, path.name)
    if not isinstance(data, dict):
        raise EdgeMLError(f"{path} is not an edgeml artifact: expected a JSON object, found {type(data).__name__}")
    return _Contents(data, path)


class _Contents:
    """One JSON object of an artifact, read back through typed accessors.

    A required key the file lacks, or a value of the wrong type, is one EdgeMLError naming the file and the
    key's path (``rows[2].latency_us.p50``): that is the user's file. Section code reads nothing else, so
    any other exception it raises is edgeml's own bug and propagates as one. An optional key that is
    absent or null reads as None (an empty object, an empty list).
    """

    def __init__(self, data: dict[str, Any], path: Path, where: str = "") -> None:
        self.data, self.path, self.where = data, path, where

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def keys(self) -> list[str]:
        return list(self.data)

    def raw(self, key: str) -> Any:
        """The value as JSON gave it, for display only (``str`` or :func:`_plain` of it)."""
        return self.data.get(key)

    def number(self, key: str, required: bool = False) -> float | None:
        value = self._value(key, required)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "a number")
        return float(value)

    def integer(self, key: str, required: bool = False) -> int | None:
        value = self.number(key, required)
        if value is not None and not value.is_integer():
            raise self._wrong(key, "a whole number")
        return None if value is None else int(value)

    def text(self, key: str, required: bool = False) -> str | None:
        """A string, number or true/false as text; None when absent or null and not required."""
        value = self._value(key, required)
        if value is None and not required:
            return None
        if not isinstance(value, (str, int, float, bool)):
            raise self._wrong(key, "a text")
        return str(value)

    def flag(self, key: str) -> bool:
        return bool(self.data.get(key))

    def object(self, key: str, required: bool = False) -> "_Contents":
        value = self._value(key, required)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return _Contents(value, self.path, f"{self.where}{key}.")

    def objects(self, key: str, required: bool = False) -> list["_Contents"]:
        items = self._list(key, required)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self._wrong(key, "a list of objects", f"{key}[{index}]", item)
        return [_Contents(item, self.path, f"{self.where}{key}[{index}].") for index, item in enumerate(items)]

    def strings(self, key: str, required: bool = False) -> list[str]:
        items = self._list(key, required)
        for index, item in enumerate(items):
            if not isinstance(item, (str, int, float, bool)):
                raise self._wrong(key, "a list of texts", f"{key}[{index}]", item)
        return [str(item) for item in items]

    def numbers(self, key: str) -> list[float]:
        items = self._list(key, required=False)
        for index, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise self._wrong(key, "a list of numbers", f"{key}[{index}]", item)
        return [float(item) for item in items]

    def _list(self, key: str, required: bool) -> list[Any]:
        value = self._value(key, required)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def _value(self, key: str, required: bool) -> Any:
        if required and key not in self.data:
            raise EdgeMLError(f"{self.path} does not have the contents edgeml expects (missing key {self.where}{key})")
        return self.data.get(key)

    def _wrong(self, key: str, expected: str, where: str | None = None, found: Any = None) -> EdgeMLError:
        value = self.data.get(key) if where is None else found
        return EdgeMLError(f"{self.path} does not have the contents edgeml expects ({self.where}{where or key}: "
                           f"expected {expected}, found {_json_type(value)})")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object"


def _is_png(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(PNG_MAGIC)) == PNG_MAGIC


def _default_title(run: _Run) -> str:
    config = run.get(CONFIG_FILE)
    if config is None:
        return f"edgeml run report: {run.run_dir.resolve().name}"
    return f"edgeml run report: {_model_name(config)} on {config.object('dataset', True).text('name', True)}"


def _model_name(config: _Contents) -> str:
    train = config.object("train")
    if train.text("model_path"):
        return Path(train.text("model_path")).name
    return train.object("model").text("arch") or "model"


# ------------------------------------------------------------------------------------------ sections


def _stages_section(run: _Run) -> Section:
    if run.get(PIPELINE_FILE) is None:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} not found: the stages' status is unknown"),))
    if not run.stages:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} records no stage outcomes"),))
    rows = tuple((stage.name, stage.status, _number(stage.seconds, ".1f"), stage.error or "") for stage in run.stages)
    total_s = sum(stage.seconds or 0 for stage in run.stages)
    return Section("stages", "Stages", (Table(("stage", "status", "seconds", "error"), rows),
                                        Text(f"{len(rows)} stages, {total_s:.1f} s in total.")))


def _dataset_section(run: _Run) -> Section:
    config = run.get(CONFIG_FILE)
    if config is None:
        return Section("dataset", "Dataset", (run.missing(CONFIG_FILE),))
    dataset = config.object("dataset", required=True)
    class_names = dataset.strings("class_names")
    normalization = dataset.object("normalization")
    input_fit = dataset.text("input_fit")
    facts = [
        ("name", dataset.text("name", required=True)),
        ("source", dataset.text("source") or NOTHING),
        ("input shape", " × ".join(dataset.strings("input_shape")) or NOTHING),
        ("classes", f"{len(class_names)}: {', '.join(class_names)}"),
        ("normalisation", _normalization_text(normalization) if normalization else NOTHING),
        *([("input fit", input_fit)] if input_fit else []),
        ("training samples", _count(dataset.integer("train_samples"))),
        ("test samples", _count(dataset.integer("test_samples"))),
    ]
    return Section("dataset", "Dataset", (Facts(tuple(facts)),))


def _model_section(run: _Run) -> Section:
    blocks: list[Block] = []
    summary = (run.run_dir / SUMMARY_FILE).read_text(encoding="utf-8", errors="replace") \
        if run.exists(SUMMARY_FILE) else None
    config = run.get(CONFIG_FILE)
    facts = []
    if config is not None:
        train = config.object("train")
        if train.text("model_path"):
            facts.append(("model", f"your model {train.text('model_path')}"))
        else:
            spec = train.object("model")
            facts.append(("architecture", spec.text("arch") or NOTHING))
            facts.append(("options", ", ".join(f"{key} {_plain(spec.raw(key))}" for key in spec.keys()
                                               if _applies(key, spec))))
    parameters = _parameter_count(run, summary)
    if parameters is not None:
        facts.append(("parameters", f"{parameters:,} ({4 * parameters:,} bytes as float32, "
                                    f"{parameters:,} bytes as int8)"))
    if facts:
        blocks.append(Facts(tuple(facts)))
    elif config is None:
        blocks.append(run.missing(CONFIG_FILE))
    if summary is not None:
        model_summary = summary.split("\nfit diagnosis:")[0].rstrip()
        blocks.append(Code("model.summary()", model_summary))
    else:
        blocks.append(run.missing(SUMMARY_FILE))
    return Section("model", "Model", tuple(blocks))


def _applies(option: str, spec: _Contents) -> bool:
    """Whether a recorded ModelSpec option shaped the model (the MLP has no convs; no BN, no momentum)."""
    if option == "arch":
        return False
    if option in ("filters", "kernel_size", "pooling"):
        return spec.raw("arch") != "mlp"
    if option == "bn_momentum":
        return spec.flag("batchnorm")
    return True


def _parameter_count(run: _Run, summary: str | None) -> int | None:
    quantization = run.get(QUANTIZATION_FILE)
    if quantization is not None:
        recorded = quantization.raw("parameter_count")
        if isinstance(recorded, int) and not isinstance(recorded, bool):
            return recorded
    found = re.search(r"Total params:\s*([\d,]+)", summary or "")
    return int(found.group(1).replace(",", "")) if found else None


def _training_section(run: _Run) -> Section:
    blocks: list[Block] = []
    config, history = run.get(CONFIG_FILE), run.get(HISTORY_FILE)
    facts: list[tuple[str, str]] = []
    if config is not None:
        train, result = config.object("train"), config.object("result")
        facts += [
            ("test accuracy", _accuracy(result.number("test_accuracy"))),
            ("test loss", _number(result.number("test_loss"), ".4f")),
            ("best epoch", f"{_plain(result.raw('best_epoch'))} of {_plain(result.raw('epochs_run'))} run"),
            ("fit diagnosis", result.text("diagnosis") or NOTHING),
            ("optimizer", f"{_plain(train.raw('optimizer'))}, learning rate {_plain(train.raw('lr'))}, "
                          f"batch size {_plain(train.raw('batch_size'))}"),
            ("wall time", f"{_number(result.number('wall_time_s'), '.1f')} s"),
        ]
        if result.flag("interrupted"):
            facts.append(("interrupted", "yes: the run was completed from the best checkpoint"))
    elif history is not None:
        facts += [("best epoch", _plain(history.raw("best_epoch"))),
                  ("fit diagnosis", history.text("diagnosis") or NOTHING)]
    if history is not None:
        curves = history.object("history", required=True)
        final = [(name, values[-1]) for name in curves.keys() if (values := curves.numbers(name))]
        if final:
            facts.append(("last epoch", ", ".join(f"{name} {value:.4f}" for name, value in final)))
    if facts:
        blocks.append(Facts(tuple(facts)))
    else:
        blocks.append(run.missing(CONFIG_FILE))
    blocks += run.figures((HISTORY_PLOT, "accuracy and loss per epoch, train vs validation", HISTORY_FILE))
    if history is None:
        blocks.append(run.missing(HISTORY_FILE))
    return Section("training", "Training", tuple(blocks))


def _evaluation_section(run: _Run) -> Section:
    float_metrics, int8_metrics = run.get(METRICS_FILE), run.get(INT8_PREFIX + METRICS_FILE)
    models = (("Keras float", METRICS_FILE, float_metrics), ("int8 TFLite", INT8_PREFIX + METRICS_FILE, int8_metrics))
    blocks: list[Block] = [run.missing(name) for _, name, metrics in models if metrics is None]
    measured = [(label, metrics) for label, _, metrics in models if metrics is not None]
    if measured:
        headline = tuple(
            (label, _accuracy(metrics.number("accuracy", required=True)), _number(metrics.number("loss"), ".4f"),
             _number(metrics.number("auc_micro"), ".4f"), _number(metrics.number("auc_macro"), ".4f"),
             _count(metrics.integer("num_samples")))
            for label, metrics in measured)
        blocks.append(Table(("model", "accuracy", "loss", "AUC micro", "AUC macro", "samples"), headline))
    blocks += run.figures((CONFUSION_PLOT, "confusion matrix, Keras float", METRICS_FILE),
                          (INT8_PREFIX + CONFUSION_PLOT, "confusion matrix, int8 TFLite", INT8_PREFIX + METRICS_FILE))
    blocks += run.figures((ROC_PLOT, "ROC, Keras float", METRICS_FILE),
                          (INT8_PREFIX + ROC_PLOT, "ROC, int8 TFLite", INT8_PREFIX + METRICS_FILE))
    if measured:
        blocks.append(Text("Per class (accuracy here is the class's recall: the share of its samples "
                           "classified correctly):"))
        blocks.append(_per_class_table(float_metrics, int8_metrics))
    return Section("evaluation", "Evaluation", tuple(blocks))


def _per_class_table(float_metrics: _Contents | None, int8_metrics: _Contents | None) -> Table:
    float_rows, int8_rows = (
        {} if metrics is None else
        {row.text("name", required=True): row for row in metrics.objects("per_class", required=True)}
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
        cells = [name, _count((float_row or int8_row).integer("support"))]
        if float_rows:
            cells += [_number(float_row.number(key) if float_row else None, ".4f")
                      for key in ("precision", "recall", "f1", "auc")]
        if int8_rows:
            cells += [_number(int8_row.number(key) if int8_row else None, ".4f") for key in ("precision", "recall", "f1")]
        if float_rows and int8_rows:
            cells.append(_number(int8_row.number("f1", True) - float_row.number("f1", True), "+.4f")
                         if float_row and int8_row else NOTHING)
        rows.append(tuple(cells))
    return Table(header, tuple(rows))


def _quantization_section(run: _Run) -> Section:
    quantization = run.get(QUANTIZATION_FILE)
    if quantization is None:
        return Section("quantization", "Quantization", (run.missing(QUANTIZATION_FILE),))
    keras_accuracy = quantization.number("keras_float_accuracy")
    qat_epochs = quantization.raw("qat_epochs")
    facts = [
        ("method", (quantization.text("method") or NOTHING) + (f", {qat_epochs} QAT epoch(s)" if qat_epochs else "")),
        ("int8 input/output", quantization.text("io") or NOTHING),
        ("calibration samples", _count(quantization.integer("calibration_samples"))),
        ("measured with", f"{quantization.text('runtime') or NOTHING} on "
                          f"{_count(quantization.integer('test_samples'))} test samples"),
        ("Keras float accuracy", _accuracy(keras_accuracy)),
    ]
    rows = []
    for variant in quantization.objects("variants", required=True):
        accuracy = variant.number("accuracy", required=keras_accuracy is not None)
        change = (accuracy - keras_accuracy) * 100 if keras_accuracy is not None else None
        rows.append((
            variant.text("name", required=True), variant.text("file") or NOTHING, _count(variant.integer("size_bytes")),
            _accuracy(accuracy), _number(change, "+.2f"), _percent(variant.number("agreement_with_float")),
            _number(variant.number("mean_abs_diff"), ".5f"), _number(variant.number("max_abs_diff"), ".4f"),
            "yes" if variant.flag("fully_int8") else "no",
        ))
    lines = []
    ratio = quantization.number("int8_to_float32_size")
    if ratio is not None:
        lines.append(f"int8 / float32 file size: {ratio:.3f} ({ratio:.1%} of the float32 file).")
    floor = quantization.object("parameter_floor_bytes")
    if floor:
        lines.append(f"Parameter floor (one byte per parameter in int8, four in float32): "
                     f"{_count(floor.integer('int8'))} bytes int8, {_count(floor.integer('float32'))} bytes float32.")
    table = Table(("variant", "file", "bytes", "accuracy", "Δ vs Keras (pp)", "agreement", "mean |Δp|",
                   "max |Δp|", "fully int8"), tuple(rows))
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
    benchmark = run.get(name)
    if benchmark is None:
        plot = run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", name))
        return Section("benchmark", "Benchmark", (run.missing(name), *plot))
    blocks: list[Block] = []
    host = benchmark.object("host")
    if host:
        blocks.append(Facts(tuple((key, str(host.raw(key))) for key in host.keys())))
    rows, details = [], []
    for row in (row for row in benchmark.objects("rows", required=True) if not is_qemu_device(row.raw("device"))):
        latency = row.object("latency_us", required=True)
        named = (row.text("source") or "host", row.text("model", required=True),
                 f"{row.text('runtime', required=True)} {row.text('runtime_version') or ''}".strip())
        rows.append((
            *named, _accuracy(row.number("accuracy")), _percent(row.number("agreement_with_float")),
            _number(latency.number("p50"), ",.1f"), _number(latency.number("p99"), ",.1f"),
            _count(row.integer("file_bytes")), arena_cell(_memory(row), ",") or NOTHING,
            flash_cell(_memory(row), ",") or NOTHING,
        ))
        details.append((
            *named, _plain(row.raw("threads")), _number(latency.number("p90"), ",.1f"),
            _number(row.number("init_ms"), ",.1f"), _number(row.number("first_invoke_ms"), ",.2f"),
            _number(row.number("throughput_per_s"), ",.0f"), _mebibytes(row.integer("peak_rss_bytes")),
        ))
    if rows:
        blocks.append(Table(BENCHMARK_COLUMNS, tuple(rows)))
        if any(row[-2:] != (NOTHING, NOTHING) for row in rows):
            blocks.append(Text(BENCHMARK_LEGEND))
        blocks.append(Details(BENCHMARK_DETAILS, (Table(BENCHMARK_DETAIL_COLUMNS, tuple(details)),)))
    else:
        blocks.append(Note(f"{name} holds no host measurements, only the emulated Cortex-M's (below)"))
    blocks += run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", name))
    ratio_lines = [_ratio_line(ratio) for ratio in benchmark.objects("latency_ratios")]
    if ratio_lines:
        blocks.append(Text("int8 over float32, p50 latency in the same runtime and place:"))
        blocks.append(Bullets(tuple(ratio_lines)))
    blocks += [block for parity in benchmark.objects("parity") for block in _parity_blocks(parity)]
    skipped = tuple(benchmark.strings("skipped"))
    if skipped:
        blocks.append(Text("Not measured:"))
        blocks.append(Bullets(skipped))
    return Section("benchmark", "Benchmark", tuple(blocks))


def _memory(row: _Contents) -> dict[str, Any]:
    """The row's RAM and flash keys, type-checked, for :func:`edgeml.benchmark.arena_cell` / ``flash_cell``."""
    return {"arena_bytes": row.integer("arena_bytes"), "static_ram_bytes": row.integer("static_ram_bytes"),
            "arena_not_measured": row.text("arena_not_measured"), "flash_bytes": row.integer("flash_bytes"),
            "flash_not_measured": row.text("flash_not_measured")}


def _parity_blocks(parity: _Contents, model: str | None = None) -> list[Block]:
    """The four-way parity of one model: each runtime against the tflite-micro interpreter."""
    samples = parity.integer("samples", required=True)
    rows = tuple(
        (row.text("runtime", True), f"not run: {row.text('not_run')}", NOTHING, NOTHING) if row.text("not_run") else
        (row.text("runtime", True), f"{row.integer('differing_vectors', True)}/{samples}",
         _number(row.number("max_lsb"), "g"), row.text("first_divergence") or NOTHING)
        for row in parity.objects("runtimes", required=True)
    )
    return [Text(f"Parity of {model or parity.text('model', True)} against the {parity.text('baseline', True)} "
                 f"({parity.text('inputs', True)}):"),
            Table(("runtime", "differing output vectors", "max LSB", "first divergence"), rows)]


def _engines_side_by_side(export: _Contents, c_engine: _Contents) -> list[Block]:
    """TFLite Micro's export and the C engine's (firmware/c_engine/): RAM, flash, ops and parity."""
    tflm_arena = export.integer("arena_bytes")
    tflm_exported = tflm_arena is not None
    tflm_flash, c_flash = export.integer("flash_bytes"), c_engine.integer("flash_bytes")
    rows = (
        ("RAM bytes (TFLM: arena, which holds input and output; C: arena + input + output)",
         _count(tflm_arena) if tflm_exported else "not exported",
         f"{_count(c_engine.integer('static_ram_bytes', True))} ({_count(c_engine.integer('arena_bytes', True))} + "
         f"{_count(c_engine.integer('input_bytes', True))} + {_count(c_engine.integer('output_bytes', True))})"),
        ("flash bytes (text + data, Cortex-M4 -Os)",
         f"{_count(tflm_flash)} model array + the TFLM library (not measured)" if tflm_flash is not None
         else "not measured" if tflm_exported else "not exported",
         _count(c_flash) if c_flash is not None else f"not measured: {c_engine.text('flash_not_measured')}"),
        ("ops", str(len(export.strings("ops"))) if tflm_exported else "not exported",
         str(len(c_engine.strings("ops", required=True)))),
        ("files", f"firmware/ ({len(export.strings('files'))})" if tflm_exported else "not exported",
         f"firmware/{c_engine.text('dir', True)}/ ({len(c_engine.strings('files', required=True))})"),
    )
    blocks: list[Block] = [Text("TFLite Micro and edgeml's C engine, side by side:"),
                           Table(("", "TFLite Micro", "C engine"), rows)]
    parity = c_engine.object("parity")
    if parity:
        blocks += _parity_blocks(parity, model="the exported model")
    return blocks


def _ratio_line(ratio: _Contents) -> str:
    value = ratio.number("int8_over_float32_p50", required=True)
    verdict = f"int8 {1 / value:.2f}× faster" if value < 1 else f"int8 {value:.2f}× slower" if value > 1 else "equal"
    return (f"{ratio.text('model', True)} on {ratio.text('runtime', True)} ({ratio.text('source') or 'host'}): "
            f"{value:.3f} — {verdict}")


# The emulated Cortex-M (issue 13): what a missing measurement needs, and how many ops to show per model.
QEMU_TOOLS = ("arm-none-eabi-gcc with newlib-nano and qemu-system-arm (Debian/Ubuntu: sudo apt install "
              "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
QEMU_TOOL_NAMES = ("arm-none-eabi", "qemu-system-arm", "newlib")
TOP_OPS = 3
MICROCONTROLLER_COLUMNS = ("device", "board", "model", "samples", "accuracy", "agreement", "instructions / inference",
                           "flash bytes", "RAM bytes")


@dataclass(frozen=True)
class OpInstructions:
    """One op's instructions per inference on the emulated board; MACs for FULLY_CONNECTED and convolutions."""

    op_index: int
    op: str
    instructions: float
    macs: int | None
    instructions_per_mac: float | None


@dataclass(frozen=True)
class QemuMeasurement:
    """One model on one emulated Cortex-M board, read from a ``qemu:`` row of benchmark.json
    (:meth:`edgeml.qemu_target.QemuResult.to_row`), or the reason it was not measured (``not_measured``).

    Instruction counts are means per inference (QEMU ``-icount shift=0``), ``resolution`` the instructions
    per SysTick count; bytes are of the linked image (flash: text + rodata + data; RAM: data + bss + the
    painted stack's peak), each split by owner (``flash_parts``, ``ram_parts``: name and bytes).
    """

    device: str
    board: str | None
    model: str
    not_measured: str | None = None
    samples: int | None = None
    accuracy: float | None = None
    agreement_with_host_c: float | None = None
    agreement_with_tflm: float | None = None
    instructions_per_inference: float | None = None
    resolution: float | None = None
    ops: tuple[OpInstructions, ...] = ()
    flash_bytes: int | None = None
    flash_parts: tuple[tuple[str, int], ...] = ()
    ram_bytes: int | None = None
    ram_parts: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_row(cls, row: _Contents) -> "QemuMeasurement":
        device, board, model = row.text("device", True), row.text("machine"), row.text("model") or NOTHING
        if row.text("not_measured"):
            return cls(device, board, model, not_measured=row.text("not_measured"))
        instructions, flash, ram = (row.object(key, required=True) for key in ("instructions", "flash", "ram"))
        ops = tuple(OpInstructions(op.integer("op_index", True), op.text("op", True), op.number("instructions", True),
                                   op.integer("macs"), op.number("instructions_per_mac"))
                    for op in instructions.objects("per_op"))
        flash_parts = tuple((label, flash.integer(key, True)) for label, key in (
            ("engine", "engine_bytes"), ("model", "model_bytes"), ("harness", "harness_bytes")))
        if "samples_bytes" in flash:
            flash_parts += (("samples", flash.integer("samples_bytes", True)),)
        ram_parts = tuple((label, ram.integer(key, True)) for label, key in (
            ("model buffers", "model_bytes"), ("engine stack", "engine_stack_bytes"), ("harness", "harness_bytes")))
        return cls(device, board, model, samples=row.integer("samples", True), accuracy=row.number("accuracy"),
                   agreement_with_host_c=row.number("agreement_with_host_c", True),
                   agreement_with_tflm=row.number("agreement_with_tflm", True),
                   instructions_per_inference=instructions.number("per_inference", True),
                   resolution=instructions.number("resolution", True), ops=ops,
                   flash_bytes=flash.integer("total_bytes", True), flash_parts=flash_parts,
                   ram_bytes=ram.integer("total_bytes", True), ram_parts=ram_parts)

    def top_ops(self, count: int = TOP_OPS) -> tuple[OpInstructions, ...]:
        """The ``count`` ops with the most instructions, most first (ties in graph order)."""
        return tuple(sorted(self.ops, key=lambda op: -op.instructions)[:count])


def _microcontroller_section(run: _Run) -> Section:
    title = "Microcontroller (emulated)"
    benchmark = run.get(BENCHMARK_FILE)
    if benchmark is None:
        return Section("microcontroller", title, (run.missing(BENCHMARK_FILE),))
    measurements = [QemuMeasurement.from_row(row) for row in benchmark.objects("rows", required=True)
                    if is_qemu_device(row.raw("device"))]
    if not measurements:
        return Section("microcontroller", title, (Note(
            f"no emulated Cortex-M in {BENCHMARK_FILE}: edgeml benchmark RUN_DIR --device qemu:cortex-m4 runs the "
            f"int8 model in edgeml's C engine on an emulated Cortex-M4; it needs {QEMU_TOOLS}"),))
    measured = [measurement for measurement in measurements if measurement.not_measured is None]
    blocks: list[Block] = []
    if measured:
        blocks.append(Table(MICROCONTROLLER_COLUMNS, tuple(_microcontroller_row(m) for m in measured)))
        for measurement in measured:
            blocks += _microcontroller_details(measurement)
        resolutions = sorted({measurement.resolution for measurement in measured})
        blocks.append(Text(
            f"Agreement: the share of samples whose outputs are byte-identical to both edgeml's C engine built on "
            f"this machine and the tflite-micro interpreter (a difference fails the benchmark). Counts are "
            f"{INSTRUCTIONS_NOTE.format(resolution=resolutions[-1])}: each op's count (a mean over the profiled "
            f"samples) has a resolution of {' or '.join(format(value, 'g') for value in resolutions)} "
            f"instructions; an M4 and an M7 give the same counts for the same code."))
    missing = tuple(f"{m.device}{f' ({m.board})' if m.board else ''}, {m.model}: not measured: "
                    f"{_with_install_hint(m.not_measured)}" for m in measurements if m.not_measured is not None)
    if missing:
        blocks.append(Text("Not measured:"))
        blocks.append(Bullets(missing))
    return Section("microcontroller", title, tuple(blocks))


def _microcontroller_row(measurement: QemuMeasurement) -> tuple[str, ...]:
    return (measurement.device, measurement.board or NOTHING, measurement.model, _count(measurement.samples),
            _accuracy(measurement.accuracy),
            _percent(min(measurement.agreement_with_host_c, measurement.agreement_with_tflm)),
            _number(measurement.instructions_per_inference, ",.0f"), _count(measurement.flash_bytes),
            _count(measurement.ram_bytes))


def _microcontroller_details(measurement: QemuMeasurement) -> list[Block]:
    """Where the bytes go, and the ops with the most instructions."""
    def parts(split: tuple[tuple[str, int], ...]) -> str:
        return " + ".join(f"{label} {size:,}" for label, size in split)

    blocks: list[Block] = [Text(
        f"{measurement.model} on {measurement.device}: flash {_count(measurement.flash_bytes)} = "
        f"{parts(measurement.flash_parts)} (text + rodata + data); RAM {_count(measurement.ram_bytes)} = "
        f"{parts(measurement.ram_parts)} (data + bss + stack peak by stack painting).")]
    top = measurement.top_ops()
    if top:
        blocks.append(Text(f"The {len(top)} ops with the most instructions of {len(measurement.ops)} "
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
    name = EXPORT_FILE
    export = run.get(name)
    if export is None:
        return Section("firmware", "Firmware", (run.missing(name),))
    firmware_dir = run.run_dir / FIRMWARE_DIR
    file_rows = []
    for file_name in export.strings("files"):
        path = firmware_dir / file_name
        file_rows.append((file_name, _count(path.stat().st_size) if path.is_file() else "missing"))
    flash = export.integer("flash_bytes")
    arena_minimum = export.integer("arena_minimum_bytes")
    arena_detail = "" if arena_minimum is None else (
        f" (measured minimum {_count(arena_minimum)} + margin {_count(export.integer('arena_margin_bytes'))})")
    ops = export.strings("ops")
    facts = [
        ("symbol", export.text("symbol") or NOTHING),
        ("model sha256", export.text("model_sha256") or NOTHING),
        ("flash: model array", f"{_count(export.integer('model_bytes'))} bytes"),
        ("flash: model object (text + data)",
         f"{_count(flash)} bytes (arm-none-eabi-size)" if flash is not None
         else f"not measured: {export.text('flash_not_measured') or 'no reason recorded'}"),
        ("RAM: tensor arena", f"{_count(export.integer('arena_bytes'))} bytes{arena_detail}"),
        ("ops", f"{len(ops)}: {', '.join(ops)}" if ops else NOTHING),
        ("TFLM vs LiteRT parity", export.text("parity") or "not checked"),
    ]
    size_output = export.text("arm_size_output")
    warnings = tuple(export.strings("warnings"))
    c_engine = export.object("c_engine")
    blocks: list[Block] = [Facts(tuple(facts))]
    if c_engine:
        blocks += _engines_side_by_side(export, c_engine)
    blocks.append(Table(("file", "bytes"), tuple(file_rows)) if file_rows else Note("export.json lists no files"))
    if warnings:
        blocks.append(Text("Warnings:"))
        blocks.append(Bullets(warnings))
    if size_output:
        blocks.append(Code("arm-none-eabi-size", size_output))
    header = firmware_dir / FIRMWARE_CONFIG_HEADER
    if header.is_file():
        text = header.read_text(encoding="utf-8", errors="replace")
        blocks.append(Code(f"{FIRMWARE_DIR}/{FIRMWARE_CONFIG_HEADER}", text, "c"))
    else:
        blocks.append(Note(f"{FIRMWARE_DIR}/{FIRMWARE_CONFIG_HEADER} not found"))
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


def _normalization_text(normalization: _Contents) -> str:
    """``model_input = (raw − 0) / 255 (pixels: default for pixel data)``; per-channel values in brackets."""
    def values(key: str) -> str:
        value = normalization.raw(key)
        return f"[{_plain(value)}]" if isinstance(value, (list, tuple)) else _plain(value)

    per_channel = any(isinstance(normalization.raw(key), (list, tuple)) for key in ("mean", "std"))
    text = f"model_input = (raw − {values('mean')}) / {values('std')}" + (" per channel (last axis)" if per_channel else "")
    how = ": ".join(part for part in (normalization.text("method"), normalization.text("note")) if part)
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
    return environment.get_template(HTML_TEMPLATE).render(
        report=report, version=__version__, run_name=report.run_dir.resolve().name)


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
