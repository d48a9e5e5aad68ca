"""Per-op property test of the C engine: single-op models from the TFLite converter with random
configurations, weights, biases and scales, fed random int8 inputs. Default build == the tflite-micro
interpreter, single-rounding build == LiteRT BUILTIN_REF, byte for byte. Seeded."""

from __future__ import annotations

import numpy as np
import pytest

from cengine_models import BuiltEngine, convert_int8
from edgeml.tf_setup import load_tensorflow

CASES_PER_OP = 3
SAMPLES = 60
ACTIVATIONS = (None, "relu", "relu6")


def _layer(kind: str, rng: np.random.Generator, layers):
    """A random layer of ``kind`` and an input shape it accepts."""
    activation = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
    padding = ("same", "valid")[rng.integers(2)]
    size = int(rng.integers(5, 11))
    channels = int(rng.integers(1, 5))
    kernel = int(rng.integers(1, 4))
    # Keras allows a dilation or a stride above 1, not both.
    stride, dilation = (int(rng.integers(1, 4)), 1) if rng.random() < 0.6 else (1, int(rng.integers(1, 3)))
    if kind in ("dense", "dense_per_channel"):
        return layers.Dense(int(rng.integers(1, 20)), activation=activation), (int(rng.integers(1, 30)),)
    if kind == "dense_rank3":  # keep_num_dims: the converter keeps (1, rows, units)
        return layers.Dense(int(rng.integers(1, 12)), activation=activation), (int(rng.integers(2, 5)), 7)
    if kind == "conv":
        return (layers.Conv2D(int(rng.integers(1, 7)), kernel, strides=stride, dilation_rate=dilation,
                              padding=padding, activation=activation), (size, size + 1, channels))
    if kind == "depthwise":
        return (layers.DepthwiseConv2D(kernel, strides=stride, dilation_rate=dilation, padding=padding,
                                       depth_multiplier=int(rng.integers(1, 4)), activation=activation),
                (size, size, channels))
    if kind in ("max_pool", "average_pool"):
        pool = layers.MaxPooling2D if kind == "max_pool" else layers.AveragePooling2D
        return pool(int(rng.integers(1, 4)), strides=int(rng.integers(1, 4)), padding=padding), (size, size, channels)
    if kind == "mean":  # global average pooling converts to MEAN over axes 1 and 2
        return layers.GlobalAveragePooling2D(keepdims=bool(rng.integers(2))), (size, size - 1, channels)
    if kind == "softmax":
        return layers.Softmax(), (int(rng.integers(2, 20)),)
    raise AssertionError(kind)


KINDS = ("dense", "dense_per_channel", "dense_rank3", "conv", "depthwise", "max_pool", "average_pool", "softmax",
         "add", "mean")


@pytest.mark.slow  # about 9 s a case on a shared 2-core machine: one conversion, one TFLM process
@pytest.mark.parametrize("case", range(CASES_PER_OP))
@pytest.mark.parametrize("kind", KINDS)
def test_single_op_models_are_byte_exact(kind, case, tmp_path):
    tf = load_tensorflow()
    rng = np.random.default_rng(1000 * KINDS.index(kind) + case)
    tf.keras.utils.set_random_seed(int(rng.integers(1 << 30)))
    layers = tf.keras.layers
    if kind == "add":  # two differently scaled branches summed, sometimes with a fused ReLU
        shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 4)))
        inputs = layers.Input(shape, batch_size=1)
        branches = [layers.Conv2D(shape[-1], 1)(inputs), layers.Dense(shape[-1])(inputs)]
        total = layers.Add()(branches)
        model = tf.keras.Model(inputs, layers.ReLU()(total) if rng.random() < 0.5 else total)
        layer = model
    else:
        layer, shape = _layer(kind, rng, layers)
        model = tf.keras.Sequential([layers.Input(shape, batch_size=1), layer])
    for weights in model.weights:  # random biases too, not the zeros Keras starts with
        weights.assign(rng.normal(0, 0.5, size=weights.shape).astype(np.float32))
    input_scale = float(rng.uniform(0.2, 5.0))
    representative = rng.normal(0, input_scale, size=(30, *shape)).astype(np.float32)
    per_channel_dense = {"dense": False, "dense_per_channel": True}.get(kind)
    content = convert_int8(model, representative, per_channel_dense=per_channel_dense)
    built = BuiltEngine(content, tmp_path / "engine")
    ops = [op for op in built.graph.ops if op.name != "RESHAPE"]
    if kind == "add":
        assert [op.name for op in ops] == ["CONV_2D", "FULLY_CONNECTED", "ADD"]
        ops = ops[2:]
    assert [op.name for op in ops] == [_OP_NAMES[kind]]
    if kind.startswith(("dense", "conv", "depthwise")):
        weights = built.graph.tensor(ops[0].inputs[1])
        channels = weights.shape[-1] if kind == "depthwise" else weights.shape[0]
        assert weights.per_channel == (kind != "dense" and channels > 1)
    if kind == "dense_rank3":
        assert ops[0].options["keep_num_dims"] and len(built.output.shape) == 3
    inputs = rng.integers(-128, 128, size=(SAMPLES, built.input.element_count), dtype=np.int8)
    for single_rounding in (False, True) if kind != "mean" else (False,):
        result = built.exactness(inputs, single_rounding)
        assert result.differing_vectors == 0, f"{kind} {case}: {result.describe()}"


_OP_NAMES = {
    "dense": "FULLY_CONNECTED", "dense_per_channel": "FULLY_CONNECTED", "dense_rank3": "FULLY_CONNECTED",
    "conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "max_pool": "MAX_POOL_2D",
    "average_pool": "AVERAGE_POOL_2D", "softmax": "SOFTMAX", "add": "ADD", "mean": "MEAN",
}


@pytest.mark.xfail(strict=True, reason="known gap: LiteRT BUILTIN_REF's int8 MEAN is not TFLite Micro's "
                                       "algorithm with single rounding, and the engine does not follow it yet")
def test_mean_against_builtin_ref_is_a_known_gap(tmp_path):
    tf = load_tensorflow()
    rng = np.random.default_rng(1000 * KINDS.index("mean"))
    tf.keras.utils.set_random_seed(int(rng.integers(1 << 30)))
    layer, shape = _layer("mean", rng, tf.keras.layers)
    model = tf.keras.Sequential([tf.keras.layers.Input(shape, batch_size=1), layer])
    built = BuiltEngine(convert_int8(model, rng.normal(0, 2, size=(30, *shape)).astype(np.float32)),
                        tmp_path / "engine")
    inputs = rng.integers(-128, 128, size=(SAMPLES, built.input.element_count), dtype=np.int8)
    assert built.exactness(inputs, single_rounding=True).differing_vectors == 0
