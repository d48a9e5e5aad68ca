"""Datasets: find them (offline first), load them, validate them and record their normalisation.

Every dataset becomes a :class:`Dataset` of raw samples plus the :class:`Normalization` that turns a raw
sample into the model's input. The normalisation travels with the model (``config.json`` in a run
directory) so quantization, export, prediction and firmware all apply the same transform.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import struct
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeml.artifacts import atomic_path
from edgeml.errors import EdgeMLError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
BUILTIN_DATASETS = ("mnist", "fashion_mnist", "digits")


NORMALIZE_METHODS = ("none", "pixels", "standardize")
NORMALIZE_HELP = (
    "none | pixels (x/255; x/16 for digits) | standardize (training mean/std) | MEAN,STD | "
    "M1,M2,../S1,S2,.. (one value per channel, channels last)"
)


@dataclass(frozen=True)
class Normalization:
    """``model_input = (raw - mean) / std``, with a scalar or one value per channel (the last axis).

    ``x/255`` is ``mean=0, std=255``. Scalars or per-channel vectors (not per-pixel arrays) keep the
    transform expressible as a few constants in a firmware header. ``method`` says how it was chosen
    (none, pixels, standardize, custom, or model: folded from the model's own preprocessing layer) and
    ``note`` why; neither takes part in comparisons.
    """

    mean: float | tuple[float, ...] = 0.0
    std: float | tuple[float, ...] = 255.0
    method: str = field(default="custom", compare=False)
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple, np.ndarray)):
                values = tuple(float(v) for v in np.ravel(value))
                value = values[0] if len(values) == 1 else values
            else:
                value = float(value)
            object.__setattr__(self, name, value)
        means, stds = np.atleast_1d(self.mean), np.atleast_1d(self.std)
        if not (np.isfinite(means).all() and np.isfinite(stds).all()):
            raise EdgeMLError(f"normalisation mean and std must be finite numbers, got {self.describe()}")
        if (stds <= 0).any():
            raise EdgeMLError(f"normalisation std must be positive, got {self.describe()}")
        if len(means) > 1 and len(stds) > 1 and len(means) != len(stds):
            raise EdgeMLError(f"normalisation has {len(means)} means but {len(stds)} stds; give one per channel")

    @property
    def channels(self) -> int | None:
        """The number of per-channel values, or None when mean and std are both scalars."""
        sizes = [len(v) for v in (self.mean, self.std) if isinstance(v, tuple)]
        return sizes[0] if sizes else None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """``(raw - mean) / std`` as float32; per-channel values broadcast over the last axis."""
        raw = np.asarray(raw, dtype=np.float32)
        if self.channels is not None and (raw.ndim == 0 or raw.shape[-1] != self.channels):
            raise EdgeMLError(
                f"the normalisation has {self.channels} channels but the inputs' last axis is "
                f"{raw.shape[-1] if raw.ndim else 'missing'} (shape {raw.shape})"
            )
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((raw - mean) / std).astype(np.float32)

    def then(self, scale_after: "Normalization") -> "Normalization":
        """This normalisation followed by ``scale_after``: ``((x - m0)/s0 - m1)/s1 = (x - (m0 + m1*s0)) / (s0*s1)``."""
        m0, s0 = np.asarray(self.mean), np.asarray(self.std)  # Python floats: float64
        m1, s1 = np.asarray(scale_after.mean), np.asarray(scale_after.std)
        return Normalization(mean=m0 + m1 * s0, std=s0 * s1)

    def describe(self) -> str:
        """``(x - 0) / 255`` or ``(x - [0.5, 0.4, 0.3]) / [0.2, 0.2, 0.2]``, then how it was chosen."""
        def text(value) -> str:
            return "[" + ", ".join(f"{v:.6g}" for v in value) + "]" if isinstance(value, tuple) else f"{value:.6g}"

        formula = f"(x - {text(self.mean)}) / {text(self.std)}"
        if self.method == "custom" and not self.note:
            return formula
        return f"{formula} [{self.method}" + (f": {self.note}]" if self.note else "]")

    def to_dict(self) -> dict:
        def plain(value):
            return list(value) if isinstance(value, tuple) else value

        return {"mean": plain(self.mean), "std": plain(self.std), "method": self.method, "note": self.note}

    @classmethod
    def from_dict(cls, data: dict) -> "Normalization":
        return cls(mean=data["mean"], std=data["std"], method=str(data.get("method", "custom")),
                   note=str(data.get("note", "")))


def parse_normalize(text: str | None) -> str | tuple[tuple[float, ...], tuple[float, ...]] | None:
    """An ``--normalize`` value: None (the default for the data and model), a method name, or (means, stds).

    ``MEAN,STD`` is one scalar pair; ``M1,M2,M3/S1,S2,S3`` gives one value per channel (a single value on
    either side applies to every channel).
    """
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text in NORMALIZE_METHODS:
        return text
    try:
        if "/" in text:
            mean_text, std_text = text.split("/")  # more than one "/": ValueError
            means = tuple(float(v) for v in mean_text.split(","))
            stds = tuple(float(v) for v in std_text.split(","))
        else:
            mean, std = (float(v) for v in text.split(","))
            means, stds = (mean,), (std,)
    except ValueError:
        raise EdgeMLError(f"--normalize takes {NORMALIZE_HELP}; got {text!r}") from None
    Normalization(means, stds)  # validates
    return means, stds


def choose_normalization(
    request: str | None, x_train: np.ndarray, pixel_max: float | None, user_model: bool
) -> Normalization:
    """The normalisation for ``request`` (see :func:`parse_normalize`) on this training data.

    Defaults (request None), as the README's table states: pixel data (uint8, or a dataset with a known
    pixel range such as digits) is scaled to [0, 1]; other float data is standardised for edgeml's own
    models and left as it is for a user's model file (taken to be what the model already expects).
    """
    parsed = parse_normalize(request)
    if parsed is None:
        if pixel_max is not None:
            method, why = "pixels", "default for pixel data"
        elif user_model:
            method, why = "none", "default for float data and your own model (the data is taken as the model expects it)"
        else:
            method, why = "standardize", "default for float data and a built-in model"
    elif isinstance(parsed, str):
        method, why = parsed, "--normalize " + parsed
    else:
        return Normalization(parsed[0], parsed[1], note=f"--normalize {request}")  # method "custom"
    if method == "none":
        return Normalization(0.0, 1.0, method="none", note=why)
    if method == "pixels":
        return Normalization(0.0, pixel_max or 255.0, method="pixels", note=why)
    values = np.asarray(x_train, dtype=np.float64)
    std = float(values.std())
    return Normalization(float(values.mean()), std if std > 0 else 1.0, method=method, note=why)


@dataclass(frozen=True)
class DataSource:
    """Where to look for the built-in datasets; tests point these somewhere harmless."""

    keras_cache: Path = field(
        default_factory=lambda: Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    )
    debian_fashion_mnist: Path = DEBIAN_FASHION_MNIST
    download_url: str | None = KERAS_DATASETS_URL
    download_timeout_s: float = 30.0


@dataclass(frozen=True)
class Dataset:
    """Raw train/test samples (images as ``(N, H, W, C)``), integer labels and class names."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    normalization: Normalization
    label_format: str = "integer"  # "one-hot" when the user's labels came as one-hot rows (kept as integers here)
    pixel_max: float | None = None  # the largest pixel value of image data (255 for uint8); None for other data

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def train_inputs(self) -> np.ndarray:
        return self.normalization.apply(self.x_train)

    def test_inputs(self) -> np.ndarray:
        return self.normalization.apply(self.x_test)

    def describe(self) -> str:
        return (
            f"{self.name}: train {self.x_train.shape} test {self.x_test.shape}, "
            f"{self.num_classes} classes, from {self.source}"
        )


@dataclass(frozen=True)
class DatasetInfo:
    """One line of ``edgeml datasets``: where a dataset was found (or not) and its shapes."""

    name: str
    found: bool
    location: str
    train_shape: tuple[int, ...] | None = None
    test_shape: tuple[int, ...] | None = None
    num_classes: int | None = None


# ---------------------------------------------------------------------------------------------- public API


def load_dataset(
    spec: str,
    data_path: str | Path | None = None,
    source: DataSource | None = None,
    train_samples: int | None = None,
    test_samples: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset by name: ``mnist``, ``fashion_mnist``, ``digits``, ``npz:PATH`` or ``folder:PATH``.

    ``train_samples``/``test_samples`` take a class-balanced, seeded subset (for quick runs and tests).
    """
    source = source or DataSource()
    name = spec.strip()
    if name in ("mnist", "fashion_mnist"):
        dataset = _load_standard(name, Path(data_path) if data_path else None, source)
    elif data_path is not None:
        raise EdgeMLError(f"--data is only for mnist/fashion_mnist; for your own data use npz:PATH or folder:PATH")
    elif name == "digits":
        dataset = _load_digits()
    elif name.startswith("npz:"):
        dataset = _load_npz_dataset(Path(name[4:]))
    elif name.startswith("folder:"):
        dataset = _load_image_folder(Path(name[7:]))
    else:
        raise EdgeMLError(
            f"unknown dataset {spec!r}: choose one of {', '.join(BUILTIN_DATASETS)}, npz:PATH or folder:PATH"
        )
    validate_arrays(dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test, dataset.name)
    if train_samples is not None or test_samples is not None:
        dataset = subset(dataset, train_samples, test_samples, seed)
    return dataset


def list_datasets(source: DataSource | None = None) -> list[DatasetInfo]:
    """Report, without downloading anything, where each built-in dataset would be loaded from."""
    source = source or DataSource()
    infos = []
    for name in ("mnist", "fashion_mnist"):
        location = _find_local_standard(name, source)
        if location is None:
            looked = ", ".join(str(p) for p in _standard_candidates(name, source))
            infos.append(DatasetInfo(name, False, f"not found locally (looked in {looked}); will try a download"))
            continue
        dataset = _load_standard(name, None, source)
        infos.append(_info_of(dataset))
    infos.append(_info_of(_load_digits()))
    return infos


def subset(dataset: Dataset, train_samples: int | None, test_samples: int | None, seed: int) -> Dataset:
    """A class-balanced, seeded subset of ``dataset`` (same class names and normalisation).

    The train and test subsets draw from generators of their own, so the test subset is the same
    whether or not a train subset was asked for (evaluate and benchmark load only the test part).
    """
    x_train, y_train = dataset.x_train, dataset.y_train
    x_test, y_test = dataset.x_test, dataset.y_test
    if train_samples is not None:
        index = balanced_indices(y_train, train_samples, np.random.default_rng([seed, 0]))
        x_train, y_train = x_train[index], y_train[index]
    if test_samples is not None:
        index = balanced_indices(y_test, test_samples, np.random.default_rng([seed, 1]))
        x_test, y_test = x_test[index], y_test[index]
    return Dataset(
        name=dataset.name,
        source=dataset.source,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=dataset.class_names,
        normalization=dataset.normalization,
        label_format=dataset.label_format,
        pixel_max=dataset.pixel_max,
    )


def balanced_indices(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices spread as evenly as possible over the classes in ``labels``, in shuffled order."""
    if count <= 0:
        raise EdgeMLError(f"sample count must be positive, got {count}")
    if count >= len(labels):
        return rng.permutation(len(labels))
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < count:
        for members in per_class:
            if depth < len(members) and len(chosen) < count:
                chosen.append(int(members[depth]))
        depth += 1
    return rng.permutation(np.asarray(chosen))


def train_validation_split(
    labels: np.ndarray, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified train/validation index split (Keras' own split takes the *last* samples)."""
    if not 0.0 < validation_fraction < 1.0:
        raise EdgeMLError(f"validation split must be between 0 and 1 (exclusive), got {validation_fraction}")
    rng = np.random.default_rng(seed)
    train_index, validation_index = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        cut = int(round(len(members) * validation_fraction))
        validation_index.append(members[:cut])
        train_index.append(members[cut:])
    train = rng.permutation(np.concatenate(train_index))
    validation = rng.permutation(np.concatenate(validation_index))
    if len(validation) == 0 and round(len(labels) * validation_fraction) > 0:
        # Too few samples per class to stratify: fall back to a plain seeded split.
        order = rng.permutation(len(labels))
        cut = int(round(len(labels) * validation_fraction))
        validation, train = order[:cut], order[cut:]
    if len(validation) == 0 or len(train) == 0:
        raise EdgeMLError(
            f"validation split {validation_fraction} leaves an empty train or validation set "
            f"for {len(labels)} samples"
        )
    return train, validation


def validate_arrays(x_train, y_train, x_test, y_test, name: str) -> None:
    """Raise a one-line EdgeMLError for data that cannot be trained on."""
    for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 2:
            raise EdgeMLError(f"{name}: x_{part} must have a sample axis and at least one feature axis, got shape {x.shape}")
        if y.ndim != 1:
            raise EdgeMLError(f"{name}: y_{part} must be a 1-D array of integer labels, got shape {y.shape}")
        if len(x) != len(y):
            raise EdgeMLError(f"{name}: x_{part} has {len(x)} samples but y_{part} has {len(y)} labels")
        if len(x) == 0:
            raise EdgeMLError(f"{name}: the {part} set is empty")
        if not np.issubdtype(y.dtype, np.integer):
            raise EdgeMLError(f"{name}: y_{part} must hold integer class labels, got dtype {y.dtype}")
        if y.min() < 0:
            raise EdgeMLError(f"{name}: y_{part} holds negative labels")
        if not np.isfinite(np.asarray(x, dtype=np.float64)).all():
            raise EdgeMLError(f"{name}: x_{part} contains NaN or infinite values")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise EdgeMLError(f"{name}: train samples {x_train.shape[1:]} and test samples {x_test.shape[1:]} differ in shape")
    if len(np.unique(y_train)) < 2:
        raise EdgeMLError(f"{name}: the training set has only one class; a classifier needs at least two")


# ------------------------------------------------------------------------------------ MNIST and Fashion-MNIST


def _standard_candidates(name: str, source: DataSource) -> list[Path]:
    if name == "mnist":
        return [source.keras_cache / "mnist.npz"]
    return [source.keras_cache / "fashion-mnist", source.debian_fashion_mnist]


def _find_local_standard(name: str, source: DataSource) -> Path | None:
    for candidate in _standard_candidates(name, source):
        if candidate.suffix == ".npz" and candidate.is_file():
            return candidate
        if candidate.is_dir() and _find_idx_files(candidate) is not None:
            return candidate
    return None


def _class_names_for(name: str, num_classes: int) -> tuple[str, ...]:
    if name == "fashion_mnist" and num_classes == len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES
    return tuple(str(i) for i in range(num_classes))


def _load_standard(name: str, data_path: Path | None, source: DataSource) -> Dataset:
    if data_path is not None:
        if not data_path.exists():
            raise EdgeMLError(f"--data path does not exist: {data_path}")
        location = data_path
    else:
        location = _find_local_standard(name, source)
        if location is None:
            location = _download_standard(name, source)
    arrays = _read_npz(location)[0] if location.is_file() else _read_idx_folder(location)
    x_train, y_train, x_test, y_test = arrays
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(
        name=name,
        source=str(location),
        x_train=_with_channel_axis(x_train),
        y_train=y_train.astype(np.int64),
        x_test=_with_channel_axis(x_test),
        y_test=y_test.astype(np.int64),
        class_names=_class_names_for(name, num_classes),
        normalization=choose_normalization(None, x_train, 255.0, user_model=False),
        pixel_max=255.0,
    )


def _download_standard(name: str, source: DataSource) -> Path:
    """Fetch into the Keras cache the same files Keras' own ``load_data`` uses."""
    looked = ", ".join(str(p) for p in _standard_candidates(name, source))
    hint = (
        "pass --data PATH (a Keras .npz or a folder of idx/idx.gz files)"
        + (" or install Debian's dataset-fashion-mnist" if name == "fashion_mnist" else "")
        + ", or run once with internet access"
    )
    if not source.download_url:
        raise EdgeMLError(f"{name} not found (looked in {looked}) and downloads are disabled; {hint}")
    if name == "mnist":
        targets = {"mnist.npz": source.keras_cache / "mnist.npz"}
    else:
        folder = source.keras_cache / "fashion-mnist"
        targets = {f"fashion-mnist/{f}.gz": folder / f"{f}.gz" for f in IDX_FILES.values()}
    try:
        for remote, local in targets.items():
            with urllib.request.urlopen(source.download_url + remote, timeout=source.download_timeout_s) as response:
                with atomic_path(local) as tmp, open(tmp, "wb") as handle:
                    shutil.copyfileobj(response, handle)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise EdgeMLError(f"{name} not found (looked in {looked}) and the download failed ({reason}); {hint}") from None
    return targets[next(iter(targets))] if name == "mnist" else source.keras_cache / "fashion-mnist"


def _read_npz(path: Path) -> tuple[tuple[np.ndarray, ...], list[str] | None]:
    """The four arrays x_train, y_train, x_test, y_test, and ``class_names`` when the file has them."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in IDX_FILES if k not in data.files]
            if missing:
                raise EdgeMLError(f"{path} lacks the arrays {', '.join(missing)} (needs x_train, y_train, x_test, y_test)")
            names = [str(n) for n in data["class_names"]] if "class_names" in data.files else None
            return tuple(np.asarray(data[k]) for k in IDX_FILES), names
    except EdgeMLError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgeMLError(f"cannot read {path} as a .npz file: {exc}") from None


def _find_idx_files(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
            if candidate.is_file():
                found[key] = candidate
                break
    return found if len(found) == len(IDX_FILES) else None


def _read_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    files = _find_idx_files(folder)
    if files is None:
        raise EdgeMLError(
            f"{folder} does not hold the four idx files ({', '.join(IDX_FILES.values())}, optionally .gz)"
        )
    return tuple(read_idx(files[key]) for key in IDX_FILES)


def read_idx(path: Path) -> np.ndarray:
    """Read one idx (optionally gzipped) file as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise EdgeMLError(f"cannot read idx file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise EdgeMLError(f"{path} is not an unsigned-byte idx file")
    ndim = raw[3]
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise EdgeMLError(f"{path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_bytes])
    expected = int(np.prod(shape))
    if len(raw) - header_bytes != expected:
        raise EdgeMLError(f"{path} is truncated or corrupt: {len(raw) - header_bytes} data bytes for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(shape)


def _with_channel_axis(images: np.ndarray) -> np.ndarray:
    return images[..., np.newaxis] if images.ndim == 3 else images


# ----------------------------------------------------------------------------------------- digits, npz, folder


def _load_digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise EdgeMLError("the digits dataset needs scikit-learn: pip install 'edgeml[train]'") from None
    bunch = load_digits()
    images = bunch.images.astype(np.float32)[..., np.newaxis]  # 8x8, values 0..16
    labels = bunch.target.astype(np.int64)
    # Deterministic stratified 80/20 split, fixed seed: the same test set on every machine.
    train_index, test_index = train_validation_split(labels, 0.2, seed=0)
    return Dataset(
        name="digits",
        source="scikit-learn (bundled)",
        x_train=images[train_index],
        y_train=labels[train_index],
        x_test=images[test_index],
        y_test=labels[test_index],
        class_names=tuple(str(i) for i in range(10)),
        normalization=choose_normalization(None, images, 16.0, user_model=False),
        pixel_max=16.0,
    )


def _load_npz_dataset(path: Path) -> Dataset:
    if not path.is_file():
        raise EdgeMLError(f"npz dataset not found: {path}")
    (x_train, y_train, x_test, y_test), names = _read_npz(path)
    label_format = "one-hot" if y_train.ndim == 2 and y_train.shape[1] > 1 else "integer"
    y_train, y_test = _as_label_vector(y_train, "y_train", path), _as_label_vector(y_test, "y_test", path)
    validate_arrays(x_train, y_train, x_test, y_test, str(path))
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if names is not None and len(names) < num_classes:
        raise EdgeMLError(f"{path}: class_names has {len(names)} names but labels go up to {num_classes - 1}")
    class_names = tuple(names) if names is not None else tuple(str(i) for i in range(num_classes))
    pixel_max = 255.0 if x_train.dtype == np.uint8 else None
    return Dataset(
        name=f"npz:{path}",
        source=str(path),
        # The user's layout as saved: edgeml's own models add a channel axis themselves, and a user model's
        # input decides how samples are fitted to it (models.fit_input).
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        normalization=choose_normalization(None, x_train, pixel_max, user_model=False),
        label_format=label_format,
        pixel_max=pixel_max,
    )


def _as_label_vector(labels: np.ndarray, what: str, path: Path) -> np.ndarray:
    """Accept integer labels or one-hot rows; return 1-D int64 labels."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        if not np.all((labels == 0) | (labels == 1)) or not np.all(labels.sum(axis=1) == 1):
            raise EdgeMLError(f"{path}: {what} is 2-D but not one-hot")
        return labels.argmax(axis=1).astype(np.int64)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise EdgeMLError(f"{path}: {what} must be 1-D integer labels or one-hot rows, got shape {labels.shape}")
    if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise EdgeMLError(f"{path}: {what} must hold integer class labels, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _load_image_folder(root: Path, test_fraction: float = 0.2) -> Dataset:
    """One sub-folder per class; images are resized to the first image's size, split 80/20 per class."""
    if not root.is_dir():
        raise EdgeMLError(f"image folder not found: {root}")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise EdgeMLError("folder datasets need Pillow: pip install pillow") from None
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise EdgeMLError(f"{root} has no class sub-folders (expected one folder of images per class)")
    images, labels = [], []
    target_size: tuple[int, int] | None = None
    mode: str | None = None
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise EdgeMLError(f"class folder {class_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for file in files:
            try:
                with Image.open(file) as image:
                    image.load()
                    if mode is None:
                        mode = "L" if image.mode in ("L", "1", "I;16", "I") else "RGB"
                        target_size = image.size
                    converted = image.convert(mode)
                    if converted.size != target_size:
                        converted = converted.resize(target_size)
                    pixels = np.asarray(converted, dtype=np.uint8)
            except (UnidentifiedImageError, OSError, SyntaxError) as exc:
                raise EdgeMLError(f"unreadable image {file}: {exc}") from None
            images.append(pixels if pixels.ndim == 3 else pixels[..., np.newaxis])
            labels.append(label)
    x = np.stack(images)
    y = np.asarray(labels, dtype=np.int64)
    if len(class_dirs) < 2:
        raise EdgeMLError(f"{root} has only one class folder; a classifier needs at least two")
    counts = np.bincount(y)
    if counts.min() < 2:
        small = class_dirs[int(counts.argmin())].name
        raise EdgeMLError(f"class {small!r} in {root} has fewer than 2 images; cannot split train/test")
    train_index, test_index = train_validation_split(y, test_fraction, seed=0)
    return Dataset(
        name=f"folder:{root}",
        source=str(root),
        x_train=x[train_index],
        y_train=y[train_index],
        x_test=x[test_index],
        y_test=y[test_index],
        class_names=tuple(p.name for p in class_dirs),
        normalization=choose_normalization(None, x, 255.0, user_model=False),
        pixel_max=255.0,
    )


def _info_of(dataset: Dataset) -> DatasetInfo:
    return DatasetInfo(
        name=dataset.name,
        found=True,
        location=dataset.source,
        train_shape=tuple(dataset.x_train.shape),
        test_shape=tuple(dataset.x_test.shape),
        num_classes=dataset.num_classes,
    )


def format_dataset_infos(infos: Sequence[DatasetInfo]) -> str:
    lines = []
    for info in infos:
        if info.found:
            lines.append(
                f"{info.name:<14} train {str(info.train_shape):<18} test {str(info.test_shape):<18} "
                f"{info.num_classes} classes  {info.location}"
            )
        else:
            lines.append(f"{info.name:<14} {info.location}")
    lines.append("npz:PATH       your arrays x_train, y_train, x_test, y_test (optional class_names)")
    lines.append("folder:PATH    one sub-folder of images per class")
    return "\n".join(lines)
