"""Reading a run directory back: the trained model's file, dataset, class names and normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeml.artifacts import read_json
from edgeml.data import Normalization
from edgeml.errors import EdgeMLError

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunRecord:
    """What ``config.json`` says about a trained model; every later stage starts from this."""

    run_dir: Path
    model_path: Path
    dataset: str
    data_path: str | None
    class_names: tuple[str, ...]
    normalization: Normalization
    input_shape: tuple[int, ...]
    train_samples: int | None
    test_samples: int | None
    seed: int
    raw: dict[str, Any]

    @classmethod
    def load(cls, run_dir: Path | str) -> "RunRecord":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise EdgeMLError(f"run directory not found: {run_dir}")
        raw = read_json(run_dir / CONFIG_FILE, "run configuration")
        try:
            train, dataset = raw["train"], raw["dataset"]
            model_path = run_dir / raw["model_file"]
            return cls(
                run_dir=run_dir,
                model_path=model_path,
                dataset=train["dataset"],
                data_path=train.get("data_path"),
                class_names=tuple(dataset["class_names"]),
                normalization=Normalization.from_dict(dataset["normalization"]),
                input_shape=tuple(dataset["input_shape"]),
                # The subset sizes of the run's own data; the test subset is what evaluation reuses.
                train_samples=train.get("train_samples"),
                test_samples=train.get("test_samples"),
                seed=int(train.get("seed", 0)),
                raw=raw,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeMLError(f"{run_dir / CONFIG_FILE} is not an edgeml run configuration (missing {exc})") from None
