"""Rewrites of the lowered graph that lower the arena's peak without changing a bit of any output.

Two rewrites, both decided at export:

- **conv + pool fusion**: a CONV_2D or DEPTHWISE_CONV_2D whose output only a MAX_POOL_2D or
  AVERAGE_POOL_2D reads becomes one ``conv_pool`` call (``kernels/edgeml_conv_pool.c``) that computes
  the conv pixels of one pool window at a time into a small scratch (:func:`scratch_bytes`) and pools
  them; the conv output tensor is never stored. In edgeml's default CNN that tensor (28x28x16 = 12,544
  bytes) is the peak of the unfused plan.
- **in-place element-wise ops**: an op of :data:`IN_PLACE_OPS` writes its output over an input of the
  same size whose last use it is, so the two share bytes in the plan. The kernels of these ops read
  element ``i`` of every input before they write element ``i`` of the output, and never read it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeml.graph import Graph
from firmware_export.cengine.lower import IN_PLACE_OPS, KernelCall, LoweredGraph

CONV_KERNELS = frozenset({"conv_2d", "depthwise_conv_2d"})
POOL_KERNELS = {"max_pool_2d": 0, "average_pool_2d": 1}  # kernel -> edgeml_conv_pool_params.average


@dataclass(frozen=True)
class Fusion:
    """``conv_op``'s output ``unstored_tensor`` is consumed inside the fused call of ``pool_op``."""

    conv_op: int
    pool_op: int
    unstored_tensor: int


@dataclass(frozen=True)
class InPlace:
    """Op ``op`` writes ``output`` over ``input`` (both activation tensors, alias roots)."""

    op: int
    input: int
    output: int


def fuse_conv_pool(graph: Graph, lowered: LoweredGraph, roots: dict[int, int]) -> tuple[LoweredGraph, tuple[Fusion, ...]]:
    """``lowered`` with every conv followed by a pool that alone reads its output as one ``conv_pool`` call.

    ``roots`` maps each tensor to the tensor owning its bytes (reshapes resolved), so a reshape between
    conv and pool does not hide a second reader. The fused call sits at the pool's place in the order.
    """
    output_root = roots[graph.outputs[0]]
    readers: dict[int, list[int]] = {}
    for position, call in enumerate(lowered.calls):
        for index in call.inputs:
            readers.setdefault(roots[index], []).append(position)
    fused_at: dict[int, KernelCall] = {}  # pool position -> fused call
    dropped: set[int] = set()  # conv positions
    fusions = []
    for position, call in enumerate(lowered.calls):
        conv_output = roots[call.output]
        if call.kernel not in CONV_KERNELS or conv_output == output_root:
            continue
        consumers = readers.get(conv_output, [])
        if len(consumers) != 1 or lowered.calls[consumers[0]].kernel not in POOL_KERNELS:
            continue
        pool = lowered.calls[consumers[0]]
        if graph.tensor(pool.inputs[0]).shape != graph.tensor(call.output).shape:
            continue  # a reshape between them re-lays the pixels (a Conv1D's (1, T) rows pooled as (T, 1))
        fused_at[consumers[0]] = _fused_call(call, pool)
        dropped.add(position)
        fusions.append(Fusion(call.op_index, pool.op_index, call.output))
    calls = tuple(fused_at.get(position, call) for position, call in enumerate(lowered.calls)
                  if position not in dropped)
    return LoweredGraph(calls, lowered.aliases), tuple(fusions)


def scratch_bytes(call: KernelCall) -> int:
    """Arena scratch a call needs beside its tensors: a CONV_2D holds two im2col columns
    (:func:`im2col_bytes`); a fused DEPTHWISE_CONV_2D + pool, or CONV_2D + AVERAGE_POOL_2D, the conv pixels
    of one pool window, all channels (``pool.filter_h * pool.filter_w * conv.output_c`` int8 values), a
    CONV_2D + MAX_POOL_2D the window's int32 maximum per channel (``4 * conv.output_c`` bytes), followed
    for CONV_2D by its im2col columns (kernels/edgeml_conv_pool.c)."""
    if call.kernel == "conv_2d":
        return im2col_bytes(dict(call.params))
    if call.kernel != "conv_pool":
        return 0
    params = dict(call.params)
    pool, conv = dict(params["pool"]), dict(params["conv"])
    if params["depthwise"]:
        return pool["filter_h"] * pool["filter_w"] * conv["output_c"]
    if params["average"]:
        return pool["filter_h"] * pool["filter_w"] * conv["output_c"] + im2col_bytes(conv)
    return 4 * conv["output_c"] + im2col_bytes(conv)  # edgeml_conv_2d_max: int32 maxima per channel


def im2col_bytes(conv: dict) -> int:
    """Two im2col columns of ``filter_h * filter_w * input_c`` int8 values: edgeml_conv_2d computes two
    output pixels at once (kernels/edgeml_conv.c)."""
    return 2 * conv["filter_h"] * conv["filter_w"] * conv["input_c"]


def _fused_call(conv: KernelCall, pool: KernelCall) -> KernelCall:
    depthwise = conv.kernel == "depthwise_conv_2d"

    def params(conv_fields) -> tuple[tuple[str, object], ...]:
        fields = dict(conv_fields)
        return (("conv", fields["conv"] if depthwise else tuple(conv_fields)), ("depthwise", int(depthwise)),
                ("depth_multiplier", fields["depth_multiplier"] if depthwise else 1), ("pool", pool.params),
                ("average", POOL_KERNELS[pool.kernel]))

    single = params(conv.single_params) if conv.single_params is not None else None
    if pool.single_params is not None:
        raise AssertionError("pooling has no rounding-dependent parameters")
    return KernelCall(pool.op_index, f"{conv.op_name} (op {conv.op_index}) + {pool.op_name}", "conv_pool", conv.inputs, pool.output,
                      params(conv.params), conv.arrays, single)


def in_place_roots(graph: Graph, lowered: LoweredGraph, roots: dict[int, int],
                   caller_buffers: tuple[int, int]) -> tuple[dict[int, int], tuple[InPlace, ...]]:
    """``roots`` with the output of every in-place-capable op mapped onto an input it may overwrite.

    An input qualifies when it lives in the arena (not the caller's input or output buffer), has the
    output's size, and no later call reads it. Decided in execution order, so a chain of in-place ops
    shares one buffer.
    """
    roots = dict(roots)
    done = []
    for position, call in enumerate(lowered.calls):
        output = roots[call.output]
        if call.op_name not in IN_PLACE_OPS or output in caller_buffers:
            continue
        for index in call.inputs:
            source = roots[index]
            if (source in caller_buffers or source == output
                    or graph.tensor(source).byte_size != graph.tensor(output).byte_size
                    or any(roots[i] == source for later in lowered.calls[position + 1:] for i in later.inputs)):
                continue
            for tensor, root in roots.items():
                if root == output:
                    roots[tensor] = source
            done.append(InPlace(call.op_index, source, output))
            break
    return roots, tuple(done)
