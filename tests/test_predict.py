"""``edgeml predict``: images, .npy and CSV inputs through a .tflite model, with the run's normalisation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import NO_TENSORFLOW
from edgeml.data import load_dataset
from edgeml.errors import EdgeMLError
from edgeml.models import ModelSpec
from edgeml.predict import (
    PredictConfig,
    class_probabilities,
    format_predictions,
    parse_labels,
    predict,
    predictions_to_json,
)
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.rundir import RunRecord
from edgeml.runtime import LiteModel
from edgeml.train import TrainConfig, train

Image = pytest.importorskip("PIL.Image")

DIGITS_STD = 16.0  # digits are raw 0..16 values; the run records mean 0, std 16


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    """conftest's session-wide 2-epoch digits MLP, PTQ-quantized (model_int8.tflite, model_float32.tflite); the
    tests only read it."""
    return tiny_run


@pytest.fixture(scope="module")
def digits():
    dataset = load_dataset("digits")
    return dataset.x_test[:40], dataset.y_test[:40]


def expected_classes(model: Path, raw: np.ndarray) -> np.ndarray:
    """The model's own answer on the same raw samples, normalised by hand: what predict must reproduce."""
    return LiteModel(model).predict(raw.astype(np.float32) / DIGITS_STD).argmax(axis=1)


def top1(report) -> list[int]:
    return [prediction.best.index for prediction in report.predictions]


def write_png(path: Path, sample: np.ndarray, mode: str = "L") -> Path:
    pixels = sample[..., 0].astype(np.uint8)  # the raw 0..16 digit values, as training saw them
    image = Image.fromarray(pixels)
    (image.convert(mode) if mode != "L" else image).save(path)
    return path


def test_png_gives_the_models_own_answer(run_dir, digits, tmp_path):
    x, _ = digits
    model = run_dir / "model_int8.tflite"
    gray = [str(write_png(tmp_path / f"d{i}.png", x[i])) for i in range(8)]
    rgb = str(write_png(tmp_path / "rgb.png", x[0], mode="RGB"))  # converted back to one channel
    report = predict(PredictConfig(model=str(model), inputs=(*gray, rgb)))
    assert [p.source for p in report.predictions] == [*gray, rgb]
    assert top1(report) == [*expected_classes(model, x[:8]), expected_classes(model, x[:1])[0]]
    assert report.normalization.std == DIGITS_STD and report.normalization_source == str(run_dir / "config.json")
    assert report.class_names == tuple(str(i) for i in range(10)) and report.output == "softmax"


def test_larger_image_is_resized_to_the_model_input(run_dir, digits, tmp_path):
    x, _ = digits
    big = tmp_path / "big.bmp"
    Image.fromarray(x[0, ..., 0].astype(np.uint8)).resize((32, 32), Image.Resampling.NEAREST).save(big)
    report = predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(big),)))
    assert len(report.predictions) == 1 and report.input_shape == (8, 8, 1)


def test_npy_single_channel_free_and_batch(run_dir, digits, tmp_path):
    x, _ = digits
    model = run_dir / "model_int8.tflite"
    np.save(tmp_path / "one.npy", x[3])
    np.save(tmp_path / "flat.npy", x[3, ..., 0])  # (8, 8): the channel axis of size 1 is optional
    np.save(tmp_path / "batch.npy", x[:5])
    inputs = tuple(str(tmp_path / name) for name in ("one.npy", "flat.npy", "batch.npy"))
    report = predict(PredictConfig(model=str(model), inputs=inputs))
    sources = [p.source for p in report.predictions]
    assert sources == [inputs[0], inputs[1], *(f"{inputs[2]}#{i}" for i in range(5))]
    expected = expected_classes(model, x[:5])
    assert top1(report) == [expected[3], expected[3], *expected]


def test_csv_rows_with_and_without_header(run_dir, digits, tmp_path):
    x, _ = digits
    model = run_dir / "model_int8.tflite"
    rows = x[:6].reshape(6, -1)
    np.savetxt(tmp_path / "plain.csv", rows, delimiter=",", fmt="%g")
    np.savetxt(tmp_path / "header.csv", rows, delimiter=",", fmt="%g",
               header=",".join(f"pixel{i}" for i in range(64)), comments="")
    np.savetxt(tmp_path / "spaces.csv", rows)  # np.savetxt's default: space-separated
    inputs = tuple(str(tmp_path / name) for name in ("plain.csv", "header.csv", "spaces.csv"))
    report = predict(PredictConfig(model=str(model), inputs=inputs))
    assert [p.source for p in report.predictions][:7] == [*(f"{inputs[0]}#{i}" for i in range(6)), f"{inputs[1]}#0"]
    assert top1(report) == list(expected_classes(model, x[:6])) * 3


def test_a_pandas_csv_header_of_column_numbers_is_not_a_sample(run_dir, digits, tmp_path):
    """pandas' ``DataFrame(rows).to_csv(index=False)`` writes the header ``0,1,…,63`` (written here by hand, as
    pandas 2.2 does it: column labels, then ``%g``-like numbers)."""
    x, _ = digits
    model = run_dir / "model_int8.tflite"
    rows = x[:4].reshape(4, -1)
    pandas_csv = tmp_path / "pandas.csv"
    pandas_csv.write_text("\n".join([",".join(map(str, range(64))), *(",".join(f"{v:g}" for v in row) for row in rows)]) + "\n")
    expected = list(expected_classes(model, x[:4]))

    detected = predict(PredictConfig(model=str(model), inputs=(str(pandas_csv),)))
    assert [p.source for p in detected.predictions] == [f"{pandas_csv}#{i}" for i in range(4)]
    assert top1(detected) == expected
    assert top1(predict(PredictConfig(model=str(model), inputs=(str(pandas_csv),), header=True))) == expected

    # --no-header: the row 0,1,…,63 is a sample after all (one more prediction, first), as the user said.
    forced = predict(PredictConfig(model=str(model), inputs=(str(pandas_csv),), header=False))
    column_numbers = np.arange(64, dtype=np.float32).reshape(1, *x.shape[1:])
    assert top1(forced) == [*expected_classes(model, column_numbers), *expected]

    # --header on a file without one drops its first row.
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, rows, delimiter=",", fmt="%g")
    assert top1(predict(PredictConfig(model=str(model), inputs=(str(plain),), header=True))) == expected[1:]


def test_a_first_row_mixing_names_and_numbers_is_reported_with_the_option(run_dir, tmp_path):
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("label," + ",".join(map(str, range(63))) + "\n" + ",".join(["1"] * 64) + "\n")
    with pytest.raises(EdgeMLError, match=r"mixed.csv line 1: 'label' is not a number \(if this row is a header, pass --header\)$"):
        predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(mixed),)))
    report = predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(mixed),), header=True))
    assert [p.source for p in report.predictions] == [f"{mixed}#0"]


def test_header_detection_doctests_pass():
    import doctest

    import edgeml.predict

    outcome = doctest.testmod(edgeml.predict)
    assert outcome.attempted >= 2 and outcome.failed == 0


def test_top_k_is_sorted_and_sums_to_one(run_dir, digits, tmp_path):
    x, _ = digits
    np.save(tmp_path / "batch.npy", x[:10])
    for name in ("model_int8.tflite", "model_float32.tflite"):
        report = predict(PredictConfig(model=str(run_dir / name), inputs=(str(tmp_path / "batch.npy"),), top_k=50))
        for prediction in report.predictions:
            probabilities = [item.probability for item in prediction.top]
            assert len(prediction.top) == 10  # k is capped at the number of classes
            assert probabilities == sorted(probabilities, reverse=True)
            assert sorted(item.index for item in prediction.top) == list(range(10))
            assert sum(probabilities) == pytest.approx(1.0, abs=0.03)  # int8 outputs round to 1/256
    report = predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(tmp_path / "batch.npy"),)))
    assert all(len(prediction.top) == 3 for prediction in report.predictions)


def test_json_and_text_forms(run_dir, digits, tmp_path):
    x, _ = digits
    np.save(tmp_path / "one.npy", x[0])
    report = predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(tmp_path / "one.npy"),),
                                   top_k=2, threads=2))
    data = json.loads(predictions_to_json(report))
    assert data["runtime"] in ("litert", "tflite-runtime", "tensorflow") and data["threads"] == 2
    assert data["input_shape"] == [8, 8, 1] and data["output"] == "softmax"
    assert data["normalization"] == {"mean": 0.0, "std": 16.0, "method": "pixels", "note": "default for pixel data",
                                     "source": str(run_dir / "config.json")}
    assert data["class_names"] == [str(i) for i in range(10)]
    (prediction,) = data["predictions"]
    assert prediction["source"] == str(tmp_path / "one.npy")
    assert [set(item) for item in prediction["top"]] == [{"class", "label", "probability"}] * 2
    assert prediction["top"][0]["label"] == str(prediction["top"][0]["class"])
    text = format_predictions(report).splitlines()
    assert len(text) == 3 and "threads: 2" in text[0] and "(x - 0) / 16" in text[1]
    best = report.predictions[0].best
    assert text[2].startswith(str(tmp_path / "one.npy")) and f"{best.label} {100 * best.probability:.1f}%" in text[2]


def test_int8_and_float32_agree_on_top1(run_dir, tmp_path):
    dataset = load_dataset("digits")
    np.save(tmp_path / "test.npy", dataset.x_test)
    classes = {
        name: np.array(top1(predict(PredictConfig(model=str(run_dir / f"model_{name}.tflite"),
                                                  inputs=(str(tmp_path / "test.npy"),)))))
        for name in ("int8", "float32")
    }
    # Each model's classes are LiteRT's own argmax on the run's normalisation of the raw samples.
    normalised = RunRecord.load(run_dir).normalization.apply(dataset.x_test)
    for name, predicted in classes.items():
        scores = LiteModel(run_dir / f"model_{name}.tflite").predict(normalised)
        np.testing.assert_array_equal(predicted, np.argmax(scores, axis=1))
    assert np.mean(classes["int8"] == classes["float32"]) >= 0.95
    assert np.mean(classes["float32"] == dataset.y_test) >= 0.6  # a real, if briefly trained, classifier


def test_normalisation_and_labels_without_a_run_beside_the_model(run_dir, digits, tmp_path):
    x, _ = digits
    bare = tmp_path / "bare" / "model.tflite"
    bare.parent.mkdir()
    shutil.copy(run_dir / "model_int8.tflite", bare)
    np.save(tmp_path / "batch.npy", x[:8])
    inputs = (str(tmp_path / "batch.npy"),)
    expected = list(expected_classes(bare, x[:8]))

    plain = predict(PredictConfig(model=str(bare), inputs=inputs))
    assert plain.normalization.mean == 0 and plain.normalization.std == 1
    assert plain.normalization_source.startswith("none: no config.json beside the model")
    assert "--run RUN_DIR or --mean/--std" in format_predictions(plain)
    assert plain.class_names == tuple(str(i) for i in range(10))

    explicit = predict(PredictConfig(model=str(bare), inputs=inputs, std=16.0, labels=tuple("abcdefghij")))
    assert explicit.normalization_source == "--mean/--std" and top1(explicit) == expected
    assert [p.best.label for p in explicit.predictions] == ["abcdefghij"[i] for i in expected]

    from_run = predict(PredictConfig(model=str(bare), inputs=inputs, run=str(run_dir)))
    assert from_run.normalization.std == DIGITS_STD and top1(from_run) == expected

    # Somebody else's config.json (a Hugging Face export has one) is not a run record: ignored, and said so.
    (bare.parent / "config.json").write_text('{"architectures": ["Bert"]}')
    foreign = predict(PredictConfig(model=str(bare), inputs=inputs, std=16.0))
    assert top1(foreign) == expected
    assert "is not an edgeml run configuration" in predict(PredictConfig(model=str(bare), inputs=inputs)).normalization_source


def test_labels_and_overrides_that_contradict_the_run(run_dir, digits, tmp_path):
    x, _ = digits
    np.save(tmp_path / "one.npy", x[0])
    model, inputs = str(run_dir / "model_int8.tflite"), (str(tmp_path / "one.npy"),)
    # Repeating the recorded normalisation is fine; a different one would silently give wrong classes.
    assert predict(PredictConfig(model=model, inputs=inputs, mean=0.0, std=16.0)).normalization.std == DIGITS_STD
    with pytest.raises(EdgeMLError, match=r"records the normalisation mean 0, std 16 .* drop --mean/--std"):
        predict(PredictConfig(model=model, inputs=inputs, std=255.0))
    with pytest.raises(EdgeMLError, match="--labels gives 3 labels, but the model has 10 outputs"):
        predict(PredictConfig(model=model, inputs=inputs, labels=("a", "b", "c")))
    renamed = predict(PredictConfig(model=model, inputs=inputs, labels=tuple(f"digit {i}" for i in range(10))))
    assert renamed.predictions[0].best.label == f"digit {renamed.predictions[0].best.index}"


def test_parse_labels(tmp_path):
    assert parse_labels("cat, dog") == ("cat", "dog")
    (tmp_path / "labels.txt").write_text("T-shirt/top\nAnkle boot\n\n")
    assert parse_labels(str(tmp_path / "labels.txt")) == ("T-shirt/top", "Ankle boot")


def test_single_sigmoid_output_is_two_classes():
    probabilities, output = class_probabilities(np.array([[0.9], [0.2]], dtype=np.float32))
    assert output == "sigmoid" and probabilities == pytest.approx(np.array([[0.1, 0.9], [0.8, 0.2]]))
    probabilities, output = class_probabilities(np.array([[2.0, 0.0, -1.0]]))
    assert output.startswith("logits") and probabilities.sum() == pytest.approx(1.0)
    assert probabilities[0].argmax() == 0
    probabilities, output = class_probabilities(np.array([[0.0], [3.0]]))  # a logit, not a probability
    assert output.startswith("one logit") and probabilities[1, 1] == pytest.approx(1 / (1 + np.exp(-3.0)))


def test_binary_model_end_to_end(tmp_path):
    """Two classes train to one sigmoid unit; predict reports both classes with the run's names."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "pairs.npz", x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:],
             class_names=np.array(["low", "high"]))
    run = tmp_path / "binary"
    train(TrainConfig(out=str(run), dataset=f"npz:{tmp_path / 'pairs.npz'}", epochs=10, batch_size=32, lr=1e-2,
                      model=ModelSpec(hidden=(8,))))
    quantize(QuantizeConfig(target=str(run), method="ptq", calibration_samples=50))
    np.savetxt(tmp_path / "rows.csv", x[240:260], delimiter=",")
    report = predict(PredictConfig(model=str(run / "model_int8.tflite"), inputs=(str(tmp_path / "rows.csv"),)))
    assert report.output == "sigmoid" and report.class_names == ("low", "high")
    for prediction in report.predictions:
        assert {item.label for item in prediction.top} == {"low", "high"}
        assert sum(item.probability for item in prediction.top) == pytest.approx(1.0, abs=1e-6)
    record = RunRecord.load(run)
    positive = LiteModel(run / "model_int8.tflite").predict(record.normalization.apply(x[240:260]))[:, 0]
    # A tie (0.5 exactly, possible with int8 outputs) is class 1, as edgeml.runtime.decide_class decides it.
    assert [p.best.label for p in report.predictions] == [["low", "high"][int(v >= 0.5)] for v in positive]
    high = [next(item.probability for item in p.top if item.label == "high") for p in report.predictions]
    assert high == pytest.approx(positive, abs=1e-6)
    accuracy = np.mean([["low", "high"][label] == p.best.label for label, p in zip(y[240:260], report.predictions)])
    assert accuracy >= 0.7


def _bad_inputs(folder: Path) -> dict[str, tuple[str, str]]:
    """name -> (file, expected message); every message must also name the file."""
    np.save(folder / "wrong_shape.npy", np.zeros((7, 7)))
    np.save(folder / "strings.npy", np.array(["a", "b"]))
    (folder / "pickled.npy").write_bytes(b"\x93NUMPY garbage")
    (folder / "short_row.csv").write_text(",".join(["1"] * 64) + "\n" + ",".join(["1"] * 63) + "\n")
    (folder / "label_column.csv").write_text(",".join(["1"] * 65) + "\n")
    (folder / "text_cell.csv").write_text(",".join(["1"] * 64) + "\n" + ",".join(["1"] * 63 + ["x"]) + "\n")
    (folder / "header_only.csv").write_text("a,b,c\n")
    (folder / "nan.csv").write_text(",".join(["nan"] + ["1"] * 63) + "\n")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "notes.txt").write_text("3\n")
    return {
        "wrong_shape": ("wrong_shape.npy", r"holds an array of shape \(7, 7\); the model takes one sample of shape \(8, 8, 1\)"),
        "strings": ("strings.npy", "values, not numbers"),
        "corrupt_npy": ("pickled.npy", "cannot read .* as a .npy array"),
        "short_row": ("short_row.csv", "line 2 has 63 values; the model takes 64"),
        "label_column": ("label_column.csv", r"line 1 has 65 values; .*\(a label column\? remove it\)"),
        "text_cell": ("text_cell.csv", "line 2: 'x' is not a number"),
        "header_only": ("header_only.csv", "has no data rows"),
        "nan": ("nan.csv", "contains NaN or infinite values"),
        "corrupt_png": ("corrupt.png", "cannot read .* as an image"),
        "missing": ("missing.png", "input not found"),
        "extension": ("notes.txt", r"unsupported input type '\.txt'"),
    }


@pytest.mark.parametrize("case", ["wrong_shape", "strings", "corrupt_npy", "short_row", "label_column", "text_cell",
                                  "header_only", "nan", "corrupt_png", "missing", "extension"])
def test_bad_inputs_are_one_error_naming_the_file(run_dir, tmp_path, case):
    file, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(EdgeMLError, match=message) as caught:
        predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=(str(tmp_path / file),)))
    assert file in str(caught.value) and "\n" not in str(caught.value)


def test_bad_models_and_options(run_dir, tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((8, 8)))
    inputs = (str(tmp_path / "one.npy"),)
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer" * 8)
    (tmp_path / "half.tflite").write_bytes((run_dir / "model_int8.tflite").read_bytes()[:300])
    for model, message in (("missing.tflite", "model not found"), ("empty.tflite", "is empty, not a TFLite model"),
                           ("junk.tflite", "is not a TFLite model"), ("half.tflite", "truncated or corrupt")):
        with pytest.raises(EdgeMLError, match=message) as caught:
            predict(PredictConfig(model=str(tmp_path / model), inputs=inputs))
        assert model in str(caught.value)
    with pytest.raises(EdgeMLError, match="run configuration not found"):
        predict(PredictConfig(model=str(run_dir / "model_int8.tflite"), inputs=inputs, run=str(tmp_path)))
    for kwargs, message in (({"inputs": ()}, "nothing to predict"), ({"top_k": 0}, "--top-k"),
                            ({"threads": 0}, "--threads"), ({"std": 0.0}, "--std"), ({"runtime": "onnx"}, "unknown runtime")):
        with pytest.raises(EdgeMLError, match=message):
            PredictConfig(**{"model": "m.tflite", "inputs": inputs, **kwargs})


def test_image_needs_an_image_shaped_model(tmp_path):
    """A model on flat feature vectors cannot take a picture: say so instead of reshaping pixels into features."""
    from edgeml.predict import load_inputs

    write_png(tmp_path / "d.png", np.zeros((8, 8, 1)))
    with pytest.raises(EdgeMLError, match=r"d\.png: the model takes inputs of shape \(64,\), not images"):
        load_inputs([str(tmp_path / "d.png")], (64,))


def test_tflm_runtime_gives_the_same_classes(run_dir, digits, tmp_path):
    """``runtime="tflm"``: the microcontroller's interpreter, run on the host."""
    pytest.importorskip("tflite_micro")
    x, _ = digits
    np.save(tmp_path / "batch.npy", x[:10])
    inputs, model = (str(tmp_path / "batch.npy"),), str(run_dir / "model_int8.tflite")
    micro = predict(PredictConfig(model=model, inputs=inputs, runtime="tflm"))
    assert micro.runtime == "tflm" and top1(micro) == top1(predict(PredictConfig(model=model, inputs=inputs)))


BLOCK_TENSORFLOW = NO_TENSORFLOW + """
import json
from edgeml.errors import EdgeMLError
from edgeml.predict import PredictConfig, predict, predictions_to_json
try:
    report = predict(PredictConfig(model=sys.argv[1], inputs=tuple(sys.argv[2:])))
except EdgeMLError as exc:  # what the CLI does with it
    sys.exit(f"error: {exc}")
print(predictions_to_json(report))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"))))
"""


def test_predict_runs_where_tensorflow_cannot_be_imported(run_dir, digits, tmp_path):
    """The Raspberry Pi situation: numpy, Pillow and LiteRT only."""
    x, _ = digits
    png = write_png(tmp_path / "d.png", x[0])
    np.save(tmp_path / "batch.npy", x[:3])
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW, str(run_dir / "model_int8.tflite"), str(png), str(tmp_path / "batch.npy")],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    report_text, loaded = completed.stdout.strip().rsplit("\n", 1)
    assert json.loads(loaded) == []
    report = json.loads(report_text)
    assert report["runtime"] != "tensorflow" and len(report["predictions"]) == 4
    assert report["predictions"][0]["top"][0]["class"] == int(expected_classes(run_dir / "model_int8.tflite", x[:1])[0])
    # A bad input after good ones: one error line on stderr, before LiteRT has printed anything.
    (tmp_path / "short.csv").write_text("1,2,3\n")
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW, str(run_dir / "model_int8.tflite"), str(png), str(tmp_path / "short.csv")],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 1 and completed.stderr.count("\n") == 1, completed.stderr
    assert completed.stderr.startswith("error: ") and "short.csv line 1 has 3 values" in completed.stderr


def test_c_runtime_predicts_what_tflite_micro_predicts_through_the_cli(run_dir, digits, tmp_path, monkeypatch):
    """Issue 12: ``edgeml predict --runtime c`` (the C engine built here) == ``--runtime tflm``, probability for
    probability; without a C compiler it is one line naming what to install."""
    from click.testing import CliRunner

    from edgeml.cli import cli

    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    x, _ = digits
    np.save(tmp_path / "batch.npy", x[:20])
    model = str(run_dir / "model_int8.tflite")
    answers = {}
    for runtime in ("c", "tflm"):
        result = CliRunner().invoke(cli, ["predict", model, str(tmp_path / "batch.npy"), "--runtime", runtime,
                                          "--top-k", "10", "--json"])
        assert result.exit_code == 0, result.output
        answers[runtime] = json.loads(result.stdout)
    assert answers["c"]["runtime"] == "c" and answers["tflm"]["runtime"] == "tflm"
    assert answers["c"]["predictions"] == answers["tflm"]["predictions"]
    assert [p["top"][0]["class"] for p in answers["c"]["predictions"]] == expected_classes(Path(model), x[:20]).tolist()

    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(cli, ["predict", model, str(tmp_path / "batch.npy"), "--runtime", "c"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: {model}: the c runtime builds edgeml's C engine with a C compiler and none was found ($CC, gcc, clang "
        "or cc): install one (Debian/Ubuntu: sudo apt install gcc; Fedora: sudo dnf install gcc; macOS: "
        "xcode-select --install)"]
