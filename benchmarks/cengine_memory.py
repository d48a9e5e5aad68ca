"""The C engine's RAM and flash against TFLite Micro's, for edgeml's default MLP and CNN on Fashion-MNIST.

RAM = the planned arena + the input and output buffers (TFLM's arena holds those too) + the invoke's stack
(-fstack-usage frames summed along the deepest call chain of a Cortex-M4 `-Os` build), as a percentage of
TFLite Micro's minimum arena from edgeml's arena search (tflite-micro package, 64-bit host). Goal: <= 35%.
Flash = text + data of the engine linked for Cortex-M4 (`arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os`,
--gc-sections), against the .tflite array's bytes + 4 KB (goal: at most that). See
firmware_export/cengine/measure.py for how each number is taken.

    python benchmarks/cengine_memory.py --out benchmarks/out/cengine

The models are edgeml's default MLP and CNN through edgeml's default quantization (QAT, Dense layers per
tensor), the run folders benchmarks/cengine_exactness.py trains into the same --out (trained here if
missing). Sizes depend on the model's shapes and quantization, not on its training, so a short training
run is enough (the defaults); nothing here is timed, and every number is deterministic for a given
toolchain (one run). Prints a Markdown table and writes it, with the JSON, to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from pathlib import Path

from cengine_exactness import train_models  # same default MLP and CNN, same run folders
from edgeml.text_tables import aligned_table
from firmware_export.cengine.generate import compile_model, measure_compiled
from firmware_export.cengine.measure import ARM_GCC, EngineMemory

RAM_GOAL_PERCENT = 35
FLASH_ALLOWANCE_BYTES = 4096


def measure(name: str, model: bytes) -> EngineMemory:
    return measure_compiled(compile_model(model, "net", name), model)


COLUMNS = ("model", "arena", "input + output", "invoke stack", "**RAM**", "TFLM arena", "**RAM / TFLM**",
           "flash (kernels)", ".tflite + 4 KB")


def table(rows: dict[str, EngineMemory]) -> str:
    """The README's table: one row per model."""
    cells = []
    for name, memory in rows.items():
        parts = memory.as_json()
        flash = parts["flash_bytes"]
        flash_text = (f"{flash['total']:,} B ({flash['kernels']:,} B)" if isinstance(flash, dict) else flash)
        percent = parts["ram_percent_of_tflm_arena"]
        cells.append([name, f"{memory.arena_bytes:,} B", f"{memory.input_bytes + memory.output_bytes:,} B",
                      byte_cell(parts["invoke_stack_bytes"]), f"**{byte_cell(parts['ram_bytes'])}**",
                      byte_cell(parts["tflm_minimum_arena_bytes"]),
                      f"**{percent}{'%' if isinstance(percent, float) else ''}**", flash_text,
                      f"{memory.tflite_bytes + FLASH_ALLOWANCE_BYTES:,} B"])
    return aligned_table(cells, COLUMNS, "pipe", text_columns=1)


def byte_cell(value) -> str:
    """A measured size in bytes ("1,234 B"), or the reason it was not measured."""
    return f"{value:,} B" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/cengine"))
    parser.add_argument("--models", type=Path, nargs="*", help=".tflite files (default: train the MLP and CNN)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-samples", type=int, default=2000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = ({path.stem: path for path in args.models} if args.models
              else train_models(args.out, ("mlp", "cnn"), args.epochs, args.train_samples))
    rows = {name: measure(name, path.read_bytes()) for name, path in models.items()}
    compiler = subprocess.run([ARM_GCC, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    text = table(rows)
    print(text)
    for name, memory in rows.items():
        ram, flash = memory.ram_percent_of_tflm, memory.cortex_m4.flash
        ram_ok = ram.not_measured is None and ram.value <= RAM_GOAL_PERCENT
        flash_ok = flash.not_measured is None and flash.value.total_bytes <= memory.tflite_bytes + FLASH_ALLOWANCE_BYTES
        print(f"{name}: RAM goal (<= {RAM_GOAL_PERCENT}% of TFLM's arena) {'met' if ram_ok else 'NOT met'}; "
              f"flash goal (<= .tflite + 4 KB) {'met' if flash_ok else 'NOT met'}; "
              f"stack chain {memory.as_json()['invoke_stack_chain']}")
    summary = {"machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
               "compiler": compiler[0] if compiler else "not found",
               "models": {name: memory.as_json() for name, memory in rows.items()}}
    (args.out / "cengine_memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "cengine_memory.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
