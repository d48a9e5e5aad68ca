"""The model–data contract for user models (issue 11 §1): input fitting, recorded normalisation, the model's
own preprocessing layer, one precise error per shape problem, and Lambda layers in every format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_images
from edgeml.data import Normalization, load_dataset, parse_normalize
from edgeml.errors import EdgeMLError
from edgeml.evaluate import EvaluateConfig, evaluate
from edgeml.models import ModelSpec, check_model_fits_data, fit_input, load_user_model, split_preprocessing
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.rundir import RunRecord
from edgeml.tf_setup import load_keras
from edgeml.train import TrainConfig, train


@pytest.fixture(scope="module")
def keras():
    return load_keras()


@pytest.fixture(scope="module")
def uint8_npz(tmp_path_factory) -> Path:
    """uint8 images of shape (N, 28, 28), no channel axis: what a user saves from Fashion-MNIST."""
    x_train, y_train = synthetic_images(160, 4, seed=3)
    x_test, y_test = synthetic_images(40, 4, seed=4)
    path = tmp_path_factory.mktemp("npz") / "images.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def float_npz(tmp_path_factory) -> Path:
    """Float features the user scaled themselves (values around 0..1 with an offset the model relies on)."""
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(3, 12)).astype(np.float32)
    labels = np.arange(240) % 3
    x = (centers[labels] + 0.35 * rng.normal(size=(240, 12))).astype(np.float32) * 0.1 + 3.0
    path = tmp_path_factory.mktemp("npz") / "features.npz"
    np.savez(path, x_train=x[:180], y_train=labels[:180], x_test=x[180:], y_test=labels[180:])
    return path


def _save(model, folder: Path, name: str) -> Path:
    path = folder / name
    model.save(path)
    return path


# --------------------------------------------------------------------------------------- input fitting


@pytest.mark.parametrize("model_shape, data_shape, fitted, action", [
    ((28, 28), (28, 28, 1), (28, 28), "dropped the trailing 1-axis"),
    ((28, 28, 1), (28, 28), (28, 28, 1), "added a trailing 1-axis"),
    ((784,), (28, 28, 1), (784,), "flattened the samples"),
    ((None,), (8, 8, 1), (64,), "flattened the samples"),
    ((None, 28, 1), (28, 28), (28, 28, 1), "added a trailing 1-axis"),
    ((28, 28, 1), (28, 28, 1), (28, 28, 1), ""),
])
def test_fit_input_reshapes_only_when_the_values_stay_in_order(model_shape, data_shape, fitted, action):
    fit = fit_input(model_shape, data_shape)
    assert (fit.model_shape, fit.action) == (fitted, action)
    samples = np.arange(2 * int(np.prod(data_shape))).reshape((2, *data_shape))
    np.testing.assert_array_equal(fit.apply(samples).reshape(-1), samples.reshape(-1))
    assert fit.apply(samples).shape == (2, *fitted)


def test_fit_input_refuses_a_real_mismatch_with_both_shapes():
    with pytest.raises(EdgeMLError) as caught:
        fit_input((32, 32, 3), (28, 28, 1))
    assert str(caught.value).startswith(
        "the model expects inputs of shape (32, 32, 3) (3072 values per sample) but the dataset's samples have "
        "shape (28, 28, 1) (784 values)")
    with pytest.raises(EdgeMLError, match=r"shape \(28, 28\) \(784 values\)"):
        fit_input((1, 28, 28, 1), (28, 28))  # a rank no trailing-axis change or flatten can meet


def _conv1d_over_rows(keras):
    layers = keras.layers
    return keras.Sequential([keras.Input((28, 28)), layers.Conv1D(8, 3, activation="relu"),
                             layers.GlobalAveragePooling1D(), layers.Dense(4, activation="softmax")])


def _functional_mlp(keras):
    inputs = keras.Input((28, 28))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def _cnn_with_reshape(keras):
    layers = keras.layers
    return keras.Sequential([keras.Input((28, 28)), layers.Reshape((28, 28, 1)),
                             layers.Conv2D(4, 3, strides=2, activation="relu"), layers.Flatten(),
                             layers.Dense(4, activation="softmax")])


def _cnn_with_a_channel_axis(keras):
    layers = keras.layers
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(4, 3, strides=2, activation="relu"),
                             layers.Flatten(), layers.Dense(4, activation="softmax")])


def _flat_mlp(keras):
    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(4, activation="softmax")])


@pytest.mark.parametrize("build, fitted, action", [
    (_conv1d_over_rows, (28, 28), ""),
    (_functional_mlp, (28, 28), ""),
    (_cnn_with_reshape, (28, 28), ""),
    (_cnn_with_a_channel_axis, (28, 28, 1), "input: added a trailing 1-axis to fit the model's input: (28, 28) -> (28, 28, 1)"),
    (_flat_mlp, (784,), "input: flattened the samples to fit the model's input: (28, 28) -> (784,)"),
])
def test_user_models_train_on_uint8_images_of_shape_28x28(keras, build, fitted, action, uint8_npz, tmp_path, capsys):
    model_file = _save(build(keras), tmp_path, "model.keras")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{uint8_npz}", model_path=str(model_file),
                            epochs=1, batch_size=32, seed=0))
    printed = capsys.readouterr().out
    assert (action + "\n" in printed) if action else "to fit the model's input" not in printed
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["dataset"]["input_shape"] == list(fitted)
    assert config["dataset"]["input_fit"] == (action or "input: samples (28, 28) go to the model as they are")
    assert config["dataset"]["normalization"]["method"] == "pixels"
    # The recorded accuracy is the trained model's on the raw arrays / 255, reshaped here with numpy.
    raw = np.load(uint8_npz)
    trained = load_user_model(run.model_path)
    inputs = (raw["x_test"].astype(np.float32) / 255.0).reshape((-1, *fitted))
    predicted = trained.predict(inputs, verbose=0).argmax(axis=1)
    assert run.test_accuracy == pytest.approx(float(np.mean(predicted == raw["y_test"])), abs=1e-6)


# ------------------------------------------------------------------------------------- shape problems


def test_each_shape_problem_is_one_precise_error(keras):
    layers = keras.layers
    forgot_flatten = keras.Sequential([keras.Input((8, 8)), layers.Dense(10, activation="softmax")])
    with pytest.raises(EdgeMLError) as caught:
        check_model_fits_data(forgot_flatten, (8, 8, 1), 10)
    assert str(caught.value) == ("the model's output has shape (None, 8, 10); a classifier outputs (None, classes): "
                                 "add a Flatten or GlobalAveragePooling layer before the last Dense")

    first, second = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    two_inputs = keras.Model([first, second], layers.Dense(2)(layers.Concatenate()([first, second])))
    with pytest.raises(EdgeMLError, match=r"^the model has 2 inputs \(a, b\); edgeml trains models with one input$"):
        check_model_fits_data(two_inputs, (4,), 2)

    inputs = keras.Input((4,))
    two_outputs = keras.Model(inputs, [layers.Dense(2, name="p")(inputs), layers.Dense(2, name="q")(inputs)])
    with pytest.raises(EdgeMLError, match=r"^the model has 2 outputs \(.*\); a classifier for edgeml has one output"):
        check_model_fits_data(two_outputs, (4,), 2)

    with pytest.raises(EdgeMLError, match=r"^the model has 3 outputs but the dataset has 10 classes$"):
        check_model_fits_data(keras.Sequential([keras.Input((4,)), layers.Dense(3)]), (4,), 10)


def test_a_shape_problem_stops_train_before_any_file_is_written(keras, uint8_npz, tmp_path):
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Dense(4, activation="softmax")])
    model_file = _save(model, tmp_path, "bad.keras")
    with pytest.raises(EdgeMLError, match=r"output has shape \(None, 28, 4\)"):
        train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{uint8_npz}", model_path=str(model_file), epochs=1))
    assert not (tmp_path / "run" / "model.keras").exists() and not (tmp_path / "run" / "best.keras").exists()


# --------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("text, expected", [
    (None, None), ("", None), ("none", "none"), ("pixels", "pixels"), ("standardize", "standardize"),
    ("127.5,127.5", ((127.5,), (127.5,))),
    ("0.5,0.4,0.3/0.2,0.2,0.25", ((0.5, 0.4, 0.3), (0.2, 0.2, 0.25))),
    ("0.5,0.4,0.3/0.2", ((0.5, 0.4, 0.3), (0.2,))),
])
def test_parse_normalize(text, expected):
    assert parse_normalize(text) == expected


@pytest.mark.parametrize("text, message", [
    ("1,2,3", "--normalize takes"), ("scale", "--normalize takes"), ("0,0", "std must be positive"),
    ("1,2/3,4,5", "2 means but 3 stds"),
])
def test_parse_normalize_refuses(text, message):
    with pytest.raises(EdgeMLError, match=message):
        parse_normalize(text)


def test_per_channel_normalization_applies_over_the_last_axis_and_round_trips():
    raw = np.random.default_rng(0).uniform(0, 255, size=(5, 4, 4, 3)).astype(np.float32)
    normalization = Normalization((120.0, 110.0, 100.0), (60.0, 50.0, 40.0), method="custom")
    expected = np.stack([(raw[..., c] - m) / s for c, (m, s) in enumerate(((120, 60), (110, 50), (100, 40)))], -1)
    np.testing.assert_allclose(normalization.apply(raw), expected, rtol=1e-6)
    assert Normalization.from_dict(json.loads(json.dumps(normalization.to_dict()))) == normalization
    with pytest.raises(EdgeMLError, match="3 channels but the inputs' last axis is 4"):
        normalization.apply(raw[..., 0])
    # Composition: applying one normalisation after another equals the composed one.
    second = Normalization((0.5, -1.0, 2.0), 4.0)
    np.testing.assert_allclose(normalization.then(second).apply(raw), second.apply(normalization.apply(raw)),
                               rtol=1e-5, atol=1e-6)


def test_a_user_model_on_float_data_keeps_its_own_preprocessing(keras, float_npz, tmp_path, monkeypatch):
    """The user's features go in as they are (default ``none``), in training, accuracy and calibration."""
    inputs = keras.Input((12,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    model_file = _save(model, tmp_path, "mlp.keras")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{float_npz}", model_path=str(model_file),
                            epochs=2, batch_size=32, lr=1e-2, seed=0))
    assert (run.normalization.mean, run.normalization.std, run.normalization.method) == (0.0, 1.0, "none")
    raw = np.load(float_npz)
    trained = load_user_model(run.model_path)
    trained.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, expected = trained.evaluate(raw["x_test"], raw["y_test"], verbose=0)
    assert run.test_accuracy == pytest.approx(expected, abs=1e-6)

    import edgeml.quantize as quantize_module

    seen = []
    original = quantize_module._calibration
    monkeypatch.setattr(quantize_module, "_calibration", lambda samples: seen.append(samples) or original(samples))
    rows = {row.tobytes() for row in raw["x_train"].astype(np.float32)}
    for method in ("ptq", "qat"):
        report = quantize(QuantizeConfig(target=str(run.run_dir), method=method, qat_epochs=1, calibration_samples=30,
                                         force=True))
        calibration = seen.pop()
        assert len(calibration) == 30 and all(sample.tobytes() in rows for sample in calibration)
        assert report.keras_float_accuracy == pytest.approx(expected, abs=1e-6)
        assert report.normalization["method"] == "none"


def test_standardize_and_explicit_values_are_recorded(float_npz, tmp_path):
    dataset = load_dataset(f"npz:{float_npz}")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{float_npz}", epochs=1,
                            model=ModelSpec(hidden=(8,)), normalize="2.5,0.5"))
    recorded = RunRecord.load(run.run_dir).normalization
    assert (recorded.mean, recorded.std, recorded.method) == (2.5, 0.5, "custom")
    default = train(TrainConfig(out=str(tmp_path / "builtin"), dataset=f"npz:{float_npz}", epochs=1,
                                model=ModelSpec(hidden=(8,))))
    x = dataset.x_train.astype(np.float64)
    assert default.normalization.method == "standardize"
    assert default.normalization.mean == pytest.approx(x.mean()) and default.normalization.std == pytest.approx(x.std())


def test_leading_normalization_layer_folds_per_channel(keras):
    rng = np.random.default_rng(1)
    raw = (rng.normal(size=(64, 6, 3)) * (1.0, 5.0, 20.0) + (0.0, 10.0, -3.0)).astype(np.float32)
    normalize = keras.layers.Normalization(axis=-1)
    normalize.adapt(raw)
    inputs = keras.Input((6, 3))
    x = keras.layers.Flatten()(normalize(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    stripped, folded = split_preprocessing(model)
    assert [type(layer).__name__ for layer in stripped.layers] == ["InputLayer", "Flatten", "Dense"]
    np.testing.assert_allclose(folded.mean, raw.reshape(-1, 3).mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(folded.std, raw.reshape(-1, 3).std(axis=0), rtol=1e-4)
    assert folded.method == "model" and "Normalization" in folded.note
    np.testing.assert_allclose(stripped.predict(folded.apply(raw), verbose=0), model.predict(raw, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_leading_rescaling_layer_becomes_the_recorded_normalisation(keras, uint8_npz, tmp_path):
    """Rescaling(1/255) leaves the model: the run records x/255 and the int8 input covers [0, 1]."""
    layers = keras.layers
    model = keras.Sequential([keras.Input((28, 28)), layers.Rescaling(1 / 255.0), layers.Flatten(),
                              layers.Dense(4, activation="softmax")])
    model_file = _save(model, tmp_path, "rescaled.keras")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{uint8_npz}", model_path=str(model_file),
                            epochs=1, batch_size=32))
    recorded = RunRecord.load(run.run_dir).normalization
    assert recorded.method == "model" and recorded.mean == 0.0 and recorded.std == pytest.approx(255.0)
    assert "Rescaling" not in [type(layer).__name__ for layer in load_user_model(run.model_path).layers]
    report = quantize(QuantizeConfig(target=str(run.run_dir), method="qat", qat_epochs=1, calibration_samples=40))
    (input_tensor,) = [t for t in report.int8_tensors if t.shape == (1, 28, 28)][:1]
    low = (-128 - input_tensor.zero_points[0]) * input_tensor.scales[0]
    high = (127 - input_tensor.zero_points[0]) * input_tensor.scales[0]
    # Later stages that read the run (benchmark, bundle, the pipeline's int8 metrics) feed the same inputs.
    from edgeml.benchmark import load_test_samples
    from edgeml.runtime import LiteModel, decide_class

    inputs, labels = load_test_samples(RunRecord.load(run.run_dir), None, None)
    assert inputs.shape[1:] == (28, 28)
    int8_accuracy = np.mean(decide_class(LiteModel(run.run_dir / "model_int8.tflite").predict(inputs)) == labels)
    assert int8_accuracy == pytest.approx(report.variant("int8").accuracy)
    # The calibrated range is the normalised one: [0, max pixel / 255] (not the raw 0..255).
    step = input_tensor.scales[0]
    assert low == pytest.approx(0.0, abs=step) and high == pytest.approx(np.load(uint8_npz)["x_train"].max() / 255, abs=step)


def test_a_run_refuses_a_normalisation_it_was_not_trained_with(uint8_npz, tmp_path, keras):
    model_file = _save(_functional_mlp(keras), tmp_path, "mlp.keras")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{uint8_npz}", model_path=str(model_file), epochs=1))
    with pytest.raises(EdgeMLError, match=r"trained with inputs \(x - 0\) / 255 .*--normalize none asks for"):
        evaluate(EvaluateConfig(target=str(run.run_dir), normalize="none", force=True))
    repeated = evaluate(EvaluateConfig(target=str(run.run_dir), normalize="pixels", force=True))
    assert repeated.normalization == Normalization(0.0, 255.0)


# ------------------------------------------------------------------------------------------ model code


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_models_are_refused_or_trusted_the_same_in_every_format(keras, float_npz, tmp_path, suffix):
    layers = keras.layers
    model = keras.Sequential([keras.Input((12,)), layers.Lambda(lambda t: t * 2.0 - 6.0, name="shift"),
                              layers.Dense(3, activation="softmax")])
    model_file = _save(model, tmp_path, "lambda" + suffix)
    config = TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{float_npz}", model_path=str(model_file),
                         epochs=1, batch_size=32)
    with pytest.raises(EdgeMLError, match=r"holds Lambda layers.*--trust-model-code"):
        train(config)
    assert not (tmp_path / "run" / "config.json").exists()

    from dataclasses import replace

    run = train(replace(config, trust_model_code=True))
    assert json.loads((run.run_dir / "config.json").read_text())["train"]["trust_model_code"] is True
    report = quantize(QuantizeConfig(target=str(run.run_dir), method="ptq", calibration_samples=20))
    evaluation = evaluate(EvaluateConfig(target=str(run.run_dir)))
    raw = np.load(float_npz)
    expected = np.mean(model_outputs(run.model_path, raw["x_test"]).argmax(axis=1) == raw["y_test"])
    assert evaluation.metrics.accuracy == pytest.approx(expected) == pytest.approx(report.keras_float_accuracy)


def model_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """A second, independent load of the trusted file (safe mode off), outside edgeml."""
    keras = load_keras()
    return keras.models.load_model(path, compile=False, safe_mode=False).predict(inputs, verbose=0)


# ------------------------------------------------------------------ per-channel values in every consumer

RGB_MEAN, RGB_STD = (100.0, 120.0, 140.0), (50.0, 40.0, 30.0)


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory) -> Path:
    """A built-in MLP on float (N, 4, 4, 3) data with a per-channel --normalize, quantized (PTQ)."""
    rng = np.random.default_rng(7)
    labels = np.arange(200) % 2
    x = rng.normal(size=(200, 4, 4, 3)) * RGB_STD + RGB_MEAN
    x[labels == 1, :2] += 80.0
    folder = tmp_path_factory.mktemp("rgb")
    np.savez(folder / "rgb.npz", x_train=x[:160].astype(np.float32), y_train=labels[:160],
             x_test=x[160:].astype(np.float32), y_test=labels[160:])
    out = folder / "run"
    train(TrainConfig(out=str(out), dataset=f"npz:{folder / 'rgb.npz'}", epochs=2, model=ModelSpec(hidden=(8,)),
                      normalize="100,120,140/50,40,30"))
    quantize(QuantizeConfig(target=str(out), method="ptq", calibration_samples=40))
    return out


def _by_hand(raw: np.ndarray) -> np.ndarray:
    return ((raw - np.asarray(RGB_MEAN, np.float32)) / np.asarray(RGB_STD, np.float32)).astype(np.float32)


def test_per_channel_normalisation_is_recorded_and_used_by_predict(rgb_run, tmp_path):
    from edgeml.predict import PredictConfig, predict
    from edgeml.runtime import LiteModel, decide_class

    record = RunRecord.load(rgb_run)
    assert (record.normalization.mean, record.normalization.std) == (RGB_MEAN, RGB_STD)
    raw = (np.random.default_rng(8).normal(size=(6, 4, 4, 3)) * RGB_STD + RGB_MEAN).astype(np.float32)
    raw[::2, :2] += 80.0  # class 1 in every other sample
    np.save(tmp_path / "batch.npy", raw)
    model = rgb_run / "model_int8.tflite"
    expected = list(decide_class(LiteModel(model).predict(_by_hand(raw))))
    assert 0 < sum(expected) < len(expected)  # both classes occur: a wrong normalisation would show
    from_run = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "batch.npy"),)))
    assert [p.best.index for p in from_run.predictions] == expected
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(model.read_bytes())
    explicit = predict(PredictConfig(model=str(bare), inputs=(str(tmp_path / "batch.npy"),),
                                     mean="100,120,140", std="50,40,30"))
    assert [p.best.index for p in explicit.predictions] == expected
    with pytest.raises(EdgeMLError, match=r"records the normalisation mean 100,120,140, std 50,40,30"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "batch.npy"),), mean=100.0, std=50.0))


def test_per_channel_normalisation_in_the_firmware_header(rgb_run, tmp_path):
    """``model_input_from_raw(raw, index)`` in C against numpy's per-channel normalise-then-quantize."""
    import shutil
    import subprocess

    from firmware_export import ExportConfig, export_firmware
    from firmware_export import cgen
    from edgeml.runtime import TensorQuantization
    from edgeml.tflite_model import read_tflite

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    result = export_firmware(ExportConfig(source=str(rgb_run), out=str(tmp_path / "fw"), check_samples=20))
    header = (tmp_path / "fw" / "model_config.h").read_text()
    assert "#define MODEL_INPUT_CHANNELS 3" in header
    assert "static const float model_input_mean[MODEL_INPUT_CHANNELS] = {100.0f, 120.0f, 140.0f};" in header
    raw = np.random.default_rng(9).uniform(0, 255, size=48).astype(np.float32)  # one sample, channels last
    values = ", ".join(cgen.c_float_literal(float(v)) for v in raw)
    program = tmp_path / "helpers.c"
    program.write_text(f"""
#include <stdio.h>
#include "model_config.h"
static const float raw[] = {{{values}}};
int main(void) {{
  for (int i = 0; i < 48; ++i) printf("%d\\n", model_input_from_raw(raw[i], i));
  return 0;
}}
""")
    subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "fw"), str(program), "-o",
                    str(tmp_path / "helpers")], check=True)
    printed = subprocess.run([str(tmp_path / "helpers")], capture_output=True, text=True, check=True).stdout.split()
    tensor = read_tflite(result.model_path).inputs[0]
    expected = TensorQuantization(np.int8, tensor.scale, tensor.zero_point).quantize(_by_hand(raw.reshape(4, 4, 3)))
    assert np.abs(np.array(printed, dtype=np.int64) - expected.reshape(-1).astype(np.int64)).max() <= 1
    main = (tmp_path / "fw" / "main.cc").read_text()
    assert "model_input_from_raw(example_raw_input[i], i)" in main


def test_the_pipeline_takes_normalize_and_trust_as_train_options():
    from edgeml.pipeline import load_config

    config = load_config(None, ("train.normalize=none", "train.trust_model_code=true"))
    assert (config.train.normalize, config.train.trust_model_code) == ("none", True)
    assert 'normalize = "none"' in config.to_toml() and "trust_model_code = true" in config.to_toml()
    assert load_config(None, ("train.normalize='0.5,0.5,0.5/0.2,0.2,0.2'",)).train.normalize == "0.5,0.5,0.5/0.2,0.2,0.2"
    with pytest.raises(EdgeMLError, match="--normalize takes"):
        load_config(None, ("train.normalize=scaled",))


def test_the_report_shows_per_channel_normalisation(rgb_run):
    from edgeml.report import build_report, render_markdown

    markdown = render_markdown(build_report(rgb_run))
    assert ("model_input = (raw − [100,120,140]) / [50,40,30] per channel (last axis) "
            "(custom: --normalize 100,120,140/50,40,30)") in markdown
