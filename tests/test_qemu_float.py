"""The C engine's float32 build on emulated Cortex-M boards (issue 15): soft float on the M3 (libgcc), the
FPU on the M4; outputs within the issue's bound of LiteRT BUILTIN_REF float, the same top class on both
boards wherever it is clear, repeatable instruction counts, the rows read back as Measurements, and a float
model too large for the micro:bit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cengine_models import convert_int8
from edgeml.artifact_json import JsonObject
from edgeml.errors import EdgeMLError
from edgeml.measurement import Measurement, Variant
from edgeml.qemu_tables import format_qemu_table
from edgeml.qemu_target import QemuOptions, balanced_indices, run_on_qemu
from firmware_export.cengine.float_exactness import CLEAR_MARGIN, MAX_ABS_DIFFERENCE, reference_outputs
from firmware_export.cengine.float_generate import compile_float_model
from firmware_export.mcu.boards import board_for
from firmware_export.mcu.image import ImageSources, ImageTooLarge, build_image
from test_qemu import _digits, needs_tools, trained_default_models

SAMPLES = 6
BOARDS = ("qemu:cortex-m0", "qemu:cortex-m3", "qemu:cortex-m4")  # soft, soft, hard float


def _convert_float(model) -> bytes:
    from edgeml.tf_setup import load_tensorflow

    return bytes(load_tensorflow().lite.TFLiteConverter.from_keras_model(model).convert())


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """test_qemu's default MLP and CNN: float32 and int8 files, under a run's names (rows are typed by them)."""
    images, _ = _digits()
    folder = tmp_path_factory.mktemp("qemu-float-models")
    paths = {}
    for name, model in trained_default_models():
        (folder / name).mkdir()
        paths[name] = folder / name / "model_float32.tflite"
        paths[name].write_bytes(_convert_float(model))
        paths[f"{name}_int8"] = folder / name / "model_int8.tflite"
        paths[f"{name}_int8"].write_bytes(convert_int8(model, images[:64]))
    return paths


@pytest.fixture(scope="module")
def results(models):
    images, labels = _digits()
    return {(which, device): run_on_qemu(models[which], board_for(device), images[300:], labels[300:],
                                         QemuOptions(max_samples=SAMPLES))
            for which in ("mlp", "cnn") for device in BOARDS}


def _inputs(count: int = SAMPLES) -> np.ndarray:
    images, labels = _digits()
    return images[300:][balanced_indices(labels[300:], count)].reshape(count, -1)


@needs_tools
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_soft_and_hard_float_within_the_bound_of_builtin_ref(which, models, results):
    """Each board's outputs against BUILTIN_REF computed here: within 1e-5, the row's largest difference
    and agreement are those values, and the M3 (soft) and M4 (hard) give the same top class on every
    sample with a top-2 margin above 2e-5; the M0 (soft, Armv6-M) gives the M3's bits."""
    reference = reference_outputs(models[which].read_bytes(), _inputs())
    top = {}
    for device in BOARDS:
        result = results[which, device]
        assert result.samples == SAMPLES and result.float_abi == board_for(device).float_abi
        difference = np.abs(result.outputs.astype(np.float64) - reference).max()
        assert difference <= MAX_ABS_DIFFERENCE
        assert result.float_check.max_abs_difference == difference
        top[device] = result.outputs.argmax(axis=1)
        assert result.float_check.agreement_with_litert_ref == np.mean(top[device] == reference.argmax(axis=1))
        _, labels = _digits()
        assert result.accuracy == np.mean(top[device] == labels[300:][balanced_indices(labels[300:], SAMPLES)])
    ordered = np.sort(reference, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > CLEAR_MARGIN
    assert clear.sum() >= SAMPLES - 1
    np.testing.assert_array_equal(top["qemu:cortex-m3"][clear], top["qemu:cortex-m4"][clear])
    # Soft float is IEEE single precision operation by operation, in the same order on Armv6-M and Armv7-M:
    # the micro:bit and the M3 give the same bits.
    np.testing.assert_array_equal(results[which, "qemu:cortex-m0"].outputs, results[which, "qemu:cortex-m3"].outputs)


@needs_tools
def test_instruction_counts_present_and_repeatable(models, results):
    """A second run, and the M7, give the same counts; every op is counted and the ops add up to the invoke (within
    a SysTick count per op and the hooks' few instructions); the FPU needs fewer instructions per MAC in
    every FULLY_CONNECTED and convolution than libgcc's soft float."""
    images, labels = _digits()
    again = run_on_qemu(models["cnn"], board_for("qemu:cortex-m4"), images[300:], labels[300:],
                        QemuOptions(max_samples=SAMPLES))
    m7 = run_on_qemu(models["cnn"], board_for("qemu:cortex-m7"), images[300:], labels[300:],
                     QemuOptions(max_samples=SAMPLES))
    first = results["cnn", "qemu:cortex-m4"]
    for other in (again, m7):  # the M7 runs the M4's code (FPv4-SP, scheduled for the M4): the same counts
        assert other.instructions_per_inference == first.instructions_per_inference
        assert other.instructions_range == first.instructions_range and other.ops == first.ops
    compiled = compile_float_model(models["cnn"].read_bytes(), "model")
    assert [op.op_index for op in first.ops] == [call.op_index for call in compiled.lowered.calls]
    for result in (first, results["cnn", "qemu:cortex-m3"], results["mlp", "qemu:cortex-m3"]):
        summed = sum(op.instructions for op in result.ops)
        assert abs(summed - result.instructions_per_inference) <= len(result.ops) * (40 + 12) + 80
    for which in ("mlp", "cnn"):
        soft, hard = results[which, "qemu:cortex-m3"], results[which, "qemu:cortex-m4"]
        mac_ops = [(a, b) for a, b in zip(soft.ops, hard.ops) if a.macs]
        assert mac_ops and all(b.instructions_per_mac < a.instructions_per_mac for a, b in mac_ops)


def _symbols_and_code(elf: Path) -> tuple[set[str], str]:
    symbols = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    code = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in symbols.splitlines() if line.strip()}, code


def _engine_code(disassembly: str) -> str:
    """The disassembly of the float kernels only (functions named edgeml_float_*)."""
    blocks = re.split(r"\n(?=[0-9a-f]{8} <)", disassembly)
    return "\n".join(block for block in blocks if re.match(r"[0-9a-f]{8} <edgeml_float_", block))


@needs_tools
def test_which_float_abi_ran(models, tmp_path):
    """The M0 and M3 images link libgcc's __aeabi_fmul and __aeabi_fadd and their kernels hold no VFP instruction;
    the M4 image's kernels multiply-accumulate on the FPU with the fused VFMA.F32 (-ffp-contract=fast on
    hard float) and call no soft-float routine."""
    compiled = compile_float_model(models["mlp"].read_bytes(), "model", "model_float32.tflite")
    sources = ImageSources(compiled.files, "model", tuple(call.op_index for call in compiled.lowered.calls),
                           np.float32, "model_float32.tflite", float_engine=True)
    elves = {device: build_image(sources, board_for(device), _inputs(2), tmp_path / device, profiled=False).elf
             for device in BOARDS}
    for device in ("qemu:cortex-m0", "qemu:cortex-m3"):
        symbols, code = _symbols_and_code(elves[device])
        assert {"__aeabi_fmul", "__aeabi_fadd"} <= symbols, device
        assert not re.search(r"\sv(mul|add|fma|mla)\.f32", _engine_code(code)), device
    symbols, code = _symbols_and_code(elves["qemu:cortex-m4"])
    assert "__aeabi_fmul" not in symbols and "__aeabi_fadd" not in symbols
    assert re.search(r"\svfma\.f32", _engine_code(code))


@needs_tools
def test_float_rows_read_back_through_measurement(results):
    """The rows run_on_qemu's results write are read whole by edgeml.measurement (float32: ABI, agreement
    with BUILTIN_REF and the host float engine, largest difference; no TFLM agreement)."""
    for (which, device), result in results.items():
        row = result.to_row()
        assert row["predictions"] == result.outputs.argmax(axis=1).tolist()
        measurement = Measurement.from_json(JsonObject(row, Path("benchmark.json")))
        assert measurement == result.to_measurement() and measurement.not_measured is None
        assert measurement.to_json(predictions=True) == row
        assert (measurement.variant, measurement.float_abi, measurement.agreement_with_tflm) == (
            Variant.FLOAT32, board_for(device).float_abi, None)
        assert measurement.max_abs_difference == result.float_check.max_abs_difference
        assert measurement.agreement_with_host_c == result.float_check.agreement_with_host_c
        assert measurement.instructions.per_inference == result.instructions_per_inference
        assert measurement.image_flash.total == result.flash["total_bytes"]


@needs_tools
def test_table_sets_float32_beside_int8(models, results):
    """format_qemu_table pairs the run's float32 row with its int8 row on the same board: the
    int8/float32 instruction ratio, flash of engine + model (not the samples) and RAM of each, RAM ratio."""
    images, labels = _digits()
    int8 = run_on_qemu(models["mlp_int8"], board_for("qemu:cortex-m3"), images[300:], labels[300:],
                       QemuOptions(max_samples=SAMPLES))
    f32 = results["mlp", "qemu:cortex-m3"]
    text = format_qemu_table([f32.to_measurement(), int8.to_measurement()])
    ratio = int8.instructions_per_inference / f32.instructions_per_inference
    cells = text.splitlines()[-2].split()
    assert cells[:3] == ["qemu:cortex-m3", "soft", str(SAMPLES)]
    assert cells[5:8] == [f"{f32.instructions_per_inference:,.0f}", f"{int8.instructions_per_inference:,.0f}",
                          f"{ratio:.3f}"]
    assert cells[8:] == [f"{f32.flash['engine_bytes'] + f32.flash['model_bytes']:,}",
                         f"{int8.flash['engine_bytes'] + int8.flash['model_bytes']:,}", f"{f32.ram['total_bytes']:,}",
                         f"{int8.ram['total_bytes']:,}", f"{f32.ram['total_bytes'] / int8.ram['total_bytes']:.2f}"]
    assert f"float32, soft float: top class as LiteRT BUILTIN_REF on {f32.float_check.agreement_with_litert_ref:.0%}" \
        in text


@needs_tools
def test_a_float_model_too_big_for_the_microbit_is_one_error(tmp_path, monkeypatch):
    """784 x 100 float weights (313,600 bytes) cannot fit the micro:bit's 256 KiB of flash: the linker
    says so, by at least the weights' excess, and QEMU never runs."""
    from edgeml.tf_setup import load_tensorflow
    from firmware_export.mcu import qemu as mcu_qemu

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((784,)), tf.keras.layers.Dense(100, activation="relu"),
                                 tf.keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "wide_float32.tflite"
    path.write_bytes(_convert_float(model))
    monkeypatch.setattr(mcu_qemu, "run_image", lambda *args, **kwargs: pytest.fail("QEMU ran"))
    with pytest.raises(ImageTooLarge) as raised:
        run_on_qemu(path, board_for("qemu:cortex-m0"), np.zeros((4, 784), np.float32), None, QemuOptions(max_samples=4))
    match = re.fullmatch(r"wide_float32\.tflite does not fit qemu:cortex-m0 \(microbit: 256 KiB flash, 16 KiB RAM\): "
                         r"flash overflowed by ([\d,]+) bytes \(found by the linker, before QEMU ran\)", str(raised.value))
    assert match and int(match[1].replace(",", "")) >= 784 * 100 * 4 - 256 * 1024
    assert isinstance(raised.value, EdgeMLError)


@needs_tools
def test_the_bound_error_names_board_sample_and_first_op(models, results, monkeypatch):
    """With the bound at 0, the first sample whose M3 output differs at all from BUILTIN_REF's is the error;
    the host build differs there too, so its trace names the first op beyond the bound."""
    from firmware_export.cengine import float_exactness

    result = results["mlp", "qemu:cortex-m3"]
    reference = reference_outputs(models["mlp"].read_bytes(), _inputs())
    differing = np.flatnonzero(np.abs(result.outputs.astype(np.float64) - reference).max(axis=1) > 0)
    assert differing.size  # newlib's expf is not the host's: some probability differs in its last bits
    monkeypatch.setattr(float_exactness, "MAX_ABS_DIFFERENCE", 0.0)
    images, labels = _digits()
    with pytest.raises(EdgeMLError, match=rf"^model_float32\.tflite on qemu:cortex-m3: output differs from LiteRT "
                                          rf"BUILTIN_REF float by \S+ > 0 on sample {differing[0]} "
                                          rf"\({differing.size}/{SAMPLES} samples beyond the bound; (first op beyond "
                                          rf"the bound \(host build\): op \d+ \w+|the float engine built on this "
                                          rf"machine is within it there)"):
        run_on_qemu(models["mlp"], board_for("qemu:cortex-m3"), images[300:], labels[300:],
                    QemuOptions(max_samples=SAMPLES))


class _FakeResult:
    def __init__(self, model: Path, samples: int) -> None:
        self.model, self.samples = model, samples

    def to_measurement(self) -> Measurement:
        return Measurement(self.model.name, "c", "qemu:cortex-m0", samples=self.samples)


@pytest.mark.parametrize("float_fits", [True, False])
def test_the_target_runs_float32_first_and_int8_on_its_samples(tmp_path, monkeypatch, float_fits):
    """QemuTarget: model.keras is not sent; the float32 model runs first, the int8 model on as many samples
    as the float32 image held (the same class-balanced prefix); a float32 model too large for the board is
    a not-measured row with the linker's reason, and the int8 model keeps the asked-for count."""
    from edgeml.targets import qemu as qemu_module
    from edgeml.targets.base import MeasureJob

    calls = []

    def fake_run(model, board, inputs, labels, options):
        calls.append((model.name, options.max_samples))
        if model.name == "model_float32.tflite" and not float_fits:
            raise ImageTooLarge("model_float32.tflite does not fit qemu:cortex-m0: flash overflowed by 9 bytes")
        return _FakeResult(model, 7 if model.name == "model_float32.tflite" else options.max_samples)

    monkeypatch.setattr(qemu_module, "run_on_qemu", fake_run)
    monkeypatch.setattr(qemu_module, "missing_tools", lambda: None)
    monkeypatch.setattr(qemu_module, "load_test_samples", lambda *args: (np.zeros((50, 64)), np.zeros(50)))
    from edgeml.tf_setup import load_tensorflow

    keras = tmp_path / "model.keras"
    keras.write_bytes(b"")
    folder = tmp_path / "run"
    folder.mkdir()
    tf = load_tensorflow()
    model = tf.keras.Sequential([tf.keras.layers.Input((64,)), tf.keras.layers.Dense(10, activation="softmax")])
    (folder / "model_float32.tflite").write_bytes(_convert_float(model))
    (folder / "model_int8.tflite").write_bytes(convert_int8(model, np.zeros((4, 64), np.float32)))
    target = qemu_module.QemuTarget("qemu:cortex-m0", QemuOptions(max_samples=40))
    target.prepare(MeasureJob((folder / "model_int8.tflite", keras, folder / "model_float32.tflite"), None, "digits"))
    outcome = target.run()
    assert calls == [("model_float32.tflite", 40), ("model_int8.tflite", 7 if float_fits else 40)]
    assert outcome.skipped == ()
    rows = [(row.model, row.samples, row.not_measured) for row in outcome.rows]
    if float_fits:
        assert rows == [("model_float32.tflite", 7, None), ("model_int8.tflite", 7, None)]
    else:
        assert rows == [("model_float32.tflite", 0, "model_float32.tflite does not fit qemu:cortex-m0: flash "
                                                    "overflowed by 9 bytes"), ("model_int8.tflite", 40, None)]


IDENTITY_HEADER = """#include <stdint.h>
#define MODEL_INPUT_SIZE 4
#define MODEL_OUTPUT_SIZE 4
typedef float model_input_t;
typedef float model_output_t;
int model_invoke(const model_input_t *input, model_output_t *output);
"""
IDENTITY_MODEL = """#include "model_model.h"
#ifndef EDGEML_OP_BEGIN
#define EDGEML_OP_BEGIN(op_index) ((void)0)
#define EDGEML_OP_END(op_index) ((void)0)
#endif
int model_invoke(const model_input_t *input, model_output_t *output)
{
    int32_t i;
    EDGEML_OP_BEGIN(0);
    for (i = 0; i < MODEL_INPUT_SIZE; ++i) {
        output[i] = input[i];
    }
    EDGEML_OP_END(0);
    return 0;
}
"""


def _identity_sources() -> ImageSources:
    return ImageSources({"model_model.h": IDENTITY_HEADER, "model_model.c": IDENTITY_MODEL,
                         "edgeml_kernels_stub.c": "typedef int edgeml_unused;\n"}, "model", (0,), np.float32,
                        "identity.tflite", float_engine=True)


@needs_tools
def test_infinite_samples_reach_the_board_with_their_bits(tmp_path):
    """Float samples holding +-infinity (a valid float32 input) are written as math.h's INFINITY / -INFINITY
    (a literal "inf.0f" would not compile): a hand-written identity invoke on the M3 prints back the exact
    IEEE 754 bits numpy gives each sample value, infinities, -0.0, a subnormal and 1/3 included."""
    from firmware_export.mcu.qemu import run_image

    samples = np.array([[np.inf, -np.inf, 1.5, -0.0], [np.float32(1) / np.float32(3), -np.inf, 1e-45, 3e38]],
                       dtype=np.float32)
    image = build_image(_identity_sources(), board_for("qemu:cortex-m3"), samples, tmp_path, profiled=False)
    run = run_image(image)
    np.testing.assert_array_equal(run.outputs, samples.view(np.int32).astype(np.int64))


def test_a_nan_sample_is_one_error_naming_it(tmp_path):
    """A NaN has no C literal with its bits: the image is refused before anything is compiled, naming the sample."""
    samples = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, np.nan, 0.0, 0.0]], dtype=np.float32)
    with pytest.raises(EdgeMLError, match=r"^test sample 1 holds a NaN: C has no literal with its bits"):
        build_image(_identity_sources(), board_for("qemu:cortex-m3"), samples, tmp_path, profiled=False)
    assert not any(tmp_path.rglob("*.o"))


def test_image_module_doctests_pass():
    import doctest

    from firmware_export.mcu import image

    result = doctest.testmod(image)
    assert result.attempted >= 2 and result.failed == 0
