"""Tiny int8 models for the C engine tests, converted by the TFLite converter (seeded), and the three
references the engine is compared with: the tflite-micro interpreter, LiteRT BUILTIN_REF and the
engine built on the host."""

from __future__ import annotations

import numpy as np

from edgeml.tf_setup import load_tensorflow


class _Builds(dict):
    """(single_rounding, trace) -> HostEngine, each built on first use, linked from the kernels' object files
    the session has already compiled with the same flags (``BuiltEngine.objects``)."""

    def __init__(self, built: "BuiltEngine") -> None:
        super().__init__()
        self.built = built

    def __missing__(self, key: tuple[bool, bool]):
        from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library

        single, trace = key
        built = self.built
        library = build_shared_library(built.folder, built.folder / f"lib_{int(single)}{int(trace)}.so",
                                       BuildOptions(single_rounding=single, trace=trace), built.objects)
        self[key] = HostEngine(library, built.symbol, built.input.element_count, built.output.element_count,
                               built.compiled.plan.arena_bytes)
        return self[key]


def convert_int8(model, representative: np.ndarray, per_channel_dense: bool | None = None) -> bytes:
    """Full-int8 conversion (int8 input and output) calibrated on ``representative``; Dense weights are
    quantized per channel or per tensor as ``per_channel_dense`` says (None: the converter's default,
    per channel in TF 2.21)."""
    tf = load_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if per_channel_dense is not None:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def calibration():
        for sample in representative:
            yield [sample[np.newaxis].astype(np.float32)]

    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


class BuiltEngine:
    """A model compiled by the C engine and built on the host in both rounding modes (plus trace builds).

    ``objects`` caches the compiled object files (default: ``host-objects/`` beside the C engine's build cache,
    a session temp folder under the tests' ``c_engine_cache`` fixture), so the kernels are compiled once per
    set of flags and each model compiles only its own ``<symbol>_model.c``."""

    def __init__(self, model: bytes, folder, symbol: str = "net", objects=None) -> None:
        from firmware_export.cengine.build import cache_dir
        from firmware_export.cengine.generate import write_files, compile_model
        from firmware_export.cengine.host import ObjectCache

        self.model = model
        self.compiled = compile_model(model, symbol)
        self.graph = self.compiled.graph
        self.folder = write_files(folder, self.compiled.files)[0].parent
        self.input = self.graph.tensor(self.graph.inputs[0])
        self.output = self.graph.tensor(self.graph.outputs[0])
        self.symbol = symbol
        self.objects = objects if objects is not None else ObjectCache(cache_dir().parent / "host-objects")
        self.engines = _Builds(self)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, dtype=np.float64) / self.input.scale) + self.input.zero_point
        return np.clip(q, -128, 127).astype(np.int8).reshape(len(x), -1)

    def exactness(self, inputs: np.ndarray, single_rounding: bool):
        from firmware_export.cengine.exactness import Reference, compare

        reference = Reference.BUILTIN_REF if single_rounding else Reference.TFLM
        result = compare(self.model, self.graph, self.engines[single_rounding, False], inputs, reference)
        if result.identical:
            return result
        # Only a difference needs the trace build, to name the first op that diverges.
        return compare(self.model, self.graph, self.engines[single_rounding, False], inputs, reference,
                       self.engines[single_rounding, True])


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (n, 8, 8, 1) float32 images in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0).astype(np.float32)[..., np.newaxis], data.target


def conv1d_model(input_shape: tuple[int, int, int], classes: int):
    """A user's Conv1D model: the image's rows as time steps (the converter emits CONV_2D between
    RESHAPEs and MEAN over the steps)."""
    layers = load_tensorflow().keras.layers
    inputs = layers.Input(input_shape, batch_size=1)
    x = layers.Reshape(input_shape[:2])(inputs)
    x = layers.Conv1D(12, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(16, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    return load_tensorflow().keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def separable_cnn_model(input_shape: tuple[int, int, int], classes: int):
    """Depthwise-separable blocks with BatchNorm and LeakyReLU, AveragePooling, GlobalAveragePooling."""
    layers = load_tensorflow().keras.layers
    inputs = layers.Input(input_shape, batch_size=1)
    x = inputs
    for index, (filters, layer) in enumerate(((8, "conv"), (8, "depthwise"), (16, "conv"))):
        x = (layers.Conv2D(filters, 3 if index == 0 else 1, padding="same", use_bias=False)(x) if layer == "conv"
             else layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x))
        x = layers.LeakyReLU(0.1)(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return load_tensorflow().keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def residual_model(input_shape: tuple[int, int, int], classes: int):
    """Functional residual blocks: ADD of same shapes, ADD broadcasting over channels (a 1-channel
    branch) and over height and width (a squeeze-style global mean)."""
    layers = load_tensorflow().keras.layers
    inputs = layers.Input(input_shape, batch_size=1)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.ReLU()(layers.Add()([x, layers.Conv2D(8, 3, padding="same")(x)]))
    x = layers.Add()([x, layers.Conv2D(1, 1)(x)])
    x = layers.Add()([x, layers.GlobalAveragePooling2D(keepdims=True)(x)])
    x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return load_tensorflow().keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def concatenation_model(input_shape: tuple[int, int, int], classes: int):
    """Inception-style branches joined by CONCATENATION (three inputs, one of them the model's input)."""
    layers = load_tensorflow().keras.layers
    inputs = layers.Input(input_shape, batch_size=1)
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = layers.Conv2D(6, 1, activation="relu")(inputs)
    x = layers.Concatenate()([a, b, inputs])
    x = layers.MaxPooling2D(2)(x)
    x = layers.Concatenate()([x, layers.Conv2D(4, 3, padding="same", activation="relu")(x)])
    x = layers.Flatten()(x)
    return load_tensorflow().keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def mobilenet_block_model(input_shape: tuple[int, int, int], classes: int):
    """A small MobileNet-style network (Howard et al., arXiv:1704.04861, Table 1's pattern): a 3x3 stride-2
    CONV_2D, then depthwise-separable blocks (3x3 DEPTHWISE_CONV_2D with ReLU6, 1x1 CONV_2D with ReLU6), the
    second block's depthwise at stride 2, then a global average pool and the classifier."""
    layers = load_tensorflow().keras.layers
    inputs = layers.Input(input_shape, batch_size=1)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6")(inputs)
    for stride, filters in ((1, 32), (2, 32)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(x)
        x = layers.Conv2D(filters, 1, activation="relu6")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return load_tensorflow().keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


WHOLE_MODELS = {"conv1d": conv1d_model, "separable_cnn": separable_cnn_model, "residual": residual_model,
                "concatenation": concatenation_model}


def trained_int8(build, images: np.ndarray, labels: np.ndarray, epochs: int = 2, seed: int = 0) -> bytes:
    """``build(input_shape, classes)`` trained briefly (seeded) and PTQ-converted to int8 on 100 images."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(seed)
    model = build(images.shape[1:], int(labels.max()) + 1)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=epochs, batch_size=32, verbose=0)
    return convert_int8(model, images[:100])
