"""Every runtime backend on one tiny int8 model: the same classes, the same (de)quantization."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeml.data import load_dataset
from edgeml.errors import EdgeMLError
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.runtime import (REGISTRY, TensorQuantization, available_runtimes, decide_class, open_model, raw_outputs,
                            runtime_spec)


@pytest.fixture(scope="module")
def models(digits_run, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("rt") / "run"
    shutil.copytree(digits_run, run_dir)
    quantize(QuantizeConfig(target=str(run_dir), method="ptq", calibration_samples=100, float16=True, dynamic_range=True))
    data = load_dataset("digits", test_samples=100)
    return run_dir, data.test_inputs(), data.y_test


def reference(models):
    run_dir, inputs, _ = models
    return open_model(run_dir / "model_int8.tflite", "litert", reference_kernels=True).predict(inputs)


@pytest.mark.parametrize("runtime", [spec.name for spec in REGISTRY if spec.selectable])
def test_backend_matches_litert_reference_kernels(models, runtime):
    spec = runtime_spec(runtime)
    if not spec.installed():
        pytest.skip(f"{runtime} is not installed here ({spec.install_hint}; tflite-runtime has no wheels for numpy 2)")
    run_dir, inputs, labels = models
    model = open_model(run_dir / "model_int8.tflite", runtime, threads=1)
    assert model.runtime == runtime and model.input_shape == (8, 8, 1)
    scores = model.predict(inputs, batch_size=32)
    expected = reference(models)
    assert scores.shape == expected.shape
    # Same kernels up to 1 LSB of the int8 output (XNNPACK may round a .5 the other way).
    assert np.abs(scores - expected).max() <= model.output_quantization.scale * 1.01
    assert np.mean(scores.argmax(axis=1) == expected.argmax(axis=1)) >= 0.98
    assert np.mean(scores.argmax(axis=1) == labels) > 0.8


def test_batching_by_resizing_gives_the_same_outputs(models):
    run_dir, inputs, _ = models
    model = open_model(run_dir / "model_int8.tflite", "litert")
    one_by_one = np.concatenate([model.predict(inputs[i:i + 1]) for i in range(10)])
    np.testing.assert_array_equal(one_by_one, model.predict(inputs[:10], batch_size=10))


def test_quantization_round_trip():
    quantization = TensorQuantization(np.int8, 0.5, -3)
    values = np.array([-100.0, -1.0, 0.0, 0.74, 200.0], dtype=np.float32)
    quantized = quantization.quantize(values)
    assert quantized.tolist() == [-128, -5, -3, -2, 127]  # clipped to int8
    assert quantization.dequantize(quantized).tolist() == [-62.5, -1.0, 0.0, 0.5, 65.0]
    assert TensorQuantization(np.float32, 0.0, 0).quantize(values).dtype == np.float32


def test_runtime_errors(models, tmp_path):
    run_dir, inputs, _ = models
    with pytest.raises(EdgeMLError, match="unknown runtime"):
        open_model(run_dir / "model_int8.tflite", "onnxruntime")
    with pytest.raises(EdgeMLError, match="expects inputs of shape"):
        open_model(run_dir / "model_int8.tflite").predict(np.zeros((2, 28, 28, 1)))
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(EdgeMLError, match="junk.tflite is not a TFLite model"):
        open_model(tmp_path / "junk.tflite", "litert")
    with pytest.raises(EdgeMLError, match="cannot read model"):
        open_model(tmp_path / "missing.tflite")
    assert "litert" in available_runtimes()


@pytest.mark.slow
def test_tflite_runtime_fallback_in_its_own_venv(models, tmp_path_factory):
    """tflite-runtime 2.14 needs numpy<2, so it gets a venv of its own (as on an older Pi image)."""
    import json
    import subprocess
    import sys

    from edgeml.bench_runner import MeasureConfig, measure_in_subprocess

    venv = tmp_path_factory.mktemp("tflite_runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "numpy<2", "tflite-runtime==2.14.0"],
        capture_output=True, text=True, timeout=600,
    )
    if installed.returncode != 0:
        pytest.skip(f"pip install tflite-runtime==2.14.0 'numpy<2' failed here: {installed.stderr[-300:]}")
    run_dir, inputs, labels = models
    samples = tmp_path_factory.mktemp("samples") / "samples.npz"
    np.savez(samples, x=inputs, y=labels)
    row = measure_in_subprocess(
        MeasureConfig(model=str(run_dir / "model_int8.tflite"), samples=str(samples), runtime="tflite-runtime", runs=20),
        python=str(python),
    )
    assert row.runtime == "tflite-runtime" and row.runtime_version == "2.14.0"
    expected = reference(models).argmax(axis=1)
    assert np.mean(np.asarray(row.predictions) == expected) >= 0.98
    assert json.dumps(row.to_json(predictions=True))  # JSON-ready, like every runner result


def test_c_runtime_is_byte_exact_with_tflite_micro(models, tmp_path, monkeypatch):
    """Issue 12: the ``c`` runtime (the C engine built here) gives the tflite-micro interpreter's bytes."""
    from edgeml.graph import read_graph
    from firmware_export.cengine import compile_model

    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir, inputs, labels = models
    path = run_dir / "model_int8.tflite"
    engine, micro = open_model(path, "c"), open_model(path, "tflm")
    assert engine.runtime == "c" and engine.threads is None and not engine.supports_batch
    assert engine.input_shape == micro.input_shape == (8, 8, 1)
    assert engine.input_quantization == micro.input_quantization
    assert engine.output_quantization == micro.output_quantization
    quantized = micro.input_quantization.quantize(inputs)
    raw = raw_outputs(engine, quantized)
    assert raw.dtype == np.int8 and raw.shape == (100, 10)
    np.testing.assert_array_equal(raw, raw_outputs(micro, quantized))
    np.testing.assert_array_equal(engine.predict(inputs), micro.predict(inputs))

    # RAM: the plan's arena (computed again here) plus the int8 input (8x8x1) and output (10 classes).
    memory = engine.static_memory
    assert memory.arena_bytes == compile_model(path.read_bytes(), "again").plan.arena_bytes
    assert (memory.input_bytes, memory.output_bytes) == (64, 10)
    assert memory.ram_bytes == memory.arena_bytes + 74
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        # Every weight and bias is a const in flash; the kernels the MLP uses add a few KB of code.
        constants = sum(t.byte_size for t in read_graph(path).tensors if t.is_constant)
        assert constants <= memory.flash_bytes <= constants + 8192 and memory.flash_not_measured is None
        # the same measurement as the export's engine.json (one implementation: cengine.measure)
        from firmware_export.cengine.generate import measure_compiled

        compiled = compile_model(path.read_bytes(), "model")
        flash = measure_compiled(compiled, path.read_bytes(), with_tflm=False).cortex_m4.flash.value
        assert memory.flash_bytes == flash.total_bytes == flash.model_bytes + flash.kernels_bytes
    else:
        assert memory.flash_bytes is None and "arm-none-eabi" in memory.flash_not_measured

    # Built once: a second open reuses the cached library.
    builds = list((tmp_path / "cache" / "cengine").iterdir())
    assert len(builds) == 1
    library = next(builds[0].glob("*.so"))
    stamp = library.stat().st_mtime_ns
    np.testing.assert_array_equal(raw_outputs(open_model(path, "c"), quantized[:5]), raw[:5])
    assert list((tmp_path / "cache" / "cengine").iterdir()) == builds and library.stat().st_mtime_ns == stamp


def builtin_ref_float(model: Path, inputs: np.ndarray) -> np.ndarray:
    """LiteRT's reference kernels (OpResolverType.BUILTIN_REF) on a float32 model, one invoke per sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model.read_bytes(),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, result = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in inputs:
        interpreter.set_tensor(source["index"], sample[np.newaxis].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(result["index"]).copy())
    return np.concatenate(outputs)


def test_c_runtime_runs_float32_models_within_1e5_of_builtin_ref(models):
    """Issue 15: ``--runtime c`` on a float32 model builds the engine's float build: float32 in and out,
    outputs within 1e-5 of LiteRT BUILTIN_REF float, the same top class, and its static RAM and flash."""
    from edgeml.graph import read_graph
    from firmware_export.cengine.float_generate import compile_float_model

    run_dir, inputs, labels = models
    path = run_dir / "model_float32.tflite"
    engine = open_model(path, "c")
    assert engine.runtime == "c" and not engine.supports_batch and engine.input_shape == (8, 8, 1)
    assert engine.input_quantization == engine.output_quantization == TensorQuantization(np.float32, 0.0, 0)
    samples = np.random.default_rng(7).normal(size=(20, 8, 8, 1)).astype(np.float32)
    for batch in (inputs[:40], samples):
        raw = raw_outputs(engine, batch)
        expected = builtin_ref_float(path, batch)
        assert raw.dtype == np.float32 and raw.shape == expected.shape == (len(batch), 10)
        assert np.abs(raw - expected).max() <= 1e-5
        np.testing.assert_array_equal(decide_class(raw), decide_class(expected))
        np.testing.assert_allclose(engine.predict(batch), expected, rtol=0, atol=1e-5)
    assert np.mean(decide_class(engine.predict(inputs)) == labels) > 0.8

    # RAM: the float plan's arena (computed again here) plus the float32 input (8x8x1) and output (10).
    memory = engine.static_memory
    assert memory.arena_bytes == compile_float_model(path.read_bytes(), "again").plan.arena_bytes
    assert (memory.input_bytes, memory.output_bytes) == (64 * 4, 10 * 4)
    assert memory.ram_bytes == memory.arena_bytes + 296
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        # Every float weight and bias is a const in flash; the float kernels and libm's expf add code.
        constants = sum(t.byte_size for t in read_graph(path).tensors if t.is_constant)
        assert constants <= memory.flash_bytes <= constants + 16384 and memory.flash_not_measured is None
    else:
        assert memory.flash_bytes is None and "arm-none-eabi" in memory.flash_not_measured


def test_c_runtime_takes_uint8_io_in_its_own_types_and_refuses_float_io(models, tmp_path, monkeypatch):
    """`--io uint8` (QUANTIZE uint8<->int8 at the edges): the c runtime passes uint8 in and out with the
    model's own scale and zero point, the bytes of the tflite-micro interpreter; `--io float32` is refused."""
    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    shutil.copytree(models[0], run_dir, ignore=shutil.ignore_patterns("benchmark"))
    quantize(QuantizeConfig(target=str(run_dir), method="ptq", calibration_samples=100, io="uint8", force=True))
    path = run_dir / "model_int8.tflite"
    engine, micro = open_model(path, "c"), open_model(path, "tflm")
    assert engine.input_quantization == micro.input_quantization and engine.input_quantization.dtype == np.uint8
    assert engine.output_quantization == micro.output_quantization and engine.output_quantization.dtype == np.uint8
    quantized = micro.input_quantization.quantize(models[1][:30])
    raw = raw_outputs(engine, quantized)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, raw_outputs(micro, quantized))

    # `--io float32`: QUANTIZE/DEQUANTIZE of float I/O around the int8 graph is refused by kind, one line.
    quantize(QuantizeConfig(target=str(run_dir), method="ptq", calibration_samples=100, io="float32", force=True))
    with pytest.raises(EdgeMLError) as refused:
        open_model(path, "c")
    assert str(refused.value) == (f"{path}: an int8 graph with float input or output (QUANTIZE/DEQUANTIZE at its "
                                  "edges): the C engine's int8 build takes int8 or uint8 I/O; convert it with int8 "
                                  "I/O (edgeml quantize does)")


def test_c_runtime_errors(models, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir, _, _ = models
    for name, why in (("float16", "a float16 model (float16 weights): the C engine runs int8 and float32 graphs; "
                                  "benchmark the int8 or the float32 model"),
                      ("dynamic", "a dynamic-range model (int8 weights, float activations): the C engine has no "
                                  "hybrid kernels; benchmark the full-integer int8 or the float32 model")):
        with pytest.raises(EdgeMLError) as refused:
            open_model(run_dir / f"model_{name}.tflite", "c")
        assert str(refused.value) == f"{run_dir / f'model_{name}.tflite'}: {why}"
    assert not (tmp_path / "cache").exists()  # refused before anything is built
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler anywhere
    assert "c" not in available_runtimes()
    with pytest.raises(EdgeMLError, match=r"a C compiler and none was found .*: install one \(Debian/Ubuntu: sudo apt install gcc;"):
        open_model(run_dir / "model_int8.tflite", "c")
    assert not (tmp_path / "cache").exists()  # nothing half-built


def test_a_float16_model_under_c_is_not_measured_for_one_stated_reason(models, tmp_path):
    """Issue 12 / 15: `edgeml benchmark` on a float16 model: the C engine's absence is the same phrase in
    the printed lines, benchmark.json, benchmark.md and the report."""
    from edgeml.benchmark import BenchmarkConfig, run_benchmark
    from edgeml.report import Bullets, build_report

    run_dir = tmp_path / "run"
    shutil.copytree(models[0], run_dir, ignore=shutil.ignore_patterns("benchmark"))
    reason = ("model_float16.tflite on c: a float16 model (float16 weights): the C engine runs int8 and float32 "
              "graphs; benchmark the int8 or the float32 model")
    result = run_benchmark(BenchmarkConfig(targets=(str(run_dir / "model_float16.tflite"),), runtimes=("litert", "c"),
                                           runs=5, warmup=1, batch_size=8, test_samples=20,
                                           out=str(run_dir / "benchmark")))
    assert [row.runtime for row in result.rows] == ["litert"]
    assert result.skipped == (reason,)
    assert json.loads((run_dir / "benchmark" / "benchmark.json").read_text())["skipped"] == [reason]
    assert f"- {reason}" in (run_dir / "benchmark" / "benchmark.md").read_text().splitlines()
    bullets = [block for block in build_report(run_dir).section("benchmark").blocks if isinstance(block, Bullets)]
    assert (reason,) in [block.items for block in bullets]


def test_benchmark_of_both_variants_on_c_reports_latency_static_ram_and_flash(models, tmp_path):
    """Issue 15: `edgeml benchmark MODEL_float32.tflite MODEL_int8.tflite --runtime c`: a row per variant with
    latency, static RAM (the engine's arena + input + output) and flash, as the engine itself states them."""
    from edgeml.benchmark import BenchmarkConfig, run_benchmark
    from firmware_export.cengine.exactness import FLOAT_GRAPH_NOT_COMPARED

    run_dir = tmp_path / "run"
    shutil.copytree(models[0], run_dir, ignore=shutil.ignore_patterns("benchmark"))
    variants = ("model_float32.tflite", "model_int8.tflite")
    result = run_benchmark(BenchmarkConfig(targets=tuple(str(run_dir / name) for name in variants), runtimes=("c",),
                                           runs=5, warmup=1, batch_size=8, test_samples=20,
                                           out=str(run_dir / "benchmark")))
    rows = {row.model: row for row in result.rows}
    assert sorted(rows) == sorted(variants) and {row.runtime for row in rows.values()} == {"c"}
    for name, row in rows.items():
        memory = open_model(run_dir / name, "c").static_memory
        assert row.static_ram_bytes == memory.ram_bytes and row.engine_arena_bytes == memory.arena_bytes
        assert (row.flash_bytes, row.flash_not_measured) == (memory.flash_bytes, memory.flash_not_measured)
        assert 0 < row.latency.p50_us <= row.latency.p99_us
    float_ram, int8_ram = (rows[name].static_ram_bytes for name in variants)
    assert float_ram > int8_ram  # float32 activations take four bytes each, int8 one
    written = json.loads((run_dir / "benchmark" / "benchmark.json").read_text())
    assert sorted(row["model"] for row in written["rows"]) == sorted(variants)
    # The four-way parity is of int8 outputs: the float32 row says why it has none.
    assert result.skipped == (f"parity of model_float32.tflite: {FLOAT_GRAPH_NOT_COMPARED}",)


def test_the_registry_is_the_one_list_of_runtimes():
    """Issue 10: CLI choices, auto's order and the capabilities come from the registry."""
    from click import Choice

    from edgeml.cli import cli
    from edgeml.runtime import LITE_RUNTIMES, REGISTRY, RUNTIMES, runtime_spec

    assert RUNTIMES == ("auto", "litert", "tflite-runtime", "tensorflow", "tflm", "c")
    assert LITE_RUNTIMES == ("litert", "tflite-runtime", "tensorflow")
    predict_choice = next(p for p in cli.commands["predict"].params if p.name == "runtime").type
    bench_choice = next(p for p in cli.commands["benchmark"].params if p.name == "runtimes").type
    assert isinstance(predict_choice, Choice) and tuple(predict_choice.choices) == RUNTIMES
    assert tuple(bench_choice.choices) == ("all", *RUNTIMES)
    assert [s.name for s in REGISTRY if s.measures_arena] == ["tflm"]
    assert [s.name for s in REGISTRY if s.static_memory] == ["c"]
    assert [s.name for s in REGISTRY if s.on_device] == ["litert", "tflite-runtime", "tflm"]
    assert runtime_spec("keras").selectable is False
    with pytest.raises(EdgeMLError, match="unknown runtime 'onnx': choose one of auto, litert"):
        runtime_spec("onnx")
