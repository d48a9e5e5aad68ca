"""The defaults benchmark's own code: its medians and tables, its overrides, and the baseline's shortcut."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from baseline_keras import baseline_accuracies  # noqa: E402
from defaults_sweep import Measurement, apply_overrides, budget_rows, markdown_table, text_table  # noqa: E402

from edgeml.models import ModelSpec  # noqa: E402
from edgeml.train import TrainConfig  # noqa: E402


def _measurements(runner: str, epochs: int, accuracies: list[float], dataset: str = "digits") -> list[Measurement]:
    return [Measurement(runner, "mlp", dataset, epochs, seed, a) for seed, a in enumerate(accuracies)]


def test_rows_are_medians_over_seeds_and_the_difference_is_in_points():
    measurements = (
        _measurements("baseline", 5, [0.80, 0.90, 0.85]) + _measurements("edgeml", 5, [0.86, 0.83, 0.84])
        + _measurements("baseline", 10, [0.90, 0.91, 0.92]) + _measurements("edgeml", 10, [0.9185, 0.99, 0.80])
    )
    rows = budget_rows(measurements)
    assert [(r.epochs, r.baseline_median, r.edgeml_median, r.seeds) for r in rows] == [
        (5, 0.85, 0.84, 3), (10, 0.91, 0.9185, 3)
    ]
    assert rows[0].difference_points == pytest.approx(-1.0)
    assert rows[1].difference_points == pytest.approx(0.85)
    assert not rows[0].within_tolerance and rows[1].within_tolerance


def test_tolerance_is_exactly_two_tenths_of_a_point():
    rows = budget_rows(_measurements("baseline", 5, [0.9000]) + _measurements("edgeml", 5, [0.8980])
                       + _measurements("baseline", 10, [0.9000], "fashion_mnist")
                       + _measurements("edgeml", 10, [0.8979], "fashion_mnist"))
    assert [(r.dataset, r.within_tolerance) for r in rows] == [("digits", True), ("fashion_mnist", False)]


def test_a_budget_without_the_same_seeds_on_both_sides_is_left_out():
    measurements = _measurements("baseline", 5, [0.8, 0.9]) + _measurements("edgeml", 5, [0.85])
    measurements += _measurements("baseline", 10, [0.9])
    assert budget_rows(measurements) == []


def test_tables():
    rows = budget_rows(_measurements("baseline", 5, [0.8813]) + _measurements("edgeml", 5, [0.8751]))
    assert markdown_table(rows).splitlines()[2] == "| mlp | digits | 5 | 0.8813 | 0.8751 | -0.62 |"
    assert text_table(rows).splitlines()[1].split() == [
        "mlp", "digits", "5", "0.8813", "0.8751", "-0.62", "BELOW", "baseline", "-", "0.2"
    ]


def test_overrides_reach_the_config_and_the_model_spec():
    config = apply_overrides(TrainConfig(), ["batch_size=32", "lr_schedule=constant", "model.dropout=0.1",
                                             "model.hidden=[16, 8]"])
    assert (config.batch_size, config.lr_schedule) == (32, "constant")
    assert config.model == ModelSpec(dropout=0.1, hidden=(16, 8))


def test_baseline_shortcut_one_long_run_equals_a_run_per_budget():
    # The sweep evaluates one run after each budget's epoch instead of training once per budget: valid only
    # if the first N epochs of a longer run are the same computation as an N-epoch run (constant rate).
    long_run = baseline_accuracies("digits", "mlp", (1, 2), seed=0)
    short_run = baseline_accuracies("digits", "mlp", (1,), seed=0)
    assert sorted(long_run) == [1, 2]
    assert short_run[1] == long_run[1]
