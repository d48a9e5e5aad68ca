"""``ssh://[user@]host[:port]``: a Raspberry Pi (or any Linux box with python3, numpy and a lite runtime).

prepare: a bundle of the .tflite models (:mod:`edgeml.bundle`) in a scratch folder; deploy: copied over
SSH; run: its ``run.py`` with the device's python, rows fetched; clean up: the remote folder and the
scratch folder removed. The transport is :mod:`edgeml.device`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgeml.device import (
    DeviceTarget, RunnerOptions, SshOptions, parse_target, remove_uploaded, run_uploaded, upload_bundle,
)
from edgeml.errors import EdgeMLError
from edgeml.runtime import runtime_spec
from edgeml.targets.base import BenchmarkSettings, MeasureJob, Target, TargetOutcome


@dataclass(frozen=True)
class SshTargetOptions:
    """How to reach the device (:class:`~edgeml.device.SshOptions`), what ``run.py`` measures there
    (:class:`~edgeml.device.RunnerOptions`), and where to keep the device's raw ``results.json`` (for a
    later ``--import``; None: not kept)."""

    ssh: SshOptions = field(default_factory=SshOptions)
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    results_path: str | None = None


class SshTarget(Target):
    scheme = "ssh://"
    forms = ("ssh://user@host[:port]",)
    remote = True

    def __init__(self, device: str, options: SshTargetOptions = SshTargetOptions()) -> None:
        super().__init__(device)
        self.address: DeviceTarget = parse_target(device)
        self.options = options
        self._scratch: Path | None = None
        self._bundle: Path | None = None
        self._remote_dir: str | None = None

    @classmethod
    def from_settings(cls, device: str, settings: BenchmarkSettings) -> SshTarget:
        ssh = SshOptions(
            identity_file=settings.identity, device_python=settings.device_python,
            known_hosts_file=settings.known_hosts, host_key_checking=settings.host_key_checking,
            connect_timeout_s=settings.ssh_timeout_s, config_file=settings.ssh_config,
        )
        # "all" and "auto" mean every runtime installed on the device: run.py's default.
        runtimes = () if {"auto", "all"} & set(settings.runtimes) else tuple(
            runtime for runtime in settings.runtimes if runtime_spec(runtime).on_device)
        runner = RunnerOptions(settings.threads, settings.runs, settings.warmup, settings.batch_size, runtimes)
        return cls(device, SshTargetOptions(ssh, runner))

    def prepare(self, job: MeasureJob) -> None:
        from edgeml.bundle import BundleConfig, make_bundle

        lite_models = tuple(str(model) for model in job.models if model.suffix == ".tflite")
        if not lite_models:  # Keras models stay on the host: the device has no TensorFlow
            raise EdgeMLError("no .tflite models to run on the device: give a quantized run directory or .tflite files")
        self._scratch = Path(tempfile.mkdtemp(prefix="edgeml-device-bundle-"))
        self._bundle = make_bundle(BundleConfig(lite_models, out=str(self._scratch / "bundle"), dataset=job.dataset,
                                                test_samples=job.test_samples))

    def deploy(self) -> None:
        self._remote_dir = upload_bundle(self.address, self._bundle, self.options.ssh)

    def run(self) -> TargetOutcome:
        options = self.options
        return TargetOutcome(tuple(run_uploaded(self.address, self._remote_dir, options.ssh, options.runner,
                                                options.results_path)))

    def clean_up(self) -> None:
        if self._remote_dir is not None:
            remove_uploaded(self.address, self.options.ssh, self._remote_dir)
            self._remote_dir = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
