"""diagnose_fit on hand-made curves, each line of its verdict worked out by hand (kills mutmut's survivors
in edgeml/history.py; see docs/MUTATION.md)."""

from __future__ import annotations

import pytest

from edgeml.history import FitDiagnosis, diagnose_fit


def test_no_history_is_unknown():
    assert diagnose_fit({}) == FitDiagnosis("unknown", "no training history")
    assert diagnose_fit({"accuracy": []}).line() == "unknown: no training history"


def test_low_training_accuracy_still_rising_is_underfitting_train_longer():
    # 0.70 - 0.60 = 0.10 > 0.005: still rising
    assert diagnose_fit({"accuracy": [0.6, 0.7]}).line() == (
        "underfitting: training accuracy 0.700 < 0.8 and still rising: train longer or use a larger model")


@pytest.mark.parametrize("curve", [[0.7], [0.7, 0.7], [0.005, 0.01]])
def test_low_training_accuracy_that_stalled_is_underfitting_bigger_model(curve):
    # one epoch: no trend; 0.01 - 0.005 == 0.005 exactly in binary, which is not > 0.005
    assert diagnose_fit({"accuracy": curve}).line() == (
        "underfitting: training accuracy " + f"{curve[-1]:.3f}" +
        " < 0.8: the model cannot fit the training data; try a larger model or a higher learning rate")


def test_training_accuracy_exactly_at_the_threshold_is_not_underfitting():
    assert diagnose_fit({"accuracy": [0.8]}).verdict == "unknown"


def test_no_validation_curve_is_unknown_with_the_training_accuracy():
    assert diagnose_fit({"accuracy": [0.5, 0.95]}) == FitDiagnosis(
        "unknown", "training accuracy 0.950; no validation curve to compare with")


def test_small_gap_and_flat_loss_is_a_good_fit():
    history = {"accuracy": [0.90, 0.95], "val_accuracy": [0.88, 0.92], "val_loss": [0.40, 0.30]}
    # gap 0.95 - 0.92 = 0.03; loss at its minimum
    assert diagnose_fit(history) == FitDiagnosis(
        "good fit", "train accuracy 0.950, validation 0.920 (gap 0.030); validation loss within 10% of its minimum")


def test_accuracy_gap_above_five_points_is_overfitting():
    history = {"accuracy": [0.90, 0.99], "val_accuracy": [0.88, 0.90], "val_loss": [0.40, 0.30, 0.31]}
    # gap 0.09; minimum 0.30 at epoch 2, last 0.31: +3%
    assert diagnose_fit(history) == FitDiagnosis(
        "overfitting", "train accuracy 0.990 vs validation 0.900 (gap 0.090); validation loss 0.310 is +3% from "
        "its minimum at epoch 2: use early stopping, dropout or more data")


def test_gap_just_above_five_points_is_overfitting_and_one_just_below_is_not():
    # a gap of exactly 0.05 cannot occur: two accuracies >= 0.8 differ by multiples of 2**-53, and
    # 0.05 is not one (docs/MUTATION.md lists the `>=` mutant as equivalent for that reason)
    assert diagnose_fit({"accuracy": [0.875], "val_accuracy": [0.825], "val_loss": [0.5]}).verdict == "overfitting"
    assert diagnose_fit({"accuracy": [0.875], "val_accuracy": [0.826], "val_loss": [0.5]}).verdict == "good fit"


def test_validation_loss_rising_from_its_minimum_is_overfitting():
    history = {"accuracy": [0.90, 0.95, 0.96], "val_accuracy": [0.90, 0.94, 0.95],
               "val_loss": [0.50, 0.20, 0.25]}
    # gap 0.01; minimum 0.20 at epoch 2, last 0.25: (0.25 - 0.20) / 0.20 = +25%
    assert diagnose_fit(history).line() == (
        "overfitting: train accuracy 0.960 vs validation 0.950 (gap 0.010); validation loss 0.250 is +25% from "
        "its minimum at epoch 2: use early stopping, dropout or more data")


def test_loss_rise_of_exactly_ten_percent_is_not_overfitting():
    exact = {"accuracy": [0.9, 0.9], "val_accuracy": [0.9, 0.9], "val_loss": [0.625, 0.6875]}
    assert (0.6875 - 0.625) / 0.625 == 0.1  # exact in binary
    assert diagnose_fit(exact).verdict == "good fit"
    assert diagnose_fit({**exact, "val_loss": [0.625, 0.6876]}).verdict == "overfitting"


def test_loss_measured_from_the_first_minimum_and_a_zero_minimum_does_not_divide_by_zero():
    history = {"accuracy": [0.9, 0.9, 0.9], "val_accuracy": [0.9, 0.9, 0.9], "val_loss": [0.0, 0.0, 0.001]}
    # minimum 0 at epoch 1 (the first of the equal ones); rise 0.001 / 1e-12 -> huge
    line = diagnose_fit(history).line()
    assert line.startswith("overfitting:") and "its minimum at epoch 1:" in line


def test_rising_is_read_from_the_last_two_epochs():
    # last two: 0.60 -> 0.70 (rising); the second epoch (index 1) is not the last one
    assert diagnose_fit({"accuracy": [0.5, 0.6, 0.7]}).line().endswith("still rising: train longer or use a larger model")


def test_an_accuracy_gap_without_a_validation_loss_is_overfitting_not_a_crash():
    # found by mutation testing: the message read val_loss[-1] of an empty curve (IndexError)
    assert diagnose_fit({"accuracy": [0.99], "val_accuracy": [0.80]}) == FitDiagnosis(
        "overfitting", "train accuracy 0.990 vs validation 0.800 (gap 0.190); no validation loss: "
        "use early stopping, dropout or more data")


def test_no_validation_loss_uses_only_the_accuracy_gap():
    assert diagnose_fit({"accuracy": [0.9], "val_accuracy": [0.89]}) == FitDiagnosis(
        "good fit", "train accuracy 0.900, validation 0.890 (gap 0.010); validation loss within 10% of its minimum")
