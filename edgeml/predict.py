"""Classify images, ``.npy`` arrays and CSV rows with a ``.tflite`` model, without TensorFlow.

This is the Raspberry Pi path: numpy, Pillow (imported only for image inputs) and a lite runtime.
Inputs are raw values, like the training data (image pixels 0–255, CSV values as recorded); the
normalisation and class names come from the edgeml run that made the model (its ``config.json``,
found beside the model or given with ``run``), so a prediction sees exactly what training saw.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeml.data import IMAGE_SUFFIXES, Normalization
from edgeml.errors import EdgeMLError
from edgeml.rundir import CONFIG_FILE, RunRecord
from edgeml.runtime import RUNTIMES, Model, decide_class, open_model
from edgeml.tflite_model import read_tflite_bytes

ARRAY_SUFFIXES = (".npy", ".csv")
INPUT_SUFFIXES = IMAGE_SUFFIXES + ARRAY_SUFFIXES
IMAGE_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class PredictConfig:
    """What ``edgeml predict`` needs.

    ``run`` is the run directory whose ``config.json`` gives normalisation and class names (default: the
    model's folder, as ``edgeml quantize`` leaves it). ``mean``/``std``/``labels`` are for models without one;
    ``labels`` may also rename a run's classes, but ``mean``/``std`` may not contradict what the run recorded.
    ``header`` says whether a CSV's first row is a header; None detects it (see :func:`is_csv_header`).
    ``mean``/``std`` are a number or one per channel (a tuple, or text such as ``"0.5,0.4,0.3"``).
    """

    model: str
    inputs: tuple[str, ...]
    top_k: int = 3
    runtime: str = "auto"
    threads: int | None = None
    run: str | None = None
    mean: float | tuple[float, ...] | str | None = None
    std: float | tuple[float, ...] | str | None = None
    labels: tuple[str, ...] | None = None
    header: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(str(path) for path in self.inputs))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(label) for label in self.labels))
        if not self.inputs:
            raise EdgeMLError("nothing to predict: give one or more inputs (images, .npy or .csv files)")
        if self.top_k < 1:
            raise EdgeMLError(f"--top-k must be at least 1, got {self.top_k}")
        if self.runtime not in RUNTIMES:
            raise EdgeMLError(f"unknown runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if self.threads is not None and self.threads < 1:
            raise EdgeMLError(f"--threads must be positive, got {self.threads}")
        for name in ("mean", "std"):
            object.__setattr__(self, name, _channel_values(getattr(self, name), f"--{name}"))
        if self.std is not None and not all(math.isfinite(v) and v > 0 for v in _as_tuple(self.std)):
            raise EdgeMLError(f"--std must be positive numbers, got {self.std}")
        if self.mean is not None and not all(math.isfinite(v) for v in _as_tuple(self.mean)):
            raise EdgeMLError(f"--mean must be finite numbers, got {self.mean}")
        Normalization(self.mean if self.mean is not None else 0.0, self.std if self.std is not None else 1.0)


def _channel_values(value, option: str) -> float | tuple[float, ...] | None:
    """A number, or one number per channel given as a tuple or comma-separated text."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            values = tuple(float(part) for part in value.split(","))
        else:
            values = tuple(float(v) for v in value) if isinstance(value, (tuple, list)) else (float(value),)
    except ValueError:
        raise EdgeMLError(f"{option} takes a number or one per channel, e.g. 0.5,0.4,0.3; got {value!r}") from None
    return values[0] if len(values) == 1 else values


def _as_tuple(value) -> tuple[float, ...]:
    return value if isinstance(value, tuple) else (value,)


@dataclass(frozen=True)
class ClassProbability:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """The top classes of one sample, best first.

    ``source`` is the file, or ``file#i`` for the i-th sample (from 0, header not counted) of a CSV or a
    batched .npy.
    """

    source: str
    top: tuple[ClassProbability, ...]

    @property
    def best(self) -> ClassProbability:
        return self.top[0]


@dataclass(frozen=True)
class PredictionReport:
    """Predictions plus what produced them: runtime, threads, and where the normalisation came from.

    ``normalization_source`` is the ``config.json`` path, ``--mean/--std``, or ``none: <why>`` (shown to
    the user, because mean 0 / std 1 on pixels is the classic silent mistake).
    """

    model: str
    runtime: str
    threads: int | None
    input_shape: tuple[int, ...]
    normalization: Normalization
    normalization_source: str
    class_names: tuple[str, ...]
    output: str
    predictions: tuple[Prediction, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "runtime": self.runtime,
            "threads": self.threads,
            "input_shape": list(self.input_shape),
            "normalization": {**self.normalization.to_dict(), "source": self.normalization_source},
            "class_names": list(self.class_names),
            "output": self.output,
            "predictions": [
                {
                    "source": prediction.source,
                    "top": [
                        {"class": item.index, "label": item.label, "probability": round(item.probability, 6)}
                        for item in prediction.top
                    ],
                }
                for prediction in self.predictions
            ],
        }


@dataclass(frozen=True)
class _Labelling:
    normalization: Normalization
    normalization_source: str
    class_names: tuple[str, ...] | None
    record: RunRecord | None


# ---------------------------------------------------------------------------------------------- public API


def predict(config: PredictConfig) -> PredictionReport:
    """Run every input through the model and return the top-k classes of each sample."""
    model_path = _existing_file(config.model, "model")
    for path in config.inputs:  # a typo in the last input should not wait for a model to load
        _input_suffix(_existing_file(path, "input"))
    content, input_shape, outputs = _read_model(model_path)
    num_classes = 2 if outputs == 1 else outputs
    labelling = _labelling(config, model_path, input_shape)
    class_names = _class_names(config, labelling, num_classes, outputs)
    sources, raw = load_inputs(config.inputs, input_shape, config.header)
    # Everything the user can get wrong is checked above: creating the interpreter prints LiteRT's INFO
    # line on stderr, which must not come before a one-line error.
    model = _open_model(model_path, content, config)
    scores = model.predict(labelling.normalization.apply(raw))
    output_scale = model.output_quantization.scale if model.output_quantization.is_quantized else 0.0
    probabilities, output = class_probabilities(scores, output_scale)
    top_k = min(config.top_k, num_classes)
    predictions = []
    for source, row, order in zip(sources, probabilities, ranked_classes(probabilities, sigmoid=outputs == 1)):
        top = tuple(ClassProbability(int(i), class_names[i], float(row[i])) for i in order[:top_k])
        predictions.append(Prediction(source, top))
    return PredictionReport(
        model=str(model_path),
        runtime=model.runtime,
        threads=model.threads,  # None under tflm, which has no threads
        input_shape=input_shape,
        normalization=labelling.normalization,
        normalization_source=labelling.normalization_source,
        class_names=class_names,
        output=output,
        predictions=tuple(predictions),
    )


def format_predictions(report: PredictionReport) -> str:
    """Two header lines (model, normalisation) and one line per sample: ``source  label 97.1%, label 2.0%``."""
    threads = report.threads if report.threads is not None else "runtime default"
    normalization = report.normalization
    lines = [
        f"model {report.model} ({report.runtime}, threads: {threads}; output: {report.output})",
        f"input {report.input_shape}, normalised {normalization.describe()} ({report.normalization_source})",
    ]
    width = max(len(prediction.source) for prediction in report.predictions)
    for prediction in report.predictions:
        classes = ", ".join(f"{item.label} {100 * item.probability:.1f}%" for item in prediction.top)
        lines.append(f"{prediction.source:<{width}}  {classes}")
    return "\n".join(lines)


def predictions_to_json(report: PredictionReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


def parse_labels(value: str) -> tuple[str, ...]:
    """``--labels``: a file with one label per line (TFLite's ``labels.txt``), or a comma-separated list."""
    path = Path(value)
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgeMLError(f"cannot read the labels file {path}: {exc}") from None
        return tuple(line.strip() for line in lines if line.strip())
    return tuple(label.strip() for label in value.split(","))


def load_inputs(
    paths: Sequence[str], input_shape: tuple[int, ...], csv_header: bool | None = None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Raw (not yet normalised) samples of ``input_shape`` from every file, and the name of each sample.

    ``csv_header``: whether each CSV's first row is a header (None: :func:`is_csv_header` decides).
    """
    sources: list[str] = []
    samples: list[np.ndarray] = []
    for name in paths:
        path = _existing_file(name, "input")
        suffix = _input_suffix(path)
        if suffix == ".npy":
            batch, batched = _read_npy(path, input_shape)
        elif suffix == ".csv":
            batch, batched = _read_csv(path, input_shape, csv_header), True
        else:
            batch, batched = _read_image(path, input_shape)[np.newaxis], False
        batch = batch.astype(np.float32)
        if not np.isfinite(batch).all():
            raise EdgeMLError(f"{path} contains NaN or infinite values")
        sources.extend([f"{name}#{index}" for index in range(len(batch))] if batched else [name])
        samples.append(batch)
    return tuple(sources), np.concatenate(samples)


def class_probabilities(scores: np.ndarray, output_scale: float = 0.0) -> tuple[np.ndarray, str]:
    """``(N, K)`` class probabilities from a model's output, and what that output was.

    One output unit is a sigmoid (binary): classes ``[1 - p, p]``. Several units are taken as softmax
    probabilities when they look like them (in [0, 1], rows summing to 1 within the int8 output's rounding);
    otherwise they are logits and get a softmax here, and ``output`` says so.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if scores.shape[1] == 1:
        positive = scores[:, 0]
        output = "sigmoid"
        if positive.min() < 0 or positive.max() > 1:
            positive, output = 1 / (1 + np.exp(-positive)), "one logit (sigmoid applied by edgeml)"
        return np.stack([1 - positive, positive], axis=1), output
    tolerance = 0.02 + scores.shape[1] * output_scale
    if scores.min() >= 0 and scores.max() <= 1 and np.all(np.abs(scores.sum(axis=1) - 1) <= tolerance):
        return scores, "softmax"
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True), "logits (softmax applied by edgeml)"


def ranked_classes(probabilities: np.ndarray, sigmoid: bool) -> np.ndarray:
    """``(N, K)`` class indices, best first: the class :func:`edgeml.runtime.decide_class` decides (as
    evaluate and the benchmark count it), then the others by probability, ties in class order.

    ``probabilities`` come from :func:`class_probabilities`; ``sigmoid``: the model has one output unit, so
    the columns are ``[1 - p, p]``, whose tie at ``p = 0.5`` is class 1, not the first column.
    """
    decided = decide_class(probabilities[:, 1:] if sigmoid else probabilities)
    by_probability = np.argsort(-probabilities, axis=1, kind="stable")  # stable: int8 outputs often tie
    return np.array([[best, *(index for index in order if index != best)]
                     for best, order in zip(decided, by_probability)], dtype=np.int64).reshape(probabilities.shape)


# ------------------------------------------------------------------------------------- model and labelling


def _existing_file(name: str, what: str) -> Path:
    path = Path(name)
    if not path.exists():
        raise EdgeMLError(f"{what} not found: {name}")
    if not path.is_file():
        raise EdgeMLError(f"{what} is not a file: {name}")
    return path


def _input_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise EdgeMLError(
            f"{path}: unsupported input type {suffix or '(no extension)'!r}; "
            f"use an image ({', '.join(IMAGE_SUFFIXES)}), .npy or .csv"
        )
    return suffix


def _read_model(path: Path) -> tuple[bytes, tuple[int, ...], int]:
    """The file's bytes, its input shape (without the batch axis) and its number of output values."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise EdgeMLError(f"cannot read the model {path}: {exc.strerror or exc}") from None
    info = read_tflite_bytes(content, str(path))  # TF-free; a corrupt file is an error naming it
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise EdgeMLError(
            f"{path} has {len(info.inputs)} inputs and {len(info.outputs)} outputs; predict needs one of each"
        )
    return content, tuple(info.inputs[0].shape[1:]), math.prod(info.outputs[0].shape[1:])


def _open_model(path: Path, content: bytes, config: PredictConfig) -> Model:
    try:
        return open_model(content, runtime=config.runtime, threads=config.threads)
    except EdgeMLError as exc:
        raise EdgeMLError(f"{path}: {exc}") from None


def _labelling(config: PredictConfig, model_path: Path, input_shape: tuple[int, ...]) -> _Labelling:
    """Normalisation and class names: the run's ``config.json``, else the explicit options, else none."""
    record, note = _run_record(config, model_path)
    override = Normalization(
        mean=config.mean if config.mean is not None else 0.0,
        std=config.std if config.std is not None else 1.0,
    )
    explicit = config.mean is not None or config.std is not None
    if record is None:
        if explicit:
            return _Labelling(override, "--mean/--std", None, None)
        return _Labelling(override, f"none: {note}; pass --run RUN_DIR or --mean/--std", None, None)
    config_file = record.run_dir / CONFIG_FILE
    if tuple(record.input_shape) != tuple(input_shape):
        raise EdgeMLError(
            f"{config_file} is for a model with input {tuple(record.input_shape)}, but {model_path} takes "
            f"{tuple(input_shape)}; pass --run with the run directory that made this model"
        )
    recorded = record.normalization
    requested = Normalization(
        mean=config.mean if config.mean is not None else recorded.mean,
        std=config.std if config.std is not None else recorded.std,
    )
    # The recorded transform is what the model was trained on; a different one would silently give wrong classes.
    if explicit and not (_same_values(requested.mean, recorded.mean) and _same_values(requested.std, recorded.std)):
        raise EdgeMLError(
            f"{config_file} records the normalisation mean {_text(recorded.mean)}, std {_text(recorded.std)} for this "
            f"model; --mean/--std ask for mean {_text(requested.mean)}, std {_text(requested.std)}: drop --mean/--std"
        )
    return _Labelling(recorded, str(config_file), record.class_names, record)


def _same_values(first, second) -> bool:
    """Equal scalars or per-channel vectors (a scalar equals a vector of that value)."""
    a, b = np.atleast_1d(np.asarray(first, dtype=np.float64)), np.atleast_1d(np.asarray(second, dtype=np.float64))
    return (len(a) == len(b) or 1 in (len(a), len(b))) and bool(np.allclose(a, b, rtol=1e-9, atol=0.0))


def _text(value) -> str:
    return ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:g}"


def _run_record(config: PredictConfig, model_path: Path) -> tuple[RunRecord | None, str]:
    """The run that made the model: ``--run``, else an edgeml ``config.json`` beside the model."""
    if config.run is not None:
        return RunRecord.load(config.run), ""
    beside = model_path.parent / CONFIG_FILE
    if not beside.is_file():
        return None, f"no {CONFIG_FILE} beside the model"
    try:
        return RunRecord.load(model_path.parent), ""
    except EdgeMLError:
        # Other tools put a config.json beside their models too (Hugging Face exports do): not ours, not an error.
        return None, f"{beside} is not an edgeml run configuration"


def _class_names(config: PredictConfig, labelling: _Labelling, num_classes: int, outputs: int) -> tuple[str, ...]:
    shape = f"{outputs} output{'s' if outputs != 1 else ''}"  # one sigmoid output is two classes
    if labelling.record is not None and len(labelling.record.class_names) != num_classes:
        raise EdgeMLError(
            f"{labelling.record.run_dir / CONFIG_FILE} lists {len(labelling.record.class_names)} classes, but the "
            f"model has {shape} ({num_classes} classes); pass --run with the run directory that made this model"
        )
    if config.labels is not None:
        if len(config.labels) != num_classes:
            raise EdgeMLError(
                f"--labels gives {len(config.labels)} labels, but the model has {shape} ({num_classes} classes)"
            )
        return config.labels
    if labelling.class_names is not None:
        return labelling.class_names
    return tuple(str(index) for index in range(num_classes))


# ------------------------------------------------------------------------------------------------- readers


def _read_npy(path: Path, input_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """One sample or a batch, each optionally without a trailing channel axis of size 1."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise EdgeMLError(f"cannot read {path} as a .npy array: {_first_line(exc)}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        array.close()
        raise EdgeMLError(f"{path} is an .npz archive, not a .npy array")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise EdgeMLError(f"{path} holds {array.dtype} values, not numbers")
    shape = tuple(array.shape)
    channel_free = input_shape[:-1] if len(input_shape) > 1 and input_shape[-1] == 1 else None
    if shape == input_shape or (channel_free is not None and shape == channel_free):
        return array.reshape((1, *input_shape)), False
    if len(shape) >= 1 and (shape[1:] == input_shape or (channel_free is not None and shape[1:] == channel_free)):
        if shape[0] == 0:
            raise EdgeMLError(f"{path} holds an empty batch {shape}")
        return array.reshape((shape[0], *input_shape)), True
    accepted = f"{input_shape} or a batch (N, {', '.join(map(str, input_shape))})"
    if channel_free is not None:
        accepted += ", with or without the channel axis of size 1"
    raise EdgeMLError(f"{path} holds an array of shape {shape}; the model takes one sample of shape {accepted}")


def is_csv_header(cells: Sequence[str]) -> bool:
    """Whether a CSV's first row is a header rather than a sample: it has no number at all (``pixel0,…``),
    or it is the column numbers ``0,1,…,n-1`` of two or more columns (what pandas' ``to_csv(index=False)``
    writes for an unnamed array). A row mixing names and numbers is neither: it is reported, not guessed.

    >>> is_csv_header(["0", "1", "2"]), is_csv_header(["a", "b"])
    (True, True)
    >>> is_csv_header(["1", "2", "3"]), is_csv_header(["0.0", "1", "2"]), is_csv_header(["0"]), is_csv_header(["a", "1"])
    (False, False, False, False)
    """
    if all(_number(cell) is None for cell in cells):
        return True
    return len(cells) > 1 and [cell.strip() for cell in cells] == [str(column) for column in range(len(cells))]


def _read_csv(path: Path, input_shape: tuple[int, ...], header: bool | None = None) -> np.ndarray:
    """One flattened sample per row, comma- or whitespace-separated; the first row is a header if ``header``,
    or, when ``header`` is None, if :func:`is_csv_header` says so."""
    size = math.prod(input_shape)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeMLError(f"cannot read {path} as a CSV text file: {exc}") from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    # np.savetxt writes spaces unless told otherwise; accept that too rather than call every row a header.
    rows = csv.reader(io.StringIO(text)) if "," in first else (line.split() for line in lines)
    samples: list[list[float]] = []
    first_row = True
    for line_number, cells in enumerate(rows, start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        values = [_number(cell) for cell in cells]
        if first_row and (header if header is not None else is_csv_header(cells)):
            first_row = False
            continue
        bad = next((cell for cell, value in zip(cells, values) if value is None), None)
        if bad is not None:
            hint = " (if this row is a header, pass --header)" if first_row and header is None else ""
            raise EdgeMLError(f"{path} line {line_number}: {bad!r} is not a number{hint}")
        first_row = False
        if len(values) != size:
            hint = " (a label column? remove it)" if len(values) == size + 1 else ""
            raise EdgeMLError(
                f"{path} line {line_number} has {len(values)} values; the model takes {size} "
                f"(one flattened sample of shape {input_shape}){hint}"
            )
        samples.append(values)  # type: ignore[arg-type]
    if not samples:
        raise EdgeMLError(f"{path} has no data rows")
    return np.asarray(samples, dtype=np.float64).reshape((len(samples), *input_shape))


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _read_image(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """Pixels 0–255 at the model's H×W (resized as the folder datasets are), grayscale for C=1, RGB for C=3."""
    if len(input_shape) == 2:
        height, width, channels = *input_shape, 1
    elif len(input_shape) == 3 and input_shape[2] in IMAGE_MODES:
        height, width, channels = input_shape
    else:
        raise EdgeMLError(
            f"{path}: the model takes inputs of shape {input_shape}, not images (H, W, 1 or 3); use .npy or .csv"
        )
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise EdgeMLError("image inputs need Pillow: pip install pillow") from None
    try:
        with Image.open(path) as image:
            converted = image.convert(IMAGE_MODES[channels])
        if converted.size != (width, height):
            converted = converted.resize((width, height))
        pixels = np.asarray(converted, dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise EdgeMLError(f"cannot read {path} as an image: {_first_line(exc)}") from None
    return pixels.reshape(input_shape)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
