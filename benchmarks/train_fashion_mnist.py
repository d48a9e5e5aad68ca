"""Train the default MLP and the CNN on the full Fashion-MNIST and print test accuracy and wall time.

Reproduces the training numbers in the README:

    python benchmarks/train_fashion_mnist.py --out benchmarks/out/train

Fashion-MNIST comes from the Keras cache or Debian's dataset-fashion-mnist (offline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import replace
from pathlib import Path

from edgeml.models import ModelSpec
from edgeml.train import TrainConfig, train

TARGETS = {"mlp": 0.885, "cnn": 0.915}


def configs(out: Path) -> dict[str, TrainConfig]:
    # Long runs with early stopping: a constant rate cut on plateaus, and the best-validation-loss weights.
    base = TrainConfig(dataset="fashion_mnist", batch_size=128, lr=1e-3, lr_schedule="constant", keep_weights="best",
                       validation_split=0.1, seed=0, force=True)
    return {
        # The textbook MLP: Flatten -> 256 -> 64 -> 32 -> softmax, with light dropout.
        "mlp": replace(base, out=str(out / "mlp"), model=ModelSpec(arch="mlp", dropout=0.1), epochs=40,
                       early_stopping=6, reduce_lr=2),
        # Conv-BN-ReLU-MaxPool x2 (16, 32) -> Dense 48 -> softmax (81k parameters).
        "cnn": replace(base, out=str(out / "cnn"), model=replace(ModelSpec.default_for("cnn"), dropout=0.3), epochs=30,
                       early_stopping=6, reduce_lr=2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train"))
    parser.add_argument("--only", choices=sorted(TARGETS), help="train just one of the models")
    args = parser.parse_args()
    results = {}
    for name, config in configs(args.out).items():
        if args.only and name != args.only:
            continue
        run = train(config)
        results[name] = {
            "test_accuracy": round(run.test_accuracy, 4),
            "target": TARGETS[name],
            "meets_target": run.test_accuracy >= TARGETS[name],
            "best_epoch": run.best_epoch,
            "epochs_run": run.epochs_run,
            "wall_time_s": round(run.wall_time_s, 1),
            "diagnosis": run.diagnosis.line(),
        }
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nFashion-MNIST (60k train incl. 10% validation, 10k test) on {machine}")
    print(f"{'model':<6} {'test acc':>9} {'target':>7} {'epochs':>8} {'wall s':>8}")
    for name, result in results.items():
        mark = "ok" if result["meets_target"] else "BELOW TARGET"
        print(
            f"{name:<6} {result['test_accuracy']:>9.4f} {result['target']:>7.3f} "
            f"{result['best_epoch']:>3}/{result['epochs_run']:<4} {result['wall_time_s']:>8.1f}  {mark}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
