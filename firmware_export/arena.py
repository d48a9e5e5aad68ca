"""Measure the tensor arena a model needs in the tflite-micro interpreter, instead of guessing it.

The number is found by bisection: the smallest ``arena_size`` with which the tflite-micro Python
interpreter both allocates the tensors and invokes the model. TFLM's own RecordingMicroAllocator total
is recorded too, but it is not used: it leaves out the interpreter's own objects, which also live in the
arena, so it falls short (for the 16-unit test MLP by 384 bytes; tflm#2738).

Every probe runs in a child process (``python -m firmware_export._arena_worker``): with an arena too small
for the interpreter's own bookkeeping the tflite-micro wrapper crashes the process (SIGSEGV) instead of
raising, and that must not take the caller down.

Why a margin on top of the measured minimum: the measurement runs TFLM's reference kernels on a 64-bit
host. Firmware built with optimized kernels (CMSIS-NN on Cortex-M, ESP-NN on ESP32) asks for scratch and
persistent buffers the reference kernels don't (CMSIS-NN's int8 fully-connected, for one, keeps
4 bytes per output unit); a firmware on another TFLM revision may plan differently; and an arena the
firmware forgets to declare ``alignas(16)`` loses up to 15 bytes to alignment. 32-bit targets have
smaller pointers, which works the other way. The margin is stated in the header as its own constant;
the example program prints ``arena_used_bytes()`` so it can be checked on the device.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import TensorInfo

ARENA_ALIGNMENT_BYTES = 16  # TFLM aligns the arena and its allocations to 16 bytes
DEFAULT_MARGIN_PERCENT = 10.0
MIN_MARGIN_BYTES = 256  # when a margin is asked for: 10% of a 2 KB arena would not cover one scratch buffer
WORKER_TIMEOUT_S = 300
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


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

    def describe(self) -> str:
        recorded = f"; TFLM's allocation recording says {self.recorded_bytes:,}" if self.recorded_bytes else ""
        return (
            f"tensor arena {self.arena_bytes:,} bytes = measured minimum {self.minimum_bytes:,} (rounded to "
            f"{ARENA_ALIGNMENT_BYTES}) + margin {self.margin_bytes:,} ({self.margin_percent:g}%, at least "
            f"{MIN_MARGIN_BYTES}){recorded}; verified by an invoke with exactly {self.arena_bytes:,} bytes "
            f"(tflite-micro {self.tflm_version})"
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
    result = _run_worker(model, inputs, ["measure", str(margin_percent)])
    if "error" in result:
        raise EdgeMLError(f"the tflite-micro interpreter cannot run this model: {result['error']}")
    return ArenaMeasurement(
        minimum_bytes=result["minimum_bytes"],
        margin_bytes=result["margin_bytes"],
        arena_bytes=result["arena_bytes"],
        margin_percent=margin_percent,
        recorded_bytes=result["recorded_bytes"],
        verified=result["verified"],
        tflm_version=tflm_version(),
    )


def arena_fits(model: bytes, inputs: tuple[TensorInfo, ...], arena_bytes: int) -> bool:
    """Whether the tflite-micro interpreter allocates and invokes the model with exactly ``arena_bytes``.

    An arena too small for the interpreter's own objects crashes the child process; that counts as no.
    """
    return bool(_run_worker(model, inputs, ["fits", str(arena_bytes)], crash_means_false=True)["fits"])


def tflm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tflite-micro")
    except PackageNotFoundError:
        return "unknown"


def require_tflm() -> None:
    if importlib.util.find_spec("tflite_micro") is None:
        raise EdgeMLError(
            "measuring the tensor arena needs the tflite-micro interpreter: pip install 'edgeml[micro]' "
            "(tflite-micro wheels exist for Python 3.10 and 3.11 only, tflm#3186)"
        )


def _run_worker(model: bytes, inputs: tuple[TensorInfo, ...], command: list[str],
                crash_means_false: bool = False) -> dict:
    require_tflm()
    input_specs = [{"shape": list(tensor.shape), "dtype": tensor.dtype} for tensor in inputs]
    with tempfile.TemporaryDirectory(prefix="edgeml-arena-") as folder:
        model_path, result_path = Path(folder) / "model.tflite", Path(folder) / "result.json"
        model_path.write_bytes(model)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_PACKAGE_ROOT),
                                                                        os.environ.get("PYTHONPATH")])))
        try:
            process = subprocess.run(
                [sys.executable, "-m", "firmware_export._arena_worker", str(model_path), str(result_path),
                 json.dumps(input_specs), *command],
                capture_output=True, text=True, errors="replace", timeout=WORKER_TIMEOUT_S, env=env,
            )
        except subprocess.TimeoutExpired:
            raise EdgeMLError(f"measuring the tensor arena took longer than {WORKER_TIMEOUT_S} s") from None
        if process.returncode == 0 and result_path.exists():
            return json.loads(result_path.read_text())
        if crash_means_false and process.returncode < 0:
            return {"fits": False}
        detail = _last_lines(process.stderr + process.stdout)
        how = f"crashed (signal {-process.returncode})" if process.returncode < 0 else f"failed ({process.returncode})"
        raise EdgeMLError(f"the tflite-micro interpreter {how} while measuring the tensor arena: {detail}")


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no message"
