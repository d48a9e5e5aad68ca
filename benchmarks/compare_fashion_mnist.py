"""Float vs int8 on the host: accuracy, p50 latency (LiteRT and TFLite Micro), size and arena, for the
MLP and the CNN quantized by quantize_fashion_mnist.py.

    python benchmarks/train_fashion_mnist.py    --out benchmarks/out/train
    python benchmarks/quantize_fashion_mnist.py --runs benchmarks/out/train --out benchmarks/out/quantize
    python benchmarks/compare_fashion_mnist.py  --quantized benchmarks/out/quantize --out benchmarks/out/compare

Medians from one run on this machine; every pair measured in its own process, 1 thread.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from edgeml.benchmark import BenchmarkConfig, format_table, latency_ratios, run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("benchmarks/out/train"))
    parser.add_argument("--quantized", type=Path, default=Path("benchmarks/out/quantize"))
    parser.add_argument("--method", default="qat", choices=["qat", "ptq"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/compare"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--test-samples", type=int, default=10000)
    args = parser.parse_args()
    summary = []
    for model in ("mlp", "cnn"):
        # A run directory holding the Keras model and the chosen method's .tflite files.
        staged = args.out / f"{model}_models"
        if staged.exists():
            shutil.rmtree(staged)
        shutil.copytree(args.runs_dir / model, staged, ignore=shutil.ignore_patterns("*.tflite", "best.keras"))
        for tflite in (args.quantized / f"{model}_{args.method}").glob("model_*.tflite"):
            shutil.copy(tflite, staged / tflite.name)
        report = run_benchmark(BenchmarkConfig(
            targets=(str(staged),), runtimes=("litert", "tflm"), runs=args.runs, warmup=50,
            test_samples=args.test_samples, out=str(args.out / model), force=True,
        ))
        print(f"\n{model}:\n{format_table(report.rows)}")
        rows = {(r.model, r.runtime): r for r in report.rows}
        int8, float32 = rows[("model_int8.tflite", "litert")], rows[("model_float32.tflite", "litert")]
        ratio = next(r for r in latency_ratios(report.rows) if r.runtime == "litert").int8_over_float32_p50
        summary.append({
            "model": model,
            "float32_accuracy": float32.accuracy, "int8_accuracy": int8.accuracy,
            "float32_p50_us": float32.latency.p50_us, "int8_p50_us": int8.latency.p50_us,
            "int8_over_float32_p50": ratio,
            "tflm_int8_p50_us": rows[("model_int8.tflite", "tflm")].latency.p50_us,
            "float32_bytes": float32.file_bytes, "int8_bytes": int8.file_bytes,
            "tflm_arena_bytes": rows[("model_int8.tflite", "tflm")].arena_bytes,
        })
    print("\n| model | float32 acc | int8 acc | LiteRT p50 float32 µs | LiteRT p50 int8 µs | int8/float32 | TFLM p50 int8 µs | float32 B | int8 B | TFLM arena B |")
    print("|---" * 10 + "|")
    for s in summary:
        print(f"| {s['model']} | {s['float32_accuracy']:.4f} | {s['int8_accuracy']:.4f} | {s['float32_p50_us']:.1f} | "
              f"{s['int8_p50_us']:.1f} | {s['int8_over_float32_p50']:.2f} | {s['tflm_int8_p50_us']:.1f} | "
              f"{s['float32_bytes']:,} | {s['int8_bytes']:,} | {s['tflm_arena_bytes'] or 'n/a'} |")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
