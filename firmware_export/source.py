"""Where a firmware export starts: a run directory or a ``.tflite`` file, the model's bytes, its class
names and the normalisation its inputs need. Shared by the TFLite Micro export (:mod:`firmware_export.export`)
and the C engine's (:mod:`firmware_export.cengine.generate`, :mod:`firmware_export.cengine.float_generate`),
below both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeml.data import Normalization
from edgeml.errors import EdgeMLError
from edgeml.rundir import CONFIG_FILE, INT8_TFLITE_FILE, RunRecord
from edgeml.tflite_model import TensorInfo


def resolve_source(source: Path) -> tuple[Path, RunRecord | None]:
    """A run directory gives its ``model_int8.tflite`` and its record; a file gives a record only when a
    ``config.json`` sits beside it."""
    if source.is_dir():
        record = RunRecord.load(source)
        model_path = source / INT8_TFLITE_FILE
        if not model_path.is_file():
            raise EdgeMLError(
                f"{source} has no {INT8_TFLITE_FILE}: run `edgeml quantize {source}` first, or pass a .tflite file"
            )
        return model_path, record
    if not source.exists():
        raise EdgeMLError(f"{source} does not exist: pass a run directory (after `edgeml quantize`) or a .tflite file")
    record = RunRecord.load(source.parent) if (source.parent / CONFIG_FILE).is_file() else None
    return source, record


def read_model(path: Path) -> bytes:
    """The file's bytes; EdgeMLError naming the file when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EdgeMLError(f"cannot read {path}: {exc.strerror or exc}") from None


def class_labels(output: TensorInfo, record: RunRecord | None) -> tuple[tuple[str, ...], str]:
    """The class names for the model's ``output`` (two for one sigmoid unit) and where they come from: the
    run's ``config.json``, else numbers. EdgeMLError when the run lists another number of classes."""
    size = int(np.prod(output.shape)) if output.shape else 1
    expected = 2 if size == 1 else size  # one sigmoid unit scores two classes
    if record is None:
        return tuple(str(index) for index in range(expected)), "none recorded: numbered"
    if len(record.class_names) != expected:
        raise EdgeMLError(
            f"{record.run_dir / CONFIG_FILE} lists {len(record.class_names)} classes but the model has "
            f"{size} output(s), i.e. {expected} classes: the configuration belongs to another model"
        )
    return tuple(record.class_names), f"from {record.run_dir.name}/{CONFIG_FILE}"


def recorded_normalization(record: RunRecord | None) -> tuple[Normalization, str]:
    """The run's input normalisation and where it comes from; without a run, none (mean 0, std 1)."""
    if record is None:
        return Normalization(mean=0.0, std=1.0), "none recorded: raw values go in unchanged"
    normalization = record.normalization
    return normalization, f"{record.run_dir.name}/{CONFIG_FILE}: {normalization.describe()}"
