"""Evaluate a trained Keras model on its test set: metrics.json, confusion_matrix.png, roc.png."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgeml.artifacts import check_output_dir, file_set
from edgeml.data import Dataset, load_dataset
from edgeml.errors import EdgeMLError
from edgeml.evaluate_metrics import Metrics, compute_metrics, write_metrics
from edgeml.models import check_model_fits_data, load_user_model
from edgeml.rundir import CONFIG_FILE, RunRecord

EVALUATION_FILES = ("metrics.json", "confusion_matrix.png", "roc.png")


@dataclass(frozen=True)
class EvaluateConfig:
    """``target`` is a run directory or a ``.keras``/``.h5`` file; a bare model file needs ``dataset``."""

    target: str
    dataset: str | None = None
    data_path: str | None = None
    test_samples: int | None = None
    out: str | None = None
    batch_size: int = 256
    force: bool = False
    verbose: bool = False


@dataclass(frozen=True)
class Evaluation:
    metrics: Metrics
    dataset: str
    files: dict[str, Path]


def evaluate(config: EvaluateConfig) -> Evaluation:
    target = Path(config.target)
    if not target.exists():
        raise EdgeMLError(f"nothing to evaluate at {target}: give a run directory or a .keras/.h5 model")
    run_dir = target if target.is_dir() else target.parent
    record = RunRecord.load(run_dir) if (run_dir / CONFIG_FILE).is_file() else None
    model_path = record.model_path if target.is_dir() and record else target
    if target.is_dir() and record is None:
        raise EdgeMLError(f"{target} is not a run directory (no {CONFIG_FILE})")
    dataset = _test_data(config, record)
    out_dir = check_output_dir(Path(config.out) if config.out else run_dir, config.force, EVALUATION_FILES)
    model = load_user_model(model_path, config.verbose)
    check_model_fits_data(model, dataset.input_shape, dataset.num_classes)
    probabilities = np.asarray(model.predict(dataset.test_inputs(), batch_size=config.batch_size, verbose=0))
    metrics = compute_metrics(dataset.y_test, probabilities, dataset.class_names)
    with file_set(out_dir) as staging:
        staged = write_metrics(metrics, dataset.y_test, probabilities, staging)
    files = {name: out_dir / path.name for name, path in staged.items()}
    return Evaluation(metrics=metrics, dataset=dataset.name, files=files)


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
        return _with_normalization(dataset, record)
    dataset = load_dataset(config.dataset, data_path=config.data_path, test_samples=config.test_samples)
    return _with_normalization(dataset, record) if record is not None else dataset


def _with_normalization(dataset: Dataset, record: RunRecord) -> Dataset:
    return replace(dataset, normalization=record.normalization)
