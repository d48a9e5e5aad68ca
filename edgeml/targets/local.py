"""``local``: this machine. Each (model, runtime) pair is measured by :mod:`edgeml.bench_runner` in a
process of its own; the C engine's models also get the four-way parity."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeml.artifact_json import JsonObject
from edgeml.bench_runner import MeasureConfig, measure_in_subprocess
from edgeml.errors import EdgeMLError
from edgeml.measurement import Measurement, ModelParity
from edgeml.progress import show_progress
from edgeml.runtime import LITE_RUNTIMES, RUNTIMES, available_runtimes, runtime_spec
from edgeml.targets.base import BenchmarkSettings, MeasureJob, Target, TargetOutcome
from edgeml.targets.model_set import KERAS_SUFFIXES, check_tflm_can_run, measure_tflm_arena, write_samples

SAMPLES_FILE = "samples.npz"


@dataclass(frozen=True)
class LocalOptions:
    """``runtimes``: registered runtime names, ``all`` (every one installed here) or ``auto`` (the first
    installed lite runtime); the rest is :class:`~edgeml.bench_runner.MeasureConfig`'s."""

    runtimes: tuple[str, ...] = ("all",)
    threads: int = MeasureConfig.threads
    runs: int = MeasureConfig.runs
    warmup: int = MeasureConfig.warmup
    batch_size: int = MeasureConfig.batch_size

    def __post_init__(self) -> None:
        for runtime in self.runtimes:
            if runtime not in (*RUNTIMES, "all"):
                raise EdgeMLError(f"unknown runtime {runtime!r}: choose from all, {', '.join(RUNTIMES)}")
        if self.runs <= 0 or self.warmup < 0 or self.batch_size <= 0 or self.threads <= 0:
            raise EdgeMLError("--runs, --batch-size and --threads must be positive and --warmup not negative")


def plan(models: Sequence[Path], runtimes: Sequence[str]) -> list[tuple[Path, str]]:
    """(model, runtime) pairs: Keras models run in Keras, .tflite files in each requested runtime.

    ``all`` is every runtime installed here; ``auto`` the first installed lite runtime.
    """
    installed = available_runtimes()
    resolved: list[str] = []
    for runtime in runtimes:
        if runtime == "all":
            chosen = installed
        elif runtime == "auto":
            chosen = [r for r in LITE_RUNTIMES if r in installed][:1]
            if not chosen:
                raise EdgeMLError("no lite runtime is installed: pip install ai-edge-litert")
        elif runtime in installed:
            chosen = [runtime]
        else:
            raise EdgeMLError(f"runtime {runtime} is not installed here")
        resolved += [r for r in chosen if r not in resolved]
    pairs = []
    for model in models:
        if model.suffix in KERAS_SUFFIXES:
            pairs.append((model, "keras"))
        else:
            pairs += [(model, runtime) for runtime in resolved]
    return pairs


class LocalTarget(Target):
    scheme = "local"
    forms = ("local",)

    def __init__(self, device: str, options: LocalOptions = LocalOptions()) -> None:
        super().__init__(device)
        self.options = options
        self._scratch: Path | None = None
        self._pairs: list[tuple[Path, str]] = []
        self._models: tuple[Path, ...] = ()

    @classmethod
    def accepts(cls, device: str) -> bool:
        return device == cls.scheme

    @classmethod
    def from_settings(cls, device: str, settings: BenchmarkSettings) -> LocalTarget:
        return cls(device, LocalOptions(tuple(settings.runtimes), settings.threads, settings.runs, settings.warmup,
                                        settings.batch_size))

    def prepare(self, job: MeasureJob) -> None:
        self._models = job.models
        self._pairs = plan(job.models, self.options.runtimes)
        self._scratch = Path(tempfile.mkdtemp(prefix="edgeml-bench-"))
        write_samples(job.record, job.dataset, job.test_samples, self._scratch / SAMPLES_FILE)

    def run(self) -> TargetOutcome:
        samples = self._scratch / SAMPLES_FILE
        rows: list[Measurement] = []
        skipped: list[str] = []
        for index, (model, runtime) in enumerate(self._pairs):
            show_progress(index, len(self._pairs), f"{model.name} on {runtime}")
            row = self._measure(model, runtime, samples, skipped)
            if row is not None:
                rows.append(row)
        show_progress(len(self._pairs), len(self._pairs), "done")
        compiled = [row for row in rows if runtime_spec(row.runtime).static_memory]  # the C engine's
        parity = four_way_parities(compiled, self._models, samples, skipped)
        return TargetOutcome(tuple(rows), tuple(skipped), tuple(parity))

    def _measure(self, model: Path, runtime: str, samples: Path, skipped: list[str]) -> Measurement | None:
        """One pair's row, or None with the reason appended to ``skipped``."""
        spec = runtime_spec(runtime)
        try:
            if spec.cannot_run and (why := spec.cannot_run(model.read_bytes())):  # a float32 model in the C engine
                skipped.append(f"{model.name} on {runtime}: {why}")
                return None
            if spec.measures_arena:
                check_tflm_can_run(model)
            arena = measure_tflm_arena(model) if spec.measures_arena else None
            options = self.options
            row = measure_in_subprocess(MeasureConfig(
                model=str(model), samples=str(samples), runtime=runtime, threads=options.threads,
                warmup=options.warmup, runs=options.runs, batch_size=options.batch_size,
                arena_bytes=arena.arena_bytes if arena else None,
            ))
        except EdgeMLError as exc:
            skipped.append(str(exc))
            return None
        why_no_arena = arena.not_measured if arena is not None and arena.not_measured else row.arena_not_measured
        return replace(row, target="host", arena_not_measured=why_no_arena)

    def clean_up(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def four_way_parities(c_rows: Sequence[Measurement], models: Sequence[Path], samples: Path,
                      skipped: list[str]) -> list[ModelParity]:
    """For each model the C engine ran: the C engine, TFLM, LiteRT BUILTIN_REF and LiteRT default on the
    benchmark's samples (:func:`firmware_export.cengine.exactness.four_way_parity`); a runtime that cannot
    run the model makes its reason a line of ``skipped``."""
    from edgeml.runtime import open_model
    from firmware_export.cengine.exactness import four_way_parity

    with np.load(samples, allow_pickle=False) as data:
        inputs = data["x"].astype(np.float32)
    results = []
    runtime_of = {row.model: row.runtime for row in c_rows}
    for model in (m for m in models if m.name in runtime_of):
        show_progress(0, 1, f"{model.name}: parity of four runtimes")
        try:
            quantized = open_model(model, runtime_of[model.name]).input_quantization.quantize(inputs)
            parity = four_way_parity(model.read_bytes(), quantized, f"{len(inputs)} benchmark samples")
        except EdgeMLError as exc:
            skipped.append(f"parity of {model.name}: {exc}")
            continue
        results.append(ModelParity.from_json(JsonObject({"model": model.name, **parity.to_json()},
                                                        Path(f"the parity of {model.name}"))))
    return results
