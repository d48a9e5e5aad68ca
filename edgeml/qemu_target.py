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
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.runtime import TensorQuantization, decide_class
from firmware_export.mcu.boards import Board
from firmware_export.mcu.qemu import DEFAULT_TIMEOUT_S, HarnessRun

SYMBOL = "model"
PROFILED_SAMPLES = 10  # the per-op counts barely vary with the data: the profiling image runs the first ten
_MAC_KERNELS = ("fully_connected", "conv_2d", "depthwise_conv_2d", "conv_pool")
INSTRUCTIONS_NOTE = ("instructions, not cycles: QEMU -icount counts executed instructions (no pipeline, "
                     "flash wait states or FPU latency); SysTick resolution {resolution:g} instructions per count")


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


def not_measured_row(model: str, board: Board, reason: str) -> dict:
    """A benchmark.json row for ``model`` on ``board`` that could not be measured: the keys of
    :meth:`QemuResult.to_row`, every measurement None, and ``not_measured`` the reason."""
    return {"model": model, "runtime": "c", "source": board.device, "device": board.device, "machine": board.machine,
            "samples": 0, "accuracy": None, "agreement_with_host_c": None, "agreement_with_tflm": None,
            "instructions": None, "flash": None, "ram": None, "predictions": [], "not_measured": reason}


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

    def to_row(self) -> dict:
        """A benchmark.json row: agreement with the host C engine and TFLM is 1.0 (else this is an error)."""
        board = self.board
        return {
            "model": self.model, "runtime": "c", "source": board.device, "device": board.device,
            "machine": board.machine, "samples": self.samples, "accuracy": self.accuracy,
            "agreement_with_host_c": 1.0, "agreement_with_tflm": 1.0,
            "instructions": {
                "per_inference": self.instructions_per_inference, "min": self.instructions_range[0],
                "max": self.instructions_range[1], "resolution": board.instructions_per_tick,
                "per_op": [op.to_json() for op in self.ops],
                "note": INSTRUCTIONS_NOTE.format(resolution=board.instructions_per_tick)},
            "flash": self.flash, "ram": self.ram, "predictions": list(self.predictions), "not_measured": None,
        }


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
    from edgeml.runtime import TensorQuantization
    from firmware_export.cengine.generate import compile_model
    from firmware_export.mcu.image import ImageSources, build_image
    from firmware_export.mcu.qemu import run_image

    content = model_path.read_bytes()
    compiled = compile_model(content, SYMBOL, str(model_path))
    graph = compiled.graph
    source, result = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    input_dtype = np.dtype(source.dtype).type
    wanted = len(inputs) if options.max_samples is None else options.max_samples
    indices = balanced_indices(labels, wanted) if labels is not None else np.arange(min(wanted, len(inputs)))
    quantized = TensorQuantization(input_dtype, source.scale, source.zero_point).quantize(
        np.asarray(inputs, dtype=np.float32)[indices]).reshape(len(indices), -1)
    sources = ImageSources(compiled.files, SYMBOL, tuple(call.op_index for call in compiled.lowered.calls),
                           input_dtype, model_path.name)
    description = f"class-balanced test samples for {model_path.name}"
    with tempfile.TemporaryDirectory(prefix="edgeml-qemu-") as scratch:
        folder = Path(scratch)
        plain = build_image(sources, board, quantized, folder, profiled=False, description=description)
        count = plain.sample_count
        profiled = build_image(sources, board, quantized[:min(count, PROFILED_SAMPLES)], folder, profiled=True,
                               description=description)
        plain_run = run_image(plain, options.timeout_s)
        profiled_run = run_image(profiled, options.timeout_s)
        host = _host_outputs(folder / "host", compiled.files, quantized[:count], result)
    tflm = _tflm_outputs(content, quantized[:count], source)
    output_dtype = np.dtype(result.dtype).type
    outputs = plain_run.outputs.astype(output_dtype)
    _check_identical(outputs[:profiled.sample_count], profiled_run.outputs.astype(output_dtype), "the profiling image",
                     model_path.name, board)
    for name, reference in (("the C engine built on this machine", host), ("the tflite-micro interpreter", tflm)):
        _check_identical(outputs, reference, name, model_path.name, board)
    output_quantization = TensorQuantization(output_dtype, float(result.scales[0]) if result.scales else 0.0,
                                             int(result.zero_points[0]) if result.zero_points else 0)
    predictions = decide_class(outputs, output_quantization)  # a one-unit sigmoid decides at p >= 0.5
    accuracy = float(np.mean(predictions == np.asarray(labels)[indices[:count]])) if labels is not None else None
    per_tick = board.instructions_per_tick
    instructions = np.asarray(plain_run.ticks, dtype=np.float64) * per_tick
    ops = tuple(
        OpCount(call.op_index, call.op_name, call.kernel,
                round(float(np.mean([run[call.op_index] for run in profiled_run.op_ticks])) * per_tick, 1),
                macs_of(graph, call, compiled.fusions))
        for call in compiled.lowered.calls)
    _check_no_wrap(plain_run, profiled_run, board, model_path.name)
    return QemuResult(model_path.name, board, count, accuracy, outputs, round(float(np.mean(instructions)), 1),
                      (float(instructions.min()), float(instructions.max())), ops,
                      plain.flash.to_json(), _ram(plain, plain_run, compiled), tuple(int(p) for p in predictions))


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


def _parts(part: dict) -> str:
    return (f"engine {part['engine_bytes']:,} + model {part['model_bytes']:,} + harness {part['harness_bytes']:,}"
            + (f" + samples {part['samples_bytes']:,}" if "samples_bytes" in part else ""))


def _ram_parts(ram: dict) -> str:
    return (f"model buffers {ram['model_bytes']:,} + engine stack {ram['engine_stack_bytes']:,} + "
            f"harness {ram['harness_bytes']:,}")


def _op_line(op: dict) -> str:
    per_mac = "" if op["instructions_per_mac"] is None else (
        f", {op['macs']:,} MACs, {op['instructions_per_mac']:.2f} per MAC")
    return f"op {op['op_index']} {op['op']}: {op['instructions']:,.0f} instructions{per_mac}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def format_qemu_table(rows) -> str:
    """The printed table of ``qemu:`` rows, each followed by its ops, and the footer on what is counted."""
    header = (f"{'device':<16} {'model':<22} {'samples':>7} {'acc':>7} {'agree':>6} {'instr/inference':>15} "
              f"{'flash B':>9} {'RAM B':>8}")
    lines = [header]
    for row in rows:
        if row.get("not_measured"):
            lines.append(f"{row['device']:<16} {row['model'][:22]:<22} not measured: {row['not_measured']}")
            continue
        lines.append(f"{row['device']:<16} {row['model'][:22]:<22} {row['samples']:>7} "
                     f"{'' if row['accuracy'] is None else format(row['accuracy'], '.4f'):>7} "
                     f"{min(row['agreement_with_host_c'], row['agreement_with_tflm']):>6.0%} "
                     f"{row['instructions']['per_inference']:>15,.0f} {row['flash']['total_bytes']:>9,} "
                     f"{row['ram']['total_bytes']:>8,}")
        lines += [f"    {_op_line(op)}" for op in row["instructions"]["per_op"]]
        lines.append(f"    flash: {_parts(row['flash'])}; RAM: {_ram_parts(row['ram'])}")
    resolutions = sorted({row["instructions"]["resolution"] for row in rows if row.get("instructions")})
    if resolutions:
        lines.append("agree: outputs byte-identical to the C engine built here and the tflite-micro interpreter. "
                     + _sentence(INSTRUCTIONS_NOTE.format(resolution=resolutions[-1]))
                     + (" (62.5 on the micro:bit, 40 on mps2)" if len(resolutions) > 1 else "") + ".")
    return "\n".join(lines)


def format_qemu_markdown(report) -> str:
    """benchmark.md for ``qemu:`` rows only: one table, the ops of each model, what is counted."""
    what, *body = qemu_markdown_lines(report.rows)
    lines = ["# edgeml benchmark on an emulated Cortex-M", "",
             f"Host: {report.host['cpu']} ({report.host['cores']} cores). {what}", *body]
    if report.skipped:
        lines += ["", "Not measured:", ""] + [f"- {reason}" for reason in report.skipped]
    return "\n".join(lines) + "\n"


def qemu_markdown_lines(rows) -> list[str]:
    """Markdown of ``qemu:`` rows: what the numbers are, the table (a row not measured says why and what to
    install), each measured model's flash, RAM and ops, and what is counted."""
    lines = ["Instructions per inference: mean over the embedded class-balanced test samples, one QEMU run "
             "(-icount shift=0; repeatable run to run).", "",
             "| device | board | model | samples | accuracy | agreement (host C, TFLM) | instructions / inference | "
             "flash B | RAM B |", "|---" * 9 + "|"]
    measured = [row for row in rows if not row.get("not_measured")]
    for row in rows:
        if row.get("not_measured"):
            lines.append(f"| {row['device']} | {row['machine']} | {row['model']} | not measured: "
                         f"{row['not_measured']} | | | | | |")
            continue
        accuracy = "" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        lines.append(f"| {row['device']} | {row['machine']} | {row['model']} | {row['samples']} | {accuracy} | "
                     f"{row['agreement_with_host_c']:.0%}, {row['agreement_with_tflm']:.0%} | "
                     f"{row['instructions']['per_inference']:,.0f} | {row['flash']['total_bytes']:,} | "
                     f"{row['ram']['total_bytes']:,} |")
    for row in measured:
        lines += ["", f"{row['model']} on {row['device']}: flash {_parts(row['flash'])}; "
                      f"RAM {_ram_parts(row['ram'])} (data + bss + stack peak by stack painting).", ""]
        lines += [f"- {_op_line(op)}" for op in row["instructions"]["per_op"]]
    if measured:
        lines += ["", "Counts are " + INSTRUCTIONS_NOTE.format(
            resolution=measured[0]["instructions"]["resolution"]) + "; an M4 and an M7 give the same counts."]
    return lines
