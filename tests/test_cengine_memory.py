"""The C engine's memory: conv + pool fusion and in-place element-wise ops change no output byte (against
TFLite Micro in the default build, LiteRT BUILTIN_REF in the single-rounding build) and shrink the plan
to what a hand count of the live tensors says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cengine_models import BuiltEngine, convert_int8
from edgeml.tf_setup import load_tensorflow
from firmware_export.cengine.host import SANITIZE_FLAGS, BuildOptions, build_executable, run_executable

SAMPLES = 120


def _convert(build, input_shape: tuple[int, ...], seed: int = 0) -> bytes:
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(seed)
    model = build(tf.keras.layers, tf.keras.Input(input_shape))
    representative = np.random.default_rng(seed).normal(size=(40, *input_shape)).astype(np.float32)
    return convert_int8(model, representative)


def _conv_pools(layers, x):
    """Conv (SAME) -> average pool with overlapping, padded windows (3x3, stride 2, SAME), then
    depthwise conv (multiplier 2) -> max pool 2x2 (VALID, odd size: the last conv row is never read)."""
    tf = load_tensorflow()
    inputs = x
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return tf.keras.Model(inputs, layers.Dense(5)(x))


def _residual_add(layers, x):
    """Dense a -> Dense b(a) -> a + b -> Dense: the ADD is the last use of both a and b."""
    tf = load_tensorflow()
    first = layers.Dense(8, activation="relu")(x)
    second = layers.Dense(8)(first)
    added = layers.Add()([first, second])
    return tf.keras.Model(x, layers.Dense(4)(added))


@pytest.fixture(scope="module")
def conv_pools(tmp_path_factory) -> BuiltEngine:
    return BuiltEngine(_convert(_conv_pools, (9, 9, 2)), tmp_path_factory.mktemp("fused") / "engine")


@pytest.fixture(scope="module")
def residual(tmp_path_factory) -> BuiltEngine:
    return BuiltEngine(_convert(_residual_add, (16,)), tmp_path_factory.mktemp("residual") / "engine")


def _inputs(built: BuiltEngine, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).integers(-128, 128, size=(SAMPLES, built.input.element_count))
    return values.astype(np.int8)


def _shape(built: BuiltEngine, op_index: int) -> tuple[int, ...]:
    return built.graph.tensor(built.graph.ops[op_index].outputs[0]).shape


def test_conv_pool_pairs_are_fused_and_their_conv_outputs_never_stored(conv_pools):
    names = [op.name for op in conv_pools.graph.ops]
    assert names[:4] == ["CONV_2D", "AVERAGE_POOL_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"]
    fusions = [(f.conv_op, f.pool_op) for f in conv_pools.compiled.fusions]
    assert fusions == [(0, 1), (2, 3)]
    assert [call.kernel for call in conv_pools.compiled.lowered.calls][:2] == ["conv_pool", "conv_pool"]
    engine = json.loads((conv_pools.folder / "engine.json").read_text())
    storage = {row["index"]: row["storage"] for row in engine["tensors"]}
    for op in (0, 2):
        assert storage[conv_pools.graph.ops[op].outputs[0]] == "unstored"
    # By hand: the live activations are pool 1's output (5x5x4 = 100 bytes) while the second fused call
    # writes pool 2's (2x2x8 = 32 bytes); the flattened 32 bytes then feed the last Dense (the output).
    assert _shape(conv_pools, 1) == (1, 5, 5, 4) and _shape(conv_pools, 3) == (1, 2, 2, 8)
    assert conv_pools.compiled.plan.liveness_floor_bytes == 100 + 32
    assert conv_pools.compiled.plan.arena_bytes == 100 + 32


@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_fused_conv_pools_are_byte_exact(conv_pools, single_rounding):
    result = conv_pools.exactness(_inputs(conv_pools, 1), single_rounding)
    assert result.samples == SAMPLES and result.differing_vectors == 0, result.describe()


def test_in_place_add_shares_its_input_bytes(residual):
    """Unfused by hand: a (8 B), b (8 B) and a + b (8 B) are live at the ADD, 24 bytes; in place 16."""
    assert [op.name for op in residual.graph.ops] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "ADD",
                                                      "FULLY_CONNECTED"]
    add = residual.graph.ops[2]
    (in_place,) = residual.compiled.in_place
    assert (in_place.op, in_place.output) == (2, add.outputs[0]) and in_place.input in add.inputs
    plan = residual.compiled.plan
    assert plan.arena_bytes == 16 and plan.liveness_floor_bytes == 16
    engine = json.loads((residual.folder / "engine.json").read_text())
    row = next(row for row in engine["tensors"] if row["index"] == add.outputs[0])
    assert row["offset"] == plan.offset_of(in_place.input) and row["alias_of"] == in_place.input


@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_in_place_add_is_byte_exact(residual, single_rounding):
    result = residual.exactness(_inputs(residual, 2), single_rounding)
    assert result.differing_vectors == 0, result.describe()


@pytest.mark.parametrize("which", ["conv_pools", "residual"])
def test_sanitized_poisoned_build_of_fused_and_in_place_models(which, request, tmp_path):
    """ASan + UBSan with exactly <NAME>_ARENA_BYTES, dead tensors overwritten: the same bytes."""
    built = request.getfixturevalue(which)
    program = build_executable(built.folder, "net", tmp_path / "net_asan",
                               BuildOptions(optimization="-O1", poison=True, extra_flags=SANITIZE_FLAGS))
    inputs = _inputs(built, 3)[:50]
    outputs = run_executable(program, inputs, built.output.element_count)
    np.testing.assert_array_equal(outputs, built.engines[False, False].run(inputs))
