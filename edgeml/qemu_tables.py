"""The text and Markdown tables of ``qemu:`` benchmark rows (issues 13 and 15), from typed
:class:`edgeml.measurement.Measurement` rows: each model's accuracy, agreement, instructions per inference,
flash and RAM with their parts and per-op counts, then float32 against int8 per board
(:func:`edgeml.measurement.board_pairs`), then what is counted. :mod:`edgeml.qemu_target` measures the rows;
:mod:`edgeml.benchmark` prints and writes these tables.
"""

from __future__ import annotations

from typing import Sequence

from edgeml.measurement import BoardPair, HostInfo, ImageBytes, Measurement, OpInstructions, Variant, board_pairs
from edgeml.text_tables import aligned_table

INSTRUCTIONS_NOTE = ("instructions, not cycles: QEMU -icount counts executed instructions (no pipeline, "
                     "flash wait states or FPU latency); SysTick resolution {resolution:g} instructions per count")
ROW_COLUMNS = ("device", "model", "samples", "acc", "agree", "instr/inference", "flash B", "RAM B")
PAIR_COLUMNS = ("device", "float ABI", "samples", "acc f32", "acc int8", "instr f32", "instr int8", "int8/f32",
                "flash f32", "flash int8", "RAM f32", "RAM int8", "RAM f32/int8")
PAIR_NOTE = ("float32 and int8 on each board, the same samples: instructions per inference and their int8/float32 "
             "ratio (below 1: int8 executes fewer), flash of the engine and model (kernels, libm and soft-float "
             "routines, weights, invoke; not the embedded samples) and RAM (data + bss + stack peak) bytes of each image")


def engine_flash(row: Measurement) -> int:
    """Flash bytes of the engine and the model in a row's image: what the firmware needs besides its own
    code (the embedded test samples, 4 bytes per value in a float32 image, and the harness left out)."""
    return row.image_flash.part("engine_bytes") + row.image_flash.part("model_bytes")


def measured_pairs(rows: Sequence[Measurement]) -> list[BoardPair]:
    """The boards with both a measured float32 and a measured int8 row of the run, in the rows' order.

    >>> from edgeml.measurement import InstructionCounts
    >>> row = lambda model, count: Measurement(model, "c", "qemu:cortex-m3", device="qemu:cortex-m3",
    ...                                        instructions=InstructionCounts(count, None, None, 40.0, (), None))
    >>> [pair.int8_over_float32_instructions for pair in measured_pairs([row("model_int8.tflite", 250.0),
    ...                                                                 row("model_float32.tflite", 1000.0)])]
    [0.25]
    """
    return [pair for pair in board_pairs(rows) if pair.float32 is not None and pair.int8 is not None]


def _parts(flash: ImageBytes) -> str:
    samples = flash.part("samples_bytes")
    return (f"engine {flash.part('engine_bytes'):,} + model {flash.part('model_bytes'):,} + harness "
            f"{flash.part('harness_bytes'):,}" + ("" if samples is None else f" + samples {samples:,}"))


def _ram_parts(ram: ImageBytes) -> str:
    return (f"model buffers {ram.part('model_bytes'):,} + engine stack {ram.part('engine_stack_bytes'):,} + "
            f"harness {ram.part('harness_bytes'):,}")


def _op_line(op: OpInstructions) -> str:
    per_mac = "" if op.instructions_per_mac is None else f", {op.macs:,} MACs, {op.instructions_per_mac:.2f} per MAC"
    return f"op {op.op_index} {op.op}: {op.instructions:,.0f} instructions{per_mac}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _agreement(row: Measurement) -> float:
    """int8: agreement with the host C engine and TFLM (1.0, byte-identical); float32: the lower top-class
    agreement of the two references, LiteRT BUILTIN_REF and the host float C engine."""
    other = row.agreement_with_litert_ref if row.variant is Variant.FLOAT32 else row.agreement_with_tflm
    return min(row.agreement_with_host_c, other)


def _float_line(row: Measurement) -> str | None:
    if row.variant is not Variant.FLOAT32:
        return None
    return (f"float32, {row.float_abi} float: top class as LiteRT BUILTIN_REF on "
            f"{row.agreement_with_litert_ref:.0%} and as the float C engine built here on "
            f"{row.agreement_with_host_c:.0%} of the samples; max |output difference| from BUILTIN_REF "
            f"{row.max_abs_difference:.3g}")


def _accuracy(row: Measurement) -> str:
    return "" if row.accuracy is None else f"{row.accuracy:.4f}"


def _pair_cells(pair: BoardPair) -> list[str]:
    f32, int8 = pair.float32, pair.int8
    return [pair.device, f32.float_abi, str(f32.samples), _accuracy(f32), _accuracy(int8),
            f"{f32.instructions.per_inference:,.0f}", f"{int8.instructions.per_inference:,.0f}",
            f"{pair.int8_over_float32_instructions:.3f}", f"{engine_flash(f32):,}", f"{engine_flash(int8):,}",
            f"{f32.image_ram.total:,}", f"{int8.image_ram.total:,}", f"{pair.float32_over_int8_ram:.2f}"]


def _what_is_counted(rows: Sequence[Measurement]) -> str | None:
    resolutions = sorted({row.instructions.resolution for row in rows if row.instructions is not None})
    if not resolutions:
        return None
    return ("agree: int8 outputs byte-identical to the C engine built here and the tflite-micro interpreter; "
            "float32: top class as LiteRT BUILTIN_REF and the float C engine built here. "
            + _sentence(INSTRUCTIONS_NOTE.format(resolution=resolutions[-1]))
            + (" (62.5 on the micro:bit, 40 on mps2)" if len(resolutions) > 1 else "") + ".")


def format_qemu_table(rows: Sequence[Measurement]) -> str:
    """The printed table of ``qemu:`` rows, each followed by its ops, then float32 against int8 per board,
    and the footer on what is counted."""
    cells = [[row.device, row.model] + ([""] * 6 if row.not_measured else
             [str(row.samples), _accuracy(row), f"{_agreement(row):.0%}", f"{row.instructions.per_inference:,.0f}",
              f"{row.image_flash.total:,}", f"{row.image_ram.total:,}"]) for row in rows]
    header, *row_lines = aligned_table(cells, ROW_COLUMNS, "plain", text_columns=2).splitlines()
    lines = [header]
    for row, line in zip(rows, row_lines):
        if row.not_measured:  # its line is the device and model alone (no trailing blanks)
            lines.append(f"{line} not measured: {row.not_measured}")
            continue
        lines.append(line)
        lines += [f"    {_op_line(op)}" for op in row.instructions.per_op]
        lines.append(f"    flash: {_parts(row.image_flash)}; RAM: {_ram_parts(row.image_ram)}")
        lines += [f"    {line}" for line in [_float_line(row)] if line]
    pairs = measured_pairs(rows)
    if pairs:
        lines += ["", _sentence(PAIR_NOTE) + ":",
                  aligned_table([_pair_cells(pair) for pair in pairs], PAIR_COLUMNS, "plain", text_columns=0)]
    footer = _what_is_counted(rows)
    return "\n".join(lines + ([footer] if footer else []))


def format_qemu_markdown(rows: Sequence[Measurement], host: HostInfo, skipped: Sequence[str] = ()) -> str:
    """benchmark.md for ``qemu:`` rows only: one table, the ops of each model, what is counted, and what was
    ``skipped`` (why)."""
    what, *body = qemu_markdown_lines(rows)
    lines = ["# edgeml benchmark on an emulated Cortex-M", "", f"Host: {host.cpu} ({host.cores} cores). {what}", *body]
    if skipped:
        lines += ["", "Not measured:", ""] + [f"- {reason}" for reason in skipped]
    return "\n".join(lines) + "\n"


def _agreement_cell(row: Measurement) -> str:
    if row.variant is not Variant.FLOAT32:
        return f"{row.agreement_with_host_c:.0%}, {row.agreement_with_tflm:.0%}"
    return (f"{row.agreement_with_litert_ref:.0%}, {row.agreement_with_host_c:.0%} ({row.float_abi} float; largest "
            f"output difference {row.max_abs_difference:.3g})")


def qemu_markdown_lines(rows: Sequence[Measurement]) -> list[str]:
    """Markdown of ``qemu:`` rows: what the numbers are, the table (a row not measured says why and what to
    install), float32 against int8 per board, each measured model's flash, RAM and ops, and what is counted."""
    lines = ["Instructions per inference: mean over the embedded class-balanced test samples, one QEMU run "
             "(-icount shift=0; repeatable run to run).", "",
             "| device | board | model | samples | accuracy | agreement (int8: host C, TFLM; float32: LiteRT "
             "BUILTIN_REF, host C) | instructions / inference | flash B | RAM B |", "|---" * 9 + "|"]
    measured = [row for row in rows if not row.not_measured]
    for row in rows:
        if row.not_measured:
            lines.append(f"| {row.device} | {row.board} | {row.model} | not measured: {row.not_measured} | | | | | |")
            continue
        lines.append(f"| {row.device} | {row.board} | {row.model} | {row.samples} | {_accuracy(row)} | "
                     f"{_agreement_cell(row)} | {row.instructions.per_inference:,.0f} | {row.image_flash.total:,} | "
                     f"{row.image_ram.total:,} |")
    pairs = measured_pairs(rows)
    if pairs:
        lines += ["", _sentence(PAIR_NOTE) + ".", "", "| " + " | ".join(PAIR_COLUMNS) + " |",
                  "|---" * len(PAIR_COLUMNS) + "|"]
        lines += ["| " + " | ".join(_pair_cells(pair)) + " |" for pair in pairs]
    for row in measured:
        lines += ["", f"{row.model} on {row.device}: flash {_parts(row.image_flash)}; "
                      f"RAM {_ram_parts(row.image_ram)} (data + bss + stack peak by stack painting).", ""]
        lines += [f"- {_op_line(op)}" for op in row.instructions.per_op]
    if measured:
        lines += ["", "Counts are " + INSTRUCTIONS_NOTE.format(resolution=measured[0].instructions.resolution)
                  + "; an M4 and an M7 give the same counts."]
    return lines
