"""Child process behind :mod:`firmware_export.tflm`: everything that touches the tflite-micro interpreter.

Usage: ``python -m firmware_export._tflm_worker FOLDER COMMAND``. FOLDER holds ``model.tflite`` and
``request.json`` (plus ``inputs.npy`` for ``run`` and ``trace``); the answer goes to ``result.json``
(plus ``outputs.npy`` or ``tensors.npz``). TFLM's own messages go to this process's stdout/stderr.
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

from edgeml.interpreter import in_forked_child

FIRST_TRY_BYTES = 64 * 1024
LARGEST_TRY_BYTES = 1 << 30


class Probe:
    """Builds interpreters for one model; inputs are zeros of the right type unless given."""

    def __init__(self, model: bytes, input_specs: list[dict]) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.runtime = runtime
        self.model = model
        self.zeros = [np.zeros(spec["shape"], dtype=np.dtype(spec["dtype"])) for spec in input_specs]
        self.last_error = ""

    def interpreter(self, arena_bytes: int, preserve_all_tensors: bool = False):
        config = (self.runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
                  else self.runtime.InterpreterConfig.kAllocationRecording)
        return self.runtime.Interpreter.from_bytes(self.model, arena_size=arena_bytes, intrepreter_config=config)

    def invoked(self, arena_bytes: int):
        interpreter = self.interpreter(arena_bytes)
        for index, values in enumerate(self.zeros):
            interpreter.set_input(values, index)
        interpreter.invoke()
        return interpreter

    def fits(self, arena_bytes: int) -> bool:
        """Whether ``arena_bytes`` allocates and invokes, tried in a forked child: an arena too small for
        the interpreter's own objects crashes the wrapper (SIGSEGV after "Failed to allocate tail
        memory") instead of raising, and such a crash only means "too small"."""
        outcome = in_forked_child(lambda: self.invoked(arena_bytes))
        if outcome.signal is not None:
            self.last_error = f"the interpreter crashed (signal {outcome.signal}) with a {arena_bytes}-byte arena"
            return False
        if outcome.error is not None:
            self.last_error = outcome.error
            return False
        return True


def measure(probe: Probe, request: dict) -> dict:
    """The smallest arena that allocates and invokes, by bisection, and TFLM's recorded total."""
    upper = FIRST_TRY_BYTES
    while not probe.fits(upper):
        upper *= 2
        if upper > LARGEST_TRY_BYTES:
            return {"error": probe.last_error or "it fails with every arena size up to 1 GiB"}
    recorded = recorded_bytes(probe.invoked(upper))
    # The recording is a lower bound (those bytes are allocated in the arena); without it, start from one
    # alignment unit: probes below the interpreter's needs crash only their forked child.
    lower = recorded or request["alignment"]
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
    return {"minimum_bytes": minimum, "recorded_bytes": recorded}


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


def run(probe: Probe, request: dict, folder: Path) -> dict:
    """Raw outputs of output 0 for every row of inputs.npy, one invoke per row."""
    inputs = np.load(folder / "inputs.npy")
    interpreter = probe.interpreter(request["arena_bytes"])
    outputs = []
    for sample in inputs:
        interpreter.set_input(sample[np.newaxis], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    np.save(folder / "outputs.npy", np.concatenate(outputs))
    return {"samples": len(outputs)}


def trace(probe: Probe, request: dict, folder: Path) -> dict:
    """Every requested tensor after one invoke on inputs.npy[0], with all tensors kept."""
    sample = np.load(folder / "inputs.npy")[0]
    interpreter = probe.interpreter(request["arena_bytes"], preserve_all_tensors=True)
    interpreter.set_input(sample[np.newaxis], 0)
    interpreter.invoke()
    tensors = {str(index): np.asarray(interpreter.GetTensor(index, 0)["tensor_data"])
               for index in request["tensor_indices"]}
    np.savez(folder / "tensors.npz", **tensors)
    return {"tensors": len(tensors)}


def main(argv: list[str]) -> int:
    folder, command = Path(argv[0]), argv[1]
    request = json.loads((folder / "request.json").read_text())
    probe = Probe((folder / "model.tflite").read_bytes(), request["inputs"])
    if command == "measure":
        result = measure(probe, request)
    elif command == "fits":
        result = {"fits": probe.fits(request["arena_bytes"])}
    elif command == "run":
        result = run(probe, request, folder)
    elif command == "trace":
        result = trace(probe, request, folder)
    else:
        raise SystemExit(f"unknown command {command!r}")
    (folder / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
