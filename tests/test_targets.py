"""The benchmark targets (edgeml.targets): the registry's choice by --device scheme and its errors, the
prepare/deploy/run/clean-up order, and the qemu row that says what to install when the Arm tools are missing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeml.benchmark import BenchmarkConfig, BenchmarkOptions, run_benchmark
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.measurement import Measurement
from edgeml.targets.base import MeasureJob, Target, TargetOutcome
from edgeml.targets.local import LocalOptions, LocalTarget
from edgeml.targets.qemu import QemuTarget
from edgeml.targets.registry import devices_to_measure, open_target
from edgeml.targets.ssh import SshTarget

VALID = "local, ssh://user@host[:port], qemu:cortex-m0, qemu:cortex-m3, qemu:cortex-m4, qemu:cortex-m7"
INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


def test_the_scheme_picks_the_target_with_its_own_options():
    settings = BenchmarkOptions(runtimes=("litert",), threads=3, runs=7, warmup=1, batch_size=8, test_samples=40,
                                device_python="/opt/py -X utf8", ssh_timeout_s=4.0)
    local = open_target("local", settings)
    assert type(local) is LocalTarget and local.options == LocalOptions(("litert",), 3, 7, 1, 8)
    ssh = open_target("ssh://pi@raspberrypi.local:2222", settings)
    assert type(ssh) is SshTarget and (ssh.address.user, ssh.address.host, ssh.address.port) == (
        "pi", "raspberrypi.local", 2222)
    assert ssh.options.ssh.device_python == "/opt/py -X utf8" and ssh.options.ssh.connect_timeout_s == 4.0
    assert ssh.options.runner.arguments() == ["--threads", "3", "--runs", "7", "--warmup", "1", "--batch-size", "8",
                                              "--runtime", "litert"]
    qemu = open_target("qemu:cortex-m7", settings)
    assert type(qemu) is QemuTarget and qemu.board.machine == "mps2-an500" and qemu.options.max_samples == 40


@pytest.mark.parametrize("device, message", [
    ("pi@raspberrypi.local", f"unknown device 'pi@raspberrypi.local': choose one of {VALID}"),
    ("tcp://board", f"unknown device 'tcp://board': choose one of {VALID}"),
    ("locally", f"unknown device 'locally': choose one of {VALID}"),
    ("qemu:cortex-m33", "unknown emulated device 'qemu:cortex-m33': choose one of qemu:cortex-m0, qemu:cortex-m3, "
                        "qemu:cortex-m4, qemu:cortex-m7"),
    ("ssh://pi@host:99999", "bad port in device address 'ssh://pi@host:99999': PORT must be 1-65535"),
])
def test_a_bad_device_is_one_error_naming_the_valid_ones(device, message):
    with pytest.raises(EdgeMLError) as error:
        BenchmarkOptions(device=(device,))
    assert str(error.value) == message


def test_the_cli_refuses_a_bad_device_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["benchmark", str(tmp_path), "--device", "local", "--device", "usb:stick"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: unknown device 'usb:stick': choose one of {VALID}"]


def test_remote_devices_go_first_and_bring_the_host_along():
    assert devices_to_measure(["local"]) == ("local",)
    assert devices_to_measure(["qemu:cortex-m4", "local", "qemu:cortex-m4"]) == ("qemu:cortex-m4", "local")
    assert devices_to_measure(["qemu:cortex-m3", "ssh://pi@a"]) == ("ssh://pi@a", "qemu:cortex-m3", "local")
    assert devices_to_measure(["local", "ssh://pi@a", "ssh://pi@b"]) == ("ssh://pi@a", "ssh://pi@b", "local")
    assert BenchmarkOptions(device="qemu:cortex-m0").device == ("qemu:cortex-m0",)  # one string is one device


def test_a_qemu_only_benchmark_takes_the_c_engine_only_but_beside_local_the_runtimes_are_the_hosts():
    with pytest.raises(EdgeMLError, match="^qemu:cortex-m4 runs edgeml's C engine only: drop --runtime or use "
                                          "--runtime c$"):
        BenchmarkOptions(device=("qemu:cortex-m4",), runtimes=("litert",))
    assert BenchmarkOptions(device=("local", "qemu:cortex-m4"), runtimes=("litert",)).devices() == (
        "local", "qemu:cortex-m4")


class Recording(Target):
    """Records the steps it is asked to take; fails in the step named ``fail_in``."""

    scheme = "recording:"
    forms = ("recording:",)

    def __init__(self, fail_in: str | None = None) -> None:
        super().__init__("recording:")
        self.fail_in = fail_in
        self.steps: list[str] = []

    @classmethod
    def from_settings(cls, device, settings):
        return cls()

    def _step(self, name: str) -> None:
        self.steps.append(name)
        if name == self.fail_in:
            raise EdgeMLError(f"{name} failed")

    def prepare(self, job):
        self._step("prepare")

    def deploy(self):
        self._step("deploy")

    def run(self):
        self._step("run")
        return TargetOutcome((Measurement("m", "litert", "host"),))

    def clean_up(self):
        self.steps.append("clean_up")


@pytest.mark.parametrize("fail_in", [None, "prepare", "deploy", "run"])
def test_measure_takes_the_steps_in_order_and_always_cleans_up(fail_in):
    target = Recording(fail_in)
    job = MeasureJob((Path("m.tflite"),), None)
    if fail_in is None:
        assert target.measure(job).rows == (Measurement("m", "litert", "host"),)
    else:
        with pytest.raises(EdgeMLError, match=f"{fail_in} failed"):
            target.measure(job)
    steps = ["prepare", "deploy", "run"]
    taken = steps if fail_in is None else steps[:steps.index(fail_in) + 1]
    assert target.steps == taken + ["clean_up"]


@pytest.fixture
def no_arm_tools(monkeypatch):
    """PATH holds only this Python's folder: no arm-none-eabi-*, no QEMU."""
    assert all(not (Path(sys.executable).parent / tool).exists()
               for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"))
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    return os.environ["PATH"]


def test_missing_arm_tools_make_a_not_measured_qemu_row_beside_the_measured_host(tiny_run, tmp_path, no_arm_tools):
    out = tmp_path / "bench"
    report = run_benchmark(BenchmarkConfig(
        targets=(str(tiny_run / "model_float32.tflite"), str(tiny_run / "model_int8.tflite")), runtimes=("litert",), runs=5, warmup=1, test_samples=50, out=str(out),
        device=("local", "qemu:cortex-m4"),
    ))
    reason = f"arm-none-eabi-gcc, arm-none-eabi-size, qemu-system-arm not found ({INSTALL})"
    saved = json.loads((out / "benchmark.json").read_text())
    qemu_rows = [row for row in saved["rows"] if row["source"] == "qemu:cortex-m4"]
    assert qemu_rows == [{  # (the measurements it does not have are left out, as of every row)
        "model": model, "runtime": "c", "source": "qemu:cortex-m4", "device": "qemu:cortex-m4",
        "machine": "mps2-an386", "samples": 0, "not_measured": reason,
    } for model in ("model_float32.tflite", "model_int8.tflite")]  # issue 15: the float32 model runs there too
    assert [row for row in report.rows if row.emulated] == [Measurement(
        model, "c", "qemu:cortex-m4", device="qemu:cortex-m4", board="mps2-an386", samples=0,
        not_measured=reason, predictions=()) for model in ("model_float32.tflite", "model_int8.tflite")]
    host_rows = [row for row in saved["rows"] if row["source"] == "host"]
    assert [(row["model"], row["runtime"]) for row in host_rows] == [
        ("model_float32.tflite", "litert"), ("model_int8.tflite", "litert")]
    assert all(row["latency_us"]["p50"] > 0 and row["runs"] == 5 for row in host_rows)
    assert not report.skipped  # the C engine compiles the float32 model too (issue 15)
    markdown = (out / "benchmark.md").read_text()
    assert f"| qemu:cortex-m4 | mps2-an386 | model_int8.tflite | not measured: {reason} | | | | | |" in markdown
    assert {path.name for path in out.iterdir()} == {"benchmark.json", "benchmark.md", "latency.png"}


def test_missing_arm_tools_in_the_cli_print_the_row_and_on_qemu_alone_are_the_error(tiny_run, tmp_path, no_arm_tools):
    reason = f"arm-none-eabi-gcc, arm-none-eabi-size, qemu-system-arm not found ({INSTALL})"
    both = CliRunner().invoke(cli, ["benchmark", str(tiny_run / "model_int8.tflite"), "--runtime", "litert",
                                    "--runs", "5", "--warmup", "1", "--test-samples", "30", "--device", "local",
                                    "--device", "qemu:cortex-m3", "--out", str(tmp_path / "both")])
    assert both.exit_code == 0, both.output
    (qemu_line,) = [line for line in both.output.splitlines() if line.startswith("qemu:cortex-m3 ")]
    assert qemu_line.split()[:2] == ["qemu:cortex-m3", "model_int8.tflite"]  # the device and model cells, then
    assert qemu_line.endswith(f"model_int8.tflite not measured: {reason}")  # why, in place of the numbers
    assert any(line.split()[:3] == ["host", "model_int8.tflite", "litert"] for line in both.output.splitlines())
    alone = CliRunner().invoke(cli, ["benchmark", str(tiny_run / "model_int8.tflite"), "--device", "qemu:cortex-m3",
                                     "--out", str(tmp_path / "alone")])
    assert alone.exit_code == 1
    assert alone.output.strip().splitlines()[-1] == (
        f"error: no measurement succeeded: model_int8.tflite on qemu:cortex-m3: {reason}")
    assert not (tmp_path / "alone").exists()
