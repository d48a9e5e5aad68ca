"""The C engine's memory: conv + pool fusion and in-place element-wise ops change no output byte (against
TFLite Micro in the default build, LiteRT BUILTIN_REF in the single-rounding build) and shrink the plan
to what a hand count of the live tensors says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from cengine_models import BuiltEngine, convert_int8
from edgeml.errors import EdgeMLError
from edgeml.tf_setup import load_tensorflow
from firmware_export.cengine import CEngineConfig, export_c_engine, measure
from firmware_export.cengine.host import SANITIZE_FLAGS, BuildOptions, build_executable, run_executable
from firmware_export.cengine.measure import CORTEX_M4_FLAGS, deepest_chain, measure_cortex_m4, text_plus_data

SAMPLES = 120


def _convert(build, input_shape: tuple[int, ...], seed: int = 0) -> bytes:
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(seed)
    model = build(tf.keras.layers, tf.keras.Input(input_shape))
    representative = np.random.default_rng(seed).normal(size=(40, *input_shape)).astype(np.float32)
    return convert_int8(model, representative)


def _conv_pools(layers, x):
    """Conv (SAME) -> average pool with overlapping, padded windows (3x3, stride 2, SAME), then
    depthwise conv (multiplier 2) -> max pool 2x2 (VALID, odd size: the last conv row is never read)."""
    tf = load_tensorflow()
    inputs = x
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return tf.keras.Model(inputs, layers.Dense(5)(x))


def _residual_add(layers, x):
    """Dense a -> Dense b(a) -> a + b -> Dense: the ADD is the last use of both a and b."""
    tf = load_tensorflow()
    first = layers.Dense(8, activation="relu")(x)
    second = layers.Dense(8)(first)
    added = layers.Add()([first, second])
    return tf.keras.Model(x, layers.Dense(4)(added))


@pytest.fixture(scope="module")
def conv_pools(tmp_path_factory) -> BuiltEngine:
    return BuiltEngine(_convert(_conv_pools, (9, 9, 2)), tmp_path_factory.mktemp("fused") / "engine")


@pytest.fixture(scope="module")
def residual(tmp_path_factory) -> BuiltEngine:
    return BuiltEngine(_convert(_residual_add, (16,)), tmp_path_factory.mktemp("residual") / "engine")


def _inputs(built: BuiltEngine, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).integers(-128, 128, size=(SAMPLES, built.input.element_count))
    return values.astype(np.int8)


def _shape(built: BuiltEngine, op_index: int) -> tuple[int, ...]:
    return built.graph.tensor(built.graph.ops[op_index].outputs[0]).shape


def test_conv_pool_pairs_are_fused_and_their_conv_outputs_never_stored(conv_pools):
    names = [op.name for op in conv_pools.graph.ops]
    assert names[:4] == ["CONV_2D", "AVERAGE_POOL_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"]
    fusions = [(f.conv_op, f.pool_op) for f in conv_pools.compiled.fusions]
    assert fusions == [(0, 1), (2, 3)]
    assert [call.kernel for call in conv_pools.compiled.lowered.calls][:2] == ["conv_pool", "conv_pool"]
    engine = json.loads((conv_pools.folder / "engine.json").read_text())
    storage = {row["index"]: row["storage"] for row in engine["tensors"]}
    for op in (0, 2):
        assert storage[conv_pools.graph.ops[op].outputs[0]] == "unstored"
    # By hand: the first fused call writes pool 1's output (5x5x4 = 100 bytes) with a scratch of a 3x3 window
    # of 4 channels (36) and the conv's two im2col columns of 3x3x2 (36); the second reads those 100 and
    # writes pool 2's (2x2x8 = 32) with one 2x2 window of 8-channel depthwise pixels as scratch (32, no
    # im2col). The flattened 32 bytes feed the last Dense (the output).
    assert _shape(conv_pools, 1) == (1, 5, 5, 4) and _shape(conv_pools, 3) == (1, 2, 2, 8)
    assert [row["bytes"] for row in engine["scratch"]] == [36 + 36, 32]
    assert conv_pools.compiled.plan.liveness_floor_bytes == 100 + 72
    assert conv_pools.compiled.plan.arena_bytes == 100 + 72


@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_fused_conv_pools_are_byte_exact(conv_pools, single_rounding):
    result = conv_pools.exactness(_inputs(conv_pools, 1), single_rounding)
    assert result.samples == SAMPLES and result.differing_vectors == 0, result.describe()


def test_in_place_add_shares_its_input_bytes(residual):
    """Unfused by hand: a (8 B), b (8 B) and a + b (8 B) are live at the ADD, 24 bytes; in place 16."""
    assert [op.name for op in residual.graph.ops] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "ADD",
                                                      "FULLY_CONNECTED"]
    add = residual.graph.ops[2]
    (in_place,) = residual.compiled.in_place
    assert (in_place.op, in_place.output) == (2, add.outputs[0]) and in_place.input in add.inputs
    plan = residual.compiled.plan
    assert plan.arena_bytes == 16 and plan.liveness_floor_bytes == 16
    engine = json.loads((residual.folder / "engine.json").read_text())
    row = next(row for row in engine["tensors"] if row["index"] == add.outputs[0])
    assert row["offset"] == plan.offset_of(in_place.input) and row["alias_of"] == in_place.input


@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_in_place_add_is_byte_exact(residual, single_rounding):
    result = residual.exactness(_inputs(residual, 2), single_rounding)
    assert result.differing_vectors == 0, result.describe()


@pytest.mark.parametrize("which", ["conv_pools", "residual", "uint8_io"])
def test_sanitized_poisoned_build_of_fused_and_in_place_models(which, request, tmp_path):
    """ASan + UBSan with exactly <NAME>_ARENA_BYTES, dead tensors overwritten: the same bytes."""
    built = request.getfixturevalue(which)
    program = build_executable(built.folder, "net", tmp_path / "net_asan",
                               BuildOptions(optimization="-O1", poison=True, extra_flags=SANITIZE_FLAGS))
    inputs = _inputs(built, 3)[:50]
    outputs = run_executable(program, inputs, built.output.element_count)
    np.testing.assert_array_equal(outputs, built.engines[False, False].run(inputs))


needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")


def _arm_objects(folder, out, extra=()) -> dict[str, object]:
    """Each .c of ``folder`` compiled for the Cortex-M4 by the test itself."""
    objects = {}
    for source in sorted(folder.glob("*.c")):
        target = out / (source.stem + ".o")
        subprocess.run(["arm-none-eabi-gcc", *CORTEX_M4_FLAGS, *extra, "-c", str(source), "-o", str(target)],
                       check=True, cwd=out, capture_output=True)
        objects[source.stem] = target
    return objects


@needs_arm_gcc
def test_invoke_stack_is_the_su_frames_of_its_deepest_call_chain(conv_pools, tmp_path):
    stack = measure_cortex_m4(conv_pools.folder, "net").stack.value
    _arm_objects(conv_pools.folder, tmp_path, ("-fstack-usage",))
    su = {}
    for path in tmp_path.glob("*.su"):
        for line in path.read_text().splitlines():
            where_name, size, _ = line.split("\t")
            su[where_name.rsplit(":", 1)[1]] = int(size)
    names = [title.rsplit(":", 1)[-1] for title in stack.chain]
    assert names[:2] == ["net_invoke", "edgeml_conv_pool"]
    assert stack.bytes == sum(su[name] for name in names) > su["net_invoke"] > 0
    # At least invoke's frame plus the largest frame of any kernel invoke calls.
    kernels = set(re.findall(r"^\s+(edgeml_\w+)\(", (conv_pools.folder / "net_model.c").read_text(), re.M))
    assert kernels >= {"edgeml_conv_pool", "edgeml_fully_connected"}
    assert stack.bytes >= su["net_invoke"] + max(su[kernel] for kernel in kernels)


def test_deepest_chain_refuses_recursion_and_unknown_library_calls():
    frames = {"invoke": (16, "static"), "f": (8, "static")}
    with pytest.raises(EdgeMLError, match="recursion through f"):
        deepest_chain("invoke", frames, {"invoke": {"f"}, "f": {"f"}})
    with pytest.raises(EdgeMLError, match="__aeabi_idiv is called but no object defines it"):
        deepest_chain("invoke", frames, {"invoke": {"f"}, "f": {"__aeabi_idiv"}})
    with pytest.raises(EdgeMLError, match="f has a dynamic stack frame"):
        deepest_chain("invoke", {**frames, "f": (8, "dynamic")}, {"invoke": {"f"}})


@needs_arm_gcc
def test_flash_counts_the_model_object_and_only_the_kernels_it_calls(conv_pools, tmp_path):
    flash = measure_cortex_m4(conv_pools.folder, "net").flash.value
    objects = _arm_objects(conv_pools.folder, tmp_path)
    assert flash.model_bytes == text_plus_data(objects["net_model"])
    # The model object holds every constant array, in bytes counted by hand from the lowered calls.
    sizes = {"int8_t": 1, "int32_t": 4}
    constants = sum(len(array.values) * sizes[array.ctype]
                    for call in conv_pools.compiled.lowered.calls for array in call.arrays)
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(objects["net_model"])], capture_output=True,
                             text=True, check=True).stdout
    arrays = sum(int(fields[1], 16) for fields in map(str.split, symbols.splitlines())
                 if len(fields) == 4 and re.fullmatch(r"op\d+_\w+", fields[3]) and not fields[3].endswith("_params"))
    assert arrays == constants
    # --gc-sections keeps the kernels the model calls and drops the rest (e.g. the unfused conv).
    kernel_objects = sum(text_plus_data(path) for stem, path in objects.items() if stem != "net_model")
    assert flash.total_bytes == flash.model_bytes + flash.kernels_bytes
    assert text_plus_data(objects["edgeml_conv_pool"]) < flash.kernels_bytes < kernel_objects


def test_a_missing_toolchain_or_failed_build_is_not_measured(monkeypatch, tmp_path, residual):
    monkeypatch.setattr(measure, "ARM_GCC", "arm-none-eabi-gcc-absent")
    build = measure_cortex_m4(residual.folder, "net")
    assert build.stack.as_json() == build.flash.as_json() == ("not measured: arm-none-eabi-gcc-absent is not installed "
                                                               "(Debian/Ubuntu: sudo apt install gcc-arm-none-eabi)")
    memory = measure.EngineMemory(16, 16, 16, 4, 100, build, measure.Measurement(1000))
    assert memory.ram_bytes.as_json().startswith("not measured: no invoke stack")
    assert memory.ram_percent_of_tflm.not_measured and memory.as_json()["invoke_stack_bytes"].startswith("not measured")
    monkeypatch.undo()
    if shutil.which("arm-none-eabi-gcc"):
        (tmp_path / "broken.c").write_text("int broken(void) { return missing; }\n")
        build = measure_cortex_m4(tmp_path, "net")
        assert build.flash.as_json().startswith("not measured: arm-none-eabi-gcc failed on broken.c")


@needs_arm_gcc
def test_export_writes_measured_memory_into_engine_json(residual, tmp_path):
    from edgeml.tflite_model import read_tflite_bytes
    from firmware_export.arena import arena_fits

    source = tmp_path / "residual.tflite"
    source.write_bytes(residual.model)
    result = export_c_engine(CEngineConfig(source=str(source), out=str(tmp_path / "out"), name="net"))
    memory = json.loads((tmp_path / "out" / "engine.json").read_text())["memory"]
    stack = memory["invoke_stack_bytes"]
    assert memory["ram_bytes"] == 16 + 16 + 4 + stack  # arena, 16 int8 inputs, 4 outputs, stack
    assert stack == measure_cortex_m4(residual.folder, "net").stack.value.bytes
    tflm = memory["tflm_minimum_arena_bytes"]
    inputs = read_tflite_bytes(residual.model).inputs
    assert arena_fits(residual.model, inputs, tflm) and not arena_fits(residual.model, inputs, tflm - 16)
    assert memory["ram_percent_of_tflm_arena"] == round(100 * memory["ram_bytes"] / tflm, 1)
    assert memory["tflite_bytes"] == len(residual.model)
    assert result.memory is not None and "of TFLite Micro's arena" in result.summary()


@pytest.fixture(scope="module")
def uint8_io(tmp_path_factory):
    """Conv -> MaxPool -> Dense converted with uint8 input and output (QUANTIZE ops at both edges)."""
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    model = tf.keras.Sequential([layers.Input((4, 4, 2)), layers.Conv2D(3, 2, activation="relu"),
                                 layers.MaxPooling2D(), layers.Flatten(), layers.Dense(5)])
    representative = np.random.default_rng(0).normal(size=(30, 4, 4, 2)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[np.newaxis]] for sample in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    return BuiltEngine(bytes(converter.convert()), tmp_path_factory.mktemp("uint8") / "engine")


def _builtin_ref_outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in inputs:
        interpreter.set_tensor(source["index"], sample.reshape(source["shape"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"]).reshape(-1))
    return np.array(outputs)


def test_uint8_io_is_requantized_inside_invoke(uint8_io):
    graph = uint8_io.graph
    assert [op.name for op in graph.ops] == ["QUANTIZE", "CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                             "QUANTIZE"]
    assert (uint8_io.input.dtype, uint8_io.output.dtype) == ("uint8", "uint8")
    assert [call.kernel for call in uint8_io.compiled.lowered.calls] == [
        "requantize_uint8_input", "conv_pool", "fully_connected", "requantize_uint8_output"]
    header = (uint8_io.folder / "net_model.h").read_text()
    assert "typedef uint8_t net_input_t;" in header and "typedef uint8_t net_output_t;" in header
    # By hand: the int8 copy of the input (4x4x2 = 32 B) is live with the pooled 1x1x3 = 3 B and the
    # scratch of the fused conv + max pool: an int32 maximum per channel (12 B) and two im2col columns of
    # 2x2x2 (16 B); then 3 B with the Dense's int8 5 B (requantized into the caller's uint8 output): 63 bytes.
    assert uint8_io.compiled.plan.arena_bytes == uint8_io.compiled.plan.liveness_floor_bytes == 32 + 3 + 12 + 16


@pytest.mark.parametrize("single_rounding", [False, True], ids=["default=TFLM", "single=BUILTIN_REF"])
def test_uint8_io_is_byte_exact(uint8_io, single_rounding):
    from edgeml.tflite_model import read_tflite_bytes
    from firmware_export.cengine.host import HostEngine, build_shared_library
    from firmware_export.tflm import run_tflm

    inputs = np.random.default_rng(4).integers(0, 256, size=(SAMPLES, 32)).astype(np.uint8)
    if single_rounding:
        expected = _builtin_ref_outputs(uint8_io.model, inputs)
    else:
        info = read_tflite_bytes(uint8_io.model)
        expected = np.asarray(run_tflm(uint8_io.model, info.inputs, inputs.reshape(SAMPLES, 4, 4, 2), 1 << 20))
    library = build_shared_library(uint8_io.folder, uint8_io.folder / f"u{int(single_rounding)}.so",
                                   BuildOptions(single_rounding=single_rounding), uint8_io.objects)
    engine = HostEngine(library, "net", 32, 5, uint8_io.compiled.plan.arena_bytes, (np.uint8, np.uint8))
    outputs = engine.run(inputs)
    assert expected.dtype == outputs.dtype == np.uint8
    np.testing.assert_array_equal(outputs, expected.reshape(SAMPLES, 5))
