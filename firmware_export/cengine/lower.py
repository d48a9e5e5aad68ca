"""From a graph to kernel calls: each op's kernel, its integer parameters and constant arrays.

Everything a TFLite runtime computes in its kernels' Prepare step is computed here, once, at export,
with the same floating-point steps (so the C engine needs no float): requantization multipliers and
shifts (``QuantizeMultiplier``), activation clamps (``CalculateActivationRangeQuantized``), padding
(``ComputePaddingHeightWidth``), softmax's input scaling (``PreprocessSoftmaxScaling``,
``CalculateInputRadius``). Sources: tensorflow/tflite-micro @ 90b983c2b3f1480642e040bbd2ddb37b998f3424,
tensorflow/lite/kernels/internal/quantization_util.cc, tensorflow/lite/kernels/kernel_util.cc,
tensorflow/lite/kernels/padding.h, tensorflow/lite/micro/kernels/{conv,depthwise_conv,
fully_connected,softmax}_common.cc.

Both rounding modes are lowered: a value that differs between them (softmax's multiplier cap, the
shift clamp of single rounding) is kept twice and the generated C picks one with EDGEML_SINGLE_ROUNDING.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.graph import Graph, Op, Tensor
from firmware_export.cengine.fixed_point import quantize_multiplier, round_half_away

ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
KERNEL_OPS = {
    "FULLY_CONNECTED": "fully_connected",
    "CONV_2D": "conv_2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv_2d",
    "MAX_POOL_2D": "max_pool_2d",
    "AVERAGE_POOL_2D": "average_pool_2d",
    "SOFTMAX": "softmax",
    "ADD": "add",
    "MUL": "mul",
    "MEAN": "mean_hw",
    "LEAKY_RELU": "leaky_relu",
    "RELU": "leaky_relu",
    "RELU6": "leaky_relu",
    "CONCATENATION": "concatenation",
    "PAD": "pad",
    "LOGISTIC": "lookup",
    "TANH": "lookup",
    "HARD_SWISH": "lookup",
    "QUANTIZE": "quantize",
}
# Ops whose kernel may write its output over the input of the output's shape (the input at position 0 for
# single-input ops; for ADD and MUL either input that has the output's shape, also when the other one
# broadcasts): each output element is written once, after the input elements it needs are read, and no
# later element reads them. Each kernel says so in its comment; tests/test_cengine_ops.py runs them in place.
IN_PLACE_OPS = frozenset({"ADD", "MUL", "LEAKY_RELU", "RELU", "RELU6", "LOGISTIC", "TANH", "HARD_SWISH"})
SUPPORTED_OPS = frozenset(KERNEL_OPS) | ALIAS_OPS
INT8_MIN, INT8_MAX = -128, 127
_SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits in softmax_common.cc


@dataclass(frozen=True)
class ConstArray:
    """A constant array of the generated C. ``single`` is set only when single rounding needs other values."""

    name: str
    ctype: str
    values: tuple[int, ...]
    single: tuple[int, ...] | None = None


@dataclass(frozen=True)
class KernelCall:
    """One kernel invocation: ``params`` are the C parameter struct's fields in order (ints, or the name
    of a ConstArray, or None for NULL); ``single_params`` replaces them in a single-rounding build."""

    op_index: int
    op_name: str
    kernel: str
    inputs: tuple[int, ...]
    output: int
    params: tuple[tuple[str, int | str | None], ...]
    arrays: tuple[ConstArray, ...]
    single_params: tuple[tuple[str, int | str | None], ...] | None = None
    struct: str | None = None  # the C parameter struct; None: generate.py's table for the older kernels


@dataclass(frozen=True)
class LoweredGraph:
    calls: tuple[KernelCall, ...]
    aliases: dict[int, int]  # tensor -> the tensor whose bytes it shares (RESHAPE and friends)


def activation_range(activation: str, output: Tensor, op: Op) -> tuple[int, int]:
    """The int8 clamp of a fused activation. TFLite: CalculateActivationRangeQuantizedImpl
    (kernel_util.cc), which quantizes 0, 6, -1, 1 with a float32 division and std::round."""
    scale, zero_point = np.float32(output.scale), output.zero_point

    def quantize(value: float) -> int:
        return zero_point + round_half_away(float(np.float32(value) / scale))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise _unsupported(op, output, f"fused activation {activation}")


def same_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """Padding before the first element (TFLite's ComputePaddingWithOffset, padding.h); the odd extra
    pixel of SAME padding goes after the last element and needs no parameter."""
    effective_filter = (filter_size - 1) * dilation + 1
    total = max(0, (out_size - 1) * stride + effective_filter - in_size)
    return total // 2


def lower(graph: Graph) -> LoweredGraph:
    """Every op of ``graph`` as a kernel call or an alias; an op or tensor the engine cannot run is
    one :class:`EdgeMLError` naming both (nothing is written before this returns)."""
    _check_io(graph)
    calls: list[KernelCall] = []
    aliases: dict[int, int] = {}
    for op in graph.ops:
        if op.name not in SUPPORTED_OPS:
            output = graph.tensor(op.outputs[0]) if op.outputs else None
            raise EdgeMLError(
                f"{op.describe()} (output {output.describe() if output else 'none'}) is not supported by the "
                f"C engine (it runs {', '.join(sorted(SUPPORTED_OPS))}); export for TFLite Micro instead: "
                "edgeml export ... --engine tflm"
            )
        tensors = [t for t in graph.op_inputs(op) if t is not None] + [graph.tensor(i) for i in op.outputs]
        for tensor in tensors:
            if tensor.dtype not in ("int8", "int32") or (tensor.dtype == "int32" and not tensor.is_constant):
                raise _unsupported(op, tensor, f"{tensor.dtype} data")
        if op.name in ALIAS_OPS:
            source, target = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
            if (source.scales, source.zero_points) != (target.scales, target.zero_points):
                raise _unsupported(op, target, "a reshape that changes the quantization")
            aliases[target.index] = source.index
            continue
        lowering = {"fully_connected": _fully_connected, "conv_2d": _conv, "depthwise_conv_2d": _conv,
                    "max_pool_2d": _pool, "average_pool_2d": _pool, "softmax": _softmax, "add": _add,
                    "mul": _mul, "mean_hw": _mean, "leaky_relu": _leaky_relu,
                    "concatenation": _concatenation, "pad": _pad,
                    "lookup": _lookup, "quantize": _quantize}[KERNEL_OPS[op.name]]
        try:
            calls.append(lowering(graph, op))
        except KeyError as exc:  # a builtin option the op must have is missing from the file
            raise _unsupported(op, graph.tensor(op.outputs[0]), f"an op without its option {exc}") from None
    return LoweredGraph(tuple(calls), aliases)


def _check_io(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgeMLError(f"the C engine runs models with one input and one output; this one has "
                          f"{len(graph.inputs)} and {len(graph.outputs)}")
    for kind, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = graph.tensor(index)
        if tensor.dtype != "int8" or len(tensor.scales) != 1:
            raise EdgeMLError(
                f"the model's {kind} {tensor.describe()} is {tensor.dtype}, not per-tensor int8: the C engine "
                "runs int8 I/O only; convert with int8 input and output (edgeml quantize does by default) and "
                "quantize floats outside invoke with the header's <NAME>_INPUT_SCALE and <NAME>_INPUT_ZERO_POINT "
                "(outputs: <NAME>_OUTPUT_SCALE and <NAME>_OUTPUT_ZERO_POINT)"
            )


def _quantized_per_tensor(op: Op, *tensors: Tensor) -> None:
    for tensor in tensors:
        if len(tensor.scales) != 1:
            raise _unsupported(op, tensor, "an activation without one per-tensor scale")


def _weights(graph: Graph, op: Op) -> tuple[Tensor, Tensor | None]:
    weights = graph.tensor(op.inputs[1])
    if weights.dtype != "int8" or not weights.is_constant:
        raise _unsupported(op, weights, "weights that are not constant int8")
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if bias is not None and (bias.dtype != "int32" or not bias.is_constant):
        raise _unsupported(op, bias, "a bias that is not constant int32")
    return weights, bias


def _fully_connected(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    weights, bias = _weights(graph, op)
    _quantized_per_tensor(op, data, output)
    if op.options.get("weights_format", 0) != 0:
        raise _unsupported(op, weights, "shuffled weights")
    units, depth = fc_geometry(op, data, weights, output)
    if weights.per_channel:
        # FullyConnectedPerChannel: input_scale * filter_scale / output_scale in double.
        reals = [data.scale * s / output.scale for s in weights.scales]
    else:
        # GetQuantizedConvolutionMultipler: the float32 product of input and filter scale, then double.
        reals = [float(np.float32(data.scale) * np.float32(weights.scale)) / output.scale]
    multipliers, shifts, single = _multiplier_arrays(op, reals)
    low, high = activation_range(op.options.get("fused_activation_function", "NONE"), output, op)
    arrays = (_const(op, "filter", "int8_t", weights.data),) + multipliers + shifts
    arrays += (_const(op, "bias", "int32_t", bias.data),) if bias is not None else ()
    params = (
        ("batches", data.element_count // depth), ("depth", depth), ("units", units),
        ("input_offset", -data.zero_point), ("filter_offset", -(weights.zero_points[0] if weights.zero_points else 0)),
        ("output_offset", output.zero_point), ("activation_min", low), ("activation_max", high),
        ("per_channel", int(weights.per_channel)), ("filter", arrays[0].name),
        ("bias", arrays[-1].name if bias is not None else None), ("multiplier", multipliers[0].name),
        ("shift", shifts[0].name),
    )
    return KernelCall(op.index, op.name, "fully_connected", (data.index,), output.index, params, arrays)


def _conv(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    weights, bias = _weights(graph, op)
    _quantized_per_tensor(op, data, output)
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    geometry, depth_multiplier = conv_geometry(op, data, weights, output)
    out_c = output.shape[3]
    # PopulateConvolutionQuantizationParams: double(input_scale) * double(filter_scale) / double(output_scale).
    channel_scales = weights.scales if weights.per_channel else weights.scales * out_c
    reals = [data.scale * s / output.scale for s in channel_scales]
    multipliers, shifts, _ = _multiplier_arrays(op, reals)
    low, high = activation_range(op.options.get("fused_activation_function", "NONE"), output, op)
    arrays = (_const(op, "filter", "int8_t", weights.data),) + multipliers + shifts
    arrays += (_const(op, "bias", "int32_t", bias.data),) if bias is not None else ()
    conv = (
        *geometry, ("input_offset", -data.zero_point), ("output_offset", output.zero_point),
        ("activation_min", low), ("activation_max", high), ("filter", arrays[0].name),
        ("bias", arrays[-1].name if bias is not None else None), ("multiplier", multipliers[0].name),
        ("shift", shifts[0].name),
    )
    params = (("conv", conv), ("depth_multiplier", depth_multiplier)) if depthwise else conv
    kernel = "depthwise_conv_2d" if depthwise else "conv_2d"
    return KernelCall(op.index, op.name, kernel, (data.index,), output.index, params, arrays)


def fc_geometry(op: Op, data: Tensor, weights: Tensor, output: Tensor) -> tuple[int, int]:
    """The shape part of a FULLY_CONNECTED call, the same in the int8 and the float32 build: ``(units, depth)``
    of its 2-D weights, the input's elements a whole number of ``depth`` rows whose ``units`` outputs fill
    the output. Raises EdgeMLError (unsupported op) otherwise."""
    if len(weights.shape) != 2:
        raise _unsupported(op, weights, f"weights of shape {weights.shape}")
    units, depth = weights.shape
    if data.element_count % depth or output.element_count != data.element_count // depth * units:
        raise _unsupported(op, output, f"input {data.shape} / output {output.shape} that do not fit weights "
                                       f"{weights.shape}")
    return units, depth


def conv_geometry(op: Op, data: Tensor, weights: Tensor, output: Tensor) -> tuple[tuple[tuple[str, int], ...], int]:
    """The shape part of a CONV_2D / DEPTHWISE_CONV_2D call, the same in the int8 and the float32 build:
    ``(("batches", n), ("input_h", ...), ... ("pad_top", ...), ("pad_left", ...))`` in the kernels' struct
    order, and the depth multiplier (1 for CONV_2D). NHWC data, OHWI conv weights, 1HWO depthwise weights.

    Raises EdgeMLError (unsupported op) for other ranks, grouped convolutions and depthwise weights that do
    not match the channels."""
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    if len(data.shape) != 4 or len(weights.shape) != 4 or len(output.shape) != 4:
        raise _unsupported(op, data, f"shapes {data.shape}, {weights.shape} -> {output.shape} (NHWC expected)")
    batches, in_h, in_w, in_c = data.shape
    _, out_h, out_w, out_c = output.shape
    if depthwise:
        _, filter_h, filter_w, filter_c = weights.shape
        depth_multiplier = out_c // in_c
        if filter_c != out_c or in_c * depth_multiplier != out_c:
            raise _unsupported(op, weights, f"depthwise weights {weights.shape} for {in_c} -> {out_c} channels")
    else:
        filter_o, filter_h, filter_w, filter_i = weights.shape
        depth_multiplier = 1
        if filter_i != in_c or filter_o != out_c:
            raise _unsupported(op, weights, f"weights {weights.shape} for {in_c} -> {out_c} channels "
                                            "(grouped convolutions are not supported)")
    stride_h, stride_w = op.options["stride_h"], op.options["stride_w"]
    dilation_h, dilation_w = op.options["dilation_h_factor"], op.options["dilation_w_factor"]
    pad_top, pad_left = _padding(op, output, (in_h, in_w), (filter_h, filter_w), (stride_h, stride_w),
                                 (dilation_h, dilation_w), (out_h, out_w))
    return ((("batches", batches), ("input_h", in_h), ("input_w", in_w), ("input_c", in_c),
             ("output_h", out_h), ("output_w", out_w), ("output_c", out_c),
             ("filter_h", filter_h), ("filter_w", filter_w), ("stride_h", stride_h), ("stride_w", stride_w),
             ("dilation_h", dilation_h), ("dilation_w", dilation_w), ("pad_top", pad_top), ("pad_left", pad_left)),
            depth_multiplier)


def pad_geometry(op: Op, data: Tensor, paddings: Tensor) -> tuple[tuple[str, int], ...]:
    """The shape part of a PAD call, the same in the int8 and the float32 build: the input as 4 dimensions
    (leading 1s) and the padding before and after each, in the kernels' struct order.

    Raises EdgeMLError (unsupported op) unless the paddings are a constant (rank, 2) array of sizes >= 0
    over at most 4 dimensions."""
    rank = len(data.shape)
    if paddings.data is None or rank > 4 or paddings.data.shape != (rank, 2) or (paddings.data < 0).any():
        raise _unsupported(op, paddings, "paddings that are not a constant (rank, 2) array of sizes >= 0 over at "
                                         "most 4 dimensions")
    pads = [(0, 0)] * (4 - rank) + [(int(before), int(after)) for before, after in paddings.data]
    dims = (1,) * (4 - rank) + tuple(data.shape)
    return (tuple((f"input_d{k}", dims[k]) for k in range(4)) + tuple((f"before{k}", pads[k][0]) for k in range(4))
            + tuple((f"after{k}", pads[k][1]) for k in range(4)))


def pool_geometry(op: Op, data: Tensor, output: Tensor) -> tuple[tuple[str, int], ...]:
    """The shape part of a MAX_POOL_2D / AVERAGE_POOL_2D call, the same in the int8 and the float32 build:
    ``(("batches", n), ("input_h", ...), ... ("pad_top", ...), ("pad_left", ...))`` in the kernels' struct
    order (EDGEML_POOL_GEOMETRY_FIELDS, kernels/edgeml_geometry.h).

    Raises EdgeMLError (unsupported op) unless both tensors are NHWC."""
    if len(data.shape) != 4 or len(output.shape) != 4:
        raise _unsupported(op, data, f"pooling of shape {data.shape} -> {output.shape} (NHWC expected)")
    batches, in_h, in_w, channels = data.shape
    _, out_h, out_w, _ = output.shape
    filter_h, filter_w = op.options["filter_height"], op.options["filter_width"]
    stride_h, stride_w = op.options["stride_h"], op.options["stride_w"]
    pad_top, pad_left = _padding(op, output, (in_h, in_w), (filter_h, filter_w), (stride_h, stride_w), (1, 1),
                                 (out_h, out_w))
    return (("batches", batches), ("input_h", in_h), ("input_w", in_w), ("channels", channels),
            ("output_h", out_h), ("output_w", out_w), ("filter_h", filter_h), ("filter_w", filter_w),
            ("stride_h", stride_h), ("stride_w", stride_w), ("pad_top", pad_top), ("pad_left", pad_left))


def _pool(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, data, output)
    if (data.scales, data.zero_points) != (output.scales, output.zero_points):
        raise _unsupported(op, output, "pooling that changes the quantization")
    geometry = pool_geometry(op, data, output)
    low, high = activation_range(op.options.get("fused_activation_function", "NONE"), output, op)
    params = (*geometry, ("activation_min", low), ("activation_max", high))
    kernel = "max_pool_2d" if op.name == "MAX_POOL_2D" else "average_pool_2d"
    return KernelCall(op.index, op.name, kernel, (data.index,), output.index, params, ())


def _softmax(graph: Graph, op: Op) -> KernelCall:
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, data, output)
    if output.zero_point != -128 or np.float32(output.scale) != np.float32(1 / 256):
        raise _unsupported(op, output, "a softmax output not quantized as scale 1/256, zero point -128")
    depth = data.shape[-1]
    beta = float(np.float32(op.options.get("beta", 1.0)))

    def params(single_rounding: bool) -> tuple[tuple[str, int], ...]:
        multiplier, left_shift, diff_min = softmax_scaling(beta, data.scale, single_rounding)
        return (("rows", data.element_count // depth), ("depth", depth), ("input_multiplier", multiplier),
                ("input_left_shift", left_shift), ("diff_min", diff_min))

    double, single = params(False), params(True)
    return KernelCall(op.index, op.name, "softmax", (data.index,), output.index, double, (),
                      single if single != double else None)


def _add(graph: Graph, op: Op) -> KernelCall:
    """TFLite Micro's add_common.cc (CalculateOpDataAdd): both inputs rescaled to twice the larger input
    scale with 20 bits of headroom (left_shift), all multipliers from doubles."""
    first, second = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    output = graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, first, second, output)
    broadcast = _broadcast(op, first, second, output)
    left_shift = 20
    twice_max_input_scale = 2 * max(first.scale, second.scale)
    reals = (first.scale / twice_max_input_scale, second.scale / twice_max_input_scale,
             twice_max_input_scale / ((1 << left_shift) * output.scale))
    low, high = activation_range(op.options.get("fused_activation_function", "NONE"), output, op)

    def params(single_rounding: bool) -> tuple[tuple[str, int], ...]:
        (m1, s1), (m2, s2), (mo, so) = (quantize_multiplier(real, single_rounding) for real in reals)
        return (("size", output.element_count), ("input1_offset", -first.zero_point),
                ("input2_offset", -second.zero_point), ("output_offset", output.zero_point),
                ("left_shift", left_shift), ("input1_multiplier", m1), ("input1_shift", s1),
                ("input2_multiplier", m2), ("input2_shift", s2), ("output_multiplier", mo), ("output_shift", so),
                ("activation_min", low), ("activation_max", high),
                ("broadcast", broadcast[0].name if broadcast else None))

    double, single = params(False), params(True)
    return KernelCall(op.index, op.name, "add", (first.index, second.index), output.index, double, broadcast,
                      single if single != double else None)


def _mul(graph: Graph, op: Op) -> KernelCall:
    """TFLite Micro's mul_common.cc (CalculateOpDataMul): one multiplier, input1 scale * input2 scale /
    output scale in double. LiteRT's mul.cc computes the same quotient in float32 first (its single-rounding
    parameters use that)."""
    first, second = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    output = graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, first, second, output)
    broadcast = _broadcast(op, first, second, output)
    low, high = activation_range(op.options.get("fused_activation_function", "NONE"), output, op)

    def params(single_rounding: bool) -> tuple[tuple[str, int | str | None], ...]:
        if single_rounding:
            real = float(np.float32(first.scale) * np.float32(second.scale) / np.float32(output.scale))
        else:
            real = first.scale * second.scale / output.scale
        multiplier, shift = quantize_multiplier(real, single_rounding)
        return (("size", output.element_count), ("input1_offset", -first.zero_point),
                ("input2_offset", -second.zero_point), ("output_offset", output.zero_point),
                ("output_multiplier", multiplier), ("output_shift", shift),
                ("activation_min", low), ("activation_max", high),
                ("broadcast", broadcast[0].name if broadcast else None))

    double, single = params(False), params(True)
    return KernelCall(op.index, op.name, "mul", (first.index, second.index), output.index, double, broadcast,
                      single if single != double else None, struct="edgeml_mul_params")


def _broadcast(op: Op, first: Tensor, second: Tensor, output: Tensor) -> tuple[ConstArray, ...]:
    """Nothing when both inputs have the output's shape; else the kernel's broadcast table (output
    dimensions, then each input's strides, 0 where it repeats), shapes right-aligned as numpy does."""
    for tensor in (first, second):
        if tensor.is_constant:
            raise _unsupported(op, tensor, f"{op.name} of a constant")
    if first.shape == second.shape == output.shape:
        return ()
    if len(output.shape) > 4:
        raise _unsupported(op, output, f"{op.name} broadcasting over {len(output.shape)} dimensions")
    dims = (1,) * (4 - len(output.shape)) + tuple(output.shape)
    table = list(dims)
    for tensor in (first, second):
        shape = (1,) * (4 - len(tensor.shape)) + tuple(tensor.shape)
        if len(tensor.shape) > 4 or any(size not in (1, dim) for size, dim in zip(shape, dims)):
            raise _unsupported(op, tensor, f"{op.name} of shapes {first.shape} and {second.shape} into {output.shape}")
        strides, stride = [], 1
        for size in reversed(shape):
            strides.append(stride if size > 1 else 0)
            stride *= size
        table += reversed(strides)
    return (ConstArray(f"op{op.index}_broadcast", "int32_t", tuple(table)),)


def _leaky_relu(graph: Graph, op: Op) -> KernelCall:
    """LEAKY_RELU, RELU and RELU6 on the two-slope kernel.

    LEAKY_RELU: TFLite Micro's CalculateOpDataLeakyRelu (leaky_relu_common.cc) and LiteRT's
    LeakyReluPrepare (activations.cc) both compute the multipliers in float32 (input scale * alpha /
    output scale, input scale / output scale). RELU: ReluQuantized (activations_common.cc), one multiplier
    for both sides (double division in TFLite Micro, float32 in LiteRT's ReluPrepare) and the clamp
    [max(-128, output zero point), 127]. RELU6 differs beyond rounding: TFLite Micro's Relu6Quantized only
    clamps the input to [input zero point, quantized 6 in the input's scale] and ignores the output's
    quantization; LiteRT's QuantizedReluX requantizes to the output like RELU and clamps at the output's
    0 and 6. The default build follows TFLite Micro, the single-rounding build LiteRT."""
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, data, output)
    scale, out_scale = np.float32(data.scale), np.float32(output.scale)
    one = quantize_multiplier(1.0, False)

    def params(single_rounding: bool) -> tuple[tuple[str, int], ...]:
        zero_points = (data.zero_point, output.zero_point)
        if op.name == "LEAKY_RELU":
            alpha = np.float32(op.options["alpha"])
            identity = quantize_multiplier(float(scale / out_scale), False)
            slope = quantize_multiplier(float(scale * alpha / out_scale), False)
            low, high = INT8_MIN, INT8_MAX
        elif op.name == "RELU6" and not single_rounding:  # Relu6Quantized: a clamp in the input's scale
            identity = slope = one
            six = data.zero_point + round_half_away(float(np.float32(6.0) / scale))
            low, high = max(INT8_MIN, data.zero_point), min(INT8_MAX, six)
            zero_points = (0, 0)
        else:
            real = float(scale / out_scale) if single_rounding else data.scale / output.scale
            identity = slope = quantize_multiplier(real, False)
            low, high = activation_range(op.name, output, op)
        return (("size", output.element_count), ("input_zero_point", zero_points[0]),
                ("output_zero_point", zero_points[1]), ("identity_multiplier", identity[0]),
                ("identity_shift", identity[1]), ("alpha_multiplier", slope[0]), ("alpha_shift", slope[1]),
                ("activation_min", low), ("activation_max", high))

    double, single = params(False), params(True)
    return KernelCall(op.index, op.name, "leaky_relu", (data.index,), output.index, double, (),
                      single if single != double else None, struct="edgeml_leaky_relu_params")


def _lookup(graph: Graph, op: Op) -> KernelCall:
    """LOGISTIC, TANH and HARD_SWISH as a 256-entry table per build (:mod:`.lookup`). LOGISTIC and TANH:
    TFLite Micro's fixed-point algorithm by default, LiteRT BUILTIN_REF's float32 table in the
    single-rounding build. HARD_SWISH: reference_ops::HardSwish, the same in both runtimes."""
    from firmware_export.cengine import lookup

    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, data, output)
    if op.name == "HARD_SWISH":
        double = single = lookup.hard_swish_table(data.scale, data.zero_point, output.scale, output.zero_point)
    else:
        # TFLite Micro's kernels assume the converter's fixed output quantization; LiteRT's tables read it.
        scale, zero_point, tflm, litert = {
            "LOGISTIC": (1 / 256, -128, lookup.logistic_table_tflm, lookup.logistic_table_litert),
            "TANH": (1 / 128, 0, lookup.tanh_table_tflm, lookup.tanh_table_litert)}[op.name]
        if output.zero_point != zero_point or np.float32(output.scale) != np.float32(scale):
            raise _unsupported(op, output, f"a {op.name} output not quantized as scale 1/{round(1 / scale)}, "
                                           f"zero point {zero_point}")
        double = tflm(data.scale, data.zero_point)
        single = litert(data.scale, data.zero_point, output.scale, output.zero_point)
    table = ConstArray(f"op{op.index}_table", "int8_t", double, single if single != double else None)
    params = (("size", output.element_count), ("table", table.name))
    return KernelCall(op.index, op.name, "lookup", (data.index,), output.index, params, (table,),
                      struct="edgeml_lookup_params")


def requantize_params(source: Tensor, target: Tensor, single_rounding: bool) -> tuple[tuple[str, int], ...]:
    """The fields of an element-wise requantization from ``source``'s quantization to ``target``'s (both
    per-tensor): x -> clamp(requantize(x - input zero point) + output zero point) with the multiplier of
    input scale / output scale in double, as TFLite Micro's PrepareQuantizeReference (quantize_common.cc)
    and LiteRT's quantize.cc compute it."""
    multiplier, shift = quantize_multiplier(source.scale / target.scale, single_rounding)
    return (("size", source.element_count), ("input_offset", -source.zero_point),
            ("output_offset", target.zero_point), ("multiplier", multiplier), ("shift", shift))


def _quantize(graph: Graph, op: Op) -> KernelCall:
    """QUANTIZE from int8 to int8 (the converter's requantization where two consumers of a tensor need
    different scales, e.g. in QAT models): reference_ops::Requantize
    (tensorflow/lite/kernels/internal/reference/requantize.h @ 90b983c2), TFLite Micro's double rounding
    by default, single rounding as LiteRT BUILTIN_REF."""
    source, target = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, source, target)
    double, single = requantize_params(source, target, False), requantize_params(source, target, True)
    return KernelCall(op.index, op.name, "quantize", (source.index,), target.index, double, (),
                      single if single != double else None, struct="edgeml_quantize_params")


def _pad(graph: Graph, op: Op) -> KernelCall:
    """PAD with the output zero point (TFLite Micro's and LiteRT's pad.cc for int8 PAD; PADV2's explicit
    value is not supported). Input and output share their quantization, as both runtimes require."""
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    paddings = graph.tensor(op.inputs[1])
    _quantized_per_tensor(op, data, output)
    if (data.scales, data.zero_points) != (output.scales, output.zero_points):
        raise _unsupported(op, output, "a PAD that changes the quantization")
    params = pad_geometry(op, data, paddings) + (("pad_value", output.zero_point),)
    return KernelCall(op.index, op.name, "pad", (data.index,), output.index, params, (), struct="edgeml_pad_params")


def _concatenation(graph: Graph, op: Op) -> KernelCall:
    """CONCATENATION of 2 to 4 activation tensors that share the output's quantization (a pure copy in
    TFLite Micro and LiteRT alike)."""
    inputs = [graph.tensor(index) for index in op.inputs]
    output = graph.tensor(op.outputs[0])
    _quantized_per_tensor(op, output, *inputs)
    if not 2 <= len(inputs) <= 4:
        raise _unsupported(op, output, f"a CONCATENATION of {len(inputs)} tensors (2 to 4 are supported)")
    if op.options.get("fused_activation_function", "NONE") != "NONE":
        raise _unsupported(op, output, "a CONCATENATION with a fused activation")
    axis = op.options["axis"] % len(output.shape)
    for tensor in inputs:
        if tensor.is_constant:
            raise _unsupported(op, tensor, "CONCATENATION of a constant")
        if (tensor.scales, tensor.zero_points) != (output.scales, output.zero_points):
            raise _unsupported(op, tensor, "a CONCATENATION input quantized differently from its output")
    outer = math.prod(output.shape[:axis])
    sizes = [tensor.element_count // outer for tensor in inputs] + [0] * (4 - len(inputs))
    params = (("outer", outer),) + tuple((f"size{k}", size) for k, size in enumerate(sizes))
    return KernelCall(op.index, op.name, f"concatenation{len(inputs)}", tuple(op.inputs), output.index, params,
                      (), struct="edgeml_concatenation_params")


def _mean(graph: Graph, op: Op) -> KernelCall:
    """MEAN over H and W of NHWC data, or over the steps of (batch, steps, channels) data (Conv1D models).
    Multiplier: TFLite Micro's PrepareMeanOrSumHelper (reduce_common.cc), then the division by the element
    count that QuantizedMeanOrSum (reference/reduce.h) folds into it. LiteRT BUILTIN_REF (ai-edge-litert 2.x)
    computes int8 MEAN with the same integer steps and the same double rounding, measured in
    tests/test_cengine_ops.py; one set of parameters serves both builds."""
    data, output = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    axes = graph.tensor(op.inputs[1])
    _quantized_per_tensor(op, data, output)
    rank = len(data.shape)
    reduced = sorted(int(a) % rank for a in axes.data.reshape(-1)) if axes.data is not None and rank else []
    if rank not in (3, 4) or reduced != list(range(1, rank - 1)):
        raise _unsupported(op, axes, "a MEAN other than over height and width of NHWC data (or the steps of "
                                     "NWC data, as Conv1D models have)")
    batches, channels = data.shape[0], data.shape[-1]
    height, width = data.shape[1], data.shape[2] if rank == 4 else 1
    count = height * width
    multiplier, shift = quantize_multiplier(data.scale / output.scale, single_rounding=False)
    extra_shift = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier, shift = (multiplier << extra_shift) // count, shift - extra_shift
    params = (("batches", batches), ("height", height), ("width", width), ("channels", channels),
              ("input_zero_point", data.zero_point), ("output_zero_point", output.zero_point),
              ("multiplier", multiplier), ("shift", shift))
    return KernelCall(op.index, op.name, "mean_hw", (data.index,), output.index, params, ())


def softmax_scaling(beta: float, input_scale: float, single_rounding: bool) -> tuple[int, int, int]:
    """Softmax's input multiplier, left shift and diff_min. TFLite: PreprocessSoftmaxScaling and
    CalculateInputRadius (quantization_util.cc) with kScaledDiffIntegerBits = 5."""
    integer_bits = _SOFTMAX_SCALED_DIFF_INTEGER_BITS
    max_real_multiplier = (1 << 30) - 1.0 if single_rounding else (1 << 31) - 1.0
    real = min(beta * input_scale * (1 << (31 - integer_bits)), max_real_multiplier)
    multiplier, left_shift = quantize_multiplier(real, single_rounding)
    radius = math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return multiplier, left_shift, -radius


def _padding(op: Op, output: Tensor, in_size: tuple[int, int], filter_size: tuple[int, int],
             stride: tuple[int, int], dilation: tuple[int, int], out_size: tuple[int, int]) -> tuple[int, int]:
    padding = op.options.get("padding", "VALID")
    pads = []
    for axis in range(2):
        effective_filter = (filter_size[axis] - 1) * dilation[axis] + 1
        if padding == "SAME":
            expected = (in_size[axis] + stride[axis] - 1) // stride[axis]
        elif padding == "VALID":
            expected = (in_size[axis] + stride[axis] - effective_filter) // stride[axis]
        else:
            raise _unsupported(op, output, f"padding {padding}")
        if expected != out_size[axis]:
            raise _unsupported(op, output, f"an output size {out_size} that {padding} padding does not give")
        pads.append(same_padding(stride[axis], dilation[axis], in_size[axis], filter_size[axis], out_size[axis])
                    if padding == "SAME" else 0)
    return pads[0], pads[1]


def _multiplier_arrays(op: Op, reals: list[float]) -> tuple[tuple[ConstArray], tuple[ConstArray], bool]:
    double = [quantize_multiplier(real, False) for real in reals]
    single = [quantize_multiplier(real, True) for real in reals]
    differs = double != single

    def array(field: str, position: int) -> ConstArray:
        values = tuple(pair[position] for pair in double)
        other = tuple(pair[position] for pair in single)
        return ConstArray(f"op{op.index}_{field}", "int32_t", values, other if other != values else None)

    return (array("multiplier", 0),), (array("shift", 1),), differs


def _const(op: Op, field: str, ctype: str, data: np.ndarray) -> ConstArray:
    return ConstArray(f"op{op.index}_{field}", ctype, tuple(int(v) for v in np.asarray(data).reshape(-1)))


def _unsupported(op: Op, tensor: Tensor, what: str) -> EdgeMLError:
    return EdgeMLError(f"{op.describe()} on {tensor.describe()}: the C engine does not support {what}; "
                       "export for TFLite Micro instead: edgeml export ... --engine tflm")
