"""The benchmark's statistics and tables (edgeml/benchmark.py and bench_runner.measure, main's versions)
on hand-made rows and a scripted clock: agreement with the float model, int8/float32 latency ratios,
percentiles, the arena cell and the table text, each worked out by hand or by numpy. Kills mutmut's
survivors; see docs/MUTATION.md."""

from __future__ import annotations

import json

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgeml import bench_runner, benchmark
from edgeml.artifact_json import JsonObject
from edgeml.benchmark import BenchmarkReport, LatencyRatio, TflmArena, add_agreement, arena_cell, latency_ratios
from edgeml.errors import EdgeMLError
from edgeml.measurement import SCHEMA_VERSION, HostInfo, Latency, Measurement, ModelParity, read_measurements
from edgeml.runtime import TensorQuantization, runtime_spec


def row(model: str, runtime: str, predictions=None, source: str = "host", p50: float = 100.0, **extra) -> Measurement:
    return Measurement(model, runtime, source, predictions=None if predictions is None else tuple(predictions),
                       latency=Latency(None, p50, p50 * 2, p50 * 3), **extra)


def agreements(rows) -> list[float | None]:
    return [r.agreement_with_float for r in add_agreement(rows)]


def test_agreement_is_against_keras_when_measured():
    rows = [row("model_float32.tflite", "litert", [0, 1, 2, 3]), row("model.keras", "keras", [0, 1, 2, 2]),
            row("model_int8.tflite", "litert", [0, 1, 1, 1])]
    result = add_agreement(rows)
    # vs keras [0, 1, 2, 2]: float32 3/4, keras itself 4/4, int8 2/4
    assert [r.agreement_with_float for r in result] == [0.75, 1.0, 0.5]
    assert [replace(r, agreement_with_float=None) for r in result] == rows


def test_agreement_without_keras_is_against_the_float32_file_in_the_same_runtime():
    rows = [row("model_float32.tflite", "litert", [0, 1, 2, 3]), row("model_int8.tflite", "litert", [0, 1, 2, 0]),
            row("model_float32.tflite", "tflm", [3, 3, 3, 3]), row("model_int8.tflite", "tflm", [3, 3, 0, 0]),
            row("model_int8.tflite", "onnx", [0, 1, 2, 3])]
    assert agreements(rows) == [1.0, 0.75, 1.0, 0.5, None]


def test_agreement_is_per_source_and_needs_predictions_on_both_sides():
    rows = [row("model_float32.tflite", "litert", [0, 0], source="pi"),
            row("model_int8.tflite", "litert", [0, 1], source="pi"),
            row("model_int8.tflite", "litert", [0, 0]),  # host: no float32 row there
            row("model.keras", "keras", None, source="box"), row("model_int8.tflite", "litert", [1, 1], source="box"),
            row("model_float32.tflite", "tflm", [1, 1], source="x"), row("model_int8.tflite", "tflm", None, source="x"),
            row("model_int8.tflite", "tflm", [], source="x")]
    assert agreements(rows) == [1.0, 0.5, None, None, None, 1.0, None, None]


def test_only_the_run_files_variants_are_references_and_emulated_rows_keep_theirs():
    """The float reference is the file quantize writes (model_float32.tflite), not any name with float32 in it;
    a qemu: row (its agreement is with the host C engine and TFLM) is passed through untouched."""
    qemu = Measurement("model_int8.tflite", "c", "qemu:cortex-m4", device="qemu:cortex-m4", predictions=(0, 1))
    rows = [row("mine_float32.tflite", "litert", [0, 1]), row("model_int8.tflite", "litert", [0, 0]), qemu]
    assert agreements(rows) == [None, None, None] and add_agreement(rows)[2] is qemu


def test_latency_ratios_pair_int8_with_float32_in_the_same_runtime_and_place():
    rows = [row("model_float32.tflite", "litert", p50=200.0), row("model_int8.tflite", "litert", p50=50.0),
            row("model_int8.tflite", "tflm", p50=10.0),  # no float32 in tflm
            row("model_float32.tflite", "litert", source="pi", p50=300.0),
            row("model_int8.tflite", "litert", source="pi", p50=100.0),
            row("model_float32.tflite", "xnn", p50=3.0), row("model_int8.tflite", "xnn", p50=2.0)]
    assert latency_ratios(rows) == [
        LatencyRatio("model_int8.tflite", "litert", "host", 0.25),
        LatencyRatio("model_int8.tflite", "litert", "pi", 0.333),
        LatencyRatio("model_int8.tflite", "xnn", "host", 0.667),
    ]
    assert latency_ratios(rows)[1].to_json() == {"model": "model_int8.tflite", "runtime": "litert", "source": "pi",
                                                 "int8_over_float32_p50": 0.333}


def memory(**fields) -> Measurement:
    return Measurement("m", "litert", "host", **fields)


def test_arena_cell_and_blank_values():
    assert arena_cell(memory(arena_bytes=12345), ",") == "12,345"
    assert arena_cell(memory(arena_bytes=12345), "d") == "12345"
    assert arena_cell(memory(arena_bytes=0, arena_not_measured="x"), "d") == "0"
    assert arena_cell(memory(arena_not_measured="no tflite-micro"), "d") == "not measured: no tflite-micro"
    assert arena_cell(memory(arena_not_measured=""), "d") == ""
    assert arena_cell(memory(), "d") == ""
    assert benchmark._fmt(None, ".2%") == "" and benchmark._fmt(0.5, ".2%") == "50.00%"
    assert benchmark._fmt(0, ".0f") == "0"


def full_row(**changes) -> Measurement:
    base = dict(model="m_int8.tflite", runtime="litert", target="host", runtime_version="2.0",
                threads=1, accuracy=0.91234, agreement_with_float=0.995,
                latency=Latency(15.0, 12.34, 20.0, 31.25), init_ms=5.55, first_invoke_ms=0.1234,
                throughput_per_s=1234.5, file_bytes=123456, peak_rss_bytes=3 * 2**20)
    return Measurement(**{**base, **changes})


HOST = HostInfo(cpu="c", cores="1", os="o", python="p")


def test_text_table_by_hand():
    table = benchmark.format_table([full_row(), full_row(target="raspberrypi5", runtime="tflm", arena_bytes=4096,
                                                         agreement_with_float=None, throughput_per_s=None)])
    assert table.splitlines() == [
        "where         model          runtime       acc    agree    p50 us    p90 us    p99 us    batch/s    bytes"
        "    RSS MB    RAM B    flash B",
        "host          m_int8.tflite  litert     0.9123   99.50%      12.3      20.0      31.2       1234   123456"
        "       3.0",
        "raspberrypi5  m_int8.tflite  tflm       0.9123               12.3      20.0      31.2              123456"
        "       3.0     4096",
    ]


def test_markdown_table_by_hand():
    report = BenchmarkReport(rows=(full_row(model="model_int8.tflite"), full_row(model="model_float32.tflite",
                                                        latency=Latency(None, 24.68, 1, 2))),
                             skipped=("m_int8.tflite on tflm: no tflite-micro",),
                             host=HostInfo(cpu="Xeon", cores="2", os="Linux", python="3.12.1"))
    lines = benchmark.format_markdown(report).splitlines()
    assert lines[:2] == ["# edgeml benchmark", ""] and lines[3] == ""
    assert lines[2] == ("Host: Xeon (2 cores), Linux, Python 3.12.1. Latency: single-sample invokes after warm-up, "
                        "median (p50) and tail percentiles; one run.")
    assert [cell.strip() for cell in lines[4].split("|")[1:-1]] == list(benchmark.MARKDOWN_HEADERS) == [
        "where", "model", "runtime", "threads", "accuracy", "agreement", "p50 µs", "p90 µs", "p99 µs", "init ms",
        "first invoke ms", "batch/s", "bytes", "peak RSS MB", "RAM B (TFLM arena; C engine static)",
        "C engine flash B"]
    # text columns left-aligned (":---"), numbers right-aligned ("---:")
    assert [(cell[0], cell[-1]) for cell in cells(lines[5])] == [(":", "-")] * 3 + [("-", ":")] * 13
    assert cells(lines[6]) == ["host", "model_int8.tflite", "litert 2.0", "1", "0.9123", "99.50%", "12.3", "20.0", "31.2",
                               "5.5", "0.123", "1234", "123,456", "3.0", "", ""]
    assert cells(lines[7])[:3] == ["host", "model_float32.tflite", "litert 2.0"]
    assert lines[8:] == ["", "int8 / float32 p50 latency (below 1: int8 is faster):", "", "- host litert: 0.50", "",
                         "Not measured:", "", "- m_int8.tflite on tflm: no tflite-micro"]


def test_benchmark_json_has_the_schema_the_rows_and_ratios_and_no_predictions():
    int8 = full_row(model="model_int8.tflite", predictions=(1, 2))
    float32 = full_row(model="model_float32.tflite", latency=Latency(None, 24.68, 1, 2))
    report = BenchmarkReport(rows=(int8, float32), skipped=("x",), host=HostInfo(cpu="c"))
    saved = report.to_dict()
    assert saved == {"host": {"cpu": "c"}, "schema_version": SCHEMA_VERSION, "skipped": ["x"], "parity": [],
                     "rows": [replace(int8, predictions=None).to_json(), float32.to_json()],
                     "latency_ratios": [{"model": "model_int8.tflite", "runtime": "litert", "source": "host",
                                         "int8_over_float32_p50": 0.5}]}
    assert "predictions" not in saved["rows"][0] and saved["rows"][0]["latency_us"]["p50"] == 12.34
    assert read_measurements(JsonObject(saved, Path("benchmark.json"))) == (replace(int8, predictions=None), float32)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")[1:-1]]


def test_a_row_without_threads_or_throughput_and_with_an_arena():
    row = full_row(threads=None, throughput_per_s=None, arena_bytes=123456, runtime_version="1.0")
    report = BenchmarkReport(rows=(row,), skipped=(), host=HOST)
    assert cells(benchmark.format_markdown(report).splitlines()[6]) == [
        "host", "m_int8.tflite", "litert 1.0", "", "0.9123", "99.50%", "12.3", "20.0", "31.2", "5.5", "0.123", "",
        "123,456", "3.0", "123,456", ""]
    assert benchmark.format_table([replace(row, model="a_very_long_model_name_of_30.tflite")]).splitlines()[1].startswith(
        "host     a_very_long_model_name_of_30.tflite  litert     0.9123   99.50%      12.3")


def test_the_tflm_arena_is_measured_or_says_why_not(monkeypatch, tmp_path):
    from firmware_export import arena

    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    monkeypatch.setattr("edgeml.tflite_model.read_tflite_bytes", lambda content, name: SimpleNamespace(inputs=("in",)))
    answers = {}
    monkeypatch.setattr(arena, "measure_arena", lambda content, inputs: answers["next"](content, inputs))
    answers["next"] = lambda content, inputs: SimpleNamespace(arena_bytes=4432, verified=True)
    assert benchmark.measure_tflm_arena(model) == TflmArena(4432)
    assert benchmark.measured_arena(model) == 4432
    answers["next"] = lambda content, inputs: SimpleNamespace(arena_bytes=4432, verified=False)
    assert benchmark.measure_tflm_arena(model) == TflmArena(
        None, "the measured arena of 4,432 bytes did not run the model again")
    assert benchmark.measured_arena(model) is None

    def refuse(content, inputs):
        assert (content, inputs) == (b"model bytes", ("in",))
        raise EdgeMLError("the tflite-micro interpreter cannot run this model: no MEAN")
    answers["next"] = refuse
    assert benchmark.measure_tflm_arena(model) == TflmArena(
        None, "the tflite-micro interpreter cannot run this model: no MEAN")
    seen = []
    monkeypatch.setattr("edgeml.tflite_model.read_tflite_bytes",
                        lambda content, name: seen.append((content, name)) or SimpleNamespace(inputs=("in",)))
    benchmark.measure_tflm_arena(model)
    assert seen == [(b"model bytes", str(model))]
    monkeypatch.setitem(__import__("sys").modules, "firmware_export.arena", None)
    unimportable = benchmark.measure_tflm_arena(model)
    assert unimportable.arena_bytes is None
    assert unimportable.not_measured.startswith("the arena measurement is not importable (import of firmware_export")
    monkeypatch.undo()
    missing = benchmark.measure_tflm_arena(tmp_path / "gone.tflite")
    assert missing.arena_bytes is None and "gone.tflite" in missing.not_measured


class ScriptedClock:
    """perf_counter_ns returns start/stop pairs whose differences are the given latencies (microseconds)."""

    def __init__(self, latencies_us):
        self.ticks = []
        now = 0
        for latency in latencies_us:
            self.ticks += [now, now + int(latency * 1000)]
            now += 10**9
        self.seconds = 0.0

    def perf_counter_ns(self):
        return self.ticks.pop(0)

    def perf_counter(self):
        self.seconds += 0.5
        return self.seconds


class FakeModel:
    """Answers class ``x[0] > 0`` for every sample, counts invokes."""

    supports_batch = True

    def __init__(self):
        self.input_quantization = TensorQuantization(np.int8, 0.5, 1)
        self.inputs, self.invokes = [], 0

    def set_raw_input(self, raw):
        self.inputs.append(np.array(raw))

    def invoke(self):
        self.invokes += 1

    def predict(self, inputs, batch_size=256):
        return np.stack([inputs[:, 0] <= 0, inputs[:, 0] > 0], axis=1).astype(np.float32)


def test_measure_reports_percentiles_accuracy_and_throughput_of_what_it_timed(monkeypatch, tmp_path):
    samples = tmp_path / "samples.npz"
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]], np.float32)
    np.savez(samples, x=x, y=np.array([1, 0, 0, 0]))  # third label is wrong for the model: accuracy 3/4
    model_file = tmp_path / "m_int8.tflite"
    model_file.write_bytes(b"0123456789")
    fake = FakeModel()
    opened = []
    monkeypatch.setattr(bench_runner, "open_model",
                        lambda path, runtime, threads, arena_bytes: opened.append((path, runtime, threads,
                                                                                  arena_bytes)) or fake)
    latencies = [10.0, 20.0, 30.0, 40.0, 1000.0]
    clock = ScriptedClock(latencies)
    monkeypatch.setattr(bench_runner, "time", clock)
    config = bench_runner.MeasureConfig(model=str(model_file), samples=str(samples), runtime="litert", threads=2,
                                        warmup=3, runs=5, batch_size=2)
    result = bench_runner.measure(config)
    assert opened == [(str(model_file), "litert", 2, None)]
    assert result.latency == Latency(220.0, 30.0, round(float(np.percentile(latencies, 90)), 2),
                                     round(float(np.percentile(latencies, 99)), 2))
    assert result.latency.p90_us == 616.0  # 40 + 0.6 * 960
    assert (result.accuracy, result.predictions, result.samples) == (0.75, (1, 0, 1, 0), 4)
    assert (result.model, result.runtime, result.threads, result.file_bytes) == ("m_int8.tflite", "litert", 2, 10)
    assert (result.warmup, result.runs, result.batch_size, result.batch_in_one_invoke) == (3, 5, 2, True)
    # every perf_counter call is 0.5 s apart: init 0.5 s, first invoke 0.5 s; batch: 2 samples / 0.5 s
    assert (result.init_ms, result.first_invoke_ms, result.throughput_per_s) == (500.0, 500.0, 4.0)
    # 1 first + 3 warm-up + 5 timed + 1 batch allocation + 3 batch timings (max(3, min(20, 5 // 10)))
    assert fake.invokes == 13
    # inputs quantized with scale 0.5, zero point 1: 1.0 -> 3, -1.0 -> -1
    assert fake.inputs[0].tolist() == [[3, 1]]
    assert [raw.tolist() for raw in fake.inputs[1:4]] == [[[3, 1]], [[-1, 1]], [[5, 1]]]  # warm-up from sample 0
    assert fake.inputs[-1].tolist() == [[3, 1], [-1, 1]]  # the batch
    assert (result.arena_bytes, result.arena_not_measured) == (None, None)


def measure_fake(monkeypatch, tmp_path, fake, latencies, **config):
    samples = tmp_path / "samples.npz"
    np.savez(samples, x=np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]], np.float32), y=np.array([1, 0, 1]))
    (tmp_path / "m.tflite").write_bytes(b"12345")
    monkeypatch.setattr(bench_runner, "open_model", lambda path, runtime, threads, arena_bytes: fake)
    monkeypatch.setattr(bench_runner, "time", ScriptedClock(latencies))
    return bench_runner.measure(bench_runner.MeasureConfig(model=str(tmp_path / "m.tflite"), samples=str(samples),
                                                           warmup=0, runs=len(latencies), **config))


def test_a_batch_of_one_model_is_timed_sample_by_sample(monkeypatch, tmp_path):
    fake = FakeModel()
    fake.supports_batch = False
    result = measure_fake(monkeypatch, tmp_path, fake, [5.0, 7.0], batch_size=3, threads=4)
    # 3 timings (max(3, min(20, 2 // 10))) of 3 invokes each, every timing 0.5 s: 3 samples / 0.5 s
    assert (result.throughput_per_s, result.batch_size, result.batch_in_one_invoke) == (6.0, 3, False)
    assert fake.invokes == 1 + 2 + 9
    assert [raw.tolist() for raw in fake.inputs[3:6]] == [[[3, 1]], [[-1, 1]], [[5, 1]]]
    assert result.latency == Latency(6.0, 6.0, 6.8, 6.98)
    assert result.threads == 4


def test_too_few_samples_for_a_batch_give_no_throughput(monkeypatch, tmp_path):
    result = measure_fake(monkeypatch, tmp_path, FakeModel(), [5.0], batch_size=4)
    assert (result.throughput_per_s, result.batch_size, result.batch_in_one_invoke) == (None, None, None)


def test_tflm_rows_carry_the_arena_they_ran_with_or_say_it_was_not_measured(monkeypatch, tmp_path):
    fake = FakeModel()
    fake.supports_batch = False
    result = measure_fake(monkeypatch, tmp_path, fake, [5.0], runtime="tflm", batch_size=2)
    assert (result.arena_bytes, result.arena_not_measured, result.threads, result.throughput_per_s) == (
        None, "no measured arena was given (ran with the 4 MiB default)", None, None)
    assert fake.invokes == 2  # first + one timed: no per-sample batch loop in TFLM
    measured = measure_fake(monkeypatch, tmp_path, FakeModel(), [5.0], runtime="tflm", arena_bytes=4432)
    assert (measured.arena_bytes, measured.arena_not_measured) == (4432, None)


def test_memory_and_device_readings_are_the_kernels_own(tmp_path):
    import os
    import platform

    def vm_hwm() -> int:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    before = vm_hwm()
    peak = bench_runner._peak_rss_bytes()
    assert before <= peak <= vm_hwm()
    pages = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(bench_runner._current_rss_bytes() - pages) < 8 * 2**20
    info = bench_runner.device_info()
    cpu = next(line.partition(":")[2].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.partition(":")[0].strip() == "model name")
    assert info == {"machine": platform.machine(), "cpu": cpu, "cores": str(os.cpu_count()),
                    "os": platform.platform(), "python": platform.python_version()}


RESULT = bench_runner.RESULT_MARKER


def fake_python(tmp_path: Path, script: str) -> str:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n" + f'echo "$@" > {tmp_path / "args"}\n' + script)
    python.chmod(0o755)
    return str(python)


def test_measuring_in_a_subprocess_passes_every_option_and_reads_the_marked_line(tmp_path):
    first, last = (json.dumps({"model": "m.tflite", "runtime": "tflm", "latency_us": {"p50": p50},
                               "predictions": [1, 0]}) for p50 in (1, 2))
    python = fake_python(tmp_path, f"echo '{RESULT}{first}'\necho '{RESULT}{last}'\necho 'other output'\n")
    config = bench_runner.MeasureConfig(model="m.tflite", samples="s.npz", runtime="tflm", threads=2, warmup=3,
                                        runs=7, batch_size=5, arena_bytes=4432)
    assert bench_runner.measure_in_subprocess(config, python=python) == Measurement(  # the last marked line
        "m.tflite", "tflm", "host", latency=Latency(None, 2.0, None, None), predictions=(1, 0))
    assert (tmp_path / "args").read_text().split() == [
        "-m", "edgeml.bench_runner", "m.tflite", "--samples", "s.npz", "--runtime", "tflm", "--threads", "2",
        "--warmup", "3", "--runs", "7", "--batch-size", "5", "--arena-bytes", "4432"]
    config = bench_runner.MeasureConfig(model="m.tflite", samples="s.npz")
    bench_runner.measure_in_subprocess(config, python=python)
    assert "--arena-bytes" not in (tmp_path / "args").read_text()


@pytest.mark.parametrize("stderr, reason", [
    ("echo 'error: first' >&2\necho 'error: no such runtime' >&2\necho 'Traceback' >&2", "no such runtime"),
    ("echo 'something broke' >&2\necho 'last words' >&2", "last words"),
    ("", "no output"),
])
def test_a_failed_measurement_is_one_error_with_its_reason(tmp_path, stderr, reason):
    python = fake_python(tmp_path, stderr + "\nexit 1\n")
    with pytest.raises(EdgeMLError) as error:
        bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="dir/m.tflite", samples="s"), python=python)
    assert str(error.value) == f"measuring m.tflite in litert failed: {reason}"


def test_a_measurement_over_its_time_is_one_error(tmp_path):
    python = fake_python(tmp_path, "exec sleep 5\n")
    with pytest.raises(EdgeMLError) as error:
        bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="m.tflite", samples="s", runtime="tflm"),
                                           python=python, timeout_s=0.2)
    assert str(error.value) == "measuring m.tflite in tflm took over 0 s"


def test_every_field_of_a_row_with_its_rounding(monkeypatch, tmp_path):
    """The row's exact keys and values: an odd clock so that each rounding shows."""
    samples = tmp_path / "samples.npz"
    np.savez(samples, x=np.array([[1.0], [-1.0]], np.float64), y=np.array([1.0, 0.0]))  # converted on load
    (tmp_path / "m.tflite").write_bytes(b"12")
    opened = []
    monkeypatch.setattr(bench_runner, "open_model", lambda *args, **kwargs: opened.append((args, kwargs)) or fake)
    monkeypatch.setattr(bench_runner, "device_info", lambda: {"cpu": "test cpu", "cores": "3"})
    monkeypatch.setattr(bench_runner, "_peak_rss_bytes", lambda: 7)
    monkeypatch.setattr(bench_runner, "_current_rss_bytes", lambda: 5)
    clock = ScriptedClock([1.23456, 2.34567, 3.45678])
    clock.perf_counter = lambda: clock.ticks_s.pop(0)
    # init 0 -> 0.0123456 s; first invoke 1 -> 1.0004567 s; batch: allocation, then 3 timings of 1/3 s each
    clock.ticks_s = [0.0, 0.0123456, 1.0, 1.0004567, 2.0, 2 + 1 / 3, 3.0, 3 + 1 / 3, 4.0, 4 + 1 / 3]
    monkeypatch.setattr(bench_runner, "time", clock)

    class RecordingModel(FakeModel):
        def predict(self, inputs, batch_size=256):
            opened.append(("predict", inputs.dtype.name, batch_size))
            return super().predict(inputs, batch_size)

    fake = RecordingModel()
    result = bench_runner.measure(bench_runner.MeasureConfig(
        model=str(tmp_path / "m.tflite"), samples=str(samples), runtime="tflm", threads=3, warmup=0, runs=3,
        batch_size=2, arena_bytes=4432))
    assert opened == [((str(tmp_path / "m.tflite"), "tflm"), {"threads": 3, "arena_bytes": 4432}),
                      ("predict", "float32", 2)]
    assert result == Measurement(
        model="m.tflite", runtime="tflm", target="test cpu", runtime_version=runtime_spec("tflm").version(),
        threads=None, file_bytes=2, samples=2, accuracy=1.0, predictions=(1, 0),
        init_ms=12.346, first_invoke_ms=0.457, warmup=0, runs=3, latency=Latency(2.35, 2.35, 3.23, 3.43),
        batch_size=2, batch_in_one_invoke=True, throughput_per_s=6.0,
        peak_rss_bytes=7, rss_before_model_bytes=5, arena_bytes=4432, arena_not_measured=None,
        host=HostInfo(cpu="test cpu", cores="3"),
    )
    assert type(result.predictions[0]) is int and type(result.samples) is int
    # what the runner prints, and the host reads back: every field, predictions included
    assert result.to_json(predictions=True) == {
        "model": "m.tflite", "runtime": "tflm", "source": "test cpu", "runtime_version": runtime_spec("tflm").version(),
        "file_bytes": 2, "samples": 2, "accuracy": 1.0, "predictions": [1, 0],
        "init_ms": 12.346, "first_invoke_ms": 0.457, "warmup": 0, "runs": 3,
        "latency_us": {"mean": 2.35, "p50": 2.35, "p90": 3.23, "p99": 3.43},
        "batch_size": 2, "batch_in_one_invoke": True, "throughput_per_s": 6.0,
        "peak_rss_bytes": 7, "rss_before_model_bytes": 5, "arena_bytes": 4432, "device": {"cpu": "test cpu", "cores": "3"},
    }
    assert Measurement.from_json(JsonObject(result.to_json(predictions=True), Path("out"))) == result


def test_the_subprocess_finds_this_edgeml_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    python = fake_python(tmp_path, 'echo "EDGEML-BENCH-RESULT {\\"model\\": \\"$PYTHONPATH\\", \\"runtime\\": '
                                   '\\"litert\\", \\"latency_us\\": {}}"\n')
    result = bench_runner.measure_in_subprocess(bench_runner.MeasureConfig(model="m", samples="s"), python=python)
    package_root = str(Path(bench_runner.__file__).resolve().parent.parent)
    assert result.model == f"{package_root}:/somewhere/else"


def test_the_keras_pseudo_runtime_and_an_uneven_throughput(monkeypatch, tmp_path):
    fake = FakeModel()
    loaded = []
    monkeypatch.setattr(bench_runner, "open_model", lambda path, runtime, **options: loaded.append((path, runtime)) or fake)
    samples = tmp_path / "samples.npz"
    np.savez(samples, x=np.array([[1.0], [-1.0], [1.0]], np.float32), y=np.array([1, 0, 1]))
    clock = ScriptedClock([1.0] * 40)
    # init, first invoke, batch allocation is not timed; then 4 batch timings (40 // 10) of 0.3 s each
    clock.ticks_s = [0.0, 0.5, 1.0, 1.5] + [value for start in range(4) for value in (2.0 + start, 2.3 + start)]
    clock.perf_counter = lambda: clock.ticks_s.pop(0)
    monkeypatch.setattr(bench_runner, "time", clock)
    (tmp_path / "m.keras").write_bytes(b"k")
    result = bench_runner.measure(bench_runner.MeasureConfig(model=str(tmp_path / "m.keras"), samples=str(samples),
                                                             runtime="keras", threads=8, warmup=0, runs=40, batch_size=2))
    assert loaded == [(str(tmp_path / "m.keras"), "keras")]
    assert (result.runtime, result.runtime_version, result.threads, result.arena_bytes) == (
        "keras", runtime_spec("keras").version(), None, None)
    assert result.throughput_per_s == 6.7  # 2 / 0.3 = 6.666...
    assert fake.invokes == 1 + 40 + 1 + 4
    assert clock.ticks_s == []


# ------------------------------------------------------------------------------- the C engine's RAM and flash


def test_c_engine_cells_static_ram_and_flash():
    assert benchmark.arena_cell(memory(static_ram_bytes=3000), ",") == "3,000 static"
    assert benchmark.arena_cell(memory(static_ram_bytes=0, arena_not_measured="x"), "d") == "0 static"
    assert benchmark.arena_cell(memory(arena_bytes=4096, static_ram_bytes=3000), "d") == "4096"
    assert benchmark.flash_cell(memory(flash_bytes=12345), ",") == "12,345"
    assert benchmark.flash_cell(memory(flash_bytes=0, flash_not_measured="x"), "d") == "0"
    assert benchmark.flash_cell(memory(flash_not_measured="compile failed: no memory"), "d") == (
        "not measured: compile failed: no memory")
    assert benchmark.flash_cell(memory(flash_not_measured=""), "d") == ""
    assert benchmark.flash_cell(memory(), "d") == ""


def test_a_c_engine_row_in_both_tables():
    row = full_row(runtime="c", threads=None, throughput_per_s=None, agreement_with_float=None,
                   static_ram_bytes=3000, flash_bytes=12345, runtime_version="")
    assert benchmark.format_table([row]).splitlines()[1] == (
        "host     m_int8.tflite  c          0.9123               12.3      20.0      31.2              123456       3.0"
        "  3000 static      12345")
    report = BenchmarkReport(rows=(row,), skipped=(), host=HOST)
    assert cells(benchmark.format_markdown(report).splitlines()[6]) == [
        "host", "m_int8.tflite", "c", "", "0.9123", "", "12.3", "20.0", "31.2", "5.5", "0.123", "", "123,456", "3.0",
        "3,000 static", "12,345"]


PARITY_JSON = {"model": "m_int8.tflite", "baseline": "tflite-micro interpreter", "inputs": "100 benchmark samples",
               "samples": 100, "runtimes": [
                   {"runtime": "c", "differing_vectors": 0, "max_lsb": 0, "first_divergence": None},
                   {"runtime": "litert BUILTIN_REF", "differing_vectors": 3, "max_lsb": 2.0,
                    "first_divergence": "op 2 FULLY_CONNECTED"},
                   {"runtime": "litert", "not_run": "no ai-edge-litert"},
                   {"runtime": "tflm", "differing_vectors": 1, "max_lsb": 0.5, "first_divergence": ""}]}
PARITY = ModelParity.from_json(JsonObject(PARITY_JSON, Path("benchmark.json"), "parity[0]."))


def test_parity_lines_by_hand():
    lines = benchmark.format_parity(PARITY)
    assert lines[:2] == [
        "Parity of m_int8.tflite against the tflite-micro interpreter (100 benchmark samples): output vectors that "
        "differ in any byte, largest difference and the first op that diverges.", ""]
    assert [cells(line) for line in lines[2:4]] == [
        ["runtime", "differing vectors", "max LSB", "first divergence"],
        [":" + "-" * (len(cell) - 1) for cell in lines[3].split("|")[1:-1]]]
    assert [cells(line) for line in lines[4:]] == [
        ["c", "0/100", "0", ""],
        ["litert BUILTIN_REF", "3/100", "2", "op 2 FULLY_CONNECTED"],
        ["litert", "not run: no ai-edge-litert", "", ""],
        ["tflm", "1/100", "0.5", ""],  # rows after one that did not run
    ]
    report = BenchmarkReport(rows=(full_row(),), skipped=(), host=HOST, parity=(PARITY,))
    assert benchmark.format_markdown(report).splitlines()[7:] == ["", *benchmark.format_parity(PARITY)]
    assert report.to_dict()["parity"] == [{**PARITY_JSON, "runtimes": [
        {"runtime": row["runtime"], "differing_vectors": row.get("differing_vectors"), "max_lsb": row.get("max_lsb"),
         "first_divergence": row.get("first_divergence"), "not_run": row.get("not_run")}
        for row in PARITY_JSON["runtimes"]]}]


def test_a_parity_entry_without_its_runtimes_names_the_key():
    with pytest.raises(EdgeMLError, match=r"missing key parity\[0\]\.runtimes"):
        ModelParity.from_json(JsonObject({k: v for k, v in PARITY_JSON.items() if k != "runtimes"},
                                         Path("benchmark.json"), "parity[0]."))


def test_a_device_row_without_a_runtime_version_and_a_long_runtime_name():
    row = full_row(target="raspberrypi5", runtime_version=None)
    report = BenchmarkReport(rows=(row,), skipped=(), host=HOST)
    assert cells(benchmark.format_markdown(report).splitlines()[6]) == [
        "raspberrypi5", "m_int8.tflite", "litert", "1", "0.9123", "99.50%", "12.3", "20.0", "31.2", "5.5", "0.123",
        "1234", "123,456", "3.0", "", ""]
    line = benchmark.format_table([replace(row, runtime="a-fifteen-chars")]).splitlines()[1]
    assert line.startswith("raspberrypi5  m_int8.tflite  a-fifteen-chars  0.9123   99.50%")
