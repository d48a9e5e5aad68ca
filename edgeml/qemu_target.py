"""The ``qemu:cortex-m*`` benchmark target: the C engine on an emulated Cortex-M, measured (issue 13).

For one int8 ``.tflite``: the model is compiled by the C engine (:mod:`firmware_export.cengine`), built
into two bare-metal images for the board (:mod:`firmware_export.mcu.image`) holding the same
class-balanced test samples, and each is run under QEMU (:mod:`firmware_export.mcu.qemu`):

- the plain image gives the outputs, the instructions per inference (SysTick ticks under ``-icount
  shift=0`` times the instructions per tick: 40 on the MPS2 boards, 62.5 on the micro:bit, which is the
  resolution), the invoke's stack and the program's stack peak (stack painting), flash and static RAM;
- the profiling image (the same code plus the ``EDGEML_OP_BEGIN/END`` hooks reading SysTick, on the first
  :data:`PROFILED_SAMPLES` samples) gives the instructions of every op (mean over those samples), and for
  FULLY_CONNECTED and convolutions the instructions per MAC. Each op's window also holds the return
  from the begin hook and the call of the end hook (about ten instructions, under one SysTick count).

Both images' outputs must equal, byte for byte, the C engine built on the host and the tflite-micro
interpreter; a difference is an EdgeMLError, never a lower agreement. Counts are instructions, not cycles
(QEMU models neither pipelines nor wait states: an M4 and an M7 give the same counts for the same code).

A float32 ``.tflite`` (issue 15) runs the C engine's float build
(:mod:`firmware_export.cengine.float_generate`) in the same two images: soft float on the M0/M3 (libgcc),
the FPU with its fused multiply-add on the M4/M7 (:func:`firmware_export.mcu.image.float_flags`). Float outputs cannot be byte-identical to another build (newlib's expf is not
glibc's), so they are checked against LiteRT's ``BUILTIN_REF`` float kernels within the issue's bound
(:data:`firmware_export.cengine.float_exactness.MAX_ABS_DIFFERENCE`; beyond it, an EdgeMLError naming the
board, the sample and, when the host build diverges too, the first op), and the row reports the top-class
agreement with that reference and with the float engine built on this machine, and the largest difference.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.measurement import ImageBytes, InstructionCounts, Measurement, OpInstructions
from edgeml.qemu_tables import INSTRUCTIONS_NOTE
from edgeml.runtime import TensorQuantization, decide_class
from firmware_export.mcu.boards import Board
from firmware_export.mcu.qemu import DEFAULT_TIMEOUT_S, HarnessRun

SYMBOL = "model"
PROFILED_SAMPLES = 10  # the per-op counts barely vary with the data: the profiling image runs the first ten
_MAC_KERNELS = ("fully_connected", "conv_2d", "depthwise_conv_2d", "conv_pool")


# What to install when a tool is missing (Debian/Ubuntu package names).
INSTALL_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


@dataclass(frozen=True)
class QemuOptions:
    """``max_samples``: at most this many test samples are embedded (fewer when the flash is full; None:
    every test sample given); ``timeout_s``: per QEMU run."""

    max_samples: int | None = 100
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if (self.max_samples is not None and self.max_samples <= 0) or self.timeout_s <= 0:
            raise EdgeMLError("the QEMU benchmark needs a positive sample count and timeout")


def missing_tools() -> str | None:
    """Why no image can be built and run here (the tools not on PATH and what to install), None when all
    are there: arm-none-eabi-gcc and -size (:func:`firmware_export.mcu.image.missing_tools`) and qemu-system-arm."""
    from firmware_export.mcu.image import missing_tools as missing_build_tools
    from firmware_export.mcu.qemu import QEMU

    missing = missing_build_tools() + ([QEMU] if shutil.which(QEMU) is None else [])
    return f"{', '.join(missing)} not found ({INSTALL_HINT})" if missing else None


def not_measured(model: str, board: Board, reason: str) -> Measurement:
    """The benchmark row of ``model`` on ``board`` when it could not be measured: ``not_measured`` the reason."""
    return Measurement(model=model, runtime="c", target=board.device, device=board.device, board=board.machine,
                       samples=0, not_measured=reason, predictions=())


@dataclass(frozen=True)
class OpCount:
    """Instructions of one op call per inference (mean over the samples); ``macs`` for FC and convolutions."""

    op_index: int
    op: str
    kernel: str
    instructions: float
    macs: int | None

    @property
    def instructions_per_mac(self) -> float | None:
        return self.instructions / self.macs if self.macs else None

    def to_json(self) -> dict:
        per_mac = self.instructions_per_mac
        return {"op_index": self.op_index, "op": self.op, "kernel": self.kernel, "instructions": self.instructions,
                "macs": self.macs, "instructions_per_mac": None if per_mac is None else round(per_mac, 3)}


@dataclass(frozen=True)
class QemuResult:
    """One model on one board. Instruction counts are means per inference over ``samples``."""

    model: str
    board: Board
    samples: int
    accuracy: float | None
    outputs: np.ndarray
    instructions_per_inference: float
    instructions_range: tuple[float, float]
    ops: tuple[OpCount, ...]
    flash: dict
    ram: dict
    predictions: tuple[int, ...]
    float_check: FloatCheck | None = None  # a float32 model's comparison; None: int8, byte-identical

    @property
    def float_abi(self) -> str | None:
        """``soft`` or ``hard`` for a float32 model (the board's), None for an int8 one."""
        return None if self.float_check is None else self.board.float_abi

    def to_measurement(self) -> Measurement:
        """The typed benchmark row. int8: agreement with the host C engine and TFLM is 1.0 (a byte
        difference is an error); float32: :class:`FloatCheck`'s agreements and largest difference."""
        board, check = self.board, self.float_check
        agreements = (dict(agreement_with_host_c=1.0, agreement_with_tflm=1.0) if check is None else
                      dict(agreement_with_host_c=check.agreement_with_host_c,
                           agreement_with_litert_ref=check.agreement_with_litert_ref,
                           max_abs_difference=check.max_abs_difference, float_abi=self.float_abi))
        per_op = tuple(OpInstructions(op.op_index, op.op, op.kernel, op.instructions, op.macs,
                                      op.to_json()["instructions_per_mac"]) for op in self.ops)
        instructions = InstructionCounts(self.instructions_per_inference, *self.instructions_range,
                                         board.instructions_per_tick, per_op,
                                         INSTRUCTIONS_NOTE.format(resolution=board.instructions_per_tick))
        return Measurement(model=self.model, runtime="c", target=board.device, device=board.device,
                           board=board.machine, samples=self.samples, accuracy=self.accuracy,
                           instructions=instructions, image_flash=_image_bytes(self.flash),
                           image_ram=_image_bytes(self.ram), predictions=tuple(self.predictions), **agreements)

    def to_row(self) -> dict:
        """:meth:`to_measurement`'s JSON with the predicted classes (which benchmark.json leaves out)."""
        return self.to_measurement().to_json(predictions=True)


def _image_bytes(part: dict) -> ImageBytes:
    return ImageBytes(part["total_bytes"], tuple((key, value) for key, value in part.items() if key != "total_bytes"))


@dataclass(frozen=True)
class FloatCheck:
    """A float32 model's board outputs against LiteRT BUILTIN_REF float and the float C engine built on this
    machine: top-class agreement (fraction of the samples) with each and the largest |output difference|
    from BUILTIN_REF over every output value."""

    agreement_with_litert_ref: float
    max_abs_difference: float
    agreement_with_host_c: float


def balanced_indices(labels: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` indices of ``labels`` taking each class in turn (first occurrences first).

    >>> balanced_indices(np.array([0, 0, 0, 1, 2, 2]), 5).tolist()
    [0, 3, 4, 1, 5]
    """
    labels = np.asarray(labels)
    queues = [list(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop(0)))
    return np.asarray(chosen, dtype=np.int64)


def macs_of(graph, call, fusions) -> int | None:
    """Multiply-accumulates of a FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D (or fused conv + pool) call:
    output elements times the filter's inputs per output (weights last dims), None for other kernels."""
    if call.kernel not in _MAC_KERNELS:
        return None
    op, output = graph.ops[call.op_index], call.output
    if call.kernel == "conv_pool":
        fusion = next(fusion for fusion in fusions if fusion.pool_op == call.op_index)
        op, output = graph.ops[fusion.conv_op], fusion.unstored_tensor
    weights = graph.tensor(op.inputs[1]).shape
    per_output = weights[-1] if op.name == "FULLY_CONNECTED" else (
        weights[1] * weights[2] * (1 if op.name == "DEPTHWISE_CONV_2D" else weights[3]))
    return int(graph.tensor(output).element_count * per_output)


def run_on_qemu(model_path: Path, board: Board, inputs: np.ndarray, labels: np.ndarray | None,
                options: QemuOptions = QemuOptions()) -> QemuResult:
    """``model_path`` (int8 .tflite) on ``board``, on a class-balanced subset of ``inputs`` (normalised
    floats, one row per sample; ``labels`` give the accuracy and the balance, None: the first samples).

    Raises EdgeMLError when the engine cannot compile the model, it does not fit the board, QEMU hangs,
    faults or exits non-zero, or an output byte differs from the host C engine's or TFLM's.
    """
    from edgeml.graph import read_graph_bytes
    from firmware_export.cengine.generate import compile_model

    content = model_path.read_bytes()
    if is_float_model(read_graph_bytes(content, str(model_path))):
        return _run_float(model_path, content, board, inputs, labels, options)
    compiled = compile_model(content, SYMBOL, str(model_path))
    graph = compiled.graph
    source, result = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    input_dtype = np.dtype(source.dtype).type
    indices = _sample_indices(inputs, labels, options)
    quantized = TensorQuantization(input_dtype, source.scale, source.zero_point).quantize(
        np.asarray(inputs, dtype=np.float32)[indices]).reshape(len(indices), -1)
    runs = _run_images(compiled, model_path.name, board, quantized, options, float_engine=False)
    count = runs.plain.sample_count
    with tempfile.TemporaryDirectory(prefix="edgeml-qemu-host-") as scratch:
        host = _host_outputs(Path(scratch) / "host", compiled.files, quantized[:count], result)
    tflm = _tflm_outputs(content, quantized[:count], source)
    output_dtype = np.dtype(result.dtype).type
    outputs = runs.plain_run.outputs.astype(output_dtype)
    _check_identical(outputs[:runs.profiled.sample_count], runs.profiled_run.outputs.astype(output_dtype),
                     "the profiling image", model_path.name, board)
    for name, reference in (("the C engine built on this machine", host), ("the tflite-micro interpreter", tflm)):
        _check_identical(outputs, reference, name, model_path.name, board)
    output_quantization = TensorQuantization(output_dtype, float(result.scales[0]) if result.scales else 0.0,
                                             int(result.zero_points[0]) if result.zero_points else 0)
    predictions = decide_class(outputs, output_quantization)  # a one-unit sigmoid decides at p >= 0.5
    return _result(model_path.name, board, compiled, runs, outputs, predictions, labels, indices)


def is_float_model(graph) -> bool:
    """A float32 model (the C engine's float build runs it): float32 input and no int8 tensor anywhere."""
    return (graph.tensor(graph.inputs[0]).dtype == "float32"
            and not any(tensor.dtype in ("int8", "uint8") for tensor in graph.tensors))


def _sample_indices(inputs: np.ndarray, labels: np.ndarray | None, options: QemuOptions) -> np.ndarray:
    wanted = len(inputs) if options.max_samples is None else options.max_samples
    return balanced_indices(labels, wanted) if labels is not None else np.arange(min(wanted, len(inputs)))


@dataclass(frozen=True)
class _ImageRuns:
    plain: object  # firmware_export.mcu.image.LinkedImage
    profiled: object
    plain_run: HarnessRun
    profiled_run: HarnessRun


def _run_images(compiled, model: str, board: Board, samples: np.ndarray, options: QemuOptions,
                float_engine: bool) -> _ImageRuns:
    """The plain image (as many of ``samples`` as fit) and the profiling image (its first
    :data:`PROFILED_SAMPLES`) built for ``board`` and run once each under QEMU."""
    from firmware_export.mcu.image import ImageSources, build_image
    from firmware_export.mcu.qemu import run_image

    sources = ImageSources(compiled.files, SYMBOL, tuple(call.op_index for call in compiled.lowered.calls),
                           samples.dtype.type, model, float_engine)
    description = f"class-balanced test samples for {model}"
    with tempfile.TemporaryDirectory(prefix="edgeml-qemu-") as scratch:
        folder = Path(scratch)
        plain = build_image(sources, board, samples, folder, profiled=False, description=description)
        profiled = build_image(sources, board, samples[:min(plain.sample_count, PROFILED_SAMPLES)], folder,
                               profiled=True, description=description)
        return _ImageRuns(plain, profiled, run_image(plain, options.timeout_s), run_image(profiled, options.timeout_s))


def _result(model: str, board: Board, compiled, runs: _ImageRuns, outputs: np.ndarray, predictions: np.ndarray,
            labels: np.ndarray | None, indices: np.ndarray, float_check: FloatCheck | None = None) -> QemuResult:
    """Accuracy, instructions (total and per op) and memory of the runs."""
    count = runs.plain.sample_count
    accuracy = float(np.mean(predictions == np.asarray(labels)[indices[:count]])) if labels is not None else None
    per_tick = board.instructions_per_tick
    instructions = np.asarray(runs.plain_run.ticks, dtype=np.float64) * per_tick
    graph = compiled.graph
    ops = tuple(
        OpCount(call.op_index, call.op_name, call.kernel,
                round(float(np.mean([run[call.op_index] for run in runs.profiled_run.op_ticks])) * per_tick, 1),
                macs_of(graph, call, compiled.fusions))
        for call in compiled.lowered.calls)
    _check_no_wrap(runs.plain_run, runs.profiled_run, board, model)
    return QemuResult(model, board, count, accuracy, outputs, round(float(np.mean(instructions)), 1),
                      (float(instructions.min()), float(instructions.max())), ops, runs.plain.flash.to_json(),
                      _ram(runs.plain, runs.plain_run, compiled), tuple(int(p) for p in predictions), float_check)


def _run_float(model_path: Path, content: bytes, board: Board, inputs: np.ndarray, labels: np.ndarray | None,
               options: QemuOptions) -> QemuResult:
    """:func:`run_on_qemu` for a float32 model: outputs within the bound of BUILTIN_REF, else an EdgeMLError
    naming the board, the sample and (when the host build diverges there too) the first op beyond it."""
    from firmware_export.cengine.float_exactness import reference_outputs
    from firmware_export.cengine.float_generate import compile_float_model

    compiled = compile_float_model(content, SYMBOL, str(model_path))
    indices = _sample_indices(inputs, labels, options)
    samples = np.asarray(inputs, dtype=np.float32)[indices].reshape(len(indices), -1)
    runs = _run_images(compiled, model_path.name, board, samples, options, float_engine=True)
    count = runs.plain.sample_count
    outputs = runs.plain_run.outputs.astype(np.int32).view(np.float32)
    _check_identical(outputs[:runs.profiled.sample_count].view(np.int32),
                     runs.profiled_run.outputs.astype(np.int32), "the profiling image", model_path.name, board)
    reference = reference_outputs(content, samples[:count])
    with tempfile.TemporaryDirectory(prefix="edgeml-qemu-host-") as scratch:
        host_folder = Path(scratch)
        host = _float_host_engine(host_folder, compiled).run(samples[:count])
        difference = np.abs(outputs.astype(np.float64) - reference.astype(np.float64)).max(axis=1)
        _check_float_bound(difference, outputs, reference, host, samples[:count], content, compiled, host_folder,
                           model_path.name, board)
    predictions = decide_class(outputs)
    check = FloatCheck(float(np.mean(predictions == decide_class(reference))), float(difference.max()),
                       float(np.mean(predictions == decide_class(host))))
    return _result(model_path.name, board, compiled, runs, outputs, predictions, labels, indices, check)


def _float_host_engine(folder: Path, compiled, trace: bool = False):
    from firmware_export.cengine.float_exactness import build_float_engine

    for name, text in compiled.files.items():
        (folder / name).write_text(text)
    return build_float_engine(folder, SYMBOL, compiled.graph, trace=trace)


def _check_float_bound(difference: np.ndarray, outputs: np.ndarray, reference: np.ndarray, host: np.ndarray,
                       samples: np.ndarray, content: bytes, compiled, host_folder: Path, model: str,
                       board: Board) -> None:
    """EdgeMLError when a board output is farther than the bound from BUILTIN_REF's, naming the first such
    sample; the first op beyond the bound comes from the host build's trace when the host diverges there
    too (the board's own per-op outputs are not printed)."""
    from firmware_export.cengine.float_exactness import MAX_ABS_DIFFERENCE, first_divergence

    beyond = np.flatnonzero(difference > MAX_ABS_DIFFERENCE)
    if not beyond.size:
        return
    sample = int(beyond[0])
    host_difference = float(np.abs(host[sample].astype(np.float64) - reference[sample]).max())
    if host_difference > MAX_ABS_DIFFERENCE:
        where = "first op beyond the bound (host build): " + first_divergence(
            content, compiled.graph, _float_host_engine(host_folder, compiled, trace=True), samples[sample])
    else:
        where = (f"the float engine built on this machine is within it there ({host_difference:.3g}): the "
                 f"difference comes from the {board.float_abi}-float build for the board")
    raise EdgeMLError(f"{model} on {board.device}: output differs from LiteRT BUILTIN_REF float by "
                      f"{difference[sample]:.3g} > {MAX_ABS_DIFFERENCE:g} on sample {sample} "
                      f"({beyond.size}/{len(difference)} samples beyond the bound; {where})")


def _check_no_wrap(plain: HarnessRun, profiled: HarnessRun, board: Board, model: str) -> None:
    """SysTick is a 24-bit counter: an invoke longer than 2^24 ticks wraps and reads short. Each op is far
    shorter, so a sample's per-op counts adding up to more than its total (beyond one count per op either
    side and the hooks' own instructions) mean the total wrapped."""
    for sample, op_ticks in enumerate(profiled.op_ticks):
        slack_ticks = len(op_ticks) * (2 + 40 / board.instructions_per_tick)
        if sum(op_ticks.values()) > plain.ticks[sample] + slack_ticks:
            raise EdgeMLError(f"{model} on {board.device}: one invoke runs longer than SysTick's 2^24 counts "
                              f"({2**24 * board.instructions_per_tick:,.0f} instructions); the total cannot be measured")


def _ram(image, run: HarnessRun, compiled) -> dict:
    """RAM of the plain image: ``.data + .bss + stack peak``, split into the model's buffers (arena and
    output, in the harness's .bss), the invoke's stack and the rest (harness)."""
    graph = compiled.graph
    model_buffers = compiled.plan.arena_bytes + graph.tensor(graph.outputs[0]).byte_size
    total = image.static_ram + run.stack_peak_bytes
    return {"total_bytes": total, "data_bytes": image.data_bytes, "bss_bytes": image.bss_bytes,
            "stack_peak_bytes": run.stack_peak_bytes, "model_bytes": model_buffers,
            "engine_stack_bytes": run.invoke_stack_bytes,
            "harness_bytes": total - model_buffers - run.invoke_stack_bytes}


def _host_outputs(folder: Path, files: dict[str, str], quantized: np.ndarray, result) -> np.ndarray:
    from firmware_export.cengine.host import build_executable, run_executable

    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    program = build_executable(folder, SYMBOL, folder / "engine")
    return run_executable(program, quantized, result.element_count, np.dtype(result.dtype).type)


def _tflm_outputs(content: bytes, quantized: np.ndarray, source) -> np.ndarray:
    from edgeml.runtime import open_model, raw_outputs

    interpreter = open_model(content, "tflm")
    shaped = quantized.reshape(len(quantized), *source.shape[1:])
    return raw_outputs(interpreter, shaped).reshape(len(quantized), -1)


def _check_identical(outputs: np.ndarray, reference: np.ndarray, name: str, model: str, board: Board) -> None:
    differing = np.flatnonzero(np.any(outputs != reference.reshape(outputs.shape), axis=1))
    if differing.size:
        first = int(differing[0])
        raise EdgeMLError(f"{model} on {board.device}: outputs differ from {name} on {differing.size}/{len(outputs)} "
                          f"samples (first: sample {first}, {outputs[first].tolist()} vs "
                          f"{reference.reshape(outputs.shape)[first].tolist()})")
