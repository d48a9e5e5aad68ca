"""Which ``MicroMutableOpResolver::Add...()`` method registers each operator a model uses.

The table of methods is :mod:`edgeml.tflm_ops`'s (tensorflow/tflite-micro
``tensorflow/lite/micro/micro_mutable_op_resolver.h`` at commit 90b983c2), the one list of TFLM's ops.
"""

from __future__ import annotations

from edgeml.errors import EdgeMLError
from edgeml.tflite_model import TFLiteModelInfo
from edgeml.tflm_ops import BUILTIN_ADD_METHODS, CUSTOM_ADD_METHODS


def add_method(op_name: str) -> str | None:
    """The resolver method for an op name as :func:`edgeml.tflite_model.read_tflite` reports it, or None."""
    if op_name.startswith("CUSTOM:"):
        return CUSTOM_ADD_METHODS.get(op_name.removeprefix("CUSTOM:"))
    return BUILTIN_ADD_METHODS.get(op_name)


def resolver_methods(info: TFLiteModelInfo) -> tuple[tuple[str, str], ...]:
    """``(op name, Add method)`` for every distinct op of the model, sorted by op name.

    ``read_tflite`` counts each op once across all subgraphs, so the length of this tuple is the ``N``
    of ``MicroMutableOpResolver<N>``: exactly enough, since ops past N are dropped (tflm#302).
    """
    methods = {op.name: add_method(op.name) for op in info.operators}
    unsupported = sorted(name for name, method in methods.items() if method is None)
    if unsupported:
        raise EdgeMLError(
            f"TFLite Micro has no kernel for {', '.join(unsupported)}, so firmware could not run this model; "
            "rewrite those layers (`edgeml inspect MODEL` lists the ops)"
        )
    return tuple((name, methods[name]) for name in sorted(methods))
