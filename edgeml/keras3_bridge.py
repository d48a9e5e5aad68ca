"""Keras 3 models in edgeml: detect them, load them, and rebuild them as tf_keras models for QAT.

``pip install tensorflow`` gives Keras 3, but tensorflow-model-optimization only wraps Keras 2 (tf_keras)
models (tfmot#1144, Keras 3 support open as tfmot#1119). The bridge rebuilds a Keras 3 Sequential or
Functional graph layer by layer from tf_keras classes (each layer's config translated, its weights copied)
and proves the copy equal on real inputs before anything trains: :func:`check_bridge` compares the outputs
of both models and names the first layer whose outputs differ. PTQ needs no bridge: the converter traces
the Keras 3 model itself (see ``edgeml.quantize``).

``TF_USE_LEGACY_KERAS=1`` (set by :mod:`edgeml.tf_setup`) makes ``tf.keras`` tf_keras, while ``import keras``
still gives Keras 3, the package TensorFlow depends on: both live in one process.
"""

from __future__ import annotations

import inspect
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.tf_setup import load_keras, load_tensorflow

BRIDGE_TOLERANCE = 1e-5  # max |output difference| allowed between the Keras 3 model and its tf_keras bridge
DIAGNOSIS_SAMPLES = 256  # test samples used to find the first layer whose outputs differ

# The layers the bridge rebuilds: each class has a tf_keras namesake taking the same config (after
# _translated_config). Anything else is refused by name, with the reason, before anything runs.
BRIDGED_LAYERS = frozenset({
    # core and activations
    "Dense", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Identity",
    # convolution
    "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Conv1DTranspose", "Conv2DTranspose",
    # pooling
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    # normalization
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "Normalization",
    "Rescaling",
    # reshaping
    "Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D",
    "Cropping2D", "UpSampling1D", "UpSampling2D",
    # merging
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    # regularization (identity at inference)
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization",
})

# Keras 3 config keys whose value, when not the given default, changes what the layer computes and has
# no tf_keras counterpart: refused with the reason.
_UNBRIDGEABLE_OPTIONS = {
    "quantization_config": (None, "it carries a Keras 3 quantization config"),
    "lora_rank": (None, "it has LoRA weights (lora_rank)"),
    "renorm": (False, "batch renormalization (renorm=True) is not bridged"),
    "rms_scaling": (False, "RMS scaling (rms_scaling=True) is not bridged"),
}
_RENAMED_OPTIONS = {"LeakyReLU": {"negative_slope": "alpha"}}
_DROPPED_OPTIONS = ("seed",)  # dropout/noise seeds: identity at inference, fine-tuning draws its own
# Keras 3 config keys some tf_keras layers do not take, dropped when they hold the only value tf_keras computes
# (Keras 3's ZeroPadding1D/Cropping1D record data_format; tf_keras' are channels-last only).
_IMPLICIT_IN_TF_KERAS = {"data_format": "channels_last"}


def saved_by_keras3(path: str | Path) -> bool:
    """Whether ``path`` was written by Keras 3, read from the file itself: a ``.keras`` archive's
    ``metadata.json`` ``keras_version``, or an ``.h5`` file's root attribute ``keras_version``
    (tf_keras writes ``2.x``). An unreadable file is not Keras 3 (loading then names the real problem)."""
    path = Path(path)
    version = ""
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                version = json.loads(archive.read("metadata.json")).get("keras_version", "")
        elif path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as handle:
                version = handle.attrs.get("keras_version", "")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return str(version).startswith("3")


def is_keras3_model(model: Any) -> bool:
    """Whether ``model`` is a Keras 3 model object (class from the ``keras`` package, not ``tf_keras``)."""
    return any(cls.__module__.split(".")[0] == "keras" and cls.__name__ == "Model"
               for cls in type(model).__mro__)


def load_keras3_model(path: str | Path, options: dict[str, Any]):
    """Load a model file written by Keras 3 with Keras 3 (``compile=False`` plus ``options``, e.g.
    ``safe_mode``). Raises whatever Keras raises: :func:`edgeml.models.load_user_model` turns it into one
    EdgeMLError the same way for both Keras versions."""
    load_tensorflow()  # TF_USE_LEGACY_KERAS first, so tf.keras stays tf_keras
    import keras

    return keras.saving.load_model(path, compile=False, **options)


def bridge_prepared(prepared, verbose: bool = False, batch_size: int = 256):
    """A :class:`~edgeml.models.PreparedModel` holding a Keras 3 model, with the model bridged to tf_keras and
    checked on the prepared test inputs (the inputs it will be trained on); prints the check's line."""
    from dataclasses import replace

    bridge = bridge_to_tf_keras(prepared.model, verbose)
    check = check_bridge(prepared.model, bridge, prepared.dataset.test_inputs(), batch_size=batch_size)
    print(check.line())
    return replace(prepared, model=bridge.model, bridge=check)


PTQ_REMEDY = "or use --method ptq (the Keras 3 model is then converted directly, no bridge)"
TRAIN_REMEDY = ("or train it with Keras 3 and quantize the saved file with `edgeml quantize --method ptq` "
                "(converted directly, no bridge)")


class BridgeRefused(EdgeMLError):
    """Layers the bridge cannot rebuild in tf_keras, each ``name (Type): reason``; raised before anything runs.
    The message ends with ``remedy``: how to go on without the bridge, in the words of the command run."""

    def __init__(self, layers: tuple[str, ...], remedy: str = PTQ_REMEDY) -> None:
        self.layers = tuple(layers)
        super().__init__("the Keras 3 model cannot be bridged to tf_keras (which QAT needs): "
                         + "; ".join(self.layers) + f". Rewrite these with standard Keras layers, {remedy}")


@dataclass(frozen=True)
class Bridge:
    """A Keras 3 model rebuilt in tf_keras: ``model``, and per bridged layer (in graph order) the name and
    the output tensor in both graphs (``tensor_pairs``), which :func:`check_bridge` uses to find the first
    layer whose outputs differ."""

    model: Any
    layer_count: int
    tensor_pairs: tuple[tuple[str, Any, Any], ...]


@dataclass(frozen=True)
class BridgeCheck:
    """The bridged model's outputs against the Keras 3 original's on ``samples`` test inputs."""

    layers: int
    max_abs_diff: float
    samples: int
    tolerance: float = BRIDGE_TOLERANCE

    def line(self) -> str:
        """``Keras 3 model bridged to tf_keras (12 layers, max |diff| 3e-7 on 2,000 test samples)``."""
        difference = re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{self.max_abs_diff:.1g}")  # 3e-07 -> 3e-7
        return (f"Keras 3 model bridged to tf_keras ({self.layers} layers, max |diff| {difference} "
                f"on {self.samples:,} test samples)")

    def to_dict(self) -> dict[str, Any]:
        return {"path": "bridged to tf_keras", "layers": self.layers, "max_abs_diff": self.max_abs_diff,
                "samples": self.samples, "tolerance": self.tolerance}


def refused_layers(model) -> list[str]:
    """Every operation of a Keras 3 model the bridge cannot rebuild, as ``name (Type): reason``."""
    import keras

    if not isinstance(model, keras.Model):
        return [f"{getattr(model, 'name', '?')} ({type(model).__name__}): not a Keras model"]
    if isinstance(model, keras.Sequential) and not _is_graph_model(model):
        return [f"{model.name} (Sequential): no input shape; start it with keras.Input(shape)"]
    if not _is_graph_model(model):
        return [f"{model.name} ({type(model).__name__}): a subclassed model; its call() is Python code, not a "
                "layer graph (build it with keras.Input and the functional API or Sequential)"]
    refused = []
    for operation in _operations(model):
        reason = _refusal(operation)
        if reason:
            refused.append(f"{operation.name} ({type(operation).__name__}): {reason}")
    return refused


def _is_graph_model(model) -> bool:
    import keras

    if isinstance(model, keras.Sequential):
        return bool(model.built and model.inputs)
    return type(model).__name__ == "Functional"


def _operations(model) -> list:
    """A graph model's layers and ops in graph order (a Sequential lists its layers without the input)."""
    return list(model.operations) if hasattr(model, "operations") else list(model.layers)


def _refusal(operation) -> str:
    import keras

    kind = type(operation).__name__
    if isinstance(operation, keras.layers.InputLayer):
        return ""
    if isinstance(operation, keras.Model):
        return "a nested model; tfmot cannot quantize a model inside a model either (flatten it into one graph)"
    if not isinstance(operation, keras.layers.Layer):
        return ("a raw Keras op in the graph (e.g. x * 0.5 or keras.ops.*), not a layer; use a layer such as "
                "layers.Rescaling, layers.Multiply or layers.Add")
    if kind not in BRIDGED_LAYERS:
        return "no tf_keras equivalent known to the bridge"
    config = operation.get_config()
    for option, (default, reason) in _UNBRIDGEABLE_OPTIONS.items():
        if config.get(option, default) not in (default, None):
            return reason
    return ""


def bridge_to_tf_keras(model, verbose: bool = False) -> Bridge:
    """Rebuild a Keras 3 Sequential or Functional model as a tf_keras functional model with the same
    layers, names, connections (shared inputs and shared layers included) and weights.

    Raises :class:`BridgeRefused` naming every layer it cannot rebuild, with the reason, before building
    anything; EdgeMLError if a rebuilt layer's weights do not match the original's shapes.
    """
    refused = refused_layers(model)
    if refused:
        raise BridgeRefused(tuple(refused))
    tf_keras = load_keras(verbose)
    import keras

    rebuilt_layers: dict[int, tuple[Any, Any]] = {}  # id(Keras 3 layer) -> (it, its tf_keras copy), shared once
    node_outputs: dict[int, list] = {}  # id(Keras 3 node) -> its tf_keras output tensors
    pairs: list[tuple[str, Any, Any]] = []

    # The model's inputs become tf_keras Inputs, also when they are intermediate tensors of the saved graph
    # (a model whose leading preprocessing layer edgeml split off starts at that layer's output).
    inputs = {id(tensor): tf_keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype,
                                         name=_input_name(tensor, index))
              for index, tensor in enumerate(model.inputs)}

    def rebuilt(tensor):
        if id(tensor) in inputs:
            return inputs[id(tensor)]
        operation, node_index, tensor_index = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        if id(node) in node_outputs:
            return node_outputs[id(node)][tensor_index]
        if isinstance(operation, keras.layers.InputLayer):
            raise EdgeMLError(f"the Keras 3 graph reaches input {operation.name!r}, which is not an input of the model")
        args = keras.tree.map_structure(_mapped(keras, rebuilt), node.arguments.args)
        kwargs = keras.tree.map_structure(_mapped(keras, rebuilt), node.arguments.kwargs)
        if id(operation) not in rebuilt_layers:
            rebuilt_layers[id(operation)] = (operation, _tf_keras_layer(tf_keras, operation))
        node_outputs[id(node)] = keras.tree.flatten(rebuilt_layers[id(operation)][1](*args, **kwargs))
        for original, copy in zip(keras.tree.flatten(node.output_tensors), node_outputs[id(node)]):
            pairs.append((operation.name, original, copy))
        return node_outputs[id(node)][tensor_index]

    outputs = [rebuilt(tensor) for tensor in model.outputs]
    sources = [inputs[id(tensor)] for tensor in model.inputs]
    bridged = tf_keras.Model(sources[0] if len(sources) == 1 else sources,
                             outputs[0] if len(outputs) == 1 else outputs, name=model.name)
    for original, copy in rebuilt_layers.values():
        _copy_weights(original, copy)
    return Bridge(model=bridged, layer_count=len(rebuilt_layers), tensor_pairs=tuple(pairs))


def _input_name(tensor, index: int) -> str:
    operation = tensor._keras_history[0]
    return operation.name if type(operation).__name__ == "InputLayer" else ("input" if index == 0 else f"input{index}")


def _mapped(keras, rebuilt):
    def value(item):
        return rebuilt(item) if isinstance(item, keras.KerasTensor) else item

    return value


def _tf_keras_layer(tf_keras, layer):
    """The tf_keras layer computing what the Keras 3 ``layer`` computes, from its translated config."""
    kind = type(layer).__name__
    cls = getattr(tf_keras.layers, kind)
    config = _translated_config(layer, cls)
    try:
        return cls.from_config(config)
    except Exception as exc:  # from_config raises TypeError/ValueError for options it does not take
        raise BridgeRefused((f"{layer.name} ({kind}): tf_keras cannot take its config ({str(exc).splitlines()[0]})",)) from None


def _translated_config(layer, cls) -> dict[str, Any]:
    """Keras 3's config as tf_keras reads it: the dtype policy as its name, serialized objects (regularizers,
    constraints) in tf_keras' ``{class_name, config}`` form, renamed keys renamed, Keras-3-only keys with
    their neutral value dropped, initializers dropped (the weights are copied, never initialised)."""
    import keras

    kind = type(layer).__name__
    config = dict(layer.get_config())
    renames = _RENAMED_OPTIONS.get(kind, {})
    parameters = inspect.signature(cls.__init__).parameters
    translated: dict[str, Any] = {}
    for key, value in config.items():
        key = renames.get(key, key)
        if key in _UNBRIDGEABLE_OPTIONS or key in _DROPPED_OPTIONS or key.endswith("_initializer"):
            continue
        if key == "dtype":
            value = keras.mixed_precision.dtype_policy().name if value is None else _policy_name(value)
        elif isinstance(value, dict) and "class_name" in value:
            value = _plain_serialized(value)
        if key not in parameters and _IMPLICIT_IN_TF_KERAS.get(key, object()) == value:
            continue
        if key not in parameters and key not in ("name", "trainable", "dtype"):
            any_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            if not any_kwargs:
                continue
        translated[key] = value
    if kind == "Normalization":
        translated.update(_normalization_statistics(layer))
    return translated


def _policy_name(value) -> str:
    if isinstance(value, dict):
        return value.get("config", {}).get("name", "float32")
    return str(getattr(value, "name", value))


def _plain_serialized(value: dict) -> dict:
    """A Keras 3 serialized object (``module``, ``class_name``, ``config``, ``registered_name``) as tf_keras'
    ``{class_name, config}``."""
    return {"class_name": value["class_name"], "config": value.get("config", {})}


def _normalization_statistics(layer) -> dict[str, Any]:
    """Keras 3 Normalization keeps adapted statistics in its own variables; give tf_keras them as constants."""
    import keras

    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64)
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64)
    return {"mean": mean.reshape(-1).tolist() if mean.size > 1 else float(mean.reshape(-1)[0]),
            "variance": variance.reshape(-1).tolist() if variance.size > 1 else float(variance.reshape(-1)[0])}


def _copy_weights(original, copy) -> None:
    if type(original).__name__ == "Normalization":
        return  # statistics passed as constants in the config
    weights = original.get_weights()
    expected = [tuple(w.shape) for w in copy.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise EdgeMLError(
            f"layer {original.name} ({type(original).__name__}): its Keras 3 weights have shapes "
            f"{[tuple(w.shape) for w in weights]} but the tf_keras layer has {expected}; it cannot be bridged"
        )
    copy.set_weights(weights)


def check_bridge(original, bridge: Bridge, samples: np.ndarray, batch_size: int = 256,
                 tolerance: float = BRIDGE_TOLERANCE) -> BridgeCheck:
    """Run the Keras 3 ``original`` and the bridged model on ``samples`` (the model's input, normalised as
    it will be trained on) and compare their outputs.

    Raises EdgeMLError if the max |difference| exceeds ``tolerance``, naming the first layer (in graph
    order) whose outputs differ by more than ``tolerance`` on the first samples.
    """
    expected = np.asarray(original.predict(samples, batch_size=batch_size, verbose=0), dtype=np.float64)
    bridged = np.asarray(bridge.model.predict(samples, batch_size=batch_size, verbose=0), dtype=np.float64)
    max_abs_diff = float(np.max(np.abs(expected - bridged))) if expected.size else 0.0
    if not max_abs_diff <= tolerance:
        layer, difference = first_differing_layer(original, bridge, samples[:DIAGNOSIS_SAMPLES], tolerance)
        raise EdgeMLError(
            f"the tf_keras bridge of the Keras 3 model differs from it by max |diff| {max_abs_diff:.3g} on "
            f"{len(samples):,} test samples (tolerance {tolerance:g}); the first layer whose outputs differ is "
            f"{layer} (max |diff| {difference:.3g}); use --method ptq to convert the Keras 3 model directly"
        )
    return BridgeCheck(layers=bridge.layer_count, max_abs_diff=max_abs_diff, samples=int(len(samples)),
                       tolerance=tolerance)


def first_differing_layer(original, bridge: Bridge, samples: np.ndarray, tolerance: float) -> tuple[str, float]:
    """The first bridged layer (graph order) whose outputs differ from the original's by more than
    ``tolerance`` on ``samples``, as ``("name (Type)", max |diff|)``; the model's output if none does."""
    import keras

    tf_keras = load_keras()
    names = [name for name, _, _ in bridge.tensor_pairs]
    probe3 = keras.Model(original.inputs, [pair[1] for pair in bridge.tensor_pairs])
    probe2 = tf_keras.Model(bridge.model.inputs, [pair[2] for pair in bridge.tensor_pairs])
    outputs3 = probe3.predict(samples, verbose=0)
    outputs2 = probe2.predict(samples, verbose=0)
    kinds = {layer.name: type(layer).__name__ for layer in _operations(original)}
    largest = 0.0
    for name, value3, value2 in zip(names, outputs3, outputs2):
        difference = float(np.max(np.abs(np.asarray(value3, np.float64) - np.asarray(value2, np.float64))))
        largest = max(largest, difference)
        if difference > tolerance:
            return f"{name} ({kinds.get(name, '?')})", difference
    return f"{names[-1]} ({kinds.get(names[-1], '?')}), the output", largest
