from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import (
    TFLM_BUILTIN_OPS,
    format_info,
    read_tflite,
    read_tflite_bytes,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DENSE_WEIGHTS = 4 * 8 + 8 * 3
DENSE_BIASES = 8 + 3


def _dense_model():
    """Dense(8)->Dense(3); biases non-zero, because the converter drops all-zero bias tensors."""
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    return tf, tf.keras.Sequential([
        tf.keras.Input(shape=(4,)),
        tf.keras.layers.Dense(8, activation="relu", bias_initializer="random_normal"),
        tf.keras.layers.Dense(3, activation="softmax", bias_initializer="random_normal"),
    ])


def _conv_model():
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    return tf, tf.keras.Sequential([
        tf.keras.Input(shape=(8, 8, 1)),
        tf.keras.layers.Conv2D(4, 3, activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(2, activation="softmax"),
    ])


def _convert(tf, model, input_shape, int8: bool, int8_io: bool = False) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def representative_samples():
            for _ in range(16):
                yield [rng.normal(size=(1, *input_shape)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="session")
def dense_float() -> bytes:
    tf, model = _dense_model()
    return _convert(tf, model, (4,), int8=False)


@pytest.fixture(scope="session")
def dense_int8() -> bytes:
    tf, model = _dense_model()
    return _convert(tf, model, (4,), int8=True, int8_io=True)


@pytest.fixture(scope="session")
def dense_int8_float_io() -> bytes:
    tf, model = _dense_model()
    return _convert(tf, model, (4,), int8=True)


@pytest.fixture(scope="session")
def conv_int8() -> bytes:
    tf, model = _conv_model()
    return _convert(tf, model, (8, 8, 1), int8=True, int8_io=True)


def op_names(info) -> set[str]:
    return {op.name for op in info.operators}


def test_float_model(dense_float):
    info = read_tflite_bytes(dense_float, "float.tflite")
    assert [t.dtype for t in info.inputs + info.outputs] == ["float32", "float32"]
    assert info.inputs[0].shape == (1, 4) and info.outputs[0].shape == (1, 3)
    assert info.inputs[0].scale is None and info.inputs[0].zero_point is None
    assert {"FULLY_CONNECTED", "SOFTMAX"} <= op_names(info)
    assert dict((op.name, op.count) for op in info.operators)["FULLY_CONNECTED"] == 2
    assert [op.name for op in info.operators] == sorted(op.name for op in info.operators)
    assert not info.fully_int8
    assert "FULLY_CONNECTED" in info.float_ops and "SOFTMAX" in info.float_ops
    assert info.parameter_bytes == 4 * (DENSE_WEIGHTS + DENSE_BIASES)
    assert "fully int8: no (float ops: FULLY_CONNECTED" in format_info(info)


def test_full_int8_model_matches_litert(dense_int8):
    from ai_edge_litert.interpreter import Interpreter

    info = read_tflite_bytes(dense_int8)
    interpreter = Interpreter(model_content=dense_int8)
    for ours, theirs in [(info.inputs[0], interpreter.get_input_details()[0]),
                         (info.outputs[0], interpreter.get_output_details()[0])]:
        assert ours.dtype == "int8" == np.dtype(theirs["dtype"]).name
        assert ours.name == theirs["name"]
        assert ours.shape == tuple(int(d) for d in theirs["shape"])
        assert ours.scale > 0 and -128 <= ours.zero_point <= 127
        assert (ours.scale, ours.zero_point) == pytest.approx(theirs["quantization"])
        assert not ours.per_channel
    assert info.fully_int8
    assert info.float_ops == () and info.float_conversion_ops == ()
    assert not {"QUANTIZE", "DEQUANTIZE"} & op_names(info)
    assert "fully int8: yes" in format_info(info)


def test_int8_with_float_io_is_not_fully_int8(dense_int8_float_io):
    info = read_tflite_bytes(dense_int8_float_io)
    assert {"QUANTIZE", "DEQUANTIZE"} <= op_names(info)
    assert info.inputs[0].dtype == "float32" and info.outputs[0].dtype == "float32"
    assert info.float_conversion_ops == ("DEQUANTIZE", "QUANTIZE")
    assert info.float_ops == ()  # the compute itself is int8; only the boundary is float
    assert not info.fully_int8
    assert "float<->int conversions: DEQUANTIZE, QUANTIZE" in format_info(info)


def test_parameter_bytes_and_file_size(dense_int8, tmp_path):
    path = tmp_path / "dense.tflite"
    path.write_bytes(dense_int8)
    info = read_tflite(path)
    assert info.size_bytes == path.stat().st_size
    assert info.path == str(path)
    # int8 weights (1 byte each) + int32 biases (4 bytes each); allow a few small constants besides.
    expected = DENSE_WEIGHTS * 1 + DENSE_BIASES * 4
    assert expected <= info.parameter_bytes <= expected + 32
    assert info.tensor_count == len(info.tensors) >= 7


def test_conv_model_per_channel_weights_and_verbose(conv_int8):
    info = read_tflite_bytes(conv_int8, "conv.tflite")
    assert "CONV_2D" in op_names(info)
    assert info.fully_int8 and info.tflm_unsupported_ops == ()
    conv_weights = next(t for t in info.tensors if t.shape == (4, 3, 3, 1))
    assert conv_weights.per_channel and conv_weights.quantized_dimension == 0
    assert conv_weights.scale is None and conv_weights.zero_point is None
    assert len(conv_weights.scales) == len(conv_weights.zero_points) == 4
    text = format_info(info, verbose=True)
    tensor_lines = text.split("\ntensors:\n")[1].splitlines()
    assert len(tensor_lines) == 1 + info.tensor_count  # a header, then one line per tensor
    assert any(conv_weights.name in line and "(4 values)" not in line for line in tensor_lines)
    assert f"TFLite Micro: all {len(info.operators)} ops supported" in text


def test_tflm_support(dense_int8):
    info = read_tflite_bytes(dense_int8)
    assert info.tflm_unsupported_ops == ()
    assert {"FULLY_CONNECTED", "SOFTMAX", "CONV_2D", "QUANTIZE"} <= TFLM_BUILTIN_OPS
    assert "REDUCE_PROD" not in TFLM_BUILTIN_OPS


def test_to_dict_is_json(dense_int8):
    data = json.loads(json.dumps(read_tflite_bytes(dense_int8).to_dict()))
    assert data["fully_int8"] is True
    assert data["inputs"][0]["dtype"] == "int8" and data["inputs"][0]["shape"] == [1, 4]


def _corrupt_files(model: bytes) -> dict[str, bytes]:
    return {
        "empty.tflite": b"",
        "random.tflite": np.random.default_rng(1).bytes(10),
        "half.tflite": model[: len(model) // 2],
        "wrong_id.tflite": model[:4] + b"XXXX" + model[8:],
    }


@pytest.mark.parametrize("name", ["empty.tflite", "random.tflite", "half.tflite", "wrong_id.tflite", "missing"])
def test_bad_files_are_one_line_errors(dense_int8, tmp_path, name):
    path = tmp_path / name
    if name != "missing":
        path.write_bytes(_corrupt_files(dense_int8)[name])
    with pytest.raises(EdgeMLError) as excinfo:
        read_tflite(path)
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message
    if name == "wrong_id.tflite":
        assert "no TFL3 identifier" in message
    if name == "half.tflite":
        assert "truncated or corrupt" in message


def test_damaged_models_parse_or_raise_edgeml_error(conv_int8):
    """Truncations and flipped bytes anywhere: never any exception but EdgeMLError."""
    rng = np.random.default_rng(2)
    damaged = [conv_int8[:cut] for cut in range(8, len(conv_int8), max(1, len(conv_int8) // 150))]
    for _ in range(300):
        data = bytearray(conv_int8)
        for position in rng.integers(8, len(data), size=4):
            data[position] = rng.integers(0, 256)
        damaged.append(bytes(data))
    for data in damaged:
        try:
            read_tflite_bytes(data)
        except EdgeMLError as exc:
            assert "\n" not in str(exc)


def test_schema_falls_back_to_tflite_micro(dense_int8, monkeypatch):
    import edgeml.graph as graph

    expected = read_tflite_bytes(dense_int8)
    monkeypatch.setattr(graph, "_SCHEMA_MODULES", (
        "edgeml_no_such_module.schema_py_generated",
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    ))
    assert read_tflite_bytes(dense_int8) == expected


def test_no_schema_says_what_to_install(dense_int8, monkeypatch):
    import edgeml.graph as graph

    monkeypatch.setattr(graph, "_SCHEMA_MODULES", ("ai_edge_litert_missing.schema_py_generated",))
    with pytest.raises(EdgeMLError, match="pip install ai-edge-litert"):
        read_tflite_bytes(dense_int8)


def test_reads_without_tensorflow(dense_int8, tmp_path):
    path = tmp_path / "dense.tflite"
    path.write_bytes(dense_int8)
    script = textwrap.dedent(f"""
        import json, sys
        blocked = []

        class BlockTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"):
                    blocked.append(name)
                    raise ImportError(f"{{name}} is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockTensorFlow())
        from edgeml.tflite_model import read_tflite
        info = read_tflite({str(path)!r})
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras"))
        print(json.dumps({{"info": info.to_dict(), "blocked": blocked, "loaded": loaded}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blocked"] == [] and report["loaded"] == []
    assert report["info"]["fully_int8"] is True
    assert report["info"]["inputs"][0]["dtype"] == "int8"


# ------------------------------------------------------------------------------------------- validate


def _schema():
    import importlib

    return importlib.import_module("ai_edge_litert.schema_py_generated")


def _with_weight_zero_point(model: bytes, zero_point: int) -> tuple[bytes, str]:
    """The model with the conv weights' per-channel zero points set in the bytes; returns the bytes and
    that tensor's name. QuantizationParameters.zero_point is field 3 (vtable offset 10)."""
    import struct

    subgraph = _schema().Model.GetRootAs(model, 0).Subgraphs(0)
    for index in range(subgraph.TensorsLength()):
        tensor = subgraph.Tensors(index)
        quantization = tensor.Quantization()
        if quantization is not None and quantization.ScaleLength() > 1 and tensor.ShapeLength() == 4:
            start = quantization._tab.Vector(quantization._tab.Offset(10))
            patched = bytearray(model)
            for channel in range(quantization.ZeroPointLength()):
                struct.pack_into("<q", patched, start + 8 * channel, zero_point)
            return bytes(patched), tensor.Name().decode()
    raise AssertionError("no per-channel tensor")


def test_nonzero_per_channel_weight_zero_point_is_named(conv_int8):
    from edgeml.tflite_model import validate

    assert validate(conv_int8, "conv.tflite").fully_int8
    patched, weights = _with_weight_zero_point(conv_int8, 3)
    assert read_tflite_bytes(patched).tensors  # it still parses: only the values are wrong
    with pytest.raises(EdgeMLError) as caught:
        validate(patched, "conv.tflite")
    message = str(caught.value)
    assert "\n" not in message and "op 0 CONV_2D: weights tensor" in message
    assert f"'{weights}' have zero point 3" in message
    from edgeml.graph import read_graph_bytes

    with pytest.raises(EdgeMLError) as from_graph:  # the C engine's reader refuses it with the same words
        read_graph_bytes(patched, "conv.tflite")
    assert str(from_graph.value) == message
    text = format_info(read_tflite_bytes(patched, "conv.tflite"))  # inspect shows it, and no TFLM support
    assert f"valid: no ({message.split('model: ', 1)[1]}); edgeml hands it to no runtime" in text
    assert "TFLite Micro: cannot run it: not a valid model" in text


def test_litert_prepare_failure_is_one_line_naming_the_op(conv_int8, monkeypatch):
    """Without the validation, LiteRT's multi-line "failed to prepare" becomes one line with the op."""
    import edgeml.interpreter as runtime

    patched, _ = _with_weight_zero_point(conv_int8, 3)
    with pytest.raises(EdgeMLError, match=r"^the model is not a valid TFLite model: op 0 CONV_2D: weights"):
        runtime.LiteModel(patched, "litert")
    monkeypatch.setattr(runtime, "validated", lambda content, name: ())
    with pytest.raises(EdgeMLError) as caught:
        runtime.LiteModel(patched, "litert")
    message = str(caught.value)
    assert "\n" not in message and "Node number 0 (CONV_2D) failed to prepare" in message
    assert "zero_point" in message  # LiteRT's own check names the weights' zero point


@pytest.mark.parametrize("problem, expected", [
    ("scale", r"tensor \d+ '.*': quantization scale -0\.5 is not finite and > 0"),
    ("buffer", r"tensor \d+ '.*': buffer holds \d+ bytes, shape \(4, 3, 3, 1\) of int8 needs 36"),
    ("input", r"op 0 CONV_2D refers to tensor 999 as input 0, but the graph has \d+ tensors"),
])
def test_what_the_runtimes_trust_is_checked(conv_int8, problem, expected):
    import struct

    from edgeml.tflite_model import validate

    subgraph = _schema().Model.GetRootAs(conv_int8, 0).Subgraphs(0)
    weights = next(subgraph.Tensors(i) for i in range(subgraph.TensorsLength())
                   if subgraph.Tensors(i).ShapeAsNumpy().tolist() == [4, 3, 3, 1])
    patched = bytearray(conv_int8)
    if problem == "scale":
        quantization = weights.Quantization()
        struct.pack_into("<f", patched, quantization._tab.Vector(quantization._tab.Offset(8)), -0.5)
    elif problem == "buffer":  # a shape claiming 4 more input channels than the data holds
        struct.pack_into("<i", patched, weights._tab.Vector(weights._tab.Offset(4)) + 12, 1 + 4)
        expected = expected.replace(r"\(4, 3, 3, 1\)", r"\(4, 3, 3, 5\)").replace("36", "180")
    else:
        operator = subgraph.Operators(0)
        struct.pack_into("<i", patched, operator._tab.Vector(operator._tab.Offset(6)), 999)
    with pytest.raises(EdgeMLError, match=expected):
        validate(bytes(patched), "conv.tflite")


DAMAGE_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from edgeml.errors import EdgeMLError
    from edgeml.runtime import LiteModel, MicroModel

    models = np.load(sys.argv[1])
    for index in range(len(models.files)):
        data = models[f"m{index}"].tobytes()
        try:
            for model in (LiteModel(data, "litert", threads=1), MicroModel(data, arena_bytes=64 * 1024)):
                sample = np.zeros((1, *model.input_shape), np.float32)
                model.predict(sample)
            print(index, "ok", flush=True)
        except EdgeMLError as exc:
            print(index, "error", str(exc).replace(chr(10), "<newline>"), flush=True)
""")


def test_randomly_damaged_models_run_or_fail_with_one_line(conv_int8, tmp_path):
    """150 copies of a small per-channel int8 CNN with 1-4 random bytes changed: LiteRT and TFLite Micro
    (in one process, as predict and benchmark run them) either run each one or refuse it with one
    EdgeMLError line; never another exception, never a crash of the process."""
    rng = np.random.default_rng(11)
    damaged = {}
    for index in range(150):
        data = np.frombuffer(conv_int8, np.uint8).copy()
        positions = rng.integers(8, len(data), size=rng.integers(1, 5))
        data[positions] = rng.integers(0, 256, size=len(positions))
        damaged[f"m{index}"] = data
    np.savez(tmp_path / "damaged.npz", **damaged)
    process = subprocess.run([sys.executable, "-c", DAMAGE_CHILD, tmp_path / "damaged.npz"],
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    lines = process.stdout.splitlines()
    assert process.returncode == 0, f"crashed after {lines[-1:]} (code {process.returncode}): {process.stderr[-2000:]}"
    assert len(lines) == 150 and all(line.split()[1] in ("ok", "error") for line in lines)
    assert not any("<newline>" in line for line in lines)
    refused = [line for line in lines if line.split()[1] == "error"]
    assert 0 < len(refused) < 150  # most flips land in weight data, which runs (to other numbers)


@pytest.mark.parametrize("variant", ["float16", "dynamic"])
def test_inspect_says_what_tflm_lacks(variant):
    """Every op has a TFLM kernel of that name, but not for these types (dequantize_common.cc takes
    int8/int16; conv/fully_connected refuse an input type other than the weights')."""
    from edgeml.tf_setup import load_tensorflow

    tf = load_tensorflow()
    # 64 x 32 weights: the converter leaves tensors under 1024 elements in float.
    model = tf.keras.Sequential([tf.keras.Input(shape=(64,)), tf.keras.layers.Dense(32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    info = read_tflite_bytes(converter.convert(), f"{variant}.tflite")
    assert info.tflm_unsupported_ops == ()
    text = format_info(info)
    assert "ops supported" not in text
    if variant == "float16":
        assert info.tflm_problems == (
            "DEQUANTIZE of float16 weights (a float16 model): TFLite Micro's DEQUANTIZE takes int8/int16 only, "
            "and it has no float16 kernels; export the int8 model instead",
        )
    else:
        assert info.tflm_problems == (
            "FULLY_CONNECTED with float32 activations and int8 weights (a dynamic-range/hybrid model): TFLite "
            "Micro has no hybrid kernels; export the full-integer int8 model instead",
        )
    assert f"TFLite Micro: cannot run it: {info.tflm_problems[0]}" in text.splitlines()


def test_a_tflm_abort_on_a_damaged_file_is_one_error_not_a_dead_process(conv_int8, monkeypatch):
    """Some damaged files make the tflite-micro wrapper abort the process ("Failed to resize buffer",
    SIGABRT; found by the random-damage test with other seeds). MicroModel meets the file in a forked child
    first, so the abort becomes one EdgeMLError naming the signal; an exception is not a crash."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    from edgeml.runtime import MicroModel

    real_from_bytes = tflm.Interpreter.from_bytes
    monkeypatch.setattr(tflm.Interpreter, "from_bytes", staticmethod(lambda *args, **kwargs: os.abort()))
    with pytest.raises(EdgeMLError, match=r"crashed \(signal 6\) loading and invoking"):
        MicroModel(conv_int8, arena_bytes=64 * 1024)

    monkeypatch.setattr(tflm.Interpreter, "from_bytes", staticmethod(real_from_bytes))
    model = MicroModel(conv_int8, arena_bytes=64 * 1024)
    with pytest.raises(EdgeMLError, match="tflm runtime refused the input: .*Dimension mismatch"):
        model.set_raw_input(np.zeros((1, 3, 8, 1), np.int8))
