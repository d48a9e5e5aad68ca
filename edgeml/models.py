"""Model builders (MLP, CNN, 1-D CNN) from a :class:`ModelSpec`, and loading of user models.

Everything is Keras 2 (``tf_keras``) so that tensorflow-model-optimization can wrap it for QAT later.
The builders keep to layers QAT and TFLite Micro handle: Dense/Conv with fused activations, BatchNorm
directly after a Conv (folds at conversion), MaxPool/AvgPool, Flatten, Reshape.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeml.errors import EdgeMLError
from edgeml.tf_setup import load_keras

ARCHITECTURES = ("mlp", "cnn", "conv1d")
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "linear")
POOLINGS = ("max", "avg")


@dataclass(frozen=True)
class ModelSpec:
    """What to build. ``hidden`` are the Dense widths (for the CNN, the Dense layers after the convs)."""

    arch: str = "mlp"
    hidden: tuple[int, ...] = (256, 64, 32)
    activation: str = "relu"
    dropout: float = 0.0
    batchnorm: bool = False
    filters: tuple[int, ...] = (16, 32)
    kernel_size: int = 3
    pooling: str = "max"
    bn_momentum: float = 0.9

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise EdgeMLError(f"unknown architecture {self.arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        if self.activation not in ACTIVATIONS:
            raise EdgeMLError(f"unknown activation {self.activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        if self.pooling not in POOLINGS:
            raise EdgeMLError(f"unknown pooling {self.pooling!r}: choose max or avg")
        if not 0.0 <= self.dropout < 1.0:
            raise EdgeMLError(f"dropout must be in [0, 1), got {self.dropout}")
        if any(width <= 0 for width in self.hidden) or any(count <= 0 for count in self.filters):
            raise EdgeMLError("layer widths and filter counts must be positive")
        if self.kernel_size <= 0:
            raise EdgeMLError(f"kernel size must be positive, got {self.kernel_size}")
        if self.arch != "mlp" and not self.filters:
            raise EdgeMLError(f"the {self.arch} model needs at least one conv layer (--filters)")

    @classmethod
    def default_for(cls, arch: str) -> "ModelSpec":
        """The defaults per architecture: the textbook MLP, and a compact CNN (Conv-BN-ReLU-MaxPool ×2 →
        Dense 48, 81k parameters on 28×28 inputs) that quantizes cleanly."""
        if arch == "mlp":
            return cls(arch="mlp")
        return cls(arch=arch, hidden=(48,), filters=(16, 32))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        values = dict(data)
        for key in ("hidden", "filters"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int, verbose: bool = False):
    """Build (not compile) the Keras model for ``spec``.

    Two classes get a single sigmoid unit (binary cross-entropy); more get a softmax.
    """
    keras = load_keras(verbose)
    layers = keras.layers
    if num_classes < 2:
        raise EdgeMLError(f"a classifier needs at least two classes, got {num_classes}")
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    if spec.arch == "cnn":
        x = _to_rank(layers, x, input_shape, 3, "cnn (2-D images: H, W, C)")
        pool = layers.MaxPooling2D if spec.pooling == "max" else layers.AveragePooling2D
        x = _conv_blocks(layers, x, spec, layers.Conv2D, pool)
    elif spec.arch == "conv1d":
        x = _to_rank(layers, x, input_shape, 2, "conv1d (1-D signals: length, channels)")
        pool = layers.MaxPooling1D if spec.pooling == "max" else layers.AveragePooling1D
        x = _conv_blocks(layers, x, spec, layers.Conv1D, pool)
    x = layers.Flatten(name="flatten")(x)
    for index, width in enumerate(spec.hidden):
        if spec.batchnorm:
            # Dense -> BN -> activation: the BN folds into the Dense at conversion.
            x = layers.Dense(width, use_bias=False, name=f"dense{index}")(x)
            x = layers.BatchNormalization(momentum=spec.bn_momentum, name=f"dense{index}_bn")(x)
            x = _activation(layers, spec.activation, f"dense{index}_act")(x)
        elif spec.activation in ("relu", "sigmoid", "tanh", "linear"):
            x = layers.Dense(width, activation=spec.activation, name=f"dense{index}")(x)
        else:
            x = layers.Dense(width, name=f"dense{index}")(x)
            x = _activation(layers, spec.activation, f"dense{index}_act")(x)
        if spec.dropout > 0:
            x = layers.Dropout(spec.dropout, name=f"dropout{index}")(x)
    if num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    else:
        outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=f"edgeml_{spec.arch}")


def _conv_blocks(layers, x, spec: ModelSpec, conv, pool):
    """Conv (no bias: the BatchNorm right after it supplies the shift and folds into it) → BN → activation
    → pool, once per entry of ``spec.filters``."""
    for index, count in enumerate(spec.filters):
        x = conv(count, spec.kernel_size, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = layers.BatchNormalization(momentum=spec.bn_momentum, name=f"conv{index}_bn")(x)
        x = _activation(layers, spec.activation, f"conv{index}_act")(x)
        if min(x.shape[1:-1]) >= 2:  # small inputs run out of resolution before the last block
            x = pool(2, name=f"pool{index}")(x)
    return x


def _activation(layers, name: str, layer_name: str):
    if name == "leaky_relu":
        return layers.LeakyReLU(alpha=0.1, name=layer_name)
    return layers.Activation(name, name=layer_name)


def _to_rank(layers, x, input_shape: tuple[int, ...], rank: int, what: str):
    """Add a channel axis when the data has one axis fewer than the conv layers need."""
    if len(input_shape) == rank:
        return x
    if len(input_shape) == rank - 1:
        return layers.Reshape((*input_shape, 1), name="add_channel")(x)
    raise EdgeMLError(f"the {what} model cannot take inputs of shape {input_shape}")


def load_user_model(path: str | Path, verbose: bool = False):
    """Load a ``.keras`` or ``.h5`` model saved with Keras 2 (tf_keras)."""
    path = Path(path)
    if not path.is_file():
        raise EdgeMLError(f"model file not found: {path}")
    if path.suffix not in (".keras", ".h5"):
        raise EdgeMLError(f"model must be a .keras or .h5 file, got {path.name}")
    keras = load_keras(verbose)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises a wide variety of types for bad files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ""
        if path.suffix == ".keras" and _saved_by_keras3(path):
            hint = (" (it was saved by Keras 3; tensorflow-model-optimization needs Keras 2: rebuild and save it "
                    "with tf_keras, e.g. `import tf_keras as keras`)")
        raise EdgeMLError(f"cannot load Keras model {path}: {message}{hint}") from None


def _saved_by_keras3(path: Path) -> bool:
    """A ``.keras`` archive's metadata.json names the Keras version that wrote it."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            version = json.loads(archive.read("metadata.json")).get("keras_version", "")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return str(version).startswith("3")


def model_summary(model) -> str:
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, **_: buffer.write(line + "\n"), line_length=96)
    return buffer.getvalue()


def check_model_fits_data(model, input_shape: tuple[int, ...], num_classes: int) -> None:
    """A user model must take the dataset's samples and output one score per class (or one sigmoid)."""
    model_input = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if model_input is None:
        raise EdgeMLError("models with several inputs are not supported")
    if any(d is not None and d != s for d, s in zip(model_input, input_shape)) or len(model_input) != len(input_shape):
        raise EdgeMLError(f"the model expects inputs of shape {model_input} but the dataset has {input_shape}")
    outputs = model.output_shape[-1]
    if outputs != num_classes and not (num_classes == 2 and outputs == 1):
        raise EdgeMLError(f"the model has {outputs} outputs but the dataset has {num_classes} classes")
