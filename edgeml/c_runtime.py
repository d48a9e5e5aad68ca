"""The ``c`` runtime: edgeml's C engine (issues 12 and 15) built on this machine and run through ctypes.

The registry's adapter only: :func:`firmware_export.cengine.build.build_engine` compiles the int8 or
float32 ``.tflite`` to C99, builds it with the system C compiler at ``-O2`` (cached) and measures its
static memory; :class:`CEngineModel` invokes it one sample at a time with exactly the planned arena.
"""

from __future__ import annotations

import ctypes

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.interpreter import TensorQuantization, checked_inputs
from firmware_export.cengine.build import COMPILERS, INSTALL_COMPILER, SYMBOL, StaticMemory, build_engine, find_compiler

__all__ = ["COMPILERS", "INSTALL_COMPILER", "CEngineModel", "StaticMemory", "find_compiler"]


class CEngineModel:
    """A model in edgeml's C engine, built for this machine: one sample per invoke, like TFLite Micro.

    An int8 graph's inputs and outputs are int8 (or uint8) with the graph's scale and zero point; a float32 graph's
    (the engine's float build) are float32. ``static_memory`` says what a device would need
    (:class:`firmware_export.cengine.build.StaticMemory`).
    """

    supports_batch = False
    runtime = "c"
    threads = None

    def __init__(self, content: bytes, source_name: str = "<bytes>") -> None:
        build = build_engine(content, source_name)
        graph = build.graph
        source, result = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
        self.static_memory = build.memory
        self.input_shape = tuple(int(d) for d in source.shape[1:])
        if build.float32:
            from firmware_export.cengine.float_exactness import FloatHostEngine

            self.input_quantization = TensorQuantization(np.float32, 0.0, 0)
            self.output_quantization = TensorQuantization(np.float32, 0.0, 0)
            self._engine = FloatHostEngine(build.library, SYMBOL, source.element_count, result.element_count)
        else:
            from firmware_export.cengine.host import HostEngine

            io_dtype = (np.dtype(source.dtype).type, np.dtype(result.dtype).type)  # int8, or uint8 I/O
            self.input_quantization = TensorQuantization(io_dtype[0], source.scale, source.zero_point)
            self.output_quantization = TensorQuantization(io_dtype[1], result.scale, result.zero_point)
            self._engine = HostEngine(build.library, SYMBOL, source.element_count, result.element_count,
                                      build.memory.arena_bytes, io_dtype)
        self._input = np.zeros(source.element_count, dtype=self.input_quantization.dtype)
        self._output = np.zeros(result.element_count, dtype=self.output_quantization.dtype)
        # Fixed addresses, taken once: numpy's .ctypes.data costs microseconds per call, on the timed path.
        # The float build's arena is a static array inside its library, so its invoke takes two pointers.
        self._pointers = (self._input.ctypes.data, self._output.ctypes.data,
                          *(() if build.float32 else (ctypes.addressof(self._engine.arena),)))
        self._output_shape = (1, *result.shape[1:])

    def set_raw_input(self, quantized: np.ndarray) -> None:
        if len(quantized) != 1:
            raise EdgeMLError("the C engine runs one sample per invoke")
        values = np.asarray(quantized, dtype=self._input.dtype).reshape(-1)
        if values.size != self._input.size:
            raise EdgeMLError(f"the C engine takes {self._input.size} values per sample, got {values.size}")
        self._input[:] = values

    def invoke(self) -> None:
        status = self._engine.invoke_function(*self._pointers)
        if status != 0:
            raise EdgeMLError(f"the C engine's invoke returned {status}")

    def raw_output(self) -> np.ndarray:
        return self._output.reshape(self._output_shape).copy()

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float scores for normalised float ``inputs`` of shape ``(N, *input_shape)``."""
        inputs = checked_inputs(inputs, self.input_shape)
        quantized = self.input_quantization.quantize(inputs).reshape(len(inputs), -1)
        raw = self._engine.run(quantized).reshape(len(inputs), *self._output_shape[1:])
        return self.output_quantization.dequantize(raw)
