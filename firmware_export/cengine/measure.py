"""What the generated engine costs on a Cortex-M4, measured from the compiler's own output.

- **Stack of one invoke**: every ``.c`` file is compiled with ``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb
  -Os -fstack-usage -fcallgraph-info=su``. Each function's frame comes from its ``.su`` line (bytes the
  function itself pushes, saved registers and LR included); the call graph from the ``.ci`` files (VCG
  format, one per translation unit). The invoke's stack is the largest sum of frames along any call
  chain from ``<symbol>_invoke`` down to a leaf; functions inlined by ``-Os`` are inside their caller's
  frame. A frame GCC marks ``dynamic``, a recursion, or a call into a function none of the objects
  defines (a libgcc helper) makes the number unknowable, and it is reported as not measured.
- **Flash**: the objects linked with ``--gc-sections`` and ``<symbol>_invoke`` as the entry, so only
  reachable code and constants count; ``arm-none-eabi-size`` gives text (code + rodata) + data. The
  model part is ``<symbol>_model.o`` (its invoke and constants, all reachable); the kernels part is
  the linked total minus it.
- **TFLite Micro's arena** for comparison: edgeml's arena search (:mod:`firmware_export.arena`),
  smallest arena with which the tflite-micro interpreter (64-bit host) allocates and invokes, no margin.

A missing tool or a failed step is a reason string (``"not measured: ..."``), never a default number.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeml.errors import EdgeMLError

CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-ffunction-sections", "-fdata-sections")
ARM_GCC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
_SU_LINE = re.compile(r"^(?P<where>.*):(?P<function>[^:\t]+)\t(?P<bytes>\d+)\t(?P<kind>[\w,]+)$")
_CI_NODE = re.compile(r'node: \{ title: "(?P<title>[^"]+)" label: "(?P<label>[^"]*)"')
_CI_EDGE = re.compile(r'edge: \{ sourcename: "(?P<source>[^"]+)" targetname: "(?P<target>[^"]+)"')
_CI_FRAME = re.compile(r"\\n(?P<bytes>\d+) bytes \((?P<kind>[\w,]+)\)")


@dataclass(frozen=True)
class StackUsage:
    """``bytes`` of stack one invoke needs: the frames of ``chain`` (caller first), each in ``frames``.
    A static function's name is ``file.c:name``, as in the call-graph files."""

    bytes: int
    chain: tuple[str, ...]
    frames: tuple[int, ...]

    def describe(self) -> str:
        return " + ".join(f"{name.rsplit(':', 1)[-1]} {size}"
                          for name, size in zip(self.chain, self.frames)) + f" = {self.bytes} B"


@dataclass(frozen=True)
class FlashUsage:
    """Bytes of flash (text + data of the linked, garbage-collected Cortex-M4 image)."""

    total_bytes: int
    model_bytes: int
    kernels_bytes: int


@dataclass(frozen=True)
class Measurement:
    """A value or the reason it could not be measured (exactly one is set)."""

    value: object = None
    not_measured: str | None = None

    def as_json(self):
        return self.value if self.not_measured is None else f"not measured: {self.not_measured}"


@dataclass(frozen=True)
class CortexM4Build:
    stack: Measurement  # StackUsage
    flash: Measurement  # FlashUsage


def frames_from_su(text: str) -> dict[str, tuple[int, str]]:
    """``-fstack-usage`` lines -> {function: (bytes, qualifier)}.

    >>> frames_from_su("edgeml_add.c:13:6:edgeml_add\\t32\\tstatic\\nx.c:1:2:f\\t8\\tdynamic,bounded\\n")
    {'edgeml_add': (32, 'static'), 'f': (8, 'dynamic,bounded')}
    """
    frames = {}
    for line in text.splitlines():
        match = _SU_LINE.match(line.strip())
        if match:
            frames[match["function"]] = (int(match["bytes"]), match["kind"])
    return frames


def call_graph(ci_texts: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, set[str]]]:
    """The ``-fcallgraph-info=su`` files -> ({node: (frame bytes, qualifier)}, {caller: callees}).

    Static functions are titled ``file.c:name``; a node without a frame is only declared in that unit."""
    frames: dict[str, tuple[int, str]] = {}
    calls: dict[str, set[str]] = {}
    for text in ci_texts:
        for match in _CI_NODE.finditer(text):
            frame = _CI_FRAME.search(match["label"])
            if frame:
                frames[match["title"]] = (int(frame["bytes"]), frame["kind"])
        for match in _CI_EDGE.finditer(text):
            calls.setdefault(match["source"], set()).add(match["target"])
    return frames, calls


INDIRECT_CALL = "__indirect_call"  # GCC's -fcallgraph-info name for a call through a function pointer


def deepest_chain(root: str, frames: dict[str, tuple[int, str]], calls: dict[str, set[str]]) -> StackUsage:
    """The call chain from ``root`` with the largest sum of frames.

    >>> frames = {"invoke": (16, "static"), "conv": (88, "static"), "requantize": (8, "static"),
    ...           "softmax": (56, "static")}
    >>> deepest_chain("invoke", frames, {"invoke": {"conv", "softmax"}, "conv": {"requantize"}}).describe()
    'invoke 16 + conv 88 + requantize 8 = 112 B'

    A call through a function pointer is bounded by the deepest function it could reach:

    >>> frames = {"invoke": (16, "static"), "loop": (24, "static"), "add.c:add_one": (8, "static"),
    ...           "mul.c:mul_one": (12, "static"), "pad": (40, "static")}
    >>> deepest_chain("invoke", frames, {"invoke": {"loop"}, "loop": {INDIRECT_CALL}}).describe()
    'invoke 16 + loop 24 + mul_one 12 = 52 B'
    """
    best: dict[str, tuple[int, tuple[str, ...]]] = {}
    indirect: dict[str, bool] = {}

    def calls_indirectly(name: str, path: tuple[str, ...] = ()) -> bool:
        if name not in indirect:
            callees = calls.get(name, set()) - set(path) - {name}
            indirect[name] = INDIRECT_CALL in callees or any(
                calls_indirectly(callee, path + (name,)) for callee in callees if callee != INDIRECT_CALL)
        return indirect[name]

    def visit(name: str, path: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
        if name == INDIRECT_CALL:
            # A call through a function pointer (the broadcasting loop's per-element function): bounded by
            # the deepest chain of any function that could be its target. The kernels take the address of
            # file-local (static, titled "file.c:name") functions only, so the candidates are the static
            # functions no one calls directly and that make no indirect call themselves (an over-estimate).
            called = set().union(*calls.values()) if calls else set()
            targets = [target for target in sorted(frames) if ":" in target and target not in called
                       and frames[target][1] == "static" and not calls_indirectly(target)]
            return max((visit(target, path) for target in targets), default=(0, ()), key=lambda item: item[0])
        if name in path:
            raise EdgeMLError(f"recursion through {name}: the stack has no static bound")
        if name not in frames:
            raise EdgeMLError(f"{name} is called but no object defines it (a library call without a frame size)")
        size, kind = frames[name]
        if kind != "static":
            raise EdgeMLError(f"{name} has a {kind} stack frame")
        if name not in best:
            below = [visit(callee, path + (name,)) for callee in sorted(calls.get(name, ()))]
            deepest = max(below, default=(0, ()), key=lambda item: item[0])
            best[name] = (size + deepest[0], (name,) + deepest[1])
        return best[name]

    total, chain = visit(root, ())
    return StackUsage(total, chain, tuple(frames[name][0] for name in chain))


def measure_cortex_m4(folder: Path, symbol: str, with_stack: bool = True) -> CortexM4Build:
    """Stack of ``<symbol>_invoke`` and flash of the engine in ``folder``, built for a Cortex-M4
    (``with_stack=False``: flash only, the stack says it was not asked for)."""
    for tool in (ARM_GCC, ARM_SIZE):
        if shutil.which(tool) is None:
            reason = f"{tool} is not installed (Debian/Ubuntu: sudo apt install gcc-arm-none-eabi)"
            return CortexM4Build(Measurement(not_measured=reason), Measurement(not_measured=reason))
    with tempfile.TemporaryDirectory(prefix="edgeml-m4-") as scratch:
        build = Path(scratch)
        try:
            objects = _compile(folder, build)
        except (EdgeMLError, OSError) as error:
            return CortexM4Build(Measurement(not_measured=str(error)), Measurement(not_measured=str(error)))
        stack = _stack(build, symbol) if with_stack else Measurement(not_measured="not asked for")
        flash = _flash(build, objects, symbol)
    return CortexM4Build(stack, flash)


def _compile(folder: Path, build: Path) -> list[Path]:
    objects = []
    for source in sorted(Path(folder).glob("*.c")):
        target = build / (source.stem + ".o")
        command = [ARM_GCC, *CORTEX_M4_FLAGS, "-fstack-usage", "-fcallgraph-info=su", f"-I{folder}", "-c",
                   str(source), "-o", str(target)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=build)
        if result.returncode != 0:
            raise EdgeMLError(f"{ARM_GCC} failed on {source.name}: {result.stderr.strip()[:500]}")
        objects.append(target)
    return objects


def _stack(build: Path, symbol: str) -> Measurement:
    frames, calls = call_graph([path.read_text() for path in sorted(build.glob("*.ci"))])
    try:
        usage = deepest_chain(f"{symbol}_invoke", frames, calls)
    except EdgeMLError as error:
        return Measurement(not_measured=str(error))
    su_frames = su_frames_of_chain(build, usage.chain)
    if su_frames != usage.frames:
        return Measurement(not_measured=f"the call graph's frames {usage.frames} are not the .su files' {su_frames}")
    return Measurement(usage)


def su_frames_of_chain(build: Path, chain: tuple[str, ...]) -> tuple[int, ...]:
    """The ``.su`` frame of each function of ``chain``: a static ``file.c:name`` from ``file.su``, a
    global name from whichever ``.su`` defines it (0 if none does, which no chain should contain)."""
    by_unit = {path.stem: frames_from_su(path.read_text()) for path in sorted(build.glob("*.su"))}
    sizes = []
    for title in chain:
        unit, _, name = title.rpartition(":")
        tables = [by_unit.get(Path(unit).stem, {})] if unit else list(by_unit.values())
        sizes.append(next((table[name][0] for table in tables if name in table), 0))
    return tuple(sizes)


def _flash(build: Path, objects: list[Path], symbol: str) -> Measurement:
    elf = build / "engine.elf"
    link = [ARM_GCC, "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-Wl,--gc-sections", f"-Wl,-e,{symbol}_invoke",
            *map(str, objects), "-lgcc", "-o", str(elf)]
    result = subprocess.run(link, capture_output=True, text=True)
    if result.returncode != 0:
        return Measurement(not_measured=f"linking for Cortex-M4 failed: {result.stderr.strip()[:500]}")
    try:
        total = text_plus_data(elf)
        model = text_plus_data(build / f"{symbol}_model.o")
    except EdgeMLError as error:
        return Measurement(not_measured=str(error))
    return Measurement(FlashUsage(total, model, total - model))


def text_plus_data(path: Path) -> int:
    """text + data of ``arm-none-eabi-size`` (Berkeley format) for one object or image."""
    result = subprocess.run([ARM_SIZE, str(path)], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or len(lines) != 2:
        raise EdgeMLError(f"{ARM_SIZE} failed on {path.name}: {result.stderr.strip()[:300]}")
    text, data = (int(field) for field in lines[1].split()[:2])
    return text + data


def tflm_minimum_arena(model: bytes) -> Measurement:
    """TFLite Micro's smallest arena for ``model`` from edgeml's arena search (no margin)."""
    try:
        from edgeml.tflite_model import read_tflite_bytes
        from firmware_export.arena import measure_arena

        return Measurement(measure_arena(model, read_tflite_bytes(model).inputs, margin_percent=0).minimum_bytes)
    except (EdgeMLError, ImportError) as error:
        return Measurement(not_measured=f"the tflite-micro arena search failed: {error}")


@dataclass(frozen=True)
class EngineMemory:
    """RAM and flash of one compiled engine next to TFLite Micro's arena (the ``memory`` of engine.json).

    RAM = arena + input buffer + output buffer + invoke stack: TFLM's arena holds its input and output
    tensors too, and the engine's caller must own those buffers, so both sides count them."""

    arena_bytes: int
    liveness_floor_bytes: int
    input_bytes: int
    output_bytes: int
    tflite_bytes: int
    cortex_m4: CortexM4Build
    tflm_arena: Measurement

    @property
    def ram_bytes(self) -> Measurement:
        if self.cortex_m4.stack.not_measured:
            return Measurement(not_measured=f"no invoke stack ({self.cortex_m4.stack.not_measured})")
        return Measurement(self.arena_bytes + self.input_bytes + self.output_bytes + self.cortex_m4.stack.value.bytes)

    @property
    def ram_percent_of_tflm(self) -> Measurement:
        for part in (self.ram_bytes, self.tflm_arena):
            if part.not_measured:
                return part
        return Measurement(round(100 * self.ram_bytes.value / self.tflm_arena.value, 1))

    def as_json(self) -> dict:
        stack, flash = self.cortex_m4.stack, self.cortex_m4.flash
        return {
            "ram_bytes": self.ram_bytes.as_json(),
            "arena_bytes": self.arena_bytes,
            "liveness_floor_bytes": self.liveness_floor_bytes,
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "invoke_stack_bytes": stack.value.bytes if stack.value else stack.as_json(),
            "invoke_stack_chain": stack.value.describe() if stack.value else stack.as_json(),
            "tflm_minimum_arena_bytes": self.tflm_arena.as_json(),
            "ram_percent_of_tflm_arena": self.ram_percent_of_tflm.as_json(),
            "flash_bytes": ({"total": flash.value.total_bytes, "model": flash.value.model_bytes,
                             "kernels": flash.value.kernels_bytes} if flash.value else flash.as_json()),
            "tflite_bytes": self.tflite_bytes,
            "how": "Cortex-M4 build: " + " ".join((ARM_GCC, *CORTEX_M4_FLAGS)) + "; stack = largest sum of "
                   "-fstack-usage frames along a call chain from invoke (-fcallgraph-info); flash = text + data "
                   "of the image linked with --gc-sections; TFLM arena = edgeml's arena search, no margin",
        }


def measure_engine(files: dict[str, str], symbol: str, model: bytes, arena_bytes: int, liveness_floor_bytes: int,
                   input_bytes: int, output_bytes: int, with_tflm: bool = True) -> EngineMemory:
    """Measure the generated ``files`` (written to a temporary folder) on a Cortex-M4 build."""
    with tempfile.TemporaryDirectory(prefix="edgeml-engine-") as scratch:
        for name, text in files.items():
            (Path(scratch) / name).write_text(text)
        build = measure_cortex_m4(Path(scratch), symbol)
    tflm_arena = tflm_minimum_arena(model) if with_tflm else Measurement(not_measured="not asked for")
    return EngineMemory(arena_bytes, liveness_floor_bytes, input_bytes, output_bytes, len(model), build, tflm_arena)
