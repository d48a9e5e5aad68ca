"""The whole graph of a ``.tflite`` file: tensors with their constant data, ops in execution order with
their wiring and decoded builtin options. TF-free (the flatbuffer schema of :mod:`edgeml.tflite_model`).

Only the main subgraph (0) is read: it is what an engine compiles. The reader validates what the
runtimes trust and a compiler would otherwise turn into out-of-bounds reads: tensor indices in range,
constant buffer size = shape x dtype size, scales finite and > 0, per-channel weight zero points 0
(TFLite's quantization spec), op input counts. A violation is one :class:`EdgeMLError` naming the op
and the tensor.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Mapping

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import _enum_names, _load_schema  # one schema import for every reader

_FILE_IDENTIFIER = b"TFL3"
_NUMPY_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
    "uint64": np.uint64, "bool": np.bool_,
}
# Builtin options whose integer values are enums: decoded to their names.
_ENUM_OPTIONS = {"padding": "Padding", "fused_activation_function": "ActivationFunctionType"}
# Fewest inputs each op needs (a missing optional input is index -1 and still counts as a slot).
_MIN_INPUTS = {
    "FULLY_CONNECTED": 2, "CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "ADD": 2, "MUL": 2, "SUB": 2, "PAD": 2,
    "MEAN": 2, "MAX_POOL_2D": 1, "AVERAGE_POOL_2D": 1, "SOFTMAX": 1, "RESHAPE": 1, "SQUEEZE": 1,
    "EXPAND_DIMS": 2, "LOGISTIC": 1, "TANH": 1, "RELU": 1, "RELU6": 1, "LEAKY_RELU": 1, "HARD_SWISH": 1,
    "QUANTIZE": 1, "DEQUANTIZE": 1, "CONCATENATION": 1,
}
# Ops whose input 1 is a weight tensor that TFLite requires symmetric (zero point 0) per channel.
_WEIGHT_OPS = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"})
_PARSE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
                 RecursionError, MemoryError, AttributeError)


@dataclass(frozen=True)
class Tensor:
    """One tensor of the main subgraph. ``scales``/``zero_points`` are empty when not quantized, one value
    per tensor or one per channel along ``quantized_dimension``. ``data`` is the constant's value
    (read-only numpy array of ``shape`` and ``dtype``), None for an activation."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    data: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        """The per-tensor scale (EdgeMLError when the tensor is not quantized per tensor)."""
        if len(self.scales) != 1:
            raise EdgeMLError(f"tensor {self.index} '{self.name}' has no single quantization scale")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        if len(self.scales) != 1:
            raise EdgeMLError(f"tensor {self.index} '{self.name}' has no single zero point")
        return self.zero_points[0] if self.zero_points else 0

    @property
    def element_count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def byte_size(self) -> int:
        return self.element_count * np.dtype(_NUMPY_DTYPES.get(self.dtype, np.uint8)).itemsize

    def describe(self) -> str:
        return f"tensor {self.index} '{self.name}'"


@dataclass(frozen=True)
class Op:
    """One operator: ``inputs``/``outputs`` are tensor indices (-1 = an omitted optional input);
    ``options`` its builtin options with snake_case keys (``padding`` 'SAME'/'VALID',
    ``fused_activation_function`` 'NONE'/'RELU'/'RELU6'/..., ``stride_w``, ``dilation_h_factor``,
    ``depth_multiplier``, ``keep_num_dims``, ``beta``, ``axis``, ``new_shape`` ...)."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    def describe(self) -> str:
        return f"op {self.index} {self.name}"


@dataclass(frozen=True)
class Graph:
    """The main subgraph of a .tflite model; ``ops`` are in execution order."""

    path: str
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Op) -> tuple[Tensor | None, ...]:
        """The op's input tensors, None for an omitted optional input."""
        return tuple(self.tensors[i] if i >= 0 else None for i in op.inputs)


def read_graph(path: str | Path) -> Graph:
    """Read and validate the main subgraph of a .tflite file; any problem is one :class:`EdgeMLError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EdgeMLError(f"{path} does not exist") from None
    except OSError as exc:
        raise EdgeMLError(f"cannot read {path}: {exc.strerror or exc}") from None
    return read_graph_bytes(data, str(path))


def read_graph_bytes(data: bytes, path: str = "<bytes>") -> Graph:
    """Like :func:`read_graph` for a model held in memory; ``path`` only names it in errors."""
    data = bytes(data)
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise EdgeMLError(f"{path} is not a TFLite model (no TFL3 identifier)")
    schema = _load_schema()
    try:
        graph = _parse(schema, data, path)
    except _Invalid as exc:
        raise EdgeMLError(f"{path}: {exc}") from None
    except _PARSE_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise EdgeMLError(f"{path} is truncated or corrupt ({reason})") from None
    return graph


class _Invalid(Exception):
    """Internal: the file parsed but violates what runtimes trust."""


def _parse(schema: ModuleType, data: bytes, path: str) -> Graph:
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise _Invalid("no subgraphs")
    dtype_names = {code: name.lower() for code, name in _enum_names(schema.TensorType).items()}
    op_names = _enum_names(schema.BuiltinOperator)
    options_names = _enum_names(schema.BuiltinOptions)
    enum_names = {key: _enum_names(getattr(schema, enum)) for key, enum in _ENUM_OPTIONS.items()}
    opcodes = []
    for i in range(_length(model.OperatorCodesLength(), len(data))):
        opcode = model.OperatorCodes(i)
        code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            opcodes.append(f"CUSTOM:{(opcode.CustomCode() or b'').decode('utf-8', errors='replace')}")
        else:
            opcodes.append(op_names.get(code, f"UNKNOWN_BUILTIN_{code}"))

    subgraph = model.Subgraphs(0)
    tensors = tuple(
        _tensor(schema, model, subgraph.Tensors(i), i, dtype_names, data)
        for i in range(_length(subgraph.TensorsLength(), len(data)))
    )

    def checked(index: int, where: str) -> int:
        if not -1 <= index < len(tensors):
            raise _Invalid(f"{where} refers to tensor {index}, but the graph has {len(tensors)}")
        return index

    ops = []
    for op_index in range(_length(subgraph.OperatorsLength(), len(data))):
        operator = subgraph.Operators(op_index)
        if operator.OpcodeIndex() >= len(opcodes):
            raise _Invalid(f"op {op_index} refers to missing opcode {operator.OpcodeIndex()}")
        name = opcodes[operator.OpcodeIndex()]
        where = f"op {op_index} {name}"
        inputs = tuple(checked(int(operator.Inputs(i)), where) for i in range(operator.InputsLength()))
        outputs = tuple(checked(int(operator.Outputs(i)), where) for i in range(operator.OutputsLength()))
        options = _options(schema, operator, options_names, enum_names)
        op = Op(op_index, name, inputs, outputs, MappingProxyType(options))
        _validate_op(op, tensors)
        ops.append(op)
    graph_inputs = tuple(checked(int(subgraph.Inputs(i)), "the graph's inputs") for i in range(subgraph.InputsLength()))
    graph_outputs = tuple(
        checked(int(subgraph.Outputs(i)), "the graph's outputs") for i in range(subgraph.OutputsLength()))
    return Graph(path, tensors, tuple(ops), graph_inputs, graph_outputs)


def _tensor(schema: ModuleType, model: Any, tensor: Any, index: int, dtype_names: dict[int, str],
            data: bytes) -> Tensor:
    name = (tensor.Name() or b"").decode("utf-8", errors="replace")
    where = f"tensor {index} '{name}'"
    dtype = dtype_names.get(tensor.Type(), f"unknown({tensor.Type()})")
    shape = tuple(int(d) for d in (tensor.ShapeAsNumpy() if tensor.ShapeLength() else ()))
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis = 0
    quantization = tensor.Quantization()
    if quantization is not None and quantization.ScaleLength():
        scales = tuple(float(s) for s in quantization.ScaleAsNumpy())
        zero_points = tuple(int(z) for z in quantization.ZeroPointAsNumpy()) if quantization.ZeroPointLength() else ()
        axis = quantization.QuantizedDimension()
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise _Invalid(f"{where} has a quantization scale that is not finite and > 0: {scales[:4]}")
        if zero_points and len(zero_points) != len(scales):
            raise _Invalid(f"{where} has {len(scales)} scales but {len(zero_points)} zero points")
        if len(scales) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scales)):
            raise _Invalid(f"{where} has {len(scales)} per-channel scales on axis {axis} of shape {shape}")
    buffer_index = tensor.Buffer()
    if buffer_index >= model.BuffersLength():
        raise _Invalid(f"{where} refers to missing buffer {buffer_index}")
    value = None
    raw = _buffer_bytes(model.Buffers(buffer_index), data) if buffer_index else b""
    if raw:
        if dtype not in _NUMPY_DTYPES:
            raise _Invalid(f"{where} holds constant data of unsupported type {dtype}")
        if any(d < 0 for d in shape):
            raise _Invalid(f"{where} is constant but has a dynamic shape {shape}")
        numpy_dtype = np.dtype(_NUMPY_DTYPES[dtype]).newbyteorder("<")
        expected = int(np.prod(shape, dtype=np.int64)) * numpy_dtype.itemsize
        if len(raw) != expected:
            raise _Invalid(f"{where}: buffer holds {len(raw)} bytes, shape {shape} of {dtype} needs {expected}")
        value = np.frombuffer(raw, dtype=numpy_dtype).astype(numpy_dtype.newbyteorder("="))
        value = value.reshape(shape)
        value.setflags(write=False)
    return Tensor(index, name, shape, dtype, scales, zero_points, axis, value)


def _buffer_bytes(buffer: Any, data: bytes) -> bytes:
    offset = buffer.Offset()
    if offset > 1:  # models over 2 GB keep data after the flatbuffer, addressed by offset/size
        size = buffer.Size()
        if offset + size > len(data):
            raise _Invalid(f"buffer data at {offset}+{size} lies beyond the end of the file")
        return data[offset:offset + size]
    length = _length(buffer.DataLength(), len(data))
    return buffer.DataAsNumpy().tobytes() if length else b""


def _options(schema: ModuleType, operator: Any, options_names: dict[int, str],
             enum_names: dict[str, dict[int, str]]) -> dict[str, Any]:
    """An op's builtin options as a dict, read through the schema's generated accessors."""
    table = operator.BuiltinOptions()
    class_name = options_names.get(operator.BuiltinOptionsType(), "NONE")
    if table is None or class_name == "NONE" or not hasattr(schema, class_name):
        return {}
    options = getattr(schema, class_name)()
    options.Init(table.Bytes, table.Pos)
    values: dict[str, Any] = {}
    for accessor in dir(type(options)):
        if (accessor.startswith("_") or accessor in ("Init", "GetRootAs") or accessor.startswith("GetRootAs")
                or accessor.endswith(("AsNumpy", "IsNone", "Length", "BufferHasIdentifier"))):
            continue
        key = _snake_case(accessor)
        if hasattr(options, accessor + "Length"):
            values[key] = tuple(getattr(options, accessor)(i) for i in range(getattr(options, accessor + "Length")()))
            continue
        value = getattr(options, accessor)()
        if key in enum_names:
            value = enum_names[key].get(value, str(value))
        values[key] = value
    return values


def _snake_case(name: str) -> str:
    """The schema's field name from its accessor's.

    >>> _snake_case("DilationHFactor"), _snake_case("StrideW"), _snake_case("FusedActivationFunction")
    ('dilation_h_factor', 'stride_w', 'fused_activation_function')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _validate_op(op: Op, tensors: tuple[Tensor, ...]) -> None:
    needed = _MIN_INPUTS.get(op.name, 0)
    if len(op.inputs) < needed:
        raise _Invalid(f"{op.describe()} has {len(op.inputs)} inputs, it needs at least {needed}")
    for position, index in enumerate(op.inputs):
        if index < 0 and position < 1:
            raise _Invalid(f"{op.describe()} has no tensor for its input {position}")
    if op.name in _WEIGHT_OPS:
        weights = tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
        if weights is not None and weights.per_channel and any(weights.zero_points):
            raise _Invalid(f"{op.describe()}: weights {weights.describe()} are quantized per channel with "
                           "non-zero zero points (TFLite requires 0)")


def _length(length: int, file_size: int) -> int:
    if not 0 <= length <= file_size:
        raise _Invalid(f"a vector claims {length} elements in a {file_size}-byte file")
    return length
