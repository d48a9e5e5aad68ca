"""A Keras model behind the runtime interface (:class:`edgeml.runtime.Model`): the ``keras`` runtime, the
float reference a benchmark measures on the host. Needs TensorFlow (imported when a model is opened)."""

from __future__ import annotations

from typing import Any

import numpy as np


class KerasModel:
    """``path``'s Keras model; ``float_io`` is the runtime's quantization of a float tensor (none: inputs and
    outputs are the float32 values themselves), given by :mod:`edgeml.runtime`, which this module does not
    import (the registry imports it)."""

    supports_batch = True
    runtime = "keras"
    threads = None

    def __init__(self, path: str, float_io: Any) -> None:
        from edgeml.models import load_user_model

        self._model = load_user_model(path)
        self.input_shape = tuple(self._model.input_shape[1:])
        self.input_quantization = float_io
        self.output_quantization = float_io
        self._input: np.ndarray | None = None
        self._output = None

    def set_raw_input(self, quantized: np.ndarray) -> None:
        """Next invoke's input batch, float32 ``(N, *input_shape)``."""
        self._input = quantized

    def invoke(self) -> None:
        self._output = self._model(self._input, training=False)

    def raw_output(self) -> np.ndarray:
        """The last invoke's scores, float32 ``(N, classes)``."""
        return np.asarray(self._output)

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Scores of float32 ``inputs`` ``(N, *input_shape)``: float32 ``(N, classes)``."""
        return np.asarray(self._model.predict(inputs, batch_size=batch_size, verbose=0))
