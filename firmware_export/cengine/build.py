"""The C engine built on this machine: the host's C compiler, the build cache and the engine's static memory.

An int8 ``.tflite`` is compiled to C99 by :func:`firmware_export.cengine.generate.compile_model`, a float32
one by :func:`firmware_export.cengine.float_generate.compile_float_model` (what
:func:`firmware_export.cengine.float_lower.is_float_graph` decides); either is built with the system C
compiler at ``-O2`` into a shared library (:mod:`firmware_export.cengine.host`). Builds are cached under
:func:`cache_dir`, keyed by the generated sources and the compiler, so a model is compiled once per engine
version.

Static memory: RAM is the arena plus the input and output buffers (TFLite Micro's arena holds those too,
so the two compare); flash is the ``text + data`` of the engine and model linked for a Cortex-M4 at ``-Os``
with ``--gc-sections`` (``arm-none-eabi-size``; the float build with its FPU and newlib's libm), or the
reason it could not be measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeml.errors import EdgeMLError

if TYPE_CHECKING:
    from edgeml.graph import Graph

SYMBOL = "model"
LIBRARY = f"lib{SYMBOL}_engine.so"
MEMORY_FILE = "memory.json"
COMPILERS = ("gcc", "clang", "cc")
INSTALL_COMPILER = ("the c runtime builds edgeml's C engine with a C compiler and none was found "
                    "($CC, gcc, clang or cc): install one (Debian/Ubuntu: sudo apt install gcc; "
                    "Fedora: sudo dnf install gcc; macOS: xcode-select --install)")


def find_compiler() -> str | None:
    """``$CC`` if set and found, else the first of gcc, clang, cc on PATH; None if there is none."""
    candidates = ([os.environ["CC"]] if os.environ.get("CC") else []) + list(COMPILERS)
    return next((name for name in candidates if shutil.which(name)), None)


def cache_dir() -> Path:
    """``$EDGEML_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgeml``, else ``~/.cache/edgeml``; builds go in ``cengine/``."""
    root = os.environ.get("EDGEML_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeml"
    return Path(root) / "cengine"


@dataclass(frozen=True)
class StaticMemory:
    """What the engine needs on a device, in bytes: RAM = arena + input + output; flash or why not."""

    arena_bytes: int
    input_bytes: int
    output_bytes: int
    flash_bytes: int | None
    flash_not_measured: str | None = None

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.input_bytes + self.output_bytes

    def to_json(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "input_bytes": self.input_bytes, "output_bytes": self.output_bytes,
                "flash_bytes": self.flash_bytes, "flash_not_measured": self.flash_not_measured}


@dataclass(frozen=True)
class EngineBuild:
    """A cached build: the shared library, the engine's static memory, the graph it runs and whether it is
    the float32 build (``<symbol>_invoke(input, output)``, its arena a static array of the library) or the
    int8 one (``<symbol>_invoke(input, output, arena)``)."""

    library: Path
    memory: StaticMemory
    graph: "Graph"
    float32: bool


def build_engine(model: bytes, source_name: str = "<bytes>") -> EngineBuild:
    """Compile ``model`` (int8, or float32 when its input is float32 and nothing quantizes it) to C and build
    it, or reuse the cached build of the same sources and compiler.

    Raises EdgeMLError when the engine cannot compile the model (naming the op and tensor), when there is
    no C compiler, or when the compiler fails.
    """
    from edgeml.graph import read_graph_bytes
    from firmware_export.cengine.float_lower import is_float_graph

    compiler = find_compiler()
    if compiler is None:
        raise EdgeMLError(INSTALL_COMPILER)
    float32 = is_float_graph(read_graph_bytes(model, source_name))
    if float32:
        from firmware_export.cengine.float_generate import compile_float_model as compile_for_engine
    else:
        from firmware_export.cengine.generate import compile_model as compile_for_engine
    compiled = compile_for_engine(model, SYMBOL, source_name)
    digest = hashlib.sha256(compiler.encode())
    for name in sorted(compiled.files):
        digest.update(name.encode() + b"\0" + compiled.files[name].encode() + b"\0")
    folder = cache_dir() / digest.hexdigest()[:32]
    if not (folder / LIBRARY).is_file() or not (folder / MEMORY_FILE).is_file():
        _build_into(folder, compiled.files, compiler, float32)
    flash = json.loads((folder / MEMORY_FILE).read_text())
    memory = static_memory(compiled.graph, compiled.plan.arena_bytes, flash["flash_bytes"], flash["flash_not_measured"])
    return EngineBuild(folder / LIBRARY, memory, compiled.graph, float32)


def static_memory(graph, arena_bytes: int, flash_bytes: int | None, flash_not_measured: str | None) -> StaticMemory:
    """The engine's RAM (``arena_bytes`` plus the graph's input and output tensors) and the given flash."""
    io_bytes = [graph.tensor(index).byte_size for index in (graph.inputs[0], graph.outputs[0])]
    return StaticMemory(arena_bytes, *io_bytes, flash_bytes, flash_not_measured)


def _build_into(folder: Path, files: dict[str, str], compiler: str, float32: bool) -> None:
    """Write, build and measure in a temporary folder, then rename it into place (a concurrent builder's
    identical result may win the rename; either is correct)."""
    from firmware_export.cengine.host import BuildOptions, build_shared_library

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
        options = BuildOptions(compiler=compiler, optimization="-O2", extra_flags=("-lm",) if float32 else ())
        build_shared_library(staging, staging / LIBRARY, options)
        flash, why_not = measure_float_flash(staging) if float32 else measure_flash(staging)
        (staging / MEMORY_FILE).write_text(json.dumps({"flash_bytes": flash, "flash_not_measured": why_not}))
        try:
            os.replace(staging, folder)
        except OSError:  # another process placed the same build first
            if not (folder / LIBRARY).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def measure_flash(folder: Path, symbol: str | None = None) -> tuple[int | None, str | None]:
    """``text + data`` bytes of the int8 engine in ``folder`` linked for a Cortex-M4, or (None, why not): the
    C engine's own measurement (:func:`firmware_export.cengine.measure.measure_cortex_m4`, flash only).
    ``symbol`` is the engine's prefix (``model`` by default). Nothing is written into ``folder``."""
    from firmware_export.cengine.measure import measure_cortex_m4

    flash = measure_cortex_m4(Path(folder), symbol or SYMBOL, with_stack=False).flash
    return (flash.value.total_bytes, None) if flash.not_measured is None else (None, flash.not_measured)


def measure_float_flash(folder: Path, symbol: str | None = None) -> tuple[int | None, str | None]:
    """``text + data`` bytes of the float32 engine in ``folder`` linked for a Cortex-M4 with its FPU
    (:func:`firmware_export.cengine.float_measure.float_flash`, newlib's libm), or (None, why not)."""
    from firmware_export.cengine.float_measure import float_flash

    flash = float_flash(Path(folder), symbol or SYMBOL)
    return (flash.value, None) if flash.not_measured is None else (None, flash.not_measured)
