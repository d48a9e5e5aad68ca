"""The device side of a bundle (:mod:`edgeml.bundle`): measure every bundled model in every lite runtime
installed there and write ``results.json``.

    python3 run.py [--threads 4] [--runs 200] [--warmup 20] [--runtime litert] [--out results.json]

``run.py`` only puts the bundle's folder first on ``sys.path`` and calls :func:`main`. This module is
copied into the bundle with the modules it imports (``BUNDLED_MODULES``); a device has python3, numpy
and one runtime (ai-edge-litert on a 64-bit OS, tflite-runtime, or tflite-micro), the ``edgeml[pi]``
level, and no TensorFlow. Each model is measured in a fresh process by :mod:`edgeml.bench_runner`,
exactly as on the host; the host merges the results: ``edgeml benchmark RUN_DIR --import results.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path

from edgeml.artifacts import write_text
from edgeml.bench_runner import MeasureConfig, device_info, measure_in_subprocess
from edgeml.errors import EdgeMLError
from edgeml.measurement import write_measurements
from edgeml.runtime import REGISTRY

# The files of a bundle folder, relative to it; the one place they are spelled (edgeml.bundle writes them).
MANIFEST_FILE = "bundle.json"
RUNNER_FILE = "run.py"
README_FILE = "README.txt"
SAMPLES_FILE = "samples.npz"
MODELS_DIR = "models"
RESULTS_FILE = "results.json"
# What the bundle carries of edgeml: this module and what it imports, and nothing more
# (tests/test_bundle.py checks it).
BUNDLED_MODULES = ("__init__.py", "errors.py", "artifacts.py", "artifact_json.py", "data.py", "rundir.py",
                   "measurement.py", "interpreter.py", "runtime.py", "bench_runner.py", "pi_runner.py")


def device_runtimes() -> tuple[str, ...]:
    """The registered runtimes a device bundle can run (tensorflow is left out: a device has none)."""
    return tuple(spec.name for spec in REGISTRY if spec.on_device)


def parser() -> argparse.ArgumentParser:
    """``run.py``'s options; the defaults are :class:`~edgeml.bench_runner.MeasureConfig`'s."""
    defaults = MeasureConfig(model="", samples="")
    options = argparse.ArgumentParser(prog=RUNNER_FILE, description="Measure the bundled models here; write "
                                      f"{RESULTS_FILE}.")
    options.add_argument("--threads", type=int, default=defaults.threads,
                         help=f"interpreter threads (default {defaults.threads})")
    options.add_argument("--runs", type=int, default=defaults.runs,
                         help=f"timed single-sample invokes (default {defaults.runs})")
    options.add_argument("--warmup", type=int, default=defaults.warmup,
                         help=f"untimed invokes first (default {defaults.warmup})")
    options.add_argument("--batch-size", type=int, default=defaults.batch_size,
                         help=f"batch for throughput (default {defaults.batch_size})")
    options.add_argument("--runtime", action="append", choices=sorted(device_runtimes()),
                         help="measure in this runtime only (repeatable; default: every installed one)")
    options.add_argument("--out", default=RESULTS_FILE, help=f"results file (default {RESULTS_FILE})")
    return options


def main(argv: list[str] | None, bundle_dir: Path | str) -> int:
    """Measure the bundle in ``bundle_dir``; 0 on success, 1 after one ``error: ...`` line on stderr, with
    no results file written."""
    args = parser().parse_args(argv)
    bundle_dir = Path(bundle_dir)
    if args.threads <= 0 or args.runs <= 0 or args.batch_size <= 0 or args.warmup < 0:
        return fail("--threads, --runs and --batch-size must be positive and --warmup not negative")
    manifest = json.loads((bundle_dir / MANIFEST_FILE).read_text())
    installed, problems = installed_runtimes()
    if not installed:
        return fail(no_runtime_message(problems))
    runtimes = args.runtime or installed
    missing = [runtime for runtime in runtimes if runtime not in installed]
    if missing:
        return fail(f"runtime {', '.join(missing)} is not installed for {sys.executable} "
                    f"(installed: {', '.join(installed)}){describe(problems, missing)}")

    pairs = [(entry, runtime) for entry in manifest["models"] for runtime in runtimes]
    rows, skipped = [], []
    for index, (entry, runtime) in enumerate(pairs, start=1):
        print(f"[{index}/{len(pairs)}] {entry['file']} on {runtime}", file=sys.stderr, flush=True)
        config = MeasureConfig(
            model=str(bundle_dir / MODELS_DIR / entry["file"]), samples=str(bundle_dir / SAMPLES_FILE),
            runtime=runtime, threads=args.threads, warmup=args.warmup, runs=args.runs, batch_size=args.batch_size,
            arena_bytes=entry.get("arena_bytes") if runtime == "tflm" else None,
        )
        try:
            row = measure_in_subprocess(config, python=sys.executable)
        except EdgeMLError as exc:
            skipped.append(str(exc))
            print(f"  skipped: {exc}", file=sys.stderr, flush=True)
            continue
        print(f"  p50 {row.latency.p50_us:.1f} us, accuracy {row.accuracy:.4f}", file=sys.stderr, flush=True)
        rows.append(row)
    if not rows:
        return fail("no measurement succeeded: " + "; ".join(skipped))

    device = device_info()
    results = {
        "device": device,
        "bundle": {"edgeml_version": manifest["edgeml_version"], "created": manifest["created"]},
        **write_measurements(rows, predictions=True),  # the host computes each row's agreement from them
        "skipped": skipped,
    }
    out = Path(args.out)
    write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}: {len(rows)} measurements on {device['cpu']} ({device['os']})")
    return 0


def installed_runtimes() -> tuple[list[str], dict[str, str]]:
    """The device runtimes that really import here, and why each other one did not. A wheel can be
    present and still fail (tflite-runtime on numpy 2), so a lite runtime's interpreter module is imported
    too: that is where its binary loads."""
    installed, problems = [], {}
    for spec in REGISTRY:
        if not spec.on_device:
            continue
        try:
            importlib.import_module(spec.module)
            if spec.lite:
                importlib.import_module(f"{spec.module}.interpreter")
        except Exception as exc:  # an ImportError, or whatever a broken binary wheel raises
            problems[spec.name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            installed.append(spec.name)
    return installed, problems


def no_runtime_message(problems: dict[str, str]) -> str:
    if platform.machine() in ("armv7l", "armv6l"):
        advice = (f"LiteRT has no wheels for 32-bit ARM ({platform.machine()}): install a 64-bit OS, "
                  "or pip install tflite-runtime with Python <= 3.11 and numpy<2")
    else:
        advice = "pip install ai-edge-litert (or tflite-runtime, or tflite-micro)"
    modules = ", ".join(spec.module for spec in REGISTRY if spec.on_device)
    return (f"no lite runtime is installed for {sys.executable} (none of {modules} imports): "
            f"{advice}{describe(problems, list(problems))}")


def describe(problems: dict[str, str], runtimes: list[str]) -> str:
    """Import errors other than plain absence: those are the broken installs worth showing."""
    broken = [f"{runtime}: {problems[runtime]}" for runtime in runtimes
              if runtime in problems and not problems[runtime].startswith("ModuleNotFoundError")]
    return "; import failed for " + "; ".join(broken) if broken else ""


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run_script(banner: list[str]) -> str:
    """``run.py``: ``banner`` (comment lines), then a launcher that runs the bundled copy of this module."""
    return "\n".join(["#!/usr/bin/env python3", *banner]) + '''
"""Measure every model in this bundle in every lite runtime installed here; see edgeml/pi_runner.py."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The edgeml modules beside this script win over any installed edgeml: they are what the host ran.
sys.path.insert(0, str(HERE))

try:
    import numpy  # noqa: F401  (the runner needs it: say so before an import of it fails deeper down)
except ImportError:
    print("error: numpy is not installed for " + sys.executable + ": pip install numpy", file=sys.stderr)
    sys.exit(1)

from edgeml.pi_runner import fail, main  # noqa: E402

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:], HERE))
    except KeyboardInterrupt:
        sys.exit(fail("interrupted: no results written"))
'''
