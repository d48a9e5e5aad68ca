"""Run ``.tflite`` models through a lite runtime or TFLite Micro, without importing TensorFlow unless asked.

Runtimes (:data:`REGISTRY`, one :class:`RuntimeSpec` each): ``litert`` (``ai_edge_litert``),
``tflite-runtime``, ``tensorflow`` (``tf.lite``, deprecated), ``tflm`` (the ``tflite-micro`` package: the
microcontroller interpreter, run on the host), ``c`` (edgeml's C engine, int8 or float32 graphs, built
with this machine's C compiler, :mod:`edgeml.c_runtime`) and ``keras`` (the float reference, for the
benchmark). ``auto`` picks the first installed of the lite runtimes. The interpreters themselves, the
tensor quantization and :func:`decide_class` live one layer below, in :mod:`edgeml.interpreter`
(re-exported here); the C engine and Keras adapters are imported only when a model is opened with them.

This module needs only numpy and one runtime: it is copied as is into device bundles (with
``edgeml.interpreter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.interpreter import (DEFAULT_TFLM_ARENA_BYTES, LiteModel, MicroModel, Model,
                                TensorQuantization, _name, _read, decide_class, raw_outputs, validated)

__all__ = ["DEFAULT_TFLM_ARENA_BYTES", "LITE_RUNTIMES", "REGISTRY", "RUNTIMES", "LiteModel", "MicroModel", "Model",
           "OpenOptions", "RuntimeSpec", "TensorQuantization", "available_runtimes", "decide_class", "open_model",
           "raw_outputs", "runtime_spec", "runtime_version"]


@dataclass(frozen=True)
class OpenOptions:
    """What a caller may ask of any runtime; each uses what its capabilities allow."""

    threads: int | None = None
    arena_bytes: int | None = None
    reference_kernels: bool = False


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime: its name, what must be installed, what it can do and measure, and how it opens a model.

    ``lite``: ``auto`` may pick it (in this order); ``selectable``: ``--runtime`` offers it (``keras`` is
    the benchmark's float reference only); ``threads``: honours a thread count; ``loops_batches``: the
    benchmark's throughput may run a batch one invoke per sample (too slow in TFLM's interpreter);
    ``measures_arena``: runs with TFLite Micro's measured arena; ``static_memory``: knows its RAM and
    flash on a device (the C engine); ``on_device``: a device bundle can run it; ``cannot_run``: why a
    model's kind is outside what the runtime runs (None: try it), so a benchmark says so instead of failing.
    """

    name: str
    module: str  # importable when installed
    distribution: str  # its package, for the version
    install_hint: str
    open: Callable[[bytes | str | Path, OpenOptions], "Model"]
    lite: bool = False
    selectable: bool = True
    threads: bool = False
    loops_batches: bool = True
    measures_arena: bool = False
    static_memory: bool = False
    on_device: bool = False
    available: Callable[[], bool] | None = None  # beyond the import probe (e.g. a C compiler)
    cannot_run: Callable[[bytes], str | None] | None = None

    def installed(self) -> bool:
        return _importable(self.module) and (self.available is None or self.available())

    def version(self) -> str:
        import importlib.metadata

        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


def _open_lite(runtime: str):
    def open_lite(model: bytes | str | Path, options: OpenOptions) -> Model:
        return LiteModel(model, runtime=runtime, threads=options.threads, reference_kernels=options.reference_kernels)

    return open_lite


def _open_tflm(model: bytes | str | Path, options: OpenOptions) -> Model:
    return MicroModel(model, options.arena_bytes or DEFAULT_TFLM_ARENA_BYTES)


C_ENGINE_FLOAT16_MODEL = ("a float16 model (float16 weights): the C engine runs int8 and float32 graphs; "
                          "benchmark the int8 or the float32 model")
C_ENGINE_DYNAMIC_RANGE_MODEL = ("a dynamic-range model (int8 weights, float activations): the C engine has no hybrid "
                                "kernels; benchmark the full-integer int8 or the float32 model")
C_ENGINE_FLOAT_IO_MODEL = ("an int8 graph with float input or output (QUANTIZE/DEQUANTIZE at its edges): the C "
                           "engine's int8 build takes int8 or uint8 I/O; convert it with int8 I/O (edgeml quantize "
                           "does)")


def _c_cannot_run(content: bytes) -> str | None:
    """Why the C engine cannot run this kind of model, or None: it runs int8 graphs with int8 or uint8 I/O
    and float32 graphs (float32 I/O, nothing quantized), and may still refuse either by op. A float16
    model (:data:`C_ENGINE_FLOAT16_MODEL`), a dynamic-range one (float I/O around int8 weights, no
    QUANTIZE: :data:`C_ENGINE_DYNAMIC_RANGE_MODEL`) and an int8 graph with float I/O
    (:data:`C_ENGINE_FLOAT_IO_MODEL`) are refused by kind."""
    from edgeml.graph import read_graph_bytes

    graph = read_graph_bytes(content)
    dtypes = {tensor.dtype for tensor in graph.tensors}
    io_dtypes = {graph.tensor(index).dtype for index in (*graph.inputs, *graph.outputs)}
    if "float16" in dtypes:
        return C_ENGINE_FLOAT16_MODEL
    if not any(dtype.startswith("float") for dtype in io_dtypes):
        return None
    if any(op.name == "QUANTIZE" for op in graph.ops):
        return C_ENGINE_FLOAT_IO_MODEL
    if dtypes & {"int8", "uint8"}:
        return C_ENGINE_DYNAMIC_RANGE_MODEL
    return None


def _open_c(model: bytes | str | Path, options: OpenOptions) -> Model:
    try:
        from edgeml.c_runtime import CEngineModel
    except ImportError:
        raise EdgeMLError("the c runtime needs edgeml's C engine (firmware_export), which this copy lacks") from None
    content = _read(model)
    validated(content, _name(model))
    if (why := _c_cannot_run(content)) is not None:
        raise EdgeMLError(f"{_name(model)}: {why}")
    return CEngineModel(content, _name(model))


def _open_keras(model: bytes | str | Path, options: OpenOptions) -> Model:
    from edgeml.keras_model import KerasModel

    return KerasModel(str(model), TensorQuantization(np.float32, 0.0, 0))


def _c_compiler_found() -> bool:
    from edgeml.c_runtime import find_compiler

    return find_compiler() is not None


REGISTRY: tuple[RuntimeSpec, ...] = (
    RuntimeSpec("litert", "ai_edge_litert", "ai-edge-litert", "pip install ai-edge-litert", _open_lite("litert"),
                lite=True, threads=True, on_device=True),
    RuntimeSpec("tflite-runtime", "tflite_runtime", "tflite-runtime", "pip install tflite-runtime (needs numpy<2)",
                _open_lite("tflite-runtime"), lite=True, threads=True, on_device=True),
    RuntimeSpec("tensorflow", "tensorflow", "tensorflow", "pip install 'edgeml[train]'", _open_lite("tensorflow"),
                lite=True, threads=True),
    RuntimeSpec("tflm", "tflite_micro", "tflite-micro", "pip install tflite-micro", _open_tflm,
                loops_batches=False, measures_arena=True, on_device=True),
    RuntimeSpec("c", "firmware_export.cengine", "edgeml", "install a C compiler (sudo apt install gcc)", _open_c,
                static_memory=True, available=_c_compiler_found, cannot_run=_c_cannot_run),
    RuntimeSpec("keras", "tensorflow", "tensorflow", "pip install 'edgeml[train]'", _open_keras, selectable=False),
)
RUNTIMES = ("auto", *(spec.name for spec in REGISTRY if spec.selectable))
LITE_RUNTIMES = tuple(spec.name for spec in REGISTRY if spec.lite)


def runtime_spec(name: str) -> RuntimeSpec:
    """The registered runtime ``name``; EdgeMLError listing the choices otherwise."""
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    raise EdgeMLError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIMES)}")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or deliberately blocked install counts as absent
        return False


def available_runtimes() -> list[str]:
    """The selectable runtimes installed here, in preference order."""
    return [spec.name for spec in REGISTRY if spec.selectable and spec.installed()]


def runtime_version(runtime: str) -> str:
    return runtime_spec(runtime).version()


def open_model(
    model: bytes | str | Path,
    runtime: str = "auto",
    threads: int | None = None,
    arena_bytes: int | None = None,
    reference_kernels: bool = False,
) -> Model:
    """Load ``model`` (a path or the flatbuffer bytes) in ``runtime``.

    ``reference_kernels`` asks LiteRT for its reference kernels without the default XNNPACK delegate,
    the closest match to TFLite Micro's arithmetic.
    """
    options = OpenOptions(threads=threads, arena_bytes=arena_bytes, reference_kernels=reference_kernels)
    if runtime == "auto":
        return LiteModel(model, runtime=runtime, threads=threads, reference_kernels=reference_kernels)
    return runtime_spec(runtime).open(model, options)


