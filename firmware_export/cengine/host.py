"""The generated C engine built and run on this machine: a shared library loaded with ctypes.

Used by the tests and the benchmark to compare the engine with TFLite Micro and LiteRT; the same
flags as a firmware build, plus sanitizers on request.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError

# The engine's templates folder (host_main.c.jinja), without importing the generator that renders the rest.
HOST_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
# Linked into test builds only: forwards the generated code's TRACE calls to a Python callback.
TRACE_SOURCE = """#include <stdint.h>
typedef void (*edgeml_trace_callback)(int32_t op_index, const int8_t *data, int32_t bytes);
edgeml_trace_callback edgeml_host_trace_callback = 0;
void edgeml_host_trace(int32_t op_index, const int8_t *data, int32_t bytes);
void edgeml_host_trace(int32_t op_index, const int8_t *data, int32_t bytes)
{
    if (edgeml_host_trace_callback) {
        edgeml_host_trace_callback(op_index, data, bytes);
    }
}
"""
_TRACE_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.POINTER(ctypes.c_int8), ctypes.c_int32)
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")


@dataclass(frozen=True)
class BuildOptions:
    """``single_rounding`` selects LiteRT BUILTIN_REF's arithmetic; ``poison`` fills dead tensors."""

    compiler: str = "gcc"
    optimization: str = "-O2"
    single_rounding: bool = False
    poison: bool = False
    trace: bool = False
    extra_flags: tuple[str, ...] = field(default=())


def c_sources(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.c"))


def build_shared_library(folder: Path, out: Path, options: BuildOptions = BuildOptions(),
                         objects: "ObjectCache | None" = None) -> Path:
    """Compile every .c file of ``folder`` into the shared library ``out``; with ``objects``, each file is
    compiled to an object file once (reused while its source, the headers it includes and the flags are
    the same) and only the link is redone: what the tests do to build hundreds of models on the same
    kernels. Raises EdgeMLError when the compiler is missing or fails."""
    if shutil.which(options.compiler) is None:
        raise EdgeMLError(f"C compiler {options.compiler} not found")
    sources = c_sources(folder)
    defines = [f"-DEDGEML_SINGLE_ROUNDING={int(options.single_rounding)}"]
    defines += ["-DEDGEML_DEBUG_POISON"] if options.poison else []
    with tempfile.TemporaryDirectory(prefix="edgeml-trace-") as scratch:
        if options.trace:
            trace_source = Path(scratch) / "edgeml_host_trace.c"
            trace_source.write_text(TRACE_SOURCE)
            sources.append(trace_source)
            defines.append("-DEDGEML_TRACE=edgeml_host_trace")
        if objects is None:
            command = [options.compiler, *STRICT_FLAGS, options.optimization, "-shared", "-fPIC", *defines,
                       *options.extra_flags, *map(str, sources), "-o", str(out)]
        else:
            compile_flags = (*STRICT_FLAGS, options.optimization, "-fPIC", *defines, *options.extra_flags)
            compiled = [objects.object_for(source, options.compiler, compile_flags) for source in sources]
            command = [options.compiler, options.optimization, "-shared", *options.extra_flags,
                       *map(str, compiled), "-o", str(out)]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise EdgeMLError(f"{options.compiler} failed on the generated C: {result.stderr.strip()[:2000]}")
    return out


_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


class ObjectCache:
    """Object files in ``folder``, one per (compiler, flags, source text, text of every ``#include "..."``
    it reaches in the source's folder): changing a kernel, a header it includes or a flag changes the key,
    so a stale object is never linked. System headers (``<...>``) are not in the key. Objects are written
    to a temporary name and renamed into place, so concurrent builders share the folder safely."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def object_for(self, source: Path, compiler: str, flags: tuple[str, ...]) -> Path:
        """The object file of ``source`` compiled by ``compiler -c`` with ``flags``, compiled if not cached."""
        digest = hashlib.sha256("\0".join((compiler, *flags)).encode())
        for path in _local_includes(Path(source)):
            digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
        target = self.folder / f"{Path(source).stem}-{digest.hexdigest()[:32]}.o"
        if target.is_file():
            return target
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".{target.name}.{os.getpid()}.tmp"
        result = subprocess.run([compiler, *flags, "-c", str(source), "-o", str(staging)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            staging.unlink(missing_ok=True)
            raise EdgeMLError(f"{compiler} failed on {Path(source).name}: {result.stderr.strip()[:2000]}")
        os.replace(staging, target)
        return target


def _local_includes(source: Path) -> list[Path]:
    """``source`` and every file it includes with quotes from its own folder, transitively, in a fixed order."""
    seen: dict[str, Path] = {}
    pending = [source]
    while pending:
        path = pending.pop()
        if path.name in seen or not path.is_file():
            continue
        seen[path.name] = path
        pending += [source.parent / name for name in _LOCAL_INCLUDE.findall(path.read_text())]
    return [seen[name] for name in sorted(seen)]


class HostEngine:
    """The engine's ``<symbol>_invoke`` in a loaded shared library; ``arena_bytes`` exactly as planned.
    ``io_dtype`` is the caller's input and output type (``uint8`` for a uint8-I/O model)."""

    def __init__(self, library: Path, symbol: str, input_size: int, output_size: int, arena_bytes: int,
                 io_dtype: tuple[type, type] = (np.int8, np.int8)) -> None:
        self.library = ctypes.CDLL(str(library))
        self.invoke_function = getattr(self.library, f"{symbol}_invoke")
        self.invoke_function.restype = ctypes.c_int
        self.invoke_function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.input_size, self.output_size = input_size, output_size
        self.input_dtype, self.output_dtype = io_dtype
        self.arena = (ctypes.c_uint8 * max(arena_bytes, 1))()

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs (samples x output size) for ``inputs`` (one row per sample), in the engine's I/O types."""
        inputs = np.ascontiguousarray(np.asarray(inputs).astype(self.input_dtype).reshape(len(inputs), -1))
        if inputs.shape[1] != self.input_size:
            raise EdgeMLError(f"the engine takes {self.input_size} values per sample, got {inputs.shape[1]}")
        outputs = np.zeros((len(inputs), self.output_size), dtype=self.output_dtype)
        for row, sample in enumerate(inputs):
            status = self.invoke_function(sample.ctypes.data, outputs[row].ctypes.data,
                                          ctypes.addressof(self.arena))
            if status != 0:
                raise EdgeMLError(f"the C engine's invoke returned {status}")
        return outputs

    def trace(self, sample: np.ndarray) -> dict[int, np.ndarray]:
        """Every op's output (by op index) on one sample; needs a library built with ``trace=True``."""
        outputs: dict[int, np.ndarray] = {}

        def record(op_index: int, data, size: int) -> None:
            outputs[op_index] = np.ctypeslib.as_array(data, shape=(size,)).copy()

        callback = _TRACE_CALLBACK(record)
        slot = ctypes.c_void_p.in_dll(self.library, "edgeml_host_trace_callback")
        slot.value = ctypes.cast(callback, ctypes.c_void_p).value
        try:
            self.run(np.asarray(sample)[np.newaxis])
        finally:
            slot.value = None
        return outputs


def build_executable(folder: Path, symbol: str, out: Path, options: BuildOptions = BuildOptions()) -> Path:
    """A test program around ``<symbol>_invoke`` (samples on stdin, outputs on stdout) with the model's
    exact arena on the heap; ``options.extra_flags`` may add sanitizers (:data:`SANITIZE_FLAGS`)."""
    import jinja2

    from firmware_export import cgen

    template = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HOST_TEMPLATES_DIR)),
                                  undefined=jinja2.StrictUndefined).get_template("host_main.c.jinja")
    with tempfile.TemporaryDirectory(prefix="edgeml-host-") as scratch:
        driver = Path(scratch) / "host_main.c"
        driver.write_text(template.render(symbol=symbol, prefix=cgen.macro_prefix(symbol)))
        command = [options.compiler, *STRICT_FLAGS, options.optimization, f"-I{folder}",
                   f"-DEDGEML_SINGLE_ROUNDING={int(options.single_rounding)}",
                   *(["-DEDGEML_DEBUG_POISON"] if options.poison else []), *options.extra_flags,
                   *map(str, c_sources(folder)), str(driver), "-o", str(out)]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise EdgeMLError(f"{options.compiler} failed on the generated C: {result.stderr.strip()[:2000]}")
    return out


def run_executable(program: Path, inputs: np.ndarray, output_size: int, output_dtype: type = np.int8) -> np.ndarray:
    """Outputs of a :func:`build_executable` program; a non-zero exit (a sanitizer report) is an error.
    ``inputs`` keep their dtype (int8, or uint8 for a uint8-I/O model)."""
    inputs = np.asarray(inputs)
    inputs = np.ascontiguousarray(inputs if inputs.dtype == np.uint8 else inputs.astype(np.int8))
    result = subprocess.run([str(program)], input=inputs.tobytes(), capture_output=True, timeout=600)
    if result.returncode != 0:
        raise EdgeMLError(f"{program.name} exited with {result.returncode}: "
                          f"{result.stderr.decode(errors='replace')[-3000:]}")
    return np.frombuffer(result.stdout, dtype=output_dtype).reshape(len(inputs), output_size)
