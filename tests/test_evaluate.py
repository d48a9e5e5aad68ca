from __future__ import annotations

import json
import shutil

import pytest

from edgeml.errors import EdgeMLError
from edgeml.evaluate import EvaluateConfig, evaluate


def test_evaluate_run_directory(digits_run, tmp_path):
    out = tmp_path / "eval"
    evaluation = evaluate(EvaluateConfig(target=str(digits_run), out=str(out)))
    config = json.loads((digits_run / "config.json").read_text())
    # The same test set and normalisation as at training time give the same accuracy.
    assert evaluation.metrics.accuracy == pytest.approx(config["result"]["test_accuracy"], abs=1e-6)
    assert evaluation.metrics.num_samples == config["dataset"]["test_samples"]
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "metrics.json", "roc.png"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_class"]) == 10 and metrics["auc_macro"] > 0.9
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_samples"]


def test_evaluate_refuses_to_overwrite_without_force(digits_run, tmp_path):
    out = tmp_path / "eval"
    evaluate(EvaluateConfig(target=str(digits_run), out=str(out), test_samples=30))
    with pytest.raises(EdgeMLError, match="--force"):
        evaluate(EvaluateConfig(target=str(digits_run), out=str(out), test_samples=30))
    assert json.loads((out / "metrics.json").read_text())["num_samples"] == 30  # the refused run wrote nothing
    evaluate(EvaluateConfig(target=str(digits_run), out=str(out), force=True, test_samples=50))
    assert json.loads((out / "metrics.json").read_text())["num_samples"] == 50


def test_bare_model_file_needs_a_dataset(digits_run, tmp_path):
    model = tmp_path / "lonely.keras"
    shutil.copy(digits_run / "model.keras", model)
    with pytest.raises(EdgeMLError, match="needs --dataset"):
        evaluate(EvaluateConfig(target=str(model)))
    evaluation = evaluate(EvaluateConfig(target=str(model), dataset="digits", test_samples=100))
    assert evaluation.metrics.num_samples == 100 and evaluation.metrics.accuracy > 0.8


def test_evaluate_errors(tmp_path, digits_run, idx_folder):
    with pytest.raises(EdgeMLError, match="nothing to evaluate"):
        evaluate(EvaluateConfig(target=str(tmp_path / "missing")))
    with pytest.raises(EdgeMLError, match="not a run directory"):
        evaluate(EvaluateConfig(target=str(tmp_path)))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ truncated")
    with pytest.raises(EdgeMLError, match="unreadable"):
        evaluate(EvaluateConfig(target=str(broken)))
    with pytest.raises(EdgeMLError, match="expects inputs of shape"):
        evaluate(EvaluateConfig(target=str(digits_run / "model.keras"), dataset="fashion_mnist",
                                data_path=str(idx_folder), out=str(tmp_path / "e")))


def test_evaluate_a_tflite_file_in_the_c_engine_and_tflm(tiny_run, tmp_path, monkeypatch):
    """Issue 12: ``edgeml evaluate model_int8.tflite --runtime c`` gives TFLite Micro's metrics exactly, and its
    accuracy is the share of the engine's own top classes that equal the labels."""
    import numpy as np
    from click.testing import CliRunner

    from edgeml.benchmark import load_test_samples
    from edgeml.cli import cli
    from edgeml.rundir import RunRecord
    from edgeml.runtime import open_model

    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = tiny_run  # conftest's PTQ-quantized digits MLP, shared by the session (only read here)
    model = run_dir / "model_int8.tflite"
    metrics = {}
    for runtime in ("c", "tflm"):
        result = CliRunner().invoke(cli, ["evaluate", str(model), "--runtime", runtime, "--out", str(tmp_path / runtime)])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in (tmp_path / runtime).iterdir()) == [
            "int8_confusion_matrix.png", "int8_metrics.json", "int8_roc.png"]
        metrics[runtime] = json.loads((tmp_path / runtime / "int8_metrics.json").read_text())
    assert metrics["c"] == metrics["tflm"]
    inputs, labels = load_test_samples(RunRecord.load(run_dir), None, None)
    predicted = open_model(model, "c").predict(inputs).argmax(axis=1)
    assert metrics["c"]["accuracy"] == pytest.approx(float(np.mean(predicted == labels)))
    assert metrics["c"]["num_samples"] == len(labels)
