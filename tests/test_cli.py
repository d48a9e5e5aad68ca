from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import CLI_WITHOUT_TENSORFLOW
from edgeml.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("command", ["datasets", "train", "evaluate", "quantize", "inspect", "benchmark", "predict", "bundle", "pipeline", "export"])
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and "edgeml" in result.output


def test_datasets_lists_digits():
    result = run("datasets")
    assert result.exit_code == 0
    assert "digits" in result.output and "(1438, 8, 8, 1)" in result.output


def test_train_and_evaluate_through_the_cli(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--dataset", "digits", "--hidden", "32,16", "--activation", "tanh", "--dropout", "0.1",
                 "--batchnorm", "--epochs", "2", "--batch-size", "64", "--lr", "0.005", "--validation-split", "0.2",
                 "--seed", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "fit diagnosis:" in result.output
    assert "inputs normalised (x - 0) / 16 [pixels: default for pixel data]\n" in result.output
    config = json.loads((out / "config.json").read_text())["train"]
    assert config["model"]["hidden"] == [32, 16] and config["model"]["activation"] == "tanh"
    assert config["model"]["batchnorm"] is True and config["validation_split"] == 0.2 and config["seed"] == 3
    result = run("evaluate", str(out))
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "confusion matrix" in result.output
    assert "inputs normalised (x - 0) / 16 [pixels: default for pixel data]\n" in result.output
    assert (out / "roc.png").is_file()
    result = run("evaluate", str(out), "--normalize", "standardize", "--force")
    assert result.exit_code == 1 and "--normalize standardize asks for" in result.output


def test_kfold_through_the_cli(tmp_path):
    result = run("train", "--dataset", "digits", "--train-samples", "200", "--kfold", "2", "--epochs", "1",
                 "--hidden", "16", "--out", str(tmp_path / "kf"))
    assert result.exit_code == 0, result.output
    assert "2-fold accuracy" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "--model", "resnet"], "unknown architecture 'resnet'"),
        (["train", "--hidden", "12,x"], "--hidden takes comma-separated integers"),
        (["train", "--epochs", "0"], "--epochs must be positive"),
        (["train", "--normalize", "1,2,3"], "--normalize takes none | pixels"),
        (["quantize", "run", "--normalize", "0,-1"], "normalisation std must be positive"),
        (["evaluate", "/no/such/run"], "nothing to evaluate"),
        (["train", "--activation", "gelu"], "Invalid value for '--activation'"),
        (["quantize"], "Missing argument 'TARGET'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, args, message):
    """Run the real console entry point: exactly one line on stderr, no TensorFlow noise, non-zero exit
    (1 for edgeml's errors, 2 for click's usage errors)."""
    completed = subprocess.run(
        [sys.executable, "-m", "edgeml.cli", *args, *(["--out", str(tmp_path / "o")] if args[0] == "train" else [])],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == (2 if "Invalid" in message or "Missing" in message or "No such" in message else 1)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], completed.stderr
    assert not (tmp_path / "o").exists()

def test_quantize_and_inspect_through_the_cli(digits_run, tmp_path):
    out = tmp_path / "q"
    result = run("quantize", str(digits_run), "--method", "ptq", "--calibration-samples", "50", "--out", str(out),
                 "--verbose")
    assert result.exit_code == 0, result.output
    assert "int8" in result.output and "float32" in result.output and "int8/float32 size" in result.output
    # --verbose lists every tensor's quantization parameters: the input tensor's scale appears in full.
    from edgeml.tflite_model import read_tflite

    info = read_tflite(out / "model_int8.tflite")
    assert "tensors" in result.output and f"{info.inputs[0].scale:.6g}"[:6] in result.output
    assert all(tensor.name[:20] in result.output for tensor in info.tensors)
    # inspect runs where importing TensorFlow raises: the Raspberry Pi situation.
    completed = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TENSORFLOW, "inspect", str(out / "model_int8.tflite")],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "FULLY_CONNECTED" in completed.stdout and "int8" in completed.stdout
    completed = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TENSORFLOW, "inspect", "--json", str(out / "model_int8.tflite")],
                               capture_output=True, text=True, timeout=60)
    assert json.loads(completed.stdout)["fully_int8"] is True
    (tmp_path / "half.tflite").write_bytes((out / "model_int8.tflite").read_bytes()[:300])
    completed = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TENSORFLOW, "inspect", str(tmp_path / "half.tflite")],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("error: ") and "half.tflite" in completed.stderr


def test_export_through_the_cli(tiny_run, tmp_path):
    out = tmp_path / "fw"
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--out", str(out), "--name", "3d model",
                                      "--lang", "c", "--check-samples", "20"])
    assert result.exit_code == 0, result.output
    assert "MicroMutableOpResolver<" in result.output and "tensor arena" in result.output
    assert "warning: --name '3d model' is not a usable C identifier" in result.output
    header = (out / "model_data.h").read_text()
    symbol = header.split("extern const unsigned char ")[1].split("[")[0]
    assert symbol[0].isalpha() or symbol[0] == "_"
    assert (out / "model_data.c").is_file() and (out / "model_config.h").is_file()
    again = CliRunner().invoke(cli, ["export", str(tiny_run), "--out", str(out)])
    assert again.exit_code == 1 and "--force" in again.output


def test_predict_header_options_reach_the_csv_reader(tiny_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(map(str, range(64))) + "\n" + ",".join(["3"] * 64) + "\n")
    model = str(tiny_run / "model_int8.tflite")
    counts = {}
    for option in ([], ["--header"], ["--no-header"]):
        result = run("predict", "--json", *option, model, str(rows))
        assert result.exit_code == 0, result.output
        counts[" ".join(option) or "detect"] = [p["source"] for p in json.loads(result.output)["predictions"]]
    assert counts == {"detect": [f"{rows}#0"], "--header": [f"{rows}#0"], "--no-header": [f"{rows}#0", f"{rows}#1"]}
