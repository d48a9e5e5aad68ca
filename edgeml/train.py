"""Training: build or load a model, fit it with callbacks, write the run directory; k-fold; tf.distribute.

A run directory is the on-disk form of a :class:`TrainedRun`:
``model.keras`` (the last epoch's weights, or with ``keep_weights="best"`` those with the lowest validation
loss), ``best.keras`` (that checkpoint, kept current during training so Ctrl-C never loses it),
``config.json`` (everything needed to reproduce and to preprocess inputs later), ``history.json``,
``history.png`` and ``summary.txt``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeml import __version__
from edgeml.artifact_json import JsonObject, read_json_object
from edgeml.artifacts import atomic_path, check_output_dir, write_json, write_text
from edgeml.data import Dataset, Normalization, choose_normalization, load_dataset, parse_normalize, train_validation_split
from edgeml.errors import EdgeMLError, TrainingInterrupted
from edgeml.history import FitDiagnosis, TrainingHistory, diagnose_fit, plot_history
from edgeml.keras3_bridge import TRAIN_REMEDY, BridgeRefused, bridge_prepared, is_keras3_model
from edgeml.rundir import CONFIG_FILE, HISTORY_FILE
from edgeml.models import (InputFit, ModelSpec, PreparedModel, build_model, check_model_object, copy_model_object,
                           describe_model_object, load_user_model, model_summary, prepare_user_model, refuse_model_code)
from edgeml.tf_setup import load_tensorflow

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "cosine")
KEPT_WEIGHTS = ("last", "best")
STRATEGIES = ("none", "mirrored", "multiworker")
RUN_FILES = ("model.keras", "best.keras", "config.json", "history.json", "history.png", "summary.txt")
MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``edgeml train`` needs; saved verbatim in ``config.json``.

    The model is built from ``model``, or loaded from ``model_path`` (a ``.keras``/``.h5`` file), or is
    ``keras_model``: a Keras 3 or tf_keras model object (Python API only; never changed by training, which
    trains a copy). ``config.json`` records a description of that object, since it has no path.
    """

    out: str = "runs/latest"
    dataset: str = "mnist"
    data_path: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    model_path: str | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    keep_weights: str = "last"
    optimizer: str = "adam"
    momentum: float = 0.9
    validation_split: float = 0.1
    seed: int = 0
    early_stopping: int = 0
    reduce_lr: int = 0
    train_samples: int | None = None
    test_samples: int | None = None
    kfold: int = 0
    strategy: str = "none"
    cpu_devices: int = 0
    normalize: str | None = None  # see edgeml.data.parse_normalize; None: the default for the data and model
    trust_model_code: bool = False  # load Lambda layers of a user model (and of this run, in later stages)
    force: bool = False
    verbose: bool = False
    keras_model: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        parse_normalize(self.normalize)  # a bad value fails before any work
        if self.keras_model is not None:
            check_model_object(self.keras_model)
            if self.model_path:
                raise EdgeMLError("give model_path (a file) or keras_model (a model object), not both")
        if self.epochs <= 0:
            raise EdgeMLError(f"--epochs must be positive, got {self.epochs}")
        if self.batch_size <= 0:
            raise EdgeMLError(f"--batch-size must be positive, got {self.batch_size}")
        if self.lr <= 0:
            raise EdgeMLError(f"--lr must be positive, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise EdgeMLError(f"unknown learning-rate schedule {self.lr_schedule!r}: choose constant or cosine")
        if self.keep_weights not in KEPT_WEIGHTS:
            raise EdgeMLError(f"--keep-weights must be last or best, got {self.keep_weights!r}")
        if self.optimizer not in OPTIMIZERS:
            raise EdgeMLError(f"unknown optimizer {self.optimizer!r}: choose adam or sgd")
        if not 0.0 <= self.momentum < 1.0:
            raise EdgeMLError(f"--momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 < self.validation_split < 1.0:
            raise EdgeMLError(f"--validation-split must be between 0 and 1 (exclusive), got {self.validation_split}")
        if self.early_stopping < 0:
            raise EdgeMLError("--early-stopping takes a patience in epochs (0 turns it off)")
        if self.reduce_lr < 0:
            raise EdgeMLError("--reduce-lr takes a patience in epochs (0 turns it off)")
        if self.reduce_lr and self.lr_schedule != "constant":
            raise EdgeMLError("--reduce-lr adjusts a constant learning rate: add --lr-schedule constant")
        if self.kfold == 1 or self.kfold < 0:
            raise EdgeMLError(f"--kfold needs at least 2 folds, got {self.kfold}")
        if self.strategy not in STRATEGIES:
            raise EdgeMLError(f"unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.cpu_devices < 0:
            raise EdgeMLError("--cpu-devices must be 0 (no split) or a positive count")

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON values; a ``keras_model`` as its description (never the object itself), in
        place of the unused ``model`` spec."""
        data = {item.name: getattr(self, item.name) for item in fields(self)
                if item.name not in ("force", "verbose", "keras_model")}
        if self.keras_model is None:
            data["model"] = self.model.to_dict()
        else:
            data.pop("model")
            data["keras_model"] = describe_model_object(self.keras_model)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """The options of :meth:`to_dict`; a recorded ``keras_model`` description cannot become the object
        again and is left out."""
        values = dict(data)
        values.pop("keras_model", None)
        values["model"] = ModelSpec.from_dict(values.get("model", {}))
        return cls(**values)


@dataclass(frozen=True)
class TrainedRun:
    run_dir: Path
    model_path: Path
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    test_accuracy: float
    test_loss: float
    diagnosis: FitDiagnosis
    wall_time_s: float
    replicas: int = 1
    interrupted: bool = False
    normalization: Normalization = field(default_factory=Normalization)
    input_fit: InputFit | None = None
    keras3_bridge: dict | None = None  # a Keras 3 model file trained through the tf_keras bridge: its check


def _recorded_options(options: JsonObject) -> TrainConfig:
    """The training options a record holds (:meth:`TrainConfig.to_dict`, in config.json and kfold.json); an
    option this edgeml does not know, or one it rejects, is one EdgeMLError naming the file."""
    expects = f"{options.path} does not have the contents edgeml expects"
    unknown = sorted(set(options.keys()) - {item.name for item in fields(TrainConfig)} - {"keras_model"})
    if unknown:
        raise EdgeMLError(f"{expects} (train: unknown option(s) {', '.join(unknown)})")
    spec = options.object("model")
    unknown = sorted(set(spec.keys()) - {item.name for item in fields(ModelSpec)})
    if unknown:
        raise EdgeMLError(f"{expects} (train.model: unknown option(s) {', '.join(unknown)})")
    try:
        return TrainConfig.from_dict(options.data)
    except EdgeMLError as exc:
        raise EdgeMLError(f"{expects} (train: {exc})") from None


@dataclass(frozen=True)
class DatasetRecord:
    """The data a run trained on, as ``config.json`` records it: the input shape of one sample (no batch
    axis), class names in label order, the normalisation the inputs went through, how samples were reshaped
    to the model's input (a line, or None), and the sample counts of the run's train and test subsets."""

    name: str
    source: str | None
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    normalization: Normalization
    label_format: str = "integer"
    input_fit: str | None = None
    train_samples: int | None = None
    test_samples: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "input_shape": list(self.input_shape),
                "class_names": list(self.class_names), "normalization": self.normalization.to_dict(),
                "label_format": self.label_format, "input_fit": self.input_fit,
                "train_samples": self.train_samples, "test_samples": self.test_samples}

    @classmethod
    def from_json(cls, data: JsonObject) -> "DatasetRecord":
        normalization = data.object("normalization")
        return cls(name=data.text("name", True), source=data.text("source"),
                   input_shape=tuple(int(size) for size in data.numbers("input_shape")),
                   class_names=tuple(data.strings("class_names", True)),
                   normalization=Normalization.from_dict(normalization.data) if normalization else Normalization(),
                   label_format=data.text("label_format") or "integer", input_fit=data.text("input_fit"),
                   train_samples=data.integer("train_samples"), test_samples=data.integer("test_samples"))


@dataclass(frozen=True)
class TrainingResult:
    """What training measured: test accuracy (fraction) and loss of the kept weights, the epoch they come
    from (1-based) of the epochs run, seconds of wall time, replicas of the tf.distribute strategy, whether
    Ctrl-C ended it early, and the fit diagnosis line (:func:`edgeml.history.diagnose_fit`)."""

    test_accuracy: float
    test_loss: float
    best_epoch: int
    epochs_run: int
    wall_time_s: float
    replicas: int = 1
    interrupted: bool = False
    diagnosis: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"test_accuracy": self.test_accuracy, "test_loss": self.test_loss, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "wall_time_s": round(self.wall_time_s, 2), "replicas": self.replicas,
                "interrupted": self.interrupted, "diagnosis": self.diagnosis}

    @classmethod
    def from_json(cls, data: JsonObject) -> "TrainingResult":
        return cls(test_accuracy=data.number("test_accuracy", True), test_loss=data.number("test_loss", True),
                   best_epoch=data.integer("best_epoch", True), epochs_run=data.integer("epochs_run", True),
                   wall_time_s=data.number("wall_time_s", True), replicas=data.integer("replicas") or 1,
                   interrupted=data.flag("interrupted"), diagnosis=data.text("diagnosis") or "")


@dataclass(frozen=True)
class TrainingRecord:
    """``config.json`` of a run: the options it was trained with, the data, the model file, the loss and the
    result. ``keras_model`` is the description of a model object given to the Python API (then ``train.model``
    is only the unused default spec); ``keras3_bridge`` the check of a Keras 3 file trained through tf_keras."""

    train: TrainConfig
    dataset: DatasetRecord
    result: TrainingResult
    model_file: str = MODEL_FILE
    loss: str = ""
    keras_model: str | None = None
    keras3_bridge: dict | None = None
    edgeml_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        train = self.train.to_dict()
        if self.keras_model is not None:
            train.pop("model", None)
            train["keras_model"] = self.keras_model
        return {"edgeml_version": self.edgeml_version, "train": train, "dataset": self.dataset.to_json(),
                "model_file": self.model_file, "keras3_bridge": self.keras3_bridge, "loss": self.loss,
                "result": self.result.to_json()}

    @classmethod
    def from_json(cls, data: JsonObject) -> "TrainingRecord":
        """What :meth:`to_json` wrote. A missing key, a value of the wrong type or a training option edgeml
        does not know (or rejects) is one EdgeMLError naming the file."""
        options = data.object("train", True)
        train = _recorded_options(options)
        bridge = data.object("keras3_bridge")
        return cls(train=train, dataset=DatasetRecord.from_json(data.object("dataset", True)),
                   result=TrainingResult.from_json(data.object("result", True)),
                   model_file=data.text("model_file") or MODEL_FILE, loss=data.text("loss") or "",
                   keras_model=options.text("keras_model"), keras3_bridge=dict(bridge.data) if bridge else None,
                   edgeml_version=data.text("edgeml_version") or "")

    @classmethod
    def read(cls, path: Path) -> "TrainingRecord | None":
        """``path`` (a run's ``config.json``) read back; None when it does not exist."""
        found = read_json_object(path)
        return None if found is None else cls.from_json(found)


@dataclass(frozen=True)
class KFoldResult:
    """``edgeml train --kfold K``: each fold's test accuracy (fraction), their mean and population standard
    deviation, written as ``kfold.json`` in ``run_dir`` with the options and the dataset's name."""

    fold_accuracies: tuple[float, ...]
    mean_accuracy: float
    std_accuracy: float
    run_dir: Path
    train: TrainConfig = field(default_factory=TrainConfig)
    dataset: str = ""

    def line(self) -> str:
        folds = ", ".join(f"{a:.4f}" for a in self.fold_accuracies)
        return f"{len(self.fold_accuracies)}-fold accuracy: {self.mean_accuracy:.4f} ± {self.std_accuracy:.4f} (folds: {folds})"

    def to_json(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "dataset": self.dataset, "fold_accuracies": list(self.fold_accuracies),
                "mean_accuracy": self.mean_accuracy, "std_accuracy": self.std_accuracy}

    @classmethod
    def from_json(cls, data: JsonObject) -> "KFoldResult":
        """What :meth:`to_json` wrote into ``data.path``'s folder; a missing key is one EdgeMLError naming it."""
        train = _recorded_options(data.object("train", True))
        return cls(fold_accuracies=tuple(data.numbers("fold_accuracies")),
                   mean_accuracy=data.number("mean_accuracy", True), std_accuracy=data.number("std_accuracy", True),
                   run_dir=data.path.parent, train=train, dataset=data.text("dataset", True))


# -------------------------------------------------------------------------------------------------- training


def train(config: TrainConfig) -> TrainedRun:
    """Train one model and write its run directory."""
    if config.strategy != "multiworker":  # fail on a bad --out before TensorFlow's start-up cost
        check_output_dir(Path(config.out), config.force, RUN_FILES)
    tf = load_tensorflow(config.verbose)
    strategy = _make_strategy(tf, config)
    if _is_chief(strategy):
        return _train(tf, strategy, config, check_output_dir(Path(config.out), config.force, RUN_FILES), True)
    # Non-chief workers must still save (saving may run collectives) but into a throw-away folder.
    with tempfile.TemporaryDirectory(prefix="edgeml-worker-") as scratch:
        return _train(tf, strategy, config, Path(scratch), False)


def _train(tf, strategy, config: TrainConfig, run_dir: Path, is_chief: bool) -> TrainedRun:
    tf.keras.utils.set_random_seed(config.seed)
    dataset = _load(config)
    with strategy.scope():
        prepared = _model_for(config, dataset)
        model, dataset = prepared.model, prepared.dataset
    x_all, y_all = dataset.train_inputs(), dataset.y_train
    train_index, validation_index = train_validation_split(y_all, config.validation_split, config.seed)
    x_train, y_train = x_all[train_index], y_all[train_index]
    x_val, y_val = x_all[validation_index], y_all[validation_index]
    with strategy.scope():  # the schedule's length needs the split
        loss = _compile(tf, model, config, dataset.label_format, steps_per_epoch(len(train_index), config.batch_size))
    summary = model_summary(model)
    print(summary, end="")
    print(f"data: {dataset.describe()}; {len(train_index)} train / {len(validation_index)} validation samples")
    if prepared.fit is not None and prepared.fit.action:
        print(prepared.fit.line())
    print(f"normalisation: {dataset.normalization.describe()}")

    checkpoint = AtomicBestCheckpoint.create(tf, run_dir / "best.keras", config.keep_weights)
    callbacks = [checkpoint]
    if config.early_stopping:
        callbacks.append(
            tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping, verbose=1)
        )
    if config.reduce_lr:
        callbacks.append(
            tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=config.reduce_lr, verbose=1)
        )
    started = time.perf_counter()
    interrupted = False
    try:
        fitted = model.fit(
            _as_input(tf, x_train, targets_for(y_train, loss, dataset.num_classes), config, shuffle=True),
            validation_data=_as_input(tf, x_val, targets_for(y_val, loss, dataset.num_classes), config, shuffle=False),
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,
        )
        history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    except KeyboardInterrupt:
        interrupted = True
        history = {k: [float(v) for v in values] for k, values in checkpoint.seen.items()}
    wall_time_s = time.perf_counter() - started

    if checkpoint.best_epoch is None:
        raise TrainingInterrupted(
            f"training interrupted before the first epoch finished; no checkpoint was written in {run_dir}"
        )
    model.set_weights(checkpoint.best_weights)
    test_loss, test_accuracy = (float(v) for v in model.evaluate(
        dataset.test_inputs(), targets_for(dataset.y_test, loss, dataset.num_classes), batch_size=config.batch_size, verbose=0
    ))
    diagnosis = diagnose_fit(history)
    run = TrainedRun(
        run_dir=run_dir,
        model_path=run_dir / MODEL_FILE,
        history=history,
        best_epoch=checkpoint.best_epoch,
        epochs_run=len(history.get("loss", [])),
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        diagnosis=diagnosis,
        wall_time_s=wall_time_s,
        replicas=int(strategy.num_replicas_in_sync),
        interrupted=interrupted,
        normalization=dataset.normalization,
        input_fit=prepared.fit,
        keras3_bridge=prepared.bridge.to_dict() if prepared.bridge is not None else None,
    )
    with atomic_path(run.model_path) as tmp:
        model.save(tmp)
    if not is_chief:
        return run
    write_text(run_dir / "summary.txt", summary + f"\nfit diagnosis: {diagnosis.line()}\n")
    write_json(run_dir / HISTORY_FILE,
               TrainingHistory({name: tuple(values) for name, values in history.items()}, run.best_epoch,
                               diagnosis.line()).to_json())
    plot_history(history, run_dir / "history.png", title=f"{model.name} on {dataset.name}")
    write_json(run_dir / CONFIG_FILE, _run_record(config, dataset, loss, run).to_json())
    if interrupted:
        raise TrainingInterrupted(
            f"training interrupted after {run.epochs_run} epoch(s); the best checkpoint (epoch {run.best_epoch}, "
            f"test accuracy {test_accuracy:.4f}) is saved as {run.model_path} and usable"
        )
    return run


def _load(config: TrainConfig) -> Dataset:
    return load_dataset(
        config.dataset,
        data_path=config.data_path,
        train_samples=config.train_samples,
        test_samples=config.test_samples,
        seed=config.seed,
    )


def _model_for(config: TrainConfig, dataset: Dataset) -> PreparedModel:
    """The model to train and the dataset fitted to it, with the normalisation chosen for both."""
    if config.model_path or config.keras_model is not None:
        model = _user_model(config)
        prepared = prepare_user_model(model, dataset, config.normalize, verbose=config.verbose)
        if not is_keras3_model(prepared.model):
            return prepared
        # Trained as tf_keras, so the run's model.keras is one every later stage (QAT included) can load.
        try:
            return bridge_prepared(prepared, config.verbose, config.batch_size)
        except BridgeRefused as refused:
            raise BridgeRefused(refused.layers, TRAIN_REMEDY) from None
    if config.normalize is not None:
        normalization = choose_normalization(config.normalize, dataset.x_train, dataset.pixel_max, user_model=False)
        dataset = replace(dataset, normalization=normalization)
    model = build_model(config.model, dataset.input_shape, dataset.num_classes, config.verbose)
    return PreparedModel(model=model, dataset=dataset, fit=None)


def _user_model(config: TrainConfig):
    """The model file loaded, or the model object given; a tf_keras object as a copy (a Keras 3 one is
    copied by the bridge), which the run's ``model.keras`` will store: its Lambda layers need
    ``trust_model_code`` like a file's."""
    if config.model_path:
        return load_user_model(config.model_path, config.verbose, config.trust_model_code)
    if is_keras3_model(config.keras_model):
        return config.keras_model
    refuse_model_code(config.keras_model, f"the model object {config.keras_model.name!r}", config.trust_model_code)
    return copy_model_object(config.keras_model, config.verbose)


def loss_for(model, label_format: str) -> str:
    """The loss follows the labels: one sigmoid output means binary labels; one-hot labels take the
    categorical cross-entropy and integer labels the sparse one."""
    if model.output_shape[-1] == 1:
        return "binary_crossentropy"
    return "categorical_crossentropy" if label_format == "one-hot" else "sparse_categorical_crossentropy"


def targets_for(labels: np.ndarray, loss: str, num_classes: int) -> np.ndarray:
    """Integer labels in the form ``loss`` expects."""
    if loss == "binary_crossentropy":
        return labels.astype(np.float32)
    if loss == "categorical_crossentropy":
        return np.eye(num_classes, dtype=np.float32)[labels]
    return labels


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (the last, partial batch counts)."""
    return -(-samples // batch_size)


def learning_rate(tf, config: TrainConfig, steps_per_epoch: int):
    """The optimizer's learning rate: ``config.lr`` throughout, or (``cosine``) decayed per step from
    ``config.lr`` to 0 at the end of ``config.epochs`` by ``lr * (1 + cos(pi * step / total_steps)) / 2``
    (SGDR without restarts, Loshchilov & Hutter 2017, arXiv:1608.03983; tf.keras ``CosineDecay``).

    Cosine is the default because ``benchmarks/defaults_sweep.py`` measured it (with the last epoch's
    weights) at or above the plain constant-rate Keras script at every epoch budget, where a constant
    rate at the same batch size fell 0.8 points short on Fashion-MNIST at 10 epochs: the last epochs take
    small steps, so the last epoch's weights are settled ones.
    """
    if config.lr_schedule == "constant":
        return config.lr
    return tf.keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr, decay_steps=max(1, config.epochs * steps_per_epoch), alpha=0.0
    )


def _compile(tf, model, config: TrainConfig, label_format: str, steps_per_epoch: int) -> str:
    rate = learning_rate(tf, config, steps_per_epoch)
    if config.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(learning_rate=rate)
    else:
        optimizer = tf.keras.optimizers.SGD(learning_rate=rate, momentum=config.momentum)
    loss = loss_for(model, label_format)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return loss


def _as_input(tf, x: np.ndarray, targets: np.ndarray, config: TrainConfig, shuffle: bool):
    """A batched tf.data pipeline; under multi-worker training each worker reads its share of the batches."""
    data = tf.data.Dataset.from_tensor_slices((x, targets))
    if shuffle:
        data = data.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    data = data.batch(config.batch_size)
    if config.strategy == "multiworker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        data = data.with_options(options)
    return data.prefetch(2)


class AtomicBestCheckpoint:
    """Keeps the weights with the lowest validation loss (``keep="best"``) or the latest epoch's
    (``keep="last"``), in memory and atomically on disk.

    Keras' ModelCheckpoint writes in place; a Ctrl-C in the middle of that write would leave a broken
    file, so the checkpoint is written to a temporary file and renamed.
    """

    @classmethod
    def create(cls, tf, path: Path, keep: str = "best"):
        class _Callback(tf.keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.path = path
                self.best_loss = float("inf")
                self.best_epoch: int | None = None
                self.best_weights = None
                self.seen: dict[str, list[float]] = {}

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                for key, value in logs.items():
                    self.seen.setdefault(key, []).append(float(value))
                current = logs.get("val_loss", logs.get("loss"))
                if keep == "last" or (current is not None and current < self.best_loss):
                    self.best_loss = float(current) if current is not None else self.best_loss
                    self.best_epoch = epoch + 1
                    self.best_weights = self.model.get_weights()
                    with atomic_path(self.path) as tmp:
                        self.model.save(tmp)

        return _Callback()


def _run_record(config: TrainConfig, dataset: Dataset, loss: str, run: TrainedRun) -> TrainingRecord:
    return TrainingRecord(
        train=config,
        dataset=DatasetRecord(name=dataset.name, source=dataset.source, input_shape=dataset.input_shape,
                              class_names=tuple(dataset.class_names), normalization=dataset.normalization,
                              label_format=dataset.label_format,
                              input_fit=run.input_fit.line() if run.input_fit is not None else None,
                              train_samples=int(len(dataset.y_train)), test_samples=int(len(dataset.y_test))),
        result=TrainingResult(test_accuracy=run.test_accuracy, test_loss=run.test_loss, best_epoch=run.best_epoch,
                              epochs_run=run.epochs_run, wall_time_s=run.wall_time_s, replicas=run.replicas,
                              interrupted=run.interrupted, diagnosis=run.diagnosis.line()),
        loss=loss, keras3_bridge=run.keras3_bridge,
        keras_model=describe_model_object(config.keras_model) if config.keras_model is not None else None,
    )


# ------------------------------------------------------------------------------------------- tf.distribute


def _make_strategy(tf, config: TrainConfig):
    """The tf.distribute strategy for ``config.strategy`` (the default strategy for "none")."""
    if config.cpu_devices:
        _split_cpu(tf, config.cpu_devices)
    if config.strategy == "none":
        return tf.distribute.get_strategy()
    if config.strategy == "mirrored":
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        devices += [device.name for device in tf.config.list_logical_devices("GPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if "TF_CONFIG" not in os.environ:
        raise EdgeMLError("--strategy multiworker needs the TF_CONFIG environment variable (cluster and task)")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as exc:
        raise EdgeMLError(f"TF_CONFIG is not valid JSON: {exc}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def _split_cpu(tf, count: int) -> None:
    """Expose the CPU as ``count`` logical devices, so MirroredStrategy can replicate on one machine."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != count:
            raise EdgeMLError(
                f"cannot split the CPU into {count} devices: TensorFlow is already initialised with {existing}"
            ) from None


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


# ---------------------------------------------------------------------------------------------------- k-fold


def run_kfold(config: TrainConfig) -> KFoldResult:
    """Stratified K-fold cross-validation on the training set; each fold trains a fresh model."""
    from sklearn.model_selection import StratifiedKFold

    tf = load_tensorflow(config.verbose)
    run_dir = check_output_dir(Path(config.out), config.force, ("kfold.json",))
    dataset = _model_for(config, _load(config)).dataset
    x, y = dataset.train_inputs(), dataset.y_train
    smallest_class = int(np.bincount(y).min())
    if smallest_class < config.kfold:
        raise EdgeMLError(
            f"--kfold {config.kfold} needs at least {config.kfold} training samples per class; "
            f"the smallest class has {smallest_class}"
        )
    folds = StratifiedKFold(n_splits=config.kfold, shuffle=True, random_state=config.seed)
    accuracies = []
    for fold, (train_index, test_index) in enumerate(folds.split(np.zeros(len(y)), y), start=1):
        print(f"fold {fold}/{config.kfold}: {len(train_index)} train / {len(test_index)} held-out samples")
        tf.keras.utils.set_random_seed(config.seed + fold)
        model = _model_for(config, dataset).model
        loss = _compile(tf, model, config, dataset.label_format, steps_per_epoch(len(train_index), config.batch_size))
        model.fit(
            x[train_index], targets_for(y[train_index], loss, dataset.num_classes), batch_size=config.batch_size, epochs=config.epochs,
            verbose=1 if sys.stdout.isatty() else 2,
        )
        _, accuracy = model.evaluate(x[test_index], targets_for(y[test_index], loss, dataset.num_classes), verbose=0)
        accuracies.append(float(accuracy))
        print(f"fold {fold}/{config.kfold}: accuracy {accuracy:.4f}")
    result = KFoldResult(tuple(accuracies), float(np.mean(accuracies)), float(np.std(accuracies)), run_dir,
                         config, dataset.name)
    write_json(run_dir / "kfold.json", result.to_json())
    return result
