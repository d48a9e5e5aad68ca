"""Fold the input zero point of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D into their biases, at export.

TFLite's kernels accumulate ``sum w * (x + input_offset)`` (``input_offset`` = -input zero point); that is
``sum w * x + input_offset * sum w``, and the second term depends only on the weights. Adding it to the
bias once here saves the kernels an addition per multiply-accumulate and lets them multiply the raw int8
input (which the DSP kernels load four at a time). Exact: the kernels accumulate in int32, whose
addition is exact for every value a layer of int8 products reaches; the folded bias is reduced modulo
2^32, the arithmetic of the int32 accumulator in TFLite's kernels and in ours, so their sums agree
bit for bit.

- FULLY_CONNECTED: bias += input_offset * sum_d (w + filter_offset); then ``input_offset`` is 0 (the
  kernel's parameters keep their meaning: its fast path runs when both offsets are 0).
- CONV_2D / DEPTHWISE_CONV_2D: bias += input_offset * (the output channel's filter summed over all
  taps). A tap in the padding must then contribute ``w * input zero point`` (so that its folded
  ``input_offset * w`` cancels), which the kernels do by reading padding as the input zero point
  (``edgeml_conv.c``); ``input_offset`` stays in the parameters for that.
"""

from __future__ import annotations

import numpy as np

from firmware_export.cengine.lower import ConstArray, KernelCall, LoweredGraph

FOLDED_KERNELS = frozenset({"fully_connected", "conv_2d", "depthwise_conv_2d"})


def fold_input_offsets(lowered: LoweredGraph) -> LoweredGraph:
    """``lowered`` with every FC and convolution's input offset folded into its bias (module docstring)."""
    calls = tuple(_fold(call) if call.kernel in FOLDED_KERNELS else call for call in lowered.calls)
    return LoweredGraph(calls, lowered.aliases)


def wrap_int32(values: np.ndarray) -> np.ndarray:
    """Python/NumPy integers reduced to int32 as two's complement (modulo 2^32).

    >>> wrap_int32(np.array([2**31, -2**31 - 1, 5])).tolist()
    [-2147483648, 2147483647, 5]
    """
    values = np.asarray(values, dtype=np.int64)
    return ((values + 2**31) % 2**32 - 2**31).astype(np.int64)


def _fold(call: KernelCall) -> KernelCall:
    conv_nested = call.kernel == "depthwise_conv_2d"
    fields = dict(dict(call.params)["conv"]) if conv_nested else dict(call.params)
    offset = fields["input_offset"]
    if offset == 0:
        return call
    arrays = {array.name: array for array in call.arrays}
    weights = np.asarray(arrays[fields["filter"]].values, dtype=np.int64)
    if call.kernel == "fully_connected":
        sums = (weights.reshape(fields["units"], fields["depth"]) + fields["filter_offset"]).sum(axis=1)
    elif call.kernel == "conv_2d":
        sums = weights.reshape(fields["output_c"], -1).sum(axis=1)
    else:
        sums = weights.reshape(-1, fields["output_c"]).sum(axis=0)
    bias = np.asarray(arrays[fields["bias"]].values, dtype=np.int64) if fields["bias"] is not None else 0
    folded = ConstArray(f"op{call.op_index}_bias", "int32_t",
                        tuple(int(v) for v in wrap_int32(bias + offset * sums)))
    changes = {"bias": folded.name, **({"input_offset": 0} if call.kernel == "fully_connected" else {})}
    new_arrays = tuple(array for array in call.arrays if array.name != fields["bias"]) + (folded,)

    def rewrite(params):
        if params is None:
            return None
        if conv_nested:
            return tuple((name, rewrite_fields(value) if name == "conv" else value) for name, value in params)
        return rewrite_fields(params)

    def rewrite_fields(params):
        return tuple((name, changes.get(name, value)) for name, value in params)

    return KernelCall(call.op_index, call.op_name, call.kernel, call.inputs, call.output, rewrite(call.params),
                      new_arrays, rewrite(call.single_params), call.struct)
