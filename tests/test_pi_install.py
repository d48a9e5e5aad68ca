"""The Raspberry Pi install: a virtualenv with only ``edgeml[pi]`` (numpy, click, Pillow, LiteRT; no
TensorFlow, no scikit-learn) runs inspect, predict and benchmark on .tflite files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeml.models import ModelSpec
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.train import TrainConfig, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def pi_venv(device_python) -> Path:
    """The venv behind conftest's ``device_python``: ``pip install "edgeml[pi]"`` and nothing else."""
    return Path(device_python).parent.parent


@pytest.fixture(scope="session")
def npz_run(tmp_path_factory) -> Path:
    """A quantized run on npz data (loading it needs numpy only, as on the Pi)."""
    base = tmp_path_factory.mktemp("pi_run")
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    x = (rng.integers(0, 60, size=(300, 8, 8)) + 60 * labels[:, None, None]).astype(np.uint8)
    np.savez(base / "shapes.npz", x_train=x[:240], y_train=labels[:240], x_test=x[240:], y_test=labels[240:],
             class_names=np.array(["dark", "mid", "bright"]))
    run_dir = base / "run"
    train(TrainConfig(out=str(run_dir), dataset=f"npz:{base / 'shapes.npz'}", epochs=6, batch_size=16, lr=0.01, model=ModelSpec(hidden=(16,))))
    quantize(QuantizeConfig(target=str(run_dir), method="ptq", calibration_samples=60))
    return run_dir


def edgeml(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "edgeml"), *args], capture_output=True, text=True, timeout=300)


def test_pi_venv_has_no_tensorflow(pi_venv):
    check = subprocess.run([str(pi_venv / "bin" / "python"), "-c", "import tensorflow"], capture_output=True)
    assert check.returncode != 0
    check = subprocess.run([str(pi_venv / "bin" / "python"), "-c", "import sklearn"], capture_output=True)
    assert check.returncode != 0


def test_inspect_predict_and_benchmark_with_only_the_pi_extra(pi_venv, npz_run, tmp_path):
    model = npz_run / "model_int8.tflite"
    inspected = edgeml(pi_venv, "inspect", "--json", str(model))
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["fully_int8"] is True

    with np.load(npz_run.parent / "shapes.npz") as data:
        np.save(tmp_path / "sample.npy", data["x_test"][0])
        expected = str(data["class_names"][data["y_test"][0]])
    predicted = edgeml(pi_venv, "predict", "--json", str(model), str(tmp_path / "sample.npy"))
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["predictions"][0]["top"][0]["label"] == expected

    benchmarked = edgeml(pi_venv, "benchmark", str(model), str(npz_run / "model_float32.tflite"),
                         "--runtime", "litert", "--runs", "20", "--out", str(tmp_path / "bench"))
    assert benchmarked.returncode == 0, benchmarked.stderr
    report = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert {row["model"] for row in report["rows"]} == {"model_int8.tflite", "model_float32.tflite"}
    assert all(row["runtime"] == "litert" for row in report["rows"])


def test_keras_models_are_reported_not_crashed_without_tensorflow(pi_venv, npz_run, tmp_path):
    run_copy = tmp_path / "run"
    shutil.copytree(npz_run, run_copy)
    benchmarked = edgeml(pi_venv, "benchmark", str(run_copy), "--runtime", "litert", "--runs", "10",
                         "--out", str(tmp_path / "bench"))
    assert benchmarked.returncode == 0, benchmarked.stderr
    assert "not measured: measuring model.keras in keras failed" in benchmarked.stderr
    assert "TensorFlow is not installed" in benchmarked.stderr
