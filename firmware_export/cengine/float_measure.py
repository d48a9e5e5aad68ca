"""Flash of the C engine's float32 build on a Cortex-M, measured from the compiler's own output.

Every ``.c`` file is compiled with ``arm-none-eabi-gcc -Os -std=c99 -ffunction-sections -fdata-sections`` for
the CPU's flags, linked with ``--gc-sections`` and ``<symbol>_invoke`` as the entry against newlib's libm
(expf, tanhf) and libc, and libgcc (a soft-float CPU's float routines), so only what invoke reaches counts;
``arm-none-eabi-size`` gives text (code + rodata) + data. The int8 build's flash is :mod:`.measure`'s.
A missing tool or a failed step is a reason (:class:`.measure.Measurement`), never a default number.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeml.errors import EdgeMLError
from firmware_export.cengine.measure import ARM_GCC, ARM_SIZE, Measurement, text_plus_data

# CPU -> compiler flags: a Cortex-M4 uses its single-precision FPU, a Cortex-M3 has none (soft float).
FLOAT_CPUS = {
    "cortex-m4": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "cortex-m3": ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
}


def float_flash(folder: Path, symbol: str, cpu: str = "cortex-m4") -> Measurement:
    """text + data bytes of the float engine in ``folder`` linked for ``cpu`` (a key of :data:`FLOAT_CPUS`)."""
    for tool in (ARM_GCC, ARM_SIZE):
        if shutil.which(tool) is None:
            return Measurement(not_measured=f"{tool} is not installed (Debian/Ubuntu: sudo apt install "
                                            "gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    flags = FLOAT_CPUS[cpu]
    with tempfile.TemporaryDirectory(prefix="edgeml-float-flash-") as scratch:
        objects = []
        for source in sorted(Path(folder).glob("*.c")):
            target = Path(scratch) / f"{source.stem}.o"
            command = [ARM_GCC, *flags, "-Os", "-std=c99", "-ffunction-sections", "-fdata-sections", f"-I{folder}",
                       "-c", str(source), "-o", str(target)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                return Measurement(not_measured=f"{ARM_GCC} failed on {source.name}: {result.stderr.strip()[:500]}")
            objects.append(str(target))
        elf = Path(scratch) / "engine.elf"
        result = subprocess.run([ARM_GCC, *flags, "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{symbol}_invoke",
                                 *objects, "-lm", "-lc", "-lgcc", "-o", str(elf)], capture_output=True, text=True)
        if result.returncode != 0:
            return Measurement(not_measured=f"linking for {cpu} failed: {result.stderr.strip()[:500]}")
        try:
            return Measurement(text_plus_data(elf))
        except EdgeMLError as error:
            return Measurement(not_measured=str(error))
