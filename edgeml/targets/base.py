"""The shape of a benchmark target: prepare, deploy, run, clean up (after TVM's project API:
``python/tvm/micro/project_api/server.py``, generate/build/flash/open/close), its options in its own dataclass.

A target measures a :class:`MeasureJob` (model files, the run they belong to, the test set) and returns a
:class:`TargetOutcome` of :class:`~edgeml.measurement.Measurement` rows. :meth:`Target.measure` runs the four steps in order and always
cleans up, whatever failed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from edgeml.measurement import Measurement, ModelParity
from edgeml.rundir import RunRecord


@dataclass(frozen=True)
class MeasureJob:
    """What to measure: ``models`` (from :func:`edgeml.targets.model_set.collect_models`), the run whose test
    set they are measured on (None: ``dataset``'s), and how many test samples (None: the run's)."""

    models: tuple[Path, ...]
    record: RunRecord | None
    dataset: str | None = None
    test_samples: int | None = None


@dataclass(frozen=True)
class TargetOutcome:
    """The measured rows (timed by :mod:`edgeml.bench_runner`, or counted by :mod:`edgeml.qemu_target`), the
    reasons of what was not measured, and the four-way parities of the C engine's models (host only)."""

    rows: tuple[Measurement, ...]
    skipped: tuple[str, ...] = ()
    parity: tuple[ModelParity, ...] = ()


class BenchmarkSettings(Protocol):
    """The flat benchmark options (:class:`edgeml.benchmark.BenchmarkOptions`) a target takes its own from."""

    runtimes: tuple[str, ...]
    threads: int
    runs: int
    warmup: int
    batch_size: int
    test_samples: int | None
    device_python: str
    identity: str | None
    known_hosts: str | None
    host_key_checking: str
    ssh_timeout_s: float
    ssh_config: str | None


class Target(ABC):
    """One place to measure. ``scheme`` is how a ``--device`` value names it (``local``, ``ssh://``,
    ``qemu:``); ``forms`` the values to show in an error. Subclasses take ``(device, options)``."""

    scheme: ClassVar[str]
    forms: ClassVar[tuple[str, ...]]
    #: measured before the others, so that an unreachable device fails before the host spends minutes
    remote: ClassVar[bool] = False
    #: the only runtimes it measures in (the C engine on a microcontroller); empty: those asked for
    only_runtimes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: str) -> None:
        self.device = device

    @classmethod
    def accepts(cls, device: str) -> bool:
        return device.startswith(cls.scheme)

    @classmethod
    @abstractmethod
    def from_settings(cls, device: str, settings: BenchmarkSettings) -> Target:
        """The target of ``device`` with its options taken from the flat benchmark options; EdgeMLError for a
        bad address, board or option."""

    @abstractmethod
    def prepare(self, job: MeasureJob) -> None:
        """Build what runs there (a bundle, a firmware image, the samples file) in a scratch folder."""

    def deploy(self) -> None:
        """Copy what :meth:`prepare` built to the device (nothing to do where it runs in place)."""

    @abstractmethod
    def run(self) -> TargetOutcome:
        """Measure what was deployed."""

    def clean_up(self) -> None:
        """Remove what :meth:`prepare` and :meth:`deploy` left (scratch folders, the remote copy)."""

    def measure(self, job: MeasureJob) -> TargetOutcome:
        """prepare, deploy, run; clean up whatever happened."""
        try:
            self.prepare(job)
            self.deploy()
            return self.run()
        finally:
            self.clean_up()
