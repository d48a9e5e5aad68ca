"""The interpreters edgeml runs ``.tflite`` models in, below the runtime registry (:mod:`edgeml.runtime`):
LiteRT, tflite-runtime or ``tf.lite`` (:class:`LiteModel`) and TFLite Micro's interpreter
(:class:`MicroModel`), with the tensor quantization (:class:`TensorQuantization`) and the one rule for
the class a model's scores decide (:func:`decide_class`).

Inputs are quantized and outputs dequantized with the model's own scale and zero point, so callers pass
normalised float inputs and get float scores back. This module needs only numpy and one interpreter: it
is copied as is into device bundles, and ``firmware_export`` uses it without the registry above it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from edgeml.errors import EdgeMLError

# The lite interpreters :class:`LiteModel` opens, in the order ``auto`` tries them.
LITE_INTERPRETERS = ("litert", "tflite-runtime", "tensorflow")
# Generous default arena for TFLM when the caller has not measured one (edgeml export measures it).
DEFAULT_TFLM_ARENA_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TensorQuantization:
    """A tensor's dtype and affine quantization (real = scale * (q - zero_point), TFLite's scheme); scale 0
    or a float dtype means not quantized, and both methods only cast (to ``dtype``, or to float32)."""

    dtype: type
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        if not self.is_quantized:
            return np.asarray(values).astype(self.dtype)
        info = np.iinfo(self.dtype)
        scaled = np.round(np.asarray(values, dtype=np.float32) / self.scale) + self.zero_point
        return np.clip(scaled, info.min, info.max).astype(self.dtype)

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        if not self.is_quantized:
            return np.asarray(values).astype(np.float32)
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def decide_class(scores: np.ndarray, output: TensorQuantization | None = None) -> np.ndarray:
    """The class each sample's scores decide, the one rule of every stage (evaluate, quantize, benchmark,
    predict, parity): ``(N, K)`` scores (or ``(N, ...)``, flattened per sample) -> ``(N,)`` int64.

    Several units: the index of the largest score, the first one on a tie (int8 softmax outputs often
    tie). Raw quantized scores decide as their dequantized values do, since the scale is positive.
    One unit (a sigmoid): class 1 when the probability is >= 0.5; raw integer scores are dequantized with
    ``output`` (the output tensor's quantization) first, exactly as :meth:`TensorQuantization.dequantize`
    does for the float path, so both paths decide alike (an int8 sigmoid's q = 0 at scale 1/256 and zero
    point -128 is exactly 0.5, which is class 1).
    """
    scores = np.asarray(scores)
    scores = scores.reshape(len(scores), -1)
    if scores.shape[1] > 1:
        return scores.argmax(axis=1).astype(np.int64)
    probability = scores[:, 0]
    if output is not None and output.is_quantized and scores.dtype.kind in "iu":
        probability = output.dequantize(probability)
    return (probability >= 0.5).astype(np.int64)


class Model(Protocol):
    """What every backend offers: the benchmark times ``invoke`` alone, everything else is set-up."""

    runtime: str
    threads: int | None
    input_shape: tuple[int, ...]
    input_quantization: TensorQuantization
    output_quantization: TensorQuantization
    supports_batch: bool

    def set_raw_input(self, quantized: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def raw_output(self) -> np.ndarray: ...

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray: ...


def raw_outputs(model: Model, quantized: np.ndarray) -> np.ndarray:
    """The model's raw outputs (its output dtype, one row per sample) for already-quantized ``quantized``
    of shape ``(N, *input_shape)``, one sample per invoke as on a device."""
    outputs = []
    for sample in quantized:
        model.set_raw_input(sample[np.newaxis])
        model.invoke()
        outputs.append(model.raw_output())
    return np.concatenate(outputs)



def _read(model: bytes | str | Path) -> bytes:
    if isinstance(model, bytes):
        return model
    try:
        return Path(model).read_bytes()
    except OSError as exc:
        raise EdgeMLError(f"cannot read model {model}: {exc.strerror}") from None


def validated(content: bytes, name: str) -> tuple[str, ...]:
    """Check what the runtimes trust (:func:`edgeml.tflite_model.validate`) before one gets the model, and
    return why TFLite Micro could not run it (empty if it can). A device bundle ships without that module
    (and a runtime without the flatbuffer schema cannot read it): there the model goes in unchecked."""
    try:
        from edgeml.tflite_model import schema_available, validate
    except ImportError:
        return ()
    if not schema_available():
        return ()
    return validate(content, name).tflm_problems


def _name(model: bytes | str | Path) -> str:
    return "the model" if isinstance(model, bytes) else str(model)


def _interpreter_class(runtime: str):
    if runtime not in ("auto", *LITE_INTERPRETERS):
        raise EdgeMLError(f"unknown lite runtime {runtime!r}: choose one of auto, {', '.join(LITE_INTERPRETERS)}")
    if runtime in ("auto", "litert"):
        try:
            from ai_edge_litert import interpreter

            return interpreter, "litert"
        except ImportError:
            if runtime == "litert":
                raise EdgeMLError(_litert_missing()) from None
    if runtime in ("auto", "tflite-runtime"):
        try:
            from tflite_runtime import interpreter

            return interpreter, "tflite-runtime"
        except ImportError:
            if runtime == "tflite-runtime":
                raise EdgeMLError("tflite-runtime is not installed: pip install tflite-runtime (needs numpy<2)") from None
    if runtime in ("auto", "tensorflow"):
        try:
            from edgeml.tf_setup import load_tensorflow

            return load_tensorflow().lite, "tensorflow"
        except (ImportError, EdgeMLError):
            if runtime == "tensorflow":
                raise EdgeMLError("TensorFlow is not installed: pip install 'edgeml[train]'") from None
    raise EdgeMLError(
        "no lite runtime is installed: pip install ai-edge-litert (or tflite-runtime, or tensorflow)"
    )


def _litert_missing() -> str:
    import platform

    if platform.machine() in ("armv7l", "armv6l"):
        return (
            "LiteRT has no wheels for 32-bit ARM (armv7l): install a 64-bit Raspberry Pi OS, "
            "or use tflite-runtime with Python <= 3.11 and numpy<2"
        )
    return "LiteRT is not installed: pip install ai-edge-litert"


class LiteModel:
    """A model in LiteRT, tflite-runtime or tf.lite.

    A model converted with a dynamic batch dimension runs a batch per invoke (the input tensor is
    resized); one converted with a static batch of 1, as edgeml converts for devices (its RESHAPEs
    carry constant shapes), runs one sample per invoke, and ``supports_batch`` is False.
    """

    def __init__(
        self, model: bytes | str | Path, runtime: str = "auto", threads: int | None = None, reference_kernels: bool = False
    ) -> None:
        content = _read(model)
        module, self.runtime = _interpreter_class(runtime)
        validated(content, _name(model))
        options = {}
        if reference_kernels:
            resolver_types = getattr(module, "OpResolverType", None) or module.experimental.OpResolverType
            options["experimental_op_resolver_type"] = resolver_types.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._interpreter = module.Interpreter(model_content=content, num_threads=threads, **options)
        except (ValueError, RuntimeError) as exc:
            raise EdgeMLError(runtime_failure(self.runtime, "cannot load the model", exc)) from None
        self.threads = threads
        try:
            input_details = self._interpreter.get_input_details()
            output_details = self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:  # UnicodeDecodeError on a damaged tensor name included
            raise EdgeMLError(runtime_failure(self.runtime, "cannot read the model's inputs and outputs", exc)) from None
        if len(input_details) != 1 or len(output_details) != 1:
            raise EdgeMLError("only models with one input and one output are supported")
        self._input, self._output = input_details[0], output_details[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self.input_quantization = TensorQuantization(self._input["dtype"], *self._input["quantization"])
        self.output_quantization = TensorQuantization(self._output["dtype"], *self._output["quantization"])
        signature = self._input.get("shape_signature")
        self.supports_batch = signature is None or len(signature) == 0 or int(signature[0]) == -1
        self._batch = 0
        self._resize(1)

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            if not self.supports_batch and batch != 1:
                raise EdgeMLError(f"the model was converted for a batch of 1 and cannot take {batch} samples at once")
            try:
                self._interpreter.resize_tensor_input(self._input["index"], [batch, *self.input_shape])
                self._interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise EdgeMLError(runtime_failure(self.runtime, "cannot prepare the model", exc)) from None
            self._batch = batch

    def set_raw_input(self, quantized: np.ndarray) -> None:
        self._resize(len(quantized))
        self._interpreter.set_tensor(self._input["index"], quantized.astype(self.input_quantization.dtype))

    def invoke(self) -> None:
        try:
            self._interpreter.invoke()
        except (ValueError, RuntimeError) as exc:
            raise EdgeMLError(runtime_failure(self.runtime, "failed to run the model", exc)) from None

    def raw_output(self) -> np.ndarray:
        return self._interpreter.get_tensor(self._output["index"]).copy()

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float scores for normalised float ``inputs`` of shape ``(N, *input_shape)``."""
        inputs = checked_inputs(inputs, self.input_shape)
        outputs = []
        batch_size = batch_size if self.supports_batch else 1
        for start in range(0, len(inputs), batch_size):
            self.set_raw_input(self.input_quantization.quantize(inputs[start:start + batch_size]))
            self.invoke()
            outputs.append(self.output_quantization.dequantize(self.raw_output()))
        return np.concatenate(outputs)


class MicroModel:
    """A model in TFLite Micro's interpreter (the ``tflite-micro`` package): one sample per invoke."""

    supports_batch = False
    runtime = "tflm"
    threads = None

    def __init__(self, model: bytes | str | Path, arena_bytes: int = DEFAULT_TFLM_ARENA_BYTES) -> None:
        try:
            from tflite_micro.python.tflite_micro import runtime as tflm
        except ImportError:
            raise EdgeMLError("TFLite Micro's interpreter is not installed: pip install tflite-micro") from None
        content = _read(model)
        problems = validated(content, _name(model))
        if problems:
            raise EdgeMLError(f"TFLite Micro cannot run {_name(model)}: {'; '.join(problems)}")
        signal_number = _tflm_crash_signal(tflm, content, int(arena_bytes))
        if signal_number is not None:
            raise EdgeMLError(
                f"TFLite Micro's interpreter crashed (signal {signal_number}) loading and invoking "
                f"{_name(model)} with a {arena_bytes}-byte arena: the file is damaged or its tensors do not fit"
            )
        try:
            self._interpreter = tflm.Interpreter.from_bytes(content, arena_size=int(arena_bytes))
        except (RuntimeError, ValueError) as exc:
            raise EdgeMLError(
                f"TFLite Micro cannot load the model with a {arena_bytes}-byte arena: {str(exc).splitlines()[0]}"
            ) from None
        self.arena_bytes = int(arena_bytes)
        input_details = self._interpreter.get_input_details(0)
        output_details = self._interpreter.get_output_details(0)
        self.input_shape = tuple(int(d) for d in input_details["shape"][1:])
        self.input_quantization = _micro_quantization(input_details)
        self.output_quantization = _micro_quantization(output_details)

    def set_raw_input(self, quantized: np.ndarray) -> None:
        if len(quantized) != 1:
            raise EdgeMLError("TFLite Micro runs one sample per invoke")
        try:
            self._interpreter.set_input(quantized.astype(self.input_quantization.dtype), 0)
        except (ValueError, RuntimeError) as exc:
            raise EdgeMLError(runtime_failure("tflm", "refused the input", exc)) from None

    def invoke(self) -> None:
        try:
            self._interpreter.invoke()
        except (ValueError, RuntimeError) as exc:
            raise EdgeMLError(runtime_failure("tflm", "failed to run the model", exc)) from None

    def raw_output(self) -> np.ndarray:
        return np.array(self._interpreter.get_output(0), copy=True)

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        inputs = checked_inputs(inputs, self.input_shape)
        outputs = []
        for sample in inputs:
            self.set_raw_input(self.input_quantization.quantize(sample[np.newaxis]))
            self.invoke()
            outputs.append(self.output_quantization.dequantize(self.raw_output()))
        return np.concatenate(outputs)


@dataclass(frozen=True)
class ChildOutcome:
    """How a forked child ended: killed by ``signal``, or ``error`` (an exception's text), or neither."""

    signal: int | None = None
    error: str | None = None


def in_forked_child(work: Callable[[], object]) -> ChildOutcome:
    """Run ``work()`` in a forked child, so a native crash (SIGSEGV, SIGABRT) costs only the child.

    The tflite-micro wrapper crashes the whole process instead of raising on some inputs: an arena below
    the interpreter's own needs (SIGSEGV after "Failed to allocate tail memory"), some damaged files
    (SIGABRT after "Failed to resize buffer"). An exception in ``work`` comes back as its text. Where
    there is no ``fork`` (tflite-micro wheels are Linux-only anyway) ``work`` runs in this process.
    """
    if not hasattr(os, "fork"):
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - reported as the outcome, like the child's
            return ChildOutcome(error=str(exc) or type(exc).__name__)
        return ChildOutcome()
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        status = 0
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - the child must end here, never unwind into the parent's code
            os.write(write_end, (str(exc) or type(exc).__name__).encode("utf-8", errors="replace")[:4096])
            status = 1
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reason = pipe.read().decode("utf-8", errors="replace")
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        return ChildOutcome(signal=os.WTERMSIG(status))
    if os.WEXITSTATUS(status) != 0:
        return ChildOutcome(error=reason or f"the child exited with status {os.WEXITSTATUS(status)}")
    return ChildOutcome()


def _tflm_crash_signal(tflm, content: bytes, arena_bytes: int) -> int | None:
    """Load and invoke the model once (zero input) in a forked child; the signal that killed it, or None.

    Exceptions are not crashes here: the parent repeats the call and reports them.
    """
    def load_and_invoke() -> None:
        interpreter = tflm.Interpreter.from_bytes(content, arena_size=arena_bytes)
        details = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(details["shape"], details["dtype"]), 0)
        interpreter.invoke()

    return in_forked_child(load_and_invoke).signal


def runtime_failure(runtime: str, what: str, exc: Exception) -> str:
    """One line from a runtime's multi-line exception, keeping what names the op.

    LiteRT reports a kernel check as ``<kernel>.cc:<line> <failed check>`` followed by
    ``Node number N (OP) failed to prepare``; both lines are kept, joined.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    node = [line for line in lines if "Node number" in line]
    kept = list(dict.fromkeys(lines[:1] + node[:1]))
    return " ".join(f"the {runtime} runtime {what}: {'; '.join(kept)}".split())


def _micro_quantization(details: dict) -> TensorQuantization:
    parameters = details.get("quantization_parameters") or {}
    scales, zero_points = parameters.get("scales", []), parameters.get("zero_points", [])
    scale = float(scales[0]) if len(scales) else 0.0
    zero_point = int(zero_points[0]) if len(zero_points) else 0
    return TensorQuantization(details["dtype"], scale, zero_point)


def checked_inputs(inputs: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.shape[1:] != input_shape:
        raise EdgeMLError(f"the model expects inputs of shape {input_shape}, got {inputs.shape[1:]}")
    return inputs
