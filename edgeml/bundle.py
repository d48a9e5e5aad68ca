"""A folder to copy to a Raspberry Pi: the .tflite models, test samples, the runner and a ``run.py`` to start it.

The device needs python3, numpy and one lite runtime, nothing else. The bundle carries its own copy of the
four edgeml modules the runner imports, so a number from the device was measured by the same code as one
from the host, whatever edgeml (if any) is installed there. ``run.py`` writes ``results.json`` with the
host's row schema, which ``edgeml benchmark --import`` merges.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import edgeml
from edgeml.artifacts import current_umask, require_writable
from edgeml.errors import EdgeMLError

# What bench_runner imports at module level, and nothing more (tests/test_bundle.py checks this).
BUNDLED_MODULES = ("__init__.py", "errors.py", "runtime.py", "bench_runner.py")
MANIFEST_FILE = "bundle.json"
RUNNER_FILE = "run.py"
README_FILE = "README.txt"
SAMPLES_FILE = "samples.npz"
MODELS_DIR = "models"
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class BundleConfig:
    targets: tuple[str, ...]  # run directories and/or .tflite files
    out: str = "bundle"
    dataset: str | None = None  # needed for model files outside a run directory
    test_samples: int | None = 1000
    force: bool = False

    def __post_init__(self) -> None:
        if not self.targets:
            raise EdgeMLError("nothing to bundle: give a run directory or .tflite files")
        if self.test_samples is not None and self.test_samples <= 0:
            raise EdgeMLError(f"--test-samples must be positive, got {self.test_samples}")


def make_bundle(config: BundleConfig) -> Path:
    """Write the bundle folder; it appears whole or not at all (built beside ``out``, then renamed)."""
    from edgeml.benchmark import measured_arena, collect_models, write_samples
    from edgeml.rundir import CONFIG_FILE

    out_dir = _check_bundle_dir(Path(config.out), config.force)
    for target in map(Path, config.targets):
        if target.is_file() and target.suffix in (".keras", ".h5"):
            raise EdgeMLError(
                f"{target} is a Keras model: a bundle holds .tflite models only (the device has no TensorFlow); "
                f"run edgeml quantize first and bundle the run directory"
            )
    model_set = collect_models(config.targets)
    models = [model for model in model_set.models if model.suffix == ".tflite"]
    names = [model.name for model in models]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise EdgeMLError(f"two models are named {', '.join(duplicates)}: bundle one run directory at a time")

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise EdgeMLError(f"cannot write the bundle {out_dir}: {exc.strerror or exc}") from None
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; the bundle is an ordinary folder
        (staging / MODELS_DIR).mkdir()
        entries = []
        for model in models:
            shutil.copyfile(model, staging / MODELS_DIR / model.name)
            content = model.read_bytes()
            entries.append({
                "file": model.name,
                "bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                # TFLM on the device gets the arena measured here (edgeml export's), not a guess.
                "arena_bytes": measured_arena(model),
            })
        samples = write_samples(model_set.record, config.dataset, config.test_samples, staging / SAMPLES_FILE)
        record = model_set.record
        if record is not None:
            shutil.copyfile(record.run_dir / CONFIG_FILE, staging / CONFIG_FILE)
        (staging / "edgeml").mkdir()
        package_dir = Path(edgeml.__file__).resolve().parent
        for module in BUNDLED_MODULES:
            shutil.copyfile(package_dir / module, staging / "edgeml" / module)
        manifest = {
            "edgeml_version": edgeml.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": config.dataset or (record.dataset if record else None),
            "samples": _sample_count(samples),
            "models": entries,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        (staging / RUNNER_FILE).write_text(runner_script(manifest))
        os.chmod(staging / RUNNER_FILE, 0o755)
        (staging / README_FILE).write_text(readme_text(manifest, out_dir.name))
        _move_into_place(staging, out_dir)
    except OSError as exc:  # a full disk or a permission problem: one line, and no partial bundle
        raise EdgeMLError(f"cannot write the bundle {out_dir}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def _check_bundle_dir(out_dir: Path, force: bool) -> Path:
    """A new or empty folder, or (with ``force``) an earlier bundle; never some other folder's contents."""
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeMLError(f"output path exists and is not a directory: {out_dir}")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            raise EdgeMLError(
                f"{out_dir} already exists and is not empty; use --force to replace it or choose another --out"
            )
        if not (out_dir / MANIFEST_FILE).is_file():
            raise EdgeMLError(
                f"{out_dir} is not an edgeml bundle (no {MANIFEST_FILE}): not replacing it even with --force"
            )
    require_writable(out_dir.parent)
    return out_dir


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if out_dir.is_dir() and any(out_dir.iterdir()):
        previous = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.rename(out_dir, previous)
        os.rename(staging, out_dir)
        shutil.rmtree(previous)
    else:
        os.replace(staging, out_dir)  # replaces an empty folder too


def _sample_count(samples: Path) -> int:
    import numpy as np

    with np.load(samples, allow_pickle=False) as data:
        return int(len(data["y"]))


def readme_text(manifest: dict, folder: str) -> str:
    models = "\n".join(f"  {MODELS_DIR}/{entry['file']}  ({entry['bytes']:,} bytes)" for entry in manifest["models"])
    return f"""\
edgeml {manifest['edgeml_version']} device bundle, made {manifest['created']}

Measures these models on {manifest['samples']} test samples ({manifest['dataset']}) with the same runner
as `edgeml benchmark` on the host, one fresh process per model and runtime:
{models}

1. Copy this folder to the device (e.g. scp -r {folder} pi@raspberrypi.local:).

2. On the device, install numpy and a lite runtime (no TensorFlow needed):
     python3 -m venv ~/edgeml-venv
     ~/edgeml-venv/bin/pip install numpy ai-edge-litert
   32-bit Raspberry Pi OS (armv7l) has no ai-edge-litert wheels: use tflite-runtime
   with Python <= 3.11 and "numpy<2" instead. Optional: pip install tflite-micro
   (Python 3.10/3.11) to also time the microcontroller interpreter.

3. Run it (threads change latency a lot on a Pi: say how many):
     ~/edgeml-venv/bin/python run.py --threads 4 --out results.json
   Options: --threads N, --runs N, --warmup N, --batch-size N, --runtime NAME (repeatable;
   default: every installed one of litert, tflite-runtime, tflm), --out FILE.
   A missing runtime stops it with a message and no results file.

4. Bring results.json back and merge it with the host's numbers:
     edgeml benchmark RUN_DIR --import results.json

Or let edgeml do all four steps over SSH: edgeml benchmark RUN_DIR --device ssh://pi@raspberrypi.local
"""


def runner_script(manifest: dict) -> str:
    """``run.py``: a banner naming the tool and the models' hashes, then the fixed runner below."""
    banner = [
        "#!/usr/bin/env python3",
        f"# Generated by edgeml {manifest['edgeml_version']} (edgeml bundle) on {manifest['created']}.",
        "# Models (sha256):",
        *(f"#   {entry['file']}  {entry['sha256']}" for entry in manifest["models"]),
    ]
    return "\n".join(banner) + "\n" + _RUNNER_BODY


# The device side of a bundle. Kept to the standard library, numpy and the bundled modules; it runs on
# whatever Python the device has, so no syntax newer than 3.8 here.
_RUNNER_BODY = '''\
"""Measure every model in this bundle in every lite runtime installed here; write results.json.

    python3 run.py [--threads 4] [--runs 200] [--warmup 20] [--runtime litert] [--out results.json]

Needs python3, numpy and a runtime: ai-edge-litert (64-bit OS), tflite-runtime, or tflite-micro.
Each model is measured in a fresh process by edgeml/bench_runner.py (copied beside this script),
exactly as on the host. Merge the results there: edgeml benchmark RUN_DIR --import results.json
"""

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The edgeml modules beside this script win over any installed edgeml: they are what the host ran.
sys.path.insert(0, str(HERE))

# Runtime name -> module that must import for it; tensorflow is left out on purpose (a device has none).
RUNTIME_MODULES = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "tflm": "tflite_micro",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Measure the bundled models here; write results.json.")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed single-sample invokes (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed invokes first (default 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch for throughput (default 64)")
    parser.add_argument("--runtime", action="append", choices=sorted(RUNTIME_MODULES),
                        help="measure in this runtime only (repeatable; default: every installed one)")
    parser.add_argument("--out", default="results.json", help="results file (default results.json)")
    args = parser.parse_args(argv)
    if args.threads <= 0 or args.runs <= 0 or args.batch_size <= 0 or args.warmup < 0:
        return fail("--threads, --runs and --batch-size must be positive and --warmup not negative")
    try:
        import numpy  # noqa: F401  (the runner needs it; say so before anything else fails on it)
    except ImportError:
        return fail("numpy is not installed for " + sys.executable + ": pip install numpy")
    from edgeml.bench_runner import MeasureConfig, device_info, measure_in_subprocess
    from edgeml.errors import EdgeMLError

    manifest = json.loads((HERE / "bundle.json").read_text())
    installed, problems = installed_runtimes()
    if not installed:
        return fail(no_runtime_message(problems))
    runtimes = args.runtime or installed
    missing = [runtime for runtime in runtimes if runtime not in installed]
    if missing:
        return fail("runtime " + ", ".join(missing) + " is not installed for " + sys.executable
                    + " (installed: " + ", ".join(installed) + ")" + describe(problems, missing))

    pairs = [(entry, runtime) for entry in manifest["models"] for runtime in runtimes]
    rows, skipped = [], []
    for index, (entry, runtime) in enumerate(pairs, start=1):
        print("[%d/%d] %s on %s" % (index, len(pairs), entry["file"], runtime), file=sys.stderr, flush=True)
        config = MeasureConfig(
            model=str(HERE / "models" / entry["file"]), samples=str(HERE / "samples.npz"), runtime=runtime,
            threads=args.threads, warmup=args.warmup, runs=args.runs, batch_size=args.batch_size,
            arena_bytes=entry.get("arena_bytes") if runtime == "tflm" else None,
        )
        try:
            row = measure_in_subprocess(config, python=sys.executable)
        except EdgeMLError as exc:
            skipped.append(str(exc))
            print("  skipped: %s" % exc, file=sys.stderr, flush=True)
            continue
        print("  p50 %.1f us, accuracy %.4f" % (row["latency_us"]["p50"], row["accuracy"]), file=sys.stderr, flush=True)
        rows.append(row)
    if not rows:
        return fail("no measurement succeeded: " + "; ".join(skipped))

    device = device_info()
    results = {
        "device": device,
        "bundle": {"edgeml_version": manifest["edgeml_version"], "created": manifest["created"]},
        "rows": rows,
        "skipped": skipped,
    }
    out = Path(args.out)
    write_atomically(out, json.dumps(results, indent=2) + "\\n")
    print("wrote %s: %d measurements on %s (%s)" % (out, len(rows), device["cpu"], device["os"]))
    return 0


def installed_runtimes():
    """The runtimes that really import here (a wheel can be present and still fail, e.g. on numpy 2)."""
    installed, problems = [], {}
    for runtime, module in RUNTIME_MODULES.items():
        try:
            importlib.import_module(module)
        except Exception as exc:  # an ImportError, or whatever a broken binary wheel raises
            problems[runtime] = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        else:
            installed.append(runtime)
    return installed, problems


def no_runtime_message(problems):
    if platform.machine() in ("armv7l", "armv6l"):
        advice = ("LiteRT has no wheels for 32-bit ARM (" + platform.machine() + "): install a 64-bit OS, "
                  "or pip install tflite-runtime with Python <= 3.11 and numpy<2")
    else:
        advice = "pip install ai-edge-litert (or tflite-runtime, or tflite-micro)"
    return ("no lite runtime is installed for " + sys.executable + " (none of ai_edge_litert, tflite_runtime, "
            "tflite_micro imports): " + advice + describe(problems, list(problems)))


def describe(problems, runtimes):
    """Import errors other than plain absence: those are the broken installs worth showing."""
    broken = ["%s: %s" % (r, problems[r]) for r in runtimes
              if r in problems and not problems[r].startswith("ModuleNotFoundError")]
    return "; import failed for " + "; ".join(broken) if broken else ""


def write_atomically(path, text):
    """The results file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, str(path))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fail(message):
    print("error: " + message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(fail("interrupted: no results written"))
'''
