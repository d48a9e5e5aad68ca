"""Evaluate a trained model on its test set: metrics.json, confusion_matrix.png, roc.png.

A Keras model (a run directory, or a ``.keras``/``.h5`` file) runs in Keras; a ``.tflite`` file runs in
``runtime`` (any of :data:`edgeml.runtime.RUNTIMES`, e.g. ``tflm`` or the C engine ``c``) and its files
get the model's variant as prefix (``model_int8.tflite`` -> ``int8_metrics.json``, as the pipeline names them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.artifacts import check_output_dir, file_set
from edgeml.data import Dataset, Normalization, load_dataset, parse_normalize
from edgeml.errors import EdgeMLError
from edgeml.evaluate_metrics import Metrics, compute_metrics, write_metrics
from edgeml.models import load_user_model, prepare_user_model
from edgeml.rundir import CONFIG_FILE, EVALUATION_FILES, RunLayout, RunRecord, evaluation_files, evaluation_prefix


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    """How to evaluate, whatever the model: the ``edgeml evaluate`` flags' defaults and the pipeline's
    ``[evaluate]`` table. ``test_samples``: a class-balanced subset of the test set (None: all of it);
    ``batch_size``: samples per predict call."""

    test_samples: int | None = None
    batch_size: int = 256


@dataclass(frozen=True)
class EvaluateConfig(EvaluateOptions):
    """``target`` is a run directory, a ``.keras``/``.h5`` file or a ``.tflite`` file (run in ``runtime``);
    a model file outside a run directory needs ``dataset``. How: :class:`EvaluateOptions` (keyword arguments)."""

    target: str
    dataset: str | None = None
    data_path: str | None = None
    out: str | None = None
    normalize: str | None = None  # for a model file outside a run; a run's recorded normalisation is used
    trust_model_code: bool = False  # load Lambda layers of a model file outside a run (a run records it)
    force: bool = False
    verbose: bool = False
    runtime: str = "auto"  # for a .tflite target

    def __post_init__(self) -> None:
        from edgeml.runtime import RUNTIMES

        parse_normalize(self.normalize)
        if self.runtime not in RUNTIMES:
            raise EdgeMLError(f"unknown runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")


@dataclass(frozen=True)
class Evaluation:
    metrics: Metrics
    dataset: str
    files: dict[str, Path]
    normalization: Normalization = Normalization()


def evaluate(config: EvaluateConfig) -> Evaluation:
    target = Path(config.target)
    if not target.exists():
        raise EdgeMLError(f"nothing to evaluate at {target}: give a run directory or a .keras/.h5/.tflite model")
    run_dir = target if target.is_dir() else target.parent
    record = RunRecord.load(run_dir) if RunLayout(run_dir).config.is_file() else None
    model_path = record.model_path if target.is_dir() and record else target
    if target.is_dir() and record is None:
        raise EdgeMLError(f"{target} is not a run directory (no {CONFIG_FILE})")
    dataset = _test_data(config, record)
    if model_path.suffix == ".tflite":
        return _evaluate_tflite(config, model_path, dataset, record, run_dir)
    out_dir = check_output_dir(Path(config.out) if config.out else run_dir, config.force, EVALUATION_FILES)
    trust = config.trust_model_code or bool(record and record.trust_model_code)
    model = load_user_model(model_path, config.verbose, trust)
    prepared = prepare_user_model(model, dataset, config.normalize, record.normalization if record else None,
                                  config.verbose)
    model, dataset = prepared.model, prepared.dataset
    probabilities = np.asarray(model.predict(dataset.test_inputs(), batch_size=config.batch_size, verbose=0))
    metrics = compute_metrics(dataset.y_test, probabilities, dataset.class_names)
    with file_set(out_dir) as staging:
        staged = write_metrics(metrics, dataset.y_test, probabilities, staging)
    files = {name: out_dir / path.name for name, path in staged.items()}
    return Evaluation(metrics=metrics, dataset=dataset.name, files=files, normalization=dataset.normalization)


def _evaluate_tflite(config: EvaluateConfig, model_path: Path, dataset: Dataset, record: RunRecord | None,
                     run_dir: Path) -> Evaluation:
    """A ``.tflite`` file in ``config.runtime``, on the run's test set with the run's normalisation (or the
    named dataset's default outside a run)."""
    from edgeml.runtime import open_model

    if config.normalize is not None and record is None:
        raise EdgeMLError("--normalize is not supported for a .tflite file: evaluate it beside its run's config.json")
    prefix = evaluation_prefix(model_path)
    produces = evaluation_files(prefix)
    out_dir = check_output_dir(Path(config.out) if config.out else run_dir, config.force, produces)
    normalization = record.normalization if record is not None and config.dataset is None else dataset.normalization
    model = open_model(model_path, config.runtime)
    inputs = dataset.x_test.reshape((len(dataset.x_test), *model.input_shape))
    probabilities = model.predict(normalization.apply(inputs), batch_size=config.batch_size)
    metrics = compute_metrics(dataset.y_test, probabilities, dataset.class_names)
    with file_set(out_dir) as staging:
        staged = write_metrics(metrics, dataset.y_test, probabilities, staging, prefix=prefix)
    files = {name: out_dir / path.name for name, path in staged.items()}
    return Evaluation(metrics=metrics, dataset=dataset.name, files=files, normalization=normalization)


def _test_data(config: EvaluateConfig, record: RunRecord | None) -> Dataset:
    """The run's own test set (same subset, same normalisation) unless another dataset is named."""
    if record is None and config.dataset is None:
        raise EdgeMLError("a model file outside a run directory needs --dataset to evaluate on")
    if config.dataset is None and record is not None:
        dataset = load_dataset(
            record.dataset,
            data_path=config.data_path or record.data_path,
            test_samples=config.test_samples or record.test_samples,
            seed=record.seed,
        )
        if dataset.class_names != record.class_names:
            raise EdgeMLError(f"the dataset's classes {dataset.class_names} differ from the run's {record.class_names}")
        return dataset
    return load_dataset(config.dataset, data_path=config.data_path, test_samples=config.test_samples)
