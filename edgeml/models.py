"""Model builders (MLP, CNN, 1-D CNN) from a :class:`ModelSpec`, and loading of user models.

Everything edgeml builds is Keras 2 (``tf_keras``) so that tensorflow-model-optimization can wrap it for
QAT later; user models saved by Keras 3 load as Keras 3 models (see :mod:`edgeml.keras3_bridge`).
The builders keep to layers QAT and TFLite Micro handle: Dense/Conv with fused activations, BatchNorm
directly after a Conv (folds at conversion), MaxPool/AvgPool, Flatten, Reshape.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
        # A 1-D signal (length, channels) as a one-row image: tfmot has no QAT wrapper for Conv1D, but
        # wraps Conv2D with a (1, k) kernel and (1, p) pooling, which compute the same thing.
        x = _to_rank(layers, x, input_shape, 2, "conv1d (1-D signals: length, channels)")
        x = layers.Reshape((1, *x.shape[1:]), name="as_one_row")(x)
        pool = layers.MaxPooling2D if spec.pooling == "max" else layers.AveragePooling2D
        x = _conv_blocks(layers, x, spec, layers.Conv2D, pool, one_row=True)
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


def _conv_blocks(layers, x, spec: ModelSpec, conv, pool, one_row: bool = False):
    """Conv (no bias: the BatchNorm right after it supplies the shift and folds into it) → BN → activation
    → pool, once per entry of ``spec.filters``. ``one_row``: the input is (1, length, channels) and
    kernels and pools run along the length only."""
    kernel = (1, spec.kernel_size) if one_row else spec.kernel_size
    window = (1, 2) if one_row else 2
    for index, count in enumerate(spec.filters):
        x = conv(count, kernel, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = layers.BatchNormalization(momentum=spec.bn_momentum, name=f"conv{index}_bn")(x)
        x = _activation(layers, spec.activation, f"conv{index}_act")(x)
        pooled_axes = x.shape[2:-1] if one_row else x.shape[1:-1]
        if min(pooled_axes) >= 2:  # small inputs run out of resolution before the last block
            x = pool(window, name=f"pool{index}")(x)
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


TRUST_HINT = (
    "rewrite them as Keras layers (e.g. layers.Rescaling for x/255, layers.Add for a+b), or pass "
    "--trust-model-code if you trust the file (recorded in the run, so later stages reload it the same way)"
)


def load_user_model(path: str | Path, verbose: bool = False, trust_model_code: bool = False):
    """Load a ``.keras`` or ``.h5`` model: a Keras 2 (tf_keras) file as a tf_keras model, a Keras 3 file
    (detected from the file itself, see :func:`edgeml.keras3_bridge.saved_by_keras3`) as a Keras 3 model,
    which QAT and training reach through :mod:`edgeml.keras3_bridge` and PTQ converts directly.

    A model holding ``Lambda`` layers (Python code stored in the file) is refused the same way in both
    formats unless ``trust_model_code``: Keras' safe mode refuses it in a ``.keras`` file only, which left
    ``.h5`` models training and every later stage failing on the ``.keras`` file ``train`` wrote.
    """
    from edgeml.keras3_bridge import load_keras3_model, saved_by_keras3

    path = Path(path)
    if not path.is_file():
        raise EdgeMLError(f"model file not found: {path}")
    if path.suffix not in (".keras", ".h5"):
        raise EdgeMLError(f"model must be a .keras or .h5 file, got {path.name}")
    keras = load_keras(verbose)
    keras3 = saved_by_keras3(path)
    options = {"safe_mode": False} if trust_model_code and path.suffix == ".keras" else {}
    try:
        if keras3:
            model = load_keras3_model(path, options)
        else:
            model = keras.models.load_model(path, compile=False, **options)
    except Exception as exc:  # Keras raises a wide variety of types for bad files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "safe_mode" in str(exc) or "Lambda" in message:
            raise EdgeMLError(f"{path} holds Lambda layers (Python code stored in the file): {TRUST_HINT}") from None
        raise EdgeMLError(f"cannot load {'Keras 3' if keras3 else 'Keras'} model {path}: {message}") from None
    refuse_model_code(model, str(path), trust_model_code)
    return model


def refuse_model_code(model, what: str, trust_model_code: bool) -> None:
    """EdgeMLError naming the ``Lambda`` layers of ``model`` (``what``: its file, or the model object) unless
    ``trust_model_code``: a run's saved model then stores their Python code for every later stage to run."""
    code_layers = [layer.name for layer in _all_layers(model) if type(layer).__name__ == "Lambda"]
    if code_layers and not trust_model_code:
        raise EdgeMLError(f"{what} holds Lambda layers ({', '.join(code_layers)}): {TRUST_HINT}")


def keras_model_kind(model) -> str | None:
    """``"Keras 3"`` or ``"tf_keras"`` for a Keras model object, read from its classes (nothing imported);
    None for anything else."""
    for cls in type(model).__mro__:
        if cls.__name__ == "Model":
            package = cls.__module__.split(".")[0]
            if package in ("keras", "tf_keras"):
                return "Keras 3" if package == "keras" else "tf_keras"
    return None


def check_model_object(model) -> None:
    """EdgeMLError unless ``model`` is a Keras 3 or tf_keras (Keras 2) model object."""
    if keras_model_kind(model) is None:
        raise EdgeMLError(f"keras_model must be a Keras 3 or tf_keras model (keras.Model), got {type(model).__name__}")


def describe_model_object(model) -> str:
    """What a model object given to the Python API was, for the records (it has no path):
    ``Keras 3 model object 'residual_mlp' (Functional, 4 layers, 2,410 parameters)``."""
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    try:
        parameters = f", {int(model.count_params()):,} parameters"
    except ValueError:  # a subclassed model that was never built has no weights yet
        parameters = ""
    return (f"{keras_model_kind(model)} model object {model.name!r} ({type(model).__name__}, {len(layers)} layers"
            f"{parameters})")


def copy_model_object(model, verbose: bool = False):
    """A tf_keras copy of a tf_keras model object (same graph, same weights), so training never changes the
    caller's model and every k-fold fold starts from the same weights. Keras 3 objects need none: the
    bridge builds a copy."""
    tf_keras = load_keras(verbose)
    try:
        copy = tf_keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError) as exc:  # subclassed models without get_config
        raise EdgeMLError(f"cannot copy the model object {model.name!r} to train it: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; build it with "
                          "keras.Input and the functional API or Sequential, or pass a saved .keras file") from None
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model) -> list:
    """Every layer, including those of nested models."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
    return found


def model_summary(model) -> str:
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, **_: buffer.write(line + "\n"), line_length=96)
    return buffer.getvalue()


@dataclass(frozen=True)
class InputFit:
    """How dataset samples become the model's input: the same values, reshaped (never re-ordered)."""

    data_shape: tuple[int, ...]
    model_shape: tuple[int, ...]
    action: str  # "" when the shapes already agree

    def apply(self, samples):
        """``samples`` of shape ``(N, *data_shape)`` as ``(N, *model_shape)``."""
        return samples if not self.action else samples.reshape((len(samples), *self.model_shape))

    def line(self) -> str:
        if not self.action:
            return f"input: samples {self.data_shape} go to the model as they are"
        return f"input: {self.action} to fit the model's input: {self.data_shape} -> {self.model_shape}"


def _shapes_agree(model_shape: tuple, data_shape: tuple[int, ...]) -> bool:
    return len(model_shape) == len(data_shape) and all(m is None or m == d for m, d in zip(model_shape, data_shape))


def fit_input(model_shape: tuple, data_shape: tuple[int, ...]) -> InputFit:
    """Fit samples of ``data_shape`` to a model input of ``model_shape`` (``None`` = any size) by adding or
    dropping a trailing 1-axis or by flattening; anything else is a real mismatch, refused."""
    model_shape, data_shape = tuple(model_shape), tuple(int(d) for d in data_shape)
    if _shapes_agree(model_shape, data_shape):
        return InputFit(data_shape, data_shape, "")
    values = 1
    for dim in data_shape:
        values *= dim
    if data_shape and data_shape[-1] == 1 and _shapes_agree(model_shape, data_shape[:-1]):
        return InputFit(data_shape, data_shape[:-1], "dropped the trailing 1-axis")
    if model_shape and model_shape[-1] == 1 and _shapes_agree(model_shape, (*data_shape, 1)):
        return InputFit(data_shape, (*data_shape, 1), "added a trailing 1-axis")
    if len(model_shape) == 1 and model_shape[0] in (None, values):
        return InputFit(data_shape, (values,), "flattened the samples")
    model_values = None if None in model_shape else int(np.prod(model_shape, dtype=np.int64))
    counted = f" ({model_values} values per sample)" if model_values is not None else ""
    raise EdgeMLError(
        f"the model expects inputs of shape {model_shape}{counted} but the dataset's samples have shape "
        f"{data_shape} ({values} values); edgeml fits data to a model only by adding or dropping a trailing "
        "1-axis or by flattening, so one of them must change"
    )


def check_model_fits_data(model, input_shape: tuple[int, ...], num_classes: int) -> InputFit:
    """A user model must take one input the dataset's samples fit (see :func:`fit_input`) and output one
    score per class (or one sigmoid); every way it does not is one EdgeMLError before training."""
    inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    if len(inputs) != 1:
        names = ", ".join(getattr(t, "name", "?") for t in inputs)
        raise EdgeMLError(f"the model has {len(inputs)} inputs ({names}); edgeml trains models with one input")
    if len(outputs) != 1:
        names = ", ".join(getattr(t, "name", "?") for t in outputs)
        raise EdgeMLError(f"the model has {len(outputs)} outputs ({names}); a classifier for edgeml has one "
                          "output of class scores")
    output_shape = tuple(model.output_shape)
    if len(output_shape) != 2:
        raise EdgeMLError(
            f"the model's output has shape {output_shape}; a classifier outputs (None, classes): add a Flatten "
            "or GlobalAveragePooling layer before the last Dense"
        )
    fit = fit_input(tuple(model.input_shape[1:]), input_shape)
    units = output_shape[-1]
    if units != num_classes and not (num_classes == 2 and units == 1):
        raise EdgeMLError(f"the model has {units} outputs but the dataset has {num_classes} classes")
    return fit


def split_preprocessing(model, verbose: bool = False):
    """A leading ``Rescaling`` or ``Normalization`` layer is the model's own input preprocessing: return the
    model without it and that layer as a :class:`~edgeml.data.Normalization` (or ``(model, None)``).

    Taken out of the model, it becomes part of the recorded normalisation, so the int8 input quantization
    covers the normalised range (not the raw one) and QAT does not meet a layer it cannot wrap (tfmot#647).
    Keras' Normalization computes ``(x - mean) / max(sqrt(variance), epsilon)`` (tf_keras and Keras 3
    ``layers/preprocessing/normalization.py``); Rescaling ``x * scale + offset``. Works on tf_keras and
    Keras 3 models alike. Only per-channel (last axis)
    or scalar values fold; anything else stays in the model.
    """
    from edgeml.data import Normalization
    from edgeml.keras3_bridge import is_keras3_model

    if is_keras3_model(model):
        import keras  # Keras 3 (tf.keras is tf_keras once edgeml.tf_setup has run)
    else:
        keras = load_keras(verbose)
    first = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"][:1]
    if not first or len(model.inputs or []) != 1:
        return model, None
    layer = first[0]
    kind = type(layer).__name__
    if kind not in ("Rescaling", "Normalization") or layer.input is not model.inputs[0]:
        return model, None
    channels = model.input_shape[-1]
    if kind == "Rescaling":
        scale = np.asarray(layer.scale, dtype=np.float64)
        offset = np.asarray(layer.offset, dtype=np.float64)
        if not _per_channel(scale, channels) or not _per_channel(offset, channels) or (scale <= 0).any():
            return model, None
        mean, std = (-offset / scale).reshape(-1) + 0.0, (1.0 / scale).reshape(-1)  # + 0.0: no "-0"
    else:
        if getattr(layer, "invert", False):
            return model, None
        mean = np.asarray(layer.mean, dtype=np.float64)
        variance = np.asarray(layer.variance, dtype=np.float64)
        if not _per_channel(mean, channels) or not _per_channel(variance, channels):
            return model, None
        mean = mean.reshape(-1)
        std = np.maximum(np.sqrt(variance), keras.backend.epsilon()).reshape(-1)
    folded = Normalization(mean, std, method="model",
                           note=f"folded from the model's leading {kind} layer {layer.name!r}")
    if isinstance(model, keras.Sequential) and is_keras3_model(model):
        # Keras 3 cannot cut a Sequential at a layer's output ("not connected to inputs"): rebuild the rest.
        rest = [keras.Input(tuple(layer.output.shape[1:]), name="input"), *model.layers[1:]]
        return keras.Sequential(rest, name=model.name), folded
    return keras.Model(layer.output, model.outputs[0], name=model.name), folded


def _per_channel(values: np.ndarray, channels) -> bool:
    """A scalar, or one value per channel of the last axis (any leading axes of size 1)."""
    if values.size == 1:
        return True
    return values.shape[-1] == channels and values.size == channels




@dataclass(frozen=True)
class PreparedModel:
    """A model and its data made to agree: the samples reshaped to the model's input (``fit``) and the
    dataset carrying the normalisation to apply (the model's own preprocessing layer folded into it).
    ``bridge``: for a Keras 3 model rebuilt in tf_keras, the check of the copy against the original."""

    model: Any
    dataset: Any  # edgeml.data.Dataset
    fit: InputFit
    bridge: Any = None  # edgeml.keras3_bridge.BridgeCheck


def prepare_user_model(model, dataset, normalize: str | None = None, recorded=None,
                       verbose: bool = False) -> PreparedModel:
    """Check ``model`` against ``dataset`` (one EdgeMLError per problem), fit the samples to its input and
    choose the normalisation: ``recorded`` (a run's, which ``normalize`` may only repeat), else
    ``normalize`` or the default for a user model (see :func:`edgeml.data.choose_normalization`), after
    which a leading Rescaling/Normalization layer of the model is applied (see :func:`split_preprocessing`).
    """
    from dataclasses import replace

    from edgeml.data import choose_normalization, parse_normalize

    if recorded is not None:
        if normalize is not None and parse_normalize(normalize) is not None:
            requested = choose_normalization(normalize, dataset.x_train, dataset.pixel_max, user_model=True)
            if requested != recorded:
                raise EdgeMLError(
                    f"the run was trained with inputs {recorded.describe()}; --normalize {normalize} asks for "
                    f"{requested.describe()}: drop --normalize (a model only works on the inputs it was trained on)"
                )
        normalization = recorded
    else:
        model, folded = split_preprocessing(model, verbose)
        base_request = normalize if normalize is not None or folded is None else "none"
        normalization = None
    fit = check_model_fits_data(model, dataset.input_shape, dataset.num_classes)
    dataset = replace(dataset, x_train=fit.apply(dataset.x_train), x_test=fit.apply(dataset.x_test))
    if recorded is None:
        base = choose_normalization(base_request, dataset.x_train, dataset.pixel_max, user_model=True)
        if folded is None:
            normalization = base
        elif base.method == "none":
            normalization = folded
        else:
            normalization = replace(base.then(folded), method=f"{base.method}+model",
                                    note=f"{base.note}, then {folded.note}")
    return PreparedModel(model=model, dataset=replace(dataset, normalization=normalization), fit=fit)
