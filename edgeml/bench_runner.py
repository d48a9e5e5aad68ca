"""Measure one model in one runtime, in a process of its own: the unit every benchmark is made of.

The host benchmark, device bundles and SSH runs all call this same module, so a number from a
Raspberry Pi and one from the host were measured the same way. It needs only numpy and a runtime
(plus TensorFlow for the ``keras`` pseudo-runtime on the host).

    python -m edgeml.bench_runner MODEL --samples samples.npz --runtime litert --threads 1 --runs 200

prints one JSON object (a :class:`~edgeml.measurement.Measurement`, predictions included). A fresh process per measurement is what makes ``peak_rss_bytes`` mean
"this model in this runtime" rather than "everything measured so far".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.artifact_json import JsonObject
from edgeml.errors import EdgeMLError
from edgeml.measurement import HostInfo, Latency, Measurement
from edgeml.runtime import decide_class, open_model, runtime_spec

RESULT_MARKER = "EDGEML-BENCH-RESULT "


@dataclass(frozen=True)
class MeasureConfig:
    model: str
    samples: str  # .npz with x (normalised float32 inputs) and y (labels)
    runtime: str = "litert"
    threads: int = 1
    warmup: int = 20
    runs: int = 200
    batch_size: int = 64
    arena_bytes: int | None = None


def device_info() -> dict[str, str]:
    """Machine, CPU model and OS, to label results (the Pi reports its own)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                cpu = value.strip()
                break
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def measure(config: MeasureConfig) -> Measurement:
    """Init, first invoke, warm-up, steady-state single-sample latency, batch throughput, accuracy, RSS."""
    with np.load(config.samples, allow_pickle=False) as data:
        inputs, labels = data["x"].astype(np.float32), data["y"].astype(np.int64)
    spec = runtime_spec(config.runtime)
    rss_before_bytes = _current_rss_bytes()
    started = time.perf_counter()
    model = open_model(config.model, config.runtime, threads=config.threads, arena_bytes=config.arena_bytes)
    init_ms = (time.perf_counter() - started) * 1e3

    single = [model.input_quantization.quantize(sample[np.newaxis]) for sample in inputs[:64]]  # cycled through
    model.set_raw_input(single[0])
    started = time.perf_counter()
    model.invoke()
    first_invoke_ms = (time.perf_counter() - started) * 1e3
    for index in range(config.warmup):
        model.set_raw_input(single[index % len(single)])
        model.invoke()
    latencies_us = np.empty(config.runs)
    for index in range(config.runs):
        model.set_raw_input(single[index % len(single)])
        started = time.perf_counter_ns()
        model.invoke()
        latencies_us[index] = (time.perf_counter_ns() - started) / 1e3

    throughput = None
    if model.supports_batch and len(inputs) >= config.batch_size:
        batch = model.input_quantization.quantize(inputs[: config.batch_size])
        model.set_raw_input(batch)
        model.invoke()  # first invoke at this batch size allocates
        timings = []
        for _ in range(max(3, min(20, config.runs // 10))):
            started = time.perf_counter()
            model.invoke()
            timings.append(time.perf_counter() - started)
        throughput = config.batch_size / float(np.median(timings))
    elif spec.loops_batches and len(inputs) >= config.batch_size:
        # A model converted for a batch of 1 (as edgeml converts for devices) takes the batch one sample
        # per invoke, as it would on the device; the row records which way it was measured.
        timings = []
        for _ in range(max(3, min(20, config.runs // 10))):
            started = time.perf_counter()
            for index in range(config.batch_size):
                model.set_raw_input(single[index % len(single)])
                model.invoke()
            timings.append(time.perf_counter() - started)
        throughput = config.batch_size / float(np.median(timings))

    predicted = decide_class(model.predict(inputs, batch_size=config.batch_size))
    host = HostInfo(**device_info())
    memory = model.static_memory if spec.static_memory else None  # the C engine's static RAM and flash
    return Measurement(
        model=Path(config.model).name,
        runtime=config.runtime,
        target=host.cpu,  # the host's rows are relabelled "host" by the local target; a device's keep its CPU
        runtime_version=spec.version(),
        threads=config.threads if spec.threads else None,
        file_bytes=Path(config.model).stat().st_size,
        samples=int(len(labels)),
        accuracy=float(np.mean(predicted == labels)),
        predictions=tuple(int(label) for label in predicted),
        init_ms=round(init_ms, 3),
        first_invoke_ms=round(first_invoke_ms, 3),
        warmup=config.warmup,
        runs=config.runs,
        latency=Latency(*(round(float(value), 2) for value in (
            latencies_us.mean(), *np.percentile(latencies_us, (50, 90, 99))))),
        batch_size=config.batch_size if throughput else None,
        batch_in_one_invoke=model.supports_batch if throughput else None,
        throughput_per_s=round(throughput, 1) if throughput else None,
        peak_rss_bytes=_peak_rss_bytes(),
        rss_before_model_bytes=rss_before_bytes,
        # Only a measured arena is reported: the runtime's 4 MiB fallback is what it ran with, not a measurement.
        arena_bytes=config.arena_bytes if spec.measures_arena else None,
        arena_not_measured="no measured arena was given (ran with the 4 MiB default)"
        if spec.measures_arena and not config.arena_bytes else None,
        static_ram_bytes=memory.ram_bytes if memory else None,
        engine_arena_bytes=memory.arena_bytes if memory else None,
        flash_bytes=memory.flash_bytes if memory else None,
        flash_not_measured=memory.flash_not_measured if memory else None,
        host=host,
    )


def _peak_rss_bytes() -> int:
    """Peak resident memory of this process image.

    VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over from the parent through fork and exec, so
    a runner started by a process that had TensorFlow loaded would report TensorFlow's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _current_rss_bytes() -> int | None:
    """Resident memory now (Linux), to separate the runtime's import cost from the model's."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def measure_in_subprocess(config: MeasureConfig, python: str = sys.executable,
                          timeout_s: float = 1800) -> Measurement:
    """Run :func:`measure` in a fresh interpreter so that its memory numbers are its own; EdgeMLError with
    the runner's reason when it fails, or when what it printed is not a measurement."""
    command = [python, "-m", "edgeml.bench_runner", config.model, "--samples", config.samples,
               "--runtime", config.runtime, "--threads", str(config.threads), "--warmup", str(config.warmup),
               "--runs", str(config.runs), "--batch-size", str(config.batch_size)]
    if config.arena_bytes:
        command += ["--arena-bytes", str(config.arena_bytes)]
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise EdgeMLError(f"measuring {Path(config.model).name} in {config.runtime} took over {timeout_s:.0f} s") from None
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return _read_result(line[len(RESULT_MARKER):], config)
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    reason = errors[-1][len("error: "):] if errors else (completed.stderr.strip().splitlines() or ["no output"])[-1]
    raise EdgeMLError(f"measuring {Path(config.model).name} in {config.runtime} failed: {reason}")


def _read_result(text: str, config: MeasureConfig) -> Measurement:
    """The runner's printed row, read back as the host reads a results file."""
    source = Path(f"the runner's output for {Path(config.model).name} in {config.runtime}")
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        raise EdgeMLError(f"{source} is not JSON: {text[:200]!r}") from None
    if not isinstance(row, dict):
        raise EdgeMLError(f"{source} is not a measurement: {text[:200]!r}")
    return Measurement.from_json(JsonObject(row, source))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure one model in one runtime; prints one JSON line.")
    parser.add_argument("model")
    parser.add_argument("--samples", required=True)
    parser.add_argument("--runtime", default=MeasureConfig.runtime)
    parser.add_argument("--threads", type=int, default=MeasureConfig.threads)
    parser.add_argument("--warmup", type=int, default=MeasureConfig.warmup)
    parser.add_argument("--runs", type=int, default=MeasureConfig.runs)
    parser.add_argument("--batch-size", type=int, default=MeasureConfig.batch_size)
    parser.add_argument("--arena-bytes", type=int)
    args = parser.parse_args(argv)
    try:
        result = measure(MeasureConfig(**vars(args)))
    except EdgeMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(RESULT_MARKER + json.dumps(result.to_json(predictions=True)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
