"""uint8 input or output around an int8 graph: the converter's edge QUANTIZE ops become an integer
requantization inside invoke.

A model converted with ``inference_input_type=tf.uint8`` (or output) starts with a QUANTIZE from the
uint8 input to an int8 tensor (and ends with one from int8 to the uint8 output). The graph between them
is lowered as an int8 graph; each edge QUANTIZE becomes a call of a small function of the generated
model file that computes, per value, ``clamp(MultiplyByQuantizedMultiplier(x - input_zero_point,
multiplier, shift) + output_zero_point)`` with the multiplier of ``input_scale / output_scale`` (TFLite
Micro: PrepareQuantizeReference in quantize_common.cc and reference_ops::Requantize in
tensorflow/lite/kernels/internal/reference/requantize.h @ 90b983c2; requantize's fast path for a pure
128 shift gives the same bytes). TFLite Micro rounds it twice, LiteRT's reference kernels once, so
both rounding modes' constants are kept as for every other op.
"""

from __future__ import annotations

import dataclasses

from edgeml.graph import Graph, Op
from firmware_export.cengine.lower import KernelCall, requantize_params

EDGE_KERNELS = {"input": "requantize_uint8_input", "output": "requantize_uint8_output"}


@dataclasses.dataclass(frozen=True)
class UInt8Edge:
    """The QUANTIZE op ``op`` between the caller's uint8 buffer and the int8 graph (``kind`` input/output)."""

    kind: str
    op: Op


def int8_core(graph: Graph) -> tuple[Graph, tuple[UInt8Edge, ...]]:
    """``graph`` without the QUANTIZE ops that convert its uint8 input or output to or from int8.

    Anything else (float I/O, a uint8 tensor used otherwise) is left for :func:`lower` to refuse."""
    edges = []
    ops, inputs, outputs = list(graph.ops), list(graph.inputs), list(graph.outputs)
    if len(graph.inputs) == 1 and graph.tensor(graph.inputs[0]).dtype == "uint8":
        readers = [op for op in ops if graph.inputs[0] in op.inputs]
        if len(readers) == 1 and _is_edge_quantize(graph, readers[0], "uint8", "int8"):
            edges.append(UInt8Edge("input", readers[0]))
            ops.remove(readers[0])
            inputs = [readers[0].outputs[0]]
    if len(graph.outputs) == 1 and graph.tensor(graph.outputs[0]).dtype == "uint8":
        writers = [op for op in ops if graph.outputs[0] in op.outputs]
        readers = [op for op in ops if graph.outputs[0] in op.inputs]
        if len(writers) == 1 and not readers and _is_edge_quantize(graph, writers[0], "int8", "uint8"):
            edges.append(UInt8Edge("output", writers[0]))
            ops.remove(writers[0])
            outputs = [writers[0].inputs[0]]
    return dataclasses.replace(graph, ops=tuple(ops), inputs=tuple(inputs), outputs=tuple(outputs)), tuple(edges)


def _is_edge_quantize(graph: Graph, op: Op, source_dtype: str, target_dtype: str) -> bool:
    if op.name != "QUANTIZE" or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    source, target = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return (source.dtype, target.dtype) == (source_dtype, target_dtype) and len(source.scales) == len(
        target.scales) == 1


def edge_call(graph: Graph, edge: UInt8Edge) -> KernelCall:
    """The requantization call of one edge; its parameters are ``io_requantize_params`` of model.c."""
    source, target = graph.tensor(edge.op.inputs[0]), graph.tensor(edge.op.outputs[0])
    double, single = requantize_params(source, target, False), requantize_params(source, target, True)
    return KernelCall(edge.op.index, edge.op.name, EDGE_KERNELS[edge.kind], (source.index,), target.index, double,
                      (), single if single != double else None)
