"""The models and test samples a benchmark target measures: model files from run directories and paths,
the run's test set as the model takes it, and TFLite Micro's measured arena.

Below every target and below :mod:`edgeml.benchmark` and :mod:`edgeml.bundle` (both read it), so none of
them imports another to find the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeml.artifacts import atomic_path
from edgeml.errors import EdgeMLError
from edgeml.rundir import CONFIG_FILE, MODEL_FILE, RunRecord

MODEL_SUFFIXES = (".tflite", ".keras", ".h5")
KERAS_SUFFIXES = (".keras", ".h5")


@dataclass(frozen=True)
class ModelSet:
    """The model files to compare and the run they came from (whose test set they are measured on)."""

    models: tuple[Path, ...]
    record: RunRecord | None


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

