"""The ``c`` runtime: edgeml's C engine (issue 12) built on this machine and run through ctypes.

The int8 ``.tflite`` is compiled to C99 by :func:`firmware_export.cengine.compile_model`, built with the
system C compiler at ``-O2`` into a shared library (:mod:`firmware_export.cengine.host`), and invoked one
sample at a time with exactly the planned arena. Builds are cached under :func:`cache_dir`, keyed by the
generated sources and the compiler, so a model is compiled once per engine version.

Besides predictions, the runtime knows its static memory: RAM is the arena plus the input and output
buffers (TFLite Micro's arena holds those too, so the two compare), flash is the ``text + data`` of the
engine and model linked for a Cortex-M4 at ``-Os`` with ``--gc-sections`` (``arm-none-eabi-size``), or
the reason it could not be measured.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError

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
    """A cached build: the shared library and the engine's static memory."""

    library: Path
    memory: StaticMemory


def build_engine(model: bytes, source_name: str = "<bytes>") -> EngineBuild:
    """Compile ``model`` to C and build it (or reuse the cached build of the same sources and compiler).

    Raises EdgeMLError when the engine cannot compile the model (naming the op and tensor), when there is
    no C compiler, or when the compiler fails.
    """
    from firmware_export.cengine import compile_model
    from firmware_export.cengine.generate import ENGINE_JSON

    compiler = find_compiler()
    if compiler is None:
        raise EdgeMLError(INSTALL_COMPILER)
    compiled = compile_model(model, SYMBOL, source_name)
    digest = hashlib.sha256(compiler.encode())
    for name in sorted(compiled.files):
        digest.update(name.encode() + b"\0" + compiled.files[name].encode() + b"\0")
    folder = cache_dir() / digest.hexdigest()[:32]
    if not (folder / LIBRARY).is_file() or not (folder / MEMORY_FILE).is_file():
        _build_into(folder, compiled.files, compiler)
    engine = json.loads((folder / ENGINE_JSON).read_text())
    flash = json.loads((folder / MEMORY_FILE).read_text())
    return EngineBuild(folder / LIBRARY, static_memory(compiled.graph, int(engine["arena_bytes"]), flash["flash_bytes"],
                                                       flash["flash_not_measured"]))


def static_memory(graph, arena_bytes: int, flash_bytes: int | None, flash_not_measured: str | None) -> StaticMemory:
    """The engine's RAM (``arena_bytes`` plus the graph's input and output tensors) and the given flash."""
    io_bytes = [graph.tensor(index).byte_size for index in (graph.inputs[0], graph.outputs[0])]
    return StaticMemory(arena_bytes, *io_bytes, flash_bytes, flash_not_measured)


def _build_into(folder: Path, files: dict[str, str], compiler: str) -> None:
    """Write, build and measure in a temporary folder, then rename it into place (a concurrent builder's
    identical result may win the rename; either is correct)."""
    from firmware_export.cengine.host import BuildOptions, build_shared_library

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
        build_shared_library(staging, staging / LIBRARY, BuildOptions(compiler=compiler, optimization="-O2"))
        flash, why_not = measure_flash(staging)
        (staging / MEMORY_FILE).write_text(json.dumps({"flash_bytes": flash, "flash_not_measured": why_not}))
        try:
            os.replace(staging, folder)
        except OSError:  # another process placed the same build first
            if not (folder / LIBRARY).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def measure_flash(folder: Path, symbol: str | None = None) -> tuple[int | None, str | None]:
    """``text + data`` bytes of the engine in ``folder`` linked for a Cortex-M4, or (None, why not): the
    C engine's own measurement (:func:`firmware_export.cengine.measure.measure_cortex_m4`, flash only).
    ``symbol`` is the engine's prefix (``model`` by default). Nothing is written into ``folder``."""
    from firmware_export.cengine.measure import measure_cortex_m4

    flash = measure_cortex_m4(Path(folder), symbol or SYMBOL, with_stack=False).flash
    return (flash.value.total_bytes, None) if flash.not_measured is None else (None, flash.not_measured)


class CEngineModel:
    """A model in edgeml's C engine, built for this machine: one sample per invoke, like TFLite Micro.

    Inputs and outputs are int8 with the graph's scale and zero point (the engine refuses anything else).
    ``static_memory`` says what a device would need (see :class:`StaticMemory`).
    """

    supports_batch = False
    runtime = "c"
    threads = None

    def __init__(self, content: bytes, source_name: str = "<bytes>") -> None:
        from edgeml.graph import read_graph_bytes
        from edgeml.runtime import TensorQuantization
        from firmware_export.cengine.host import HostEngine

        build = build_engine(content, source_name)
        graph = read_graph_bytes(content, source_name)
        source, result = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
        self.static_memory = build.memory
        self.input_shape = tuple(int(d) for d in source.shape[1:])
        self.input_quantization = TensorQuantization(np.int8, source.scale, source.zero_point)
        self.output_quantization = TensorQuantization(np.int8, result.scale, result.zero_point)
        self._engine = HostEngine(build.library, SYMBOL, source.element_count, result.element_count,
                                  build.memory.arena_bytes)
        self._input = np.zeros(source.element_count, dtype=np.int8)
        self._output = np.zeros(result.element_count, dtype=np.int8)
        # Fixed addresses, taken once: numpy's .ctypes.data costs microseconds per call, on the timed path.
        self._pointers = (self._input.ctypes.data, self._output.ctypes.data, ctypes.addressof(self._engine.arena))
        self._output_shape = (1, *result.shape[1:])

    def set_raw_input(self, quantized: np.ndarray) -> None:
        if len(quantized) != 1:
            raise EdgeMLError("the C engine runs one sample per invoke")
        values = np.asarray(quantized, dtype=np.int8).reshape(-1)
        if values.size != self._input.size:
            raise EdgeMLError(f"the C engine takes {self._input.size} values per sample, got {values.size}")
        self._input[:] = values

    def invoke(self) -> None:
        status = self._engine.invoke_function(*self._pointers)
        if status != 0:
            raise EdgeMLError(f"the C engine's invoke returned {status}")

    def raw_output(self) -> np.ndarray:
        return self._output.reshape(self._output_shape).copy()

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float scores for normalised float ``inputs`` of shape ``(N, *input_shape)``."""
        from edgeml.runtime import checked_inputs

        inputs = checked_inputs(inputs, self.input_shape)
        quantized = self.input_quantization.quantize(inputs).reshape(len(inputs), -1)
        raw = self._engine.run(quantized).reshape(len(inputs), *self._output_shape[1:])
        return self.output_quantization.dequantize(raw)
