"""Child process for :mod:`firmware_export.arena`: probes tensor-arena sizes with the tflite-micro interpreter.

Usage: ``python -m firmware_export._arena_worker MODEL RESULT_JSON INPUT_SPECS_JSON (measure PERCENT | fits BYTES)``.
Writes its answer to RESULT_JSON; TFLM's own messages go to this process's stdout/stderr.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from firmware_export.arena import ARENA_ALIGNMENT_BYTES, margin_bytes, round_up

FIRST_TRY_BYTES = 64 * 1024
LARGEST_TRY_BYTES = 1 << 30


class Probe:
    def __init__(self, model: bytes, input_specs: list[dict]) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.runtime = runtime
        self.model = model
        self.inputs = [np.zeros(spec["shape"], dtype=np.dtype(spec["dtype"])) for spec in input_specs]
        self.last_error = ""

    def interpreter(self, arena_bytes: int):
        interpreter = self.runtime.Interpreter.from_bytes(self.model, arena_size=arena_bytes)
        for index, values in enumerate(self.inputs):
            interpreter.set_input(values, index)
        interpreter.invoke()
        return interpreter

    def fits(self, arena_bytes: int) -> bool:
        try:
            self.interpreter(arena_bytes)
        except (RuntimeError, ValueError) as exc:
            self.last_error = str(exc)
            return False
        return True


def measure(probe: Probe, margin_percent: float) -> dict:
    upper = FIRST_TRY_BYTES
    while not probe.fits(upper):
        upper *= 2
        if upper > LARGEST_TRY_BYTES:
            return {"error": probe.last_error or "it fails with every arena size up to 1 GiB"}
    recorded = recorded_bytes(probe.interpreter(upper))
    # The recording is a lower bound (those bytes are allocated in the arena), and probing far below it
    # risks the wrapper's crash; without it, start from one alignment unit.
    lower = recorded or ARENA_ALIGNMENT_BYTES
    if probe.fits(lower):
        minimum = lower
    else:  # invariant: lower fails, upper fits
        while upper - lower > 1:
            middle = (lower + upper) // 2
            if probe.fits(middle):
                upper = middle
            else:
                lower = middle
        minimum = upper
    margin = margin_bytes(minimum, margin_percent)
    arena = round_up(minimum, ARENA_ALIGNMENT_BYTES) + margin
    return {
        "minimum_bytes": minimum,
        "recorded_bytes": recorded,
        "margin_bytes": margin,
        "arena_bytes": arena,
        "verified": probe.fits(arena),
    }


def recorded_bytes(interpreter) -> int | None:
    """The 'Arena allocation total' that TFLM's RecordingMicroAllocator prints to the C-level stdout."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile() as capture:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            interpreter.print_allocations()
            libc.fflush(None)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
        capture.seek(0)
        text = capture.read().decode("utf-8", errors="replace")
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(match.group(1)) if match else None


def main(argv: list[str]) -> int:
    model_path, result_path, input_specs, command, argument = argv
    probe = Probe(Path(model_path).read_bytes(), json.loads(input_specs))
    if command == "measure":
        result = measure(probe, float(argument))
    elif command == "fits":
        result = {"fits": probe.fits(int(argument))}
    else:
        raise SystemExit(f"unknown command {command!r}")
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
