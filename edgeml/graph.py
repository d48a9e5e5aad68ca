"""The whole graph of a ``.tflite`` file: tensors with their constant data, ops in execution order with
their wiring and decoded builtin options. TF-free: the file is read with the flatbuffer schema that
ai-edge-litert ships (``schema_py_generated``, imported lazily), so it works on a Raspberry Pi.

This is edgeml's one reader of ``.tflite`` files (:mod:`edgeml.tflite_model` and ``edgeml inspect`` are
built on it) and :func:`first_violation` its one validator of what the runtimes trust and a compiler would
otherwise turn into out-of-bounds reads: tensor indices in range, constant buffer size = shape x dtype
size, scales finite and > 0, one zero point per scale inside the dtype's range, per-channel parameters on
the channel axis, weight zero points 0 (TFLite's quantization spec), op input and output counts. A
violation is one :class:`EdgeMLError` naming the op and the tensor.

Flatbuffer accessors trust the file: on garbage they raise ``struct.error``, ``IndexError`` and friends,
or read nonsense. Every such failure becomes one :class:`EdgeMLError`, and vector lengths and buffer
sizes are checked against the file size, because a truncated file can otherwise parse "successfully".
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

_FILE_IDENTIFIER = b"TFL3"
# Where a flatbuffer schema for .tflite files can be imported from, in order of preference.
_SCHEMA_MODULES = (
    "ai_edge_litert.schema_py_generated",
    "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    "tflite_runtime.schema_py_generated",
)
_NUMPY_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
    "uint64": np.uint64, "bool": np.bool_, "complex64": np.complex64, "complex128": np.complex128,
}
# Bytes per element of the tensor types whose constant buffers have a fixed size (int4, strings and
# resources are left out).
_DTYPE_BYTES = {**{name: np.dtype(dtype).itemsize for name, dtype in _NUMPY_DTYPES.items()}, "bfloat16": 2}
_ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
_MAX_ELEMENTS = 1 << 31
# Builtin options whose integer values are enums: decoded to their names.
_ENUM_OPTIONS = {"padding": "Padding", "fused_activation_function": "ActivationFunctionType"}
# (fewest, most) inputs of the ops edgeml's models use (None: no upper bound), and -1 (omitted) allowed
# only from index ``fewest`` on (the optional bias). From tensorflow/lite/core/kernels' NumInputs checks.
_OP_INPUTS: dict[str, tuple[int, int | None]] = {
    "CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3), "TRANSPOSE_CONV": (3, 4),
    "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "SOFTMAX": (1, 1), "LOGISTIC": (1, 1), "TANH": (1, 1),
    "RELU": (1, 1), "RELU6": (1, 1), "LEAKY_RELU": (1, 1), "HARD_SWISH": (1, 1), "QUANTIZE": (1, 1),
    "DEQUANTIZE": (1, 1), "RESHAPE": (1, 2), "SQUEEZE": (1, 1), "EXPAND_DIMS": (2, 2), "ADD": (2, 2),
    "SUB": (2, 2), "MUL": (2, 2), "MEAN": (2, 2), "PAD": (2, 2), "PADV2": (3, 3), "TRANSPOSE": (2, 2),
    "CONCATENATION": (1, None),
}
# The int8 scheme's weights (input 1) are symmetric (zero point 0), per channel along this axis when per
# channel: https://ai.google.dev/edge/litert/models/quantization_spec (Conv2D, DepthwiseConv2D,
# FullyConnected).
_WEIGHT_CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 0}
# What flatbuffers' accessors raise when offsets in a damaged file point outside it or at garbage.
_PARSE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
                 RecursionError, MemoryError, AttributeError)


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph. ``scales``/``zero_points`` are empty when not quantized, one value
    per tensor or one per channel along ``quantized_dimension``. ``data`` is the constant's value
    (read-only numpy array of ``shape`` and ``dtype``), None for an activation; ``buffer_bytes`` is the
    size of its constant buffer (0 for an activation), ``buffer`` that buffer's index in the file."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    data: np.ndarray | None = field(default=None, compare=False, repr=False)
    buffer: int = 0
    buffer_bytes: int = 0
    name_is_utf8: bool = field(default=True, repr=False)  # the runtimes decode names strictly

    @property
    def is_constant(self) -> bool:
        return self.data is not None or self.buffer_bytes > 0

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
    """One subgraph of a .tflite model (the main one, 0, unless read from :class:`ModelFile`); ``ops``
    are in execution order."""

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


@dataclass(frozen=True)
class ModelFile:
    """Every subgraph of a .tflite file (0 is the main one; IF/WHILE bodies follow), read without
    refusing what the runtimes would: ``violation`` is :func:`first_violation`'s finding, None when valid."""

    path: str
    size_bytes: int
    subgraphs: tuple[Graph, ...]
    violation: str | None

    @property
    def main(self) -> Graph:
        return self.subgraphs[0]

    @property
    def parameter_bytes(self) -> int:
        """Bytes of constant data, each buffer once however many tensors share it."""
        sizes = {t.buffer: t.buffer_bytes for graph in self.subgraphs for t in graph.tensors if t.buffer_bytes}
        return sum(sizes.values())


def read_graph(path: str | Path) -> Graph:
    """Read and validate the main subgraph of a .tflite file; any problem is one :class:`EdgeMLError`."""
    path = Path(path)
    return read_graph_bytes(_read_bytes(path), str(path))


def read_graph_bytes(data: bytes, path: str = "<bytes>") -> Graph:
    """Like :func:`read_graph` for a model held in memory; ``path`` only names it in errors."""
    model = read_model_bytes(data, path)
    if model.violation:
        raise EdgeMLError(f"{path} is not a valid TFLite model: {model.violation}")
    undecoded = next((t for t in model.main.tensors if t.buffer_bytes and t.data is None), None)
    if undecoded is not None:
        raise EdgeMLError(f"{path}: {undecoded.describe()} holds constant data of unsupported type {undecoded.dtype}")
    return model.main


def read_model(path: str | Path) -> ModelFile:
    """Every subgraph of a .tflite file, with its first violation (if any) recorded, not raised; a file
    that cannot be read or parsed at all is one :class:`EdgeMLError`."""
    path = Path(path)
    return read_model_bytes(_read_bytes(path), str(path))


def read_model_bytes(data: bytes, path: str = "<bytes>") -> ModelFile:
    """Like :func:`read_model` for a model held in memory; ``path`` only names it in the result and errors."""
    data = bytes(data)
    if not data:
        raise EdgeMLError(f"{path} is empty, not a TFLite model")
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise EdgeMLError(f"{path} is not a TFLite model (no TFL3 identifier)")
    schema = load_schema()
    try:
        subgraphs = _parse(schema, data, path)
        violation = first_violation(subgraphs)
    except _Corrupt as exc:
        reason = str(exc)
    except (struct.error, IndexError):
        reason = f"an offset points past the end of its {len(data):,} bytes"
    except _PARSE_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        return ModelFile(path, len(data), subgraphs, _one_line(violation) if violation else None)
    raise EdgeMLError(_one_line(f"{path} is truncated or corrupt ({reason})"))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EdgeMLError(f"{path} does not exist") from None
    except OSError as exc:
        raise EdgeMLError(_one_line(f"cannot read {path}: {exc.strerror or exc}")) from None


def schema_available() -> bool:
    """Whether a flatbuffer schema to read .tflite files is installed (see ``_SCHEMA_MODULES``)."""
    try:
        load_schema()
    except EdgeMLError:
        return False
    return True


def load_schema() -> ModuleType:
    """The first importable TFLite flatbuffer schema module; EdgeMLError saying what to install otherwise."""
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


class _Corrupt(Exception):
    """Internal: the flatbuffer's structure does not fit the file (nothing left to name an op by)."""


def _parse(schema: ModuleType, data: bytes, path: str) -> tuple[Graph, ...]:
    model = schema.Model.GetRootAs(data, 0)
    size = len(data)
    subgraph_count = _length(model.SubgraphsLength(), size)
    if subgraph_count < 1:
        raise _Corrupt("no subgraphs")
    # Every buffer, used or not, is checked to lie inside the file, as LiteRT's flatbuffer verifier does.
    buffers = [_buffer_bytes(model.Buffers(i), data) for i in range(_length(model.BuffersLength(), size))]
    dtype_names = {code: name.lower() for code, name in enum_names(schema.TensorType).items()}
    op_names = enum_names(schema.BuiltinOperator)
    options_names = enum_names(schema.BuiltinOptions)
    option_enums = {key: enum_names(getattr(schema, enum)) for key, enum in _ENUM_OPTIONS.items()}
    opcodes = []
    for i in range(_length(model.OperatorCodesLength(), size)):
        opcode = model.OperatorCodes(i)
        # Builtin codes above 127 live in builtin_code; older files only set deprecated_builtin_code.
        code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            opcodes.append(f"CUSTOM:{(opcode.CustomCode() or b'').decode('utf-8', errors='replace')}")
        else:
            opcodes.append(op_names.get(code, f"UNKNOWN_BUILTIN_{code}"))

    graphs = []
    for subgraph_index in range(subgraph_count):
        subgraph = model.Subgraphs(subgraph_index)
        tensors = []
        for tensor_index in range(_length(subgraph.TensorsLength(), size)):
            tensor = subgraph.Tensors(tensor_index)
            if tensor.Buffer() >= len(buffers):
                raise _Corrupt(f"tensor {tensor_index} refers to missing buffer {tensor.Buffer()}")
            raw = buffers[tensor.Buffer()] if tensor.Buffer() else b""
            tensors.append(_tensor(tensor, tensor_index, dtype_names, raw, size))
        ops = []
        for op_index in range(_length(subgraph.OperatorsLength(), size)):
            operator = subgraph.Operators(op_index)
            if operator.OpcodeIndex() >= len(opcodes):
                raise _Corrupt(f"op {op_index} refers to missing opcode {operator.OpcodeIndex()}")
            ops.append(Op(
                op_index, opcodes[operator.OpcodeIndex()],
                _indices(operator.Inputs, operator.InputsLength(), size),
                _indices(operator.Outputs, operator.OutputsLength(), size),
                MappingProxyType(_options(schema, operator, options_names, option_enums)),
            ))
        graphs.append(Graph(
            path, tuple(tensors), tuple(ops),
            _indices(subgraph.Inputs, subgraph.InputsLength(), size),
            _indices(subgraph.Outputs, subgraph.OutputsLength(), size),
        ))
    return tuple(graphs)


def _tensor(tensor: Any, index: int, dtype_names: dict[int, str], raw: bytes, size: int) -> Tensor:
    raw_name = tensor.Name() or b""
    dtype = dtype_names.get(tensor.Type(), f"unknown({tensor.Type()})")
    shape = _indices(tensor.Shape, tensor.ShapeLength(), size)
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis = 0
    quantization = tensor.Quantization()
    if quantization is not None:
        scales = tuple(float(quantization.Scale(i)) for i in range(_length(quantization.ScaleLength(), size)))
        zero_points = _indices(quantization.ZeroPoint, quantization.ZeroPointLength(), size)
        axis = quantization.QuantizedDimension()
    value = None
    item_bytes = _DTYPE_BYTES.get(dtype)
    if (raw and dtype in _NUMPY_DTYPES and all(d >= 0 for d in shape)
            and len(raw) == math.prod(shape) * item_bytes):
        numpy_dtype = np.dtype(_NUMPY_DTYPES[dtype]).newbyteorder("<")
        value = np.frombuffer(raw, dtype=numpy_dtype).astype(numpy_dtype.newbyteorder("=")).reshape(shape)
        value.setflags(write=False)
    return Tensor(index, raw_name.decode("utf-8", errors="replace"), shape, dtype, scales, zero_points, axis,
                  value, tensor.Buffer() if raw else 0, len(raw), _is_utf8(raw_name))


def _buffer_bytes(buffer: Any, data: bytes) -> bytes:
    offset = buffer.Offset()
    if offset > 1:  # models over 2 GB keep data after the flatbuffer, addressed by offset/size
        size = buffer.Size()
        if offset + size > len(data):
            raise _Corrupt(f"buffer data at {offset}+{size} lies beyond the end of the file")
        return data[offset:offset + size]
    length = _length(buffer.DataLength(), len(data))
    return buffer.DataAsNumpy().tobytes() if length else b""


def _options(schema: ModuleType, operator: Any, options_names: dict[int, str],
             option_enums: dict[str, dict[int, str]]) -> dict[str, Any]:
    """An op's builtin options as a dict, read through the schema's generated accessors."""
    table = operator.BuiltinOptions()
    # NONE and a type this schema does not know have no class: no options are read.
    options_class = getattr(schema, options_names.get(operator.BuiltinOptionsType(), ""), None)
    if table is None or options_class is None:
        return {}
    options = options_class()
    options.Init(table.Bytes, table.Pos)
    values: dict[str, Any] = {}
    for accessor in dir(type(options)):
        if (accessor.startswith("_") or accessor == "Init" or accessor.startswith("GetRootAs")
                or accessor.endswith(("AsNumpy", "IsNone", "Length", "BufferHasIdentifier"))):
            continue
        key = _snake_case(accessor)
        if hasattr(options, accessor + "Length"):
            values[key] = tuple(getattr(options, accessor)(i) for i in range(getattr(options, accessor + "Length")()))
            continue
        value = getattr(options, accessor)()
        if key in option_enums:
            value = option_enums[key].get(value, str(value))
        values[key] = value
    return values


def _snake_case(name: str) -> str:
    """The schema's field name from its accessor's.

    >>> _snake_case("DilationHFactor"), _snake_case("StrideW"), _snake_case("FusedActivationFunction")
    ('dilation_h_factor', 'stride_w', 'fused_activation_function')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# ------------------------------------------------------------------------------------------ validation


def first_violation(subgraphs: tuple[Graph, ...]) -> str | None:
    """What LiteRT and TFLite Micro trust but the file breaks, first found, naming the op and the tensor
    (``subgraph N, `` first outside the main subgraph); None when the model is valid.

    LiteRT refuses most of these at prepare with a multi-line log, TFLite Micro often computes garbage
    or reads out of bounds: e.g. int8 weights with zero points other than 0 (TFLite's int8 scheme).
    """
    for subgraph_index, graph in enumerate(subgraphs):
        where = f"subgraph {subgraph_index}, " if subgraph_index else ""
        count = len(graph.tensors)
        for tensor in graph.tensors:
            problem = _tensor_violation(tensor)
            if problem:
                return f"{where}{tensor.describe()}: {problem}"
        for kind, indices in (("input", graph.inputs), ("output", graph.outputs)):
            outside = [index for index in indices if not 0 <= index < count]
            if outside:
                return f"{where}a graph {kind} refers to tensor {outside[0]}, but the graph has {count} tensors"
        for op in graph.ops:
            problem = _op_violation(op, graph.tensors)
            if problem:
                return f"{where}{op.describe()}{problem}"
    return None


def _tensor_violation(tensor: Tensor) -> str | None:
    if not tensor.name_is_utf8:
        return "its name is not UTF-8 text"
    if any(dimension < 0 for dimension in tensor.shape):
        return f"negative dimension in shape {tensor.shape}"
    elements = math.prod(tensor.shape)
    if elements > _MAX_ELEMENTS:
        return f"shape {tensor.shape} has more than 2^31 elements"
    item_bytes = _DTYPE_BYTES.get(tensor.dtype)
    if tensor.buffer_bytes and item_bytes and tensor.buffer_bytes != elements * item_bytes:
        return (f"buffer holds {tensor.buffer_bytes} bytes, shape {tensor.shape} of {tensor.dtype} needs "
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
    if tensor.dtype in _ZERO_POINT_RANGE and tensor.zero_points:
        low, high = _ZERO_POINT_RANGE[tensor.dtype]
        outside = [zero for zero in tensor.zero_points if not low <= zero <= high]
        if outside:
            return f"zero point {outside[0]} is outside the {tensor.dtype} range"
    return None


def _op_violation(op: Op, tensors: tuple[Tensor, ...]) -> str | None:
    """The op's problem as the rest of a sentence that starts with the op's description."""
    count = len(tensors)
    for kind, indices in (("input", op.inputs), ("output", op.outputs)):
        for position, index in enumerate(indices):
            if index != -1 and not 0 <= index < count:
                return f" refers to tensor {index} as {kind} {position}, but the graph has {count} tensors"
    expected = _OP_INPUTS.get(op.name)
    if expected:
        fewest, most = expected
        if len(op.inputs) < fewest or (most is not None and len(op.inputs) > most):
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}" if most else f"at least {fewest}"
            return f" has {len(op.inputs)} inputs; it takes {wanted}"
        if any(index < 0 for index in op.inputs[:fewest]):
            return f": a required input is missing (-1) among {op.inputs}"
        if len(op.outputs) != 1 or op.outputs[0] < 0:
            return f" has outputs {op.outputs}; it has exactly one"
    axis = _WEIGHT_CHANNEL_AXIS.get(op.name)
    if axis is None:  # every weight op takes at least 2 inputs, checked above: input 1 is a tensor
        return None
    weights = tensors[op.inputs[1]]
    if weights.scales and (weights.dtype in ("int8", "int16") or weights.per_channel):
        nonzero = [zero for zero in weights.zero_points if zero != 0]
        if nonzero:
            return (f": weights {weights.describe()} have zero point {nonzero[0]}, but {weights.dtype} weights "
                    "are symmetric (zero point 0) in TFLite's quantization scheme")
        if weights.per_channel and weights.quantized_dimension != axis:
            return (f": weights {weights.describe()} are quantized along axis {weights.quantized_dimension}, "
                    f"but {op.name} weights are per channel along axis {axis}")
    return None


# ------------------------------------------------------------------------------------------- helpers


def enum_names(enum_class: type) -> dict[int, str]:
    """A schema enum class's ``{value: name}``."""
    return {
        value: name for name, value in vars(enum_class).items() if not name.startswith("_") and isinstance(value, int)
    }


def _is_utf8(text: bytes) -> bool:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _indices(getter: Any, length: int, file_size: int) -> tuple[int, ...]:
    return tuple(int(getter(i)) for i in range(_length(length, file_size)))


def _length(length: int, file_size: int) -> int:
    """A vector length read from the file; a damaged file can claim billions of elements."""
    if not 0 <= length <= file_size:
        raise _Corrupt(f"a vector claims {length} elements in a {file_size}-byte file")
    return length


def _one_line(message: str) -> str:
    return " ".join(message.split())
