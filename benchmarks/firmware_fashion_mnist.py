"""Firmware cost of the int8 models: flash of the model object on a Cortex-M4, the measured TFLM arena and the
op resolver, for the MLP and the CNN quantized by quantize_fashion_mnist.py (the README's firmware table).

    python benchmarks/train_fashion_mnist.py    --out benchmarks/out/train
    python benchmarks/quantize_fashion_mnist.py --runs benchmarks/out/train --out benchmarks/out/quantize
    python benchmarks/firmware_fashion_mnist.py --quantized benchmarks/out/quantize --out benchmarks/out/firmware

Each model is exported with `edgeml export` (arena measured with the tflite-micro interpreter, 10% margin),
then model_data.cc is compiled with `arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os` and measured with
`arm-none-eabi-size` (text + data), exactly as the pipeline's export stage does. Deterministic: one run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from firmware_export import ExportConfig, export_firmware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantized", type=Path, default=Path("benchmarks/out/quantize"))
    parser.add_argument("--method", default="qat", choices=["qat", "ptq"])
    parser.add_argument("--models", default="mlp,cnn", help="Comma-separated: the folders <model>_<method>.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/firmware"))
    args = parser.parse_args()
    rows = []
    for model in args.models.split(","):
        result = export_firmware(ExportConfig(
            source=str(args.quantized / f"{model}_{args.method}" / "model_int8.tflite"),
            out=str(args.out / model), name=f"{model}_model", check_samples=0, force=True,
        ))
        flash = result.flash  # measured by the export itself (firmware_export.model_flash)
        rows.append({
            "model": model, "model_bytes": result.model_bytes, "flash_bytes": flash.flash_bytes,
            "flash_not_measured": flash.not_measured, "arena_bytes": result.arena.arena_bytes,
            "arena_minimum_bytes": result.arena.minimum_bytes, "arena_margin_bytes": result.arena.margin_bytes,
            "ops": list(result.ops),
        })
    print("| model | flash for the model array (`.text`) | `<NAME>_TENSOR_ARENA_SIZE` (RAM) | ops (`MicroMutableOpResolver<N>`) |")
    print("|---|---|---|---|")
    for row in rows:
        flash = f"{row['flash_bytes']:,} B" if row["flash_bytes"] is not None else f"not measured: {row['flash_not_measured']}"
        print(f"| {row['model'].upper()} | {flash} | {row['arena_bytes']:,} B (measured minimum "
              f"{row['arena_minimum_bytes']:,} + {row['arena_margin_bytes']:,} margin) | "
              f"{', '.join(row['ops'])} (N = {len(row['ops'])}) |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
