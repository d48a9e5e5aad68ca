"""Run a :mod:`.image` under ``qemu-system-arm`` and read back what the harness printed.

``qemu-system-arm -M <board> -nographic -monitor none -serial none -semihosting-config
enable=on,target=native -icount shift=0 -kernel image.elf``, under a timeout. With ``-icount shift=0``
every instruction advances virtual time by 1 ns, so the SysTick ticks the harness prints times
:attr:`Board.instructions_per_tick` are executed instructions (not cycles), repeatable run to run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from edgeml.errors import EdgeMLError
from firmware_export.mcu.image import LinkedImage

QEMU = "qemu-system-arm"
FAULT_STATUS = 250  # EDGEML_FAULT_STATUS of c/edgeml_mcu.h
DEFAULT_TIMEOUT_S = 600.0
_SAMPLE = re.compile(r"^sample (?P<index>\d+) status (?P<status>-?\d+) ticks (?P<ticks>\d+) "
                     r"stack (?P<stack>\d+) out (?P<outputs>[-\d,]+)$")
_BEGIN = re.compile(r"^begin (?P<index>\d+)$")


@dataclass(frozen=True)
class HarnessRun:
    """What one QEMU run printed: ``outputs`` (samples x output size, int64 values of the model's output
    type), SysTick ``ticks`` per invoke, ``op_ticks`` per sample ({op index: ticks}, profiled images
    only), the first invoke's stack bytes and the whole program's stack peak (by stack painting)."""

    outputs: np.ndarray
    ticks: tuple[int, ...]
    op_ticks: tuple[dict[int, int], ...]
    invoke_stack_bytes: int
    stack_peak_bytes: int


def qemu_command(image: LinkedImage) -> list[str]:
    return [QEMU, "-M", image.board.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(image.elf)]


def run_image(image: LinkedImage, timeout_s: float = DEFAULT_TIMEOUT_S) -> HarnessRun:
    """Run ``image`` once. A hang (no exit within ``timeout_s``), a fault, a non-zero exit or output the
    harness would not print is one EdgeMLError naming the board and the last sample started."""
    if shutil.which(QEMU) is None:
        raise EdgeMLError(f"{QEMU} not found: the QEMU benchmark runs Cortex-M images in it "
                          "(Debian/Ubuntu: sudo apt install qemu-system-arm)")
    where = f"{QEMU} -M {image.board.machine} ({image.board.device})"
    try:
        process = subprocess.run(qemu_command(image), capture_output=True, text=True, timeout=timeout_s,
                                 stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        printed = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                          for part in (exc.stdout, exc.stderr))
        raise EdgeMLError(f"{where} hung: no exit within {timeout_s:g} s, {_last_sample(printed)}") from None
    except OSError as exc:
        raise EdgeMLError(f"{where} could not start: {exc}") from None
    printed = process.stdout + process.stderr  # QEMU 7.2 writes the semihosting console to stderr
    if process.returncode == FAULT_STATUS:
        raise EdgeMLError(f"{where}: the Cortex-M faulted (hard fault), {_last_sample(printed)}")
    if process.returncode != 0:
        detail = printed.strip().splitlines()[-1:] or ["no output"]
        raise EdgeMLError(f"{where} exited with status {process.returncode}, {_last_sample(printed)}: "
                          f"{detail[0][:300]}")
    return parse_harness_output(printed, image.sample_count, where)


def _last_sample(printed: str) -> str:
    started = [int(match["index"]) for match in map(_BEGIN.match, printed.splitlines()) if match]
    return f"during sample {started[-1]}" if started else "before the first sample"


def parse_harness_output(printed: str, sample_count: int, where: str = QEMU) -> HarnessRun:
    """The harness's lines -> :class:`HarnessRun`; EdgeMLError if a sample, its status or the end is missing.

    >>> run = parse_harness_output("edgeml-harness samples 1\\nbegin 0\\n"
    ...     "sample 0 status 0 ticks 12 stack 96 out -3,7\\nops 0:5 2:6\\nstack_peak 200\\nend\\n", 1)
    >>> run.outputs.tolist(), run.ticks, run.op_ticks, run.invoke_stack_bytes, run.stack_peak_bytes
    ([[-3, 7]], (12,), ({0: 5, 2: 6},), 96, 200)
    """
    lines = printed.splitlines()
    outputs, ticks, op_ticks, stack = [], [], [], 0
    for position, line in enumerate(lines):
        match = _SAMPLE.match(line)
        if not match:
            continue
        if int(match["status"]) != 0:
            raise EdgeMLError(f"{where}: the engine's invoke returned {match['status']} on sample {match['index']}")
        if int(match["index"]) != len(outputs):
            raise EdgeMLError(f"{where}: sample {match['index']} printed out of order")
        outputs.append([int(value) for value in match["outputs"].split(",")])
        ticks.append(int(match["ticks"]))
        stack = stack or int(match["stack"])
        following = lines[position + 1] if position + 1 < len(lines) else ""
        if following.startswith("ops"):
            op_ticks.append({int(op): int(count) for op, count in
                             (pair.split(":") for pair in following.split()[1:])})
    peak = [int(line.split()[1]) for line in lines if line.startswith("stack_peak ")]
    if len(outputs) != sample_count or not peak or "end" not in lines:
        raise EdgeMLError(f"{where} printed {len(outputs)} of {sample_count} samples and "
                          f"{'no' if 'end' not in lines else 'an'} end line: {printed.strip()[-300:]!r}")
    return HarnessRun(np.asarray(outputs, dtype=np.int64), tuple(ticks), tuple(op_ticks), stack, peak[0])
