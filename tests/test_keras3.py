"""Keras 3 models in edgeml (issue 14): detected from the file, bridged to tf_keras for QAT (checked equal
first), converted directly for PTQ, their leading Rescaling folded, trained through the bridge.

Every model here is built, trained (2 epochs) and saved by Keras 3 inside the test: with
TF_USE_LEGACY_KERAS=1 (edgeml.tf_setup) ``tf.keras`` is tf_keras, while ``import keras`` is Keras 3.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.keras3_bridge import (
    BRIDGE_TOLERANCE, BridgeRefused, bridge_to_tf_keras, check_bridge, is_keras3_model, saved_by_keras3,
)
from edgeml.models import load_user_model, prepare_user_model, split_preprocessing
from edgeml.quantize import QATUnsupportedError, QuantizeConfig, quantize
from edgeml.runtime import LiteModel, predicted_classes
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


BUILDERS = {"seq_cnn": _sequential_cnn, "residual_mlp": _residual_mlp, "rescaling_cnn": _rescaling_cnn,
            "two_branches": _two_branches, "raw_op": _raw_op}


def _model_inputs(model, images: np.ndarray) -> np.ndarray:
    """What the model itself takes: x/255 unless it rescales itself, shaped to its input."""
    scaled = images.astype(np.float32) if model.name == "rescaling_cnn" else images.astype(np.float32) / 255
    return scaled.reshape((len(images), *model.input_shape[1:]))


@pytest.fixture(scope="module")
def saved(keras3, digits, tmp_path_factory):
    """Each model trained 2 epochs by Keras 3 and saved as .keras, with its own test accuracy (Keras 3's)."""
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
        path = folder / f"{name}.keras"
        model.save(path)
        models[name] = (path, accuracy, probabilities)
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
    for name, (_, accuracy, _) in saved.items():
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
    path, keras3_accuracy, keras3_probabilities = saved[name]
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
    assert float32.accuracy == pytest.approx(np.mean(predicted_classes(float_outputs) == np.load(digits)["y_test"]))
    recorded = json.loads((out / "quantization.json").read_text())
    if method == "qat":
        assert recorded["keras3"]["path"] == "bridged to tf_keras"
        assert 0 <= recorded["keras3"]["max_abs_diff"] <= BRIDGE_TOLERANCE and recorded["keras3"]["samples"] == 500
    else:
        assert recorded["keras3"]["path"].startswith("converted directly")
    if name == "rescaling_cnn":  # the leading Rescaling(1/255) became the recorded normalisation
        assert recorded["normalization"]["mean"] == 0.0 and recorded["normalization"]["std"] == pytest.approx(255.0)
        assert recorded["normalization"]["method"] == "model"


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


@pytest.mark.parametrize("name, method, c_engine", [
    ("seq_cnn", "qat", True), ("rescaling_cnn", "ptq", True),
    # The C engine (issue 12) has no QUANTIZE/CONCATENATION kernel and no broadcasting ADD yet, which these use.
    ("two_branches", "qat", False), ("residual_mlp", "ptq", False),
])
def test_the_int8_models_export_for_tflite_micro_and_the_c_engine_and_compile(quantized, tmp_path, name, method,
                                                                               c_engine):
    """The TFLite Micro files compile with gcc -Werror, and so does the C engine's for the ops it has."""
    from firmware_export import ExportConfig, export_firmware
    from firmware_export.cengine import CEngineConfig, export_c_engine
    from firmware_export.cengine.host import BuildOptions, build_shared_library

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
    if not c_engine:
        return
    engine = export_c_engine(CEngineConfig(source=str(out / "model_int8.tflite"), out=str(tmp_path / "engine")))
    library = build_shared_library(engine.out_dir, tmp_path / "engine.so", BuildOptions())
    assert library.stat().st_size > 0


# --------------------------------------------------------------------------------------------- training


def test_train_takes_a_keras3_file_through_the_bridge(saved, digits, tmp_path, capsys):
    path, keras3_accuracy, _ = saved["residual_mlp"]
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{digits}", model_path=str(path), epochs=1,
                            lr=1e-3, seed=0))
    printed = capsys.readouterr().out
    assert "Keras 3 model bridged to tf_keras (4 layers, max |diff| " in printed
    record = json.loads((run.run_dir / "config.json").read_text())
    assert record["keras3_bridge"]["layers"] == 4 and record["keras3_bridge"]["max_abs_diff"] <= BRIDGE_TOLERANCE
    assert not saved_by_keras3(run.model_path)  # the run's model is tf_keras: every later stage loads it
    assert run.test_accuracy > CHANCE + 0.5
    report = quantize(QuantizeConfig(target=str(run.run_dir), calibration_samples=200, qat_epochs=1))
    assert not report.keras3 and abs(report.variant("int8").accuracy - report.variant("float32").accuracy) <= 0.02


def test_train_refuses_an_unbridgeable_keras3_file_before_writing_anything(saved, digits, tmp_path):
    with pytest.raises(BridgeRefused, match=r"multiply \(Multiply\).*train it with Keras 3.*--method ptq"):
        train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{digits}", model_path=str(saved["raw_op"][0]),
                          epochs=1))
    assert not (tmp_path / "run" / "model.keras").exists()
