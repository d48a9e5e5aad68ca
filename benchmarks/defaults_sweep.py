"""edgeml's default training settings against the plain Keras script (baseline_keras.py), per epoch budget.

For every model:dataset pair (``--jobs``; by default the MLP on both datasets and the CNN on digits),
budget (epochs) and seed: one ``edgeml.train`` run with the defaults of
``TrainConfig``/``ModelSpec.default_for`` (only dataset, epochs, seed and output folder set), and the
baseline's test accuracy after that many epochs. Prints the median over seeds per budget and writes
``defaults_sweep.json`` and ``defaults_sweep.md`` into ``--out`` (the training logs go to
``defaults_sweep.log`` there). The README's table:

    python benchmarks/defaults_sweep.py --out benchmarks/out/defaults

Shortcut, for the baseline only: with a constant learning rate and the last epoch's weights, N epochs of
training equal the first N epochs of a longer run, so one run of the largest budget per seed, evaluated
after each budget's epoch, gives all the budgets. edgeml's defaults decay the learning rate over the
budget, so each of its budgets is a run of its own.

``--set key=value`` changes a TrainConfig field for the edgeml runs (``--set batch_size=128``,
``--set model.dropout=0.1``), to measure candidate defaults before changing them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from baseline_keras import baseline_accuracies

from edgeml.models import ModelSpec
from edgeml.train import TrainConfig, train

DEFAULT_JOBS = ("mlp:digits", "cnn:digits", "mlp:fashion_mnist")
TOLERANCE_POINTS = 0.2  # edgeml's median may trail the baseline's by at most this many accuracy points


@dataclass(frozen=True)
class Measurement:
    runner: str  # "baseline" or "edgeml"
    model: str
    dataset: str
    epochs: int
    seed: int
    accuracy: float


@dataclass(frozen=True)
class BudgetRow:
    model: str
    dataset: str
    epochs: int
    baseline_median: float
    edgeml_median: float
    seeds: int

    @property
    def difference_points(self) -> float:
        return 100.0 * (self.edgeml_median - self.baseline_median)

    @property
    def within_tolerance(self) -> bool:
        return self.difference_points >= -TOLERANCE_POINTS - 1e-9


def budget_rows(measurements: list[Measurement]) -> list[BudgetRow]:
    """Median test accuracy over seeds, per (model, dataset, epochs), for both runners.

    A budget appears only when both runners have the same seeds there.
    """
    groups: dict[tuple[str, str, int], dict[str, dict[int, float]]] = {}
    for m in measurements:
        groups.setdefault((m.model, m.dataset, m.epochs), {}).setdefault(m.runner, {})[m.seed] = m.accuracy
    rows = []
    for (model, dataset, epochs), runners in sorted(groups.items()):
        baseline, edgeml = runners.get("baseline", {}), runners.get("edgeml", {})
        if not baseline or set(baseline) != set(edgeml):
            continue
        rows.append(BudgetRow(model, dataset, epochs, statistics.median(baseline.values()),
                              statistics.median(edgeml.values()), len(baseline)))
    return rows


def markdown_table(rows: list[BudgetRow]) -> str:
    lines = [
        "| model | dataset | epochs | plain Keras (median) | edgeml defaults (median) | difference (points) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row.model} | {row.dataset} | {row.epochs} | {row.baseline_median:.4f} | "
                     f"{row.edgeml_median:.4f} | {row.difference_points:+.2f} |")
    return "\n".join(lines) + "\n"


def text_table(rows: list[BudgetRow]) -> str:
    lines = [f"{'model':<5} {'dataset':<14} {'epochs':>6} {'baseline':>9} {'edgeml':>9} {'diff pts':>9}"]
    for row in rows:
        mark = "" if row.within_tolerance else f"  BELOW baseline - {TOLERANCE_POINTS}"
        lines.append(f"{row.model:<5} {row.dataset:<14} {row.epochs:>6} {row.baseline_median:>9.4f} "
                     f"{row.edgeml_median:>9.4f} {row.difference_points:>+9.2f}{mark}")
    return "\n".join(lines) + "\n"


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``key=value`` (JSON values, or plain strings) onto the TrainConfig; ``model.key`` reaches the ModelSpec."""
    for override in overrides:
        key, _, text = override.partition("=")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, list):
            value = tuple(value)
        if key.startswith("model."):
            config = replace(config, model=replace(config.model, **{key[len("model."):]: value}))
        else:
            config = replace(config, **{key: value})
    return config


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/defaults"))
    parser.add_argument("--jobs", nargs="+", default=list(DEFAULT_JOBS), metavar="MODEL:DATASET",
                        help="model (mlp or cnn) and dataset pairs, e.g. mlp:digits cnn:fashion_mnist")
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 15])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="train nothing: combine the measurements of earlier runs' defaults_sweep.json "
                             "(e.g. one process per seed) into --out and print the table")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="reuse the baseline measurements already in --out/defaults_sweep.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "defaults_sweep.json"
    measurements: list[Measurement] = []
    if args.merge:
        for path in args.merge:
            measurements += [Measurement(**m) for m in json.loads(path.read_text())["measurements"]]
        args.seeds = sorted({m.seed for m in measurements})
        _write(args, measurements, json_path)
        _print_table(args, measurements)
        return
    if args.skip_baseline and json_path.exists():
        measurements = [Measurement(**m) for m in json.loads(json_path.read_text())["measurements"]
                        if m["runner"] == "baseline"]
    budgets = tuple(sorted(args.epochs))
    jobs = [tuple(job.split(":", 1)) for job in args.jobs]
    total = len(jobs) * len(args.seeds) * (len(budgets) + (0 if args.skip_baseline else 1))
    done = 0
    started = time.perf_counter()
    with open(args.out / "defaults_sweep.log", "a") as log, tempfile.TemporaryDirectory() as scratch:
        for model, dataset in jobs:
            for seed in args.seeds:
                runs = [] if args.skip_baseline else [("baseline", max(budgets))]
                runs += [("edgeml", epochs) for epochs in budgets]
                for runner, epochs in runs:
                    run_started = time.perf_counter()
                    with contextlib.redirect_stdout(log):
                        if runner == "baseline":
                            found = baseline_accuracies(dataset, model, budgets, seed)
                        else:
                            config = TrainConfig(out=str(Path(scratch) / "run"), dataset=dataset, epochs=epochs,
                                                 seed=seed, model=ModelSpec.default_for(model), force=True)
                            found = {epochs: train(apply_overrides(config, args.overrides)).test_accuracy}
                    measurements += [Measurement(runner, model, dataset, e, seed, a) for e, a in found.items()]
                    done += 1
                    shown = ", ".join(f"{e} ep {a:.4f}" for e, a in sorted(found.items()))
                    print(f"[{done}/{total}] {runner} {model} {dataset} seed {seed}: {shown} "
                          f"({time.perf_counter() - run_started:.0f} s, {time.perf_counter() - started:.0f} s total)",
                          file=sys.stderr, flush=True)
                    _write(args, measurements, json_path)
    _print_table(args, measurements)


def _print_table(args, measurements: list[Measurement]) -> None:
    print(f"\nmedian test accuracy over seeds {args.seeds} on {machine()}")
    print(text_table(budget_rows(measurements)), end="")


def _write(args, measurements: list[Measurement], json_path: Path) -> None:
    rows = budget_rows(measurements)
    record = {
        "machine": machine(),
        "seeds": args.seeds,
        "overrides": args.overrides,
        "edgeml_defaults": TrainConfig().to_dict(),
        "measurements": [m.__dict__ for m in measurements],
        "rows": [{**row.__dict__, "difference_points": row.difference_points} for row in rows],
    }
    json_path.write_text(json.dumps(record, indent=1))
    (args.out / "defaults_sweep.md").write_text(markdown_table(rows))


if __name__ == "__main__":
    main()
