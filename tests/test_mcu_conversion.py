"""Conversion for microcontrollers (issue 11 §2, §3): a static batch of 1 (no shape arithmetic), the
built-in 1-D CNN under QAT, and PTQ/QAT exports of every built-in model through TFLite Micro."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SIGNAL_SHAPE
from edgeml.errors import EdgeMLError
from edgeml.models import ModelSpec, build_model
from edgeml.pipeline import load_config, run_pipeline
from edgeml.quantize import QuantizeConfig, _convert, quantize
from edgeml.runtime import LiteModel
from edgeml.tf_setup import load_keras, load_tensorflow
from edgeml.tflite_model import read_tflite, read_tflite_bytes
from firmware_export import ExportConfig, export_firmware

# What a dynamic batch dimension turns a Dense on a rank-3 tensor (or a Conv1D) into: the output shape
# computed at run time. REDUCE_PROD has no TFLite Micro kernel at all.
SHAPE_ARITHMETIC = {"SHAPE", "GATHER", "PACK", "REDUCE_PROD", "CONCATENATION", "STRIDED_SLICE", "UNPACK"}


def dense_on_rank3_model():
    keras = load_keras()
    inputs = keras.Input((6, 5))
    x = keras.layers.Dense(7, activation="relu")(inputs)  # Dense over the last axis of a (6, 5) tensor
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("which", ["mlp", "cnn", "conv1d", "dense_on_rank3"])
def test_every_variant_converts_without_shape_arithmetic(which):
    tf = load_tensorflow()
    if which == "dense_on_rank3":
        model, shape = dense_on_rank3_model(), (6, 5)
    else:
        shape = SIGNAL_SHAPE if which == "conv1d" else (8, 8, 1)
        spec = ModelSpec(hidden=(16,)) if which == "mlp" else ModelSpec(arch=which, filters=(4, 8), hidden=(8,))
        model = build_model(spec, shape, 3)
    samples = np.random.default_rng(1).normal(size=(20, *shape)).astype(np.float32)
    variants = {
        "float32": _convert(tf, model),
        "int8": _convert(tf, model, representative=samples),
        "float16": _convert(tf, model, float16=True),
        "dynamic": _convert(tf, model, dynamic_range=True),
    }
    for name, content in variants.items():
        info = read_tflite_bytes(content, name)
        ops = {op.name for op in info.operators}
        assert not ops & SHAPE_ARITHMETIC, f"{which} {name}: {sorted(ops)}"
        assert "FULLY_CONNECTED" in ops and info.inputs[0].shape == (1, *shape)
        assert not info.tflm_unsupported_ops or name in ("float16", "dynamic")
    # The batch-1 file computes what Keras computes, sample by sample.
    lite = LiteModel(variants["float32"])
    assert not lite.supports_batch
    np.testing.assert_allclose(lite.predict(samples, batch_size=8), model.predict(samples, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_batch_one_model_refuses_a_batch_in_one_invoke():
    tf = load_tensorflow()
    lite = LiteModel(_convert(tf, dense_on_rank3_model()))
    with pytest.raises(EdgeMLError, match="batch of 1 and cannot take 4 samples"):
        lite.set_raw_input(np.zeros((4, 6, 5), np.float32))


def test_pipeline_quantizes_the_builtin_conv1d_with_its_defaults(signals, tmp_path):
    """`edgeml pipeline --set train.model.arch=conv1d`: QAT (the default method) must go through."""
    config = load_config(None, (
        f"out='{tmp_path / 'run'}'", f"train.dataset='npz:{signals}'", "train.epochs=1",
        "train.model.arch='conv1d'", "train.model.filters=[4, 8]", "train.model.hidden=[8]",
        "quantize.qat_epochs=1", "quantize.calibration_samples=30", "export.check_samples=10",
        "benchmark.runs=5", "benchmark.warmup=1", "benchmark.test_samples=20",
        # What this test reads is the quantization; one engine and one runtime keep the later stages short.
        "export.engine='tflm'", "benchmark.runtimes=['litert']",
    ))
    run_pipeline(config)
    report = json.loads((tmp_path / "run" / "quantization.json").read_text())
    assert report["method"] == "qat" and report["variants"][1]["fully_int8"]
    info = read_tflite(tmp_path / "run" / "model_int8.tflite")
    assert {op.name for op in info.operators} == {"CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "RESHAPE", "SOFTMAX"}


def conv1d_user_model(path: Path) -> Path:
    keras = load_keras()
    inputs = keras.Input(SIGNAL_SHAPE)
    x = keras.layers.Conv1D(4, 3, activation="relu", name="c1d")(inputs)  # named: auto names depend on order
    x = keras.layers.Flatten()(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(path)
    return path


def test_qat_hint_speaks_the_command_being_run(signals, tmp_path):
    model = conv1d_user_model(tmp_path / "c1d.keras")
    with pytest.raises(EdgeMLError, match=r"QAT cannot wrap these layers: c1d \(Conv1D\)\. Rewrite them, "
                                          r"or use --method ptq$"):
        quantize(QuantizeConfig(target=str(model), dataset=f"npz:{signals}"))
    config = load_config(None, (f"out='{tmp_path / 'run'}'", f"train.dataset='npz:{signals}'", "train.epochs=1",
                                f"train.model_path='{model}'"))
    with pytest.raises(EdgeMLError) as caught:
        run_pipeline(config)
    assert "use --set quantize.method=ptq" in str(caught.value) and "--method" not in str(caught.value)


# -------------------------------------------------------------------------------- TFLite Micro exports


@pytest.mark.parametrize("arch", ["mlp", "cnn", "conv1d"])
@pytest.mark.parametrize("method", ["ptq", "qat"])
def test_builtin_models_export_after_ptq_and_qat(arch, method, quantized_builtin, tmp_path):
    """The documented path `edgeml quantize RUN --method M` (conftest's shared run) then `edgeml export RUN`, for
    each model."""
    run_dir = shutil.copytree(quantized_builtin(arch, method), tmp_path / "run")
    result = export_firmware(ExportConfig(source=str(run_dir), out=str(tmp_path / "fw"), check_samples=20))
    assert result.arena.verified and result.arena.minimum_bytes > 0
    # TFLM and LiteRT's builtin kernels requantize alike up to rare 1-LSB near-ties.
    assert result.parity is not None and result.parity.reference.max_abs_diff <= 1
    assert not set(result.ops) & SHAPE_ARITHMETIC
