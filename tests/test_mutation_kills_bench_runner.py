"""bench_runner's batch-timing count and failure reason (edgeml/bench_runner.py): the survivors left by
tests/test_mutation_kills_benchmark.py, killed with its fake model and scripted clock. See docs/MUTATION.md."""

from __future__ import annotations

import pytest

from edgeml import bench_runner
from edgeml.errors import EdgeMLError
from test_mutation_kills_benchmark import FakeModel, fake_python, measure_fake


@pytest.mark.parametrize("runs, timings", [(150, 15), (250, 20), (29, 3)])
def test_batch_timings_are_a_tenth_of_the_runs_between_3_and_20(monkeypatch, tmp_path, runs, timings):
    fake = FakeModel()
    result = measure_fake(monkeypatch, tmp_path, fake, [5.0] * runs, batch_size=2)
    # first invoke + timed runs + the batch's allocating invoke + the batch timings
    assert fake.invokes == 1 + runs + 1 + timings
    assert result["throughput_per_s"] == 4.0  # every timing 0.5 s for 2 samples: the median of equal timings


@pytest.mark.parametrize("runs, timings", [(150, 15), (250, 20)])
def test_sample_by_sample_batches_are_timed_as_often(monkeypatch, tmp_path, runs, timings):
    fake = FakeModel()
    fake.supports_batch = False
    measure_fake(monkeypatch, tmp_path, fake, [5.0] * runs, batch_size=3)
    assert fake.invokes == 1 + runs + 3 * timings


def test_the_last_error_line_is_the_reason(tmp_path):
    python = fake_python(tmp_path, "echo 'error: first' >&2\necho 'error: second' >&2\necho 'error: third' >&2\n"
                                   "echo 'Traceback' >&2\nexit 1\n")
    with pytest.raises(EdgeMLError) as error:
        bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="m.tflite", samples="s"), python=python)
    assert str(error.value) == "measuring m.tflite in litert failed: third"
