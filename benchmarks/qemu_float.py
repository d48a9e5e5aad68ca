"""float32 against int8 on emulated Cortex-M boards (issue 15): edgeml's default MLP and CNN (Fashion-MNIST,
1-epoch QAT, benchmarks/cengine_exactness.py's runs, as benchmarks/qemu_instructions.py) in the C engine's
float32 and int8 builds on the Cortex-M0 (micro:bit), M3 (mps2-an385; both soft float, libgcc) and M4
(mps2-an386, its FPU).

Each board is measured as `edgeml benchmark RUN --device qemu:<core>` does (edgeml.targets.qemu.QemuTarget):
the float32 model first, on up to --samples class-balanced test images (fewer when its image's flash is
full), then the int8 model on the same images; float outputs are checked against LiteRT BUILTIN_REF float
(max |difference| <= 1e-5), int8 outputs byte for byte against the engine built on this machine and the
tflite-micro interpreter. Printed per model and board: accuracy of each on those samples, instructions per
inference (QEMU -icount shift=0; mean over the samples) of each and the int8/float32 ratio, flash of the
engine and model (kernels with their libm and soft-float routines, weights, invoke; not the embedded samples
or the harness) and RAM (data + bss + stack peak) of each image, and the float32/int8 RAM ratio; a model that does not fit the
board is printed with the linker's overflow.

    nice -n 10 python benchmarks/qemu_float.py --out benchmarks/out/qemu

Counts are instructions, not cycles, and deterministic for a given model and toolchain (one run).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cengine_exactness import train_models  # noqa: E402  (the same default MLP and CNN, same run folders)

from edgeml.measurement import Measurement, Variant  # noqa: E402
from edgeml.qemu_tables import engine_flash, measured_pairs  # noqa: E402
from edgeml.qemu_target import QemuOptions  # noqa: E402
from edgeml.rundir import FLOAT_TFLITE_FILE, RunRecord  # noqa: E402
from edgeml.targets.base import MeasureJob  # noqa: E402
from edgeml.targets.qemu import QemuTarget  # noqa: E402

TEST_SAMPLES = 1000  # the test subset the class-balanced samples are drawn from


def measure(run: Path, device: str, samples: int) -> tuple[Measurement, ...]:
    """The float32 and int8 rows of ``run`` on ``device``, as the benchmark's qemu target measures them."""
    target = QemuTarget(device, QemuOptions(max_samples=samples))
    target.prepare(MeasureJob((run / FLOAT_TFLITE_FILE, run / "model_int8.tflite"), RunRecord.load(run),
                              None, TEST_SAMPLES))
    return tuple(target.run().rows)


def table(rows_by_model: dict[str, tuple[Measurement, ...]]) -> str:
    """The README's table: one line per model and board."""
    lines = ["| model | device (float ABI) | samples | accuracy float32 / int8 | instructions / inference float32 | "
             "int8 | int8 / float32 | flash B (engine + model) float32 / int8 | RAM B float32 / int8 | RAM float32 / int8 |",
             "|---|---|---:|---|---:|---:|---:|---|---|---:|"]
    for model, rows in rows_by_model.items():
        pairs = measured_pairs(rows)
        for pair in pairs:
            f32, int8 = pair.float32, pair.int8
            lines.append(
                f"| {model} | {f32.device} ({f32.float_abi}) | {f32.samples} | "
                f"{f32.accuracy:.3f} / {int8.accuracy:.3f} | {f32.instructions.per_inference:,.0f} | "
                f"{int8.instructions.per_inference:,.0f} | {pair.int8_over_float32_instructions:.3f} | "
                f"{engine_flash(f32):,} / {engine_flash(int8):,} | "
                f"{f32.image_ram.total:,} / {int8.image_ram.total:,} | {pair.float32_over_int8_ram:.2f} |")
        paired = [id(row) for pair in pairs for row in (pair.float32, pair.int8)]
        for row in rows:
            if not row.not_measured and id(row) not in paired:  # the other build did not fit the board
                lines.append(_lone_row(model, row))
            elif row.not_measured:
                lines.append(f"| {model} | {row.device} | not measured: {row.model}: {row.not_measured} "
                             "| | | | | | | |")
    return "\n".join(lines)


def _lone_row(model: str, row: Measurement) -> str:
    """A table line for a float32 or int8 row whose other build was not measured (dashes in its columns)."""
    float32 = row.variant is Variant.FLOAT32

    def pair(value: str) -> str:
        return f"{value} / -" if float32 else f"- / {value}"

    instructions = f"{row.instructions.per_inference:,.0f}"
    return (f"| {model} | {row.device} | {row.samples} | {pair(format(row.accuracy, '.3f'))} | "
            f"{instructions if float32 else '-'} | {'-' if float32 else instructions} | - | "
            f"{pair(format(engine_flash(row), ','))} | {pair(format(row.image_ram.total, ','))} | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/qemu"))
    parser.add_argument("--boards", nargs="*", default=["qemu:cortex-m0", "qemu:cortex-m3", "qemu:cortex-m4"])
    parser.add_argument("--samples", type=int, default=20, help="class-balanced test images per image (at most)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-samples", type=int, default=2000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = train_models(args.out, ("mlp", "cnn"), args.epochs, args.train_samples)
    rows_by_model = {name: tuple(row for device in args.boards for row in measure(path.parent, device, args.samples))
                     for name, path in models.items()}
    text = table(rows_by_model)
    print(text)
    print("Instructions, not cycles (QEMU -icount shift=0 counts executed instructions; no pipeline, wait states or "
          "FPU latency). M0/M3: soft float (libgcc), -ffp-contract=off; M4: FPv4-SP, -ffp-contract=fast (VFMA).")
    versions = {tool: (subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines() or [""])[0]
                for tool in ("arm-none-eabi-gcc", "qemu-system-arm")}
    summary = {"machine": f"{platform.machine()} {platform.processor() or platform.platform()}", "tools": versions,
               "samples": args.samples,
               "rows": [row.to_json() | {"run": name} for name, rows in rows_by_model.items() for row in rows]}
    (args.out / "qemu_float.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "qemu_float.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
