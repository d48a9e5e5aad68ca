"""From a float32 graph to float kernel calls: each op's kernel, its parameters and constant arrays.

The float counterpart of :mod:`.lower` (which lowers int8 graphs): the same :class:`KernelCall` and
:class:`ConstArray` values, with ``float`` arrays and C float literals as parameters, for the kernels of
``float_kernels/`` (TFLite's float reference kernels, tensorflow/lite/kernels/internal/reference/*.h).
Padding, the broadcast table and the error for an unsupported op are :mod:`.lower`'s.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, Op, Tensor
from firmware_export import cgen
from firmware_export.cengine.lower import (ALIAS_OPS, ConstArray, KernelCall, LoweredGraph, _broadcast, _unsupported,
                                           conv_geometry, fc_geometry, pad_geometry, pool_geometry)

FLOAT_KERNEL_OPS = {
    "FULLY_CONNECTED": "fully_connected", "CONV_2D": "conv_2d", "DEPTHWISE_CONV_2D": "depthwise_conv_2d",
    "MAX_POOL_2D": "max_pool_2d", "AVERAGE_POOL_2D": "average_pool_2d", "MEAN": "mean_hw", "ADD": "add",
    "MUL": "mul", "CONCATENATION": "concatenation", "PAD": "pad", "SOFTMAX": "softmax", "LOGISTIC": "logistic",
    "TANH": "tanh", "RELU": "relu", "RELU6": "relu6", "LEAKY_RELU": "leaky_relu",
}
FLOAT_SUPPORTED_OPS = frozenset(FLOAT_KERNEL_OPS) | ALIAS_OPS
# Every shape/index operand the float ops take is an int32 constant (RESHAPE's shape, MEAN's axes, PAD's paddings).
_INDEX_OPERANDS = {"RESHAPE": (1,), "MEAN": (1,), "PAD": (1,)}
# Ops whose data operands may be constants (a const array of the generated file).
_CONSTANT_OPERAND_OPS = frozenset({"ADD", "MUL", "CONCATENATION"})
# The fused activation's clamp (TFLite's CalculateActivationRange for float, kernel_util.h).
_ACTIVATION_RANGES = {"NONE": ("-FLT_MAX", "FLT_MAX"), "RELU": ("0.0f", "FLT_MAX"), "RELU6": ("0.0f", "6.0f"),
                      "RELU_N1_TO_1": ("-1.0f", "1.0f")}


def is_float_graph(graph: Graph) -> bool:
    """True when the graph's input is float32 and nothing quantizes it (what ``edgeml export --engine c``
    dispatches on): a quantized model with float I/O starts with a QUANTIZE and belongs to the int8 build,
    whose error says how to convert it with int8 I/O."""
    return (len(graph.inputs) >= 1 and graph.tensor(graph.inputs[0]).dtype == "float32"
            and not any(op.name == "QUANTIZE" for op in graph.ops))


def lower_float(graph: Graph) -> LoweredGraph:
    """Every op of the float32 ``graph`` as a float kernel call or an alias; an op or tensor the float engine
    cannot run is one :class:`EdgeMLError` naming both, before anything is written.

    Constant operands of ADD, MUL and CONCATENATION become const arrays named ``tensor<index>``."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgeMLError(f"the C engine runs models with one input and one output; this one has "
                          f"{len(graph.inputs)} and {len(graph.outputs)}")
    for kind, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = graph.tensor(index)
        if tensor.dtype != "float32":
            raise EdgeMLError(f"the model's {kind} {tensor.describe()} is {tensor.dtype}: the C engine's float "
                              "build runs graphs that are float32 from input to output")
    calls: list[KernelCall] = []
    aliases: dict[int, int] = {}
    for op in graph.ops:
        output = graph.tensor(op.outputs[0]) if op.outputs else None
        if op.name not in FLOAT_SUPPORTED_OPS or output is None:
            raise EdgeMLError(
                f"{op.describe()} (output {output.describe() if output else 'none'}) is not supported by the C "
                f"engine's float build (it runs {', '.join(sorted(FLOAT_SUPPORTED_OPS))}); export for TFLite "
                "Micro instead: edgeml export ... --engine tflm --allow-float")
        _check_dtypes(graph, op)
        if op.name in ALIAS_OPS:
            aliases[output.index] = op.inputs[0]
            continue
        lowering = {"fully_connected": _fully_connected, "conv_2d": _conv, "depthwise_conv_2d": _conv,
                    "max_pool_2d": _pool, "average_pool_2d": _pool, "mean_hw": _mean, "add": _binary,
                    "mul": _binary, "concatenation": _concatenation, "pad": _pad, "softmax": _softmax,
                    "logistic": _unary, "tanh": _unary, "relu": _unary, "relu6": _unary,
                    "leaky_relu": _unary}[FLOAT_KERNEL_OPS[op.name]]
        try:
            calls.append(lowering(graph, op))
        except KeyError as exc:  # a builtin option the op must have is missing from the file
            raise _unsupported(op, output, f"an op without its option {exc}") from None
    return LoweredGraph(tuple(calls), aliases)


def float_literal(value: float) -> str:
    """A C ``float`` literal of ``value`` rounded to float32 (infinities as ``FLT_MAX``: the clamps).

    >>> float_literal(6), float_literal(-math.inf), float_literal(0.1)
    ('6.0f', '-FLT_MAX', '0.1f')
    """
    if math.isinf(value):
        return "FLT_MAX" if value > 0 else "-FLT_MAX"
    return cgen.c_float_literal(float(np.float32(value)))


def _check_dtypes(graph: Graph, op: Op) -> None:
    index_operands = _INDEX_OPERANDS.get(op.name, ())
    data = graph.tensor(op.inputs[0]) if op.inputs else None
    if data is not None and data.is_constant and op.name not in _CONSTANT_OPERAND_OPS:
        raise _unsupported(op, data, f"a {op.name} of a constant")
    for position, index in enumerate(op.inputs):
        if index < 0:
            continue
        tensor = graph.tensor(index)
        expected = "int32" if position in index_operands else "float32"
        if tensor.dtype != expected or (expected == "int32" and not tensor.is_constant):
            raise _unsupported(op, tensor, f"{tensor.dtype} {'constant' if tensor.is_constant else 'data'} "
                                           "in a float32 graph (a hybrid or quantized model: use its int8 "
                                           "file for the int8 build)")
    for index in op.outputs:
        if graph.tensor(index).dtype != "float32":
            raise _unsupported(op, graph.tensor(index), f"{graph.tensor(index).dtype} data in a float32 graph")


def _activation(op: Op, output: Tensor) -> tuple[tuple[str, str], ...]:
    activation = op.options.get("fused_activation_function", "NONE")
    if activation not in _ACTIVATION_RANGES:
        raise _unsupported(op, output, f"fused activation {activation}")
    low, high = _ACTIVATION_RANGES[activation]
    return ("activation_min", low), ("activation_max", high)


def _float_array(name: str, data: np.ndarray) -> ConstArray:
    return ConstArray(name, "float", tuple(float_literal(v) for v in np.asarray(data, np.float32).reshape(-1)))


def _weights(graph: Graph, op: Op) -> tuple[ConstArray, ConstArray | None]:
    weights = graph.tensor(op.inputs[1])
    if weights.data is None:
        raise _unsupported(op, weights, "weights that are not a constant")
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if bias is not None and bias.data is None:
        raise _unsupported(op, bias, "a bias that is not a constant")
    return (_float_array(f"op{op.index}_filter", weights.data),
            _float_array(f"op{op.index}_bias", bias.data) if bias is not None else None)


def _fully_connected(graph: Graph, op: Op) -> KernelCall:
    data, output, weights = (graph.tensor(i) for i in (op.inputs[0], op.outputs[0], op.inputs[1]))
    units, depth = fc_geometry(op, data, weights, output)
    filter_array, bias_array = _weights(graph, op)
    params = (("batches", data.element_count // depth), ("depth", depth), ("units", units), *_activation(op, output),
              ("filter", filter_array.name), ("bias", bias_array.name if bias_array else None))
    arrays = (filter_array,) + ((bias_array,) if bias_array else ())
    return KernelCall(op.index, op.name, "fully_connected", (data.index,), output.index, params, arrays,
                      struct="edgeml_float_fully_connected_params")


def _conv(graph: Graph, op: Op) -> KernelCall:
    data, output, weights = (graph.tensor(i) for i in (op.inputs[0], op.outputs[0], op.inputs[1]))
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    geometry, depth_multiplier = conv_geometry(op, data, weights, output)
    filter_array, bias_array = _weights(graph, op)
    params = (*geometry, *_activation(op, output), ("filter", filter_array.name),
              ("bias", bias_array.name if bias_array else None))
    arrays = (filter_array,) + ((bias_array,) if bias_array else ())
    if depthwise:  # the int8 build's layout, so that fuse.py fuses both builds' calls alike
        return KernelCall(op.index, op.name, "depthwise_conv_2d", (data.index,), output.index,
                          (("conv", params), ("depth_multiplier", depth_multiplier)), arrays,
                          struct="edgeml_float_depthwise_params")
    return KernelCall(op.index, op.name, "conv_2d", (data.index,), output.index, params, arrays,
                      struct="edgeml_float_conv_params")


def _pool(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    params = (*pool_geometry(op, data, output), *_activation(op, output))
    kernel = "max_pool_2d" if op.name == "MAX_POOL_2D" else "average_pool_2d"
    return KernelCall(op.index, op.name, kernel, (data.index,), output.index, params, (),
                      struct="edgeml_float_pool_params")


def _mean(graph: Graph, op: Op) -> KernelCall:
    data, output, axes = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0]), graph.tensor(op.inputs[1])
    rank = len(data.shape)
    reduced = sorted(int(a) % rank for a in axes.data.reshape(-1)) if axes.data is not None and rank else []
    if rank not in (3, 4) or reduced != list(range(1, rank - 1)):
        raise _unsupported(op, axes, "a MEAN other than over height and width of NHWC data (or the steps of "
                                     "NWC data, as Conv1D models have)")
    height, width = data.shape[1], data.shape[2] if rank == 4 else 1
    params = (("batches", data.shape[0]), ("height", height), ("width", width), ("channels", data.shape[-1]))
    return KernelCall(op.index, op.name, "mean_hw", (data.index,), output.index, params, (),
                      struct="edgeml_float_mean_params")


def _binary(graph: Graph, op: Op) -> KernelCall:
    """ADD and MUL; a constant operand (a Rescaling or unfolded normalisation) is a const array."""
    first, second, output = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    # The broadcast table depends on shapes only; lower's int8 rule against constant operands does not apply.
    shapes_only = [dataclasses.replace(t, data=None, buffer_bytes=0) for t in (first, second)]
    broadcast = _broadcast(op, *shapes_only, output)
    constants = tuple(_float_array(f"tensor{t.index}", t.data) for t in (first, second) if t.data is not None)
    if first.data is not None and second.data is not None:
        raise _unsupported(op, output, f"{op.name} of two constants")
    params = (("size", output.element_count), *_activation(op, output),
              ("broadcast", broadcast[0].name if broadcast else None))
    return KernelCall(op.index, op.name, FLOAT_KERNEL_OPS[op.name], (first.index, second.index), output.index, params,
                      tuple(broadcast) + constants, struct="edgeml_float_binary_params")


def _unary(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    alpha = float_literal(op.options["alpha"]) if op.name == "LEAKY_RELU" else "0.0f"
    params = (("size", output.element_count), ("alpha", alpha))
    return KernelCall(op.index, op.name, FLOAT_KERNEL_OPS[op.name], (data.index,), output.index, params, (),
                      struct="edgeml_float_unary_params")


def _softmax(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    depth = data.shape[-1] if data.shape else 1
    params = (("rows", data.element_count // depth), ("depth", depth),
              ("beta", float_literal(op.options.get("beta", 1.0))))
    return KernelCall(op.index, op.name, "softmax", (data.index,), output.index, params, (),
                      struct="edgeml_float_softmax_params")


def _concatenation(graph: Graph, op: Op) -> KernelCall:
    inputs = [graph.tensor(index) for index in op.inputs]
    output = graph.tensor(op.outputs[0])
    if not 2 <= len(inputs) <= 4:
        raise _unsupported(op, output, f"a CONCATENATION of {len(inputs)} tensors (2 to 4 are supported)")
    if op.options.get("fused_activation_function", "NONE") != "NONE":
        raise _unsupported(op, output, "a CONCATENATION with a fused activation")
    axis = op.options["axis"] % len(output.shape)
    outer = math.prod(output.shape[:axis])
    sizes = [tensor.element_count // outer for tensor in inputs] + [0] * (4 - len(inputs))
    constants = tuple(_float_array(f"tensor{t.index}", t.data) for t in inputs if t.data is not None)
    params = (("outer", outer),) + tuple((f"size{k}", size) for k, size in enumerate(sizes))
    return KernelCall(op.index, op.name, f"concatenation{len(inputs)}", tuple(op.inputs), output.index, params,
                      constants, struct="edgeml_float_concatenation_params")


def _pad(graph: Graph, op: Op) -> KernelCall:
    """PAD with zeros (TFLite's pad.cc for float PAD; PADV2's explicit value is not supported)."""
    data, output, paddings = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0]), graph.tensor(op.inputs[1])
    params = pad_geometry(op, data, paddings) + (("pad_value", "0.0f"),)
    return KernelCall(op.index, op.name, "pad", (data.index,), output.index, params, (),
                      struct="edgeml_float_pad_params")
