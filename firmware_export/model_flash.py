"""Flash taken by the TFLite Micro export's model array on a Cortex-M4, measured with the Arm toolchain.

``model_data.cc`` (``.c``, ``.cpp``) is compiled with ``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os`` and its
object measured with ``arm-none-eabi-size``: ``text + data``. The commands run in the file's folder on its bare
name, so the recorded ``size`` output and a compiler error name ``model_data.o`` / ``model_data.cc``, not the
(temporary) folder the export wrote them in.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ARM_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-Os")
INSTALL_ARM = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"


@dataclass(frozen=True)
class FlashMeasurement:
    """Flash of the model object on a Cortex-M4, or why it was not measured (``not_measured``)."""

    flash_bytes: int | None
    size_output: str | None = None
    not_measured: str | None = None


def arm_flash_bytes(files: tuple[Path, ...]) -> FlashMeasurement:
    """Flash taken by the model array on a Cortex-M4: text + data of model_data's object (the first of
    ``files`` named ``model_data.c*``) as ``arm-none-eabi-size`` reports it after ``arm-none-eabi-gcc
    -mcpu=cortex-m4 -mthumb -Os``. The object is removed afterwards.

    A missing toolchain, a failed compile (its first error line) or a failed size run is the reason,
    each as itself: never a number and never another reason.
    """
    compiler, size_tool = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    source = next((path for path in files if path.name.startswith("model_data.c")), None)
    if not compiler or not size_tool:
        missing = " and ".join(tool for tool, path in (("arm-none-eabi-gcc", compiler), ("arm-none-eabi-size", size_tool))
                               if not path)
        return FlashMeasurement(None, not_measured=f"no arm-none-eabi toolchain ({missing} not found; {INSTALL_ARM})")
    if source is None:
        return FlashMeasurement(None, not_measured="the export wrote no model_data.c/.cc/.cpp to compile")
    obj = source.with_suffix(".o")
    language = ["-x", "c++"] if source.suffix != ".c" else []
    try:
        compiled = _run_tool([compiler, *ARM_FLAGS, *language, "-c", source.name, "-o", obj.name], source.parent, 120)
        if compiled.returncode != 0:
            return FlashMeasurement(None, not_measured=f"compile failed: {_first_error_line(compiled.stderr)}")
        sized = _run_tool([size_tool, obj.name], source.parent, 30)
        if sized.returncode != 0:
            return FlashMeasurement(None, not_measured=f"arm-none-eabi-size failed: {_first_error_line(sized.stderr)}")
    except (subprocess.TimeoutExpired, OSError) as exc:
        return FlashMeasurement(None, not_measured=f"compile failed: {exc}")
    finally:
        obj.unlink(missing_ok=True)
    text, data = (int(value) for value in sized.stdout.splitlines()[1].split()[:2])
    return FlashMeasurement(text + data, sized.stdout.strip())


def _run_tool(command: list[str], folder: Path, timeout_s: int) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=folder)


def _first_error_line(stderr: str) -> str:
    """gcc's first ``error:`` line (the cause; later lines are consequences), else its first line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line), lines[0] if lines else "no output")
