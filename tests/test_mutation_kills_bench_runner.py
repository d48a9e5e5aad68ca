"""bench_runner's batch-timing count and failure reason (edgeml/bench_runner.py): the survivors left by
tests/test_mutation_kills_benchmark.py, killed with its fake model and scripted clock. See docs/MUTATION.md."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from edgeml import bench_runner
from edgeml.errors import EdgeMLError
from test_mutation_kills_benchmark import FakeModel, ScriptedClock, fake_python, measure_fake


@pytest.mark.parametrize("runs, timings", [(150, 15), (250, 20), (29, 3)])
def test_batch_timings_are_a_tenth_of_the_runs_between_3_and_20(monkeypatch, tmp_path, runs, timings):
    fake = FakeModel()
    result = measure_fake(monkeypatch, tmp_path, fake, [5.0] * runs, batch_size=2)
    # first invoke + timed runs + the batch's allocating invoke + the batch timings
    assert fake.invokes == 1 + runs + 1 + timings
    assert result.throughput_per_s == 4.0  # every timing 0.5 s for 2 samples: the median of equal timings


@pytest.mark.parametrize("runs, timings", [(150, 15), (250, 20)])
def test_sample_by_sample_batches_are_timed_as_often(monkeypatch, tmp_path, runs, timings):
    fake = FakeModel()
    fake.supports_batch = False
    measure_fake(monkeypatch, tmp_path, fake, [5.0] * runs, batch_size=3)
    assert fake.invokes == 1 + runs + 3 * timings


def test_the_last_error_line_is_the_reason(tmp_path):
    python = fake_python(tmp_path, "echo 'error: first' >&2\necho 'error: second' >&2\necho 'error: third' >&2\n"
                                   "echo 'Traceback' >&2\nexit 1\n")
    with pytest.raises(EdgeMLError) as error:
        bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="m.tflite", samples="s"), python=python)
    assert str(error.value) == "measuring m.tflite in litert failed: third"


# ------------------------------------------------------------------------- what the machine says about itself


def fake_proc(monkeypatch, tmp_path, **files: str | None) -> None:
    """bench_runner's ``Path("/proc/...")`` reads these texts instead (None: the file cannot be read)."""
    real_path = type(tmp_path)
    mapping = {}
    for name, text in files.items():
        proc_name = "/proc/" + name.replace("__", "/")
        mapping[proc_name] = tmp_path / name
        if text is not None:
            (tmp_path / name).write_text(text)
    monkeypatch.setattr(bench_runner, "Path", lambda name: real_path(mapping.get(str(name), name)))


PI_4_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid

Revision\t: c03114
Serial\t\t: 10000000a1b2c3d4
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


@pytest.mark.parametrize("cpuinfo, cpu", [
    ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"),
    (PI_4_CPUINFO, "Raspberry Pi 4 Model B Rev 1.4"),  # 64-bit Pi OS: no "model name" line
    ("Hardware\t: BCM2835\nRevision\t: a02082\n", "BCM2835"),
    ("model name\t:\nHardware\t: BCM2835\n", "BCM2835"),  # an empty value is skipped
    ("Hardware\t: Board: rev 2\n", "Board: rev 2"),  # a colon in the value is kept
])
def test_the_cpu_is_the_first_named_line_of_cpuinfo(monkeypatch, tmp_path, cpuinfo, cpu):
    fake_proc(monkeypatch, tmp_path, cpuinfo=cpuinfo)
    assert bench_runner.device_info()["cpu"] == cpu


def test_without_cpuinfo_the_cpu_is_what_platform_says(monkeypatch, tmp_path):
    fake_proc(monkeypatch, tmp_path, cpuinfo=None)
    monkeypatch.setattr(bench_runner.platform, "processor", lambda: "arm")
    assert bench_runner.device_info()["cpu"] == "arm"
    monkeypatch.setattr(bench_runner.platform, "processor", lambda: "")  # Linux often answers ""
    monkeypatch.setattr(bench_runner.platform, "machine", lambda: "aarch64")
    info = bench_runner.device_info()
    assert (info["cpu"], info["machine"]) == ("aarch64", "aarch64")


@pytest.mark.parametrize("status, expected", [
    ("Name:\tpython\nVmPeak:\t  900 kB\nVmHWM:\t    1234 kB\nVmRSS:\t  1000 kB\n", 1234 * 1024),
    ("Name:\tpython\nVmRSS:\t  1000 kB\n", 77 * 1024),  # no VmHWM line: ru_maxrss (KiB on Linux)
    ("VmHWM:\t  many kB\n", 77 * 1024),  # unreadable number
    ("VmHWM:\n", 77 * 1024),  # no number
    (None, 77 * 1024),  # no /proc
])
def test_peak_rss_is_vmhwm_or_ru_maxrss(monkeypatch, tmp_path, status, expected):
    fake_proc(monkeypatch, tmp_path, self__status=status)
    monkeypatch.setattr(bench_runner.resource, "getrusage",
                        lambda who: SimpleNamespace(ru_maxrss=77 if who == bench_runner.resource.RUSAGE_SELF else 0))
    assert bench_runner._peak_rss_bytes() == expected


def test_ru_maxrss_is_bytes_on_macos(monkeypatch, tmp_path):
    fake_proc(monkeypatch, tmp_path, self__status=None)
    monkeypatch.setattr(bench_runner.resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=77))
    monkeypatch.setattr(bench_runner.sys, "platform", "darwin")
    assert bench_runner._peak_rss_bytes() == 77


@pytest.mark.parametrize("statm, expected", [("2500 300 40 1 0 200 0\n", 300 * 4096), ("2500\n", None),
                                             ("2500 many\n", None), (None, None)])
def test_current_rss_is_resident_pages_of_statm(monkeypatch, tmp_path, statm, expected):
    fake_proc(monkeypatch, tmp_path, self__statm=statm)
    monkeypatch.setattr(bench_runner.os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else 0)
    assert bench_runner._current_rss_bytes() == expected


# ------------------------------------------------------------------------------------------ what is timed


def test_timed_runs_cycle_through_the_first_64_samples(monkeypatch, tmp_path):
    fake = FakeModel()
    samples = tmp_path / "samples.npz"
    x = np.stack([np.arange(66, dtype=np.float32), np.zeros(66, np.float32)], axis=1)  # sample i: (i, 0)
    np.savez(samples, x=x, y=(x[:, 0] > 0).astype(np.int64))
    (tmp_path / "m.tflite").write_bytes(b"12345")
    monkeypatch.setattr(bench_runner, "open_model", lambda path, runtime, threads, arena_bytes: fake)
    monkeypatch.setattr(bench_runner, "time", ScriptedClock([5.0] * 66))
    result = bench_runner.measure(bench_runner.MeasureConfig(model=str(tmp_path / "m.tflite"), samples=str(samples),
                                                             warmup=0, runs=66, batch_size=100))
    timed = [int(raw[0, 0]) for raw in fake.inputs[1:67]]  # after the first invoke; scale 0.5, zero point 1: 2i + 1
    assert timed == [2 * (i % 64) + 1 for i in range(66)]
    assert (result.accuracy, result.samples, result.throughput_per_s) == (1.0, 66, None)


def test_timed_runs_follow_the_warm_up_from_sample_0(monkeypatch, tmp_path):
    fake = FakeModel()
    measure_fake(monkeypatch, tmp_path, fake, [5.0] * 4, batch_size=8)  # samples 1.0, -1.0, 2.0
    assert [raw.tolist() for raw in fake.inputs] == [[[3, 1]], [[3, 1]], [[-1, 1]], [[5, 1]], [[3, 1]]]


def test_an_arena_is_reported_only_for_tflm_and_static_memory_only_for_the_c_engine(monkeypatch, tmp_path):
    fake = FakeModel()
    lite = measure_fake(monkeypatch, tmp_path, fake, [5.0], arena_bytes=4432)  # litert ignores it
    assert (lite.arena_bytes, lite.arena_not_measured) == (None, None)
    assert (lite.static_ram_bytes, lite.engine_arena_bytes, lite.flash_bytes, lite.flash_not_measured) == (None,) * 4
    fake.static_memory = SimpleNamespace(ram_bytes=3000, arena_bytes=2048, flash_bytes=None,
                                         flash_not_measured="no arm-none-eabi-gcc")
    c = measure_fake(monkeypatch, tmp_path, fake, [5.0], runtime="c")
    assert (c.static_ram_bytes, c.engine_arena_bytes, c.flash_bytes, c.flash_not_measured) == (
        3000, 2048, None, "no arm-none-eabi-gcc")
    assert (c.arena_bytes, c.arena_not_measured) == (None, None)


def test_the_default_time_limit_is_30_minutes(monkeypatch):
    limits = []

    def run(command, **options):
        limits.append(options["timeout"])
        raise subprocess.TimeoutExpired(command, options["timeout"])

    monkeypatch.setattr(bench_runner.subprocess, "run", run)
    with pytest.raises(EdgeMLError) as error:
        bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="dir/m.tflite", samples="s"))
    assert (limits, str(error.value)) == ([1800], "measuring m.tflite in litert took over 1800 s")
