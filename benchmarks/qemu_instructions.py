"""Instructions per inference of edgeml's default MLP and CNN and of a small MobileNet-style network (3x3
DEPTHWISE_CONV_2D + 1x1 CONV_2D blocks; tests/cengine_models.py: mobilenet_block_model), Fashion-MNIST, int8,
in the C engine on emulated Cortex-M3, M4 and M7 boards (QEMU 7.2 mps2-an385/an386/an500; --boards adds
qemu:cortex-m0).

Each model is compiled by the C engine, built with `arm-none-eabi-gcc` (kernels -O2, the rest -Os) and the
core's flags into edgeml's bare-metal image, and run under `qemu-system-arm -icount shift=0` on --samples
class-balanced test images (edgeml.qemu_target.run_on_qemu); outputs are checked byte for byte against the
engine built on this machine and the tflite-micro interpreter. Printed per model and board: instructions per
inference (mean over the samples; SysTick resolution 40 instructions on mps2, 62.5 on the micro:bit),
instructions per MAC of each FULLY_CONNECTED and convolution, flash and RAM of the linked image; then the
speed-up of the Armv7E-M DSP kernels (SMLAD, Cortex-M4) over the portable C kernels running the same model
on the Cortex-M3 (the same Thumb-2 instruction set without the DSP extension), per inference and per layer.

    python benchmarks/qemu_instructions.py --out benchmarks/out/qemu

Counts are instructions, not cycles, and deterministic for a given model and toolchain (one run: two runs
give the same numbers).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from cengine_models import mobilenet_block_model, trained_int8  # noqa: E402  (the tests' model builders)

from edgeml.benchmark import load_test_samples  # noqa: E402
from edgeml.qemu_target import QemuOptions, QemuResult, run_on_qemu  # noqa: E402
from edgeml.rundir import RunRecord  # noqa: E402
from firmware_export.mcu.boards import board_for  # noqa: E402


def _per_mac(result: QemuResult) -> str:
    return ", ".join(f"{op.instructions_per_mac:.2f}" for op in result.ops if op.macs)


def table(results: list[QemuResult]) -> str:
    """The README's table: one row per model and board."""
    lines = ["| model | device (QEMU board) | instructions / inference | instructions / MAC (FC and conv layers, "
             "in order) | flash B (engine + model) | RAM B (data + bss + stack peak) |",
             "|---|---|---:|---|---:|---:|"]
    for result in results:
        flash = result.flash
        lines.append(f"| {result.model} | {result.board.device} ({result.board.machine}) | "
                     f"{result.instructions_per_inference:,.0f} | {_per_mac(result)} | "
                     f"{flash['engine_bytes'] + flash['model_bytes']:,} | {result.ram['total_bytes']:,} |")
    return "\n".join(lines)


def speedup_table(results: list[QemuResult], portable: str = "qemu:cortex-m3", dsp: str = "qemu:cortex-m4") -> str:
    """Portable C (``portable`` board) against the DSP kernels (``dsp`` board), per model: instructions per
    inference and per MAC of each FC and conv layer, and their ratio. Empty when either board is missing."""
    by_key = {(result.model, result.board.device): result for result in results}
    models = [model for model in dict.fromkeys(result.model for result in results)
              if (model, portable) in by_key and (model, dsp) in by_key]
    if not models:
        return ""
    lines = [f"| model | {portable} portable C | {dsp} DSP | speed-up | per layer: portable -> DSP instructions / MAC |",
             "|---|---:|---:|---:|---|"]
    for model in models:
        slow, fast = by_key[model, portable], by_key[model, dsp]
        layers = ", ".join(f"{a.instructions_per_mac:.2f} -> {b.instructions_per_mac:.2f} "
                           f"({a.instructions / b.instructions:.2f}x)"
                           for a, b in zip(slow.ops, fast.ops) if a.macs)
        lines.append(f"| {model} | {slow.instructions_per_inference:,.0f} | {fast.instructions_per_inference:,.0f} | "
                     f"{slow.instructions_per_inference / fast.instructions_per_inference:.2f}x | {layers} |")
    return "\n".join(lines)


def _mobilenet_block(out: Path, epochs: int, train_samples: int | None) -> Path:
    """The MobileNet-style model trained on Fashion-MNIST (seed 0, PTQ int8), kept in ``out`` (reused if there)."""
    from edgeml.data import load_dataset

    path = out / "run_mobilenet_block" / "model_int8.tflite"
    if not path.exists():
        dataset = load_dataset("fashion_mnist", train_samples=train_samples, seed=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(trained_int8(mobilenet_block_model, dataset.train_inputs(), dataset.y_train, epochs))
    return path


def _test_samples(name: str, path: Path) -> tuple:
    """Test inputs (normalised floats) and labels: the run's for edgeml's models, Fashion-MNIST's test set
    (normalised as in training) for the MobileNet-style model, which has no edgeml run folder."""
    if name == "mobilenet_block":
        from edgeml.data import load_dataset

        dataset = load_dataset("fashion_mnist", test_samples=1000)
        return dataset.test_inputs(), dataset.y_test
    return load_test_samples(RunRecord.load(path.parent), None, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/qemu"))
    parser.add_argument("--boards", nargs="*", default=["qemu:cortex-m3", "qemu:cortex-m4", "qemu:cortex-m7"])
    parser.add_argument("--samples", type=int, default=20, help="class-balanced test images per image")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-samples", type=int, default=2000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = train_models(args.out, ("mlp", "cnn"), args.epochs, args.train_samples)
    models["mobilenet_block"] = _mobilenet_block(args.out, args.epochs, args.train_samples)
    results = []
    for name, path in models.items():
        inputs, labels = _test_samples(name, path)
        for device in args.boards:
            result = run_on_qemu(path, board_for(device), inputs, labels, QemuOptions(max_samples=args.samples))
            results.append(QemuResult(**{**result.__dict__, "model": name}))
    text = table(results)
    speedup = speedup_table(results)
    text += ("\n\n" + speedup) if speedup else ""
    print(text)
    print("Instructions, not cycles (QEMU -icount shift=0 counts executed instructions; no pipeline or wait states).")
    versions = {tool: (subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines() or [""])[0]
                for tool in ("arm-none-eabi-gcc", "qemu-system-arm")}
    summary = {"machine": f"{platform.machine()} {platform.processor() or platform.platform()}", "tools": versions,
               "samples": args.samples,
               "rows": [{k: v for k, v in result.to_row().items() if k != "predictions"} | {"model": result.model}
                        for result in results]}
    (args.out / "qemu_instructions.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "qemu_instructions.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
