"""Read what a ``.tflite`` file contains: I/O tensors, quantization, operators, TFLite Micro support.

Works without TensorFlow (a Raspberry Pi has only numpy and ai-edge-litert): the file is read with the
flatbuffer schema that ai-edge-litert ships (``schema_py_generated``), imported lazily.

Flatbuffer accessors trust the file: on garbage they raise ``struct.error``, ``IndexError`` and friends,
or read nonsense. Every such failure becomes one :class:`EdgeMLError`, and buffer sizes are checked
against the file size, because a truncated file can otherwise parse "successfully".
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from edgeml.errors import EdgeMLError

# Builtin ops that TFLite Micro's MicroMutableOpResolver can register (one Add...() method each).
# Source: tensorflow/tflite-micro, tensorflow/lite/micro/micro_mutable_op_resolver.h at commit 90b983c2
# (file last changed 2026-01-13), read 2026-08. Only the op names are taken from it.
TFLM_BUILTIN_OPS = frozenset({
    "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D", "BATCH_MATMUL",
    "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST", "CEIL", "CONCATENATION",
    "CONV_2D", "COS", "CUMSUM", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "DIV",
    "DYNAMIC_UPDATE_SLICE", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP", "EXPAND_DIMS", "FILL", "FLOOR",
    "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER", "GREATER_EQUAL",
    "HARD_SWISH", "IF", "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
    "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "LOG_SOFTMAX", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE",
    "READ_VARIABLE", "REDUCE_ALL", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2", "SHAPE",
    "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
})

# Custom ops the same resolver registers by name (AddCustom calls in the same file); the Signal* ops
# need TFLM's signal library linked in. The Ethos-U op's name comes from a function, so it is not listed.
TFLM_CUSTOM_OPS = frozenset({
    "CIRCULAR_BUFFER", "TFLite_Detection_PostProcess", "TFLM_DECODE", "SignalDelay", "SignalEnergy",
    "SignalFftAutoScale", "SignalFilterBank", "SignalFilterBankLog", "SignalFilterBankSquareRoot",
    "SignalFilterBankSpectralSubtraction", "SignalFramer", "SignalIrfft", "SignalOverlapAdd", "SignalPCAN",
    "SignalRfft", "SignalStacker", "SignalWindow",
})

FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
# Integer types a full-int8 model has besides int8: int32 biases and shapes, int16 in a few kernels.
_FULL_INT8_OTHER_DTYPES = frozenset({"int16", "int32", "int64", "bool"})
_CONVERSION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
_FILE_IDENTIFIER = b"TFL3"

# Where a flatbuffer schema for .tflite files can be imported from, in order of preference.
_SCHEMA_MODULES = (
    "ai_edge_litert.schema_py_generated",
    "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    "tflite_runtime.schema_py_generated",
)

# What flatbuffers' accessors raise when offsets in a damaged file point outside it or at garbage.
_PARSE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
                 RecursionError, MemoryError)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor. ``scale``/``zero_point`` are per-tensor: None when not quantized or quantized per
    channel; ``scales``/``zero_points`` hold every value either way."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None
    per_channel: bool
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    is_constant: bool = False

    @property
    def quantized(self) -> bool:
        return bool(self.scales)


@dataclass(frozen=True)
class OperatorCount:
    name: str
    count: int


@dataclass(frozen=True)
class TFLiteModelInfo:
    """What a .tflite file contains. ``inputs``/``outputs`` are those of the main subgraph (0);
    ``operators``, ``tensors`` and the op checks cover every subgraph (IF/WHILE bodies included)."""

    path: str
    size_bytes: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    operators: tuple[OperatorCount, ...]
    tensor_count: int
    parameter_bytes: int
    float_ops: tuple[str, ...]
    tflm_unsupported_ops: tuple[str, ...]
    float_conversion_ops: tuple[str, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()
    tflm_limitations: tuple[str, ...] = ()  # ops TFLite Micro registers but cannot run with these types
    violation: str | None = None  # what :func:`validate` refuses (op and tensor named), None when valid

    @property
    def tflm_problems(self) -> tuple[str, ...]:
        """Why TFLite Micro cannot run the model (empty when it can): missing kernels, then type limits."""
        missing = (f"no kernel for {', '.join(self.tflm_unsupported_ops)}",) if self.tflm_unsupported_ops else ()
        return missing + self.tflm_limitations

    @property
    def integer_only(self) -> bool:
        """Integer compute end to end with int8 or uint8 I/O (``--io uint8``: QUANTIZE uint8<->int8 at the
        edges of int8 ops), which TFLite Micro runs as is."""
        io_integer = all(tensor.dtype in ("int8", "uint8") for tensor in self.inputs + self.outputs)
        tensors_int = all(
            tensor.dtype in ("int8", "uint8") or tensor.dtype in _FULL_INT8_OTHER_DTYPES for tensor in self.tensors
        )
        return io_integer and tensors_int and not self.float_ops and not self.float_conversion_ops

    @property
    def operator_count(self) -> int:
        return sum(op.count for op in self.operators)

    @property
    def fully_int8(self) -> bool:
        """No float compute, no float<->int8 QUANTIZE/DEQUANTIZE, int8 I/O and no float tensor anywhere."""
        io_int8 = all(tensor.dtype == "int8" for tensor in self.inputs + self.outputs)
        tensors_int = all(
            tensor.dtype == "int8" or tensor.dtype in _FULL_INT8_OTHER_DTYPES for tensor in self.tensors
        )
        return io_int8 and tensors_int and not self.float_ops and not self.float_conversion_ops

    def not_int8_reasons(self) -> tuple[str, ...]:
        """Why the model is not fully int8 (empty when it is)."""
        reasons = []
        if self.float_ops:
            reasons.append(f"float ops: {', '.join(self.float_ops)}")
        if self.float_conversion_ops:
            reasons.append(f"float<->int conversions: {', '.join(self.float_conversion_ops)}")
        non_int8_io = sorted({t.dtype for t in self.inputs + self.outputs if t.dtype != "int8"})
        if non_int8_io:
            reasons.append(f"I/O dtypes: {', '.join(non_int8_io)}")
        if not reasons and not self.fully_int8:
            reasons.append("float tensors")
        return tuple(reasons)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples become lists), with ``fully_int8`` included."""
        return {**_as_lists(asdict(self)), "fully_int8": self.fully_int8}


def read_tflite(path: str | Path) -> TFLiteModelInfo:
    """Read a .tflite file; any problem with the file is one :class:`EdgeMLError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EdgeMLError(_one_line(f"{path} does not exist")) from None
    except OSError as exc:
        raise EdgeMLError(_one_line(f"cannot read {path}: {exc.strerror or exc}")) from None
    return read_tflite_bytes(data, str(path))


def read_tflite_bytes(data: bytes, path: str = "<bytes>") -> TFLiteModelInfo:
    """Read a .tflite model held in memory; ``path`` only names it in the result and in errors."""
    data = bytes(data)
    if not data:
        raise EdgeMLError(_one_line(f"{path} is empty, not a TFLite model"))
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise EdgeMLError(_one_line(f"{path} is not a TFLite model (no TFL3 identifier)"))
    schema = _load_schema()
    try:
        info = _parse(schema, data, path)
    except _CorruptModel as exc:
        reason = str(exc)
    except (struct.error, IndexError):
        reason = f"an offset points past the end of its {len(data):,} bytes"
    except _PARSE_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        try:
            violation = _first_violation(schema, data)
        except _CorruptModel as exc:
            violation = str(exc)
        except _PARSE_ERRORS as exc:
            violation = f"unreadable ({type(exc).__name__})"
        return replace(info, violation=_one_line(violation) if violation else None)
    raise EdgeMLError(_one_line(f"{path} is truncated or corrupt ({reason})"))


# Bytes per element of the tensor types whose constant buffers have a fixed size (int4, strings and
# resources are left out).
_DTYPE_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16,
}
# (fewest, most) inputs of the ops edgeml's models use, and -1 (omitted) allowed only from index ``fewest``
# on (the optional bias). From tensorflow/lite/core/kernels' NumInputs checks.
_OP_INPUTS = {
    "CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3), "TRANSPOSE_CONV": (3, 4),
    "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "SOFTMAX": (1, 1), "LOGISTIC": (1, 1), "TANH": (1, 1),
    "RELU": (1, 1), "RELU6": (1, 1), "LEAKY_RELU": (1, 1), "HARD_SWISH": (1, 1), "QUANTIZE": (1, 1),
    "DEQUANTIZE": (1, 1), "RESHAPE": (1, 2), "SQUEEZE": (1, 1), "EXPAND_DIMS": (2, 2), "ADD": (2, 2),
    "SUB": (2, 2), "MUL": (2, 2), "MEAN": (2, 2), "PAD": (2, 2), "PADV2": (3, 3), "TRANSPOSE": (2, 2),
}
# The int8 scheme's weights are symmetric (zero point 0), per channel along this axis when per channel:
# https://ai.google.dev/edge/litert/models/quantization_spec (Conv2D, DepthwiseConv2D, FullyConnected).
_WEIGHT_CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 0}
_MAX_ELEMENTS = 1 << 31


def validate(data: bytes, path: str = "<bytes>") -> TFLiteModelInfo:
    """Check what LiteRT and TFLite Micro trust in a model before either gets it, and return its info.

    Checked: every tensor index in range; each constant buffer holds exactly shape x dtype size bytes;
    shapes non-negative; quantization scales finite and > 0, one zero point per scale, per-channel
    parameters matching the channel axis; int8/int16 weights of CONV_2D, DEPTHWISE_CONV_2D,
    FULLY_CONNECTED and TRANSPOSE_CONV with zero points 0 (TFLite's int8 scheme; LiteRT refuses
    others at prepare, TFLite Micro silently computes garbage); input/output counts of common ops.
    A violation is one :class:`EdgeMLError` naming the op and the tensor.
    """
    info = read_tflite_bytes(data, path)
    if info.violation:
        raise EdgeMLError(_one_line(f"{path} is not a valid TFLite model: {info.violation}"))
    return info


def _first_violation(schema: ModuleType, data: bytes) -> str | None:
    model, buffer_sizes, opcode_names, dtype_names = _model_tables(schema, data)
    size = len(data)
    for subgraph_index in range(_length(model.SubgraphsLength(), size)):
        subgraph = model.Subgraphs(subgraph_index)
        where = f"subgraph {subgraph_index}, " if subgraph_index else ""
        tensors = []
        for tensor_index in range(_length(subgraph.TensorsLength(), size)):
            tensor = subgraph.Tensors(tensor_index)
            constant = tensor.Buffer() != 0 and buffer_sizes[tensor.Buffer()] > 0
            info = _tensor_info(tensor, dtype_names, constant, size)
            tensors.append(info)
            problem = _tensor_violation(info, buffer_sizes[tensor.Buffer()] if constant else None)
            if not _is_utf8(tensor.Name() or b""):  # the runtimes decode names strictly
                problem = "its name is not UTF-8 text"
            if problem:
                return f"{where}tensor {tensor_index} '{info.name}': {problem}"
        count = len(tensors)
        for kind, indices in (("input", _indices(subgraph.Inputs, subgraph.InputsLength(), size)),
                              ("output", _indices(subgraph.Outputs, subgraph.OutputsLength(), size))):
            if any(not 0 <= index < count for index in indices):
                return f"{where}a graph {kind} refers to tensor {max(indices)} of {count}"
        for op_index in range(_length(subgraph.OperatorsLength(), size)):
            operator = subgraph.Operators(op_index)
            name = opcode_names[operator.OpcodeIndex()]
            inputs = _indices(operator.Inputs, operator.InputsLength(), size)
            outputs = _indices(operator.Outputs, operator.OutputsLength(), size)
            problem = _operator_violation(name, inputs, outputs, tensors)
            if problem:
                return f"{where}op {op_index} ({name}){problem}"
    return None


def _is_utf8(text: bytes) -> bool:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _tensor_violation(tensor: TensorInfo, buffer_bytes: int | None) -> str | None:
    if any(dimension < 0 for dimension in tensor.shape):
        return f"negative dimension in shape {tensor.shape}"
    elements = 1
    for dimension in tensor.shape:
        elements *= dimension
    if elements > _MAX_ELEMENTS:
        return f"shape {tensor.shape} has more than 2^31 elements"
    item_bytes = _DTYPE_BYTES.get(tensor.dtype)
    if buffer_bytes is not None and item_bytes and buffer_bytes != elements * item_bytes:
        return (f"its data has {buffer_bytes} bytes but shape {tensor.shape} of {tensor.dtype} needs "
                f"{elements * item_bytes}")
    if not tensor.scales:
        return None
    bad_scales = [scale for scale in tensor.scales if not (math.isfinite(scale) and scale > 0)]
    if bad_scales:
        return f"quantization scale {bad_scales[0]!r} is not finite and > 0"
    if tensor.zero_points and len(tensor.zero_points) != len(tensor.scales):
        return f"{len(tensor.scales)} scales but {len(tensor.zero_points)} zero points"
    if tensor.per_channel:
        axis = tensor.quantized_dimension
        if not 0 <= axis < len(tensor.shape) or tensor.shape[axis] != len(tensor.scales):
            return (f"{len(tensor.scales)} per-channel scales along axis {axis}, which does not fit "
                    f"shape {tensor.shape}")
    if tensor.dtype in ("int8", "uint8", "int16") and tensor.zero_points:
        low, high = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}[tensor.dtype]
        outside = [zero for zero in tensor.zero_points if not low <= zero <= high]
        if outside:
            return f"zero point {outside[0]} is outside the {tensor.dtype} range"
    return None


def _operator_violation(name: str, inputs: list[int], outputs: list[int], tensors: list[TensorInfo]) -> str | None:
    count = len(tensors)
    for kind, indices in (("input", inputs), ("output", outputs)):
        for position, index in enumerate(indices):
            if index != -1 and not 0 <= index < count:
                return f": {kind} {position} refers to tensor {index}, but the graph has {count} tensors"
    expected = _OP_INPUTS.get(name)
    if expected:
        fewest, most = expected
        if not fewest <= len(inputs) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            return f" has {len(inputs)} inputs; it takes {wanted}"
        if any(index < 0 for index in inputs[:fewest]):
            return f": a required input is missing (-1) among {inputs}"
        if len(outputs) != 1 or outputs[0] < 0:
            return f" has outputs {outputs}; it has exactly one"
    axis = _WEIGHT_CHANNEL_AXIS.get(name)
    if axis is None or len(inputs) < 2:
        return None
    weight_index = inputs[1]
    weights = tensors[weight_index]
    if weights.dtype in ("int8", "int16") and weights.quantized:
        nonzero = [zero for zero in weights.zero_points if zero != 0]
        if nonzero:
            return (f", tensor {weight_index} '{weights.name}' (weights): zero point {nonzero[0]}, but int8 "
                    "weights are symmetric (zero point 0) in TFLite's quantization scheme")
        if weights.per_channel and weights.quantized_dimension != axis:
            return (f", tensor {weight_index} '{weights.name}' (weights): quantized along axis "
                    f"{weights.quantized_dimension}, but {name} weights are per channel along axis {axis}")
    return None


def format_info(info: TFLiteModelInfo, verbose: bool = False) -> str:
    """Readable summary; ``verbose`` adds every tensor's quantization parameters."""
    lines = [f"{info.path}: {info.size_bytes:,} bytes", ""]
    io_rows = [
        (kind, tensor.name, _shape_text(tensor.shape), tensor.dtype, _scale_text(tensor), _zero_point_text(tensor))
        for kind, tensors in (("input", info.inputs), ("output", info.outputs))
        for tensor in tensors
    ]
    lines += _table(("", "name", "shape", "dtype", "scale", "zero point"), io_rows)
    lines.append("")
    lines.append(f"operators ({info.operator_count}):")
    lines += [f"  {op.name:<24} {op.count}" for op in info.operators]
    lines.append(f"tensors: {info.tensor_count}")
    lines.append(f"parameter bytes: {info.parameter_bytes:,}")
    if info.fully_int8:
        lines.append("fully int8: yes")
    else:
        lines.append(f"fully int8: no ({'; '.join(info.not_int8_reasons())})")
    if info.violation:
        lines.append(f"valid: no ({info.violation}); edgeml hands it to no runtime")
    if info.tflm_problems or info.violation:
        lines.append(f"TFLite Micro: cannot run it: {'; '.join(info.tflm_problems or ('not a valid model',))}")
    else:
        lines.append(f"TFLite Micro: all {len(info.operators)} ops supported")
    if verbose:
        lines += ["", "tensors:"]
        rows = [
            (str(index), tensor.name, _shape_text(tensor.shape), tensor.dtype,
             "const" if tensor.is_constant else "",
             _values_text(tensor.scales, "{:.6g}"), _values_text(tensor.zero_points, "{}"),
             str(tensor.quantized_dimension) if tensor.per_channel else "")
            for index, tensor in enumerate(info.tensors)
        ]
        lines += _table(("#", "name", "shape", "dtype", "", "scale(s)", "zero point(s)", "axis"), rows)
    return "\n".join(lines)


class _CorruptModel(Exception):
    """Internal: the flatbuffer parsed but its contents do not fit the file."""


def schema_available() -> bool:
    """Whether a flatbuffer schema to read .tflite files is installed (see ``_SCHEMA_MODULES``)."""
    try:
        _load_schema()
    except EdgeMLError:
        return False
    return True


def _load_schema() -> ModuleType:
    import importlib

    first_error: ImportError | None = None
    for module_name in _SCHEMA_MODULES:
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            first_error = first_error or exc
    # A missing package is the usual case; anything else (e.g. no flatbuffers module) is worth showing.
    missing_package = getattr(first_error, "name", None) == _SCHEMA_MODULES[0].split(".")[0]
    detail = "" if missing_package else f" (importing it failed: {first_error})"
    raise EdgeMLError(_one_line(
        f"reading .tflite files needs the TFLite flatbuffer schema: pip install ai-edge-litert{detail}"
    ))


def _model_tables(schema: ModuleType, data: bytes) -> tuple[Any, list[int], list[str], dict[int, str]]:
    """The root Model table, every buffer's size (checked against the file), every opcode's name and the
    tensor type names."""
    model = schema.Model.GetRootAs(data, 0)
    size = len(data)
    buffer_sizes = [_buffer_size(buffer, size) for buffer in _indices(model.Buffers, model.BuffersLength(), size)]
    op_names = _enum_names(schema.BuiltinOperator)
    opcode_names = [
        _opcode_name(opcode, op_names, schema.BuiltinOperator.CUSTOM)
        for opcode in _indices(model.OperatorCodes, model.OperatorCodesLength(), size)
    ]
    return model, buffer_sizes, opcode_names, _enum_names(schema.TensorType)


def _parse(schema: ModuleType, data: bytes, path: str) -> TFLiteModelInfo:
    model, buffer_sizes, opcode_names, dtype_names = _model_tables(schema, data)
    size = len(data)

    all_tensors: list[TensorInfo] = []
    op_counts: Counter[str] = Counter()
    float_ops: set[str] = set()
    float_conversion_ops: set[str] = set()
    tflm_limitations: dict[str, None] = {}  # ordered, each reason once
    constant_buffers: set[int] = set()
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    subgraph_count = _length(model.SubgraphsLength(), size)
    if subgraph_count == 0:
        raise _CorruptModel("no subgraphs")

    for subgraph_index in range(subgraph_count):
        subgraph = model.Subgraphs(subgraph_index)
        tensors = []
        for tensor_index in range(_length(subgraph.TensorsLength(), size)):
            tensor = subgraph.Tensors(tensor_index)
            buffer_index = tensor.Buffer()
            if buffer_index >= len(buffer_sizes):
                raise _CorruptModel(f"tensor {tensor_index} refers to missing buffer {buffer_index}")
            is_constant = buffer_index != 0 and buffer_sizes[buffer_index] > 0
            if is_constant:
                constant_buffers.add(buffer_index)
            tensors.append(_tensor_info(tensor, dtype_names, is_constant, size))
        all_tensors += tensors

        def tensor_at(index: int) -> TensorInfo:
            if not 0 <= index < len(tensors):
                raise _CorruptModel(f"reference to missing tensor {index}")
            return tensors[index]

        if subgraph_index == 0:
            inputs = tuple(tensor_at(subgraph.Inputs(i)) for i in range(_length(subgraph.InputsLength(), size)))
            outputs = tuple(tensor_at(subgraph.Outputs(i)) for i in range(_length(subgraph.OutputsLength(), size)))

        for op_index in range(_length(subgraph.OperatorsLength(), size)):
            operator = subgraph.Operators(op_index)
            opcode_index = operator.OpcodeIndex()
            if opcode_index >= len(opcode_names):
                raise _CorruptModel(f"operator {op_index} refers to missing opcode {opcode_index}")
            name = opcode_names[opcode_index]
            op_counts[name] += 1
            # -1 marks an omitted optional input (e.g. a bias).
            try:
                op_inputs = [tensor_at(i) for i in _indices(operator.Inputs, operator.InputsLength(), size) if i >= 0]
                op_outputs = [tensor_at(i) for i in _indices(operator.Outputs, operator.OutputsLength(), size)
                              if i >= 0]
            except _CorruptModel as exc:
                raise _CorruptModel(f"op {op_index} ({name}): {exc}") from None
            if name in _CONVERSION_OPS:
                if any(t.dtype in FLOAT_DTYPES for t in op_inputs + op_outputs):
                    float_conversion_ops.add(name)
            elif any(t.dtype in FLOAT_DTYPES and not t.is_constant for t in op_inputs + op_outputs):
                float_ops.add(name)
            limitation = _tflm_type_limitation(name, op_inputs)
            if limitation:
                tflm_limitations[limitation] = None

    unsupported = {name for name in op_counts if not _tflm_supports(name)}
    return TFLiteModelInfo(
        path=path,
        size_bytes=size,
        inputs=inputs,
        outputs=outputs,
        operators=tuple(OperatorCount(name, count) for name, count in sorted(op_counts.items())),
        tensor_count=len(all_tensors),
        parameter_bytes=sum(buffer_sizes[index] for index in constant_buffers),
        float_ops=tuple(sorted(float_ops)),
        tflm_unsupported_ops=tuple(sorted(unsupported)),
        float_conversion_ops=tuple(sorted(float_conversion_ops)),
        tensors=tuple(all_tensors),
        tflm_limitations=tuple(tflm_limitations),
    )


# Ops with weights, and which input holds them (TRANSPOSE_CONV's inputs are output shape, weights, input).
_WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}
# Activation/weight type pairs TFLite Micro's kernels take besides equal types (conv.cc at 90b983c2).
_TFLM_MIXED_TYPES = {("int16", "int8"), ("int8", "int4")}


def _tflm_type_limitation(name: str, op_inputs: list[TensorInfo]) -> str | None:
    """What TFLite Micro refuses although it has a kernel of that name, from its kernels' Prepare checks
    (tensorflow/tflite-micro at 90b983c2: kernels/dequantize_common.cc takes int8/int16 inputs only;
    conv, depthwise_conv, fully_connected and transpose_conv require the input's type to equal the
    weights' type: "Hybrid models are not supported on TFLite Micro.")."""
    if name == "DEQUANTIZE" and op_inputs and op_inputs[0].dtype == "float16":
        return ("DEQUANTIZE of float16 weights (a float16 model): TFLite Micro's DEQUANTIZE takes int8/int16 "
                "only, and it has no float16 kernels; export the int8 model instead")
    weight_index = _WEIGHT_INPUT.get(name)
    if weight_index is None or len(op_inputs) <= max(weight_index, 0):
        return None
    activation = op_inputs[2] if name == "TRANSPOSE_CONV" and len(op_inputs) > 2 else op_inputs[0]
    weights = op_inputs[weight_index]
    if activation.dtype != weights.dtype and (activation.dtype, weights.dtype) not in _TFLM_MIXED_TYPES:
        return (f"{name} with {activation.dtype} activations and {weights.dtype} weights (a dynamic-range/hybrid "
                "model): TFLite Micro has no hybrid kernels; export the full-integer int8 model instead")
    return None


def _tensor_info(tensor: Any, dtype_names: dict[int, str], is_constant: bool, size: int) -> TensorInfo:
    dtype_code = tensor.Type()
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension = 0
    quantization = tensor.Quantization()
    if quantization is not None:
        scales = tuple(float(s) for s in _indices(quantization.Scale, quantization.ScaleLength(), size))
        zero_points = tuple(int(z) for z in _indices(quantization.ZeroPoint, quantization.ZeroPointLength(), size))
        quantized_dimension = quantization.QuantizedDimension()
    per_channel = len(scales) > 1
    per_tensor = len(scales) == 1
    return TensorInfo(
        name=(tensor.Name() or b"").decode("utf-8", errors="replace"),
        shape=tuple(int(d) for d in _indices(tensor.Shape, tensor.ShapeLength(), size)),
        dtype=dtype_names.get(dtype_code, f"unknown({dtype_code})").lower(),
        scale=scales[0] if per_tensor else None,
        zero_point=(zero_points[0] if zero_points else 0) if per_tensor else None,
        per_channel=per_channel,
        scales=scales,
        zero_points=zero_points,
        quantized_dimension=quantized_dimension,
        is_constant=is_constant,
    )


def _buffer_size(buffer: Any, file_size: int) -> int:
    """Bytes of one buffer's data, checked to lie inside the file."""
    offset = buffer.Offset()
    if offset > 1:  # models over 2 GB keep data after the flatbuffer, addressed by offset/size
        data_size = buffer.Size()
        if offset + data_size > file_size:
            raise _CorruptModel(f"buffer data at {offset}+{data_size} lies beyond the end of the file")
        return data_size
    data_size = _length(buffer.DataLength(), file_size)
    if data_size:
        buffer.Data(data_size - 1)  # the last byte must be readable: raises struct.error past the end
    return data_size


def _opcode_name(opcode: Any, op_names: dict[int, str], custom_code: int) -> str:
    # Builtin codes above 127 live in builtin_code; older files only set deprecated_builtin_code.
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == custom_code:
        return f"CUSTOM:{(opcode.CustomCode() or b'').decode('utf-8', errors='replace')}"
    return op_names.get(code, f"UNKNOWN_BUILTIN_{code}")


def _tflm_supports(op_name: str) -> bool:
    if op_name.startswith("CUSTOM:"):
        return op_name.removeprefix("CUSTOM:") in TFLM_CUSTOM_OPS
    return op_name in TFLM_BUILTIN_OPS


def _indices(getter: Any, length: int, file_size: int) -> list[Any]:
    return [getter(i) for i in range(_length(length, file_size))]


def _length(length: int, file_size: int) -> int:
    """A vector length read from the file; a damaged file can claim billions of elements."""
    if not 0 <= length <= file_size:
        raise _CorruptModel(f"a vector claims {length} elements in a {file_size}-byte file")
    return length


def _enum_names(enum_class: type) -> dict[int, str]:
    return {
        value: name for name, value in vars(enum_class).items() if not name.startswith("_") and isinstance(value, int)
    }


def _as_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    return value


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)
    ]


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")" if len(shape) != 1 else f"({shape[0]},)"


def _scale_text(tensor: TensorInfo) -> str:
    if tensor.scale is not None:
        return f"{tensor.scale:.6g}"
    return f"per-channel ({len(tensor.scales)})" if tensor.per_channel else "-"


def _zero_point_text(tensor: TensorInfo) -> str:
    if tensor.zero_point is not None:
        return str(tensor.zero_point)
    return "per-channel" if tensor.per_channel else "-"


def _values_text(values: tuple[Any, ...], fmt: str, limit: int = 4) -> str:
    if not values:
        return "-"
    shown = ", ".join(fmt.format(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")
