"""The C engine on emulated Cortex-M boards (qemu-system-arm + arm-none-eabi-gcc): images built and run on
every board, outputs byte-identical to the engine built on this machine, repeatable instruction counts,
clear errors for a model too large, a fault and a hang, and the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cengine_models import convert_int8
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.qemu_target import QemuOptions, balanced_indices, run_on_qemu
from firmware_export.mcu import image as mcu_image
from firmware_export.mcu.boards import BOARDS, board_for
from firmware_export.mcu.image import ImageSources, build_image, sizes_by_object
from firmware_export.mcu.qemu import parse_harness_output, run_image

MISSING = [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "arm-none-eabi-size") if shutil.which(tool) is None]
needs_tools = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed (Debian: sudo apt install "
                                 "qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)")
SAMPLES = 8


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[..., np.newaxis], digits.target


def trained_default_models():
    """edgeml's default MLP and CNN blocks, small, trained one epoch on digits (seed 0): (name, Keras model)."""
    from edgeml.models import ModelSpec, build_model
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    images, labels = _digits()
    for name, spec in (("mlp", ModelSpec(hidden=(32, 16))),
                       ("cnn", ModelSpec(arch="cnn", filters=(4, 8), hidden=(16,), batchnorm=True))):
        tf.keras.utils.set_random_seed(0)
        model = build_model(spec, images.shape[1:], 10)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(images[:300], labels[:300], epochs=1, batch_size=32, verbose=0)
        yield name, model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """edgeml's default MLP and CNN blocks, small, trained one epoch on digits, PTQ int8 (int8 I/O)."""
    images, _ = _digits()
    folder = tmp_path_factory.mktemp("qemu-models")
    paths = {}
    for name, model in trained_default_models():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert_int8(model, images[:64]))
    return paths


def _host_outputs(model: Path, quantized: np.ndarray) -> np.ndarray:
    """The C engine built with the host compiler (edgeml's `c` runtime), one invoke per sample."""
    from edgeml.c_runtime import CEngineModel
    from edgeml.runtime import raw_outputs

    engine = CEngineModel(model.read_bytes(), model.name)
    return raw_outputs(engine, quantized.reshape(len(quantized), *engine.input_shape)).reshape(len(quantized), -1)


def _quantized(model: Path, images: np.ndarray) -> np.ndarray:
    from edgeml.runtime import open_model

    return open_model(model.read_bytes(), "tflm").input_quantization.quantize(images)


def test_balanced_indices_take_classes_in_turn():
    labels = np.array([2, 2, 0, 1, 1, 1, 0])
    assert balanced_indices(labels, 6).tolist() == [2, 3, 0, 6, 4, 1]
    assert balanced_indices(labels, 100).tolist() == [2, 3, 0, 6, 4, 1, 5]


def test_board_table_and_unknown_device():
    assert {board.machine for board in BOARDS.values()} == {"microbit", "mps2-an385", "mps2-an386", "mps2-an500"}
    assert board_for("qemu:cortex-m0").instructions_per_tick == 62.5
    assert board_for("qemu:cortex-m4").instructions_per_tick == 40.0
    with pytest.raises(EdgeMLError, match="unknown emulated device 'qemu:cortex-m9': choose one of qemu:cortex-m0, "
                                          "qemu:cortex-m3, qemu:cortex-m4, qemu:cortex-m7"):
        board_for("qemu:cortex-m9")


def test_harness_output_missing_samples_is_an_error():
    with pytest.raises(EdgeMLError, match="printed 1 of 2 samples and no end line"):
        parse_harness_output("begin 0\nsample 0 status 0 ticks 5 stack 8 out 1,2\nbegin 1\n", 2)
    with pytest.raises(EdgeMLError, match="invoke returned 1 on sample 0"):
        parse_harness_output("sample 0 status 1 ticks 5 stack 8 out 1,2\n", 1)


@needs_tools
@pytest.mark.parametrize("device", ["qemu:cortex-m0", "qemu:cortex-m3", "qemu:cortex-m4", "qemu:cortex-m7"])
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_image_on_each_board_equals_the_host_engine(which, device, models):
    images, labels = _digits()
    model = models[which]
    result = run_on_qemu(model, board_for(device), images[300:], labels[300:], QemuOptions(max_samples=SAMPLES))
    chosen = balanced_indices(labels[300:], SAMPLES)
    assert result.samples == SAMPLES
    np.testing.assert_array_equal(result.outputs, _host_outputs(model, _quantized(model, images[300:][chosen])))
    expected_accuracy = np.mean(np.argmax(result.outputs, axis=1) == labels[300:][chosen])
    assert result.accuracy == pytest.approx(expected_accuracy)
    # MACs of the FC / conv calls from the layer sizes chosen above.
    macs = [op.macs for op in result.ops if op.macs is not None]
    assert macs == ([64 * 32, 32 * 16, 16 * 10] if which == "mlp" else
                    [8 * 8 * 4 * 9 * 1, 4 * 4 * 8 * 9 * 4, 2 * 2 * 8 * 16, 16 * 10])
    # Per-op windows (profiling image) cover the invoke's kernels: their sum is the plain image's total
    # minus the invoke's glue, within one SysTick count per op either side plus the hooks' own calls.
    per_op = sum(op.instructions for op in result.ops)
    tick = board_for(device).instructions_per_tick
    assert abs(per_op - result.instructions_per_inference) <= len(result.ops) * (2 * tick + 40)
    flash, ram = result.flash, result.ram
    assert flash["engine_bytes"] + flash["model_bytes"] + flash["samples_bytes"] + flash["harness_bytes"] == \
        flash["total_bytes"]
    assert flash["samples_bytes"] == SAMPLES * 64 + 4  # 8x8 int8 inputs and their uint32_t count
    assert ram["total_bytes"] == ram["data_bytes"] + ram["bss_bytes"] + ram["stack_peak_bytes"]
    assert 0 < ram["engine_stack_bytes"] < ram["stack_peak_bytes"]


@needs_tools
def test_two_runs_give_identical_counts_and_m4_equals_m7(models):
    images, labels = _digits()
    runs = [run_on_qemu(models["cnn"], board_for(device), images[300:], labels[300:], QemuOptions(max_samples=4))
            for device in ("qemu:cortex-m4", "qemu:cortex-m4", "qemu:cortex-m7")]
    first, again, m7 = runs
    assert first.instructions_per_inference == again.instructions_per_inference
    assert [op.instructions for op in first.ops] == [op.instructions for op in again.ops]
    # QEMU counts instructions, not cycles: the same Armv7E-M code costs the same on both cores.
    assert [op.instructions for op in first.ops] == [op.instructions for op in m7.ops]


@needs_tools
def test_model_too_large_for_the_microbit_is_one_clear_error(tmp_path, monkeypatch):
    """Weights of 784 x 400 int8 (313,600 B) cannot fit 256 KiB of flash: the linker says so, QEMU never runs."""
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((784,)), tf.keras.layers.Dense(400, activation="relu"),
                                 tf.keras.layers.Dense(10)])
    path = tmp_path / "big.tflite"
    path.write_bytes(convert_int8(model, np.random.default_rng(0).random((16, 784), dtype=np.float32)))
    monkeypatch.setattr("firmware_export.mcu.qemu.run_image", _must_not_run)
    with pytest.raises(EdgeMLError) as error:
        run_on_qemu(path, board_for("qemu:cortex-m0"), np.zeros((4, 784), np.float32), None, QemuOptions(max_samples=4))
    message = str(error.value)
    match = re.fullmatch(r"big\.tflite does not fit qemu:cortex-m0 \(microbit: 256 KiB flash, 16 KiB RAM\): "
                         r"flash overflowed by ([\d,]+) bytes \(found by the linker, before QEMU ran\)", message)
    assert match, message
    overflow = int(match[1].replace(",", ""))
    assert 784 * 400 - 256 * 1024 < overflow < 784 * 400 - 256 * 1024 + 16 * 1024  # weights + code/biases/samples


@needs_tools
def test_model_too_large_for_the_microbit_ram_is_one_clear_error(tmp_path, monkeypatch):
    """A 32x32x32 int8 convolution output (32,768 B of arena) cannot fit 16 KiB of RAM."""
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((32, 32, 1)), tf.keras.layers.Conv2D(32, 3, padding="same"),
                                 tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(4)])
    path = tmp_path / "wide.tflite"
    path.write_bytes(convert_int8(model, np.random.default_rng(0).random((8, 32, 32, 1), dtype=np.float32)))
    monkeypatch.setattr("firmware_export.mcu.qemu.run_image", _must_not_run)
    with pytest.raises(EdgeMLError, match=r"^wide\.tflite does not fit qemu:cortex-m0 \(microbit: 256 KiB flash, 16 KiB "
                                          r"RAM\): ram overflowed by [\d,]+ bytes"):
        run_on_qemu(path, board_for("qemu:cortex-m0"), np.zeros((2, 32, 32, 1), np.float32), None,
                    QemuOptions(max_samples=2))


@needs_tools
def test_sample_count_is_cut_to_fit_the_microbit_flash(tmp_path):
    """784 x 290 int8 weights (227,360 B) leave room for fewer than the 40 requested 784-byte samples: the
    image keeps as many as fit, leaving less than two samples' bytes (plus the margin) of flash unused."""
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((784,)), tf.keras.layers.Dense(290, activation="relu"),
                                 tf.keras.layers.Dense(10)])
    inputs = np.random.default_rng(1).random((40, 784), dtype=np.float32)
    path = tmp_path / "wide.tflite"
    path.write_bytes(convert_int8(model, inputs[:16]))
    result = run_on_qemu(path, board_for("qemu:cortex-m0"), inputs, None, QemuOptions(max_samples=40))
    assert 1 <= result.samples < 40 and result.accuracy is None
    assert result.flash["samples_bytes"] == result.samples * 784 + 4
    free = 256 * 1024 - result.flash["total_bytes"]
    assert 0 <= free < 2 * 784 + mcu_image.FIT_MARGIN_BYTES
    np.testing.assert_array_equal(result.outputs, _host_outputs(path, _quantized(path, inputs[:result.samples])))


def _must_not_run(*args, **kwargs):
    raise AssertionError("QEMU ran")


FAKE_HEADER = """#include <stdint.h>
#define MODEL_ARENA_BYTES 16
#define MODEL_INPUT_SIZE 4
#define MODEL_OUTPUT_SIZE 2
typedef int8_t model_input_t;
typedef int8_t model_output_t;
int model_invoke(const model_input_t *input, model_output_t *output, uint8_t *arena);
"""
FAKE_MODEL = """#include "model_model.h"
#ifndef EDGEML_OP_BEGIN
#define EDGEML_OP_BEGIN(op_index) ((void)0)
#define EDGEML_OP_END(op_index) ((void)0)
#endif
int model_invoke(const model_input_t *input, model_output_t *output, uint8_t *arena)
{
    (void)arena;
    EDGEML_OP_BEGIN(0);
    if (input[0] == 7) { %s }
    output[0] = (model_output_t)(input[0] + input[1]);
    output[1] = (model_output_t)(input[2] - input[3]);
    EDGEML_OP_END(0);
    return 0;
}
"""


def _fake_image(tmp_path: Path, misbehaviour: str, device: str = "qemu:cortex-m3"):
    sources = ImageSources({"model_model.h": FAKE_HEADER, "model_model.c": FAKE_MODEL % misbehaviour,
                            "edgeml_engine_stub.c": "typedef int edgeml_unused;\n"}, "model", (0,), np.int8, "fake.tflite")
    samples = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [7, 0, 0, 0]], dtype=np.int8)
    return build_image(sources, board_for(device), samples, tmp_path, profiled=False)


@needs_tools
def test_harness_prints_what_the_code_computes(tmp_path):
    """A hand-written invoke (sum, difference) through the harness: outputs and ops read back exactly."""
    run = run_image(_fake_image(tmp_path, ""))
    assert run.outputs.tolist() == [[3, -1], [11, -1], [7, 0]]
    assert len(run.ticks) == 3 and run.stack_peak_bytes > 0


@needs_tools
@pytest.mark.parametrize("device", ["qemu:cortex-m3", "qemu:cortex-m0"])
def test_ticks_count_instructions(tmp_path, device):
    """A loop of exactly 2 x 50,000 instructions (subs, bne) in sample 2's invoke: its SysTick count times
    the board's instructions per tick (40 at 25 MHz, 62.5 at 16 MHz) is 100,000 plus the invoke's few
    dozen instructions of its own, within one tick."""
    step = "sub %0, #1" if device == "qemu:cortex-m0" else "subs %0, %0, #1"  # SUBS either way (Thumb-1: divided syntax)
    loop = f"uint32_t n = 50000u; __asm__ volatile(\"1: {step}\\n\\tbne 1b\" : \"+l\"(n) : : \"cc\");"
    image = _fake_image(tmp_path, loop, device)
    run = run_image(image)
    per_tick = board_for(device).instructions_per_tick
    plain = run.ticks[0] * per_tick
    looped = run.ticks[2] * per_tick
    assert abs(looped - plain - 100_000) <= per_tick + 4  # the branch into the loop and its setup
    assert plain <= 60 + per_tick


@needs_tools
def test_a_fault_names_the_board_and_the_sample(tmp_path):
    image = _fake_image(tmp_path, "__asm__ volatile(\"udf #0\");")
    with pytest.raises(EdgeMLError, match=r"^qemu-system-arm -M mps2-an385 \(qemu:cortex-m3\): the Cortex-M faulted "
                                          r"\(hard fault\), during sample 2$"):
        run_image(image)


@needs_tools
def test_a_hang_names_the_board_and_the_sample(tmp_path):
    image = _fake_image(tmp_path, "for (;;) { __asm__ volatile(\"nop\"); }", device="qemu:cortex-m0")
    with pytest.raises(EdgeMLError, match=r"^qemu-system-arm -M microbit \(qemu:cortex-m0\) hung: no exit within 3 s, "
                                          r"during sample 2$"):
        run_image(image, timeout_s=3)


def test_map_sizes_by_object():
    text = ("Linker script and memory map\n\n.text           0x00000040      0x60\n"
            " .text.a        0x00000040      0x30 /x/edgeml_add.o\n *fill*         0x00000070        0x2 \n"
            " .text.long_function_name\n                0x00000074       0x14 /x/edgeml_add.o\n"
            " .text          0x00000088       0x18 /usr/lib/libc_nano.a(libc_a-memcpy.o)\n"
            "                0x00000088                memcpy\n"
            ".bss            0x20000000       0x10\n .bss.arena     0x20000000       0x10 /x/edgeml_harness.o\n")
    assert sizes_by_object(text, (".text",)) == {"edgeml_add.o": 0x44, "libc_nano.a(libc_a-memcpy.o)": 0x18}
    assert sizes_by_object(text, (".bss",)) == {"edgeml_harness.o": 0x10}


@needs_tools
def test_cli_benchmark_on_qemu(tiny_run, tmp_path):
    out = tmp_path / "bench"
    result = CliRunner().invoke(cli, ["benchmark", str(tiny_run), "--device", "qemu:cortex-m3", "--test-samples", "12",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "benchmark.json").read_text())
    # model.keras is not sent to the board; the float32 model runs first, the int8 one on the same samples
    float_row, row = saved["rows"]
    assert float_row["model"] == "model_float32.tflite" and float_row["float_abi"] == "soft"
    assert float_row["samples"] == 12 and float_row["max_abs_difference"] <= 1e-5
    assert row["model"] == "model_int8.tflite" and row["samples"] == 12 and row["device"] == "qemu:cortex-m3"
    assert "model.keras" not in result.output and saved["skipped"] == []
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("device "))
    line = next(line for line in lines if line.split()[:2] == ["qemu:cortex-m3", "model_int8.tflite"])
    assert line.split() == ["qemu:cortex-m3", "model_int8.tflite", "12", f"{row['accuracy']:.4f}", "100%",
                            f"{row['instructions']['per_inference']:,.0f}", f"{row['flash']['total_bytes']:,}",
                            f"{row['ram']['total_bytes']:,}"]
    # numbers right-aligned under their headers: the instructions end where "instr/inference" ends
    assert line.index(f"{row['instructions']['per_inference']:,.0f} ") + len(
        f"{row['instructions']['per_inference']:,.0f}") == header.index("instr/inference") + len("instr/inference")
    ratio = row["instructions"]["per_inference"] / float_row["instructions"]["per_inference"]
    pair = [line.split() for line in result.output.splitlines() if line.split()[:2] == ["qemu:cortex-m3", "soft"]]
    assert pair and pair[0][7] == f"{ratio:.3f}"
    assert "Instructions, not cycles" in result.output
    assert {path.name for path in out.iterdir()} == {"benchmark.json", "benchmark.md"}
    wrong_runtime = CliRunner().invoke(cli, ["benchmark", str(tiny_run), "--device", "qemu:cortex-m3", "--runtime",
                                             "litert", "--out", str(out)])
    assert wrong_runtime.exit_code == 1
    assert wrong_runtime.output.strip().splitlines()[-1] == ("error: qemu:cortex-m3 runs edgeml's C engine only: "
                                                             "drop --runtime or use --runtime c")
    refused = CliRunner().invoke(cli, ["benchmark", str(tiny_run), "--device", "qemu:cortex-m9", "--out", str(out)])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1] == ("error: unknown emulated device 'qemu:cortex-m9': choose one of "
                                                        "qemu:cortex-m0, qemu:cortex-m3, qemu:cortex-m4, qemu:cortex-m7")
