from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.models import ModelSpec
from edgeml.quantize import QuantizeConfig, quantize, unsupported_qat_layers
from edgeml.runtime import LiteModel
from edgeml.tflite_model import read_tflite


@pytest.fixture(scope="module")
def qat_run(digits_run, tmp_path_factory):
    """The QAT report, its folder and what it printed (the fine-tuning's Keras log)."""
    out = tmp_path_factory.mktemp("qat")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = quantize(QuantizeConfig(target=str(digits_run), method="qat", qat_epochs=2, out=str(out),
                                         float16=True, dynamic_range=True))
    return report, out, printed.getvalue()


@pytest.fixture(scope="module")
def qat_report(qat_run):
    return qat_run[:2]


def dense_weight_scales(path) -> list[int]:
    """Per FULLY_CONNECTED op, how many scales its weight tensor has (1: per tensor; units: per channel)."""
    from edgeml.graph import read_graph

    graph = read_graph(path)
    return [len(graph.tensors[op.inputs[1]].scales) for op in graph.ops if op.name == "FULLY_CONNECTED"]


def test_qat_signature_fake_quant_fine_tuning_and_per_tensor_dense_weights(qat_run):
    """What only QAT produces: tfmot's Dense quantizer is per tensor (LastValueQuantizer(per_axis=False),
    default_8bit_quantize_registry.py), the converter's PTQ is per channel (TF 2.21); and the wrapped model
    was fine-tuned for the asked epochs. Deleting the wrap-and-fine-tune fails here."""
    report, out, printed = qat_run
    assert report.method == "qat" and report.qat_epochs == 2
    assert dense_weight_scales(out / "model_int8.tflite") == [1, 1, 1]  # the digits MLP: 64, 32, 10 units
    assert "QAT fine-tuning: 2 epoch(s) at lr 0.0001" in printed
    assert "Epoch 1/2" in printed and "Epoch 2/2" in printed


def test_qat_gives_full_int8_with_int8_io(qat_report):
    report, out = qat_report
    info = read_tflite(out / "model_int8.tflite")
    assert info.fully_int8 and not info.float_ops
    assert [t.dtype for t in info.inputs] == ["int8"] and [t.dtype for t in info.outputs] == ["int8"]
    assert {op.name for op in info.operators}.isdisjoint({"QUANTIZE", "DEQUANTIZE"})
    assert sorted(p.name for p in out.iterdir()) == [
        "model_dynamic.tflite", "model_float16.tflite", "model_float32.tflite", "model_int8.tflite", "quantization.json",
    ]


def test_report_measures_every_variant(qat_report, digits_run):
    report, out = qat_report
    saved = json.loads((out / "quantization.json").read_text())
    assert [v["name"] for v in saved["variants"]] == ["float32", "int8", "float16", "dynamic"]
    assert saved["parameter_floor_bytes"]["int8"] == report.parameter_count == 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    # Every number recomputed here from the files: the Keras model's and each .tflite's probabilities.
    from edgeml.data import load_dataset
    from edgeml.tf_setup import load_keras

    data = load_dataset("digits")
    inputs = data.test_inputs()
    keras_probabilities = load_keras().models.load_model(digits_run / "model.keras").predict(inputs, verbose=0)
    assert report.keras_float_accuracy == pytest.approx(np.mean(keras_probabilities.argmax(axis=1) == data.y_test))
    for variant in report.variants:
        probabilities = LiteModel(out / variant.file).predict(inputs)
        difference = np.abs(probabilities - keras_probabilities)
        assert variant.accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == data.y_test))
        assert variant.agreement_with_float == pytest.approx(
            np.mean(probabilities.argmax(axis=1) == keras_probabilities.argmax(axis=1)))
        assert (variant.mean_abs_diff, variant.max_abs_diff) == pytest.approx(
            (difference.mean(), difference.max()), rel=1e-4, abs=1e-6)
        assert variant.size_bytes == (out / variant.file).stat().st_size
    # The float32 file is the Keras model: same predictions up to float rounding.
    assert report.variant("float32").max_abs_diff < 1e-5
    assert report.int8_to_float32_size == report.variant("int8").size_bytes / report.variant("float32").size_bytes


@pytest.mark.parametrize("io, dtype", [("uint8", "uint8"), ("float32", "float32")])
def test_ptq_with_io_types(digits_run, tmp_path, io, dtype):
    report = quantize(QuantizeConfig(target=str(digits_run), method="ptq", io=io, calibration_samples=100,
                                     out=str(tmp_path)))
    info = read_tflite(tmp_path / "model_int8.tflite")
    assert info.inputs[0].dtype == dtype and info.outputs[0].dtype == dtype
    assert not info.float_ops
    assert report.calibration_samples == 100 and report.qat_epochs == 0
    # PTQ's signature: Dense weights per channel (one scale per unit of the 64-32-10 MLP) ...
    assert dense_weight_scales(tmp_path / "model_int8.tflite") == [64, 32, 10]
    # ... and the input range calibrated on the samples: digits / 16 spans [0, 1] -> scale 1/255
    from edgeml.graph import read_graph

    graph = read_graph(tmp_path / "model_int8.tflite")
    first_fc = next(op for op in graph.ops if op.name == "FULLY_CONNECTED")
    quantized_input = graph.tensors[first_fc.inputs[0]]
    assert quantized_input.scales == pytest.approx((1 / 255,), rel=1e-6)
    assert quantized_input.zero_points == (-128,)
    assert abs(report.variant("int8").accuracy - report.keras_float_accuracy) < 0.05


def test_cnn_conv_bn_relu_folds_under_qat(quantized_builtin):
    """The built-in CNN (conv -> BN -> ReLU blocks) after QAT: the session's shared run (conftest)."""
    info = read_tflite(quantized_builtin("cnn", "qat") / "model_int8.tflite")
    names = {op.name for op in info.operators}
    assert info.fully_int8 and "CONV_2D" in names
    assert not any("BATCH_NORM" in name or name == "MUL" for name in names)  # BN folded into the conv


def test_layers_qat_cannot_wrap_are_named(tmp_path):
    from edgeml.tf_setup import load_keras

    keras = load_keras()
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(4, 3, activation="relu", name="c1d")(inputs)  # tfmot has no Conv1D wrapper
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model_path = tmp_path / "user.keras"
    keras.Model(inputs, outputs).save(model_path)
    x = np.random.default_rng(0).normal(size=(60, 16, 1)).astype(np.float32)
    labels = np.arange(60) % 3
    np.savez(tmp_path / "sig.npz", x_train=x, y_train=labels, x_test=x[:15], y_test=labels[:15])
    dataset = f"npz:{tmp_path / 'sig.npz'}"
    with pytest.raises(EdgeMLError, match=r"QAT cannot wrap these layers: c1d \(Conv1D\).*--method ptq"):
        quantize(QuantizeConfig(target=str(model_path), dataset=dataset))
    assert not (tmp_path / "model_int8.tflite").exists()
    report = quantize(QuantizeConfig(target=str(model_path), dataset=dataset, method="ptq", calibration_samples=30))
    assert report.variant("int8").fully_int8


def test_unsupported_layer_list_accepts_folded_batchnorm():
    from edgeml.models import build_model

    assert unsupported_qat_layers(build_model(ModelSpec(arch="cnn", filters=(4,)), (8, 8, 1), 3)) == []
    assert unsupported_qat_layers(build_model(ModelSpec(hidden=(8,), batchnorm=True), (4,), 3)) == []


def test_quantize_errors(digits_run, tmp_path):
    with pytest.raises(EdgeMLError, match="nothing to quantize"):
        quantize(QuantizeConfig(target=str(tmp_path / "nope")))
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(EdgeMLError, match="not a Keras model"):
        quantize(QuantizeConfig(target=str(tmp_path / "model.onnx")))
    with pytest.raises(EdgeMLError, match="'magic' is not a valid Method"):
        QuantizeConfig(target=".", method="magic")
    with pytest.raises(EdgeMLError, match="--calibration-samples"):
        QuantizeConfig(target=".", calibration_samples=0)


def test_bare_keras_model_needs_a_dataset(digits_run, tmp_path):
    import shutil

    model = tmp_path / "mine.keras"
    shutil.copy(digits_run / "model.keras", model)
    with pytest.raises(EdgeMLError, match="give --dataset"):
        quantize(QuantizeConfig(target=str(model)))
    report = quantize(QuantizeConfig(target=str(model), dataset="digits", method="ptq", calibration_samples=50))
    assert (tmp_path / "model_int8.tflite").is_file() and report.variant("int8").fully_int8
    # digits normalises by 1/16: the same accuracy as through the run directory shows the transform was applied.
    assert report.keras_float_accuracy > 0.85
    # The same model as a tf_keras object (Python API, no file): the same int8 bytes; the record says what it was.
    from edgeml.models import load_user_model

    by_object = quantize(QuantizeConfig(keras_model=load_user_model(model), dataset="digits", method="ptq",
                                        calibration_samples=50, out=str(tmp_path / "object")))
    assert (tmp_path / "object" / "model_int8.tflite").read_bytes() == (tmp_path / "model_int8.tflite").read_bytes()
    assert by_object.variant("int8") == report.variant("int8") and report.model == str(model)
    parameters = (64 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)  # the run's 64-32 MLP on 8x8 digits, 10 classes
    assert json.loads((tmp_path / "object" / "quantization.json").read_text())["model"] == (
        f"tf_keras model object 'edgeml_mlp' (Functional, 4 layers, {parameters:,} parameters)")


def test_float_ops_in_an_int8_model_are_named(qat_report):
    from edgeml.quantize import require_full_int8

    _, out = qat_report
    require_full_int8(read_tflite(out / "model_int8.tflite"))
    with pytest.raises(EdgeMLError, match="left float ops: .*FULLY_CONNECTED"):
        require_full_int8(read_tflite(out / "model_float32.tflite"))


def test_report_lists_every_int8_tensor(qat_report):
    report, out = qat_report
    saved = json.loads((out / "quantization.json").read_text())
    tensors = saved["int8_tensors"]
    assert len(tensors) == read_tflite(out / "model_int8.tflite").tensor_count
    weights = [t for t in tensors if t["dtype"] == "int8" and len(t["shape"]) == 2 and t["shape"][0] > 1]
    assert weights and all(t["scales"] and all(s > 0 for s in t["scales"]) for t in weights)


def test_quantization_json_reads_back_as_the_report(qat_report, tmp_path):
    """quantization.json is the report: from_json gives back every field the stage returned (the paths
    as written), and a damaged file is one error naming the file and the key."""
    from edgeml.quantize import QuantizationReport

    report, out = qat_report
    read = QuantizationReport.read(out / "quantization.json")
    assert read == report and read.files["report"] == out / "quantization.json"
    assert read.int8_tensors[0] == report.int8_tensors[0] and isinstance(read.int8_tensors[0].shape, tuple)
    assert read.int8_to_float32_size == report.int8_to_float32_size
    assert QuantizationReport.read(tmp_path / "absent.json") is None
    saved = json.loads((out / "quantization.json").read_text())
    for damage, message in (
        (lambda data: data.pop("keras_float_accuracy"), r"missing key keras_float_accuracy"),
        (lambda data: data["variants"][1].update(accuracy="high"), r"variants\[1\]\.accuracy: expected a number"),
        (lambda data: data.update(variants=[v for v in data["variants"] if v["name"] != "int8"]), "no int8 variant"),
        (lambda data: data["int8_tensors"][0].update(shape="1x64"), r"int8_tensors\[0\]\.shape: expected a list"),
    ):
        damaged = json.loads(json.dumps(saved))
        damage(damaged)
        path = tmp_path / "quantization.json"
        path.write_text(json.dumps(damaged))
        with pytest.raises(EdgeMLError, match=rf"{path}.*{message}"):
            QuantizationReport.read(path)
