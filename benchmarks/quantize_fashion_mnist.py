"""Quantize the Fashion-MNIST runs of train_fashion_mnist.py with QAT and with PTQ, and print what it cost.

    python benchmarks/train_fashion_mnist.py --out benchmarks/out/train
    python benchmarks/quantize_fashion_mnist.py --runs benchmarks/out/train --out benchmarks/out/quantize

Accuracy is measured on the full 10k test set through LiteRT on the converted files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from edgeml.quantize import QuantizeConfig, quantize

QAT_MAX_DROP_PP = 0.5
PTQ_MAX_DROP_PP = 1.0
MAX_SIZE_RATIO = 0.26


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("benchmarks/out/train"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/quantize"))
    parser.add_argument("--qat-epochs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for model in ("mlp", "cnn"):
        for method in ("qat", "ptq"):
            report = quantize(QuantizeConfig(
                target=str(args.runs / model), method=method, qat_epochs=args.qat_epochs, calibration_samples=500,
                float16=True, dynamic_range=True, out=str(args.out / f"{model}_{method}"), force=True,
            ))
            print(report.table())
            int8 = report.variant("int8")
            drop_pp = 100 * (report.keras_float_accuracy - int8.accuracy)
            limit = QAT_MAX_DROP_PP if method == "qat" else PTQ_MAX_DROP_PP
            rows.append({
                "model": model, "method": method,
                "keras_float": round(report.keras_float_accuracy, 4),
                "tflite_float32": round(report.variant("float32").accuracy, 4),
                "int8": round(int8.accuracy, 4),
                "drop_pp": round(drop_pp, 2), "limit_pp": limit, "within_limit": drop_pp <= limit,
                "agreement": round(int8.agreement_with_float, 4),
                "max_abs_diff": round(int8.max_abs_diff, 4),
                "float32_bytes": report.variant("float32").size_bytes, "int8_bytes": int8.size_bytes,
                "size_ratio": round(report.int8_to_float32_size, 4),
                "float16_acc": round(report.variant("float16").accuracy, 4),
                "dynamic_acc": round(report.variant("dynamic").accuracy, 4),
            })
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nFashion-MNIST 10k test set, LiteRT, on {machine}")
    header = "| model | method | Keras float | TFLite float32 | int8 | drop (pp) | agreement | float32 B | int8 B | int8/float32 |"
    print(header)
    print("|---" * 10 + "|")
    for r in rows:
        print(f"| {r['model']} | {r['method']} | {r['keras_float']:.4f} | {r['tflite_float32']:.4f} | {r['int8']:.4f} | "
              f"{r['drop_pp']:+.2f} (≤ {r['limit_pp']}{'' if r['within_limit'] else ' FAILED'}) | {r['agreement']:.2%} | "
              f"{r['float32_bytes']:,} | {r['int8_bytes']:,} | {r['size_ratio']:.3f}{'' if r['size_ratio'] <= MAX_SIZE_RATIO else ' > 0.26'} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
