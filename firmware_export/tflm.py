"""The tflite-micro interpreter, always run in a child process (``python -m firmware_export._tflm_worker``).

Given an arena too small for what it must place there, the tflite-micro Python wrapper crashes the
process (SIGSEGV after "Failed to allocate tail memory") instead of raising. Arena measurement probes
small arenas on purpose, and a preserve-all-tensors trace needs an arena nobody measured, so no TFLM
call runs in the caller's process; a crash becomes a :class:`TFLMCrash`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import TensorInfo, validate

WORKER_TIMEOUT_S = 600
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class TFLMCrash(EdgeMLError):
    """The tflite-micro interpreter killed its process (a signal), as it does on a too-small arena."""


def require_tflm() -> None:
    if importlib.util.find_spec("tflite_micro") is None:
        raise EdgeMLError(
            "this needs the tflite-micro interpreter: pip install 'edgeml[micro]' "
            "(tflite-micro wheels exist for Python 3.10 and 3.11 only, tflm#3186)"
        )


def tflm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tflite-micro")
    except PackageNotFoundError:
        return "unknown"


def call(model: bytes, inputs: tuple[TensorInfo, ...], command: str, request: dict,
         arrays: np.ndarray | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Run one worker command: its JSON result, and the arrays it saved (``outputs`` or tensor indices)."""
    require_tflm()
    validate(model, "the model")  # what TFLite Micro trusts; a bad model can compute garbage or crash it
    specs = [{"shape": [abs(d) for d in tensor.shape], "dtype": tensor.dtype} for tensor in inputs]
    with tempfile.TemporaryDirectory(prefix="edgeml-tflm-") as name:
        folder = Path(name)
        (folder / "model.tflite").write_bytes(model)
        (folder / "request.json").write_text(json.dumps({**request, "inputs": specs}))
        if arrays is not None:
            np.save(folder / "inputs.npy", arrays)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")])))
        try:
            process = subprocess.run(
                [sys.executable, "-m", "firmware_export._tflm_worker", str(folder), command],
                capture_output=True, text=True, errors="replace", timeout=WORKER_TIMEOUT_S, env=env,
            )
        except subprocess.TimeoutExpired:
            raise EdgeMLError(
                f"the tflite-micro interpreter took longer than {WORKER_TIMEOUT_S} s ({command})"
            ) from None
        result_path = folder / "result.json"
        if process.returncode == 0 and result_path.exists():
            result = json.loads(result_path.read_text())
            if "error" in result:  # TFLM says why on stderr; the Python exception only that it failed
                result["error"] = f"{result['error']}: {_last_lines(process.stderr)}"
            saved: dict[str, np.ndarray] = {}
            if (folder / "outputs.npy").exists():
                saved["outputs"] = np.load(folder / "outputs.npy")
            if (folder / "tensors.npz").exists():
                with np.load(folder / "tensors.npz") as stored:
                    saved.update({key: stored[key] for key in stored.files})
            return result, saved
    detail = _last_lines(process.stderr + "\n" + process.stdout)
    if process.returncode < 0:
        raise TFLMCrash(f"the tflite-micro interpreter crashed (signal {-process.returncode}) in {command}: {detail}")
    raise EdgeMLError(f"the tflite-micro interpreter failed in {command}: {detail}")


def run_tflm(model: bytes, inputs_info: tuple[TensorInfo, ...], inputs: np.ndarray, arena_bytes: int) -> np.ndarray:
    """Raw outputs (output 0) for each row of ``inputs`` (model dtype, no batch axis), one invoke each."""
    return call(model, inputs_info, "run", {"arena_bytes": arena_bytes}, inputs)[1]["outputs"]


def tflm_tensors(model: bytes, inputs_info: tuple[TensorInfo, ...], sample: np.ndarray, arena_bytes: int,
                 tensor_indices: list[int]) -> dict[int, np.ndarray]:
    """Tensors of subgraph 0 after one invoke on ``sample``, with every intermediate tensor kept."""
    request = {"arena_bytes": arena_bytes, "tensor_indices": tensor_indices}
    saved = call(model, inputs_info, "trace", request, sample[np.newaxis])[1]
    return {int(key): value for key, value in saved.items()}


def _last_lines(text: str, count: int = 3) -> str:
    lines = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))  # each once
    return " | ".join(lines[-count:]) or "no message"
