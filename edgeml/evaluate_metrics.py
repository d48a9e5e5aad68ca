"""Classification metrics and their plots from labels and predicted probabilities (scikit-learn, no model)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeml.artifact_json import JsonObject
from edgeml.artifacts import atomic_path, write_json
from edgeml.errors import EdgeMLError
from edgeml.rundir import evaluation_files
from edgeml.runtime import decide_class

TABLE_NAME_CHARS = 10
PLOT_DPI = 120


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int
    tn: int
    auc: float | None  # one-vs-rest; None when the class never occurs in y_true

    @classmethod
    def from_json(cls, data: JsonObject) -> "ClassMetrics":
        counts = (data.integer(key, True) for key in ("support", "tp", "fp", "fn", "tn"))
        return cls(data.text("name", True), data.number("precision", True), data.number("recall", True),
                   data.number("f1", True), *counts, data.number("auc"))


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    loss: float | None
    num_samples: int
    class_names: tuple[str, ...]
    per_class: tuple[ClassMetrics, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows = true class, columns = predicted class
    auc_micro: float | None
    auc_macro: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "auc_micro": self.auc_micro,
            "auc_macro": self.auc_macro,
            "num_samples": self.num_samples,
            "class_names": list(self.class_names),
            "per_class": [dataclasses.asdict(class_metrics) for class_metrics in self.per_class],
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> "Metrics":
        """A ``metrics.json`` read back (:meth:`to_dict`'s keys); a missing key or a value of the wrong type
        is an EdgeMLError naming the file and the key."""
        return cls(
            accuracy=data.number("accuracy", True), loss=data.number("loss"),
            num_samples=data.integer("num_samples", True), class_names=tuple(data.strings("class_names")),
            per_class=tuple(ClassMetrics.from_json(row) for row in data.objects("per_class", True)),
            confusion_matrix=data.integer_rows("confusion_matrix"),
            auc_micro=data.number("auc_micro"), auc_macro=data.number("auc_macro"),
        )


def compute_metrics(y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]) -> Metrics:
    """Accuracy, cross-entropy, per-class counts and scores, and one-vs-rest AUCs.

    ``probabilities`` is (N, K), or (N,) / (N, 1) for a sigmoid output (probability of class 1).
    Rows are renormalised to sum to 1 before the loss, as Keras does; the loss is None when the
    values are not probabilities at all (e.g. logits outside [0, 1]).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    sigmoid = np.ndim(probabilities) == 1 or (np.ndim(probabilities) == 2 and np.shape(probabilities)[1] == 1)
    labels, probabilities, class_names = _validated(y_true, probabilities, class_names)
    num_classes = len(class_names)
    all_classes = list(range(num_classes))
    # The class decision every stage makes (p >= 0.5 for a sigmoid: an int8 sigmoid output often is 0.5).
    predicted = decide_class(probabilities[:, 1:] if sigmoid else probabilities)

    counts = confusion_matrix(labels, predicted, labels=all_classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=all_classes, average=None, zero_division=0
    )
    class_aucs, auc_micro, auc_macro = _one_vs_rest_auc(labels, probabilities)

    num_samples = len(labels)
    per_class = []
    for k, name in enumerate(class_names):
        tp = int(counts[k, k])
        fp = int(counts[:, k].sum()) - tp
        fn = int(counts[k, :].sum()) - tp
        per_class.append(
            ClassMetrics(
                name=name,
                precision=float(precision[k]),
                recall=float(recall[k]),
                f1=float(f1[k]),
                support=int(support[k]),
                tp=tp,
                fp=fp,
                fn=fn,
                tn=num_samples - tp - fp - fn,
                auc=class_aucs[k],
            )
        )

    return Metrics(
        accuracy=float(np.mean(predicted == labels)),
        loss=_cross_entropy(labels, probabilities),
        num_samples=num_samples,
        class_names=class_names,
        per_class=tuple(per_class),
        confusion_matrix=tuple(tuple(int(count) for count in row) for row in counts),
        auc_micro=auc_micro,
        auc_macro=auc_macro,
    )


def format_metrics_table(metrics: Metrics) -> str:
    """Plain-text summary: headline numbers, one row per class, then the confusion matrix."""
    lines = [
        f"accuracy  {metrics.accuracy:.4f}    loss  {_format_optional(metrics.loss)}"
        f"    samples  {metrics.num_samples}",
        f"AUC       micro {_format_optional(metrics.auc_micro)}    macro {_format_optional(metrics.auc_macro)}",
        "",
    ]

    name_width = max(len("class"), *(len(name) for name in metrics.class_names))
    count_width = max(5, len(str(metrics.num_samples)))
    header = (
        f"{'class':<{name_width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"
        + "".join(f"  {column:>{count_width}}" for column in ("TP", "FP", "FN", "TN"))
        + f"  {'AUC':>6}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for row in metrics.per_class:
        lines.append(
            f"{row.name:<{name_width}}  {row.precision:>9.4f}  {row.recall:>6.4f}  {row.f1:>6.4f}  {row.support:>7d}"
            + "".join(f"  {count:>{count_width}d}" for count in (row.tp, row.fp, row.fn, row.tn))
            + f"  {_format_optional(row.auc):>6}"
        )

    short_names = [_truncate(name) for name in metrics.class_names]
    corner = "true \\ pred"
    label_width = max(len(corner), *(len(name) for name in short_names))
    largest_count = max((count for row in metrics.confusion_matrix for count in row), default=0)
    cell_width = max(len(str(largest_count)), *(len(name) for name in short_names))
    lines += ["", "confusion matrix (rows = true class, columns = predicted class)"]
    lines.append(f"{corner:<{label_width}}" + "".join(f"  {name:>{cell_width}}" for name in short_names))
    for name, row in zip(short_names, metrics.confusion_matrix):
        lines.append(f"{name:<{label_width}}" + "".join(f"  {count:>{cell_width}d}" for count in row))
    return "\n".join(lines)


def plot_confusion_matrix(metrics: Metrics, path: Path | str, title: str = "Confusion matrix") -> Path:
    from matplotlib.figure import Figure

    counts = np.array(metrics.confusion_matrix)
    num_classes = len(metrics.class_names)
    side_inches = max(4.0, 0.6 * num_classes + 2.5)
    figure = Figure(figsize=(side_inches, side_inches))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)

    # White text on dark cells, black on light ones, so every count stays readable.
    dark_threshold = counts.max() / 2 if counts.size else 0
    for true_index in range(num_classes):
        for predicted_index in range(num_classes):
            count = counts[true_index, predicted_index]
            axes.text(
                predicted_index,
                true_index,
                str(count),
                ha="center",
                va="center",
                fontsize=10,  # cells grow with the class count, so the text need not shrink
                color="white" if count > dark_threshold else "black",
            )

    short_names = [_truncate(name) for name in metrics.class_names]
    axes.set_xticks(range(num_classes), short_names, rotation=45, ha="right")
    axes.set_yticks(range(num_classes), short_names)
    axes.set_xlabel("Predicted class")
    axes.set_ylabel("True class")
    axes.set_title(title)
    return _save_figure(figure, path)


def plot_roc(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    path: Path | str,
    title: str = "ROC (one-vs-rest)",
) -> Path:
    """One ROC curve per class present in ``y_true``, plus micro- and macro-average curves.

    With fewer than two classes in ``y_true`` no curve exists; the plot then says so instead of failing.
    """
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    labels, probabilities, class_names = _validated(y_true, probabilities, class_names)
    class_aucs, auc_micro, auc_macro = _one_vs_rest_auc(labels, probabilities)

    figure = Figure(figsize=(6.5, 6.0))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="chance")

    if auc_micro is None:
        axes.text(
            0.5,
            0.55,
            "ROC undefined: y_true holds a single class",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    else:
        class_curves = []
        for k, name in enumerate(class_names):
            if class_aucs[k] is None:
                continue
            false_positive_rate, true_positive_rate, _ = roc_curve(labels == k, probabilities[:, k])
            class_curves.append((false_positive_rate, true_positive_rate))
            axes.plot(
                false_positive_rate,
                true_positive_rate,
                linewidth=1,
                alpha=0.8,
                label=f"{_truncate(name)} (AUC {class_aucs[k]:.3f})",
            )

        micro_fpr, micro_tpr, _ = roc_curve(_one_hot(labels, len(class_names)).ravel(), probabilities.ravel())
        axes.plot(
            micro_fpr,
            micro_tpr,
            color="black",
            linestyle="--",
            linewidth=2,
            label=f"micro-average (AUC {auc_micro:.3f})",
        )

        # Macro average: each class's curve interpolated on every FPR any curve visits, then averaged.
        fpr_grid = np.unique(np.concatenate([fpr for fpr, _ in class_curves]))
        mean_tpr = np.mean([np.interp(fpr_grid, fpr, tpr) for fpr, tpr in class_curves], axis=0)
        axes.plot(
            np.concatenate([[0.0], fpr_grid]),
            np.concatenate([[0.0], mean_tpr]),
            color="navy",
            linestyle="-.",
            linewidth=2,
            label=f"macro-average (AUC {auc_macro:.3f})",
        )

    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("False positive rate")
    axes.set_ylabel("True positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize="small")
    return _save_figure(figure, path)


def write_metrics(
    metrics: Metrics,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    out_dir: Path | str,
    prefix: str = "",
) -> dict[str, Path]:
    """Write ``{prefix}metrics.json``, ``{prefix}confusion_matrix.png`` and ``{prefix}roc.png`` into ``out_dir``
    (the names of :func:`edgeml.rundir.evaluation_files`)."""
    if len(y_true) != metrics.num_samples:
        raise EdgeMLError(
            f"metrics were computed on {metrics.num_samples} samples but y_true has {len(y_true)}; "
            "pass the same labels and probabilities that produced the metrics"
        )
    out_dir = Path(out_dir)
    metrics_file, confusion_plot, roc_plot = evaluation_files(prefix)
    paths = {
        "metrics": out_dir / metrics_file,
        "confusion_matrix": out_dir / confusion_plot,
        "roc": out_dir / roc_plot,
    }
    write_json(paths["metrics"], metrics.to_dict())
    plot_confusion_matrix(metrics, paths["confusion_matrix"])
    plot_roc(y_true, probabilities, metrics.class_names, paths["roc"])
    return paths


def _validated(
    y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Labels as int64 (N,), probabilities as float64 (N, K), names as a tuple; EdgeMLError otherwise."""
    if isinstance(class_names, str):
        raise EdgeMLError(f"class_names must be a list of names, not the string {class_names!r}")
    class_names = tuple(str(name) for name in class_names)
    num_classes = len(class_names)
    if num_classes < 2:
        raise EdgeMLError(f"need at least 2 class names to evaluate a classifier, got {num_classes}")
    if len(set(class_names)) != num_classes:
        duplicates = sorted({name for name in class_names if class_names.count(name) > 1})
        raise EdgeMLError(f"class names must be unique; repeated: {', '.join(duplicates)}")

    labels = _validated_labels(y_true)
    if labels.size == 0:
        raise EdgeMLError("no samples to evaluate: y_true is empty")

    try:
        probabilities = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise EdgeMLError("probabilities must be a numeric array of shape (N, K)") from None
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        probabilities = probabilities[:, 0]
    if probabilities.ndim == 1:
        if num_classes != 2:
            raise EdgeMLError(
                f"probabilities have one value per sample (sigmoid output), which needs exactly 2 class names, "
                f"but {num_classes} were given"
            )
        probabilities = np.column_stack([1.0 - probabilities, probabilities])
    if probabilities.ndim != 2:
        raise EdgeMLError(f"probabilities must have shape (N, K), got {probabilities.shape}")
    if probabilities.shape[1] != num_classes:
        raise EdgeMLError(
            f"probabilities have {probabilities.shape[1]} columns but {num_classes} class names were given"
        )
    if probabilities.shape[0] != labels.size:
        raise EdgeMLError(f"y_true has {labels.size} labels but probabilities have {probabilities.shape[0]} rows")
    if not np.all(np.isfinite(probabilities)):
        raise EdgeMLError("probabilities contain NaN or infinite values")

    out_of_range = labels[(labels < 0) | (labels >= num_classes)]
    if out_of_range.size:
        raise EdgeMLError(
            f"y_true holds label {int(out_of_range[0])} but there are {num_classes} classes "
            f"(labels 0..{num_classes - 1})"
        )
    return labels, probabilities, class_names


def _validated_labels(y_true: np.ndarray) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise EdgeMLError(
            f"y_true must be 1-D integer labels, got shape {labels.shape} (for one-hot labels pass argmax(axis=1))"
        )
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        return labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise EdgeMLError(f"y_true must hold integer class indices, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    from sklearn.preprocessing import label_binarize

    one_hot = label_binarize(labels, classes=list(range(num_classes)))
    # For two classes label_binarize returns only the positive column.
    if num_classes == 2:
        one_hot = np.column_stack([1 - one_hot[:, 0], one_hot[:, 0]])
    return one_hot


def _one_vs_rest_auc(
    labels: np.ndarray, probabilities: np.ndarray
) -> tuple[list[float | None], float | None, float | None]:
    """Per-class, micro and macro AUC; classes absent from ``labels`` get None and stay out of the macro mean."""
    from sklearn.metrics import roc_auc_score

    num_classes = probabilities.shape[1]
    present = set(np.unique(labels).tolist())
    if len(present) < 2:
        return [None] * num_classes, None, None
    class_aucs = [
        float(roc_auc_score(labels == k, probabilities[:, k])) if k in present else None for k in range(num_classes)
    ]
    auc_macro = float(np.mean([auc for auc in class_aucs if auc is not None]))
    auc_micro = float(roc_auc_score(_one_hot(labels, num_classes).ravel(), probabilities.ravel()))
    return class_aucs, auc_micro, auc_macro


def _cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    from sklearn.metrics import log_loss

    row_sums = probabilities.sum(axis=1, keepdims=True)
    if probabilities.min() < 0 or probabilities.max() > 1 or np.any(row_sums <= 0):
        return None
    return float(log_loss(labels, probabilities / row_sums, labels=list(range(probabilities.shape[1]))))


def _save_figure(figure: Any, path: Path | str) -> Path:
    # A bare Figure (no pyplot) renders with Agg, needs no display and leaves no global figure state.
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return Path(path)


def _truncate(name: str) -> str:
    return name if len(name) <= TABLE_NAME_CHARS else name[: TABLE_NAME_CHARS - 1] + "~"


def _format_optional(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
