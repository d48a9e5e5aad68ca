"""Read what a ``.tflite`` file contains: I/O tensors, quantization, operators, TFLite Micro support.

Works without TensorFlow (a Raspberry Pi has only numpy and ai-edge-litert): a summary built on
:mod:`edgeml.graph`, which reads the file and holds the one validator of what the runtimes trust.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeml.errors import EdgeMLError
from edgeml.graph import ModelFile, Tensor, read_model, read_model_bytes, schema_available
from edgeml.tflm_ops import TFLM_BUILTIN_OPS, TFLM_CUSTOM_OPS

__all__ = ["TFLiteModelInfo", "TensorInfo", "OperatorCount", "read_tflite", "read_tflite_bytes", "validate",
           "format_info", "schema_available", "TFLM_BUILTIN_OPS", "TFLM_CUSTOM_OPS", "FLOAT_DTYPES"]

FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
# Integer types a full-int8 model has besides int8: int32 biases and shapes, int16 in a few kernels.
_FULL_INT8_OTHER_DTYPES = frozenset({"int16", "int32", "int64", "bool"})
_CONVERSION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


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
    """Read a .tflite file; any problem with the file is one :class:`EdgeMLError`. A model that parses but
    breaks what the runtimes trust is returned with ``violation`` set (``inspect`` shows it)."""
    return _model_info(read_model(path))


def read_tflite_bytes(data: bytes, path: str = "<bytes>") -> TFLiteModelInfo:
    """Read a .tflite model held in memory; ``path`` only names it in the result and in errors."""
    return _model_info(read_model_bytes(data, path))


def validate(data: bytes, path: str = "<bytes>") -> TFLiteModelInfo:
    """Check what LiteRT and TFLite Micro trust in a model before either gets it, and return its info.

    What is checked is :func:`edgeml.graph.first_violation`'s list. A violation is one
    :class:`EdgeMLError` naming the op and the tensor.
    """
    info = read_tflite_bytes(data, path)
    if info.violation:
        raise EdgeMLError(f"{path} is not a valid TFLite model: {info.violation}")
    return info


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


def _model_info(model: ModelFile) -> TFLiteModelInfo:
    op_counts: Counter[str] = Counter()
    float_ops: set[str] = set()
    float_conversion_ops: set[str] = set()
    tflm_limitations: dict[str, None] = {}  # ordered, each reason once
    for graph in model.subgraphs:
        count = len(graph.tensors)
        for op in graph.ops:
            op_counts[op.name] += 1
            # -1 marks an omitted optional input (e.g. a bias); an index out of range is the violation.
            op_inputs = [_tensor_info(graph.tensors[i]) for i in op.inputs if 0 <= i < count]
            op_outputs = [_tensor_info(graph.tensors[i]) for i in op.outputs if 0 <= i < count]
            if op.name in _CONVERSION_OPS:
                if any(t.dtype in FLOAT_DTYPES for t in op_inputs + op_outputs):
                    float_conversion_ops.add(op.name)
            elif any(t.dtype in FLOAT_DTYPES and not t.is_constant for t in op_inputs + op_outputs):
                float_ops.add(op.name)
            limitation = _tflm_type_limitation(op.name, op_inputs)
            if limitation:
                tflm_limitations[limitation] = None
    main = model.main
    unsupported = {name for name in op_counts if not _tflm_supports(name)}
    all_tensors = tuple(_tensor_info(tensor) for graph in model.subgraphs for tensor in graph.tensors)
    return TFLiteModelInfo(
        path=model.path,
        size_bytes=model.size_bytes,
        inputs=tuple(_tensor_info(main.tensors[i]) for i in main.inputs if 0 <= i < len(main.tensors)),
        outputs=tuple(_tensor_info(main.tensors[i]) for i in main.outputs if 0 <= i < len(main.tensors)),
        operators=tuple(OperatorCount(name, count) for name, count in sorted(op_counts.items())),
        tensor_count=len(all_tensors),
        parameter_bytes=model.parameter_bytes,
        float_ops=tuple(sorted(float_ops)),
        tflm_unsupported_ops=tuple(sorted(unsupported)),
        float_conversion_ops=tuple(sorted(float_conversion_ops)),
        tensors=all_tensors,
        tflm_limitations=tuple(tflm_limitations),
        violation=model.violation,
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


def _tensor_info(tensor: Tensor) -> TensorInfo:
    per_tensor = len(tensor.scales) == 1
    return TensorInfo(
        name=tensor.name,
        shape=tensor.shape,
        dtype=tensor.dtype,
        scale=tensor.scales[0] if per_tensor else None,
        zero_point=(tensor.zero_points[0] if tensor.zero_points else 0) if per_tensor else None,
        per_channel=tensor.per_channel,
        scales=tensor.scales,
        zero_points=tensor.zero_points,
        quantized_dimension=tensor.quantized_dimension,
        is_constant=tensor.is_constant,
    )


def _tflm_supports(op_name: str) -> bool:
    if op_name.startswith("CUSTOM:"):
        return op_name.removeprefix("CUSTOM:") in TFLM_CUSTOM_OPS
    return op_name in TFLM_BUILTIN_OPS


def _as_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    return value


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
