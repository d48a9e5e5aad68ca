"""Measure the tensor arena a model needs in the tflite-micro interpreter, instead of guessing it.

The number is found by bisection: the smallest ``arena_size`` with which the tflite-micro Python
interpreter both allocates the tensors and invokes the model. TFLM's own RecordingMicroAllocator total
is recorded too, but it is not used: it leaves out the interpreter's own objects, which also live in the
arena, so it falls short (for the 16-unit test MLP by 384 bytes; tflm#2738).

The search runs in a child process (:mod:`firmware_export.tflm`), and each probe in a child of that
(a fork): with an arena too small for the interpreter's own bookkeeping the tflite-micro wrapper crashes
the process (SIGSEGV) instead of raising, so a crashed probe counts as "too small" and the search goes
on. The bisection starts at the recorded total, a lower bound, when TFLM prints one.

Why a margin on top of the measured minimum: the measurement runs TFLM's reference kernels on a 64-bit
host. Firmware built with optimized kernels (CMSIS-NN on Cortex-M, ESP-NN on ESP32) asks for scratch and
persistent buffers the reference kernels don't (CMSIS-NN's int8 fully-connected, for one, keeps
4 bytes per output unit); a firmware on another TFLM revision may plan differently; and an arena the
firmware forgets to declare ``alignas(16)`` loses up to 15 bytes to alignment. 32-bit targets have
smaller pointers, which works the other way. The margin is stated in the header as its own constant;
the example program prints ``arena_used_bytes()`` so it can be checked on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import TensorInfo
from firmware_export import tflm

ARENA_ALIGNMENT_BYTES = 16  # TFLM aligns the arena and its allocations to 16 bytes
DEFAULT_MARGIN_PERCENT = 10.0
MIN_MARGIN_BYTES = 256  # when a margin is asked for: 10% of a 2 KB arena would not cover one scratch buffer


@dataclass(frozen=True)
class ArenaMeasurement:
    """The measured arena. ``arena_bytes`` is what the header's ``<NAME>_TENSOR_ARENA_SIZE`` says."""

    minimum_bytes: int
    margin_bytes: int
    arena_bytes: int
    margin_percent: float
    recorded_bytes: int | None
    verified: bool
    tflm_version: str

    def margin_rule(self) -> str:
        if self.margin_bytes == 0:
            return "no margin asked for"
        return f"{self.margin_percent:g}% of the measured size, at least {MIN_MARGIN_BYTES} bytes, a multiple of 16"

    def describe(self) -> str:
        recorded = f"; TFLM's allocation recording says {self.recorded_bytes:,}" if self.recorded_bytes else ""
        verified = "verified by an invoke with exactly" if self.verified else "NOT verified with"
        return (
            f"tensor arena {self.arena_bytes:,} bytes = measured minimum {self.minimum_bytes:,} (rounded up to "
            f"{ARENA_ALIGNMENT_BYTES}) + margin {self.margin_bytes:,} ({self.margin_rule()}){recorded}; "
            f"{verified} {self.arena_bytes:,} bytes (tflite-micro {self.tflm_version})"
        )


def margin_bytes(minimum_bytes: int, margin_percent: float) -> int:
    """The stated margin: ``margin_percent`` of the minimum, at least MIN_MARGIN_BYTES, 16-byte multiple."""
    if margin_percent == 0:
        return 0
    wanted = max(math.ceil(minimum_bytes * margin_percent / 100), MIN_MARGIN_BYTES)
    return round_up(wanted, ARENA_ALIGNMENT_BYTES)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def measure_arena(model: bytes, inputs: tuple[TensorInfo, ...],
                  margin_percent: float = DEFAULT_MARGIN_PERCENT) -> ArenaMeasurement:
    """Bisect for the smallest arena that allocates and invokes, add the margin, verify that arena."""
    if margin_percent < 0:
        raise EdgeMLError(f"--arena-margin must be zero or positive, got {margin_percent}")
    result, _ = tflm.call(model, inputs, "measure", {"alignment": ARENA_ALIGNMENT_BYTES})
    if "error" in result:
        raise EdgeMLError(f"the tflite-micro interpreter cannot run this model: {result['error']}")
    minimum = result["minimum_bytes"]
    margin = margin_bytes(minimum, margin_percent)
    arena = round_up(minimum, ARENA_ALIGNMENT_BYTES) + margin
    return ArenaMeasurement(
        minimum_bytes=minimum,
        margin_bytes=margin,
        arena_bytes=arena,
        margin_percent=margin_percent,
        recorded_bytes=result["recorded_bytes"],
        verified=arena_fits(model, inputs, arena),
        tflm_version=tflm.tflm_version(),
    )


def arena_fits(model: bytes, inputs: tuple[TensorInfo, ...], arena_bytes: int) -> bool:
    """Whether the tflite-micro interpreter allocates and invokes the model with exactly ``arena_bytes``.

    An arena too small for the interpreter's own objects crashes the child process; that counts as no.
    """
    try:
        return bool(tflm.call(model, inputs, "fits", {"arena_bytes": arena_bytes})[0]["fits"])
    except tflm.TFLMCrash:
        return False
