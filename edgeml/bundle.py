"""A folder to copy to a Raspberry Pi: the .tflite models, test samples, the runner and a ``run.py`` to start it.

The device needs python3, numpy and one lite runtime, nothing else. The bundle carries its own copy of the
runner (:mod:`edgeml.pi_runner`) and the edgeml modules it imports, so a number from the device was
measured by the same code as one from the host, whatever edgeml (if any) is installed there. ``run.py``
writes ``results.json`` with the host's row schema, which ``edgeml benchmark --import`` merges.
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
from edgeml.rundir import CONFIG_FILE
from edgeml.targets.model_set import KERAS_SUFFIXES, collect_models, measured_arena, write_samples

from edgeml.pi_runner import (  # noqa: F401  (the bundle's file names, spelled once, beside their reader)
    BUNDLED_MODULES,
    MANIFEST_FILE,
    MODELS_DIR,
    README_FILE,
    RESULTS_FILE,
    RUNNER_FILE,
    SAMPLES_FILE,
    device_runtimes,
    run_script,
)


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
    out_dir = _check_bundle_dir(Path(config.out), config.force)
    for target in map(Path, config.targets):
        if target.is_file() and target.suffix in KERAS_SUFFIXES:
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
   default: every installed one of {", ".join(device_runtimes())}), --out FILE.
   A missing runtime stops it with a message and no results file.

4. Bring results.json back and merge it with the host's numbers:
     edgeml benchmark RUN_DIR --import results.json

Or let edgeml do all four steps over SSH: edgeml benchmark RUN_DIR --device ssh://pi@raspberrypi.local
"""


def runner_script(manifest: dict) -> str:
    """``run.py``: a banner naming the tool and the models' hashes, then the launcher of
    :mod:`edgeml.pi_runner` (bundled beside it)."""
    return run_script([
        f"# Generated by edgeml {manifest['edgeml_version']} (edgeml bundle) on {manifest['created']}.",
        "# Models (sha256):",
        *(f"#   {entry['file']}  {entry['sha256']}" for entry in manifest["models"]),
    ])
