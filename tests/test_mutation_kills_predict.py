"""``edgeml predict``'s preprocessing (edgeml/predict.py), TF-free and fast: a hand-built float model
``softmax(W · (x - mean) / std + b)`` (tests/tflite_flatbuffer.py) whose class probabilities numpy computes,
fed images, .npy arrays and CSV files written by the tests. Kills mutmut's mutants; see docs/MUTATION.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgeml.data import Normalization
from edgeml.errors import EdgeMLError
from edgeml.predict import (PredictConfig, class_probabilities, format_predictions, is_csv_header, load_inputs,
                            parse_labels, predict, predictions_to_json)
from tflite_flatbuffer import GraphSpec, OpSpec, TensorSpec, build_tflite, dense_softmax, options

SHAPE = (2, 2, 1)
W = np.array([[0.5, -1.0, 0.25, 2.0], [-0.5, 1.5, 0.0, -1.0], [1.0, 0.0, -2.0, 0.5]], np.float32)
B = np.array([0.1, -0.2, 0.3], np.float32)


def softmax_by_hand(raw: np.ndarray, mean=0.0, std=1.0) -> np.ndarray:
    x = ((np.asarray(raw, np.float64) - mean) / std).reshape(len(raw), -1)
    logits = x @ W.T.astype(np.float64) + B
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "m.tflite"
    path.write_bytes(dense_softmax(W, B, input_shape=SHAPE))
    return path


def write_run(folder: Path, mean=10.0, std=20.0, class_names=("cat", "dog", "eel"), input_shape=SHAPE) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_file": "model.keras", "train": {"dataset": "npz:x.npz"},
        "dataset": {"class_names": list(class_names), "input_shape": list(input_shape),
                    "normalization": {"mean": mean, "std": std, "method": "custom", "note": ""}},
    }))
    return folder


SAMPLES = np.array([[[[0.0], [40.0]], [[10.0], [-20.0]]], [[[30.0], [5.0]], [[60.0], [10.0]]]], np.float32)


# ----------------------------------------------------------------------------------------- the whole path


def test_npy_batch_with_the_runs_normalisation_gives_numpys_probabilities(model, tmp_path):
    run = write_run(tmp_path / "run")
    np.save(tmp_path / "batch.npy", SAMPLES)
    report = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "batch.npy"),), run=str(run), top_k=3))
    expected = softmax_by_hand(SAMPLES, 10.0, 20.0)
    assert report.normalization == Normalization(10.0, 20.0)
    assert report.normalization_source == str(run / "config.json")
    assert report.class_names == ("cat", "dog", "eel") and report.input_shape == SHAPE
    assert (report.runtime, report.output, report.model) == ("litert", "softmax", str(model))
    assert [p.source for p in report.predictions] == [f"{tmp_path / 'batch.npy'}#0", f"{tmp_path / 'batch.npy'}#1"]
    for prediction, row in zip(report.predictions, expected):
        order = np.argsort(-row)
        assert [item.index for item in prediction.top] == list(order)
        assert [item.label for item in prediction.top] == [("cat", "dog", "eel")[i] for i in order]
        np.testing.assert_allclose([item.probability for item in prediction.top], row[order], rtol=1e-5)
        assert prediction.best is prediction.top[0]


def test_top_k_is_capped_at_the_classes_and_ties_keep_class_order(model, tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros(SHAPE, np.float32))  # logits = bias: 0.3 > 0.1 > -0.2
    one = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "zero.npy"),), top_k=1))
    assert [item.index for item in one.predictions[0].top] == [2]
    assert one.predictions[0].source == str(tmp_path / "zero.npy")  # one sample: no #index
    many = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "zero.npy"),), top_k=7))
    assert [item.index for item in many.predictions[0].top] == [2, 0, 1]
    # Equal probabilities: class order (a stable sort), not an arbitrary one.
    flat = tmp_path / "flat.tflite"
    flat.write_bytes(dense_softmax(np.zeros((4, 4), np.float32), np.zeros(4, np.float32), input_shape=SHAPE))
    tied = predict(PredictConfig(model=str(flat), inputs=(str(tmp_path / "zero.npy"),), top_k=4))
    assert [item.index for item in tied.predictions[0].top] == [0, 1, 2, 3]
    assert [item.probability for item in tied.predictions[0].top] == pytest.approx([0.25] * 4)


def test_without_a_run_the_normalisation_is_none_and_says_why(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    report = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),)))
    assert report.normalization == Normalization(0.0, 1.0) and report.class_names == ("0", "1", "2")
    assert report.normalization_source == "none: no config.json beside the model; pass --run RUN_DIR or --mean/--std"
    np.testing.assert_allclose(sorted(item.probability for item in report.predictions[0].top),
                               sorted(softmax_by_hand(SAMPLES[:1])[0]), rtol=1e-5, atol=1e-7)
    explicit = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), mean=5.0, std=4.0,
                                     labels=("a", "b", "c")))
    assert explicit.normalization_source == "--mean/--std" and explicit.class_names == ("a", "b", "c")
    assert explicit.normalization == Normalization(5.0, 4.0)
    top = {item.index: item.probability for item in explicit.predictions[0].top}
    np.testing.assert_allclose([top[i] for i in range(3)], softmax_by_hand(SAMPLES[:1], 5.0, 4.0)[0], rtol=1e-5)
    only_std = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), std=4.0))
    assert only_std.normalization == Normalization(0.0, 4.0)
    only_mean = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), mean=4.0))
    assert only_mean.normalization == Normalization(4.0, 1.0)


def test_a_config_json_beside_the_model_is_used_and_a_foreign_one_is_not(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[1])
    write_run(tmp_path, mean=1.0, std=2.0, class_names=("x", "y", "z"))
    beside = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),)))
    assert beside.normalization == Normalization(1.0, 2.0) and beside.class_names == ("x", "y", "z")
    assert beside.normalization_source == str(tmp_path / "config.json")
    (tmp_path / "config.json").write_text('{"architectures": ["Bert"]}')
    foreign = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),)))
    assert foreign.normalization_source == (f"none: {tmp_path / 'config.json'} is not an edgeml run configuration; "
                                            "pass --run RUN_DIR or --mean/--std")
    # The same values as the run's, spelled as options, are accepted; labels rename the run's classes.
    write_run(tmp_path, mean=1.0, std=2.0)  # a scalar equals a per-channel vector of that value
    same = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), mean=(1.0, 1.0), std="2",
                                 labels=("p", "q", "r")))
    assert same.class_names == ("p", "q", "r") and same.normalization_source == str(tmp_path / "config.json")


def test_options_that_contradict_the_run_are_refused(model, tmp_path):
    run = write_run(tmp_path / "run", mean=(1.0, 2.0), std=3.0)
    np.save(tmp_path / "s.npy", SAMPLES[0])
    config = str(run / "config.json")
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(run), std=3.5))
    assert str(caught.value) == (f"{config} records the normalisation mean 1,2, std 3 for this model; --mean/--std "
                                 "ask for mean 1,2, std 3.5: drop --mean/--std")
    with pytest.raises(EdgeMLError, match=r"ask for mean 1,2,3, std 3: drop"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(run), mean="1,2,3"))
    with pytest.raises(EdgeMLError, match=r"ask for mean 1\.001,2, std 3: drop"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(run), mean=(1.001, 2)))


def test_a_run_for_another_model_is_refused(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    other = write_run(tmp_path / "other", input_shape=(4,))
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(other)))
    assert str(caught.value) == (f"{other / 'config.json'} is for a model with input (4,), but {model} takes "
                                 "(2, 2, 1); pass --run with the run directory that made this model")
    two = write_run(tmp_path / "two", class_names=("a", "b"))
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(two)))
    assert str(caught.value) == (f"{two / 'config.json'} lists 2 classes, but the model has 3 outputs (3 classes); "
                                 "pass --run with the run directory that made this model")
    with pytest.raises(EdgeMLError, match=r"^--labels gives 2 labels, but the model has 3 outputs \(3 classes\)$"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), labels=("a", "b")))


def sigmoid_model(folder: Path) -> Path:
    """input (1, 2) -> FULLY_CONNECTED to one unit, no softmax: one logit."""
    path = folder / "binary.tflite"
    path.write_bytes(dense_softmax(np.array([[1.0, -1.0]], np.float32), np.array([0.5], np.float32), softmax=False))
    return path


def test_one_output_unit_is_two_classes(tmp_path):
    model = sigmoid_model(tmp_path)
    np.save(tmp_path / "s.npy", np.array([[3.0, 1.0], [0.0, 0.25]], np.float32))
    report = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), top_k=2))
    assert report.class_names == ("0", "1") and report.output == "one logit (sigmoid applied by edgeml)"
    p = 1 / (1 + np.exp(-np.array([2.5, 0.25])))
    np.testing.assert_allclose([r.top[0].probability for r in report.predictions], p, rtol=1e-6)
    assert [r.best.index for r in report.predictions] == [1, 1]
    with pytest.raises(EdgeMLError, match=r"^--labels gives 3 labels, but the model has 1 output \(2 classes\)$"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), labels=("a", "b", "c")))


def test_a_model_with_two_inputs_is_refused(tmp_path):
    add, kind = options("Add")
    spec = GraphSpec([TensorSpec("a", (1, 2)), TensorSpec("b", (1, 2)), TensorSpec("sum", (1, 2))],
                     [OpSpec("ADD", (0, 1), (2,), add, kind)], inputs=(0, 1), outputs=(2,))
    path = tmp_path / "two.tflite"
    path.write_bytes(build_tflite(spec))
    np.save(tmp_path / "s.npy", np.zeros(2, np.float32))
    with pytest.raises(EdgeMLError, match=f"^{re.escape(str(path))} has 2 inputs and 1 outputs; predict needs one of each$"):
        predict(PredictConfig(model=str(path), inputs=(str(tmp_path / "s.npy"),)))


def test_missing_and_unsupported_files(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    with pytest.raises(EdgeMLError, match=f"^model not found: {re.escape(str(tmp_path / 'x.tflite'))}$"):
        predict(PredictConfig(model=str(tmp_path / "x.tflite"), inputs=(str(tmp_path / "s.npy"),)))
    with pytest.raises(EdgeMLError, match=f"^model is not a file: {re.escape(str(tmp_path))}$"):
        predict(PredictConfig(model=str(tmp_path), inputs=(str(tmp_path / "s.npy"),)))
    # Every input is checked before the model is read: a typo in the last one is found at once.
    (tmp_path / "notes").write_text("x")
    (tmp_path / "table.TXT").write_text("x")
    with pytest.raises(EdgeMLError, match=r"notes: unsupported input type '\(no extension\)'; use an image \(\.png"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"), str(tmp_path / "notes"))))
    with pytest.raises(EdgeMLError, match=r"table\.TXT: unsupported input type '\.txt'; use an image .*, \.npy or \.csv$"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "table.TXT"),)))
    with pytest.raises(EdgeMLError, match=r"^input not found: .*missing\.npy$"):
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"), str(tmp_path / "missing.npy"))))
    with pytest.raises(EdgeMLError, match=r"^input is not a file: "):
        load_inputs((str(tmp_path),), SHAPE)


def test_format_and_json_of_a_report(model, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(SHAPE, np.float32))
    np.save(tmp_path / "longer_name.npy", SAMPLES)
    report = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "a.npy"), str(tmp_path / "longer_name.npy")),
                                   top_k=2, threads=2, labels=("cat", "dog", "eel")))
    lines = format_predictions(report).splitlines()
    assert lines[0] == f"model {model} (litert, threads: 2; output: softmax)"
    assert lines[1] == ("input (2, 2, 1), normalised (x - 0) / 1 (none: no config.json beside the model; "
                        "pass --run RUN_DIR or --mean/--std)")
    zero = softmax_by_hand(np.zeros((1, *SHAPE)))[0]
    width = len(f"{tmp_path / 'longer_name.npy'}#0")
    assert lines[2] == f"{str(tmp_path / 'a.npy'):<{width}}  eel {100 * zero[2]:.1f}%, cat {100 * zero[0]:.1f}%"
    assert len(lines) == 5 and lines[3].startswith(f"{tmp_path / 'longer_name.npy'}#0  ")
    data = json.loads(predictions_to_json(report))
    assert data == report.to_dict()
    assert (data["runtime"], data["threads"], data["input_shape"], data["output"]) == ("litert", 2, [2, 2, 1], "softmax")
    assert data["normalization"] == {"mean": 0.0, "std": 1.0, "method": "custom", "note": "",
                                     "source": report.normalization_source}
    assert data["class_names"] == ["cat", "dog", "eel"] and data["model"] == str(model)
    first = data["predictions"][0]
    assert first["source"] == str(tmp_path / "a.npy")
    assert first["top"] == [{"class": 2, "label": "eel", "probability": round(float(zero[2]), 6)},
                            {"class": 0, "label": "cat", "probability": round(float(zero[0]), 6)}]
    default_threads = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "a.npy"),)))
    assert default_threads.threads is None  # LiteRT's own default, not a number edgeml chose
    assert format_predictions(default_threads).splitlines()[0] == \
        f"model {model} (litert, threads: runtime default; output: softmax)"


# --------------------------------------------------------------------------------------------- options


def test_config_checks_every_option():
    with pytest.raises(EdgeMLError, match=r"^nothing to predict: give one or more inputs \(images, \.npy or \.csv files\)$"):
        PredictConfig(model="m", inputs=())
    with pytest.raises(EdgeMLError, match=r"^--top-k must be at least 1, got 0$"):
        PredictConfig(model="m", inputs=("a",), top_k=0)
    assert PredictConfig(model="m", inputs=("a",), top_k=1).top_k == 1
    with pytest.raises(EdgeMLError, match=r"^unknown runtime 'keras': choose one of auto, litert, "):
        PredictConfig(model="m", inputs=("a",), runtime="keras")
    with pytest.raises(EdgeMLError, match=r"^--threads must be positive, got 0$"):
        PredictConfig(model="m", inputs=("a",), threads=0)
    assert PredictConfig(model="m", inputs=("a",), threads=1).threads == 1
    config = PredictConfig(model="m", inputs=[Path("a"), "b"], labels=[1, "two"], mean="0.5,0.25", std=[2, 4])
    assert (config.inputs, config.labels, config.mean, config.std) == (("a", "b"), ("1", "two"), (0.5, 0.25), (2.0, 4.0))
    assert (PredictConfig(model="m", inputs=("a",), mean="3", std=2).mean, PredictConfig(model="m", inputs=("a",), std=2).std) == (3.0, 2.0)
    assert PredictConfig(model="m", inputs=("a",), mean=(7,)).mean == 7.0
    assert PredictConfig(model="m", inputs=("a",), mean=-1.5).mean == -1.5
    assert PredictConfig(model="m", inputs=("a",)).labels is None


@pytest.mark.parametrize("changes, message", [
    ({"mean": "a,b"}, "--mean takes a number or one per channel, e.g. 0.5,0.4,0.3; got 'a,b'"),
    ({"std": "x"}, "--std takes a number or one per channel, e.g. 0.5,0.4,0.3; got 'x'"),
    ({"std": 0}, "--std must be positive numbers, got 0.0"),
    ({"std": "1,-1"}, "--std must be positive numbers, got (1.0, -1.0)"),
    ({"std": float("inf")}, "--std must be positive numbers, got inf"),
    ({"mean": float("nan")}, "--mean must be finite numbers, got nan"),
    ({"mean": (0.0, float("-inf"))}, "--mean must be finite numbers, got (0.0, -inf)"),
    ({"mean": "1,2", "std": "1,2,3"}, "normalisation has 2 means but 3 stds; give one per channel"),
])
def test_config_refuses_bad_normalisation_values(changes, message):
    with pytest.raises(EdgeMLError) as caught:
        PredictConfig(model="m", inputs=("a",), **changes)
    assert str(caught.value) == message


def test_parse_labels_from_a_file_or_a_list(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\ufeffcat\n  dog \n\n eel\n", encoding="utf-8")
    assert parse_labels(str(labels)) == ("cat", "dog", "eel")
    assert parse_labels(" cat, dog ,eel") == ("cat", "dog", "eel")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(EdgeMLError, match=r"^cannot read the labels file .*bad\.txt: 'utf-8' codec"):
        parse_labels(str(tmp_path / "bad.txt"))


# -------------------------------------------------------------------------------------------- readers


def test_npy_shapes_with_and_without_the_channel_axis(tmp_path):
    sample = np.arange(4, dtype=np.uint8).reshape(2, 2)
    cases = {"one.npy": sample.reshape(SHAPE), "free.npy": sample, "batch.npy": np.stack([sample.reshape(SHAPE)] * 3),
             "freebatch.npy": np.stack([sample] * 2), "bool.npy": sample.astype(bool)}
    for name, array in cases.items():
        np.save(tmp_path / name, array)
    sources, raw = load_inputs([str(tmp_path / name) for name in cases], SHAPE)
    assert raw.dtype == np.float32 and raw.shape == (8, *SHAPE)
    np.testing.assert_array_equal(raw[:7].reshape(7, 4), np.tile(np.arange(4), (7, 1)))
    np.testing.assert_array_equal(raw[7].reshape(4), [0, 1, 1, 1])
    assert sources[0] == str(tmp_path / "one.npy") and sources[1] == str(tmp_path / "free.npy")
    assert sources[2:5] == tuple(f"{tmp_path / 'batch.npy'}#{i}" for i in range(3))
    assert sources[5:] == (f"{tmp_path / 'freebatch.npy'}#0", f"{tmp_path / 'freebatch.npy'}#1", str(tmp_path / "bool.npy"))
    # A model input without a channel axis of 1: (4,) samples, batched or not.
    np.save(tmp_path / "row.npy", np.arange(4.0))
    np.save(tmp_path / "rows.npy", np.ones((2, 4)))
    assert load_inputs([str(tmp_path / "row.npy"), str(tmp_path / "rows.npy")], (4,))[1].shape == (3, 4)


@pytest.mark.parametrize("array, shape, message", [
    (np.zeros((3, 3)), SHAPE, "holds an array of shape (3, 3); the model takes one sample of shape (2, 2, 1) or a "
                              "batch (N, 2, 2, 1), with or without the channel axis of size 1"),
    (np.zeros((5,)), (4,), "holds an array of shape (5,); the model takes one sample of shape (4,) or a batch (N, 4)"),
    (np.zeros((2, 3)), (2, 2), "holds an array of shape (2, 3); the model takes one sample of shape (2, 2) or a "
                               "batch (N, 2, 2)"),
    (np.zeros((0, 2, 2)), SHAPE, "holds an empty batch (0, 2, 2)"),
    (np.zeros((0, 4)), (4,), "holds an empty batch (0, 4)"),
    (np.array(["a", "b", "c", "d"]), (4,), "holds <U1 values, not numbers"),
    (np.array(2.0), (4,), "holds an array of shape (); the model takes one sample of shape (4,) or a batch (N, 4)"),
])
def test_npy_that_does_not_fit_is_one_error(tmp_path, array, shape, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(EdgeMLError) as caught:
        load_inputs([str(tmp_path / "x.npy")], shape)
    assert str(caught.value) == f"{tmp_path / 'x.npy'} {message}"


def test_unreadable_npy_files(tmp_path):
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(EdgeMLError, match=r"^cannot read .*text\.npy as a \.npy array: "):
        load_inputs([str(tmp_path / "text.npy")], (4,))
    np.savez(tmp_path / "archive.npz", x=np.zeros(4))
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    with pytest.raises(EdgeMLError, match=r"archive\.npy is an \.npz archive, not a \.npy array$"):
        load_inputs([str(tmp_path / "archive.npy")], (4,))
    np.save(tmp_path / "objects.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
    with pytest.raises(EdgeMLError, match=r"^cannot read .*objects\.npy as a \.npy array: Object arrays cannot be loaded"):
        load_inputs([str(tmp_path / "objects.npy")], (4,))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan, 0.0, 0.0]))
    with pytest.raises(EdgeMLError, match=r"nan\.npy contains NaN or infinite values$"):
        load_inputs([str(tmp_path / "nan.npy")], (4,))
    np.save(tmp_path / "inf.npy", np.array([1.0, np.inf, 0.0, 0.0]))
    with pytest.raises(EdgeMLError, match=r"inf\.npy contains NaN or infinite values$"):
        load_inputs([str(tmp_path / "inf.npy")], (4,))


@pytest.mark.parametrize("cells, expected", [
    (["0", "1", "2"], True), (["a", "b"], True), ([" 0", "1 "], True), (["x"], True),
    (["1", "2", "3"], False), (["0.0", "1", "2"], False), (["0"], False), (["a", "1"], False),
    (["0", "1", "3"], False), (["1", "0"], False),
])
def test_is_csv_header(cells, expected):
    assert is_csv_header(cells) is expected


def test_csv_rows_headers_and_separators(tmp_path):
    files = {
        "plain.csv": "1,2,3,4\n5,6,7,8\n",
        "named.csv": "\ufeffa,b,c,d\n\n1,2,3,4\n",
        "numbered.csv": "0,1,2,3\n9, 8 ,7,6\n",
        "spaces.csv": "1 2 3 4\n  \n5.5 6 7 8e1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    sources, raw = load_inputs([str(tmp_path / name) for name in files], (4,))
    np.testing.assert_array_equal(raw, [[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4], [9, 8, 7, 6], [1, 2, 3, 4],
                                        [5.5, 6, 7, 80]])
    assert sources[:3] == (f"{tmp_path / 'plain.csv'}#0", f"{tmp_path / 'plain.csv'}#1", f"{tmp_path / 'named.csv'}#0")
    assert sources[5] == f"{tmp_path / 'spaces.csv'}#1"
    # --header / --no-header override the guess.
    (tmp_path / "h.csv").write_text("1,2,3,4\n5,6,7,8\n")
    assert load_inputs([str(tmp_path / "h.csv")], (4,), csv_header=True)[1].tolist() == [[5, 6, 7, 8]]
    (tmp_path / "n.csv").write_text("0,1,2,3\n")
    assert load_inputs([str(tmp_path / "n.csv")], (2, 2), csv_header=False)[1].tolist() == [[[0, 1], [2, 3]]]


@pytest.mark.parametrize("text, header, message", [
    ("pixel,1,2,3\n", None, "line 1: 'pixel' is not a number (if this row is a header, pass --header)"),
    ("pixel,1,2,3\n", False, "line 1: 'pixel' is not a number"),
    ("1,2,3,4\n1,x,3,4\n", None, "line 2: 'x' is not a number"),
    ("a,b,c,d\n1,2,3\n", None, "line 2 has 3 values; the model takes 4 (one flattened sample of shape (4,))"),
    ("1,2,3,4,0\n", None, "line 1 has 5 values; the model takes 4 (one flattened sample of shape (4,)) "
                          "(a label column? remove it)"),
    ("1,2,3,4,5,6\n", None, "line 1 has 6 values; the model takes 4 (one flattened sample of shape (4,))"),
    ("a,b,c,d\n\n", None, "has no data rows"),
    ("", None, "has no data rows"),
])
def test_csv_errors_name_the_line(tmp_path, text, header, message):
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(EdgeMLError) as caught:
        load_inputs([str(tmp_path / "x.csv")], (4,), csv_header=header)
    assert str(caught.value) == f"{tmp_path / 'x.csv'} {message}"


def test_unreadable_csv(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"\xff\xfe1,2")
    with pytest.raises(EdgeMLError, match=r"^cannot read .*x\.csv as a CSV text file: 'utf-8' codec"):
        load_inputs([str(tmp_path / "x.csv")], (2,))


def test_images_are_converted_and_resized_to_the_models_input(tmp_path):
    from PIL import Image

    gray = np.array([[0, 50], [100, 250]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "rgb.png")
    Image.fromarray(np.full((6, 8), 77, np.uint8)).save(tmp_path / "big.png")
    sources, raw = load_inputs([str(tmp_path / n) for n in ("gray.png", "rgb.png", "big.png")], SHAPE)
    assert sources == tuple(str(tmp_path / n) for n in ("gray.png", "rgb.png", "big.png"))
    np.testing.assert_array_equal(raw[0, ..., 0], gray)
    np.testing.assert_array_equal(raw[1, ..., 0], gray)  # L of a gray RGB image is the same gray
    np.testing.assert_array_equal(raw[2, ..., 0], np.full((2, 2), 77))
    colour = np.zeros((2, 3, 3), np.uint8)
    colour[..., 0], colour[..., 2] = 200, 10
    Image.fromarray(colour).save(tmp_path / "colour.png")
    assert load_inputs([str(tmp_path / "colour.png")], (2, 3, 3))[1][0].tolist() == colour.astype(float).tolist()
    assert load_inputs([str(tmp_path / "gray.png")], (2, 2))[1].shape == (1, 2, 2)
    for shape in ((4,), (2, 2, 2), (1, 2, 2, 1)):
        with pytest.raises(EdgeMLError, match=rf"gray\.png: the model takes inputs of shape {re.escape(str(shape))}, "
                                              r"not images \(H, W, 1 or 3\); use \.npy or \.csv$"):
            load_inputs([str(tmp_path / "gray.png")], shape)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(EdgeMLError, match=r"^cannot read .*broken\.jpg as an image: cannot identify image file"):
        load_inputs([str(tmp_path / "broken.jpg")], SHAPE)


# ---------------------------------------------------------------------------------- class probabilities


def test_softmax_rows_are_kept():
    scores = np.array([[0.2, 0.8], [1.0, 0.0]], np.float32)
    probabilities, output = class_probabilities(scores)
    assert output == "softmax" and probabilities.dtype == np.float64
    np.testing.assert_array_equal(probabilities, scores.astype(np.float64))
    # int8 outputs sum to 1 only within their rounding: 0.02 plus one step per class.
    near = np.array([[0.5, 0.5 + 0.02 + 2 * 0.01 - 1e-9]])
    assert class_probabilities(near, output_scale=0.01)[1] == "softmax"
    assert class_probabilities(near, output_scale=0.0)[1] == "logits (softmax applied by edgeml)"
    assert class_probabilities(np.array([[0.5, 0.5 + 0.0199]]))[1] == "softmax"
    assert class_probabilities(np.array([[0.5, 0.5 + 0.0201]]))[1] == "logits (softmax applied by edgeml)"
    assert class_probabilities(np.array([[0.5, 0.5 - 0.0201]]))[1] == "logits (softmax applied by edgeml)"
    assert class_probabilities(np.array([[0.0, 1.0, 0.0]]))[1] == "softmax"


@pytest.mark.parametrize("scores", [[[2.0, -1.0, 0.5]], [[1.2, -0.2]], [[-0.1, 1.1]], [[0.3, 0.3, 0.3]],
                                    [[1000.0, 999.0]]])
def test_logits_get_a_softmax(scores):
    probabilities, output = class_probabilities(np.array(scores, np.float64))
    assert output == "logits (softmax applied by edgeml)"
    logits = np.array(scores, np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)


def test_one_unit_is_a_sigmoid_or_a_logit():
    probabilities, output = class_probabilities(np.array([[0.0], [0.25], [1.0]]))
    assert output == "sigmoid"
    np.testing.assert_array_equal(probabilities, [[1.0, 0.0], [0.75, 0.25], [0.0, 1.0]])
    for logits in ([[-0.5], [2.0]], [[0.5], [1.5]]):
        probabilities, output = class_probabilities(np.array(logits))
        assert output == "one logit (sigmoid applied by edgeml)"
        p = 1 / (1 + np.exp(-np.array(logits)[:, 0]))
        np.testing.assert_allclose(probabilities, np.stack([1 - p, p], axis=1), rtol=1e-12)
    # Any output shape with one value per sample: (N, 1, 1) as well.
    assert class_probabilities(np.array([[[0.5]]]))[0].tolist() == [[0.5, 0.5]]


def test_npy_channel_axis_rules_at_the_edges(tmp_path):
    np.save(tmp_path / "scalar.npy", np.array(5.0))
    with pytest.raises(EdgeMLError, match=r"holds an array of shape \(\); the model takes one sample of shape \(1,\) "
                                          r"or a batch \(N, 1\)$"):
        load_inputs([str(tmp_path / "scalar.npy")], (1,))  # (1,) is one value, not a channel axis to drop
    np.save(tmp_path / "column.npy", np.arange(4.0))
    sources, raw = load_inputs([str(tmp_path / "column.npy")], (4, 1))  # (4,) is a (4, 1) sample without its channel
    assert sources == (str(tmp_path / "column.npy"),) and raw.tolist() == [[[0.0], [1.0], [2.0], [3.0]]]
    np.save(tmp_path / "values.npy", np.array([1.0, 2.0, 3.0]))
    sources, raw = load_inputs([str(tmp_path / "values.npy")], ())  # a model of one scalar input: a batch of 3
    assert sources == tuple(f"{tmp_path / 'values.npy'}#{i}" for i in range(3)) and raw.tolist() == [1.0, 2.0, 3.0]


def test_the_runtime_option_reaches_the_runtime_and_its_errors_name_the_model(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    report = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), runtime="tflm"))
    assert report.runtime == "tflm" and report.threads is None
    np.testing.assert_allclose(sorted(item.probability for item in report.predictions[0].top),
                               sorted(softmax_by_hand(SAMPLES[:1])[0]), rtol=1e-5, atol=1e-7)
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), runtime="tflite-runtime"))
    assert str(caught.value).startswith(f"{model}: ") and "tflite-runtime" in str(caught.value)


def test_images_without_pillow_are_one_error(model, tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    with pytest.raises(EdgeMLError) as caught:
        load_inputs([str(tmp_path / "a.png")], SHAPE)
    assert str(caught.value) == "image inputs need Pillow: pip install pillow"



def test_a_byte_order_mark_before_a_numeric_row_is_not_part_of_it(tmp_path):
    (tmp_path / "bom.csv").write_text("\ufeff1,2,3,4\n", encoding="utf-8")  # what Excel's "CSV UTF-8" writes
    assert load_inputs([str(tmp_path / "bom.csv")], (4,))[1].tolist() == [[1, 2, 3, 4]]


def test_the_json_is_indented_by_two(model, tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    text = predictions_to_json(predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), top_k=1)))
    assert text.startswith('{\n  "model": ') and '\n    {\n      "source": ' in text


def test_softmax_tolerance_edges_and_row_wise_logits():
    # 2 classes at output scale 0.24: tolerance 0.02 + 2 * 0.24 = 0.5 exactly; a sum of 1.5 is at the edge.
    assert class_probabilities(np.array([[0.75, 0.75]]), output_scale=0.24)[1] == "softmax"
    assert class_probabilities(np.array([[1.5, 0.0]]), output_scale=0.24)[1] == "logits (softmax applied by edgeml)"
    # Logits are normalised per row (each row's own maximum and sum), for any number of rows and classes.
    for logits in ([[2.0, -1.0, 0.5], [30.0, 31.0, 29.0], [-4.0, -4.0, -6.0]], [[1.0, 3.0], [-2.0, 5.0]]):
        scores = np.array(logits)
        probabilities, output = class_probabilities(scores)
        expected = np.exp(scores - scores.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        assert output == "logits (softmax applied by edgeml)" and probabilities.shape == scores.shape
        np.testing.assert_allclose(probabilities, expected, rtol=1e-12)


# ------------------------------------------------------------------------------------ int8 outputs, edges

# 40 int8 "probabilities" (q + 128) / 256 summing to 241/256: 0.059 off 1, inside the int8 output's rounding
# tolerance (0.02 + 40 / 256) but not the float one (0.02). Ties at the top (8/256: classes 0, 9, 11, ...) that
# numpy's default (unstable) argsort orders 0, 14, 11.
INT8_COUNTS = np.array([8, 7, 6, 5, 5, 4, 4, 4, 4, 8, 7, 8, 6, 7, 8, 7, 7, 6, 6, 8, 5, 8, 7, 4, 5, 8, 6, 4, 7, 7, 8, 4,
                        4, 8, 4, 6, 4, 5, 6, 6])


def test_int8_softmax_outputs_are_probabilities_within_their_rounding(tmp_path):
    """A model that quantizes its float input to an int8 output (scale 1/256, zero point -128, as an int8
    softmax writes): the output is read as probabilities, ties in class order."""
    spec = GraphSpec([TensorSpec("p", (1, 40)), TensorSpec("q", (1, 40), "int8", scales=(1 / 256,), zero_points=(-128,))],
                     [OpSpec("QUANTIZE", (0,), (1,))], (0,), (1,))
    (tmp_path / "q.tflite").write_bytes(build_tflite(spec))
    assert INT8_COUNTS.sum() == 241
    np.save(tmp_path / "p.npy", (INT8_COUNTS / 256).astype(np.float32))
    report = predict(PredictConfig(model=str(tmp_path / "q.tflite"), inputs=(str(tmp_path / "p.npy"),)))
    assert report.output == "softmax"
    assert [(item.index, item.probability) for item in report.predictions[0].top] == [(0, 8 / 256), (9, 8 / 256),
                                                                                      (11, 8 / 256)]


def test_float_outputs_in_0_1_not_summing_to_1_are_logits(tmp_path):
    """A float model's outputs 0.2, 0.3, 0.4 (sum 0.9): no int8 rounding excuses that, so a softmax is applied."""
    path = tmp_path / "f.tflite"
    path.write_bytes(dense_softmax(np.zeros((3, 2), np.float32), np.array([0.2, 0.3, 0.4], np.float32), softmax=False))
    np.save(tmp_path / "x.npy", np.ones(2, np.float32))
    report = predict(PredictConfig(model=str(path), inputs=(str(tmp_path / "x.npy"),)))
    expected = np.exp([0.2, 0.3, 0.4]) / np.exp([0.2, 0.3, 0.4]).sum()
    assert report.output == "logits (softmax applied by edgeml)"
    top = report.predictions[0].top
    assert [item.index for item in top] == [2, 1, 0]
    np.testing.assert_allclose([item.probability for item in top], expected[[2, 1, 0]], rtol=1e-6)


def test_logits_are_shifted_row_by_row():
    """Rows 1000 apart: one shift for the whole batch would underflow the second row to 0/0."""
    probabilities, output = class_probabilities(np.array([[1000.0, 999.0], [0.0, -1.0]]))
    first = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(probabilities, [[first, 1 - first], [first, 1 - first]], rtol=1e-12)
    assert output == "logits (softmax applied by edgeml)"


def test_the_csv_header_option_overrides_the_guess(model, tmp_path):
    (tmp_path / "numbers.csv").write_text("1,2,3,4\n5,6,7,8\n")  # looks like data: the first row is skipped only if told
    (tmp_path / "indices.csv").write_text("0,1,2,3\n5,6,7,8\n")  # looks like a pandas header: kept only if told
    numbers, indices = str(tmp_path / "numbers.csv"), str(tmp_path / "indices.csv")
    assert len(predict(PredictConfig(model=str(model), inputs=(numbers,), header=True)).predictions) == 1
    assert len(predict(PredictConfig(model=str(model), inputs=(numbers,))).predictions) == 2
    assert len(predict(PredictConfig(model=str(model), inputs=(indices,), header=False)).predictions) == 2
    assert len(predict(PredictConfig(model=str(model), inputs=(indices,))).predictions) == 1


@pytest.mark.parametrize("recorded, asked", [(0.5, 0.50000005), (0.0, 1e-9)])
def test_a_mean_off_by_a_hair_still_contradicts_the_run(model, tmp_path, recorded, asked):
    """Equal means agree to 1e-9 relative and 0 absolute: 1e-7 relative, or 1e-9 next to 0, is another mean."""
    run = write_run(tmp_path / "run", mean=recorded, std=2.0)
    np.save(tmp_path / "s.npy", SAMPLES[0])
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(run), mean=asked))
    assert str(caught.value).startswith(f"{run / 'config.json'} records the normalisation mean {recorded:g}, std 2")
    same = predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "s.npy"),), run=str(run), mean=recorded))
    assert same.normalization == Normalization(recorded, 2.0)


def test_an_unreadable_or_corrupt_model_is_named(tmp_path):
    np.save(tmp_path / "s.npy", SAMPLES[0])
    unreadable = tmp_path / "mem.tflite"
    unreadable.symlink_to("/proc/self/mem")  # a regular file whose read fails (EIO), even for root
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(unreadable), inputs=(str(tmp_path / "s.npy"),)))
    assert str(caught.value) == f"cannot read the model {unreadable}: Input/output error"
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0\0\0\0TFL2" + bytes(40))
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(corrupt), inputs=(str(tmp_path / "s.npy"),)))
    assert str(caught.value) == f"{corrupt} is not a TFLite model (no TFL3 identifier)"


def test_an_unsupported_input_lists_every_image_type(model, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(EdgeMLError) as caught:
        predict(PredictConfig(model=str(model), inputs=(str(tmp_path / "notes.txt"),)))
    assert str(caught.value) == (f"{tmp_path / 'notes.txt'}: unsupported input type '.txt'; use an image (.png, .jpg, "
                                 ".jpeg, .bmp, .gif, .pgm, .ppm, .tif, .tiff), .npy or .csv")


def test_an_error_without_a_message_is_named_by_its_type():
    from edgeml.predict import _first_line

    assert (_first_line(ValueError()), _first_line(OSError("  ")), _first_line(SyntaxError("first\nsecond"))) == (
        "ValueError", "OSError", "first")
