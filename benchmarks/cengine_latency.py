"""Host latency of the C engine (the `c` runtime) against the tflite-micro interpreter, for edgeml's default
MLP and CNN on Fashion-MNIST.

Each model runs through edgeml's benchmark runner (the same code as `edgeml benchmark --runtime c --runtime
tflm`): single-sample invokes after warm-up, one thread, each runtime in its own process. The pair of
runtimes is measured --repeats times, alternating, and the table gives the median over the repeats of each
run's p50, and TFLM's median p50 over the C engine's. The `c` runtime is the engine built with the system
C compiler at -O2 (default build: TFLite Micro's rounding); TFLM is the `tflite-micro` package's
interpreter (reference kernels) with the arena edgeml's arena search measures.

    python benchmarks/cengine_latency.py --out benchmarks/out/cengine

The models are the ones benchmarks/cengine_exactness.py trains into the same --out (trained here if
missing; latency depends on the shapes, not on the weights). Host timings vary with the machine's load:
the script prints the machine and the spread of the repeats' p50 with the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from cengine_exactness import train_models  # same default MLP and CNN, same run folders
from edgeml.bench_runner import MeasureConfig, device_info, measure_in_subprocess
from edgeml.benchmark import collect_models, measure_tflm_arena, write_samples

RUNTIMES = ("c", "tflm")


def measure(run: Path, repeats: int, runs: int, warmup: int, test_samples: int) -> dict:
    """Median p50 (µs) of each runtime over ``repeats`` alternating measurements, and the p50s themselves."""
    model_set = collect_models([str(run)])
    model = next(path for path in model_set.models if path.name == "model_int8.tflite")
    arena = measure_tflm_arena(model)
    p50s: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    accuracy = {}
    with tempfile.TemporaryDirectory(prefix="cengine-latency-") as scratch:
        samples = write_samples(model_set.record, None, test_samples, Path(scratch) / "samples.npz")
        for _ in range(repeats):
            for runtime in RUNTIMES:
                row = measure_in_subprocess(MeasureConfig(
                    model=str(model), samples=str(samples), runtime=runtime, warmup=warmup, runs=runs,
                    arena_bytes=arena.arena_bytes if runtime == "tflm" else None))
                p50s[runtime].append(row.latency.p50_us)
                accuracy[runtime] = row.accuracy
    medians = {runtime: statistics.median(values) for runtime, values in p50s.items()}
    return {"p50_us_runs": p50s, "median_p50_us": medians, "accuracy": accuracy,
            "tflm_over_c": round(medians["tflm"] / medians["c"], 1)}


def table(rows: dict[str, dict], repeats: int) -> str:
    lines = ["| model | `c` p50 | TFLM p50 | TFLM / `c` | accuracy (`c`, TFLM) |", "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        c, tflm = row["median_p50_us"]["c"], row["median_p50_us"]["tflm"]
        lines.append(f"| {name} | {c:,.1f} µs | {tflm:,.1f} µs | {row['tflm_over_c']}× "
                     f"| {row['accuracy']['c']:.4f}, {row['accuracy']['tflm']:.4f} |")
    lines.append(f"\nmedian of {repeats} runs' p50 each")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/cengine"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=500, help="timed invokes per run")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--test-samples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = train_models(args.out, ("mlp", "cnn"), args.epochs, args.train_samples)
    rows = {name: measure(path.parent, args.repeats, args.runs, args.warmup, args.test_samples)
            for name, path in models.items()}
    machine = device_info()
    text = table(rows, args.repeats)
    print(f"{machine['cpu']} ({machine['cores']} cores)")
    print(text)
    for name, row in rows.items():
        print(f"{name}: p50 of each run (µs): " + "; ".join(
            f"{runtime} {', '.join(f'{value:.1f}' for value in values)}" for runtime, values in row["p50_us_runs"].items()))
    (args.out / "cengine_latency.json").write_text(json.dumps({"machine": machine, "models": rows}, indent=2) + "\n")
    (args.out / "cengine_latency.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
