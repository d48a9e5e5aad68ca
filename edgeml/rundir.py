"""Reading a run directory back: the trained model's file, dataset, class names and normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeml.artifacts import read_json
from edgeml.data import Normalization
from edgeml.errors import EdgeMLError

if TYPE_CHECKING:
    from edgeml.artifact_json import JsonObject

# The run directory's file names, relative to the run directory; the one place they are spelled.
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
HISTORY_PLOT = "history.png"
SUMMARY_FILE = "summary.txt"
METRICS_FILE = "metrics.json"
CONFUSION_PLOT = "confusion_matrix.png"
ROC_PLOT = "roc.png"
EVALUATION_FILES = (METRICS_FILE, CONFUSION_PLOT, ROC_PLOT)  # what evaluating one model writes
FLOAT_TFLITE_FILE = "model_float32.tflite"
INT8_TFLITE_FILE = "model_int8.tflite"
QUANTIZATION_FILE = "quantization.json"
FIRMWARE_DIR = "firmware"
C_ENGINE_DIR = "c_engine"  # the C engine's export, inside FIRMWARE_DIR
EXPORT_RECORD = "export.json"  # what every export writes into its --out folder beside its files
EXPORT_FILE = f"{FIRMWARE_DIR}/{EXPORT_RECORD}"  # the TFLite Micro export's
C_ENGINE_EXPORT_FILE = f"{FIRMWARE_DIR}/{C_ENGINE_DIR}/{EXPORT_RECORD}"  # the C engine's
BENCHMARK_DIR = "benchmark"
BENCHMARK_FILE = f"{BENCHMARK_DIR}/benchmark.json"
BENCHMARK_MARKDOWN = f"{BENCHMARK_DIR}/benchmark.md"
LATENCY_PLOT = f"{BENCHMARK_DIR}/latency.png"
PIPELINE_FILE = "pipeline.json"
HTML_REPORT = "report.html"
MARKDOWN_REPORT = "report.md"


def evaluation_prefix(model_file: str | Path) -> str:
    """The prefix of a ``.tflite`` model's evaluation files: its variant (``model_int8.tflite`` ->
    ``int8_``, so ``int8_metrics.json``); the Keras model's files have none."""
    stem = Path(model_file).stem
    return f"{stem.removeprefix('model_')}_" if Path(model_file).suffix == ".tflite" else ""


def evaluation_files(prefix: str = "") -> tuple[str, ...]:
    """The files evaluating one model writes (:data:`EVALUATION_FILES` with ``prefix``), in that order."""
    return tuple(prefix + name for name in EVALUATION_FILES)


INT8_PREFIX = evaluation_prefix(INT8_TFLITE_FILE)  # int8 evaluation writes the same files with this prefix


@dataclass(frozen=True)
class RunLayout:
    """Where each file of the run directory ``root`` lives (names as the stages write them)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def float_tflite(self) -> Path:
        return self.root / FLOAT_TFLITE_FILE

    @property
    def int8_tflite(self) -> Path:
        return self.root / INT8_TFLITE_FILE

    @property
    def quantization(self) -> Path:
        return self.root / QUANTIZATION_FILE

    @property
    def firmware(self) -> Path:
        return self.root / FIRMWARE_DIR

    @property
    def c_engine(self) -> Path:
        return self.firmware / C_ENGINE_DIR

    @property
    def export(self) -> Path:
        return self.root / EXPORT_FILE

    @property
    def c_engine_export(self) -> Path:
        return self.root / C_ENGINE_EXPORT_FILE

    @property
    def benchmark_dir(self) -> Path:
        return self.root / BENCHMARK_DIR

    @property
    def benchmark(self) -> Path:
        return self.root / BENCHMARK_FILE

    @property
    def pipeline(self) -> Path:
        return self.root / PIPELINE_FILE

    @property
    def html_report(self) -> Path:
        return self.root / HTML_REPORT

    @property
    def markdown_report(self) -> Path:
        return self.root / MARKDOWN_REPORT


@dataclass(frozen=True)
class StageOutcome:
    """One stage of the pipeline's last run, as ``pipeline.json`` records it under ``last_run``: the stage's
    name, "done" | "skipped (current)" | "failed", its wall time in seconds and, when it failed, the error."""

    name: str
    status: str
    seconds: float | None
    error: str | None = None

    @classmethod
    def from_json(cls, data: "JsonObject") -> "StageOutcome":
        return cls(data.text("name", required=True), data.text("status") or "?", data.number("seconds"),
                   data.text("error"))

    @classmethod
    def last_run(cls, pipeline: "JsonObject") -> tuple["StageOutcome", ...]:
        """The outcomes in a ``pipeline.json``: under "last_run" (beside "stages", which maps each stage's name to
        its fingerprints); a list of outcomes under "stages" is read too (an earlier layout)."""
        if "last_run" in pipeline:
            entries = pipeline.objects("last_run")
        elif isinstance(pipeline.raw("stages"), dict):
            entries = []
        else:
            entries = pipeline.objects("stages")
        return tuple(cls.from_json(entry) for entry in entries)


@dataclass(frozen=True)
class RunRecord:
    """What ``config.json`` says about a trained model; every later stage starts from this."""

    run_dir: Path
    model_path: Path
    dataset: str
    data_path: str | None
    class_names: tuple[str, ...]
    normalization: Normalization
    input_shape: tuple[int, ...]
    train_samples: int | None
    test_samples: int | None
    seed: int
    validation_split: float = 0.1  # the share of the training data held out for validation while training
    trust_model_code: bool = False  # the run was trained with --trust-model-code (Lambda layers load)

    @classmethod
    def load(cls, run_dir: Path | str) -> "RunRecord":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise EdgeMLError(f"run directory not found: {run_dir}")
        raw = read_json(run_dir / CONFIG_FILE, "run configuration")
        try:
            train, dataset = raw["train"], raw["dataset"]
            model_path = run_dir / raw["model_file"]
            return cls(
                run_dir=run_dir,
                model_path=model_path,
                dataset=train["dataset"],
                data_path=train.get("data_path"),
                class_names=tuple(dataset["class_names"]),
                normalization=Normalization.from_dict(dataset["normalization"]),
                input_shape=tuple(dataset["input_shape"]),
                # The subset sizes of the run's own data; the test subset is what evaluation reuses.
                train_samples=train.get("train_samples"),
                test_samples=train.get("test_samples"),
                seed=int(train.get("seed", 0)),
                validation_split=float(train.get("validation_split", 0.1)),
                trust_model_code=bool(train.get("trust_model_code", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeMLError(f"{run_dir / CONFIG_FILE} is not an edgeml run configuration (missing {exc})") from None
