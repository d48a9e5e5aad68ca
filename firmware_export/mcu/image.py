"""A bare-metal Cortex-M image around the C engine: rendered, built with arm-none-eabi-gcc, measured.

The image is edgeml's start-up code (``c/mcu_startup.c``: vector table, ``.data``/``.bss`` init, FPU
enable, fault handler, semihosting, SysTick, stack painting), the board's linker script
(``templates/linker.ld.jinja``), the harness (``templates/harness.c.jinja``) and the embedded samples
(``templates/samples.c.jinja``), plus the engine's generated model and kernels. Everything is built with
``arm-none-eabi-gcc`` and the core's flags (the kernels ``-O2``, the rest ``-Os``), linked against newlib-nano with ``--gc-sections``.

A float32 engine (:mod:`firmware_export.cengine.float_generate`) is built the same way with
:func:`float_flags`: its samples are embedded as float literals that read back as the same float32 bits,
its outputs printed as their bit patterns, and the board's float ABI decides who does the arithmetic: the
M0/M3 call libgcc's soft-float routines (``__aeabi_fmul``, ``__aeabi_fadd``, ...), the M4/M7 use the
FPU (``-mfloat-abi=hard -mfpu=fpv4-sp-d16``). Those routines and newlib's libm (expf, tanhf) count as the
engine's flash in a float image.

A profiling image also forces ``c/edgeml_profile.h`` into the model's translation unit, so the
``EDGEML_OP_BEGIN/END`` hooks the C engine's template puts around every op call read SysTick.

Flash (``.isr_vector + .text + .rodata + .ARM.exidx + .data``) and static RAM (``.data + .bss``) come
from ``arm-none-eabi-size -A`` on the linked ELF; their split into the engine's kernels, the model
(``model_model.o``: its constants and invoke) and the embedded samples from the link map, the rest
(start-up, harness, newlib-nano and libgcc helpers, alignment) being the harness. Images link newlib's
libm (``-lm``: the float engine's expf and tanhf; ``--gc-sections`` keeps only what is called).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from firmware_export import cgen
from firmware_export.mcu.boards import Board

ARM_GCC, ARM_SIZE = "arm-none-eabi-gcc", "arm-none-eabi-size"
SUPPORT_DIR = Path(__file__).resolve().parent / "c"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
COMPILE_FLAGS = ("-std=c99", "-ffunction-sections", "-fdata-sections", "-Wall")
# The engine's kernels are built for speed (their inner loops are what the benchmark counts); the model's
# constants and invoke, the harness and the start-up code for size.
KERNEL_OPTIMIZATION = "-O2"
LINK_FLAGS = ("--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections")
# Float images, per float ABI. Hard float (M4/M7): a * b + c contracted into the FPU's fused multiply-add
# (VFMA.F32, one instruction and one rounding instead of VMUL + VADD), as a float build for an M4F would
# be compiled; measured on the default models, 13-20% fewer instructions per inference, outputs within
# 2.4e-7 of BUILTIN_REF. Soft float (M0/M3): no contraction (GCC's default for -std=c99, said explicitly):
# every product and sum rounded as in TFLite's reference kernels and the host build, so the soft-float
# boards differ from the host only where libm does (expf in SOFTMAX and LOGISTIC).
HARD_FLOAT_FLAGS = ("-ffp-contract=fast",)
SOFT_FLOAT_FLAGS = ("-ffp-contract=off",)


def float_flags(board: Board) -> tuple[str, ...]:
    """The compiler flags a float32 engine adds for ``board`` (see :data:`HARD_FLOAT_FLAGS`)."""
    return HARD_FLOAT_FLAGS if board.has_fpu else SOFT_FLOAT_FLAGS
MIN_STACK_BYTES = 1024  # the linker refuses an image that leaves less RAM than this for the stack
SAMPLES_OBJECT = "edgeml_samples.o"
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss")
FIT_MARGIN_BYTES = 256  # left free when the sample count is cut to fit the flash
_OVERFLOW = re.compile(r"region `(?P<region>\w+)' overflowed by (?P<bytes>\d+) bytes")
_MAP_INPUT = re.compile(r"^ (?P<name>\S+)?\s+0x(?P<address>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+)\s+(?P<file>\S.*)$")
_MAP_OUTPUT = re.compile(r"^(?P<name>\.[\w.]+)")


class ImageTooLarge(EdgeMLError):
    """The model does not fit the board's flash or RAM (found by the linker, before QEMU runs)."""


def missing_tools() -> list[str]:
    """The build tools not on PATH (empty: the image can be built)."""
    return [tool for tool in (ARM_GCC, ARM_SIZE) if shutil.which(tool) is None]


@dataclass(frozen=True)
class FlashParts:
    """Bytes of flash by owner; ``harness`` is the rest of ``total`` (start-up, harness, libc, padding)."""

    total: int
    engine: int
    model: int
    samples: int

    @property
    def harness(self) -> int:
        return self.total - self.engine - self.model - self.samples

    def to_json(self) -> dict:
        return {"total_bytes": self.total, "engine_bytes": self.engine, "model_bytes": self.model,
                "harness_bytes": self.harness, "samples_bytes": self.samples}


@dataclass(frozen=True)
class LinkedImage:
    """An ELF ready for QEMU: ``sample_count`` samples embedded; ``profiled`` if it counts every op.
    ``static_ram`` is ``.data + .bss`` bytes (the stack is measured at run time)."""

    elf: Path
    board: Board
    sample_count: int
    profiled: bool
    flash: FlashParts
    static_ram: int
    data_bytes: int
    bss_bytes: int


@dataclass(frozen=True)
class ImageSources:
    """The engine's generated files (name -> text) and what the harness needs to know about them."""

    files: dict[str, str]
    symbol: str
    op_indices: tuple[int, ...]  # the op_index of every call, in call order
    input_dtype: type
    model_name: str
    float_engine: bool = False  # float32 build: invoke(input, output), its arena a static array of the model

    def compile_flags(self, board: Board) -> tuple[str, ...]:
        return float_flags(board) if self.float_engine else ()


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _banner(what: str, sources: ImageSources) -> str:
    return cgen.block_comment([f"{what}: generated by edgeml for the QEMU benchmark of {sources.model_name}"])


def render_samples(sources: ImageSources, samples: np.ndarray, description: str) -> str:
    """``edgeml_samples.c``: ``samples`` (N x input size, the engine's input dtype) as C arrays in flash;
    float32 values as literals of 9 significant digits, which read back as the same float32 bits (infinities
    as math.h's INFINITY; a NaN is refused: :func:`float_literal`)."""
    if sources.float_engine:
        bodies = ["{" + ", ".join(float_literal(value) for value in row) + "}"
                  for row in np.asarray(samples, dtype=np.float32)]
    else:
        bodies = [cgen.c_initializer(int(value) for value in row) for row in samples]
    return _environment().get_template("samples.c.jinja").render(
        banner=_banner("edgeml_samples.c", sources), symbol=sources.symbol, prefix=cgen.macro_prefix(sources.symbol),
        count=len(samples), description=cgen.comment_text(description), float_engine=sources.float_engine,
        bodies=["        " + body.strip("{} ") for body in bodies])


def float_literal(value: np.float32) -> str:
    """A C float literal that reads back as ``value``'s exact float32 bits (9 significant digits are enough
    for any float32: IEEE 754-2008 section 5.12.2); an infinity is math.h's ``INFINITY`` or ``-INFINITY``.
    Raises EdgeMLError for a NaN (its sign and payload have no C literal).

    >>> float_literal(np.float32(1) / np.float32(3)), float_literal(np.float32(-0.0)), float_literal(np.float32(2))
    ('0.333333343f', '-0.0f', '2.0f')
    >>> float_literal(np.float32("inf")), float_literal(np.float32("-inf"))
    ('INFINITY', '-INFINITY')
    """
    if math.isnan(value):
        raise EdgeMLError("a NaN has no C float literal with its bits")
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    text = f"{float(value):.9g}"
    return text + ("f" if any(mark in text for mark in ".e") else ".0f")


def render_harness(sources: ImageSources) -> str:
    return _environment().get_template("harness.c.jinja").render(
        banner=_banner("edgeml_harness.c", sources), symbol=sources.symbol, prefix=cgen.macro_prefix(sources.symbol),
        op_indices=list(sources.op_indices), op_slots=max(sources.op_indices) + 1, float_engine=sources.float_engine)


def render_linker_script(board: Board) -> str:
    return _environment().get_template("linker.ld.jinja").render(board=board, min_stack_bytes=MIN_STACK_BYTES)


def build_image(sources: ImageSources, board: Board, samples: np.ndarray, folder: Path, profiled: bool,
                description: str = "test samples") -> LinkedImage:
    """Build ``folder/<variant>/image.elf`` with as many of ``samples`` as fit the board's flash.

    When the first link overflows the flash, the sample count is cut by the overflow (plus a small
    margin) and the image linked once more. Raises EdgeMLError when the model alone does not fit the
    board's flash or RAM (naming the board and the overflow), when the tools are missing or fail, and
    (before compiling anything) when a float32 sample holds a NaN.
    """
    missing = missing_tools()
    if missing:
        raise EdgeMLError(f"{' and '.join(missing)} not found: the QEMU benchmark builds a Cortex-M image "
                          "(Debian/Ubuntu: sudo apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    samples = np.asarray(samples)
    nan_rows = np.flatnonzero(np.isnan(samples.reshape(len(samples), -1)).any(axis=1)) if sources.float_engine else ()
    if len(nan_rows):
        raise EdgeMLError(f"test sample {nan_rows[0]} holds a NaN: C has no literal with its bits "
                          "(check the dataset and its normalisation)")
    if len(samples) == 0:
        raise EdgeMLError("no samples to embed in the Cortex-M image")
    variant = folder / ("profiled" if profiled else "plain")
    variant.mkdir(parents=True, exist_ok=True)
    for name, text in sources.files.items():
        if name.endswith((".c", ".h")):
            (variant / name).write_text(text)
    (variant / "edgeml_harness.c").write_text(render_harness(sources))
    (variant / "image.ld").write_text(render_linker_script(board))
    model_source = f"{sources.symbol}_model.c"
    objects = _common_objects(sources, board, folder) + _compile(
        variant, board, [model_source, "edgeml_harness.c"], profiled, flags=sources.compile_flags(board))
    count = len(samples)
    for attempt in range(2):
        (variant / "edgeml_samples.c").write_text(render_samples(sources, samples[:count], description))
        sample_object = _compile(variant, board, ["edgeml_samples.c"], profiled)
        error = _link(variant, board, objects + sample_object)
        if error is None:
            return _measure(variant, board, count, profiled, sources)
        overflow = {match["region"]: int(match["bytes"]) for match in _OVERFLOW.finditer(error)}
        if set(overflow) != {"FLASH"} or attempt == 1:
            break
        sample_bytes = samples[0].nbytes
        count -= math.ceil((overflow["FLASH"] + FIT_MARGIN_BYTES) / sample_bytes)
        if count < 1:
            break
    if not (_OVERFLOW.search(error) or "edgeml: RAM overflow" in error):
        raise EdgeMLError(f"linking the Cortex-M image of {sources.model_name} for {board.device} failed: "
                          f"{error.strip()[-1500:]}")
    raise ImageTooLarge(f"{sources.model_name} does not fit {board.describe()}: {_overflow_text(error)} "
                        "(found by the linker, before QEMU ran)")


def _overflow_text(error: str) -> str:
    overflow = [f"{match['region'].lower()} overflowed by {int(match['bytes']):,} bytes" for match in _OVERFLOW.finditer(error)]
    if "edgeml: RAM overflow" in error:
        overflow.append(f"less than {MIN_STACK_BYTES} bytes of RAM left for the stack")
    return "; ".join(dict.fromkeys(overflow)) or f"{ARM_GCC} failed: {error.strip()[-1500:]}"


def _common_objects(sources: ImageSources, board: Board, folder: Path) -> list[Path]:
    """The kernels and the start-up code, the same in the plain and the profiling image: compiled once
    into ``folder/common`` (the model's header is beside them)."""
    common = folder / "common"
    kernels = [name for name in sources.files if name.endswith(".c") and name != f"{sources.symbol}_model.c"]
    names = kernels + [str(SUPPORT_DIR / "mcu_startup.c")]
    objects = [common / (Path(name).stem + ".o") for name in names]
    if not all(path.is_file() for path in objects):
        common.mkdir(parents=True, exist_ok=True)
        for name, text in sources.files.items():
            if name.endswith((".c", ".h")):
                (common / name).write_text(text)
        _compile(common, board, kernels, profiled=False, optimization=KERNEL_OPTIMIZATION, flags=sources.compile_flags(board))
        _compile(common, board, names[len(kernels):], profiled=False)
    return objects


def _compile(folder: Path, board: Board, sources: list[str], profiled: bool, optimization: str = "-Os",
             flags: tuple[str, ...] = ()) -> list[Path]:
    defines = ["-DEDGEML_PROFILE_OPS", "-include", str(SUPPORT_DIR / "edgeml_profile.h")] if profiled else []
    command = [ARM_GCC, *board.cpu_flags, *COMPILE_FLAGS, *flags, optimization, f"-I{folder}", f"-I{SUPPORT_DIR}", *defines,
               "-c", *sources]
    result = _run(command, folder)
    if result.returncode != 0:
        raise EdgeMLError(f"{ARM_GCC} failed on the Cortex-M image for {board.device}: {result.stderr.strip()[-2000:]}")
    return [folder / (Path(source).stem + ".o") for source in sources]


def _link(folder: Path, board: Board, objects: list[Path]) -> str | None:
    """None when linked, else the linker's complaint."""
    command = [ARM_GCC, *board.cpu_flags, *LINK_FLAGS, "-T", "image.ld", "-Wl,-Map=image.map",
               *map(str, objects), "-lm", "-o", "image.elf"]
    result = _run(command, folder)
    return None if result.returncode == 0 else result.stderr


def _run(command: list[str], folder: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EdgeMLError(f"{command[0]} could not run: {exc}") from None


def section_sizes(elf: Path) -> dict[str, int]:
    """``arm-none-eabi-size -A``: section name -> bytes."""
    result = _run([ARM_SIZE, "-A", str(elf)], elf.parent)
    if result.returncode != 0:
        raise EdgeMLError(f"{ARM_SIZE} failed on {elf.name}: {result.stderr.strip()[:300]}")
    sizes = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes


def sizes_by_object(map_text: str, sections: tuple[str, ...]) -> dict[str, int]:
    """Bytes each input object (file name, or ``archive(member)``) puts into the output ``sections``,
    from a GNU ld link map (``-Wl,-Map``); padding (``*fill*``) belongs to no object.

    >>> text = ("Linker script and memory map\\n\\n.text           0x00000040      0x40\\n"
    ...         " .text.f        0x00000040      0x30 /tmp/a/model_model.o\\n"
    ...         " .text.memcpy\\n                0x00000070       0x10 /usr/lib/libc_nano.a(lib_a-memcpy.o)\\n"
    ...         ".comment        0x00000000      0x20\\n .comment       0x00000000      0x20 /tmp/a/x.o\\n")
    >>> sizes_by_object(text, (".text",))
    {'model_model.o': 48, 'libc_nano.a(lib_a-memcpy.o)': 16}
    """
    sizes: dict[str, int] = {}
    lines = map_text.split("Linker script and memory map", 1)[-1].splitlines()
    current, pending = None, False
    for line in lines:
        output = _MAP_OUTPUT.match(line)
        if output:
            current = output["name"]
            continue
        match = _MAP_INPUT.match(line)
        if match and current in sections and match["name"] != "*fill*" and (match["name"] or pending):
            name = Path(match["file"].strip()).name
            sizes[name] = sizes.get(name, 0) + int(match["size"], 16)
        pending = bool(re.match(r"^ \S+$", line)) and not line.strip().startswith("*")
    return sizes


def is_float_library(name: str) -> bool:
    """A link-map object the float engine calls into: newlib's libm (expf, tanhf) or one of libgcc's
    single-precision routines (``_arm_addsubsf3.o``: __aeabi_fadd/fsub, ``_arm_mulsf3.o``, ``_arm_cmpsf2.o``, ...).

    >>> [is_float_library(n) for n in ("libm.a(lib_a-sf_exp.o)", "libgcc.a(_arm_mulsf3.o)", "libgcc.a(_udivsi3.o)")]
    [True, True, False]
    """
    return name.startswith("libm.a(") or (name.startswith("libgcc.a(") and "sf" in name)


def _measure(folder: Path, board: Board, count: int, profiled: bool, sources: ImageSources) -> LinkedImage:
    elf = folder / "image.elf"
    sizes = section_sizes(elf)
    by_object = sizes_by_object((folder / "image.map").read_text(), FLASH_SECTIONS)
    model_object = f"{sources.symbol}_model.o"
    kernels = {Path(name).stem + ".o" for name in sources.files if name.endswith(".c")} - {model_object}
    flash = FlashParts(total=sum(sizes.get(name, 0) for name in FLASH_SECTIONS),
                       engine=sum(size for name, size in by_object.items()
                                  if name in kernels or (sources.float_engine and is_float_library(name))),
                       model=by_object.get(model_object, 0), samples=by_object.get(SAMPLES_OBJECT, 0))
    data, bss = sizes.get(".data", 0), sizes.get(".bss", 0)
    return LinkedImage(elf, board, count, profiled, flash, data + bss, data, bss)
