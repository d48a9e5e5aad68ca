"""Run ``.tflite`` models through a lite runtime, never importing TensorFlow unless asked to.

Order for ``auto``: LiteRT (``ai_edge_litert``), then ``tflite_runtime``, then ``tf.lite`` (deprecated).
Inputs are quantized and outputs dequantized with the model's own scale and zero point, so callers
always pass normalised float inputs and get float scores back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError

RUNTIMES = ("auto", "litert", "tflite-runtime", "tensorflow")


@dataclass(frozen=True)
class TensorQuantization:
    dtype: type
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        if not self.is_quantized:
            return values.astype(self.dtype)
        info = np.iinfo(self.dtype)
        scaled = np.round(values / self.scale) + self.zero_point
        return np.clip(scaled, info.min, info.max).astype(self.dtype)

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        if not self.is_quantized:
            return values.astype(np.float32)
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def _interpreter_class(runtime: str):
    if runtime in ("auto", "litert"):
        try:
            from ai_edge_litert.interpreter import Interpreter

            return Interpreter, "litert"
        except ImportError:
            if runtime == "litert":
                raise EdgeMLError("LiteRT is not installed: pip install ai-edge-litert") from None
    if runtime in ("auto", "tflite-runtime"):
        try:
            from tflite_runtime.interpreter import Interpreter

            return Interpreter, "tflite-runtime"
        except ImportError:
            if runtime == "tflite-runtime":
                raise EdgeMLError("tflite-runtime is not installed: pip install tflite-runtime (needs numpy<2)") from None
    if runtime in ("auto", "tensorflow"):
        from edgeml.tf_setup import load_tensorflow

        return load_tensorflow().lite.Interpreter, "tensorflow"
    raise EdgeMLError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")


class LiteModel:
    """One loaded ``.tflite`` model with a single input and a single output."""

    def __init__(self, model: bytes | str | Path, runtime: str = "auto", threads: int | None = None) -> None:
        content = Path(model).read_bytes() if isinstance(model, (str, Path)) else model
        interpreter_class, self.runtime = _interpreter_class(runtime)
        try:
            self._interpreter = interpreter_class(model_content=content, num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise EdgeMLError(f"the {self.runtime} runtime cannot load the model: {str(exc).splitlines()[0]}") from None
        self.threads = threads
        input_details = self._interpreter.get_input_details()
        output_details = self._interpreter.get_output_details()
        if len(input_details) != 1 or len(output_details) != 1:
            raise EdgeMLError("only models with one input and one output are supported")
        self._input, self._output = input_details[0], output_details[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self.input_quantization = TensorQuantization(self._input["dtype"], *self._input["quantization"])
        self.output_quantization = TensorQuantization(self._output["dtype"], *self._output["quantization"])
        self._batch = 0

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float scores for normalised float ``inputs`` of shape ``(N, *input_shape)``."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.shape[1:] != self.input_shape:
            raise EdgeMLError(f"the model expects inputs of shape {self.input_shape}, got {inputs.shape[1:]}")
        outputs = [self._invoke(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)]
        return np.concatenate(outputs)

    def predict_raw(self, quantized_inputs: np.ndarray) -> np.ndarray:
        """The output tensor as the model produces it (int8 stays int8), for parity checks."""
        self._resize(len(quantized_inputs))
        self._interpreter.set_tensor(self._input["index"], quantized_inputs.astype(self.input_quantization.dtype))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        raw = self.predict_raw(self.input_quantization.quantize(batch))
        return self.output_quantization.dequantize(raw)

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [batch, *self.input_shape])
            self._interpreter.allocate_tensors()
            self._batch = batch
