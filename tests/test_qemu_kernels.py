"""The C engine's fast kernels on emulated Cortex-M boards (issue 13): the Armv7E-M DSP path (SXTB16 + SMLAD,
and SMLABB/SMLATT for depthwise, Cortex-M4) and the portable path (Cortex-M3, and the host) give the same bytes
as the tflite-micro interpreter for edgeml's MLP and CNN and for shapes that exercise every tail (depth not a
multiple of 4, an odd number of units, pixels and channels, one output channel, SAME and VALID padding, stride 2,
dilation, depth multiplier 1 and 2, conv + max pool and conv + average pool fused); the M4 image really contains
the DSP path; and the instructions per MAC of a large FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D stay within
the issue's goals (the depthwise one near its measured value)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cengine_models import convert_int8, digits
from edgeml.qemu_target import QemuOptions, run_on_qemu
from edgeml.tf_setup import load_tensorflow
from firmware_export.cengine.generate import KERNELS_DIR
from firmware_export.mcu.boards import board_for

MISSING = [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objdump")
           if shutil.which(tool) is None]
needs_tools = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed (Debian: sudo apt install "
                                 "qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)")
SAMPLES = 6
BOARDS = ("qemu:cortex-m4", "qemu:cortex-m3")


def _edgeml_models():
    from edgeml.models import ModelSpec, build_model

    return {"mlp": (build_model(ModelSpec(hidden=(32, 16)), (8, 8, 1), 10), False),
            "cnn": (build_model(ModelSpec(arch="cnn", filters=(4, 8), hidden=(16,), batchnorm=True), (8, 8, 1), 10),
                    None)}


def _odd_models(tf):
    """Functional models whose layers hit the kernels' tails and special cases (random weights, seeded)."""
    layers = tf.keras.layers

    def model(shape, body):
        inputs = layers.Input(shape, batch_size=1)
        return tf.keras.Model(inputs, body(inputs))

    return {
        # FC: depth 7 (not a multiple of 4), 5 units (one group of 4 + 1), then depth 5 and a single unit.
        "fc_tails": (model((7,), lambda x: layers.Dense(1)(layers.Dense(5, activation="relu")(
            layers.Dense(5, activation="relu")(x)))), None),
        # CONV_2D stride 2 SAME with 3 input channels (k = 27), dilation 2, then DEPTHWISE multiplier 2 VALID,
        # then a 1x1 conv to a single output channel; 9x7 pixels (odd pixel counts everywhere).
        "conv_tails": (model((9, 7, 3), lambda x: layers.Flatten()(layers.Conv2D(1, 1)(
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", activation="relu")(
                layers.Conv2D(5, 3, dilation_rate=2, padding="same")(
                    layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)))))), None),
        # Fused conv + pool: MAX (the accumulators' maximum, requantized once) with an odd channel count and a
        # window cut by SAME padding, AVERAGE over overlapping windows; then DEPTHWISE + MAX.
        "conv_pools": (model((10, 9, 2), lambda x: layers.Flatten()(layers.MaxPooling2D(2)(
            layers.DepthwiseConv2D(3, padding="same")(layers.AveragePooling2D(3, strides=2, padding="same")(
                layers.Conv2D(4, 2, padding="valid", activation="relu")(layers.MaxPooling2D(
                    3, strides=2, padding="same")(layers.Conv2D(7, 3, padding="same")(x)))))))), None),
        # DEPTHWISE_CONV_2D: multiplier 1 over 7 channels (four on the DSP path, three in the tail) SAME with
        # borders, multiplier 2 stride 2 SAME, a 2x5 filter VALID (rows wider than 3), dilation 2.
        "depthwise_tails": (model((9, 11, 7), lambda x: layers.Flatten()(
            layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(
                layers.DepthwiseConv2D((2, 5), padding="valid", activation="relu")(
                    layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same")(
                        layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)))))), None),
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """edgeml's MLP (Dense per tensor) and CNN trained one epoch on 300 digits, and the odd-shape models,
    converted to int8 with int8 I/O; calibrated on seeded inputs."""
    tf = load_tensorflow()
    images, labels = digits()
    folder = tmp_path_factory.mktemp("qemu-kernels")
    rng = np.random.default_rng(0)
    paths = {}
    tf.keras.utils.set_random_seed(0)
    for name, (model, per_channel) in _edgeml_models().items():
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(images[:300], labels[:300], epochs=1, batch_size=32, verbose=0)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert_int8(model, images[:64], per_channel_dense=per_channel))
    for name, (model, per_channel) in _odd_models(tf).items():
        calibration = rng.normal(0.3, 1.0, (32, *model.input_shape[1:])).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert_int8(model, calibration, per_channel_dense=per_channel))
    return paths


def _inputs(path: Path) -> np.ndarray:
    """Normalised float inputs for ``path``: digits for the 8x8 models, seeded normal values otherwise."""
    from edgeml.runtime import open_model

    shape = open_model(path.read_bytes(), "tflm").input_shape
    if tuple(shape) == (8, 8, 1):
        return digits()[0][300:300 + SAMPLES]
    return np.random.default_rng(1).normal(0.3, 1.2, (SAMPLES, *shape)).astype(np.float32)


def _tflm_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """The tflite-micro interpreter's int8 outputs (reference kernels, double rounding), one row per sample."""
    from edgeml.runtime import open_model, raw_outputs

    interpreter = open_model(path.read_bytes(), "tflm")
    quantized = interpreter.input_quantization.quantize(inputs)
    return raw_outputs(interpreter, quantized).reshape(len(inputs), -1)


@needs_tools
@pytest.mark.parametrize("which", ["mlp", "cnn", "fc_tails", "conv_tails", "conv_pools", "depthwise_tails"])
def test_dsp_and_portable_kernels_equal_tflm(which, models):
    """M4 (DSP path) and M3 (portable path) images give TFLM's bytes on every sample (run_on_qemu also checks
    the host build, and raises on any difference; the assertions here compare with TFLM independently)."""
    path = models[which]
    inputs = _inputs(path)
    expected = _tflm_outputs(path, inputs)
    results = {device: run_on_qemu(path, board_for(device), inputs, None, QemuOptions(max_samples=SAMPLES))
               for device in BOARDS}
    for device, result in results.items():
        assert result.samples == SAMPLES, device
        np.testing.assert_array_equal(result.outputs, expected, err_msg=device)
    assert len(np.unique(expected, axis=0)) > 1  # the samples are not all mapped to one output vector
    # Different code ran: the M4's FC and conv windows are shorter than the M3's (depthwise: the DSP path
    # covers depth multiplier 1 only; test_instructions_per_mac_of_large_layers compares it).
    m4, m3 = (results[device] for device in BOARDS)
    mac_ops = [(a.instructions, b.instructions) for a, b in zip(m4.ops, m3.ops)
               if a.macs and a.macs >= 1000 and a.kernel != "depthwise_conv_2d"]
    assert all(fast < slow for fast, slow in mac_ops)


def _function(disassembly: str, name: str) -> str:
    """The disassembly of one function of an objdump listing."""
    start = disassembly.index(f"<{name}>:")
    end = disassembly.find("\n\n", start)
    return disassembly[start:end if end >= 0 else None]


def _disassembly(tmp_path: Path, device: str, *defines: str) -> str:
    board = board_for(device)
    objects = []
    for kernel in ("edgeml_conv.c", "edgeml_fully_connected.c"):
        target = tmp_path / f"{Path(kernel).stem}_{board.core}{len(defines)}.o"
        subprocess.run(["arm-none-eabi-gcc", *board.cpu_flags, "-O2", "-std=c99", *defines, f"-I{KERNELS_DIR}", "-c",
                        str(KERNELS_DIR / kernel), "-o", str(target)], check=True, capture_output=True)
        objects.append(str(target))
    return subprocess.run(["arm-none-eabi-objdump", "-d", *objects], check=True, capture_output=True, text=True).stdout


@needs_tools
def test_the_dsp_path_is_built_for_the_m4_and_m7_only(tmp_path):
    """SMLAD and SXTB16 appear in the M4/M7 objects (Armv7E-M, __ARM_FEATURE_DSP), not in the M3's or the M0's,
    nor in an M4 build with -DEDGEML_NO_DSP (the portable path forced on a DSP core)."""
    for device in ("qemu:cortex-m4", "qemu:cortex-m7"):
        code = _disassembly(tmp_path, device)
        assert "smlad" in code and "sxtb16" in code, device
        depthwise = _function(code, "edgeml_depthwise_conv_2d")  # SMLABB / SMLATT: see edgeml_conv.c
        assert "sxtb16" in depthwise and "smlabb" in depthwise and "smlatt" in depthwise, device
    for device, defines in (("qemu:cortex-m3", ()), ("qemu:cortex-m0", ()), ("qemu:cortex-m4", ("-DEDGEML_NO_DSP",))):
        code = _disassembly(tmp_path, device, *defines)
        assert "smlad" not in code and "sxtb16" not in code and "smlatt" not in code, (device, defines)


@pytest.fixture(scope="module")
def large_layers(tmp_path_factory) -> Path:
    """A FULLY_CONNECTED of 400 x 64 (per tensor, as edgeml's MLP), the default CNN's second convolution
    (14x14x16 -> 32 channels, 3x3 SAME, fused with a 2x2 max pool) and a 3x3 SAME DEPTHWISE_CONV_2D over
    14x14x32 (depth multiplier 1), random weights."""
    tf = load_tensorflow()
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("large")
    fc = tf.keras.Sequential([layers.Input((400,)), layers.Dense(64, activation="relu"), layers.Dense(10)])
    conv = tf.keras.Sequential([layers.Input((14, 14, 16)), layers.Conv2D(32, 3, padding="same", activation="relu"),
                                layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10)])
    depthwise = tf.keras.Sequential([layers.Input((14, 14, 32)),
                                     layers.DepthwiseConv2D(3, padding="same", activation="relu"),
                                     layers.Flatten(), layers.Dense(10)])
    rng = np.random.default_rng(2)
    paths = {"fc": folder / "fc.tflite", "conv": folder / "conv.tflite", "depthwise": folder / "depthwise.tflite"}
    paths["fc"].write_bytes(convert_int8(fc, rng.random((16, 400), dtype=np.float32), per_channel_dense=False))
    paths["conv"].write_bytes(convert_int8(conv, rng.random((16, 14, 14, 16), dtype=np.float32)))
    paths["depthwise"].write_bytes(convert_int8(depthwise, rng.random((16, 14, 14, 32), dtype=np.float32)))
    return paths


@needs_tools
def test_instructions_per_mac_of_large_layers(large_layers):
    """Counted by QEMU -icount (SysTick, 40-instruction resolution: negligible over 25,600 and 903,168 MACs).
    Goals of issue 13: portable C on the M3 at most 4 instructions per MAC; on the M4 at most 2.0 for the
    FULLY_CONNECTED and 1.5 for this convolution (measured 1.4996 with the pool fused in). The 3x3 depthwise
    convolution (no goal in the issue: one requantization per 9 MACs dominates) is held near its measured
    13.03 (M4, SXTB16 + SMLABB/SMLATT) and 12.44 (M3: byte loads at constant offsets, 14.82 before they
    replaced the general lanes' offsets; bound 13.1, the M3's count before its regression) instructions per
    MAC. Counted whole, the M3's portable kernel now beats the M4's DSP one on this layer; on the M4 itself
    the DSP taps are the faster (mobilenet_block's first depthwise: 13.42 against 13.72 with the portable
    taps, measured by hand)."""
    per_mac = {}
    for name, path in large_layers.items():
        inputs = np.random.default_rng(3).random((2, *_shape(path)), dtype=np.float32)
        for device in BOARDS:
            result = run_on_qemu(path, board_for(device), inputs, None, QemuOptions(max_samples=2))
            first = next(op for op in result.ops if op.macs)
            assert first.macs == {"fc": 400 * 64, "conv": 14 * 14 * 32 * 3 * 3 * 16, "depthwise": 14 * 14 * 32 * 9}[name]
            per_mac[name, device] = first.instructions_per_mac
    assert per_mac["fc", "qemu:cortex-m3"] <= 4.0 and per_mac["conv", "qemu:cortex-m3"] <= 4.0
    assert per_mac["fc", "qemu:cortex-m4"] <= 2.0
    assert per_mac["conv", "qemu:cortex-m4"] <= 1.5
    for name in ("fc", "conv"):  # the DSP path at least 1.5x faster than the portable one
        assert per_mac[name, "qemu:cortex-m3"] / per_mac[name, "qemu:cortex-m4"] >= 1.5, name
    assert per_mac["depthwise", "qemu:cortex-m4"] <= 13.5 and per_mac["depthwise", "qemu:cortex-m3"] <= 13.1


def _shape(path: Path) -> tuple[int, ...]:
    from edgeml.runtime import open_model

    return tuple(open_model(path.read_bytes(), "tflm").input_shape)
