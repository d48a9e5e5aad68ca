from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.history import diagnose_fit
from edgeml.models import ModelSpec, load_user_model
from edgeml.rundir import RunRecord
from edgeml.tf_setup import load_keras, load_tensorflow
from edgeml.train import RUN_FILES, TrainConfig, run_kfold, train


def test_run_directory_contents(digits_run):
    assert sorted(p.name for p in digits_run.iterdir() if not p.name.startswith(".")) >= sorted(RUN_FILES)
    config = json.loads((digits_run / "config.json").read_text())
    assert config["train"]["dataset"] == "digits" and config["train"]["model"]["hidden"] == [64, 32]
    assert config["dataset"]["normalization"] == {"mean": 0.0, "std": 16.0, "method": "pixels",
                                                  "note": "default for pixel data"}
    assert config["train"]["normalize"] is None and config["train"]["trust_model_code"] is False
    assert config["dataset"]["class_names"] == [str(i) for i in range(10)]
    assert config["loss"] == "sparse_categorical_crossentropy"
    assert config["result"]["test_accuracy"] > 0.85  # 12 epochs on digits
    history = json.loads((digits_run / "history.json").read_text())
    assert set(history["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["history"]["loss"]) == 12
    summary = (digits_run / "summary.txt").read_text()
    assert "Total params" in summary and "fit diagnosis:" in summary
    assert (digits_run / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = RunRecord.load(digits_run)
    assert record.model_path == digits_run / "model.keras" and record.input_shape == (8, 8, 1)


def test_config_and_history_read_back_as_the_run_that_wrote_them(digits_run, tmp_path):
    """config.json and history.json are the training stage's typed records: read back, they are the run's
    values and write the same JSON again; a damaged file is one error naming the file and the key."""
    from edgeml.history import TrainingHistory
    from edgeml.train import TrainingRecord

    config = json.loads((digits_run / "config.json").read_text())
    record = TrainingRecord.read(digits_run / "config.json")
    assert json.loads(json.dumps(record.to_json())) == config
    assert record.train == TrainConfig(**{**config["train"], "model": ModelSpec(hidden=(64, 32))})
    assert record.dataset.input_shape == (8, 8, 1) and record.dataset.class_names == tuple(str(i) for i in range(10))
    assert record.dataset.normalization == RunRecord.load(digits_run).normalization
    assert (record.result.test_accuracy, record.result.epochs_run) == (config["result"]["test_accuracy"], 12)
    history = TrainingHistory.read(digits_run / "history.json")
    saved = json.loads((digits_run / "history.json").read_text())
    assert json.loads(json.dumps(history.to_json())) == saved
    assert history.last_epoch() == tuple((name, values[-1]) for name, values in saved["history"].items())
    assert TrainingRecord.read(tmp_path / "config.json") is None and TrainingHistory.read(tmp_path / "h.json") is None
    for damage, reader, name, message in (
        (lambda data: data["result"].pop("test_accuracy"), TrainingRecord, "config.json",
         r"missing key result\.test_accuracy"),
        (lambda data: data["train"].update(epochz=3), TrainingRecord, "config.json", "unknown option.*epochz"),
        (lambda data: data["train"].update(epochs=0), TrainingRecord, "config.json", "--epochs must be positive"),
        (lambda data: data["dataset"].update(input_shape="8x8"), TrainingRecord, "config.json",
         r"dataset\.input_shape: expected a list"),
        (lambda data: data["history"]["loss"].append("nan?"), TrainingHistory, "history.json",
         r"history\.loss\[12\]: expected a list of numbers"),
    ):
        damaged = json.loads((digits_run / name).read_text())
        damage(damaged)
        path = tmp_path / name
        path.write_text(json.dumps(damaged))
        with pytest.raises(EdgeMLError, match=rf"{path}.*{message}"):
            reader.read(path)


def test_saved_model_is_the_last_epoch_by_default(digits_run):
    history = json.loads((digits_run / "history.json").read_text())
    assert history["best_epoch"] == len(history["history"]["loss"]) == 12
    model, best = load_user_model(digits_run / "model.keras"), load_user_model(digits_run / "best.keras")
    for a, b in zip(model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_existing_run_needs_force(digits_run):
    with pytest.raises(EdgeMLError, match="--force"):
        train(TrainConfig(out=str(digits_run), dataset="digits", epochs=1))


def test_sgd_with_momentum_and_early_stopping(tmp_path):
    # 40 training samples and a wide MLP overfit fast: validation loss turns up and early stopping ends the run.
    run = train(TrainConfig(
        out=str(tmp_path / "run"), dataset="digits", train_samples=40, test_samples=50, epochs=60,
        optimizer="sgd", lr=0.2, lr_schedule="constant", momentum=0.9, early_stopping=3, reduce_lr=1,
        validation_split=0.5, keep_weights="best", model=ModelSpec(hidden=(256,)), seed=1,
    ))
    assert run.epochs_run < 60
    assert run.best_epoch == run.epochs_run - 3 == int(np.argmin(run.history["val_loss"])) + 1
    # keep_weights="best": the saved model is the lowest-validation-loss epoch's, not the last one's.
    model = load_user_model(tmp_path / "run" / "model.keras")
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(*_digits_test_arrays(tmp_path / "run"), verbose=0)[1] == pytest.approx(run.test_accuracy)
    assert run.history["lr"][-1] < run.history["lr"][0] == pytest.approx(0.2)  # the plateau cut the rate
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["optimizer"] == "sgd" and config["train"]["momentum"] == 0.9


def test_cnn_on_idx_data_and_binary_npz(tmp_path, idx_folder):
    run = train(TrainConfig(
        out=str(tmp_path / "cnn"), dataset="fashion_mnist", data_path=str(idx_folder), epochs=2, batch_size=32,
        model=ModelSpec(arch="cnn", hidden=(16,), filters=(4, 8), pooling="avg"),
    ))
    assert run.test_accuracy > 0.9  # the bands are trivially separable
    x = np.random.default_rng(0).normal(size=(80, 16)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "binary.npz", x_train=x, y_train=labels, x_test=x[:20], y_test=labels[:20])
    run = train(TrainConfig(out=str(tmp_path / "bin"), dataset=f"npz:{tmp_path / 'binary.npz'}", epochs=2,
                            model=ModelSpec(hidden=(8,))))
    assert json.loads((tmp_path / "bin" / "config.json").read_text())["loss"] == "binary_crossentropy"
    # the accuracy is the saved model's on the 20 test rows, recomputed here: sigmoid >= 0.5 is class 1
    probabilities = load_user_model(run.model_path).predict(run.normalization.apply(x[:20]), verbose=0)
    assert run.test_accuracy == pytest.approx(np.mean((probabilities[:, 0] >= 0.5) == labels[:20]))


def test_user_model_is_trained_as_is(tmp_path, idx_folder):
    keras = load_keras()
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")], name="mine")
    model.save(tmp_path / "mine.keras")
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset="digits", model_path=str(tmp_path / "mine.keras"), epochs=3, lr=1e-2))
    trained = load_user_model(run.model_path)
    assert [type(layer).__name__ for layer in trained.layers] == ["Flatten", "Dense"]
    assert run.test_accuracy > 0.5
    with pytest.raises(EdgeMLError, match="expects inputs of shape"):
        train(TrainConfig(out=str(tmp_path / "bad"), dataset="fashion_mnist", data_path=str(idx_folder),
                          model_path=str(tmp_path / "mine.keras"), epochs=1))
    # The model object itself (Python API): the same training as from its file, on a copy (the object keeps
    # its weights); config.json says what was given.
    from_object = train(TrainConfig(out=str(tmp_path / "object"), dataset="digits", keras_model=model, epochs=3,
                                    lr=1e-2))
    for ours, theirs in zip(load_user_model(from_object.model_path).get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, saved in zip(model.get_weights(), load_user_model(tmp_path / "mine.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(ours, saved)
    record = json.loads((from_object.run_dir / "config.json").read_text())
    parameters = 64 * 10 + 10  # Dense(10) on the 64 flattened pixels
    assert record["train"]["keras_model"] == (
        f"tf_keras model object 'mine' (Sequential, 2 layers, {parameters} parameters)")
    assert record["train"]["model_path"] is None and "model" not in record["train"]
    assert from_object.test_accuracy == run.test_accuracy
    # Keras 2's HDF5 format works the same way.
    model.save(tmp_path / "mine.h5")
    run = train(TrainConfig(out=str(tmp_path / "h5"), dataset="digits", model_path=str(tmp_path / "mine.h5"), epochs=1))
    assert load_user_model(run.model_path).output_shape == (None, 10)


def test_a_model_object_with_lambda_layers_needs_trust_like_a_file(tmp_path):
    """The run's model.keras would store the Lambda's Python code for every later stage to run."""
    keras = load_keras()
    inputs = keras.Input((8, 8))
    x = keras.layers.Lambda(lambda images: images * 2.0, name="double")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    with pytest.raises(EdgeMLError, match=r"the model object .* holds Lambda layers \(double\): rewrite them"):
        train(TrainConfig(out=str(tmp_path / "run"), dataset="digits", keras_model=model, epochs=1))
    assert not (tmp_path / "run" / "model.keras").exists()
    with pytest.raises(EdgeMLError, match="keras_model must be a Keras 3 or tf_keras model .*, got dict"):
        TrainConfig(keras_model={"layers": []})


def test_kfold_reports_each_fold(tmp_path):
    result = run_kfold(TrainConfig(out=str(tmp_path / "kf"), dataset="digits", train_samples=300, kfold=3, epochs=3,
                                   model=ModelSpec(hidden=(32,)), lr=1e-2))
    assert len(result.fold_accuracies) == 3
    assert result.mean_accuracy == pytest.approx(np.mean(result.fold_accuracies))
    assert result.std_accuracy == pytest.approx(np.std(result.fold_accuracies))
    assert "3-fold accuracy" in result.line() and "±" in result.line()
    saved = json.loads((tmp_path / "kf" / "kfold.json").read_text())
    assert saved["fold_accuracies"] == list(result.fold_accuracies)
    from edgeml.artifact_json import read_json_object
    from edgeml.train import KFoldResult

    assert KFoldResult.from_json(read_json_object(tmp_path / "kf" / "kfold.json")) == result
    with pytest.raises(EdgeMLError, match="--kfold 10 needs at least 10 training samples per class"):
        run_kfold(TrainConfig(out=str(tmp_path / "kf2"), dataset="digits", train_samples=50, kfold=10, epochs=1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "--epochs"),
        (dict(validation_split=1.0), "--validation-split"),
        (dict(optimizer="rmsprop"), "unknown optimizer"),
        (dict(kfold=1), "--kfold"),
        (dict(strategy="tpu"), "unknown strategy"),
        (dict(lr=-1.0), "--lr"),
        (dict(lr_schedule="step"), "learning-rate schedule"),
        (dict(keep_weights="first"), "--keep-weights"),
        (dict(reduce_lr=2), "--lr-schedule constant"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(EdgeMLError, match=message):
        TrainConfig(**kwargs)


def test_default_training_settings():
    # Chosen by benchmarks/defaults_sweep.py (README, "Training defaults"): at 5/10/15 epochs on Fashion-MNIST
    # and the 8x8 digits these are within 0.2 points of the plain Keras script's median, or above it.
    config = TrainConfig()
    assert (config.batch_size, config.lr, config.optimizer) == (32, 2e-3, "adam")
    assert (config.lr_schedule, config.keep_weights) == ("cosine", "last")
    assert config.validation_split == 0.1
    assert (config.early_stopping, config.reduce_lr) == (0, 0)
    assert ModelSpec() == ModelSpec.default_for("mlp") and ModelSpec().dropout == 0.0
    assert ModelSpec().hidden == (256, 64, 32)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_cli_train_defaults_are_the_api_defaults(monkeypatch, arch):
    from click.testing import CliRunner

    from edgeml.cli import cli
    import edgeml.train

    captured = []

    def fake_train(config):
        captured.append(config)
        raise EdgeMLError("stop after parsing")

    monkeypatch.setattr(edgeml.train, "train", fake_train)
    result = CliRunner().invoke(cli, ["train", "--model", arch])
    assert result.exit_code == 1 and "stop after parsing" in result.output
    assert captured == [TrainConfig(model=ModelSpec.default_for(arch))]


def test_cosine_learning_rate_per_step():
    from edgeml.train import learning_rate, steps_per_epoch

    tf = load_tensorflow()
    assert steps_per_epoch(100, 32) == 4 and steps_per_epoch(96, 32) == 3
    assert learning_rate(tf, TrainConfig(lr=0.01, lr_schedule="constant"), 25) == 0.01
    schedule = learning_rate(tf, TrainConfig(lr=0.01, epochs=4), steps_per_epoch=25)  # 100 steps in all
    expected = {0: 0.01, 25: 0.01 * (1 + np.cos(np.pi / 4)) / 2, 50: 0.005, 75: 0.01 * (1 - np.cos(np.pi / 4)) / 2,
                100: 0.0, 150: 0.0}
    for step, rate in expected.items():
        assert float(schedule(step)) == pytest.approx(rate, abs=1e-9), step


def test_config_round_trips():
    config = TrainConfig(dataset="digits", model=ModelSpec(arch="cnn", filters=(4,)), epochs=3)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_diagnosis_reads_the_curves():
    under = diagnose_fit({"accuracy": [0.3, 0.5], "val_accuracy": [0.3, 0.5], "val_loss": [2.0, 1.5]})
    assert under.verdict == "underfitting" and "still rising" in under.reason
    over = diagnose_fit({"accuracy": [0.9, 0.97, 0.99], "val_accuracy": [0.88, 0.87, 0.86], "val_loss": [0.3, 0.35, 0.45]})
    assert over.verdict == "overfitting"
    good = diagnose_fit({"accuracy": [0.85, 0.9], "val_accuracy": [0.84, 0.89], "val_loss": [0.4, 0.3]})
    assert good.verdict == "good fit"
    assert diagnose_fit({}).verdict == "unknown"


def test_ctrl_c_keeps_the_best_checkpoint_usable(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeml.cli", "train", "--dataset", "digits", "--epochs", "500", "--batch-size", "16",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "best.keras").exists():
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "usable" in stderr and "Traceback" not in stderr
    config = json.loads((out / "config.json").read_text())
    assert config["result"]["interrupted"] is True
    assert config["result"]["epochs_run"] < 500
    model = load_user_model(out / "model.keras")
    assert model.output_shape == (None, 10)


def test_one_hot_labels_train_with_categorical_cross_entropy(tmp_path):
    from edgeml.quantize import QuantizeConfig, quantize

    rng = np.random.default_rng(0)
    labels = np.arange(150) % 3
    x = rng.normal(size=(150, 6)).astype(np.float32) + labels[:, None]
    np.savez(tmp_path / "onehot.npz", x_train=x[:120], y_train=np.eye(3)[labels[:120]], x_test=x[120:],
             y_test=np.eye(3)[labels[120:]])
    run = train(TrainConfig(out=str(tmp_path / "run"), dataset=f"npz:{tmp_path / 'onehot.npz'}", epochs=8, lr=1e-2,
                            lr_schedule="constant", batch_size=16, model=ModelSpec(hidden=(8,))))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss"] == "categorical_crossentropy" and config["dataset"]["label_format"] == "one-hot"
    assert run.test_accuracy > 0.6
    # QAT fine-tunes with the same loss and targets.
    report = quantize(QuantizeConfig(target=str(tmp_path / "run"), qat_epochs=1, calibration_samples=30))
    assert report.variant("int8").fully_int8


def _digits_test_arrays(run_dir: Path):
    from edgeml.data import load_dataset

    train_config = json.loads((run_dir / "config.json").read_text())["train"]
    dataset = load_dataset("digits", train_samples=train_config["train_samples"],
                           test_samples=train_config["test_samples"], seed=train_config["seed"])
    return dataset.test_inputs(), dataset.y_test
