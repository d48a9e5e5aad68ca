"""edgeml.graph: the whole main subgraph of a .tflite file, checked against LiteRT's own view of it."""

from __future__ import annotations

import numpy as np
import pytest

from cengine_models import convert_int8
from edgeml.errors import EdgeMLError
from edgeml.graph import read_graph, read_graph_bytes
from edgeml.tf_setup import load_tensorflow


@pytest.fixture(scope="session")
def small_cnn() -> bytes:
    """Conv (stride 2, SAME, dilation 1, ReLU) -> depthwise (x2, VALID, ReLU6) -> avg pool -> dense -> softmax."""
    tf = load_tensorflow()
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([
        layers.Input((9, 9, 2)),
        layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        layers.DepthwiseConv2D(2, depth_multiplier=2, padding="valid", activation="relu6"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(3),
        layers.Softmax(),
    ])
    return convert_int8(model, np.random.default_rng(0).normal(size=(40, 9, 9, 2)).astype(np.float32))


def litert(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    return interpreter


def test_ops_and_wiring_equal_litert(small_cnn):
    graph = read_graph_bytes(small_cnn)
    expected = litert(small_cnn)._get_ops_details()
    assert [op.name for op in graph.ops] == [op["op_name"] for op in expected]
    assert [op.inputs for op in graph.ops] == [tuple(int(i) for i in op["inputs"]) for op in expected]
    assert [op.outputs for op in graph.ops] == [tuple(int(i) for i in op["outputs"]) for op in expected]
    interpreter = litert(small_cnn)
    assert graph.inputs == (interpreter.get_input_details()[0]["index"],)
    assert graph.outputs == (interpreter.get_output_details()[0]["index"],)


def test_tensors_equal_litert(small_cnn):
    graph = read_graph_bytes(small_cnn)
    interpreter = litert(small_cnn)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    for tensor in graph.tensors:
        detail = details[tensor.index]
        assert tensor.name == detail["name"]
        assert tensor.shape == tuple(int(d) for d in detail["shape"])
        assert tensor.dtype == np.dtype(detail["dtype"]).name
        parameters = detail["quantization_parameters"]
        np.testing.assert_array_equal(np.float32(tensor.scales), np.float32(parameters["scales"]))
        assert tensor.zero_points == tuple(int(z) for z in parameters["zero_points"])
        if len(tensor.scales) > 1:
            assert tensor.quantized_dimension == parameters["quantized_dimension"]
        if tensor.is_constant:
            np.testing.assert_array_equal(tensor.data, interpreter.get_tensor(tensor.index))
            assert not tensor.data.flags.writeable
    weights = graph.tensor(graph.ops[0].inputs[1])
    assert weights.per_channel and len(weights.scales) == 4 and weights.quantized_dimension == 0


def test_builtin_options_are_the_layers_settings(small_cnn):
    conv, depthwise, pool, dense, softmax = [op.options for op in read_graph_bytes(small_cnn).ops if op.name != "RESHAPE"]
    assert (conv["padding"], conv["stride_h"], conv["stride_w"], conv["dilation_h_factor"]) == ("SAME", 2, 2, 1)
    assert conv["fused_activation_function"] == "RELU"
    assert (depthwise["padding"], depthwise["depth_multiplier"]) == ("VALID", 2)
    assert depthwise["fused_activation_function"] == "RELU6"
    assert (pool["filter_height"], pool["filter_width"], pool["stride_h"]) == (2, 2, 2)
    assert dense["keep_num_dims"] is False and dense["fused_activation_function"] == "NONE"
    assert softmax["beta"] == 1.0


def _edited(model: bytes, edit) -> bytes:
    """The model re-serialized after ``edit`` changed its object tree (the schema's object API)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    edit(tree)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_malformed_files_are_one_error_naming_op_and_tensor(small_cnn, tmp_path):
    assert len(read_graph_bytes(_edited(small_cnn, lambda tree: None)).ops) == 6  # the editing itself is lossless

    def bad_index(tree):
        operator = tree.subgraphs[0].operators[1]
        operator.inputs = [99, *operator.inputs[1:]]

    with pytest.raises(EdgeMLError, match=r"op 1 DEPTHWISE_CONV_2D refers to tensor 99"):
        read_graph_bytes(_edited(small_cnn, bad_index))

    def short_buffer(tree):
        weights = tree.subgraphs[0].tensors[tree.subgraphs[0].operators[0].inputs[1]]
        tree.buffers[weights.buffer].data = tree.buffers[weights.buffer].data[:-1]

    with pytest.raises(EdgeMLError, match=r"tensor \d+ '.*': buffer holds 71 bytes, shape \(4, 3, 3, 2\) of int8 needs 72"):
        read_graph_bytes(_edited(small_cnn, short_buffer))

    def zero_scale(tree):
        quantization = tree.subgraphs[0].tensors[tree.subgraphs[0].inputs[0]].quantization
        quantization.scale = [0.0]

    with pytest.raises(EdgeMLError, match=r"tensor 0 '.*': quantization scale 0\.0 is not finite and > 0"):
        read_graph_bytes(_edited(small_cnn, zero_scale))

    def asymmetric_weights(tree):
        weights = tree.subgraphs[0].tensors[tree.subgraphs[0].operators[0].inputs[1]]
        weights.quantization.zeroPoint = [0, 3, 0, 0]

    with pytest.raises(EdgeMLError, match=r"op 0 CONV_2D: weights tensor \d+ '.*' have zero point 3, but int8 weights are symmetric"):
        read_graph_bytes(_edited(small_cnn, asymmetric_weights))

    with pytest.raises(EdgeMLError, match="truncated or corrupt"):
        read_graph_bytes(small_cnn[: len(small_cnn) // 2])
    with pytest.raises(EdgeMLError, match="no TFL3 identifier"):
        read_graph_bytes(b"not a model at all")
    with pytest.raises(EdgeMLError, match="does not exist"):
        read_graph(tmp_path / "missing.tflite")
