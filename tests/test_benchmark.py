from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import CLI_WITHOUT_TENSORFLOW
from edgeml.artifact_json import JsonObject
from edgeml.benchmark import BenchmarkConfig, add_agreement, import_results, latency_ratios, plan, run_benchmark
from edgeml.errors import EdgeMLError
from edgeml.measurement import HostInfo, read_measurements
from edgeml.quantize import QuantizeConfig, quantize


@pytest.fixture(scope="module")
def quantized_run(digits_run, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bench") / "run"
    shutil.copytree(digits_run, run_dir)
    quantize(QuantizeConfig(target=str(run_dir), method="ptq", calibration_samples=100))
    return run_dir


@pytest.fixture(scope="module")
def report(quantized_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return run_benchmark(BenchmarkConfig(targets=(str(quantized_run),), runtimes=("litert", "tflm"), runs=50,
                                         warmup=5, test_samples=200, out=str(out), force=True)), out


def test_every_model_in_every_runtime(report):
    result, out = report
    pairs = {(row.model, row.runtime) for row in result.rows}
    assert pairs == {
        ("model.keras", "keras"),
        ("model_float32.tflite", "litert"), ("model_float32.tflite", "tflm"),
        ("model_int8.tflite", "litert"), ("model_int8.tflite", "tflm"),
    }
    for row in result.rows:
        latency = row.latency
        assert 0 < latency.p50_us <= latency.p90_us <= latency.p99_us
        assert row.samples == 200 and 0.7 < row.accuracy <= 1.0 and row.target == "host"
        assert row.peak_rss_bytes > 10 * 2**20 and row.file_bytes > 0
        assert row.init_ms > 0 and row.first_invoke_ms > 0
    litert_int8 = next(r for r in result.rows if r.model == "model_int8.tflite" and r.runtime == "litert")
    assert litert_int8.threads == 1 and litert_int8.throughput_per_s > 0
    tflm = next(r for r in result.rows if r.runtime == "tflm")
    assert tflm.throughput_per_s is None and tflm.arena_bytes > 0
    keras = next(r for r in result.rows if r.runtime == "keras")
    assert keras.agreement_with_float == 1.0 and litert_int8.agreement_with_float > 0.9
    assert litert_int8.agreement_with_float == np.mean(np.array(litert_int8.predictions) == keras.predictions)
    # TensorFlow's memory is not charged to the lite runtimes (each pair runs in its own process).
    assert litert_int8.peak_rss_bytes < keras.peak_rss_bytes / 2


def test_report_files(report):
    result, out = report
    saved = json.loads((out / "benchmark.json").read_text())
    assert len(saved["rows"]) == 5 and "predictions" not in saved["rows"][0] and saved["schema_version"] == 1
    assert read_measurements(JsonObject(saved, out / "benchmark.json")) == tuple(
        replace(row, predictions=None) for row in result.rows)
    assert {r["runtime"] for r in saved["latency_ratios"]} == {"litert", "tflm"}
    markdown = (out / "benchmark.md").read_text()
    assert markdown.count("| host ") == 5 and "int8 / float32 p50 latency" in markdown
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_import_merges_device_rows(report, tmp_path):
    result, out = report
    # rows as an edgeml before typed rows wrote them: no source, the device's description under "device"
    device_rows = [dict(row.to_json(predictions=True), device={"cpu": "Cortex-A76", "machine": "aarch64"})
                   for row in result.rows if row.runtime == "litert"]
    for row in device_rows:
        row.pop("source"), row.pop("agreement_with_float")
    (tmp_path / "results.json").write_text(json.dumps({"device": {"cpu": "Cortex-A76"}, "rows": device_rows}))
    imported = import_results(tmp_path / "results.json")
    assert {row.target for row in imported} == {"Cortex-A76"}
    assert {row.host for row in imported} == {HostInfo(machine="aarch64", cpu="Cortex-A76")}
    merged = add_agreement(imported)
    int8 = next(r for r in merged if r.model == "model_int8.tflite")
    float32 = next(r for r in merged if r.model == "model_float32.tflite")
    # Agreement on the device is against the device's own float32 model in the same runtime.
    assert int8.agreement_with_float == np.mean(np.array(int8.predictions) == float32.predictions)
    assert [r.target for r in latency_ratios(merged)] == ["Cortex-A76"]
    for bad in ({"rows": [{"model": "x"}]}, {"rows": []}, {"rows": [dict(device_rows[0], latency_us={"p50": 1})]}, [1]):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(EdgeMLError, match="not an edgeml results file"):
            import_results(tmp_path / "bad.json")


def test_plan_and_bad_inputs(quantized_run, tmp_path):
    pairs = plan([quantized_run / "model_int8.tflite"], ["litert", "tflm"])
    assert [runtime for _, runtime in pairs] == ["litert", "tflm"]
    from edgeml.runtime import available_runtimes

    everything = plan([quantized_run / "model_int8.tflite", quantized_run / "model.keras"], ["all"])
    assert [runtime for _, runtime in everything] == available_runtimes() + ["keras"]
    assert [runtime for _, runtime in plan([quantized_run / "model_int8.tflite"], ["auto", "litert"])] == ["litert"]
    with pytest.raises(EdgeMLError, match="unknown runtime"):
        BenchmarkConfig(targets=("x",), runtimes=("onnx",))
    with pytest.raises(EdgeMLError, match="nothing to benchmark"):
        BenchmarkConfig(targets=())
    with pytest.raises(EdgeMLError, match="no such run directory or model file"):
        run_benchmark(BenchmarkConfig(targets=(str(tmp_path / "missing"),), out=str(tmp_path / "o")))
    lonely = tmp_path / "lonely.tflite"
    shutil.copy(quantized_run / "model_int8.tflite", lonely)
    with pytest.raises(EdgeMLError, match="need --dataset"):
        run_benchmark(BenchmarkConfig(targets=(str(lonely),), out=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()

def test_benchmark_of_tflite_files_never_imports_tensorflow(quantized_run, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", CLI_WITHOUT_TENSORFLOW, "benchmark", str(quantized_run / "model_int8.tflite"),
         str(quantized_run / "model_float32.tflite"), "--runtime", "litert", "--runs", "20", "--test-samples", "100",
         "--out", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "model_int8.tflite" in completed.stdout and (tmp_path / "b" / "benchmark.json").is_file()


def test_runs_trained_on_different_data_are_not_mixed(quantized_run, tmp_path):
    from edgeml.benchmark import collect_models

    other = tmp_path / "other"
    shutil.copytree(quantized_run, other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"]["normalization"] = {"mean": 0.0, "std": 255.0}
    (other / "config.json").write_text(json.dumps(config))
    assert len(collect_models([str(quantized_run), str(quantized_run / "model_int8.tflite")]).models) == 4
    with pytest.raises(EdgeMLError, match="different data or normalisation"):
        collect_models([str(quantized_run), str(other)])


def test_the_report_goes_into_the_run_directory_by_default_and_appears_whole(quantized_run, tmp_path, monkeypatch):
    """Like evaluate: RUN_DIR/benchmark, not the current directory; a failure while writing leaves no report."""
    import errno

    from click.testing import CliRunner

    import edgeml.benchmark as benchmark_module
    from edgeml.cli import cli

    run_dir = tmp_path / "run"
    shutil.copytree(quantized_run, run_dir, ignore=shutil.ignore_patterns("benchmark"))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["benchmark", str(run_dir / "model_int8.tflite"), "--runtime", "litert", "--runs", "5", "--warmup", "1",
            "--test-samples", "50"]

    def disk_full(rows, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patched:
        patched.setattr(benchmark_module, "plot_latency", disk_full)
        failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 1
    assert failed.output.splitlines()[-1] == f"error: cannot write {run_dir / 'benchmark' / 'latency.png'}: No space left on device"
    assert not (run_dir / "benchmark").exists() and not any(run_dir.glob(".*edgeml-*"))

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (run_dir / "benchmark").iterdir()) == ["benchmark.json", "benchmark.md", "latency.png"]
    assert list(elsewhere.iterdir()) == []
    assert benchmark_module.report_dir(BenchmarkConfig(targets=(str(run_dir),))) == run_dir / "benchmark"
    assert benchmark_module.report_dir(BenchmarkConfig(targets=(str(run_dir),), out="x")) == Path("x")
    loose = tmp_path / "loose.tflite"
    shutil.copy(run_dir / "model_int8.tflite", loose)
    assert benchmark_module.report_dir(BenchmarkConfig(targets=(str(loose),))) == Path("benchmark")


def test_the_tflm_arena_is_the_measured_one_or_says_why_not(quantized_run, tmp_path, monkeypatch):
    """Issue 16: an arena that was not measured is reported as such, never as the runtime's 4 MiB default."""
    import firmware_export.arena as arena_module
    from edgeml.bench_runner import MeasureConfig, measure
    from edgeml.benchmark import arena_cell, format_markdown, format_table, measure_tflm_arena, write_samples
    from edgeml.tflite_model import read_tflite

    model = quantized_run / "model_int8.tflite"
    expected = arena_module.measure_arena(model.read_bytes(), read_tflite(model).inputs).arena_bytes
    measured = run_benchmark(BenchmarkConfig(targets=(str(model),), runtimes=("tflm",), runs=5, warmup=1,
                                             test_samples=50, out=str(tmp_path / "measured")))
    assert [(row.arena_bytes, row.arena_not_measured) for row in measured.rows] == [(expected, None)]

    def cannot_run(model, inputs, margin_percent=10.0):
        raise EdgeMLError("the tflite-micro interpreter cannot run this model: Didn't find op for builtin opcode 'X'")

    monkeypatch.setattr(arena_module, "measure_arena", cannot_run)
    report = run_benchmark(BenchmarkConfig(targets=(str(model),), runtimes=("tflm",), runs=5, warmup=1,
                                           test_samples=50, out=str(tmp_path / "unmeasured")))
    (row,) = report.rows
    reason = "the tflite-micro interpreter cannot run this model: Didn't find op for builtin opcode 'X'"
    assert row.arena_bytes is None and row.arena_not_measured == reason
    assert format_table(report.rows).splitlines()[1].endswith(f"not measured: {reason}")
    assert f"| not measured: {reason} |" in format_markdown(report)
    assert "4194304" not in json.dumps(report.to_dict()) and "4,194,304" not in format_markdown(report)
    assert measure_tflm_arena(model).not_measured == reason
    assert arena_cell(replace(row, arena_bytes=6208), ",") == "6,208"

    # A runner given no arena (a device whose bundle had none) says so too, not 4 MiB.
    samples = write_samples(None, "digits", 20, tmp_path / "samples.npz")
    row = measure(MeasureConfig(model=str(model), samples=str(samples), runtime="tflm", threads=1, warmup=1, runs=2,
                                batch_size=8, arena_bytes=None))
    assert row.arena_bytes is None
    assert row.arena_not_measured == "no measured arena was given (ran with the 4 MiB default)"


def test_the_c_runtime_is_measured_beside_tflm(quantized_run, tmp_path):
    """Issue 12: the C engine's row has TFLM's predictions, a p50, its static RAM (arena + I/O) and flash."""
    from edgeml.benchmark import format_markdown, format_table
    from edgeml.runtime import open_model
    from firmware_export.cengine import compile_model

    model = quantized_run / "model_int8.tflite"
    result = run_benchmark(BenchmarkConfig(targets=(str(model),), runtimes=("tflm", "c"), runs=20, warmup=2,
                                           batch_size=16, test_samples=100, out=str(tmp_path / "out")))
    rows = {row.runtime: row for row in result.rows}
    assert set(rows) == {"tflm", "c"} and not result.skipped
    c, tflm = rows["c"], rows["tflm"]
    assert c.predictions == tflm.predictions and c.accuracy == tflm.accuracy
    assert c.latency.p50_us > 0 and c.throughput_per_s > 0 and c.threads is None
    arena = compile_model(model.read_bytes(), "check").plan.arena_bytes
    assert (c.engine_arena_bytes, c.static_ram_bytes) == (arena, arena + 8 * 8 + 10)
    assert c.arena_bytes is None and tflm.static_ram_bytes is None
    assert c.flash_bytes == open_model(model, "c").static_memory.flash_bytes
    markdown = [[cell.strip() for cell in line.split("|")[1:-1]] for line in format_markdown(result).splitlines()]
    c_line, tflm_line = (next(line for line in markdown if line[:2] == ["host", "model_int8.tflite"]
                              and line[2].split()[0] == runtime) for runtime in ("c", "tflm"))
    flash = f"{c.flash_bytes:,}" if c.flash_bytes is not None else f"not measured: {c.flash_not_measured}"
    assert c_line[-2:] == [f"{arena + 74:,} static", flash]
    assert tflm_line[-2:] == [f"{tflm.arena_bytes:,}", ""]
    assert f"{arena + 74} static" in format_table(result.rows)
    # Four-way parity on the same 100 samples; the counts equal each runtime's own outputs compared by numpy.
    from test_firmware_export import _independent_outputs

    (parity,) = result.parity
    assert parity.model == "model_int8.tflite" and parity.samples == 100
    with np.load(_samples(quantized_run, tmp_path)) as data:
        quantized = open_model(model, "tflm").input_quantization.quantize(data["x"])
    outputs = _independent_outputs(model.read_bytes(), quantized)
    counts = [int((outputs[name] != outputs["tflm"]).any(axis=1).sum()) for name in ("c", "ref", "default")]
    assert [row.differing_vectors for row in parity.runtimes] == counts and counts[0] == 0
    assert ["edgeml C engine (default build)", "0/100", "0", ""] in markdown
    saved = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert saved["parity"] == [parity.to_json()]


def _samples(run_dir, tmp_path):
    from edgeml.benchmark import write_samples
    from edgeml.rundir import RunRecord

    return write_samples(RunRecord.load(run_dir), None, 100, tmp_path / "samples.npz")
