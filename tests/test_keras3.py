"""Keras 3 models in edgeml (issue 14): detected from the file, bridged to tf_keras for QAT (checked equal
first), converted directly for PTQ, their leading Rescaling folded, trained through the bridge.

Every model here is built, trained (2 epochs) and saved by Keras 3 inside the test: with
TF_USE_LEGACY_KERAS=1 (edgeml.tf_setup) ``tf.keras`` is tf_keras, while ``import keras`` is Keras 3.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.keras3_bridge import (
    BRIDGE_TOLERANCE, BRIDGED_LAYERS, BridgeCheck, BridgeRefused, bridge_to_tf_keras, check_bridge, is_keras3_model,
    saved_by_keras3,
)
from edgeml.models import load_user_model, prepare_user_model, split_preprocessing
from edgeml.quantize import QATUnsupportedError, QuantizeConfig, quantize
from edgeml.runtime import LiteModel, decide_class
from edgeml.tf_setup import load_keras
from edgeml.train import TrainConfig, train

CLASSES = 10
CHANCE = 1 / CLASSES


@pytest.fixture(scope="module")
def keras3():
    load_keras()  # TF_USE_LEGACY_KERAS before TensorFlow: tf.keras is tf_keras from here on
    import keras

    assert keras.__version__.startswith("3")
    return keras


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """scikit-learn's 8x8 digits as uint8 images 0..255 of shape (N, 8, 8), 1297 train / 500 test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.clip(data.images * 16, 0, 255).astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], data.target[order].astype(np.uint8)
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, x_train=images[:1297], y_train=labels[:1297], x_test=images[1297:], y_test=labels[1297:])
    return path


def _sequential_cnn(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(), layers.Flatten(), layers.Dense(CLASSES, activation="softmax"),
    ], name="seq_cnn")


def _residual_mlp(keras):
    layers = keras.layers
    inputs = keras.Input((64,), name="pixels")
    hidden = layers.Dense(32, activation="relu")(inputs)
    residual = layers.Dense(32, activation="relu")(hidden)
    x = layers.Add()([hidden, residual])
    return keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x), name="residual_mlp")


def _rescaling_cnn(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)), layers.Rescaling(1 / 255),
        layers.Conv2D(8, 3, activation="relu"), layers.Flatten(), layers.Dense(CLASSES, activation="softmax"),
    ], name="rescaling_cnn")


def _two_branches(keras):
    """One shared input into two branches joined by Concatenate."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 1))
    left = layers.MaxPooling2D()(layers.Conv2D(4, 3, padding="same", activation="relu")(inputs))
    right = layers.Conv2D(4, 1, activation="relu")(layers.AveragePooling2D(2)(inputs))
    x = layers.Flatten()(layers.Concatenate()([left, right]))
    return keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x), name="two_branches")


def _raw_op(keras):
    """``x * 0.5`` in a functional graph is a Keras 3 op, not a layer: the bridge refuses it."""
    layers = keras.layers
    inputs = keras.Input((64,))
    x = layers.Dense(32, activation="relu")(inputs)
    x = x * 0.5
    return keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x), name="raw_op")


def _every_bridged_layer(keras):
    """One untrained functional model through every layer kind in BRIDGED_LAYERS (2-D, 1-D and 3-D paths)."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(0.5, offset=0.1)(layers.ZeroPadding2D(1)(inputs))  # 10x10x3
    x = layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 4.0])(x)
    x = layers.BatchNormalization()(layers.Conv2D(6, 3, activation="relu")(x))  # 8x8x6
    a = layers.DepthwiseConv2D(3, padding="same")(x)
    b = layers.SeparableConv2D(6, 3, padding="same")(x)
    x = layers.Multiply()([layers.Activation("sigmoid")(a), b])
    x = layers.Subtract()([x, layers.Conv2DTranspose(6, 3, padding="same")(x)])
    x = layers.Maximum()([x, layers.Minimum()([a, b])])
    x = layers.Average()([x, layers.LeakyReLU(negative_slope=0.2)(x)])
    x = layers.GroupNormalization(groups=3)(layers.PReLU()(x))
    x = layers.Cropping2D(1)(layers.UpSampling2D()(layers.AveragePooling2D(2)(x)))  # 6x6x6
    x = layers.LayerNormalization()(layers.MaxPooling2D(2)(x))  # 3x3x6
    x = layers.Permute((2, 1, 3))(layers.SpatialDropout2D(0.3)(x))
    sequence = layers.Reshape((9, 6))(x)
    y = layers.ZeroPadding1D(1)(layers.ELU()(layers.Conv1D(4, 3, padding="same")(sequence)))  # 11x4
    y = layers.Cropping1D((1, 2))(layers.UpSampling1D(2)(layers.MaxPooling1D(2)(y)))  # 10 -> 7x4
    y = layers.SeparableConv1D(4, 3, padding="same")(layers.DepthwiseConv1D(3, padding="same")(y))
    y = layers.Conv1DTranspose(4, 3)(layers.AveragePooling1D(2)(y))  # 3 -> 5x4
    y = layers.SpatialDropout1D(0.2)(layers.ReLU(max_value=6.0)(y))
    pooled = [layers.GlobalMaxPooling1D()(y), layers.GlobalAveragePooling1D()(y),
              layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)]
    volume = layers.Conv3D(2, 1)(layers.Reshape((3, 3, 1, 6))(x))
    x = layers.Concatenate()([*pooled, layers.Flatten()(volume)])
    x = layers.Dropout(0.5)(layers.Dense(16, activation="tanh")(x))
    x = layers.GaussianDropout(0.2)(layers.GaussianNoise(0.1)(layers.AlphaDropout(0.1)(x)))
    x = layers.ActivityRegularization(l1=0.01)(layers.UnitNormalization()(layers.Identity()(x)))
    x = layers.Flatten()(layers.RepeatVector(2)(x))
    outputs = layers.Softmax()(layers.Add()([layers.Dense(5)(x), layers.Dense(5)(x)]))
    return keras.Model(inputs, outputs, name="every_layer")


BUILDERS = {"seq_cnn": _sequential_cnn, "residual_mlp": _residual_mlp, "rescaling_cnn": _rescaling_cnn,
            "two_branches": _two_branches, "raw_op": _raw_op}


def _model_inputs(model, images: np.ndarray) -> np.ndarray:
    """What the model itself takes: x/255 unless it rescales itself, shaped to its input."""
    scaled = images.astype(np.float32) if model.name == "rescaling_cnn" else images.astype(np.float32) / 255
    return scaled.reshape((len(images), *model.input_shape[1:]))


@pytest.fixture(scope="module")
def saved(keras3, digits, tmp_path_factory):
    """Each model trained 2 epochs by Keras 3 and saved as .keras: (path, its test accuracy and outputs under
    Keras 3, the trained Keras 3 object itself)."""
    data = np.load(digits)
    folder = tmp_path_factory.mktemp("keras3_models")
    models = {}
    for name, build in BUILDERS.items():
        keras3.utils.set_random_seed(0)
        model = build(keras3)
        model.compile(optimizer=keras3.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(_model_inputs(model, data["x_train"]), data["y_train"], epochs=2, batch_size=32, verbose=0)
        probabilities = model.predict(_model_inputs(model, data["x_test"]), verbose=0)
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == data["y_test"]))
        path = folder / f"{name}.{'h5' if name == 'two_branches' else 'keras'}"  # Keras 3 writes both
        model.save(path)
        models[name] = (path, accuracy, probabilities, model)
    return models


# ------------------------------------------------------------------------------------------- detection


def test_keras3_files_are_detected_from_the_file_itself(keras3, saved, tmp_path):
    """.keras metadata and .h5 attributes name the writer; tf_keras files of the same model are not Keras 3."""
    tf_keras = load_keras()
    keras3_model = _residual_mlp(keras3)
    keras3_model.save(tmp_path / "k3.h5")
    tf_keras_model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2, activation="softmax")])
    tf_keras_model.save(tmp_path / "k2.keras")
    tf_keras_model.save(tmp_path / "k2.h5")
    (tmp_path / "renamed.h5").write_bytes((tmp_path / "k2.h5").read_bytes())
    assert saved_by_keras3(saved["seq_cnn"][0]) and saved_by_keras3(tmp_path / "k3.h5")
    assert not saved_by_keras3(tmp_path / "k2.keras") and not saved_by_keras3(tmp_path / "k2.h5")
    assert not saved_by_keras3(tmp_path / "renamed.h5")
    assert is_keras3_model(load_user_model(tmp_path / "k3.h5"))
    assert not is_keras3_model(load_user_model(tmp_path / "k2.h5"))
    assert is_keras3_model(keras3_model) and not is_keras3_model(tf_keras_model)


# ---------------------------------------------------------------------------------------------- bridge


def test_every_model_trained_well_above_chance(saved):
    for name, (_, accuracy, _, _) in saved.items():
        assert accuracy > CHANCE + 0.5, f"{name}: {accuracy}"


@pytest.mark.parametrize("name", ["seq_cnn", "residual_mlp", "two_branches"])
def test_the_bridged_model_computes_what_the_keras3_model_computes(keras3, saved, digits, name):
    """Outputs equal to float32 rounding (compared here with numpy, independently of check_bridge), the
    same weights, the same layer names; the tf_keras copy is a tf_keras model."""
    model = load_user_model(saved[name][0])
    bridge = bridge_to_tf_keras(model)
    inputs = _model_inputs(model, np.load(digits)["x_test"])
    difference = np.abs(model.predict(inputs, verbose=0) - bridge.model.predict(inputs, verbose=0)).max()
    assert difference <= BRIDGE_TOLERANCE
    assert not is_keras3_model(bridge.model) and type(bridge.model).__module__.startswith("tf_keras")
    original_layers = {layer.name: layer for layer in model.layers}
    for layer in bridge.model.layers[1:]:
        for ours, theirs in zip(layer.get_weights(), original_layers[layer.name].get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    computing = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert bridge.layer_count == len(computing) == {"seq_cnn": 6, "residual_mlp": 4, "two_branches": 7}[name]
    check = check_bridge(model, bridge, inputs)
    assert check.max_abs_diff == pytest.approx(difference, abs=1e-9) and check.samples == 500
    assert check.line().startswith(f"Keras 3 model bridged to tf_keras ({len(computing)} layers, max |diff| ")


def test_every_layer_kind_the_bridge_lists_is_rebuilt_with_its_weights_and_computes_the_same(keras3):
    """One untrained model through every class in BRIDGED_LAYERS, with random weights (and BatchNorm
    statistics): the tf_keras copy's outputs equal Keras 3's on random inputs, compared here with numpy."""
    model = _every_bridged_layer(keras3)
    assert {type(layer).__name__ for layer in model.layers} - {"InputLayer"} == BRIDGED_LAYERS
    rng = np.random.default_rng(3)
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, moving mean, moving variance (> 0)
            layer.set_weights([rng.uniform(0.5, 2.0, w.shape) if index in (0, 3) else rng.normal(0, 0.5, w.shape)
                               for index, w in enumerate(weights)])
        elif weights and type(layer).__name__ != "Normalization":  # Normalization: its statistics, given above
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in weights])
    bridge = bridge_to_tf_keras(model)
    samples = rng.normal(size=(64, 8, 8, 3)).astype(np.float32)
    difference = np.abs(model.predict(samples, verbose=0) - bridge.model.predict(samples, verbose=0)).max()
    assert difference <= BRIDGE_TOLERANCE
    assert bridge.layer_count == len(model.layers) - 1 == 59


def test_the_bridge_line_says_what_happened_in_the_issues_words():
    assert BridgeCheck(layers=12, max_abs_diff=3e-7, samples=2000).line() == (
        "Keras 3 model bridged to tf_keras (12 layers, max |diff| 3e-7 on 2,000 test samples)")
    assert BridgeCheck(layers=4, max_abs_diff=0.0, samples=500).line() == (
        "Keras 3 model bridged to tf_keras (4 layers, max |diff| 0 on 500 test samples)")


def test_a_shared_layer_stays_shared_and_a_bridge_that_differs_names_the_first_layer(keras3):
    layers = keras3.layers
    inputs = keras3.Input((6,))
    shared = layers.Dense(6, activation="tanh", name="shared")
    x = layers.Add(name="sum")([shared(inputs), shared(layers.Dense(6, name="first")(inputs))])
    model = keras3.Model(inputs, layers.Dense(3, activation="softmax", name="head")(x))
    bridge = bridge_to_tf_keras(model)
    samples = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    assert len([layer for layer in bridge.model.layers if layer.name == "shared"]) == 1
    assert check_bridge(model, bridge, samples).max_abs_diff <= BRIDGE_TOLERANCE
    first = bridge.model.get_layer("first")
    first.set_weights([weights + 0.01 for weights in first.get_weights()])
    with pytest.raises(EdgeMLError, match=r"first layer whose outputs differ is first \(Dense\)"):
        check_bridge(model, bridge, samples)


def test_a_layer_the_bridge_cannot_rebuild_is_named_with_the_reason(keras3, saved):
    layers = keras3.layers
    inputs = keras3.Input((8,))
    x = layers.RMSNormalization(name="rms")(layers.Dense(8, name="dense")(inputs))
    x = layers.BatchNormalization(renorm=True, name="renorm_bn")(x)
    with pytest.raises(BridgeRefused) as refused:
        bridge_to_tf_keras(keras3.Model(inputs, x))
    assert refused.value.layers == ("rms (RMSNormalization): no tf_keras equivalent known to the bridge",
                                    "renorm_bn (BatchNormalization): batch renormalization (renorm=True) is not bridged")
    with pytest.raises(BridgeRefused, match=r"multiply \(Multiply\): a raw Keras op in the graph"):
        bridge_to_tf_keras(load_user_model(saved["raw_op"][0]))


# -------------------------------------------------------------------------------------- quantization


def _quantized(path: Path, digits: Path, method: str, out: Path):
    return quantize(QuantizeConfig(target=str(path), dataset=f"npz:{digits}", method=method, out=str(out),
                                   calibration_samples=200, qat_epochs=1))


@pytest.fixture(scope="module")
def quantized(saved, digits, tmp_path_factory):
    """``quantized(name, method)``: the (report, out folder) of that model's quantization, computed once."""
    done = {}

    def get(name: str, method: str):
        if (name, method) not in done:
            out = tmp_path_factory.mktemp(f"{name}_{method}") / "out"
            done[name, method] = (_quantized(saved[name][0], digits, method, out), out)
        return done[name, method]

    return get


@pytest.mark.parametrize("name", ["seq_cnn", "residual_mlp", "rescaling_cnn", "two_branches", "raw_op"])
@pytest.mark.parametrize("method", ["qat", "ptq"])
def test_keras3_models_quantize_within_two_points_of_their_float_tflite(saved, digits, quantized, tmp_path, name,
                                                                         method):
    path, keras3_accuracy, keras3_probabilities, _ = saved[name]
    if name == "raw_op" and method == "qat":
        out = tmp_path / "out"
        with pytest.raises(QATUnsupportedError, match=r"multiply \(Multiply\): a raw Keras op .*--method ptq"):
            _quantized(path, digits, method, out)
        assert not out.exists()  # refused before anything ran
        return
    report, out = quantized(name, method)
    assert report.keras_float_accuracy == pytest.approx(keras3_accuracy, abs=1 / 500)
    float32, int8 = report.variant("float32"), report.variant("int8")
    assert int8.fully_int8 and abs(int8.accuracy - float32.accuracy) <= 0.02
    x_test = np.load(digits)["x_test"]
    lite = LiteModel((out / "model_float32.tflite").read_bytes())  # independently: the file against Keras 3
    expected_inputs = x_test.astype(np.float32) / 255
    float_outputs = lite.predict(expected_inputs.reshape((len(x_test), *lite.input_shape)))
    np.testing.assert_allclose(float_outputs, keras3_probabilities, atol=1e-4)
    assert float32.accuracy == pytest.approx(np.mean(decide_class(float_outputs) == np.load(digits)["y_test"]))
    recorded = json.loads((out / "quantization.json").read_text())
    if method == "qat":
        assert recorded["keras3"]["path"] == "bridged to tf_keras"
        assert 0 <= recorded["keras3"]["max_abs_diff"] <= BRIDGE_TOLERANCE and recorded["keras3"]["samples"] == 500
    else:
        assert recorded["keras3"]["path"].startswith("converted directly")
    if name == "rescaling_cnn":  # the leading Rescaling(1/255) became the recorded normalisation
        assert recorded["normalization"]["mean"] == 0.0 and recorded["normalization"]["std"] == pytest.approx(255.0)
        assert recorded["normalization"]["method"] == "model"
        assert "inputs (x - 0) / 255 [model: folded from the model's leading Rescaling layer" in report.table()


RESIDUAL_MLP_PARAMETERS = (64 * 32 + 32) + (32 * 32 + 32) + (32 * CLASSES + CLASSES)  # its three Dense layers


@pytest.mark.parametrize("method", ["qat", "ptq"])
def test_a_keras3_model_object_quantizes_exactly_like_its_saved_file(saved, digits, quantized, tmp_path, method,
                                                                     capsys):
    """The trained Keras 3 object itself (no file) gives the same bytes as its .keras file given by path, the
    same bridge check, and quantization.json says what was given."""
    path, _, _, model = saved["residual_mlp"]
    from_file, file_out = quantized("residual_mlp", method)
    out = tmp_path / "out"
    report = quantize(QuantizeConfig(keras_model=model, dataset=f"npz:{digits}", method=method, out=str(out),
                                     calibration_samples=200, qat_epochs=1))
    printed = capsys.readouterr().out
    assert ("Keras 3 model bridged to tf_keras (4 layers, max |diff| " if method == "qat"
            else "Keras 3 model: PTQ converts it directly (SavedModel export, no bridge to tf_keras)") in printed
    for name in ("model_int8.tflite", "model_float32.tflite"):
        assert (out / name).read_bytes() == (file_out / name).read_bytes(), name
    assert report.keras3 == from_file.keras3 and report.variant("int8") == from_file.variant("int8")
    recorded, recorded_file = (json.loads((folder / "quantization.json").read_text()) for folder in (out, file_out))
    assert recorded["model"] == (f"Keras 3 model object 'residual_mlp' (Functional, 4 layers, "
                                 f"{RESIDUAL_MLP_PARAMETERS:,} parameters)")
    assert recorded_file["model"] == str(path)
    if method == "qat":
        assert recorded["keras3"]["max_abs_diff"] == recorded_file["keras3"]["max_abs_diff"] <= BRIDGE_TOLERANCE


def test_a_model_object_is_given_alone_with_a_dataset_and_an_output_folder(saved, digits, tmp_path):
    path, _, _, model = saved["residual_mlp"]
    with pytest.raises(EdgeMLError, match="give target .* or keras_model .*, not both"):
        QuantizeConfig(target=str(path), keras_model=model, dataset=f"npz:{digits}", out=str(tmp_path))
    with pytest.raises(EdgeMLError, match="a keras_model object needs dataset .* and out"):
        QuantizeConfig(keras_model=model, dataset=f"npz:{digits}")
    with pytest.raises(EdgeMLError, match="nothing to quantize"):
        QuantizeConfig(dataset=f"npz:{digits}")
    with pytest.raises(EdgeMLError, match="keras_model must be a Keras 3 or tf_keras model .*, got str"):
        QuantizeConfig(keras_model=str(path), dataset=f"npz:{digits}", out=str(tmp_path))
    with pytest.raises(EdgeMLError, match="give model_path .* or keras_model .*, not both"):
        TrainConfig(model_path=str(path), keras_model=model)


def test_the_leading_normalization_of_a_keras3_model_folds_per_channel(keras3):
    layers = keras3.layers
    mean, variance = np.array([10.0, 20.0, 30.0]), np.array([4.0, 9.0, 16.0])
    model = keras3.Sequential([keras3.Input((4, 4, 3)), layers.Normalization(mean=mean, variance=variance),
                               layers.Flatten(), layers.Dense(2, activation="softmax")])
    rest, folded = split_preprocessing(model)
    assert folded.mean == (10.0, 20.0, 30.0) and folded.std == (2.0, 3.0, 4.0)
    samples = np.random.default_rng(2).uniform(0, 60, (8, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(rest.predict(folded.apply(samples), verbose=0), model.predict(samples, verbose=0),
                               atol=1e-6)
    assert is_keras3_model(rest) and [type(layer).__name__ for layer in bridge_to_tf_keras(rest).model.layers] == [
        "InputLayer", "Flatten", "Dense"]


@pytest.mark.parametrize("name, method, requantizes", [
    ("seq_cnn", "qat", False), ("rescaling_cnn", "ptq", False), ("two_branches", "ptq", False),
    ("residual_mlp", "ptq", False),
    # tfmot gives the average-pooled branch of the shared input its own scale: the converter requantizes the
    # input (int8 -> int8 QUANTIZE), which the C engine runs like any other op.
    ("two_branches", "qat", True),
])
def test_the_int8_models_export_for_tflite_micro_and_the_c_engine_and_compile(quantized, digits, tmp_path, name,
                                                                               method, requantizes):
    """The TFLite Micro files compile with gcc -Werror; the C engine's files (``edgeml export --engine c``)
    build, and on every test sample their outputs equal the tflite-micro interpreter's byte for byte."""
    from edgeml.graph import read_graph_bytes
    from firmware_export import ExportConfig, export_firmware
    from firmware_export.cengine.exactness import Reference, compare
    from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library
    from firmware_export.export import Engine, export_for_engine

    _, out = quantized(name, method)
    exported = export_firmware(ExportConfig(source=str(out / "model_int8.tflite"), out=str(tmp_path / "tflm"),
                                            lang="c", check_samples=0))
    use = tmp_path / "use.c"
    use.write_text('#include "model_config.h"\n#include "model_data.h"\nint main(void) { return 0; }\n')
    for source in (use, exported.out_dir / "model_data.c"):
        compiled = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I", str(exported.out_dir),
                                   "-c", str(source), "-o", str(tmp_path / f"{source.stem}.o")],
                                  capture_output=True, text=True)
        assert compiled.returncode == 0, compiled.stderr
    model = (out / "model_int8.tflite").read_bytes()
    engine_config = ExportConfig(source=str(out / "model_int8.tflite"), out=str(tmp_path / "engine"), check_samples=0)
    exported = export_for_engine(engine_config, Engine.C)
    engine = exported.engine
    graph = read_graph_bytes(model)
    assert any(op.name == "QUANTIZE" for op in graph.ops) == requantizes, [op.name for op in graph.ops]
    model_input, model_output = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    library = build_shared_library(engine.out_dir, tmp_path / "engine.so", BuildOptions())
    host = HostEngine(library, engine.symbol, model_input.element_count, model_output.element_count,
                      engine.arena_bytes)
    scaled = np.load(digits)["x_test"].astype(np.float64) / 255  # every model's inputs (Rescaling folded: x/255)
    samples = np.clip(np.round(scaled / model_input.scale) + model_input.zero_point, -128, 127).astype(np.int8)
    exactness = compare(model, graph, host, samples.reshape(len(samples), -1), Reference.TFLM)
    assert exactness.samples == 500 and exactness.differing_vectors == 0, exactness.describe()


# --------------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def bridged_runs(saved, digits, tmp_path_factory):
    """The residual MLP trained 1 epoch through the bridge, its file by ``edgeml train --model`` and the Keras 3
    object by the Python API: ``{"file": (run directory, printed), "object": (TrainedRun, printed)}``."""
    from click.testing import CliRunner

    from edgeml.cli import cli

    path, _, _, model = saved["residual_mlp"]
    file_run = tmp_path_factory.mktemp("file") / "run"
    result = CliRunner().invoke(cli, ["train", "--model", str(path), "--dataset", f"npz:{digits}", "--epochs", "1",
                                      "--lr", "1e-3", "--seed", "0", "--out", str(file_run)])
    assert result.exit_code == 0, result.output
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = train(TrainConfig(out=str(tmp_path_factory.mktemp("object") / "run"), dataset=f"npz:{digits}",
                                epochs=1, lr=1e-3, seed=0, keras_model=model))
    return {"file": (file_run, result.output), "object": (run, printed.getvalue())}


def test_train_takes_a_keras3_file_through_the_bridge(bridged_runs):
    run_dir, printed = bridged_runs["file"]
    assert "Keras 3 model bridged to tf_keras (4 layers, max |diff| " in printed
    record = json.loads((run_dir / "config.json").read_text())
    assert record["keras3_bridge"]["layers"] == 4 and record["keras3_bridge"]["max_abs_diff"] <= BRIDGE_TOLERANCE
    assert not saved_by_keras3(run_dir / "model.keras")  # the run's model is tf_keras: every later stage loads it
    assert record["result"]["test_accuracy"] > CHANCE + 0.5
    report = quantize(QuantizeConfig(target=str(run_dir), calibration_samples=200, qat_epochs=1))
    assert not report.keras3 and abs(report.variant("int8").accuracy - report.variant("float32").accuracy) <= 0.02


def test_train_takes_a_keras3_model_object_exactly_like_its_file(bridged_runs, saved):
    """The same bridge check and the same trained weights as from the file; the object itself is untouched
    (training trained the bridge's copy); config.json records what was given in place of a path."""
    (file_run, _), (run, printed) = bridged_runs["file"], bridged_runs["object"]
    path, _, _, model = saved["residual_mlp"]
    assert "Keras 3 model bridged to tf_keras (4 layers, max |diff| " in printed
    trained, trained_from_file = (load_user_model(p) for p in (run.model_path, file_run / "model.keras"))
    for ours, theirs in zip(trained.get_weights(), trained_from_file.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    file_record = json.loads((file_run / "config.json").read_text())
    assert run.test_accuracy == file_record["result"]["test_accuracy"]
    for ours, saved_weights in zip(model.get_weights(), load_user_model(path).get_weights(), strict=True):
        np.testing.assert_array_equal(ours, saved_weights)
    record = json.loads((run.run_dir / "config.json").read_text())
    assert record["train"]["model_path"] is None and "model" not in record["train"]  # no spec: nothing was built
    assert record["train"]["keras_model"] == (f"Keras 3 model object 'residual_mlp' (Functional, 4 layers, "
                                              f"{RESIDUAL_MLP_PARAMETERS:,} parameters)")
    assert record["keras3_bridge"] == file_record["keras3_bridge"]


def test_the_cli_refuses_qat_of_an_unbridgeable_keras3_file_in_one_line(saved, digits, tmp_path):
    from click.testing import CliRunner

    from edgeml.cli import cli

    result = CliRunner().invoke(cli, ["quantize", str(saved["raw_op"][0]), "--dataset", f"npz:{digits}",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        "error: QAT cannot wrap these layers: multiply (Multiply): a raw Keras op in the graph (e.g. "
        "x * 0.5 or keras.ops.*), not a layer; use a layer such as layers.Rescaling, layers.Multiply "
        "or layers.Add. Rewrite them, or use --method ptq"]
    assert not (tmp_path / "out").exists()


def test_a_keras3_rescaling_model_trains_as_its_bridged_rest_on_the_folded_normalisation(saved, digits, capsys):
    """What train does with the file before fitting (prepare, then bridge): x/255 becomes the run's recorded
    normalisation (which every later stage reads from config.json, as for Keras 2) and the tf_keras model it
    trains and saves is the rest without the Rescaling layer, computing on normalised inputs what the Keras 3
    model computes on raw pixels."""
    from edgeml.data import load_dataset
    from edgeml.keras3_bridge import bridge_prepared

    path, _, keras3_probabilities, _ = saved["rescaling_cnn"]
    prepared = bridge_prepared(prepare_user_model(load_user_model(path), load_dataset(f"npz:{digits}")))
    assert "Keras 3 model bridged to tf_keras (3 layers, max |diff| " in capsys.readouterr().out
    normalization = prepared.dataset.normalization.to_dict()
    assert normalization["method"] == "model" and normalization["mean"] == 0.0
    assert normalization["std"] == pytest.approx(255.0) and "Rescaling" in normalization["note"]
    assert not is_keras3_model(prepared.model)
    assert [type(layer).__name__ for layer in prepared.model.layers] == ["InputLayer", "Conv2D", "Flatten", "Dense"]
    outputs = prepared.model.predict(prepared.dataset.test_inputs(), verbose=0)
    np.testing.assert_allclose(outputs, keras3_probabilities, atol=BRIDGE_TOLERANCE)


def test_train_refuses_an_unbridgeable_keras3_file_before_writing_anything(saved, digits, tmp_path):
    with pytest.raises(BridgeRefused, match=r"multiply \(Multiply\).*train it with Keras 3.*--method ptq"):
        train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{digits}", model_path=str(saved["raw_op"][0]),
                          epochs=1))
    assert not (tmp_path / "run" / "model.keras").exists()
