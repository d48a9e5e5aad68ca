"""The run report: ``report.html`` (one self-contained file) and ``report.md``, from a run directory.

``build_report`` reads what the pipeline's stages left in the run directory into sections of plain
blocks (facts, tables, figures, code); ``render_html`` and ``render_markdown`` turn those into text;
``write_report`` writes both files. An artifact a stage did not produce becomes a one-line note that
names the stage; a corrupt JSON file is an EdgeMLError naming it. The HTML embeds every image as a
base64 data URI and its CSS inline, and needs no JavaScript, so it can be mailed or archived alone;
the Markdown refers to the images by their paths relative to the run directory.
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, Union
from urllib.parse import quote

from edgeml import __version__
from edgeml.artifacts import read_json, write_text
from edgeml.benchmark import arena_cell, flash_cell
from edgeml.errors import EdgeMLError
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


@dataclass(frozen=True)
class Note:
    """Something absent or not measured; rendered muted."""

    text: str


@dataclass(frozen=True)
class Facts:
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the run directory, with forward slashes
    caption: str


@dataclass(frozen=True)
class Figures:
    """Images shown side by side (one is fine)."""

    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class Code:
    caption: str
    text: str
    language: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = Union[Text, Note, Facts, Table, Figures, Code, Bullets]


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
        _firmware_section(run),
    )
    return Report(title=title or _default_title(run), run_dir=run.run_dir, sections=sections)


# ------------------------------------------------------------------------------------- the run's files


@dataclass(frozen=True)
class _Run:
    """Every JSON artifact of a run directory, read once (None when the stage did not write it)."""

    run_dir: Path
    json: dict[str, dict[str, Any] | None]
    stages: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, run_dir: Path) -> "_Run":
        if not run_dir.is_dir():
            raise EdgeMLError(f"run directory not found: {run_dir}")
        loaded = {name: _read_object(run_dir / name) for name in JSON_ARTIFACTS}
        stages: tuple[dict[str, Any], ...] = ()
        if loaded[PIPELINE_FILE] is not None:
            with _reading(run_dir / PIPELINE_FILE):
                stages = tuple({**stage, "name": str(stage["name"])} for stage in _outcomes(loaded[PIPELINE_FILE]))
        return cls(run_dir=run_dir, json=loaded, stages=stages)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.json[name]

    def exists(self, name: str) -> bool:
        return (self.run_dir / name).is_file()

    def missing(self, artifact: str) -> Note:
        """'<artifact> not produced (stage X did not run)', or what pipeline.json says about stage X."""
        stage = STAGE_OF_ARTIFACT.get(artifact, "?")
        entry = next((s for s in self.stages if s.get("name") == stage), None)
        if entry is None:
            why = f"stage {stage} did not run"
        elif entry.get("status") == "failed":
            why = f"stage {stage} failed: {entry.get('error') or 'no error recorded'}"
        elif entry.get("status") == "done":
            why = f"although stage {stage} is marked done"
        else:
            why = f"stage {stage}: {entry.get('status')}"
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


def _outcomes(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The last run's stage outcomes ({name, status, seconds, error}). edgeml.pipeline keeps them under
    "last_run", beside "stages", which there maps each stage's name to its fingerprints; a list of
    outcomes under "stages" is read too."""
    if "last_run" in pipeline:
        return list(pipeline["last_run"])
    stages = pipeline.get("stages", [])
    return [] if isinstance(stages, dict) else list(stages)


def _read_object(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = read_json(path, path.name)
    if not isinstance(data, dict):
        raise EdgeMLError(f"{path} is not an edgeml artifact: expected a JSON object, found {type(data).__name__}")
    return _Contents(data, path)


class _Contents(dict):
    """An artifact's JSON object read back: indexing a key the file lacks raises one EdgeMLError naming the
    file and the key's path (nested objects are checked alike), so a missing key is told apart from a
    KeyError in edgeml's own section code, which propagates."""

    def __init__(self, data: dict[str, Any], path: Path, where: str = "") -> None:
        super().__init__(data)
        self.path, self.where = path, where

    def _checked(self, key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return _Contents(value, self.path, f"{self.where}{key}.")
        if isinstance(value, list):
            return [_Contents(item, self.path, f"{self.where}{key}[{index}].") if isinstance(item, dict) else item
                    for index, item in enumerate(value)]
        return value

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise EdgeMLError(f"{self.path} does not have the contents edgeml expects (missing key {self.where}{key})")
        return self._checked(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._checked(key, super().__getitem__(key)) if key in self else default


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn a value of the wrong type in a well-formed JSON file into an EdgeMLError naming the file.
    Missing keys are reported by ``_Contents``; a KeyError here is edgeml's bug and propagates."""
    try:
        yield
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise EdgeMLError(f"{path} does not have the contents edgeml expects ({type(exc).__name__}: {exc})") from None


def _is_png(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(PNG_MAGIC)) == PNG_MAGIC


def _default_title(run: _Run) -> str:
    config = run.get(CONFIG_FILE)
    if config is None:
        return f"edgeml run report: {run.run_dir.resolve().name}"
    with _reading(run.run_dir / CONFIG_FILE):
        return f"edgeml run report: {_model_name(config)} on {config['dataset']['name']}"


def _model_name(config: dict[str, Any]) -> str:
    train = config.get("train", {})
    if train.get("model_path"):
        return Path(train["model_path"]).name
    return str(train.get("model", {}).get("arch", "model"))


# ------------------------------------------------------------------------------------------ sections


def _stages_section(run: _Run) -> Section:
    if run.get(PIPELINE_FILE) is None:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} not found: the stages' status is unknown"),))
    if not run.stages:
        return Section("stages", "Stages", (Note(f"{PIPELINE_FILE} records no stage outcomes"),))
    rows = []
    with _reading(run.run_dir / PIPELINE_FILE):
        for stage in run.stages:
            rows.append((str(stage["name"]), str(stage.get("status", "?")), _number(stage.get("seconds"), ".1f"),
                         str(stage.get("error") or "")))
        total_s = sum(float(stage.get("seconds") or 0) for stage in run.stages)
    blocks: list[Block] = [Table(("stage", "status", "seconds", "error"), tuple(rows))]
    blocks.append(Text(f"{len(rows)} stages, {total_s:.1f} s in total."))
    return Section("stages", "Stages", tuple(blocks))


def _dataset_section(run: _Run) -> Section:
    config = run.get(CONFIG_FILE)
    if config is None:
        return Section("dataset", "Dataset", (run.missing(CONFIG_FILE),))
    with _reading(run.run_dir / CONFIG_FILE):
        dataset = config["dataset"]
        class_names = [str(name) for name in dataset.get("class_names", [])]
        normalization = dataset.get("normalization") or {}
        facts = [
            ("name", str(dataset["name"])),
            ("source", str(dataset.get("source", NOTHING))),
            ("input shape", " × ".join(str(size) for size in dataset.get("input_shape", [])) or NOTHING),
            ("classes", f"{len(class_names)}: {', '.join(class_names)}"),
            ("normalisation", _normalization_text(normalization) if normalization else NOTHING),
            *([("input fit", str(dataset["input_fit"]))] if dataset.get("input_fit") else []),
            ("training samples", _count(dataset.get("train_samples"))),
            ("test samples", _count(dataset.get("test_samples"))),
        ]
    return Section("dataset", "Dataset", (Facts(tuple(facts)),))


def _model_section(run: _Run) -> Section:
    blocks: list[Block] = []
    summary = (run.run_dir / SUMMARY_FILE).read_text(encoding="utf-8", errors="replace") \
        if run.exists(SUMMARY_FILE) else None
    config = run.get(CONFIG_FILE)
    facts = []
    if config is not None:
        with _reading(run.run_dir / CONFIG_FILE):
            train = config.get("train", {})
            if train.get("model_path"):
                facts.append(("model", f"your model {train['model_path']}"))
            else:
                spec = train.get("model", {})
                facts.append(("architecture", str(spec.get("arch", NOTHING))))
                facts.append(("options", ", ".join(f"{key} {_plain(value)}" for key, value in spec.items()
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


def _applies(option: str, spec: dict[str, Any]) -> bool:
    """Whether a recorded ModelSpec option shaped the model (the MLP has no convs; no BN, no momentum)."""
    if option == "arch":
        return False
    if option in ("filters", "kernel_size", "pooling"):
        return spec.get("arch") != "mlp"
    if option == "bn_momentum":
        return bool(spec.get("batchnorm"))
    return True


def _parameter_count(run: _Run, summary: str | None) -> int | None:
    quantization = run.get(QUANTIZATION_FILE)
    if quantization is not None and isinstance(quantization.get("parameter_count"), int):
        return quantization["parameter_count"]
    found = re.search(r"Total params:\s*([\d,]+)", summary or "")
    return int(found.group(1).replace(",", "")) if found else None


def _training_section(run: _Run) -> Section:
    blocks: list[Block] = []
    config, history = run.get(CONFIG_FILE), run.get(HISTORY_FILE)
    facts: list[tuple[str, str]] = []
    if config is not None:
        with _reading(run.run_dir / CONFIG_FILE):
            train, result = config.get("train", {}), config.get("result", {})
            facts += [
                ("test accuracy", _accuracy(result.get("test_accuracy"))),
                ("test loss", _number(result.get("test_loss"), ".4f")),
                ("best epoch", f"{_plain(result.get('best_epoch'))} of {_plain(result.get('epochs_run'))} run"),
                ("fit diagnosis", str(result.get("diagnosis", NOTHING))),
                ("optimizer", f"{_plain(train.get('optimizer'))}, learning rate {_plain(train.get('lr'))}, "
                              f"batch size {_plain(train.get('batch_size'))}"),
                ("wall time", f"{_number(result.get('wall_time_s'), '.1f')} s"),
            ]
            if result.get("interrupted"):
                facts.append(("interrupted", "yes: the run was completed from the best checkpoint"))
    elif history is not None:
        with _reading(run.run_dir / HISTORY_FILE):
            facts += [("best epoch", _plain(history.get("best_epoch"))),
                      ("fit diagnosis", str(history.get("diagnosis", NOTHING)))]
    if history is not None:
        with _reading(run.run_dir / HISTORY_FILE):
            curves = history["history"]
            final = [(name, values[-1]) for name, values in curves.items() if values]
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
    measured = [(label, name, metrics) for label, name, metrics in models if metrics is not None]
    if measured:
        headline = []
        for label, name, metrics in measured:
            with _reading(run.run_dir / name):
                headline.append((label, _accuracy(metrics["accuracy"]), _number(metrics.get("loss"), ".4f"),
                                 _number(metrics.get("auc_micro"), ".4f"), _number(metrics.get("auc_macro"), ".4f"),
                                 _count(metrics.get("num_samples"))))
        blocks.append(Table(("model", "accuracy", "loss", "AUC micro", "AUC macro", "samples"), tuple(headline)))
    blocks += run.figures((CONFUSION_PLOT, "confusion matrix, Keras float", METRICS_FILE),
                          (INT8_PREFIX + CONFUSION_PLOT, "confusion matrix, int8 TFLite", INT8_PREFIX + METRICS_FILE))
    blocks += run.figures((ROC_PLOT, "ROC, Keras float", METRICS_FILE),
                          (INT8_PREFIX + ROC_PLOT, "ROC, int8 TFLite", INT8_PREFIX + METRICS_FILE))
    if measured:
        blocks.append(Text("Per class (accuracy here is the class's recall: the share of its samples "
                           "classified correctly):"))
        blocks.append(_per_class_table(run, float_metrics, int8_metrics))
    return Section("evaluation", "Evaluation", tuple(blocks))


def _per_class_table(run: _Run, float_metrics: dict | None, int8_metrics: dict | None) -> Table:
    per_model: list[dict[str, dict[str, Any]]] = []
    for name, metrics in ((METRICS_FILE, float_metrics), (INT8_PREFIX + METRICS_FILE, int8_metrics)):
        if metrics is not None:
            with _reading(run.run_dir / name):
                per_model.append({str(row["name"]): row for row in metrics["per_class"]})
        else:
            per_model.append({})
    float_rows, int8_rows = per_model
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
        support = (float_row or int8_row or {}).get("support")
        cells = [name, _count(support)]
        if float_rows:
            cells += [_number(_get(float_row, key), ".4f") for key in ("precision", "recall", "f1", "auc")]
        if int8_rows:
            cells += [_number(_get(int8_row, key), ".4f") for key in ("precision", "recall", "f1")]
        if float_rows and int8_rows:
            both = float_row and int8_row
            cells.append(_number(int8_row["f1"] - float_row["f1"], "+.4f") if both else NOTHING)
        rows.append(tuple(cells))
    return Table(header, tuple(rows))


def _quantization_section(run: _Run) -> Section:
    quantization = run.get(QUANTIZATION_FILE)
    if quantization is None:
        return Section("quantization", "Quantization", (run.missing(QUANTIZATION_FILE),))
    with _reading(run.run_dir / QUANTIZATION_FILE):
        keras_accuracy = quantization.get("keras_float_accuracy")
        facts = [
            ("method", f"{quantization.get('method', NOTHING)}"
                       + (f", {quantization['qat_epochs']} QAT epoch(s)" if quantization.get("qat_epochs") else "")),
            ("int8 input/output", str(quantization.get("io", NOTHING))),
            ("calibration samples", _count(quantization.get("calibration_samples"))),
            ("measured with", f"{quantization.get('runtime', NOTHING)} on "
                              f"{_count(quantization.get('test_samples'))} test samples"),
            ("Keras float accuracy", _accuracy(keras_accuracy)),
        ]
        rows = []
        for variant in quantization["variants"]:
            change = (variant["accuracy"] - keras_accuracy) * 100 if keras_accuracy is not None else None
            rows.append((
                str(variant["name"]), str(variant.get("file", NOTHING)), _count(variant.get("size_bytes")),
                _accuracy(variant.get("accuracy")), _number(change, "+.2f"),
                _percent(variant.get("agreement_with_float")), _number(variant.get("mean_abs_diff"), ".5f"),
                _number(variant.get("max_abs_diff"), ".4f"), "yes" if variant.get("fully_int8") else "no",
            ))
        lines = []
        ratio = quantization.get("int8_to_float32_size")
        if ratio is not None:
            lines.append(f"int8 / float32 file size: {ratio:.3f} ({ratio:.1%} of the float32 file).")
        floor = quantization.get("parameter_floor_bytes")
        if floor:
            lines.append(f"Parameter floor (one byte per parameter in int8, four in float32): "
                         f"{_count(floor.get('int8'))} bytes int8, {_count(floor.get('float32'))} bytes float32.")
    table = Table(("variant", "file", "bytes", "accuracy", "Δ vs Keras (pp)", "agreement", "mean |Δp|",
                   "max |Δp|", "fully int8"), tuple(rows))
    return Section("quantization", "Quantization", (Facts(tuple(facts)), table, *(Text(line) for line in lines)))


def _benchmark_section(run: _Run) -> Section:
    name = BENCHMARK_FILE
    benchmark = run.get(name)
    if benchmark is None:
        plot = run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", name))
        return Section("benchmark", "Benchmark", (run.missing(name), *plot))
    blocks: list[Block] = []
    with _reading(run.run_dir / name):
        host = benchmark.get("host") or {}
        if host:
            blocks.append(Facts(tuple((str(key), str(value)) for key, value in host.items())))
        rows = []
        for row in benchmark["rows"]:
            if "latency_us" not in row and "instructions" in row:  # a qemu: row: no latency to show here
                continue
            latency = row["latency_us"]
            runtime = f"{row['runtime']} {row.get('runtime_version') or ''}".strip()
            rows.append((
                str(row.get("source", "host")), str(row["model"]), runtime, _plain(row.get("threads")),
                _accuracy(row.get("accuracy")), _percent(row.get("agreement_with_float")),
                _number(latency.get("p50"), ",.1f"), _number(latency.get("p90"), ",.1f"),
                _number(latency.get("p99"), ",.1f"), _number(row.get("init_ms"), ",.1f"),
                _number(row.get("first_invoke_ms"), ",.2f"), _number(row.get("throughput_per_s"), ",.0f"),
                _count(row.get("file_bytes")), _mebibytes(row.get("peak_rss_bytes")),
                arena_cell(row, ",") or NOTHING, flash_cell(row, ",") or NOTHING,
            ))
        ratio_lines = [_ratio_line(ratio) for ratio in benchmark.get("latency_ratios", [])]
        skipped = tuple(str(reason) for reason in benchmark.get("skipped", []))
        parity_blocks = [block for parity in benchmark.get("parity", []) for block in _parity_blocks(parity)]
    blocks.append(Table(("where", "model", "runtime", "threads", "accuracy", "agreement", "p50 µs", "p90 µs",
                         "p99 µs", "init ms", "first invoke ms", "samples/s (batch)", "file bytes", "peak RSS MiB",
                         "RAM bytes (TFLM arena; C engine static)", "C engine flash bytes"), tuple(rows)))
    blocks += run.figures((LATENCY_PLOT, "single-sample latency per model and runtime", name))
    if ratio_lines:
        blocks.append(Text("int8 over float32, p50 latency in the same runtime and place:"))
        blocks.append(Bullets(tuple(ratio_lines)))
    blocks += parity_blocks
    if skipped:
        blocks.append(Text("Not measured:"))
        blocks.append(Bullets(skipped))
    return Section("benchmark", "Benchmark", tuple(blocks))


def _parity_blocks(parity: dict[str, Any]) -> list[Block]:
    """The four-way parity of one model: each runtime against the tflite-micro interpreter."""
    rows = tuple(
        (str(row["runtime"]), f"not run: {row['not_run']}", NOTHING, NOTHING) if row.get("not_run") else
        (str(row["runtime"]), f"{row['differing_vectors']}/{parity['samples']}", _number(row.get("max_lsb"), "g"),
         str(row.get("first_divergence") or NOTHING))
        for row in parity["runtimes"]
    )
    return [Text(f"Parity of {parity['model']} against the {parity['baseline']} ({parity['inputs']}):"),
            Table(("runtime", "differing output vectors", "max LSB", "first divergence"), rows)]


def _engines_side_by_side(export: dict[str, Any], c_engine: dict[str, Any]) -> list[Block]:
    """TFLite Micro's export and the C engine's (firmware/c_engine/): RAM, flash, ops and parity."""
    tflm_exported = export.get("arena_bytes") is not None
    tflm_flash = export.get("flash_bytes")
    c_flash = c_engine.get("flash_bytes")
    rows = (
        ("RAM bytes (TFLM: arena, which holds input and output; C: arena + input + output)",
         _count(export.get("arena_bytes")) if tflm_exported else "not exported",
         f"{_count(c_engine['static_ram_bytes'])} ({_count(c_engine['arena_bytes'])} + "
         f"{_count(c_engine['input_bytes'])} + {_count(c_engine['output_bytes'])})"),
        ("flash bytes (text + data, Cortex-M4 -Os)",
         f"{_count(tflm_flash)} model array + the TFLM library (not measured)" if tflm_flash is not None
         else "not measured" if tflm_exported else "not exported",
         _count(c_flash) if c_flash is not None else f"not measured: {c_engine.get('flash_not_measured')}"),
        ("ops", str(len(export.get("ops", []))) if tflm_exported else "not exported", str(len(c_engine["ops"]))),
        ("files", f"firmware/ ({len(export.get('files', []))})" if tflm_exported else "not exported",
         f"firmware/{c_engine['dir']}/ ({len(c_engine['files'])})"),
    )
    blocks: list[Block] = [Text("TFLite Micro and edgeml's C engine, side by side:"),
                           Table(("", "TFLite Micro", "C engine"), rows)]
    if c_engine.get("parity"):
        blocks += _parity_blocks({"model": "the exported model", **c_engine["parity"]})
    return blocks


def _ratio_line(ratio: dict[str, Any]) -> str:
    value = float(ratio["int8_over_float32_p50"])
    verdict = f"int8 {1 / value:.2f}× faster" if value < 1 else f"int8 {value:.2f}× slower" if value > 1 else "equal"
    return f"{ratio['model']} on {ratio['runtime']} ({ratio.get('source') or 'host'}): {value:.3f} — {verdict}"


def _firmware_section(run: _Run) -> Section:
    name = EXPORT_FILE
    export = run.get(name)
    if export is None:
        return Section("firmware", "Firmware", (run.missing(name),))
    firmware_dir = run.run_dir / FIRMWARE_DIR
    blocks: list[Block] = []
    with _reading(run.run_dir / name):
        file_rows = []
        for file_name in export.get("files", []):
            path = firmware_dir / str(file_name)
            file_rows.append((str(file_name), _count(path.stat().st_size) if path.is_file() else "missing"))
        flash = export.get("flash_bytes")
        arena_detail = ""
        if export.get("arena_minimum_bytes") is not None:
            arena_detail = (f" (measured minimum {_count(export['arena_minimum_bytes'])} + margin "
                            f"{_count(export.get('arena_margin_bytes'))})")
        ops = [str(op) for op in export.get("ops", [])]
        facts = [
            ("symbol", str(export.get("symbol", NOTHING))),
            ("model sha256", str(export.get("model_sha256", NOTHING))),
            ("flash: model array", f"{_count(export.get('model_bytes'))} bytes"),
            ("flash: model object (text + data)",
             f"{_count(flash)} bytes (arm-none-eabi-size)" if flash is not None
             else f"not measured: {export.get('flash_not_measured') or 'no reason recorded'}"),
            ("RAM: tensor arena", f"{_count(export.get('arena_bytes'))} bytes{arena_detail}"),
            ("ops", f"{len(ops)}: {', '.join(ops)}" if ops else NOTHING),
            ("TFLM vs LiteRT parity", str(export["parity"]) if export.get("parity") else "not checked"),
        ]
        size_output = export.get("arm_size_output")
        warnings = tuple(str(warning) for warning in export.get("warnings", []))
        c_engine = export.get("c_engine")
        side_by_side = _engines_side_by_side(export, c_engine) if c_engine else []
    blocks.append(Facts(tuple(facts)))
    blocks += side_by_side
    blocks.append(Table(("file", "bytes"), tuple(file_rows)) if file_rows else Note("export.json lists no files"))
    if warnings:
        blocks.append(Text("Warnings:"))
        blocks.append(Bullets(warnings))
    if size_output:
        blocks.append(Code("arm-none-eabi-size", str(size_output)))
    header = firmware_dir / FIRMWARE_CONFIG_HEADER
    if header.is_file():
        text = header.read_text(encoding="utf-8", errors="replace")
        blocks.append(Code(f"{FIRMWARE_DIR}/{FIRMWARE_CONFIG_HEADER}", text, "c"))
    else:
        blocks.append(Note(f"{FIRMWARE_DIR}/{FIRMWARE_CONFIG_HEADER} not found"))
    return Section("firmware", "Firmware", tuple(blocks))


# ----------------------------------------------------------------------------------- number formatting


def _get(row: dict | None, key: str) -> Any:
    return None if row is None else row.get(key)


def _number(value: Any, spec: str) -> str:
    return NOTHING if value is None else format(float(value), spec)


def _accuracy(value: Any) -> str:
    return _number(value, ".4f")


def _percent(value: Any) -> str:
    return NOTHING if value is None else f"{100 * float(value):.2f}%"


def _count(value: Any) -> str:
    return NOTHING if value is None else f"{int(value):,}"


def _mebibytes(value: Any) -> str:
    return NOTHING if value is None else f"{int(value) / 2**20:,.1f}"


def _normalization_text(normalization: dict) -> str:
    """``model_input = (raw − 0) / 255 (pixels: default for pixel data)``; per-channel values in brackets."""
    def values(key: str) -> str:
        value = normalization.get(key)
        return f"[{_plain(value)}]" if isinstance(value, (list, tuple)) else _plain(value)

    per_channel = any(isinstance(normalization.get(key), (list, tuple)) for key in ("mean", "std"))
    text = f"model_input = (raw − {values('mean')}) / {values('std')}" + (" per channel (last axis)" if per_channel else "")
    how = ": ".join(str(part) for part in (normalization.get("method"), normalization.get("note")) if part)
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


# --------------------------------------------------------------------------------------------- HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; line-height: 1.45;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.generated { color: #777; margin-top: 0; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; margin: .6em 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .6em; overflow-x: auto; font-size: .82em; }
.note { color: #777; font-style: italic; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; margin: .6em 0; }
figure { margin: 0; flex: 1 1 420px; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; text-align: center; }
.status-done { color: #1a7f37; }
.status-failed { color: #cf222e; font-weight: 600; }
.status-skipped { color: #777; }
""".strip()

# A table cell that is a number (with separators, sign, unit or percent) is right-aligned, except in
# the first column, which names the row (a class called "3" is a label).
_NUMBER_CELL = re.compile(r"^[-+−]?[\d,]*\.?\d+\s*(%|×)?$")


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, images as data URIs, no scripts, every text escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(report.title)}</title>",
        f"<style>\n{CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{_h(report.title)}</h1>",
        f'<p class="generated">generated by edgeml {_h(__version__)} from the run directory '
        f"<code>{_h(report.run_dir.resolve().name)}</code></p>",
    ]
    for section in report.sections:
        parts.append(f'<section id="{_h(section.key)}">')
        parts.append(f"<h2>{_h(section.title)}</h2>")
        parts += [_html_block(report, section, block) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _html_block(report: Report, section: Section, block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{_h(block.text)}</p>"
    if isinstance(block, Note):
        return f'<p class="note">{_h(block.text)}</p>'
    if isinstance(block, Facts):
        items = "".join(f"<dt>{_h(key)}</dt><dd>{_h(value)}</dd>" for key, value in block.items)
        return f'<dl class="facts">{items}</dl>'
    if isinstance(block, Table):
        status_column = block.header.index("status") if section.key == "stages" and "status" in block.header else -1
        head = "".join(f"<th>{_h(cell)}</th>" for cell in block.header)
        body = []
        for row in block.rows:
            cells = []
            for index, cell in enumerate(row):
                if index == status_column:
                    cells.append(f'<td class="status-{_h(cell.split()[0] if cell else "")}">{_h(cell)}</td>')
                elif index > 0 and _NUMBER_CELL.match(cell):
                    cells.append(f'<td class="num">{_h(cell)}</td>')
                else:
                    cells.append(f"<td>{_h(cell)}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
    if isinstance(block, Figures):
        figures = "".join(
            f'<figure><img src="{_data_uri(report.run_dir / figure.path)}" alt="{_h(figure.caption or figure.path)}">'
            f"<figcaption>{_h(figure.caption)} <code>{_h(figure.path)}</code></figcaption></figure>"
            for figure in block.figures
        )
        return f'<div class="figures">{figures}</div>'
    if isinstance(block, Code):
        return f"<p><code>{_h(block.caption)}</code></p>\n<pre>{_h(block.text)}</pre>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_h(item)}</li>" for item in block.items) + "</ul>"
    raise TypeError(f"unknown report block {block!r}")


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EdgeMLError(f"cannot read the image {path}: {exc.strerror or exc}") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# ----------------------------------------------------------------------------------------- Markdown


def render_markdown(report: Report) -> str:
    """The same report as Markdown; images are links relative to the run directory, where report.md lives."""
    parts = [f"# {_md(report.title)}", "", f"*generated by edgeml {_md(__version__)}*", ""]
    for section in report.sections:
        parts += [f"## {_md(section.title)}", ""]
        for block in section.blocks:
            parts += [_markdown_block(block), ""]
    return "\n".join(parts).rstrip() + "\n"


def _markdown_block(block: Block) -> str:
    if isinstance(block, Text):
        return _md(block.text)
    if isinstance(block, Note):
        return f"*{_md(block.text)}*"
    if isinstance(block, Facts):
        return "\n".join(f"- **{_md(key)}**: {_md(value)}" for key, value in block.items)
    if isinstance(block, Table):
        return _markdown_table(block.header, block.rows)
    if isinstance(block, Figures):
        images = [f"![{_md(figure.caption or figure.path)}]({quote(figure.path)})" for figure in block.figures]
        if len(images) == 1:
            return images[0]
        return _markdown_table([figure.caption for figure in block.figures], [images], escape=False)
    if isinstance(block, Code):
        fence = "`" * max(3, _longest_backtick_run(block.text) + 1)
        return f"`{block.caption}`\n\n{fence}{block.language}\n{block.text.rstrip()}\n{fence}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md(item)}" for item in block.items)
    raise TypeError(f"unknown report block {block!r}")


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], escape: bool = True) -> str:
    def cells(row: Sequence[str], escape_cells: bool) -> str:
        return "| " + " | ".join(_md_cell(cell) if escape_cells else cell for cell in row) + " |"

    align = [
        "---:" if index > 0 and rows and all(_NUMBER_CELL.match(row[index]) or row[index] == NOTHING for row in rows)
        else "---"
        for index in range(len(header))
    ] if escape else ["---"] * len(header)
    return "\n".join([cells(header, True), "| " + " | ".join(align) + " |", *(cells(row, escape) for row in rows)])


def _md(text: str) -> str:
    """Markdown renderers pass raw HTML through, so text is HTML-escaped here too."""
    return html.escape(str(text), quote=False)


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|").replace("\n", " ")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
