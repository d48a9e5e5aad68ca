"""The C engine's float32 build (issue 15): edgeml's default MLP and CNN and single-op graphs, compiled to C,
built by gcc in strict C99, compared with LiteRT BUILTIN_REF float (TFLite's reference kernels).

The bar (issue 15): max |difference| of the output probabilities <= 1e-5 and the same top class on every
sample whose top-2 margin exceeds 2e-5; beyond it the comparison names the first op that differs.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cengine_models import WHOLE_MODELS, convert_int8, digits
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.models import ModelSpec, build_model
from edgeml.rundir import RunRecord
from edgeml.tf_setup import load_tensorflow
from firmware_export.cengine.float_exactness import (CLEAR_MARGIN, MAX_ABS_DIFFERENCE, build_float_engine,
                                                     compare_float, reference_outputs, tracing_factory)
from firmware_export.cengine.float_generate import FLOAT_BYTES, compile_float_model
from firmware_export.cengine.generate import compile_model, write_files
from firmware_export.cengine.host import SANITIZE_FLAGS
from firmware_export.cengine.plan import validate_plan
from firmware_export.export import CFloatExportResult, Engine, ExportConfig, export_for_engine

SAMPLES = 300
OP_SAMPLES = 40


def convert_float(model) -> bytes:
    """The float32 .tflite the TFLite converter makes of ``model`` (no optimisation: float weights)."""
    return bytes(load_tensorflow().lite.TFLiteConverter.from_keras_model(model).convert())


class FloatBuild:
    """A float32 model compiled by the C engine, written to ``folder`` and built on the host (a trace build
    only when a comparison goes beyond the bound)."""

    def __init__(self, model: bytes, folder: Path, symbol: str = "net") -> None:
        self.model, self.symbol = model, symbol
        self.compiled = compile_float_model(model, symbol)
        self.graph = self.compiled.graph
        self.folder = write_files(folder, self.compiled.files)[0].parent
        self.engine = build_float_engine(self.folder, symbol, self.graph)

    def compare(self, inputs: np.ndarray):
        return compare_float(self.model, self.graph, self.engine, inputs, tracing_factory(self.folder, self.symbol,
                                                                                          self.graph))


def _trained_keras(spec: ModelSpec):
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    images, labels = digits()
    model = build_model(spec, images.shape[1:], 10)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images[:400], labels[:400], epochs=2, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def default_models(tmp_path_factory) -> dict[str, tuple[FloatBuild, bytes]]:
    """edgeml's default MLP and CNN (small widths), trained briefly on digits: the float build and the int8 file."""
    builds = {}
    for name, spec in (("mlp", ModelSpec(hidden=(64, 32))),
                       ("cnn", ModelSpec(arch="cnn", filters=(8, 16), hidden=(24,), batchnorm=True))):
        keras_model = _trained_keras(spec)
        images, _ = digits()
        builds[name] = (FloatBuild(convert_float(keras_model), tmp_path_factory.mktemp("float") / name),
                        convert_int8(keras_model, images[:100]))
    return builds


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    images, _ = digits()
    chosen = np.random.default_rng(7).choice(np.arange(400, len(images)), SAMPLES, replace=False)
    return images[chosen].reshape(SAMPLES, -1)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_default_models_are_within_the_bound_of_builtin_ref(which, default_models, test_images):
    build, _ = default_models[which]
    result = build.compare(test_images)
    assert result.samples == SAMPLES
    assert result.max_abs_difference <= MAX_ABS_DIFFERENCE, result.describe()
    assert result.clear_samples >= SAMPLES - 5 and result.top_class_differences == 0, result.describe()
    assert result.within_bound and result.first_divergence is None
    # The engine's probabilities are the classifier's: the reference's top class on every clear sample.
    expected = reference_outputs(build.model, test_images)
    actual = build.engine.run(test_images)
    assert (np.argmax(actual, axis=1) == np.argmax(expected, axis=1)).mean() >= (SAMPLES - 5) / SAMPLES


@pytest.mark.skipif(platform.machine() != "x86_64", reason="measured on x86-64, where neither build contracts a*b+c")
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_default_models_are_bit_identical_to_builtin_ref_on_x86_64(which, default_models, test_images):
    """Stronger than the bound, and what shows the kernels keep the reference's order of accumulation
    (filter_y, filter_x, input channel, then the bias): any other order changes low bits of some outputs."""
    build, _ = default_models[which]
    assert np.array_equal(build.engine.run(test_images), reference_outputs(build.model, test_images))


def test_a_difference_beyond_the_bound_names_the_first_op(default_models, test_images, tmp_path):
    """A bias of the second FULLY_CONNECTED moved by 0.01 in the generated C: the comparison fails the bound
    and names that op and its output tensor, not an earlier or later one."""
    build, _ = default_models["mlp"]
    fully_connected = [op for op in build.graph.ops if op.name == "FULLY_CONNECTED"]
    target = fully_connected[1]
    source = (build.folder / "net_model.c").read_text()
    pattern = re.compile(rf"(static const float op{target.index}_bias\[\d+\] = {{\n    )(-?[0-9.e+-]+)f")
    first_value = float(pattern.search(source).group(2))
    broken = pattern.sub(lambda m: f"{m.group(1)}{first_value + 0.01!r}f", source, count=1)
    assert broken != source
    folder = write_files(tmp_path / "broken", {**build.compiled.files, "net_model.c": broken})[0].parent
    engine = build_float_engine(folder, "net", build.graph)
    result = compare_float(build.model, build.graph, engine, test_images[:20],
                           tracing_factory(folder, "net", build.graph))
    assert not result.within_bound and result.max_abs_difference > MAX_ABS_DIFFERENCE
    output = build.graph.tensor(target.outputs[0])
    assert result.first_divergence.startswith(
        f"{target.describe()}, {output.describe()} (max |difference| 0.01 over 1 of")


def test_the_plan_is_four_bytes_per_value_and_float_ram_is_four_times_int8_for_the_mlp(default_models):
    """The same planner as the int8 build: the MLP has no fusion, so every arena offset and size, and the
    static RAM, are exactly 4x the int8 build's."""
    build, int8_model = default_models["mlp"]
    int8 = compile_model(int8_model, "net")
    validate_plan(build.compiled.plan)
    for row in build.compiled.tensors:
        assert row.size_bytes == FLOAT_BYTES * build.graph.tensor(row.tensor).element_count
    float_offsets = {row.name: row.offset for row in build.compiled.tensors if row.storage == "arena"}
    int8_offsets = {row.name: row.offset for row in int8.tensors if row.storage == "arena"}
    assert len(float_offsets) == len(int8_offsets) >= 2
    assert sorted(float_offsets.values()) == [4 * offset for offset in sorted(int8_offsets.values())]
    assert build.compiled.plan.arena_bytes == 4 * int8.plan.arena_bytes
    int8_io = sum(int8.graph.tensor(i).byte_size for i in (int8.graph.inputs[0], int8.graph.outputs[0]))
    assert build.compiled.static_ram_bytes == 4 * (int8.plan.arena_bytes + int8_io)


def test_the_cnns_conv_and_pool_are_fused_as_in_the_int8_build(default_models):
    """Each conv whose output only a pool reads is one edgeml_float_conv_pool call: its output is never
    stored, the scratch holds one pool window of floats, and the plan reaches its liveness floor."""
    build, int8_model = default_models["cnn"]
    int8 = compile_model(int8_model, "net")
    compiled = build.compiled
    assert len(compiled.fusions) == len(int8.fusions) == 2
    unstored = {row.name for row in compiled.tensors if row.storage == "unstored"}
    assert unstored == {row.name for row in int8.tensors if row.storage == "unstored"} and len(unstored) == 2
    engine = json.loads(compiled.files["engine.json"])
    assert [item["bytes"] for item in engine["scratch"]] == [
        FLOAT_BYTES * 2 * 2 * build.graph.tensor(f.unstored_tensor).shape[-1] for f in compiled.fusions]
    # Not 4x the int8 plan: the int8 CONV_2D kernels also keep im2col columns and int32 maxima as scratch.
    assert compiled.plan.arena_bytes == compiled.plan.liveness_floor_bytes
    assert compiled.plan.arena_bytes < 4 * int8.plan.arena_bytes
    assert "edgeml_float_conv_pool(&op" in compiled.files["net_model.c"]


def test_generated_float_c_is_strict_c99_for_the_host_and_cortex_m(default_models, tmp_path):
    """gcc and clang (when present) with -std=c99 -pedantic -Werror, and arm-none-eabi-gcc for a Cortex-M4
    with its FPU and a soft-float Cortex-M3 (compile only: no libm link here)."""
    build, _ = default_models["cnn"]
    sources = sorted(str(path) for path in build.folder.glob("*.c"))
    strict = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"]
    compilers = [("gcc", []), ("clang", []),
                 ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os"]),
                 ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", "-Os"])]
    ran = 0
    for compiler, flags in compilers:
        if shutil.which(compiler) is None:
            continue
        for source in sources:
            result = subprocess.run([compiler, *strict, *flags, source, "-o", str(tmp_path / "x.o")],
                                    capture_output=True, text=True)
            assert result.returncode == 0, f"{compiler} {flags}: {result.stderr}"
        ran += 1
    assert ran >= 2  # gcc and the Cortex-M toolchain are installed on edgeml's machines


def _branchy_model():
    """Branches that keep several tensors alive at once, with in-place element-wise ops and padding at
    every border: CONV_2D, DEPTHWISE_CONV_2D, PAD, AVERAGE_POOL_2D (SAME), MAX_POOL_2D, CONCATENATION, MEAN,
    broadcasting ADD, MUL, LOGISTIC, FULLY_CONNECTED, SOFTMAX."""
    tf = load_tensorflow()
    layers = tf.keras.layers
    inputs = layers.Input((9, 9, 2), batch_size=1)
    a = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    b = layers.DepthwiseConv2D(3, padding="same")(a)
    b = layers.AveragePooling2D(3, strides=2, padding="same")(layers.ZeroPadding2D(1)(b))
    c = layers.MaxPooling2D(3, strides=2, padding="same")(layers.ZeroPadding2D(1)(a))
    x = layers.Concatenate()([b, c])
    x = layers.Add()([x, layers.GlobalAveragePooling2D(keepdims=True)(x)])
    x = layers.Multiply()([x, layers.Activation("sigmoid")(x)])
    x = layers.Dense(5)(layers.Flatten()(x))
    return tf.keras.Model(inputs, layers.Softmax()(x))


def test_poisoned_and_sanitized_builds_give_the_same_outputs(tmp_path):
    """Dead arena tensors overwritten (a kernel reading one, or a plan placing two live tensors together,
    changes the outputs) and AddressSanitizer + UBSan around the static arena and constants: the outputs
    equal the plain build's bit for bit, which is within the bound of BUILTIN_REF."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(5)
    model = convert_float(_branchy_model())
    build = FloatBuild(model, tmp_path / "branchy")
    assert build.compiled.in_place and len(build.compiled.plan.placements) >= 5
    inputs = np.random.default_rng(2).normal(size=(OP_SAMPLES, 9 * 9 * 2)).astype(np.float32)
    plain = build.engine.run(inputs)
    poisoned = build_float_engine(build.folder, "net", build.graph, poison=True).run(inputs)
    assert np.array_equal(plain, poisoned)
    driver = tmp_path / "main.c"
    driver.write_text(SANITIZER_DRIVER)
    program = tmp_path / "sanitized"
    command = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", *SANITIZE_FLAGS,
               "-DEDGEML_DEBUG_POISON", f"-I{build.folder}", *map(str, sorted(build.folder.glob("*.c"))),
               str(driver), "-o", str(program), "-lm"]
    subprocess.run(command, check=True, capture_output=True)
    ran = subprocess.run([str(program)], input=inputs.tobytes(), capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stderr.decode()[-2000:]
    assert np.array_equal(np.frombuffer(ran.stdout, np.float32).reshape(plain.shape), plain)
    assert build.compare(inputs).within_bound


SANITIZER_DRIVER = """#include <stdio.h>

#include "net_model.h"

int main(void)
{
    float input[NET_INPUT_SIZE], output[NET_OUTPUT_SIZE];
    while (fread(input, sizeof input, 1, stdin) == 1) {
        if (net_invoke(input, output) != NET_OK) {
            return 3;
        }
        fwrite(output, sizeof output, 1, stdout);
    }
    return 0;
}
"""


# --------------------------------------------------------------------------------------------- single ops


def _functional(build_layers, input_shape):
    tf = load_tensorflow()
    inputs = tf.keras.layers.Input(input_shape, batch_size=1)
    return tf.keras.Model(inputs, build_layers(inputs, tf.keras.layers))


OP_MODELS = {
    "dense_relu": ((12,), lambda x, L: L.Dense(7, activation="relu")(x), {"FULLY_CONNECTED"}),
    "conv_stride2_same_relu6": ((9, 9, 3), lambda x, L: L.Conv2D(5, 3, strides=2, padding="same",
                                                                  activation="relu6")(x), {"CONV_2D"}),
    "conv_5x3_valid_no_bias": ((8, 7, 2), lambda x, L: L.Conv2D(4, (5, 3), use_bias=False)(x), {"CONV_2D"}),
    "conv_dilated": ((10, 10, 2), lambda x, L: L.Conv2D(3, 3, dilation_rate=2, padding="same")(x), {"CONV_2D"}),
    "depthwise_multiplier2": ((7, 7, 3), lambda x, L: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                                                        activation="relu")(x), {"DEPTHWISE_CONV_2D"}),
    "max_pool_same": ((7, 7, 3), lambda x, L: L.MaxPooling2D(3, strides=2, padding="same")(x), {"MAX_POOL_2D"}),
    "average_pool_same": ((7, 7, 3), lambda x, L: L.AveragePooling2D(3, strides=2, padding="same")(x),
                          {"AVERAGE_POOL_2D"}),
    "fused_depthwise_average_pool": ((8, 8, 2), lambda x, L: L.Dense(3)(L.Flatten()(
        L.AveragePooling2D(3, strides=2, padding="same")(L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)))),
        {"DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"}),
    "fused_conv_max_pool": ((9, 9, 2), lambda x, L: L.Dense(3)(L.Flatten()(
        L.MaxPooling2D(2)(L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)))),
        {"CONV_2D", "MAX_POOL_2D"}),
    "mean_and_broadcast_add": ((5, 6, 4), lambda x, L: L.Add()([x, L.GlobalAveragePooling2D(keepdims=True)(x)]),
                               {"MEAN", "ADD"}),
    "mul_and_concatenation": ((4, 4, 3), lambda x, L: L.Concatenate()([x, L.Multiply()([x, L.Conv2D(3, 1)(x)]),
                                                                       L.Conv2D(2, 1)(x)]),
                              {"MUL", "CONCATENATION"}),
    "pad": ((5, 4, 2), lambda x, L: L.Conv2D(3, 2)(L.ZeroPadding2D(((1, 2), (0, 3)))(x)), {"PAD"}),
    "rescaling_constants": ((6,), lambda x, L: L.Activation("tanh")(L.Rescaling(1 / 255, offset=-0.5)(x)),
                            {"MUL", "ADD", "TANH"}),
    "softmax_beta": ((9,), lambda x, L: L.Softmax()(L.Dense(9)(x)), {"SOFTMAX"}),
    "sigmoid_unit": ((5,), lambda x, L: L.Dense(1, activation="sigmoid")(x), {"LOGISTIC"}),
    "logistic_tanh": ((8,), lambda x, L: L.Activation("tanh")(L.Activation("sigmoid")(L.Dense(8)(x)) * 3.0),
                      {"LOGISTIC", "TANH"}),
    "relu_relu6_leaky": ((10,), lambda x, L: L.Concatenate()([L.ReLU()(x), L.ReLU(6.0)(x), L.LeakyReLU(0.2)(x)]),
                         {"RELU", "RELU6", "LEAKY_RELU", "CONCATENATION"}),
}


@pytest.mark.parametrize("name", sorted(OP_MODELS))
def test_single_op_graphs_are_within_the_bound(name, tmp_path):
    """Random weights (seeded), random inputs scaled x4 so activations cross every clamp and cutoff."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(sum(map(ord, name)))
    input_shape, body, expected_ops = OP_MODELS[name]
    model = convert_float(_functional(body, input_shape))
    build = FloatBuild(model, tmp_path / name)
    ops = {op.name for op in build.graph.ops}
    assert expected_ops <= ops, f"the converter emitted {sorted(ops)}"
    inputs = 4 * np.random.default_rng(1).normal(size=(OP_SAMPLES, int(np.prod(input_shape)))).astype(np.float32)
    if name == "rescaling_constants":
        inputs = np.abs(inputs) * 60  # pixel-like values
    expected = reference_outputs(model, inputs)
    actual = build.engine.run(inputs)
    assert np.abs(expected - actual).max() <= MAX_ABS_DIFFERENCE * max(1.0, np.abs(expected).max())
    result = build.compare(inputs)
    assert result.top_class_differences == 0 and result.first_divergence is None
    if name == "sigmoid_unit":  # one unit: the class is p >= 0.5, its margin |2p - 1|
        assert result.clear_samples >= OP_SAMPLES // 2
    if name.startswith("fused"):
        assert len(build.compiled.fusions) == 1


def test_relu6_on_the_input_is_exact(tmp_path):
    """RELU6 as its own op (the converter fuses it into a preceding op where it can): in the caller's
    output buffer, clamps at 0 and 6, bit for bit against numpy."""
    model = convert_float(_functional(lambda x, L: L.ReLU(6.0)(x), (16,)))
    build = FloatBuild(model, tmp_path / "relu6")
    assert [op.name for op in build.graph.ops] == ["RELU6"] and build.compiled.plan.arena_bytes == 0
    inputs = np.linspace(-10, 10, 16 * 5, dtype=np.float32).reshape(5, 16)
    assert np.array_equal(build.engine.run(inputs), np.clip(inputs, 0, 6))


# --------------------------------------------------------------------------------------------- export


def test_export_takes_the_float_model_and_reports_ram_against_int8(default_models, tmp_path):
    """`edgeml export model_float32.tflite --engine c`: the float build's files, the bound on check samples,
    and RAM = arena + input + output beside the int8 build of model_int8.tflite in the same folder."""
    build, int8_model = default_models["mlp"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "model_float32.tflite").write_bytes(build.model)
    (run / "model_int8.tflite").write_bytes(int8_model)
    result = export_for_engine(ExportConfig(source=str(run / "model_float32.tflite"), out=str(tmp_path / "out"),
                                            check_samples=30), Engine.C)
    assert isinstance(result, CFloatExportResult)
    int8 = compile_model(int8_model, "int8")
    int8_ram = int8.plan.arena_bytes + sum(int8.graph.tensor(i).byte_size
                                           for i in (int8.graph.inputs[0], int8.graph.outputs[0]))
    assert result.ram.int8_ram_bytes == int8_ram
    assert result.ram.float_ram_bytes == build.compiled.static_ram_bytes == 4 * int8_ram
    assert result.ram.extra_bytes == 3 * int8_ram
    assert f"{result.ram.extra_bytes:,} more than the int8 build's {int8_ram:,} (4.00x; run/model_int8.tflite)" \
        in result.summary()
    engine = json.loads((tmp_path / "out" / "engine.json").read_text())
    assert engine["dtype"] == "float32" and engine["ram_vs_int8"] == result.ram.to_json()
    assert engine["ram_vs_int8"]["extra_bytes"] == 3 * int8_ram
    assert engine["parity"]["samples"] == 30 and engine["parity"]["within_bound"] is True
    assert result.to_json()["ram_vs_int8"]["ratio"] == 4.0
    # Flash of the Cortex-M4 (FPU) build: at least the weights' 4 bytes each, which dominate it.
    weights = sum(t.byte_size for t in build.graph.tensors if t.is_constant and t.dtype == "float32")
    if shutil.which("arm-none-eabi-gcc"):
        assert weights < result.flash.value < weights + 16384 and engine["flash_bytes"] == result.flash.value
        assert f"flash {result.flash.value:,} bytes (text + data, Cortex-M4 with FPU" in result.summary()
    header = (tmp_path / "out" / "model_model.h").read_text()
    assert "int model_invoke(const float *input, float *output);" in header
    assert {"edgeml_float.h", "model_model.c"} <= {path.name for path in result.files}
    assert not any(path.name == "edgeml_engine.h" for path in result.files)  # int8 kernels stay out


def test_export_cli_without_an_int8_model_and_refusals(default_models, tmp_path):
    build, _ = default_models["cnn"]
    model = tmp_path / "alone.tflite"
    model.write_bytes(build.model)
    result = CliRunner().invoke(cli, ["export", str(model), "--engine", "c", "--out", str(tmp_path / "c"),
                                      "--check-samples", "10"])
    assert result.exit_code == 0, result.output
    assert "C engine `model_invoke` (float32)" in result.output
    assert "not compared with int8: no model_int8.tflite beside alone.tflite" in result.output
    assert "within the bound 1e-05" in result.output
    # An op the float build does not run: one error naming it, nothing written.
    tf = load_tensorflow()
    unsupported = tmp_path / "exp.tflite"
    unsupported.write_bytes(convert_float(_functional(lambda x, L: L.Dense(3)(tf.exp(x)), (4,))))
    refused = CliRunner().invoke(cli, ["export", str(unsupported), "--engine", "c", "--out", str(tmp_path / "no")])
    assert refused.exit_code == 1 and "EXP" in refused.output and "float build" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "no").exists()


def test_export_of_a_run_folders_float_model_uses_the_runs_labels_normalisation_and_test_set(tmp_path):
    """RUN/model_float32.tflite beside config.json: the header gets the run's class names and normalisation,
    the bound is checked on the run's test samples, RAM is compared with RUN/model_int8.tflite."""
    from edgeml.quantize import QuantizeConfig, quantize
    from edgeml.train import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(out=str(run), dataset="digits", epochs=2, model=ModelSpec(hidden=(16,)), seed=0))
    quantize(QuantizeConfig(target=str(run), method="ptq", calibration_samples=50))
    result = export_for_engine(ExportConfig(source=str(run / "model_float32.tflite"), out=str(tmp_path / "c"),
                                            name="digits", check_samples=25), Engine.C)
    assert result.parity.inputs == "25 samples of the digits test set" and result.parity.within_bound
    assert result.ram.int8_model == "run/model_int8.tflite" and result.ram.ratio == 4.0  # an MLP: nothing fused
    header = (tmp_path / "c" / "digits_model.h").read_text()
    source = (tmp_path / "c" / "digits_model.c").read_text()
    assert "#define DIGITS_CLASS_COUNT 10" in header and "digits_input_from_raw" in header
    assert re.search(r"#define DIGITS_INPUT_STD 16(\.0)?f", header), "the run's normalisation: (x - 0) / 16"
    assert all(f'"{name}"' in source for name in RunRecord.load(run).class_names)


@pytest.mark.parametrize("name", sorted(WHOLE_MODELS))
def test_the_int8_engines_whole_models_in_float_are_within_the_bound(name, tmp_path):
    """The int8 build's extra test models (Conv1D, depthwise-separable with BatchNorm and LeakyReLU,
    residual ADDs, CONCATENATION), untrained (seeded weights), as float32 graphs."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(11)
    images, _ = digits()
    build = FloatBuild(convert_float(WHOLE_MODELS[name](images.shape[1:], 10)), tmp_path / name)
    result = build.compare(images[:OP_SAMPLES].reshape(OP_SAMPLES, -1))
    assert result.within_bound and result.max_abs_difference <= MAX_ABS_DIFFERENCE, result.describe()


def test_export_sends_a_quantized_model_with_float_io_to_the_int8_builds_error(tmp_path):
    """Float input quantized by a QUANTIZE op is an int8 graph with float edges, not a float32 graph: the
    int8 build's error, with its fix, not the float build's."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(_functional(lambda x, L: L.Dense(3)(x), (4,)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.ones((1, 4), np.float32) * k] for k in range(5))
    model = tmp_path / "float_io.tflite"
    model.write_bytes(bytes(converter.convert()))
    with pytest.raises(EdgeMLError, match="is float32, not per-tensor int8.*int8 input and output"):
        export_for_engine(ExportConfig(source=str(model), out=str(tmp_path / "out"), check_samples=0), Engine.C)
    assert not (tmp_path / "out").exists()


def test_a_constant_two_adds_share_is_one_array(tmp_path):
    """One constant tensor read by two ADDs: one const array in the C (a second would not compile)."""
    tf = load_tensorflow()
    constant = tf.constant(np.arange(6, dtype=np.float32).reshape(1, 6))
    add = tf.keras.layers.Lambda(lambda t: t + constant)
    model = convert_float(_functional(lambda x, L: add(L.Dense(6, activation="tanh")(add(x))), (6,)))
    build = FloatBuild(model, tmp_path / "shared")
    adds = [op for op in build.graph.ops if op.name == "ADD"]
    shared = {i for i in adds[0].inputs if build.graph.tensor(i).is_constant} & set(adds[-1].inputs)
    assert len(adds) == 2 and len(shared) == 1
    assert (build.folder / "net_model.c").read_text().count(f"static const float tensor{shared.pop()}[") == 1
    inputs = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    assert np.array_equal(build.engine.run(inputs), reference_outputs(model, inputs))


def test_export_without_a_c_compiler_writes_the_files_and_says_why_nothing_was_compared(default_models, tmp_path,
                                                                                      monkeypatch):
    import firmware_export.cengine.build

    build, _ = default_models["mlp"]
    model = tmp_path / "m.tflite"
    model.write_bytes(build.model)
    monkeypatch.setattr(firmware_export.cengine.build, "find_compiler", lambda: None)
    result = export_for_engine(ExportConfig(source=str(model), out=str(tmp_path / "c")), Engine.C)
    assert result.parity is None and result.parity_not_run == firmware_export.cengine.build.INSTALL_COMPILER
    assert f"float outputs not compared: {firmware_export.cengine.build.INSTALL_COMPILER}" in result.summary()
    engine = json.loads((tmp_path / "c" / "engine.json").read_text())
    assert engine["parity"] == {"not_run": firmware_export.cengine.build.INSTALL_COMPILER}
    assert (tmp_path / "c" / "model_model.c").read_text() == compile_float_model(
        build.model, "model", str(model)).files["model_model.c"]


def test_invoke_refuses_null_pointers(default_models):
    build, _ = default_models["mlp"]
    assert build.engine.invoke_function(None, None) == 1  # NET_ERROR_NULL_POINTER
    assert "#define NET_ERROR_NULL_POINTER 1" in build.compiled.files["net_model.h"]


def test_compile_refuses_a_hybrid_graph():
    """int8 weights with float activations (dynamic-range quantization) are not a float32 graph."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(_functional(lambda x, L: L.Dense(300)(x), (300,)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with pytest.raises(EdgeMLError, match="int8 constant in a float32 graph"):
        compile_float_model(bytes(converter.convert()), "net")
