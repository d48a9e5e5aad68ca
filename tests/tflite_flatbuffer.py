"""Hand-built .tflite files, TF-free: the flatbuffer written with the TFLite schema's object API (the same
generated module edgeml reads with), so a test states every tensor, buffer and op it depends on, and a
fast (TensorFlow-free) test can feed the graph reader, LiteRT and ``edgeml predict`` a model whose outputs
are worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

try:  # the schema LiteRT ships; tflite-micro ships the same generated module
    import ai_edge_litert.schema_py_generated as _schema
except ImportError:  # pragma: no cover - only on machines without ai-edge-litert
    import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as _schema

FILE_IDENTIFIER = b"TFL3"
_TENSOR_TYPES = {"float32": "FLOAT32", "int8": "INT8", "int32": "INT32", "uint8": "UINT8", "int16": "INT16",
                 "float16": "FLOAT16", "int64": "INT64", "bool": "BOOL", "string": "STRING"}


@dataclass
class TensorSpec:
    """One tensor: ``data`` (a numpy array, stored little-endian) makes it a constant; ``raw`` stores these
    exact bytes instead (to write a buffer that disagrees with the shape). A ``bytes`` name is written as
    is (e.g. not UTF-8), a None name not at all."""

    name: str | bytes | None
    shape: tuple[int, ...]
    dtype: str = "float32"
    data: np.ndarray | None = None
    raw: bytes | None = None
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    buffer: int | None = None  # force a buffer index (e.g. a missing one)


@dataclass
class OpSpec:
    """One operator: its builtin name (or ``CUSTOM:<code>``), wiring and builtin options (an ``*OptionsT``)."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Any = None
    options_type: str | None = None  # e.g. "FullyConnectedOptions"
    deprecated_code: int | None = None  # this code, in the deprecated int8 field only when it fits (<= 127)
    opcode_index: int | None = None  # force an opcode index (e.g. a missing one)


@dataclass
class GraphSpec:
    tensors: list[TensorSpec]
    ops: list[OpSpec] = field(default_factory=list)
    inputs: tuple[int, ...] = (0,)
    outputs: tuple[int, ...] = ()
    no_subgraph: bool = False


def build_tflite(graph: GraphSpec) -> bytes:
    """The .tflite bytes of ``graph`` (schema version 3, buffer 0 empty as the converter writes it)."""
    schema = _schema
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    tensors = []
    for spec in graph.tensors:
        tensor = schema.TensorT()
        tensor.name = spec.name
        tensor.shape = list(spec.shape)
        tensor.type = getattr(schema.TensorType, _TENSOR_TYPES.get(spec.dtype, spec.dtype.upper()))
        tensor.buffer = 0
        content = spec.raw if spec.raw is not None else (
            None if spec.data is None else np.asarray(spec.data).astype(np.dtype(spec.data.dtype).newbyteorder("<")).tobytes())
        if content is not None:
            buffer = schema.BufferT()
            buffer.data = list(content)
            model.buffers.append(buffer)
            tensor.buffer = len(model.buffers) - 1
        if spec.buffer is not None:
            tensor.buffer = spec.buffer
        if spec.scales or spec.zero_points:
            quantization = schema.QuantizationParametersT()
            quantization.scale = list(spec.scales)
            quantization.zeroPoint = list(spec.zero_points)
            quantization.quantizedDimension = spec.quantized_dimension
            tensor.quantization = quantization
        tensors.append(tensor)
    codes: list[tuple[str, int | None]] = []
    operators = []
    for spec in graph.ops:
        key = (spec.name, spec.deprecated_code)
        if key not in codes:
            codes.append(key)
        operator = schema.OperatorT()
        operator.opcodeIndex = codes.index(key) if spec.opcode_index is None else spec.opcode_index
        operator.inputs, operator.outputs = list(spec.inputs), list(spec.outputs)
        if spec.options is not None:
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, spec.options_type)
            operator.builtinOptions = spec.options
        operators.append(operator)
    model.operatorCodes = []
    for name, deprecated in codes:
        opcode = schema.OperatorCodeT()
        opcode.version = 1
        if name.startswith("CUSTOM:"):
            opcode.builtinCode = opcode.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            opcode.customCode = name[len("CUSTOM:"):]
        elif deprecated is not None:  # an old file (builtin_code 0), or a code above 127 as converters write it
            opcode.builtinCode, opcode.deprecatedBuiltinCode = (0, deprecated) if deprecated <= 127 else (deprecated, 127)
        else:
            code = getattr(schema.BuiltinOperator, name)
            opcode.builtinCode, opcode.deprecatedBuiltinCode = code, min(code, 127)
        model.operatorCodes.append(opcode)
    if not graph.no_subgraph:
        subgraph = schema.SubGraphT()
        subgraph.tensors, subgraph.operators = tensors, operators
        subgraph.inputs, subgraph.outputs = list(graph.inputs), list(graph.outputs)
        subgraph.name = "main"
        model.subgraphs = [subgraph]
    return pack(model)


def pack(model: Any) -> bytes:
    """The .tflite bytes of a schema ``ModelT``."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def edited(data: bytes, edit: Any) -> bytes:
    """``data`` unpacked to a ``ModelT``, changed in place by ``edit(model)`` (what :class:`GraphSpec` cannot
    state: a second subgraph, an options type without its table, an unknown tensor type ...), packed again."""
    model = _schema.ModelT.InitFromPackedBuf(data, 0)
    edit(model)
    return pack(model)


def options(name: str, **fields: Any) -> tuple[Any, str]:
    """``(NameOptionsT with fields set, "NameOptions")`` for an :class:`OpSpec`."""
    schema = _schema
    table = getattr(schema, f"{name}OptionsT")()
    for key, value in fields.items():
        if not hasattr(table, key):
            raise AttributeError(f"{name}OptionsT has no field {key}")
        setattr(table, key, value)
    return table, f"{name}Options"


def dense_softmax(weights: np.ndarray, bias: np.ndarray, input_shape: tuple[int, ...] | None = None,
                  softmax: bool = True) -> bytes:
    """A float model ``softmax(reshape(x) @ weights.T + bias)`` (batch 1): outputs computable with numpy.

    ``input_shape`` (without the batch axis) defaults to ``(weights.shape[1],)``; another shape is
    reshaped to a row first, as a Flatten converts.
    """
    units, features = weights.shape
    input_shape = input_shape or (features,)
    tensors = [TensorSpec("input", (1, *input_shape))]
    ops = []
    if input_shape != (features,):
        tensors += [TensorSpec("shape", (2,), "int32", np.array([1, features], np.int32)),
                    TensorSpec("flat", (1, features))]
        table, kind = options("Reshape", newShape=[1, features])
        ops.append(OpSpec("RESHAPE", (0, 1), (2,), table, kind))
    row = len(tensors) - 1
    tensors += [TensorSpec("weights", (units, features), data=weights.astype(np.float32)),
                TensorSpec("bias", (units,), data=bias.astype(np.float32)),
                TensorSpec("logits", (1, units))]
    table, kind = options("FullyConnected")
    ops.append(OpSpec("FULLY_CONNECTED", (row, row + 1, row + 2), (row + 3,), table, kind))
    if softmax:
        tensors.append(TensorSpec("probabilities", (1, units)))
        table, kind = options("Softmax", beta=1.0)
        ops.append(OpSpec("SOFTMAX", (row + 3,), (row + 4,), table, kind))
    return build_tflite(GraphSpec(tensors, ops, inputs=(0,), outputs=(len(tensors) - 1,)))
