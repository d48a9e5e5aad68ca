"""The arena arithmetic of firmware_export/arena.py against hand-computed numbers, with the tflite-micro
worker replaced by a recorded answer (the real interpreter is exercised by test_firmware_export.py).
Kills mutmut's survivors; see docs/MUTATION.md."""

from __future__ import annotations

import pytest

from edgeml.errors import EdgeMLError
from firmware_export import arena, tflm
from firmware_export.arena import ArenaMeasurement, arena_fits, margin_bytes, measure_arena, round_up

MODEL = b"not parsed: tflm.call is replaced"
INPUTS = ()


@pytest.mark.parametrize("value, multiple, expected", [(0, 16, 0), (1, 16, 16), (16, 16, 16), (17, 16, 32),
                                                       (4001, 16, 4016), (10, 3, 12)])
def test_round_up(value, multiple, expected):
    assert round_up(value, multiple) == expected


@pytest.mark.parametrize("minimum, percent, expected", [
    (10_000, 10, 1008),   # ceil(1000) = 1000 -> 1008 (next multiple of 16)
    (10_000, 0, 0),       # no margin asked for
    (1000, 10, 256),      # 100 < 256: the floor
    (2570, 10, 272),      # ceil(257.0) = 257 -> 272
    (2561, 10, 272),      # ceil(256.1) = 257 -> 272: rounded up, not down
    (2560, 10, 256),      # exactly 256
    (100_000, 2.5, 2512), # ceil(2500) = 2500 -> 2512
])
def test_margin_bytes(minimum, percent, expected):
    assert margin_bytes(minimum, percent) == expected


class FakeWorker:
    """tflm.call's answers: the measured minimum and recording, and whether an arena size fits."""

    def __init__(self, minimum_bytes: int, recorded_bytes: int | None, fits_from: int | None = None,
                 error: str | None = None, crash: bool = False):
        self.minimum_bytes, self.recorded_bytes, self.error, self.crash = minimum_bytes, recorded_bytes, error, crash
        self.fits_from = minimum_bytes if fits_from is None else fits_from
        self.requests: list[tuple[str, dict]] = []

    def __call__(self, model, inputs, command, request, arrays=None):
        assert model == MODEL and inputs == INPUTS and arrays is None
        self.requests.append((command, request))
        if command == "measure":
            if self.error:
                return {"error": self.error}, {}
            return {"minimum_bytes": self.minimum_bytes, "recorded_bytes": self.recorded_bytes}, {}
        if self.crash:
            raise tflm.TFLMCrash("signal 11")
        return {"fits": request["arena_bytes"] >= self.fits_from}, {}


@pytest.fixture
def worker(monkeypatch):
    def install(**kwargs) -> FakeWorker:
        fake = FakeWorker(**kwargs)
        monkeypatch.setattr(tflm, "call", fake)
        monkeypatch.setattr(tflm, "tflm_version", lambda: "9.9.9")
        return fake
    return install


def test_measured_arena_is_the_rounded_minimum_plus_the_margin_and_is_verified(worker):
    fake = worker(minimum_bytes=4001, recorded_bytes=3600)
    measurement = measure_arena(MODEL, INPUTS)
    # round_up(4001) = 4016; margin max(ceil(400.1) = 401, 256) -> 416
    assert measurement == ArenaMeasurement(minimum_bytes=4001, margin_bytes=416, arena_bytes=4432,
                                           margin_percent=10.0, recorded_bytes=3600, verified=True,
                                           tflm_version="9.9.9")
    assert fake.requests == [("measure", {"alignment": 16}), ("fits", {"arena_bytes": 4432})]
    assert measurement.describe() == (
        "tensor arena 4,432 bytes = measured minimum 4,001 (rounded up to 16) + margin 416 (10% of the measured "
        "size, at least 256 bytes, a multiple of 16); TFLM's allocation recording says 3,600; verified by an "
        "invoke with exactly 4,432 bytes (tflite-micro 9.9.9)")


def test_no_margin_no_recording_and_a_failed_verification_are_said(worker):
    worker(minimum_bytes=2048, recorded_bytes=None, fits_from=4096)
    measurement = measure_arena(MODEL, INPUTS, margin_percent=0)
    assert (measurement.arena_bytes, measurement.margin_bytes, measurement.verified) == (2048, 0, False)
    assert measurement.margin_rule() == "no margin asked for"
    assert measurement.describe() == (
        "tensor arena 2,048 bytes = measured minimum 2,048 (rounded up to 16) + margin 0 (no margin asked for); "
        "NOT verified with 2,048 bytes (tflite-micro 9.9.9)")


def test_a_fractional_margin_is_printed_as_given(worker):
    worker(minimum_bytes=100_000, recorded_bytes=None)
    assert measure_arena(MODEL, INPUTS, margin_percent=2.5).margin_rule() == (
        "2.5% of the measured size, at least 256 bytes, a multiple of 16")


def test_a_negative_margin_is_refused_before_measuring(worker):
    fake = worker(minimum_bytes=1, recorded_bytes=None)
    with pytest.raises(EdgeMLError) as error:
        measure_arena(MODEL, INPUTS, margin_percent=-1)
    assert str(error.value) == "--arena-margin must be zero or positive, got -1"
    assert fake.requests == []


def test_a_margin_of_zero_is_allowed(worker):
    worker(minimum_bytes=32, recorded_bytes=None)
    assert measure_arena(MODEL, INPUTS, margin_percent=0.0).arena_bytes == 32


def test_a_model_the_interpreter_cannot_run_is_one_error_with_its_reason(worker):
    worker(minimum_bytes=0, recorded_bytes=None, error="Didn't find op for builtin opcode 'MEAN'")
    with pytest.raises(EdgeMLError) as error:
        measure_arena(MODEL, INPUTS)
    assert str(error.value) == ("the tflite-micro interpreter cannot run this model: "
                                "Didn't find op for builtin opcode 'MEAN'")


def test_arena_fits_asks_for_exactly_that_size_and_a_crash_is_no(worker):
    fake = worker(minimum_bytes=1000, recorded_bytes=None)
    assert arena_fits(MODEL, INPUTS, 1000) is True
    assert arena_fits(MODEL, INPUTS, 999) is False
    assert fake.requests == [("fits", {"arena_bytes": 1000}), ("fits", {"arena_bytes": 999})]
    worker(minimum_bytes=1000, recorded_bytes=None, crash=True)
    assert arena_fits(MODEL, INPUTS, 5000) is False


def test_constants_are_the_documented_ones():
    # the header and README state these; a change must be deliberate
    assert (arena.ARENA_ALIGNMENT_BYTES, arena.DEFAULT_MARGIN_PERCENT, arena.MIN_MARGIN_BYTES) == (16, 10.0, 256)
