import json
import math
import subprocess
import sys

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.evaluate_metrics import (
    compute_metrics,
    format_metrics_table,
    plot_confusion_matrix,
    plot_roc,
    write_metrics,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def confident_probabilities(predicted: list[int], num_classes: int, confidence: float = 0.8) -> np.ndarray:
    """Rows that put ``confidence`` on the predicted class and share the rest equally."""
    other = (1.0 - confidence) / (num_classes - 1)
    probabilities = np.full((len(predicted), num_classes), other)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


@pytest.fixture
def noisy_three_class():
    rng = np.random.default_rng(1234)
    y_true = rng.integers(0, 3, size=300)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], size=300)
    probabilities[np.arange(300), y_true] += 0.6
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return y_true, probabilities, ["cat", "dog", "a_rather_long_class_name"]


def test_perfect_predictions():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=100)
    metrics = compute_metrics(y_true, confident_probabilities(list(y_true), 4, 0.9), ["a", "b", "c", "d"])

    assert metrics.accuracy == 1.0
    assert metrics.auc_micro == 1.0
    assert metrics.auc_macro == 1.0
    assert all(row.auc == 1.0 and row.precision == 1.0 and row.recall == 1.0 for row in metrics.per_class)
    assert np.array_equal(np.array(metrics.confusion_matrix), np.diag(np.bincount(y_true, minlength=4)))
    assert metrics.loss == pytest.approx(-math.log(0.9))


def test_hand_computed_three_class_example():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2]
    predicted = [0, 0, 0, 1, 1, 2, 2, 0, 0]
    metrics = compute_metrics(np.array(y_true), confident_probabilities(predicted, 3), ["zero", "one", "two"])

    # Rows are true classes: 0 -> [3, 1, 0], 1 -> [0, 1, 1], 2 -> [2, 0, 1].
    assert metrics.confusion_matrix == ((3, 1, 0), (0, 1, 1), (2, 0, 1))
    assert metrics.num_samples == 9
    assert metrics.accuracy == pytest.approx(5 / 9)
    counts = [(row.tp, row.fp, row.fn, row.tn, row.support) for row in metrics.per_class]
    assert counts == [(3, 2, 1, 3, 4), (1, 1, 1, 6, 2), (1, 1, 2, 5, 3)]

    zero, one, two = metrics.per_class
    assert (zero.precision, zero.recall, zero.f1) == pytest.approx((3 / 5, 3 / 4, 2 / 3))
    assert (one.precision, one.recall, one.f1) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert (two.precision, two.recall, two.f1) == pytest.approx((1 / 2, 1 / 3, 2 / 5))

    # 5 correct samples give the true class 0.8, 4 wrong ones give it 0.1.
    assert metrics.loss == pytest.approx(-(5 * math.log(0.8) + 4 * math.log(0.1)) / 9)
    # Class 0 scores: positives [.8, .8, .8, .1], negatives [.1, .1, .1, .8, .8] -> 9 wins, 9 ties of 20 pairs.
    assert zero.auc == pytest.approx(13.5 / 20)


def test_binary_sigmoid_output_matches_two_columns():
    y_true = np.array([0, 1, 1, 0, 1, 0])
    positive_probability = np.array([0.2, 0.9, 0.4, 0.1, 0.7, 0.6])
    names = ["negative", "positive"]

    from_column = compute_metrics(y_true, positive_probability[:, None], names)
    from_vector = compute_metrics(y_true, positive_probability, names)
    from_softmax = compute_metrics(
        y_true, np.column_stack([1 - positive_probability, positive_probability]), names
    )

    assert from_column == from_vector == from_softmax
    assert from_column.confusion_matrix == ((2, 1), (1, 2))
    assert from_column.accuracy == pytest.approx(4 / 6)
    # Positives [.9, .4, .7] vs negatives [.2, .1, .6]: 8 of 9 pairs ranked right.
    assert from_column.per_class[1].auc == pytest.approx(8 / 9)
    assert from_column.auc_macro == pytest.approx(8 / 9)
    assert from_column.auc_micro is not None


def test_a_sigmoid_output_of_exactly_one_half_is_class_1_as_in_every_other_stage():
    """An int8 sigmoid output (scale 1/256, zero point -128) of q = 0 is exactly 0.5; the benchmark and
    quantize count it as class 1 (edgeml.runtime.decide_class: p >= 0.5), so evaluate does too."""
    from edgeml.runtime import decide_class

    y_true = np.array([1, 1, 0, 0])
    positive_probability = (np.array([0, 10, 0, -20]) + 128) / 256  # 0.5, 0.539, 0.5, 0.422
    metrics = compute_metrics(y_true, positive_probability, ["negative", "positive"])
    assert metrics.confusion_matrix == ((1, 1), (0, 2))  # both 0.5s predicted positive
    assert metrics.accuracy == 3 / 4
    assert list(decide_class(positive_probability[:, None])) == [1, 1, 1, 0]


def test_class_absent_from_y_true_has_no_auc():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, size=50)  # class 2 never occurs
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], size=50)
    metrics = compute_metrics(y_true, probabilities, ["a", "b", "never"])

    absent = metrics.per_class[2]
    assert absent.auc is None
    assert absent.support == 0 and absent.recall == 0.0 and absent.fn == 0
    assert metrics.auc_macro == pytest.approx((metrics.per_class[0].auc + metrics.per_class[1].auc) / 2)
    assert metrics.auc_micro is not None
    assert "n/a" in format_metrics_table(metrics)


def test_single_class_in_y_true_gives_no_auc_and_still_plots(tmp_path):
    y_true = np.zeros(10, dtype=int)
    probabilities = np.random.default_rng(3).dirichlet([1.0, 1.0], size=10)
    metrics = compute_metrics(y_true, probabilities, ["only", "missing"])

    assert metrics.auc_micro is None and metrics.auc_macro is None
    assert all(row.auc is None for row in metrics.per_class)
    roc_path = plot_roc(y_true, probabilities, metrics.class_names, tmp_path / "roc.png")
    assert roc_path.read_bytes().startswith(PNG_MAGIC)


def test_logits_give_no_loss_but_other_metrics():
    logits = np.array([[2.5, -1.0], [-0.5, 3.0], [1.0, 0.0]])
    metrics = compute_metrics(np.array([0, 1, 1]), logits, ["a", "b"])
    assert metrics.loss is None
    assert metrics.accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y_true", "probabilities", "class_names", "message"),
    [
        ([0, 1, 2], np.full((3, 2), 0.5), ["a", "b", "c"], "2 columns but 3 class names"),
        ([0, 1], np.full((3, 3), 1 / 3), ["a", "b", "c"], "2 labels but probabilities have 3 rows"),
        ([0, 1, 1], np.full((3, 1), 0.5), ["a", "b", "c"], "exactly 2 class names"),
        ([0, 1], np.full((2, 2, 1), 0.5), ["a", "b"], r"shape \(N, K\)"),
        (np.eye(3, dtype=int), np.full((3, 3), 1 / 3), ["a", "b", "c"], "1-D integer labels"),
        ([0, 3], np.full((2, 3), 1 / 3), ["a", "b", "c"], "label 3"),
        (np.array([], dtype=int), np.zeros((0, 2)), ["a", "b"], "no samples"),
        ([0, 1], np.array([[0.5, np.nan], [0.5, 0.5]]), ["a", "b"], "NaN"),
        ([0, 0], np.ones((2, 1)), ["a"], "at least 2 class names"),
    ],
)
def test_bad_inputs_raise_edgeml_error(y_true, probabilities, class_names, message):
    with pytest.raises(EdgeMLError, match=message):
        compute_metrics(np.asarray(y_true), probabilities, class_names)


def test_write_metrics_writes_json_and_pngs_atomically(tmp_path, noisy_three_class):
    y_true, probabilities, names = noisy_three_class
    metrics = compute_metrics(y_true, probabilities, names)
    out_dir = tmp_path / "run"

    paths = write_metrics(metrics, y_true, probabilities, out_dir, prefix="val_")

    assert set(paths) == {"metrics", "confusion_matrix", "roc"}
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "val_confusion_matrix.png",
        "val_metrics.json",
        "val_roc.png",
    ]
    assert paths["confusion_matrix"].read_bytes().startswith(PNG_MAGIC)
    assert paths["roc"].read_bytes().startswith(PNG_MAGIC)
    assert json.loads(paths["metrics"].read_text()) == metrics.to_dict()


def test_plot_confusion_matrix_returns_written_png(tmp_path, noisy_three_class):
    metrics = compute_metrics(*noisy_three_class)
    path = plot_confusion_matrix(metrics, tmp_path / "cm.png", title="Validation")
    assert path == tmp_path / "cm.png"
    assert path.stat().st_size > 1000 and path.read_bytes().startswith(PNG_MAGIC)
    assert [entry.name for entry in tmp_path.iterdir()] == ["cm.png"]


def test_to_dict_is_plain_json(noisy_three_class):
    metrics = compute_metrics(*noisy_three_class)
    as_dict = json.loads(json.dumps(metrics.to_dict()))
    assert as_dict["class_names"] == list(metrics.class_names)
    assert as_dict["per_class"][0]["name"] == "cat"
    assert sum(map(sum, as_dict["confusion_matrix"])) == metrics.num_samples


def test_metrics_json_reads_back_as_the_same_metrics(tmp_path, noisy_three_class):
    from edgeml.artifact_json import read_json_object
    from edgeml.evaluate_metrics import Metrics

    metrics = compute_metrics(*noisy_three_class)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics.to_dict()), encoding="utf-8")
    assert Metrics.from_json(read_json_object(path)) == metrics
    broken = metrics.to_dict()
    broken["per_class"][1]["tp"] = 2.5
    broken["confusion_matrix"][0] = "cat"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(EdgeMLError, match=r"\(per_class\[1\]\.tp: expected a whole number, found the number 2\.5\)"):
        Metrics.from_json(read_json_object(path))
    del broken["per_class"][1]["tp"]
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(EdgeMLError, match=r"\(missing key per_class\[1\]\.tp\)"):
        Metrics.from_json(read_json_object(path))
    broken["per_class"] = broken["per_class"][:1]
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(EdgeMLError, match=r"\(confusion_matrix\[0\]: expected a list of lists of whole numbers, "
                                         r"found the text 'cat'\)"):
        Metrics.from_json(read_json_object(path))


def test_table_names_every_class_and_the_accuracy(noisy_three_class):
    metrics = compute_metrics(*noisy_three_class)
    table = format_metrics_table(metrics)
    assert f"{metrics.accuracy:.4f}" in table
    for name in metrics.class_names:
        assert name in table
    assert "a_rather_~" in table  # the confusion matrix header keeps columns narrow


def test_import_is_light():
    code = "import sys, edgeml.evaluate_metrics; print(sorted({'sklearn', 'matplotlib'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
