"""The graph reader (edgeml/graph.py) on hand-built .tflite files (tests/tflite_flatbuffer.py), TF-free: every
tensor, buffer, quantization parameter and builtin option is written by the test, so each value read back is
known, and each violation is planted exactly once. Kills mutmut's mutants; see docs/MUTATION.md."""

from __future__ import annotations

import copy
import re
import struct

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from edgeml import graph as graph_module
from edgeml.graph import (Graph, Op, Tensor, enum_names, load_schema, read_graph, read_graph_bytes, read_model,
                          read_model_bytes, schema_available)
from tflite_flatbuffer import GraphSpec, OpSpec, TensorSpec, _schema, build_tflite, dense_softmax, edited, options

WEIGHTS = np.array([[1, -2, 3], [4, 5, -6]], np.int8)


def int8_dense(**changes) -> GraphSpec:
    """input (1, 3) int8 -> FULLY_CONNECTED(weights (2, 3) per channel, bias (2,) int32, RELU) -> (1, 2) int8."""
    fc_options, fc_kind = options("FullyConnected", fusedActivationFunction=1, keepNumDims=True)
    tensors = [
        TensorSpec("in", (1, 3), "int8", scales=(0.5,), zero_points=(-3,)),
        TensorSpec("w", (2, 3), "int8", WEIGHTS, scales=(0.25, 0.125), zero_points=(0, 0)),
        TensorSpec("b", (2,), "int32", np.array([7, -70000], np.int32), scales=(0.125, 0.0625), zero_points=(0, 0)),
        TensorSpec("out", (1, 2), "int8", scales=(0.75,), zero_points=(4,)),
    ]
    spec = GraphSpec(tensors, [OpSpec("FULLY_CONNECTED", (0, 1, 2), (3,), fc_options, fc_kind)], (0,), (3,))
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def test_tensors_wiring_and_constants_are_read_as_written():
    graph = read_graph_bytes(build_tflite(int8_dense()), "dense.tflite")
    assert isinstance(graph, Graph) and graph.path == "dense.tflite"
    assert (graph.inputs, graph.outputs) == ((0,), (3,))
    assert [(t.index, t.name, t.shape, t.dtype) for t in graph.tensors] == [
        (0, "in", (1, 3), "int8"), (1, "w", (2, 3), "int8"), (2, "b", (2,), "int32"), (3, "out", (1, 2), "int8")]
    (op,) = graph.ops
    assert (op.index, op.name, op.inputs, op.outputs) == (0, "FULLY_CONNECTED", (0, 1, 2), (3,))
    assert op.describe() == "op 0 FULLY_CONNECTED"
    weights, bias = graph.tensor(1), graph.tensor(2)
    np.testing.assert_array_equal(weights.data, WEIGHTS)
    assert weights.data.dtype == np.int8 and not weights.data.flags.writeable
    np.testing.assert_array_equal(bias.data, [7, -70000])  # little-endian int32, sign kept
    assert bias.data.dtype == np.dtype(np.int32) and bias.data.dtype.isnative
    assert graph.tensor(0).data is None and not graph.tensor(0).is_constant and weights.is_constant
    assert graph.op_inputs(op) == (graph.tensors[0], weights, bias)


def test_quantization_parameters_and_their_properties():
    graph = read_graph_bytes(build_tflite(int8_dense()))
    activation, weights, bias, output = graph.tensors
    assert (activation.scales, activation.zero_points, activation.scale, activation.zero_point) == ((0.5,), (-3,), 0.5, -3)
    assert not activation.per_channel and weights.per_channel and bias.per_channel
    assert (weights.scales, weights.zero_points, weights.quantized_dimension) == ((0.25, 0.125), (0, 0), 0)
    assert (output.scale, output.zero_point) == (0.75, 4)
    for method in ("scale", "zero_point"):
        with pytest.raises(EdgeMLError, match=r"^tensor 1 'w' has no single (quantization scale|zero point)$"):
            getattr(weights, method)
    assert weights.describe() == "tensor 1 'w'"


def test_element_count_and_byte_size_per_dtype():
    assert Tensor(0, "a", (2, 3, 4), "float32").element_count == 24
    assert Tensor(0, "a", (2, 3, 4), "float32").byte_size == 96
    assert Tensor(0, "a", (5,), "int16").byte_size == 10
    assert Tensor(0, "a", (3, 2), "int8").byte_size == 6
    assert Tensor(0, "a", (), "int32").element_count == 1 and Tensor(0, "a", (), "int32").byte_size == 4
    assert Tensor(0, "a", (2, 0), "float32").element_count == 0
    assert Tensor(0, "a", (1 << 20, 1 << 12), "int8").element_count == 1 << 32  # no int32 overflow
    # A scalar with one scale and no zero points: zero point 0.
    assert Tensor(0, "a", (), "int8", scales=(0.1,)).zero_point == 0


def test_graph_op_inputs_keeps_omitted_optional_inputs_as_none():
    tensors = (Tensor(0, "x", (1, 2), "float32"), Tensor(1, "w", (2, 2), "float32"))
    graph = Graph("g", tensors, (Op(0, "FULLY_CONNECTED", (0, 1, -1), (1,)),), (0,), (1,))
    assert graph.op_inputs(graph.ops[0]) == (tensors[0], tensors[1], None)
    assert graph.tensor(1) is tensors[1]


def test_builtin_options_decode_enums_vectors_and_numbers():
    conv_options, conv_kind = options("Conv2D", padding=0, strideW=2, strideH=3, fusedActivationFunction=3,
                                      dilationWFactor=1, dilationHFactor=4)
    reshape_options, reshape_kind = options("Reshape", newShape=[1, -1])
    tensors = [
        TensorSpec("in", (1, 8, 8, 1)),
        TensorSpec("k", (2, 3, 3, 1), data=np.zeros((2, 3, 3, 1), np.float32)),
        TensorSpec("conv", (1, 3, 4, 2)),
        TensorSpec("flat", (1, 24)),
        TensorSpec("probabilities", (1, 24)),
    ]
    softmax_options, softmax_kind = options("Softmax", beta=0.5)
    spec = GraphSpec(tensors, [
        OpSpec("CONV_2D", (0, 1, -1), (2,), conv_options, conv_kind),
        OpSpec("RESHAPE", (2,), (3,), reshape_options, reshape_kind),
        OpSpec("SOFTMAX", (3,), (4,), softmax_options, softmax_kind),
        OpSpec("TANH", (4,), (4,)),  # no options table at all
    ], (0,), (4,))
    conv, reshape, softmax, tanh = read_graph_bytes(build_tflite(spec)).ops
    assert (conv.options["padding"], conv.options["fused_activation_function"]) == ("SAME", "RELU6")
    assert (conv.options["stride_w"], conv.options["stride_h"], conv.options["dilation_h_factor"]) == (2, 3, 4)
    assert conv.inputs == (0, 1, -1)
    assert reshape.options == {"new_shape": (1, -1)} and softmax.options == {"beta": 0.5}
    assert dict(tanh.options) == {}
    with pytest.raises(TypeError):
        conv.options["padding"] = "VALID"  # read-only


def test_op_names_custom_codes_deprecated_codes_and_unknown_builtins():
    tensors = [TensorSpec("x", (1, 4)), TensorSpec("y", (1, 4)), TensorSpec("z", (1, 4)), TensorSpec("u", (1, 4))]
    spec = GraphSpec(tensors, [
        OpSpec("CUSTOM:MyOp", (0,), (1,)),
        OpSpec("LOGISTIC", (1,), (2,), deprecated_code=14),  # an old file: only the deprecated field set
        OpSpec("UNKNOWN", (2,), (3,), deprecated_code=4000),  # no such builtin in the schema
    ], (0,), (3,))
    assert [op.name for op in read_graph_bytes(build_tflite(spec)).ops] == ["CUSTOM:MyOp", "LOGISTIC", "UNKNOWN_BUILTIN_4000"]


def test_float_model_values_are_little_endian_and_shaped():
    weights = np.arange(12, dtype=np.float32).reshape(3, 4) / 8 - 0.5
    graph = read_graph_bytes(dense_softmax(weights, np.array([1.5, -2.25, 0.0], np.float32), input_shape=(2, 2)))
    assert [op.name for op in graph.ops] == ["RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    np.testing.assert_array_equal(graph.tensor(3).data, weights)
    np.testing.assert_array_equal(graph.tensor(4).data, [1.5, -2.25, 0.0])
    np.testing.assert_array_equal(graph.tensor(1).data, [1, 4])


def test_read_graph_reads_the_file_and_names_a_missing_one(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(build_tflite(int8_dense()))
    graph = read_graph(str(path))
    assert graph.path == str(path) and [t.name for t in graph.tensors] == ["in", "w", "b", "out"]
    with pytest.raises(EdgeMLError, match=f"^{re.escape(str(tmp_path / 'none.tflite'))} does not exist$"):
        read_graph(tmp_path / "none.tflite")
    with pytest.raises(EdgeMLError, match=f"^cannot read {re.escape(str(tmp_path))}: Is a directory$"):
        read_graph(tmp_path)


@pytest.mark.parametrize("data, message", [
    (b"", "m.tflite is empty, not a TFLite model"),
    (b"TFL3", "m.tflite is not a TFLite model (no TFL3 identifier)"),
    (b"\0\0\0\0TFL", "m.tflite is not a TFLite model (no TFL3 identifier)"),
    (b"\x1c\0\0\0TFL2" + bytes(40), "m.tflite is not a TFLite model (no TFL3 identifier)"),
    # 8 bytes with the identifier pass the header check: the root table at offset 0 lists no subgraphs
    (b"\0\0\0\0TFL3", "m.tflite is truncated or corrupt (no subgraphs)"),
])
def test_no_tfl3_identifier(data, message):
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(data, "m.tflite")
    assert str(caught.value) == message


def test_truncated_and_corrupt_files_are_one_error():
    good = build_tflite(int8_dense())
    for size in (12, len(good) // 3, len(good) // 2):
        with pytest.raises(EdgeMLError) as caught:
            read_graph_bytes(good[:size], "m.tflite")
        assert str(caught.value) == f"m.tflite is truncated or corrupt (an offset points past the end of its {size:,} bytes)"
    assert read_graph_bytes(bytearray(good)).tensor(1).name == "w"  # any bytes-like input


def test_a_model_without_subgraphs():
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(build_tflite(GraphSpec([], no_subgraph=True)))
    assert str(caught.value) == "<bytes> is truncated or corrupt (no subgraphs)"  # the default name


def _bad_tensor_index(spec):
    spec.ops[0].inputs = (0, 1, 4)


def _negative_tensor_index(spec):
    spec.ops[0].outputs = (-2,)


def _bad_graph_output(spec):
    spec.outputs = (4,)


def _bad_graph_input(spec):
    spec.inputs = (-3,)


def _missing_opcode(spec):
    spec.ops[0].opcode_index = 1


def _zero_scale(spec):
    spec.tensors[3].scales = (0.0,)


def _infinite_scale(spec):
    spec.tensors[0].scales = (float("inf"),)


def _negative_scale(spec):
    spec.tensors[1].scales = (0.25, -0.125)


def _nan_scale(spec):
    spec.tensors[1].scales = (float("nan"), 0.125)


def _zero_points_per_scale(spec):
    spec.tensors[1].zero_points = (0,)


def _per_channel_axis_outside(spec):
    spec.tensors[1].quantized_dimension = 2


def _per_channel_count_off(spec):
    spec.tensors[1].quantized_dimension = 1  # axis 1 has 3 channels, 2 scales


def _buffer_too_short(spec):
    spec.tensors[2].raw = bytes(6)


def _buffer_too_long(spec):
    spec.tensors[1].raw = bytes(7)


def _missing_buffer(spec):
    spec.tensors[1].buffer = 9


def _weights_zero_point(spec):
    spec.tensors[1].zero_points = (0, 5)


def _too_few_inputs(spec):
    spec.ops[0].inputs = (0,)


def _first_input_omitted(spec):
    spec.ops[0].inputs = (-1, 1, 2)


def _constant_with_a_dynamic_shape(spec):
    spec.tensors[2].shape = (-1,)
    spec.tensors[2].scales = spec.tensors[2].zero_points = ()


def _constant_of_an_unreadable_type(spec):
    spec.tensors.append(TensorSpec("s", (2,), "string", raw=b"ab"))


def _too_many_inputs(spec):
    spec.ops[0].inputs = (0, 1, 2, 2)


def _two_outputs(spec):
    spec.ops[0].outputs = (3, 3)


def _omitted_output(spec):
    spec.ops[0].outputs = (-1,)


def _no_outputs(spec):
    spec.ops[0].outputs = ()


def _per_tensor_weights_zero_point(spec):
    spec.tensors[1].scales, spec.tensors[1].zero_points = (0.25,), (-1,)


def _per_tensor_int16_weights_zero_point(spec):
    spec.tensors[1] = TensorSpec("w16", (2, 3), "int16", WEIGHTS.astype(np.int16), scales=(0.25,), zero_points=(7,))


def _weights_along_the_wrong_axis(spec):
    spec.tensors[1].scales, spec.tensors[1].zero_points = (0.5, 0.25, 0.125), (0, 0, 0)
    spec.tensors[1].quantized_dimension = 1


def _zero_point_below_int8(spec):
    spec.tensors[1].zero_points = (-129, 128)  # a tensor's range is checked before the op's weight rule


def _zero_point_above_int8(spec):
    spec.tensors[3].zero_points = (128,)


def _zero_point_above_uint8(spec):
    spec.tensors[3] = TensorSpec("out", (1, 2), "uint8", scales=(0.75,), zero_points=(256,))


def _zero_point_below_uint8(spec):
    spec.tensors[3] = TensorSpec("out", (1, 2), "uint8", scales=(0.75,), zero_points=(-1,))


def _zero_point_above_int16(spec):
    spec.tensors[3] = TensorSpec("out", (1, 2), "int16", scales=(0.75,), zero_points=(32768,))


def _name_not_utf8(spec):
    spec.tensors[3].name = b"o\xffut"


def _more_than_2_to_the_31_elements(spec):
    spec.tensors[3].shape = (3, 1 << 30)


P = "bad.tflite is not a valid TFLite model: "
INVALID = {
    _bad_tensor_index: P + "op 0 FULLY_CONNECTED refers to tensor 4 as input 2, but the graph has 4 tensors",
    _negative_tensor_index: P + "op 0 FULLY_CONNECTED refers to tensor -2 as output 0, but the graph has 4 tensors",
    _bad_graph_output: P + "a graph output refers to tensor 4, but the graph has 4 tensors",
    _bad_graph_input: P + "a graph input refers to tensor -3, but the graph has 4 tensors",
    _missing_opcode: "bad.tflite is truncated or corrupt (op 0 refers to missing opcode 1)",
    _zero_scale: P + "tensor 3 'out': quantization scale 0.0 is not finite and > 0",
    _infinite_scale: P + "tensor 0 'in': quantization scale inf is not finite and > 0",
    _negative_scale: P + "tensor 1 'w': quantization scale -0.125 is not finite and > 0",
    _nan_scale: P + "tensor 1 'w': quantization scale nan is not finite and > 0",
    _zero_points_per_scale: P + "tensor 1 'w': 2 scales but 1 zero points",
    _per_channel_axis_outside: P + "tensor 1 'w': 2 per-channel scales along axis 2, which does not fit shape (2, 3)",
    _per_channel_count_off: P + "tensor 1 'w': 2 per-channel scales along axis 1, which does not fit shape (2, 3)",
    _buffer_too_short: P + "tensor 2 'b': buffer holds 6 bytes, shape (2,) of int32 needs 8",
    _buffer_too_long: P + "tensor 1 'w': buffer holds 7 bytes, shape (2, 3) of int8 needs 6",
    _missing_buffer: "bad.tflite is truncated or corrupt (tensor 1 refers to missing buffer 9)",
    _weights_zero_point: P + "op 0 FULLY_CONNECTED: weights tensor 1 'w' have zero point 5, but int8 weights are "
                             "symmetric (zero point 0) in TFLite's quantization scheme",
    _per_tensor_weights_zero_point: P + "op 0 FULLY_CONNECTED: weights tensor 1 'w' have zero point -1, but int8 "
                                        "weights are symmetric (zero point 0) in TFLite's quantization scheme",
    _per_tensor_int16_weights_zero_point: P + "op 0 FULLY_CONNECTED: weights tensor 1 'w16' have zero point 7, but "
                                              "int16 weights are symmetric (zero point 0) in TFLite's quantization scheme",
    _weights_along_the_wrong_axis: P + "op 0 FULLY_CONNECTED: weights tensor 1 'w' are quantized along axis 1, but "
                                       "FULLY_CONNECTED weights are per channel along axis 0",
    _too_few_inputs: P + "op 0 FULLY_CONNECTED has 1 inputs; it takes 2 to 3",
    _too_many_inputs: P + "op 0 FULLY_CONNECTED has 4 inputs; it takes 2 to 3",
    _first_input_omitted: P + "op 0 FULLY_CONNECTED: a required input is missing (-1) among (-1, 1, 2)",
    _two_outputs: P + "op 0 FULLY_CONNECTED has outputs (3, 3); it has exactly one",
    _omitted_output: P + "op 0 FULLY_CONNECTED has outputs (-1,); it has exactly one",
    _no_outputs: P + "op 0 FULLY_CONNECTED has outputs (); it has exactly one",
    _zero_point_below_int8: P + "tensor 1 'w': zero point -129 is outside the int8 range",
    _zero_point_above_int8: P + "tensor 3 'out': zero point 128 is outside the int8 range",
    _zero_point_above_uint8: P + "tensor 3 'out': zero point 256 is outside the uint8 range",
    _zero_point_below_uint8: P + "tensor 3 'out': zero point -1 is outside the uint8 range",
    _zero_point_above_int16: P + "tensor 3 'out': zero point 32768 is outside the int16 range",
    _name_not_utf8: P + "tensor 3 'o\ufffdut': its name is not UTF-8 text",
    _more_than_2_to_the_31_elements: P + "tensor 3 'out': shape (3, 1073741824) has more than 2^31 elements",
    _constant_with_a_dynamic_shape: P + "tensor 2 'b': negative dimension in shape (-1,)",
    _constant_of_an_unreadable_type: "bad.tflite: tensor 4 's' holds constant data of unsupported type string",
}


@pytest.mark.parametrize("break_it", INVALID, ids=lambda f: f.__name__.strip("_"))
def test_each_violation_is_one_error_naming_the_op_and_tensor(break_it):
    spec = int8_dense()
    break_it(spec)
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(build_tflite(spec), "bad.tflite")
    assert str(caught.value) == INVALID[break_it]


def _valid(spec: GraphSpec) -> Graph:
    return read_graph_bytes(build_tflite(spec))


def test_optional_inputs_and_zero_weight_zero_points_are_valid():
    spec = int8_dense()
    spec.ops[0].inputs = (0, 1, -1)  # no bias
    spec.tensors[1].scales, spec.tensors[1].zero_points = (0.25,), (0,)  # per-tensor weights
    graph = _valid(spec)
    assert graph.ops[0].inputs == (0, 1, -1) and graph.tensor(1).scale == 0.25


def test_what_the_rules_allow_at_their_edges():
    # zero points at the ends of the int8 range
    spec = int8_dense()
    spec.tensors[0].zero_points, spec.tensors[3].zero_points = (-128,), (127,)
    graph = _valid(spec)
    assert (graph.tensor(0).zero_point, graph.tensor(3).zero_point) == (-128, 127)
    # uint8 at 0 and 255; uint8 per-tensor weights keep the legacy asymmetric scheme (zero point 128)
    spec = int8_dense()
    spec.tensors[0] = TensorSpec("in", (1, 3), "uint8", scales=(0.5,), zero_points=(0,))
    spec.tensors[1] = TensorSpec("w", (2, 3), "uint8", (WEIGHTS.astype(np.int16) + 128).astype(np.uint8), scales=(0.25,),
                                 zero_points=(128,))
    spec.tensors[3] = TensorSpec("out", (1, 2), "uint8", scales=(0.75,), zero_points=(255,))
    graph = _valid(spec)
    assert [t.zero_points for t in graph.tensors] == [(0,), (128,), (0, 0), (255,)]
    # weights with zero points but no scale are not quantized: the weight rule does not apply
    spec = int8_dense()
    spec.tensors[1].scales, spec.tensors[1].zero_points = (), (5,)
    weights = _valid(spec).tensor(1)
    assert (weights.scales, weights.zero_points, weights.per_channel) == ((), (5,), False)
    # exactly 2^31 elements
    spec = int8_dense()
    spec.tensors[3].shape = (2, 1 << 30)
    assert _valid(spec).tensor(3).element_count == 1 << 31
    # an op may write tensor 0 (the graph input need not be tensor 0)
    spec = int8_dense()
    spec.tensors = [spec.tensors[3], *spec.tensors[:3]]
    spec.ops[0].inputs, spec.ops[0].outputs, spec.inputs, spec.outputs = (1, 2, 3), (0,), (1,), (0,)
    assert _valid(spec).ops[0].outputs == (0,)


def test_depthwise_weights_are_per_channel_along_the_last_axis():
    def depthwise(axis: int) -> GraphSpec:
        tensors = [
            TensorSpec("in", (1, 2, 2, 2), "int8", scales=(0.5,), zero_points=(0,)),
            TensorSpec("k", (1, 2, 2, 2), "int8", np.ones((1, 2, 2, 2), np.int8), scales=(0.5, 0.25),
                       zero_points=(0, 0), quantized_dimension=axis),
            TensorSpec("out", (1, 1, 1, 2), "int8", scales=(0.5,), zero_points=(0,)),
        ]
        table, kind = options("DepthwiseConv2D", padding=1, strideW=1, strideH=1, depthMultiplier=1)
        return GraphSpec(tensors, [OpSpec("DEPTHWISE_CONV_2D", (0, 1, -1), (2,), table, kind)], (0,), (2,))

    assert _valid(depthwise(3)).tensor(1).quantized_dimension == 3
    with pytest.raises(EdgeMLError) as caught:
        _valid(depthwise(1))
    assert str(caught.value) == ("<bytes> is not a valid TFLite model: op 0 DEPTHWISE_CONV_2D: weights tensor 1 'k' "
                                 "are quantized along axis 1, but DEPTHWISE_CONV_2D weights are per channel along axis 3")


@pytest.mark.parametrize("name, inputs, takes", [("SOFTMAX", (0, 0), "1"), ("CONCATENATION", (), "at least 1"),
                                                 ("EXPAND_DIMS", (0,), "2"), ("TRANSPOSE_CONV", (0, 0), "3 to 4")])
def test_the_input_count_names_what_the_op_takes(name, inputs, takes):
    spec = GraphSpec([TensorSpec("x", (1, 4)), TensorSpec("y", (1, 4))], [OpSpec(name, inputs, (1,))], (0,), (1,))
    with pytest.raises(EdgeMLError) as caught:
        _valid(spec)
    assert str(caught.value) == f"<bytes> is not a valid TFLite model: op 0 {name} has {len(inputs)} inputs; it takes {takes}"
    spec.ops[0].inputs = (0,) * {"1": 1, "at least 1": 5, "2": 2, "3 to 4": 4}[takes]  # the most it takes
    assert _valid(spec).ops[0].inputs == spec.ops[0].inputs


def test_a_violation_outside_the_main_subgraph_names_its_subgraph():
    def second_subgraph(model):
        body = copy.deepcopy(model.subgraphs[0])
        body.outputs = [7]
        model.subgraphs.append(body)

    data = edited(build_tflite(int8_dense()), second_subgraph)
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(data, "m.tflite")
    assert str(caught.value) == ("m.tflite is not a valid TFLite model: subgraph 1, a graph output refers to tensor 7, "
                                 "but the graph has 4 tensors")
    model = read_model_bytes(data, "m.tflite")  # recorded, not raised
    assert model.violation == "subgraph 1, a graph output refers to tensor 7, but the graph has 4 tensors"
    assert (model.path, model.size_bytes, len(model.subgraphs), model.main.outputs) == ("m.tflite", len(data), 2, (3,))
    assert model.subgraphs[1].outputs == (7,)


def test_read_model_records_the_first_violation_and_counts_each_buffer_once(tmp_path):
    spec = int8_dense()
    spec.tensors[3].zero_points = (300,)
    spec.tensors.append(TensorSpec("w again", (2, 3), "int8", buffer=1))  # shares the weights' buffer
    path = tmp_path / "m.tflite"
    path.write_bytes(build_tflite(spec))
    model = read_model(path)
    assert (model.path, model.size_bytes) == (str(path), path.stat().st_size)
    assert model.violation == "tensor 3 'out': zero point 300 is outside the int8 range"
    assert model.main is model.subgraphs[0]
    assert model.parameter_bytes == 6 + 8  # weights once (two tensors share buffer 1) + bias
    shared = model.main.tensor(4)
    assert (shared.buffer, shared.buffer_bytes) == (1, 6)
    np.testing.assert_array_equal(shared.data, WEIGHTS)
    valid = read_model_bytes(build_tflite(int8_dense()))
    assert (valid.path, valid.violation) == ("<bytes>", None)  # the default name


def test_buffers_empty_placeholder_and_external():
    """A converter gives every activation an empty buffer of its own; offset 1 is the converter's placeholder
    for "no external data" (LiteRT reads external data only at offset > 1)."""
    spec = int8_dense()
    spec.tensors[0].raw = b""  # buffer 1, empty (the weights are in 2, the bias in 3)
    spec.tensors.append(TensorSpec("c", (2,), "int8", raw=b"\x05\xfb"))

    def placeholder_and_external(model):
        model.buffers[4].offset, model.buffers[4].size = 1, 0  # data stays inline
        extra = _schema.BufferT()
        extra.offset, extra.size = 2, 2  # the 2 bytes at file offset 2
        model.buffers.append(extra)
        model.subgraphs[0].tensors[1].buffer = 5
        weights = model.subgraphs[0].tensors[1]
        weights.shape, weights.quantization = [2], None

    data = edited(build_tflite(spec), placeholder_and_external)
    graph = read_graph_bytes(data)
    activation, weights, bias, _, constant = graph.tensors
    assert (activation.data, activation.buffer, activation.buffer_bytes, activation.is_constant) == (None, 0, 0, False)
    assert (weights.buffer, weights.buffer_bytes, bias.buffer, constant.buffer) == (5, 2, 3, 4)
    np.testing.assert_array_equal(weights.data, np.frombuffer(data[2:4], np.int8))
    np.testing.assert_array_equal(constant.data, [5, -5])


def test_an_options_type_without_its_table_and_an_unknown_options_type_read_as_no_options():
    def edit(model):
        model.operatorCodes.append(_schema.OperatorCodeT())
        model.operatorCodes[1].builtinCode = _schema.BuiltinOperator.TANH
        tanh = _schema.OperatorT()
        tanh.opcodeIndex, tanh.inputs, tanh.outputs = 1, [3], [3]
        tanh.builtinOptionsType = 250  # a type from a newer schema
        tanh.builtinOptions = _schema.FullyConnectedOptionsT()
        model.subgraphs[0].operators.append(tanh)
        model.subgraphs[0].operators[0].builtinOptions = None  # type FullyConnectedOptions, no table

    dense, tanh = read_graph_bytes(edited(build_tflite(int8_dense()), edit)).ops
    assert (dict(dense.options), dict(tanh.options), tanh.name) == ({}, {}, "TANH")


def test_names_custom_codes_and_types_the_schema_does_not_know():
    tensors = [TensorSpec(None, (1, 4)), TensorSpec("y", (1, 4)), TensorSpec("z", (1, 4))]
    spec = GraphSpec(tensors, [OpSpec("CUSTOM:", (0,), (1,)), OpSpec("CUSTOM:x", (1,), (2,))], (0,), (2,))

    def edit(model):
        model.operatorCodes[0].customCode = None
        model.operatorCodes[1].customCode = b"\xffop"  # not UTF-8
        model.subgraphs[0].tensors[2].type = 99

    graph = read_graph_bytes(edited(build_tflite(spec), edit))
    assert [op.name for op in graph.ops] == ["CUSTOM:", "CUSTOM:\ufffdop"]
    assert (graph.tensor(0).name, graph.tensor(2).dtype) == ("", "unknown(99)")


def test_enum_names_are_the_public_integer_attributes():
    class Padding:
        SAME = 0
        VALID = 1
        _HIDDEN = 2
        label = "not a value"

    assert enum_names(Padding) == {0: "SAME", 1: "VALID"}


def test_a_missing_schema_says_what_to_install(monkeypatch):
    install = "reading .tflite files needs the TFLite flatbuffer schema: pip install ai-edge-litert"
    monkeypatch.setattr(graph_module, "_SCHEMA_MODULES", ("no_such_package_i16.schema", "no_such_either.schema"))
    with pytest.raises(EdgeMLError) as caught:
        load_schema()
    assert str(caught.value) == install  # the package is simply not installed: nothing more to say
    assert schema_available() is False
    # The package is there but its schema module is not: the first import error is shown.
    monkeypatch.setattr(graph_module, "_SCHEMA_MODULES", ("edgeml.no_such_schema", "no_such_either.schema"))
    with pytest.raises(EdgeMLError) as caught:
        load_schema()
    assert str(caught.value) == f"{install} (importing it failed: No module named 'edgeml.no_such_schema')"
    # A later module of the list is used when the first cannot be imported.
    monkeypatch.setattr(graph_module, "_SCHEMA_MODULES", ("no_such_package_i16.schema", _schema.__name__))
    assert load_schema() is _schema and schema_available() is True


@pytest.mark.parametrize("error, reason", [(ValueError("bad thing"), "ValueError: bad thing"),
                                           (RecursionError(), "RecursionError"),
                                           (struct.error("unpack"), "an offset points past the end of its 704 bytes")])
def test_any_parse_error_becomes_one_error_naming_its_type(monkeypatch, error, reason):
    def fail(*args):
        raise error

    monkeypatch.setattr(graph_module, "_parse", fail)
    data = build_tflite(int8_dense())
    assert len(data) == 704
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(data, "m.tflite")
    assert str(caught.value) == f"m.tflite is truncated or corrupt ({reason})"


@pytest.mark.parametrize("claim", [0, 1])
def test_a_vector_longer_than_the_file_is_refused(claim):
    """A shape vector whose length field claims more elements than the file has bytes (a damaged length):
    as many as the file's size still passes that check and reads past the end."""
    data = bytearray(build_tflite(int8_dense()))
    marker = np.array([2, 3], "<i4").tobytes()  # the weights' shape (2, 3), preceded by its length 2
    at = bytes(data).index(np.array([2], "<u4").tobytes() + marker)
    data[at:at + 4] = np.array([len(data) + claim], "<u4").tobytes()
    with pytest.raises(EdgeMLError) as caught:
        read_graph_bytes(bytes(data), "m.tflite")
    reason = (f"a vector claims {len(data) + 1} elements in a {len(data)}-byte file" if claim
              else f"an offset points past the end of its {len(data)} bytes")
    assert str(caught.value) == f"m.tflite is truncated or corrupt ({reason})"


def test_per_channel_weights_with_non_zero_zero_points_need_a_weight_op():
    """The weight rule is for FULLY_CONNECTED/CONV_2D/DEPTHWISE_CONV_2D/TRANSPOSE_CONV input 1; a MUL by the
    same constant is left to its kernel."""
    spec = int8_dense()
    spec.tensors[1].zero_points = (0, 5)
    spec.ops[0].name = "MUL"
    spec.ops[0].inputs = (0, 1)
    spec.ops[0].options = None
    graph = read_graph_bytes(build_tflite(spec))
    assert graph.ops[0].name == "MUL" and graph.tensor(1).zero_points == (0, 5)


def test_tensors_without_quantization_scalars_and_unknown_types():
    tensors = [
        TensorSpec("x", (1, 2)),
        TensorSpec("scalar", (), "float32", np.array(2.5, np.float32)),
        TensorSpec("odd", (3,), "int8", scales=(0.5,)),  # a scale without zero points: zero point 0
        TensorSpec("y", (1, 2)),
    ]
    spec = GraphSpec(tensors, [OpSpec("MUL", (0, 1), (3,))], (0,), (3,))
    graph = read_graph_bytes(build_tflite(spec))
    plain, scalar, odd, _ = graph.tensors
    assert (plain.scales, plain.zero_points, plain.quantized_dimension, plain.per_channel) == ((), (), 0, False)
    assert scalar.shape == () and scalar.data.shape == () and float(scalar.data) == 2.5
    assert (odd.scales, odd.zero_points, odd.zero_point) == ((0.5,), (), 0)
    # A tensor type this reader has no name for keeps its number.
    spec.tensors[3].dtype = "INT4"
    graph = read_graph_bytes(build_tflite(spec))
    assert graph.tensor(3).dtype == "int4"


def test_an_empty_constant_shape_with_data_is_a_size_error():
    spec = int8_dense()
    spec.tensors[2].shape = (2, 0)
    spec.tensors[2].scales = spec.tensors[2].zero_points = ()
    with pytest.raises(EdgeMLError, match=r"tensor 2 'b'.*buffer holds 8 bytes, shape \(2, 0\) of int32 needs 0"):
        read_graph_bytes(build_tflite(spec))


def test_the_buffer_index_just_past_the_last_is_missing():
    spec = int8_dense()
    spec.tensors[0].buffer = 3  # buffers 0 (empty), 1 (w), 2 (b): 3 is one past the end
    with pytest.raises(EdgeMLError, match=r"tensor 0 .*refers to missing buffer 3"):
        read_graph_bytes(build_tflite(spec))


def test_an_unknown_enum_value_keeps_its_number_and_vector_options_do_not_end_the_table():
    pool_options, pool_kind = options("Pool2D", padding=7, strideW=1, strideH=1, filterWidth=2, filterHeight=2,
                                      fusedActivationFunction=0)
    embed_options, embed_kind = options("ConcatEmbeddings", numChannels=2, numColumnsPerChannel=[3, 4],
                                        embeddingDimPerChannel=[5, 6])
    tensors = [TensorSpec("x", (1, 4, 4, 1)), TensorSpec("p", (1, 2, 2, 1)), TensorSpec("e", (1, 11))]
    spec = GraphSpec(tensors, [OpSpec("AVERAGE_POOL_2D", (0,), (1,), pool_options, pool_kind),
                               OpSpec("CONCAT_EMBEDDINGS", (1,), (2,), embed_options, embed_kind)], (0,), (2,))
    pool, embed = read_graph_bytes(build_tflite(spec)).ops
    assert pool.options["padding"] == "7" and pool.options["fused_activation_function"] == "NONE"
    assert pool.options["filter_width"] == 2
    assert (embed.options["embedding_dim_per_channel"], embed.options["num_columns_per_channel"]) == ((5, 6), (3, 4))
    assert embed.options["num_channels"] == 2


def test_external_buffers_are_read_by_offset_and_size():
    """Files over 2 GB keep constant data after the flatbuffer; a buffer then holds offset and size."""
    weights = np.arange(6, dtype=np.int8).reshape(2, 3)
    spec = int8_dense()
    import flatbuffers

    from tflite_flatbuffer import _schema

    # Buffer 1 (the weights) re-encoded to point past the flatbuffer; packing twice finds the final size.
    model = _schema.ModelT.InitFromPackedBuf(build_tflite(spec), 0)
    model.buffers[1].data, model.buffers[1].offset, model.buffers[1].size = None, 1 << 20, 6
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    base_shift = len(builder.Output()) + 16
    model.buffers[1].offset = base_shift
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    packed = bytes(builder.Output())
    assert len(packed) + 16 == base_shift
    whole = packed + bytes(16) + weights.tobytes()
    np.testing.assert_array_equal(read_graph_bytes(whole).tensor(1).data, weights)
    with pytest.raises(EdgeMLError, match=rf"buffer data at {base_shift}\+6 lies beyond the end of the file"):
        read_graph_bytes(whole[:-1])
