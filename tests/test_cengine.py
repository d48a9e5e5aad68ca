"""The C engine end to end: edgeml's default MLP and CNN (trained briefly on digits, PTQ int8) compiled
to C, built by real compilers, compared byte for byte with the runtime each build follows.

Default build == the tflite-micro interpreter (double rounding); EDGEML_SINGLE_ROUNDING build == LiteRT
BUILTIN_REF. Zero differing bytes is the bar.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cengine_models import BuiltEngine, convert_int8
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.graph import read_graph
from edgeml.models import ModelSpec, build_model
from edgeml.tf_setup import load_tensorflow
from firmware_export.cengine import CEngineConfig, export_c_engine
from firmware_export.cengine.exactness import Reference, compare
from firmware_export.cengine.host import (SANITIZE_FLAGS, STRICT_FLAGS, BuildOptions, HostEngine,
                                          build_executable, build_shared_library, run_executable)
from firmware_export.cengine.plan import Lifetime, MemoryPlan, Placement, liveness_floor, validate_plan

SAMPLES = 300
MLP_HIDDEN = (64, 32)


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    return images, digits.target


def _trained(spec: ModelSpec) -> bytes:
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    images, labels = _digits()
    model = build_model(spec, images.shape[1:], 10)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images[:400], labels[:400], epochs=2, batch_size=32, verbose=0)
    return convert_int8(model, images[:100])


@pytest.fixture(scope="session")
def mlp(tmp_path_factory) -> BuiltEngine:
    return BuiltEngine(_trained(ModelSpec(hidden=MLP_HIDDEN)), tmp_path_factory.mktemp("cengine") / "mlp")


@pytest.fixture(scope="session")
def cnn(tmp_path_factory) -> BuiltEngine:
    """edgeml's default CNN blocks (Conv-BN-ReLU-MaxPool x2) with small widths."""
    spec = ModelSpec(arch="cnn", filters=(8, 16), hidden=(24,), batchnorm=True)
    return BuiltEngine(_trained(spec), tmp_path_factory.mktemp("cengine") / "cnn")


@pytest.fixture(scope="session")
def test_inputs(mlp) -> np.ndarray:
    """Seeded digits the models were not trained on, quantized with the (shared) input quantization."""
    images, _ = _digits()
    chosen = np.random.default_rng(7).choice(np.arange(400, len(images)), SAMPLES, replace=False)
    return mlp.quantize_input(images[chosen])


@pytest.mark.parametrize("which", ["mlp", "cnn"])
@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_engine_is_byte_exact(which, single_rounding, request, test_inputs):
    built = request.getfixturevalue(which)
    result = built.exactness(test_inputs, single_rounding)
    assert result.samples == SAMPLES
    assert result.differing_vectors == 0, result.describe()


def test_invoke_returns_the_documented_error_code_for_a_null_pointer(mlp, test_inputs):
    """<NAME>_ERROR_NULL_POINTER (1) for any NULL argument, <NAME>_OK (0) otherwise; the header says so."""
    header = (mlp.folder / "net_model.h").read_text()
    assert "#define NET_OK 0\n" in header and "#define NET_ERROR_NULL_POINTER 1 " in header
    engine = mlp.engines[False, False]
    sample = np.ascontiguousarray(test_inputs[0])
    output = np.zeros(mlp.output.element_count, dtype=np.int8)
    arena = ctypes.addressof(engine.arena)
    buffers = (sample.ctypes.data, output.ctypes.data, arena)
    for missing in range(3):
        arguments = [None if position == missing else pointer for position, pointer in enumerate(buffers)]
        assert engine.invoke_function(*arguments) == 1
    assert not output.any()  # nothing was written before the check
    assert engine.invoke_function(*buffers) == 0
    np.testing.assert_array_equal(output, engine.run(sample[np.newaxis])[0])


def test_cnn_uses_the_ops_it_should(cnn, mlp):
    assert [op.name for op in cnn.graph.ops] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED",
        "SOFTMAX"]
    assert [op.name for op in mlp.graph.ops] == ["RESHAPE"] + ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]


def test_a_divergence_names_the_first_op_and_tensor(mlp, test_inputs, tmp_path):
    """A bias changed in the generated C of op 2 must be reported at op 2, not just at the output."""
    folder = tmp_path / "tampered"
    shutil.copytree(mlp.folder, folder, ignore=shutil.ignore_patterns("*.so"))
    source = (folder / "net_model.c").read_text()
    tampered, count = re.subn(r"(op2_bias\[\d+\] EDGEML_ALIGN\(4\) = \{\n\s*)(-?\d+)",
                              lambda m: m.group(1) + str(int(m.group(2)) + 5000), source)
    assert count == 1
    (folder / "net_model.c").write_text(tampered)
    engine = HostEngine(build_shared_library(folder, folder / "a.so"), "net", 64, 10, mlp.compiled.plan.arena_bytes)
    tracing = HostEngine(build_shared_library(folder, folder / "b.so", BuildOptions(trace=True)), "net", 64, 10,
                         mlp.compiled.plan.arena_bytes)
    result = compare(mlp.model, mlp.graph, engine, test_inputs[:20], Reference.TFLM, tracing)
    assert result.differing_vectors > 0
    output = mlp.graph.tensor(mlp.graph.ops[2].outputs[0])
    assert result.first_divergence.startswith(f"op 2 FULLY_CONNECTED, tensor {output.index} '{output.name}'")


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_sanitized_build_with_exact_arena_and_poisoned_dead_tensors(which, request, test_inputs, tmp_path):
    """ASan + UBSan, arena malloc'ed at exactly <NAME>_ARENA_BYTES, dead tensors overwritten after their
    last use: same bytes as the plain build (a read of a dead tensor or an overrun would show)."""
    built = request.getfixturevalue(which)
    header = (built.folder / "net_model.h").read_text()
    assert f"#define NET_ARENA_BYTES {built.compiled.plan.arena_bytes}\n" in header
    program = build_executable(built.folder, "net", tmp_path / "net_asan",
                               BuildOptions(optimization="-O1", poison=True, extra_flags=SANITIZE_FLAGS))
    outputs = run_executable(program, test_inputs[:100], built.output.element_count)
    np.testing.assert_array_equal(outputs, built.engines[False, False].run(test_inputs[:100]))


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_strict_c99_with_both_compilers(compiler, cnn, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    for single in (False, True):
        build_shared_library(cnn.folder, tmp_path / f"{compiler}{int(single)}.so",
                             BuildOptions(compiler=compiler, single_rounding=single))


def test_cross_compiles_for_cortex_m4(cnn, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    for source in sorted(cnn.folder.glob("*.c")):
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", *STRICT_FLAGS, "-c", str(source),
                        "-o", str(tmp_path / (source.stem + ".o"))], check=True, capture_output=True, text=True)
    # No float on the inference path: no soft-float helper and no FPU instruction in any object.
    symbols = subprocess.run(["arm-none-eabi-nm", *map(str, tmp_path.glob("*.o"))], capture_output=True,
                             text=True, check=True).stdout
    assert not re.search(r"__aeabi_[fd]|__(add|mul|div)[sd]f3", symbols)


def test_memory_plan_of_the_mlp(mlp):
    """Inputs and outputs stay in the caller's buffers; the hidden activations are all the arena holds:
    by hand, two consecutive FULLY_CONNECTED outputs are live at once, 64 + 32 bytes at most."""
    plan = mlp.compiled.plan
    assert plan.liveness_floor_bytes == max(MLP_HIDDEN[0] + MLP_HIDDEN[1], MLP_HIDDEN[1] + 10)
    assert plan.arena_bytes == plan.liveness_floor_bytes
    engine = json.loads((mlp.folder / "engine.json").read_text())
    assert engine["arena_bytes"] == plan.arena_bytes
    storage = {row["index"]: row for row in engine["tensors"]}
    assert storage[mlp.graph.inputs[0]]["storage"] == "input"
    assert storage[mlp.graph.outputs[0]]["storage"] == "output"
    reshape = mlp.graph.ops[0]
    assert storage[reshape.outputs[0]]["alias_of"] == reshape.inputs[0]


def test_memory_plan_of_the_fused_cnn(cnn):
    """Both Conv-MaxPool pairs are fused, so no conv output is stored. By hand (8x8 digits, filters 8 and
    16, 3x3 kernels): the second fused call reads pool 1's 4x4x8 = 128 bytes and writes pool 2's 2x2x16 = 64
    with a scratch of an int32 maximum per channel (16 x 4 = 64) and two im2col columns of 3x3x8 (144);
    later only 64 + 24 and 24 + 10. The first call's scratch: 8 int32 maxima and two 3x3x1 columns."""
    assert [(f.conv_op, f.pool_op) for f in cnn.compiled.fusions] == [(0, 1), (2, 3)]
    assert cnn.compiled.plan.liveness_floor_bytes == 4 * 4 * 8 + 2 * 2 * 16 + 16 * 4 + 2 * 3 * 3 * 8
    assert cnn.compiled.plan.arena_bytes == 400
    scratch = json.loads((cnn.folder / "engine.json").read_text())["scratch"]
    assert [(row["op"], row["bytes"]) for row in scratch] == [(1, 8 * 4 + 2 * 3 * 3 * 1),
                                                              (3, 16 * 4 + 2 * 3 * 3 * 8)]


def test_plan_validator_rejects_overlapping_live_tensors(cnn):
    validate_plan(cnn.compiled.plan)
    assert cnn.compiled.plan.arena_bytes >= cnn.compiled.plan.liveness_floor_bytes
    first, second = Lifetime(1, 16, 0, 2), Lifetime(2, 8, 2, 3)
    assert liveness_floor([first, second]) == 24
    validate_plan(MemoryPlan((Placement(first, 0), Placement(second, 16)), 24, 24))
    with pytest.raises(EdgeMLError, match="tensors 1 and 2 are live at the same time and overlap"):
        validate_plan(MemoryPlan((Placement(first, 0), Placement(second, 12)), 24, 24))
    validate_plan(MemoryPlan((Placement(first, 0), Placement(Lifetime(3, 8, 3, 4), 4)), 16, 16))  # not live together


def _model_with(layer_factory, tmp_path, name: str, int8_io: bool = True, batch_size: int | None = None) -> Path:
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    model = tf.keras.Sequential([layers.Input((6,), batch_size=batch_size), layers.Dense(4), layer_factory(layers)])
    representative = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    if int8_io:
        content = convert_int8(model, representative)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([r[np.newaxis]] for r in representative)
        content = converter.convert()
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(content)
    return path


def _transpose(layers):
    """A layer the C engine stays without: Keras' Permute converts to TRANSPOSE."""
    return load_tensorflow().keras.Sequential([layers.Reshape((2, 2)), layers.Permute((2, 1))])


def test_unsupported_op_is_refused_before_any_file_is_written(tmp_path):
    model = _model_with(_transpose, tmp_path, "transpose", batch_size=1)  # static: no SHAPE op in front
    out = tmp_path / "out"
    with pytest.raises(EdgeMLError) as refused:
        export_c_engine(CEngineConfig(source=str(model), out=str(out)))
    graph = read_graph(model)
    transpose = next(op for op in graph.ops if op.name == "TRANSPOSE")
    output = graph.tensor(transpose.outputs[0])
    assert str(refused.value) == (
        f"op {transpose.index} TRANSPOSE (output tensor {output.index} '{output.name}') is not supported by the C "
        "engine (it runs ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, EXPAND_DIMS, "
        "FULLY_CONNECTED, HARD_SWISH, LEAKY_RELU, LOGISTIC, MAX_POOL_2D, MEAN, MUL, PAD, QUANTIZE, RELU, RELU6, RESHAPE, "
        "SOFTMAX, SQUEEZE, TANH); export for TFLite Micro instead: edgeml export ... --engine tflm")
    assert not out.exists()


def test_float_io_is_refused_with_the_fix(tmp_path):
    model = _model_with(lambda layers: layers.Softmax(), tmp_path, "float_io", int8_io=False)
    with pytest.raises(EdgeMLError, match="input tensor .* is float32, not per-tensor int8.*int8 input and output"
                                          r".*outside invoke with the header's <NAME>_INPUT_SCALE and "
                                          "<NAME>_INPUT_ZERO_POINT"):
        export_c_engine(CEngineConfig(source=str(model), out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_cli_export_engine_c(tmp_path):
    model = _model_with(lambda layers: layers.Softmax(), tmp_path, "ok")
    out = tmp_path / "fw"
    result = CliRunner().invoke(cli, ["export", str(model), "--engine", "c", "--out", str(out), "--name", "tiny"])
    assert result.exit_code == 0, result.output
    assert {"tiny_model.h", "tiny_model.c", "edgeml_engine.h", "engine.json"} <= {p.name for p in out.iterdir()}
    assert "arena" in result.output
    # The licence notice the kernels' TensorFlow Lite arithmetic requires, at the top of every C file written
    for path in out.glob("*.[ch]"):
        head = path.read_text().split("*/", 1)[0]
        assert "Apache License" in head and "TensorFlow" in head, path.name
    again = CliRunner().invoke(cli, ["export", str(model), "--engine", "c", "--out", str(out)])
    assert again.exit_code == 1 and "--force" in again.output
    refused = CliRunner().invoke(cli, ["export", str(_model_with(_transpose, tmp_path, "transpose", batch_size=1)),
                                        "--engine", "c", "--out", str(tmp_path / "no")])
    assert refused.exit_code == 1 and "TRANSPOSE" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "no").exists()


def test_header_helpers_normalise_quantize_and_pick_the_top_class(mlp, tmp_path):
    """The header's float helpers (the TFLite Micro export's model_config.h helpers) with the run's recorded
    normalisation: input_from_raw equals (raw - mean) / std quantized with the input's scale and zero point
    (worked out in numpy; raws whose value sits near a rounding tie are left out), and top_class equals the
    argmax of the outputs invoke wrote."""
    config = {"model_file": "model.keras", "train": {"dataset": "digits"},
              "dataset": {"class_names": [str(index) for index in range(10)],
                          "normalization": {"mean": 3.0, "std": 5.0}, "input_shape": [8, 8, 1]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model_int8.tflite").write_bytes(mlp.model)
    export_c_engine(CEngineConfig(source=str(tmp_path), out=str(tmp_path / "out"), name="net", measure=False))
    header = (tmp_path / "out" / "net_model.h").read_text()
    assert "#define NET_INPUT_MEAN 3.0f" in header and "#define NET_INPUT_STD 5.0f" in header
    rng = np.random.default_rng(5)
    raw = rng.uniform(-40, 80, size=200).astype(np.float32).astype(np.float64)  # exact as C floats
    value = (raw - 3.0) / 5.0 / mlp.input.scale + mlp.input.zero_point
    raw = raw[np.abs(np.abs(value - np.trunc(value)) - 0.5) > 1e-3][:mlp.input.element_count]
    value = np.clip((raw - 3.0) / 5.0 / mlp.input.scale + mlp.input.zero_point, -128, 127)
    expected_inputs = np.trunc(value + np.where(value >= 0, 0.5, -0.5)).astype(int)
    program = tmp_path / "helpers.c"
    program.write_text(
        '#include <stdio.h>\n#include "net_model.h"\n'
        f"static const float raw[{len(raw)}] = {{{', '.join(f'{float(v)!r}f' for v in raw)}}};\n"
        "int main(void) {\n"
        "    static uint8_t arena[NET_ARENA_BYTES];\n"
        "    int8_t input[NET_INPUT_SIZE] = {0}, output[NET_OUTPUT_SIZE];\n"
        "    int i;\n"
        f"    for (i = 0; i < {len(raw)}; ++i) {{ input[i] = net_input_from_raw(raw[i]); printf(\"%d \", input[i]); }}\n"
        "    printf(\"\\n\");\n"
        "    if (net_invoke(input, output, arena) != NET_OK) return 1;\n"
        "    for (i = 0; i < NET_OUTPUT_SIZE; ++i) printf(\"%d \", output[i]);\n"
        "    printf(\"\\n%d\\n\", net_top_class(output));\n"
        "    return 0;\n}\n")
    sources = [str(path) for path in (tmp_path / "out").glob("*.c")] + [str(program)]
    subprocess.run(["gcc", *STRICT_FLAGS, f"-I{tmp_path / 'out'}", *sources, "-o", str(tmp_path / "helpers")],
                   check=True, capture_output=True)
    lines = subprocess.run([str(tmp_path / "helpers")], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(raw) >= 40 and [int(v) for v in lines[0].split()] == expected_inputs.tolist()
    outputs = [int(v) for v in lines[1].split()]
    assert int(lines[2]) == int(np.argmax(outputs))


def test_run_class_names_become_the_headers_labels(mlp, tmp_path):
    """A .tflite beside its run's config.json: the class names (with a quote and a backslash) in C."""
    names = [f"class {index}" for index in range(9)] + ['say "hi" \\o/']
    config = {"model_file": "model.keras", "train": {"dataset": "digits"},
              "dataset": {"class_names": names, "normalization": {"mean": 0.0, "std": 1.0},
                          "input_shape": [8, 8, 1]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model_int8.tflite").write_bytes(mlp.model)
    export_c_engine(CEngineConfig(source=str(tmp_path), out=str(tmp_path / "out"), name="net", measure=False))
    header = (tmp_path / "out" / "net_model.h").read_text()
    assert "#define NET_CLASS_COUNT 10\n" in header
    assert "extern const char *const net_labels[NET_CLASS_COUNT];" in header
    program = tmp_path / "print_labels.c"
    program.write_text('#include <stdio.h>\n#include "net_model.h"\n'
                       'int main(void) { int i; for (i = 0; i < NET_CLASS_COUNT; ++i) puts(net_labels[i]); return 0; }\n')
    sources = [str(path) for path in (tmp_path / "out").glob("*.c")] + [str(program)]
    subprocess.run(["gcc", *STRICT_FLAGS, f"-I{tmp_path / 'out'}", *sources, "-o", str(tmp_path / "labels")],
                   check=True, capture_output=True)
    printed = subprocess.run([str(tmp_path / "labels")], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines() == names
    unlabelled = (mlp.folder / "net_model.h").read_text()
    assert "CLASS_COUNT" not in unlabelled  # compile_model without a run: no numbered stand-ins


def test_input_offset_is_folded_into_the_bias(mlp, cnn):
    """fold.py: FULLY_CONNECTED and CONV_2D biases gain input_offset * the filter's sum per output channel
    (numpy on the graph's own tensors is the expectation); FC's input_offset becomes 0, the conv keeps it
    (its padding reads as the input zero point)."""
    for built, op_position, kernel in ((mlp, 1, "fully_connected"), (cnn, 0, "conv_pool")):
        op = built.graph.ops[op_position]
        call = next(call for call in built.compiled.lowered.calls if call.kernel == kernel)
        params = dict(call.params)
        fields = dict(params["conv"]) if kernel == "conv_pool" else params
        data, weights = built.graph.tensor(op.inputs[0]), built.graph.tensor(op.inputs[1])
        bias = built.graph.tensor(op.inputs[2]).data.astype(np.int64)
        sums = weights.data.astype(np.int64).reshape(weights.shape[0], -1).sum(axis=1)
        folded = {array.name: array.values for array in call.arrays}[fields["bias"]]
        assert data.zero_point != 0
        assert list(folded) == (bias - data.zero_point * sums).tolist()
        assert fields["input_offset"] == (0 if kernel == "fully_connected" else -data.zero_point)
