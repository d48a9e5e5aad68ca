"""Training curves: the one-line fit diagnosis and the accuracy/loss plot (no TensorFlow here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from edgeml.artifact_json import JsonObject, read_json_object
from edgeml.artifacts import atomic_path

# A validation accuracy this far below training accuracy, or a validation loss this far above its
# minimum, is read as overfitting. The numbers are conventions, stated in the diagnosis text.
OVERFIT_ACCURACY_GAP = 0.05
OVERFIT_LOSS_RISE = 0.10
UNDERFIT_TRAIN_ACCURACY = 0.80
STILL_IMPROVING = 0.005


@dataclass(frozen=True)
class TrainingHistory:
    """``history.json``: the per-epoch values Keras recorded (``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy``, the learning rate ...; one float per epoch run), the epoch whose weights were kept
    (1-based) and the one-line fit diagnosis."""

    curves: dict[str, tuple[float, ...]]
    best_epoch: int
    diagnosis: str

    def last_epoch(self) -> tuple[tuple[str, float], ...]:
        """Each curve's value at the last epoch, in the recorded order (empty curves left out)."""
        return tuple((name, values[-1]) for name, values in self.curves.items() if values)

    def to_json(self) -> dict:
        return {"history": {name: list(values) for name, values in self.curves.items()},
                "best_epoch": self.best_epoch, "diagnosis": self.diagnosis}

    @classmethod
    def from_json(cls, data: JsonObject) -> "TrainingHistory":
        """What :meth:`to_json` wrote; a missing key or a curve that is not a list of numbers is one EdgeMLError
        naming the file and the key."""
        curves = data.object("history", True)
        return cls(curves={name: tuple(curves.numbers(name)) for name in curves.keys()},
                   best_epoch=data.integer("best_epoch", True), diagnosis=data.text("diagnosis", True))

    @classmethod
    def read(cls, path: Path) -> "TrainingHistory | None":
        """``path`` (a run's ``history.json``) read back; None when it does not exist."""
        data = read_json_object(path)
        return None if data is None else cls.from_json(data)


@dataclass(frozen=True)
class FitDiagnosis:
    verdict: str  # "underfitting" | "overfitting" | "good fit" | "unknown"
    reason: str

    def line(self) -> str:
        return f"{self.verdict}: {self.reason}"


def diagnose_fit(history: Mapping[str, Sequence[float]]) -> FitDiagnosis:
    """Read the curves: a low training accuracy is underfitting; a growing train/validation gap or a
    validation loss rising from its minimum is overfitting; otherwise a good fit."""
    train_acc = list(history.get("accuracy", []))
    val_acc = list(history.get("val_accuracy", []))
    val_loss = list(history.get("val_loss", []))
    if not train_acc:
        return FitDiagnosis("unknown", "no training history")
    final_train = train_acc[-1]
    if final_train < UNDERFIT_TRAIN_ACCURACY:
        trend = ""
        if len(train_acc) >= 2 and train_acc[-1] - train_acc[-2] > STILL_IMPROVING:
            trend = " and still rising: train longer or use a larger model"
        else:
            trend = ": the model cannot fit the training data; try a larger model or a higher learning rate"
        return FitDiagnosis("underfitting", f"training accuracy {final_train:.3f} < {UNDERFIT_TRAIN_ACCURACY}{trend}")
    if not val_acc:
        return FitDiagnosis("unknown", f"training accuracy {final_train:.3f}; no validation curve to compare with")
    gap = final_train - val_acc[-1]
    loss_rise, loss_text = 0.0, "no validation loss"
    if val_loss:
        best_epoch = min(range(len(val_loss)), key=val_loss.__getitem__)
        loss_rise = (val_loss[-1] - val_loss[best_epoch]) / max(val_loss[best_epoch], 1e-12)
        loss_text = f"validation loss {val_loss[-1]:.3f} is {loss_rise:+.0%} from its minimum at epoch {best_epoch + 1}"
    if gap > OVERFIT_ACCURACY_GAP or loss_rise > OVERFIT_LOSS_RISE:
        return FitDiagnosis(
            "overfitting",
            f"train accuracy {final_train:.3f} vs validation {val_acc[-1]:.3f} (gap {gap:.3f}); {loss_text}: "
            "use early stopping, dropout or more data",
        )
    return FitDiagnosis(
        "good fit",
        f"train accuracy {final_train:.3f}, validation {val_acc[-1]:.3f} (gap {gap:.3f}); "
        f"validation loss within {OVERFIT_LOSS_RISE:.0%} of its minimum",
    )


def plot_history(history: Mapping[str, Sequence[float]], path: Path | str, title: str = "Training") -> Path:
    """Accuracy and loss per epoch, train vs validation, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, (acc_axis, loss_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in ((acc_axis, "accuracy"), (loss_axis, "loss")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + metric)
            if values:
                epochs = range(1, len(values) + 1)
                axis.plot(epochs, values, style, markersize=3, label="validation" if prefix else "train")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
    return Path(path)
