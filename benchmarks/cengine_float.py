"""The C engine's float32 build against LiteRT BUILTIN_REF float, its RAM and flash against the int8 build's,
for edgeml's default MLP and CNN on Fashion-MNIST (issue 15).

For each model: max |difference| of the output probabilities between the float build (gcc -O2, strict C99,
on this host) and LiteRT ``OpResolverType.BUILTIN_REF`` float over the test set, samples whose top class
differs among those with a top-2 margin > 2e-5 (the bound of tests/test_cengine_float.py), static RAM
(planned arena + input + output buffers) of the float32 and int8 builds of the same run, and flash (text +
data of the engine linked with --gc-sections from <symbol>_invoke, arm-none-eabi-gcc -Os): the float build
for a Cortex-M4 with its FPU (-mfloat-abi=hard) and a Cortex-M3 (soft float, libgcc's float routines), newlib's
libm for expf, against the int8 build's Cortex-M4 flash (firmware_export/cengine/measure.py).

    python benchmarks/cengine_float.py --out benchmarks/out/cengine

The runs are benchmarks/cengine_exactness.py's (trained into the same --out when missing; each run folder
holds model_float32.tflite and model_int8.tflite). Sizes depend only on shapes and the int8 build's fusion;
differences are deterministic for a given compiler and libm (one run). Prints a Markdown table and writes
it, with the JSON, to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from cengine_exactness import EDGEML_MODELS, train_models  # same default MLP and CNN, same run folders
from cengine_memory import byte_cell
from edgeml.data import load_dataset
from edgeml.rundir import FLOAT_TFLITE_FILE, RunRecord
from edgeml.text_tables import aligned_table
from firmware_export.cengine.float_exactness import build_float_engine, compare_float, tracing_factory
from firmware_export.cengine.float_generate import compile_float_model
from firmware_export.cengine.generate import compile_model, write_files
from firmware_export.cengine.float_measure import FLOAT_CPUS, float_flash
from firmware_export.cengine.measure import ARM_GCC, measure_cortex_m4
from firmware_export.export import _float_ram_comparison


def int8_flash_bytes(model: bytes, folder: Path) -> int | str:
    write_files(folder, compile_model(model, "net").files)
    flash = measure_cortex_m4(folder, "net", with_stack=False).flash
    return flash.value.total_bytes if flash.not_measured is None else flash.not_measured


def measure(run: Path, test_samples: int | None, folder: Path) -> dict:
    model_path = run / FLOAT_TFLITE_FILE
    model = model_path.read_bytes()
    compiled = compile_float_model(model, "net", str(model_path))
    write_files(folder, compiled.files)
    record = RunRecord.load(run)
    dataset = load_dataset(record.dataset, data_path=record.data_path, seed=record.seed)
    raw = dataset.x_test[:test_samples] if test_samples else dataset.x_test
    inputs = record.normalization.apply(raw.astype(np.float32)).reshape(len(raw), -1)
    engine = build_float_engine(folder, "net", compiled.graph)
    agreement = compare_float(model, compiled.graph, engine, inputs, tracing_factory(folder, "net", compiled.graph))
    ram = _float_ram_comparison(compiled.static_ram_bytes, model_path)
    flash = {cpu: float_flash(folder, "net", cpu).as_json() for cpu in FLOAT_CPUS}
    flash["int8, cortex-m4"] = int8_flash_bytes((run / "model_int8.tflite").read_bytes(), folder.parent / "int8")
    return {"model": run.name, "ops": [op.name for op in compiled.graph.ops],
            "float_arena_bytes": compiled.plan.arena_bytes,
            "float_io_bytes": compiled.input_bytes + compiled.output_bytes, "parity": agreement.to_json(),
            "ram_vs_int8": ram.to_json(), "flash_bytes": flash}


COLUMNS = ("model", "samples", "max \\|difference\\| vs BUILTIN_REF", "top class differs (margin > 2e-5)",
           "float32 RAM (arena + I/O)", "int8 RAM", "float32 / int8", "float32 flash M4 (FPU) / M3", "int8 flash M4")


def table(rows: list[dict]) -> str:
    """The README's table: one row per model."""
    cells = []
    for row in rows:
        parity, ram, flash = row["parity"], row["ram_vs_int8"], row["flash_bytes"]
        cells.append([row["model"], f"{parity['samples']:,}", f"{parity['max_abs_difference']:.3g}",
                      f"{parity['top_class_differences']} of {parity['clear_samples']:,}",
                      f"{ram['float_ram_bytes']:,} B ({row['float_arena_bytes']:,} + {row['float_io_bytes']:,})",
                      f"{ram['int8_ram_bytes']:,} B", f"{ram['ratio']:.2f}x",
                      " / ".join(byte_cell(flash[cpu]) for cpu in FLOAT_CPUS), byte_cell(flash["int8, cortex-m4"])])
    return aligned_table(cells, COLUMNS, "pipe", text_columns=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/cengine"))
    parser.add_argument("--only", nargs="*", choices=tuple(EDGEML_MODELS), default=list(EDGEML_MODELS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--test-samples", type=int, default=None, help="default: the whole test set")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {name: path.parent for name, path in train_models(args.out, tuple(args.only), args.epochs,
                                                              args.train_samples).items()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeml-float-bench-") as scratch:
        for name, run in runs.items():
            rows.append(measure(run, args.test_samples, Path(scratch) / name / "float"))
    text = table(rows)
    compiler = subprocess.run([ARM_GCC, "-dumpversion"], capture_output=True, text=True).stdout.strip()
    text += (f"\n\n{platform.machine()} {platform.system()}, Python {platform.python_version()}, host gcc -O2; "
             f"{ARM_GCC} {compiler}; one run (deterministic)")
    print(text)
    (args.out / "cengine_float.md").write_text(text + "\n")
    (args.out / "cengine_float.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
