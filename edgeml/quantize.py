"""Quantization to TFLite: QAT (tensorflow-model-optimization) or post-training full-integer, plus float
variants, each measured on the converted file through a lite runtime.

Accuracy is always measured on the ``.tflite`` files, never on the QAT Keras model alone: the QAT model
can look fine while the converted int8 file is poor (tfmot#368).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edgeml.artifact_json import JsonObject, read_json_object
from edgeml.artifacts import check_output_dir, file_set, write_bytes, write_json
from edgeml.data import Dataset, Normalization, balanced_indices, load_dataset, parse_normalize, train_validation_split
from edgeml.errors import EdgeMLError
from edgeml.keras3_bridge import BridgeCheck, BridgeRefused, bridge_prepared, is_keras3_model
from edgeml.models import check_model_object, describe_model_object, load_user_model, prepare_user_model
from edgeml.progress import progress
from edgeml.rundir import CONFIG_FILE, RunRecord
from edgeml.runtime import LiteModel, decide_class
from edgeml.tf_setup import load_tensorflow
from edgeml.tflite_model import TFLiteModelInfo, read_tflite_bytes
from edgeml.train import loss_for, targets_for

QUANTIZATION_FILE = "quantization.json"
FOLDED_AFTER = ("Conv2D", "DepthwiseConv2D", "Dense")


class Method(str, Enum):
    QAT = "qat"
    PTQ = "ptq"


class IOType(str, Enum):
    INT8 = "int8"
    UINT8 = "uint8"
    FLOAT32 = "float32"


@dataclass(frozen=True, kw_only=True)
class QuantizeOptions:
    """How to quantize, whatever the model: the ``edgeml quantize`` flags' defaults and the pipeline's
    ``[quantize]`` table. ``method`` and ``io`` are the enums' members when given their values (TOML and the
    CLI give strings); any other value is kept as given, for :class:`QuantizeConfig` to refuse with its
    message when the stage runs."""

    method: Method = Method.QAT
    io: IOType = IOType.INT8
    qat_epochs: int = 2
    qat_lr: float = 1e-4
    calibration_samples: int = 500
    float16: bool = False
    dynamic_range: bool = False
    test_samples: int | None = None

    def __post_init__(self) -> None:
        for name, kind in (("method", Method), ("io", IOType)):
            value = getattr(self, name)
            if value in tuple(kind):  # a str enum's member equals its value
                object.__setattr__(self, name, kind(value))


@dataclass(frozen=True)
class QuantizeConfig(QuantizeOptions):
    """What to quantize: ``target`` (a run directory or a ``.keras``/``.h5`` file) or ``keras_model`` (a Keras 3
    or tf_keras model object, Python API only, with ``dataset`` and ``out``: it has neither a run nor a folder);
    quantization.json records the file's path or the object's description. How: :class:`QuantizeOptions`
    (keyword arguments)."""

    target: str = ""
    dataset: str | None = None
    data_path: str | None = None
    batch_size: int = 128
    normalize: str | None = None  # for a model file outside a run; a run's recorded normalisation is used
    trust_model_code: bool = False  # load Lambda layers of a model file outside a run (a run records it)
    out: str | None = None
    force: bool = False
    verbose: bool = False
    keras_model: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        parse_normalize(self.normalize)
        if self.keras_model is not None:
            check_model_object(self.keras_model)
            if self.target:
                raise EdgeMLError("give target (a run directory or model file) or keras_model (a model object), "
                                  "not both")
            if self.dataset is None or self.out is None:
                raise EdgeMLError("a keras_model object needs dataset (to calibrate, tune and measure on) and out "
                                  "(the folder to write to)")
        elif not self.target:
            raise EdgeMLError("nothing to quantize: give target (a run directory or .keras/.h5 file) or keras_model")
        try:
            object.__setattr__(self, "method", Method(self.method))
            object.__setattr__(self, "io", IOType(self.io))
        except ValueError as exc:
            raise EdgeMLError(f"{exc}; methods: qat, ptq; I/O types: int8, uint8, float32") from None
        if self.qat_epochs <= 0:
            raise EdgeMLError(f"--qat-epochs must be positive, got {self.qat_epochs}")
        if self.qat_lr <= 0:
            raise EdgeMLError(f"--qat-lr must be positive, got {self.qat_lr}")
        if self.calibration_samples <= 0:
            raise EdgeMLError(f"--calibration-samples must be positive, got {self.calibration_samples}")


@dataclass(frozen=True)
class VariantResult:
    """One converted file and what it scored through the lite runtime: accuracy and agreement (top class
    equal to the Keras float model's) as fractions of the test samples, mean/max |difference| of the output
    scores against the Keras float model's, the file's size in bytes."""

    name: str
    file: str
    size_bytes: int
    accuracy: float
    agreement_with_float: float
    mean_abs_diff: float
    max_abs_diff: float
    fully_int8: bool

    @classmethod
    def from_json(cls, data: JsonObject) -> "VariantResult":
        return cls(name=data.text("name", True), file=data.text("file", True),
                   size_bytes=data.integer("size_bytes", True), accuracy=data.number("accuracy", True),
                   agreement_with_float=data.number("agreement_with_float", True),
                   mean_abs_diff=data.number("mean_abs_diff", True), max_abs_diff=data.number("max_abs_diff", True),
                   fully_int8=data.flag("fully_int8"))


@dataclass(frozen=True)
class TensorParameters:
    """One tensor of the int8 file as the runtime sees it: dtype name, shape, and its quantization (one
    scale and zero point per tensor, or one per channel; empty for a float tensor)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]

    @classmethod
    def from_json(cls, data: JsonObject) -> "TensorParameters":
        return cls(name=data.text("name", True), dtype=data.text("dtype", True),
                   shape=tuple(int(value) for value in data.numbers("shape")), scales=tuple(data.numbers("scales")),
                   zero_points=tuple(int(value) for value in data.numbers("zero_points")))


@dataclass(frozen=True)
class QuantizationReport:
    """What ``edgeml quantize`` measured, written as ``quantization.json`` (:meth:`to_dict`) and read back by
    :meth:`from_json`. Accuracies are fractions of ``test_samples``; ``wall_time_s`` in seconds."""

    method: str
    io: str
    keras_float_accuracy: float
    test_samples: int
    parameter_count: int
    variants: tuple[VariantResult, ...]
    runtime: str
    calibration_samples: int
    qat_epochs: int
    wall_time_s: float
    int8_tensors: tuple[TensorParameters, ...] = ()  # every tensor of the int8 file
    normalization: dict = field(default_factory=dict)  # what the inputs went through (Normalization.to_dict)
    keras3: dict = field(default_factory=dict)  # a Keras 3 model: bridged (with the check) or converted directly
    model: str = ""  # what was quantized: the model file's path, or the description of the model object given
    files: dict[str, Path] = field(default_factory=dict)

    def variant(self, name: str) -> VariantResult:
        return next(v for v in self.variants if v.name == name)

    @property
    def int8_to_float32_size(self) -> float:
        return self.variant("int8").size_bytes / self.variant("float32").size_bytes

    def to_dict(self) -> dict:
        """``quantization.json``: the fields, plus the int8/float32 size ratio and the parameter floor in bytes
        (one byte per parameter in int8, four in float32), which :meth:`from_json` recomputes."""
        data = asdict(self)
        data["files"] = {name: str(path) for name, path in self.files.items()}
        data["int8_to_float32_size"] = round(self.int8_to_float32_size, 4)
        data["parameter_floor_bytes"] = {"int8": self.parameter_count, "float32": 4 * self.parameter_count}
        return data

    @classmethod
    def from_json(cls, data: JsonObject) -> "QuantizationReport":
        """The report :meth:`to_dict` wrote. A key the file lacks or a value of the wrong type is one
        EdgeMLError naming the file and the key; so is a report without its int8 and float32 variants."""
        variants = tuple(VariantResult.from_json(variant) for variant in data.objects("variants", True))
        missing = {"int8", "float32"} - {variant.name for variant in variants}
        if missing:
            raise EdgeMLError(f"{data.path} does not have the contents edgeml expects (variants: no "
                              f"{' and no '.join(sorted(missing))} variant)")
        return cls(
            method=data.text("method", True), io=data.text("io", True),
            keras_float_accuracy=data.number("keras_float_accuracy", True),
            test_samples=data.integer("test_samples", True), parameter_count=data.integer("parameter_count", True),
            variants=variants, runtime=data.text("runtime", True),
            calibration_samples=data.integer("calibration_samples", True),
            qat_epochs=data.integer("qat_epochs", True), wall_time_s=data.number("wall_time_s", True),
            int8_tensors=tuple(TensorParameters.from_json(tensor) for tensor in data.objects("int8_tensors")),
            normalization=dict(data.object("normalization").data), keras3=dict(data.object("keras3").data),
            model=data.text("model") or "",
            files={name: Path(path) for name, path in data.object("files").data.items() if isinstance(path, str)},
        )

    @classmethod
    def read(cls, path: Path) -> "QuantizationReport | None":
        """``path`` (a run's ``quantization.json``) read back; None when it does not exist. EdgeMLError when
        it is not JSON or lacks what :meth:`from_json` needs."""
        data = read_json_object(path)
        return None if data is None else cls.from_json(data)

    def table(self) -> str:
        lines = [
            f"Keras float accuracy {self.keras_float_accuracy:.4f} on {self.test_samples} test samples "
            f"(method {self.method}, runtime {self.runtime})"
            + (f"; inputs {Normalization.from_dict(self.normalization).describe()}" if self.normalization else ""),
            f"{'variant':<10} {'accuracy':>9} {'agree':>7} {'mean|d|':>9} {'max|d|':>8} {'bytes':>9}  fully int8",
        ]
        for v in self.variants:
            lines.append(
                f"{v.name:<10} {v.accuracy:>9.4f} {v.agreement_with_float:>7.2%} {v.mean_abs_diff:>9.5f} "
                f"{v.max_abs_diff:>8.4f} {v.size_bytes:>9}  {'yes' if v.fully_int8 else 'no'}"
            )
        if self.keras3.get("max_abs_diff") is not None:
            lines.append(BridgeCheck(self.keras3["layers"], self.keras3["max_abs_diff"], self.keras3["samples"]).line())
        elif self.keras3:
            lines.append(f"Keras 3 model {self.keras3['path']}")
        lines.append(
            f"int8/float32 size {self.int8_to_float32_size:.3f}; parameter floor {self.parameter_count} B int8, "
            f"{4 * self.parameter_count} B float32"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Source:
    """The float model to quantize (a file, or ``model_object``) and the data to tune and measure on, with a
    run's recorded normalisation (None outside a run: chosen as at training) and whether to trust model code."""

    model_path: Path | None
    dataset: Dataset
    seed: int
    validation_split: float
    out_dir: Path
    normalization: Normalization | None = None
    trust_model_code: bool = False
    model_object: Any = None

    def model(self, verbose: bool):
        if self.model_object is not None:
            return self.model_object
        return load_user_model(self.model_path, verbose, self.trust_model_code)

    def describe(self) -> str:
        return describe_model_object(self.model_object) if self.model_object is not None else str(self.model_path)


def _source(config: QuantizeConfig) -> _Source:
    """A run directory, or a ``.keras``/``.h5`` file (inside a run directory, or with ``--dataset``), or a
    model object (with a dataset)."""
    if config.keras_model is not None:
        dataset = load_dataset(config.dataset, data_path=config.data_path, test_samples=config.test_samples)
        return _Source(model_path=None, dataset=dataset, seed=0, validation_split=0.1, out_dir=Path(config.out),
                       model_object=config.keras_model)
    target = Path(config.target)
    if target.is_file() and target.suffix not in (".keras", ".h5"):
        raise EdgeMLError(f"{target} is not a Keras model (.keras or .h5) or a run directory")
    run_dir = target if target.is_dir() else target.parent
    if target.is_dir() or (run_dir / CONFIG_FILE).is_file():
        record = RunRecord.load(run_dir)
        dataset = _dataset_of(record, config) if config.dataset is None else load_dataset(
            config.dataset, data_path=config.data_path, test_samples=config.test_samples, seed=record.seed)
        return _Source(
            model_path=record.model_path if target.is_dir() else target,
            dataset=dataset,
            seed=record.seed,
            validation_split=record.validation_split,
            out_dir=run_dir,
            normalization=record.normalization,
            trust_model_code=record.trust_model_code or config.trust_model_code,
        )
    if not target.exists():
        raise EdgeMLError(f"nothing to quantize at {target}: give a run directory or a .keras/.h5 model")
    if config.dataset is None:
        raise EdgeMLError(f"{target} is not in a run directory: give --dataset to calibrate, tune and measure on")
    dataset = load_dataset(config.dataset, data_path=config.data_path, test_samples=config.test_samples)
    return _Source(model_path=target, dataset=dataset, seed=0, validation_split=0.1, out_dir=run_dir,
                   trust_model_code=config.trust_model_code)


def require_full_int8(info: TFLiteModelInfo) -> None:
    """An int8 conversion that kept float compute is an error naming the ops (tf#40477, tf#42092)."""
    if info.float_ops:
        raise EdgeMLError(
            f"the int8 conversion left float ops: {', '.join(info.float_ops)}; "
            "these layers have no int8 kernel (rewrite or remove them)"
        )


def quantize(config: QuantizeConfig) -> QuantizationReport:
    """Convert a trained model to float32 and int8 TFLite (and the requested variants), then measure them."""
    started = time.perf_counter()
    source = _source(config)
    out_dir = check_output_dir(Path(config.out) if config.out else source.out_dir, config.force, _outputs(config))
    tf = load_tensorflow(config.verbose)
    model = source.model(config.verbose)
    prepared = prepare_user_model(model, source.dataset, config.normalize, source.normalization, config.verbose)
    keras3 = {}
    if is_keras3_model(prepared.model):
        if config.method is Method.QAT:  # tfmot wraps tf_keras models only (tfmot#1144)
            try:
                prepared = bridge_prepared(prepared, config.verbose, config.batch_size)
            except BridgeRefused as refused:
                raise QATUnsupportedError(refused.layers) from None
            keras3 = prepared.bridge.to_dict()
        else:
            keras3 = {"path": "converted directly (SavedModel export, no bridge)"}
            print("Keras 3 model: PTQ converts it directly (SavedModel export, no bridge to tf_keras)")
    model, dataset = prepared.model, prepared.dataset
    x_train, x_test = dataset.train_inputs(), dataset.test_inputs()
    representative = _representative_samples(x_train, dataset.y_train, config.calibration_samples, source.seed)

    converted = {}
    if config.method is Method.QAT:
        qat_model = _quantization_aware(tf, model, dataset, x_train, source, config)
        converted["int8"] = _convert(tf, qat_model, representative=representative, io=config.io)
    with _converters(tf, model) as float_converter:  # a Keras 3 model is exported once for every variant
        converted["float32"] = _run_converter(tf, float_converter())
        if config.method is Method.PTQ:
            converted["int8"] = _run_converter(tf, float_converter(), representative=representative, io=config.io)
        int8_info = read_tflite_bytes(converted["int8"], "model_int8.tflite")
        require_full_int8(int8_info)
        if config.float16:
            converted["float16"] = _run_converter(tf, float_converter(), float16=True)
        if config.dynamic_range:
            converted["dynamic"] = _run_converter(tf, float_converter(), dynamic_range=True)
    converted = {name: converted[name] for name in ("float32", "int8", "float16", "dynamic") if name in converted}

    keras_probabilities = np.asarray(model.predict(x_test, batch_size=config.batch_size, verbose=0))
    keras_accuracy = float(np.mean(decide_class(keras_probabilities) == dataset.y_test))
    variants, runtime = [], "none"
    for name, content in converted.items():
        lite = LiteModel(content)
        runtime = lite.runtime
        probabilities = lite.predict(x_test, batch_size=config.batch_size)
        info = int8_info if name == "int8" else read_tflite_bytes(content, f"model_{name}.tflite")
        variants.append(_score(name, content, info, probabilities, keras_probabilities, dataset.y_test))
    files = {**{name: out_dir / f"model_{name}.tflite" for name in converted}, "report": out_dir / QUANTIZATION_FILE}
    report = QuantizationReport(
        method=config.method.value,
        io=config.io.value,
        keras_float_accuracy=keras_accuracy,
        test_samples=int(len(dataset.y_test)),
        parameter_count=int(model.count_params()),
        variants=tuple(variants),
        runtime=runtime,
        calibration_samples=int(len(representative)),
        qat_epochs=config.qat_epochs if config.method is Method.QAT else 0,
        wall_time_s=round(time.perf_counter() - started, 2),
        int8_tensors=tuple(_tensor_parameters(tensor) for tensor in int8_info.tensors),
        normalization=dataset.normalization.to_dict(),
        keras3=keras3,
        model=source.describe(),
        files=files,
    )
    with file_set(out_dir) as staging:  # the models and their report appear together or not at all
        for name, content in converted.items():
            write_bytes(staging / files[name].name, content)
        write_json(staging / QUANTIZATION_FILE, report.to_dict())
    return report


def _outputs(config: QuantizeConfig) -> tuple[str, ...]:
    names = ["model_float32.tflite", "model_int8.tflite", QUANTIZATION_FILE]
    names += ["model_float16.tflite"] if config.float16 else []
    names += ["model_dynamic.tflite"] if config.dynamic_range else []
    return tuple(names)


def _dataset_of(record: RunRecord, config: QuantizeConfig) -> Dataset:
    dataset = load_dataset(
        record.dataset,
        data_path=record.data_path,
        train_samples=record.train_samples,
        test_samples=config.test_samples or record.test_samples,
        seed=record.seed,
    )
    if dataset.class_names != record.class_names:
        raise EdgeMLError(f"the dataset's classes {dataset.class_names} differ from the run's {record.class_names}")
    return dataset


def _representative_samples(x: np.ndarray, y: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Class-balanced calibration inputs, already normalised exactly like training inputs (tf#58206)."""
    return x[balanced_indices(y, count, np.random.default_rng(seed))]


def _tensor_parameters(tensor) -> TensorParameters:
    return TensorParameters(name=tensor.name, dtype=tensor.dtype, shape=tuple(int(size) for size in tensor.shape),
                            scales=tuple(float(scale) for scale in tensor.scales),
                            zero_points=tuple(int(zero_point) for zero_point in tensor.zero_points))


def _score(name, content, info: TFLiteModelInfo, probabilities, float_probabilities, labels) -> VariantResult:
    difference = np.abs(probabilities - float_probabilities)
    return VariantResult(
        name=name,
        file=f"model_{name}.tflite",
        size_bytes=len(content),
        accuracy=float(np.mean(decide_class(probabilities) == labels)),
        agreement_with_float=float(np.mean(decide_class(probabilities) == decide_class(float_probabilities))),
        mean_abs_diff=float(difference.mean()),
        max_abs_diff=float(difference.max()),
        fully_int8=info.fully_int8,
    )


# ------------------------------------------------------------------------------------------------------ QAT


def unsupported_qat_layers(model) -> list[str]:
    """Layers tfmot's default 8-bit scheme cannot wrap, as ``name (Type)``, before any training starts.

    A BatchNormalization right after a Conv2D/Dense is fine: tfmot folds it.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_module,
    )

    registry = registry_module.Default8BitQuantizeRegistry()
    unsupported = []
    previous = None
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer" or registry.supports(layer):
            pass
        elif kind == "BatchNormalization" and previous in FOLDED_AFTER:
            pass
        else:
            unsupported.append(f"{layer.name} ({kind}{_qat_hint(kind)})")
        previous = kind
    return unsupported


class QATUnsupportedError(EdgeMLError):
    """QAT cannot wrap some layers of the model. The message ends with how to ask for PTQ in the words of
    the command being run: ``--method ptq`` for ``edgeml quantize``; the pipeline re-raises it with
    :meth:`for_option` (``--set quantize.method=ptq``)."""

    def __init__(self, layers: tuple[str, ...], ptq_option: str = "--method ptq") -> None:
        self.layers = tuple(layers)
        super().__init__("QAT cannot wrap these layers: " + "; ".join(self.layers) + f". Rewrite them, or use {ptq_option}")

    def for_option(self, ptq_option: str) -> "QATUnsupportedError":
        return QATUnsupportedError(self.layers, ptq_option)


def _qat_hint(kind: str) -> str:
    hints = {
        "TFOpLambda": ": a raw TF op such as x+3 or slicing; use keras layers like layers.Add",
        "LayerNormalization": ": no QAT wrapper; move normalisation to preprocessing",
        "Rescaling": ": move the scaling into preprocessing (edgeml records it as the normalisation)",
        "BatchNormalization": ": must directly follow a Conv2D or Dense to fold",
    }
    return hints.get(kind, "")


def _quantization_aware(tf, model, dataset: Dataset, x_train: np.ndarray, source: _Source, config: QuantizeConfig):
    """Wrap with tfmot's quantize_model and fine-tune on the run's own data and normalisation."""
    import tensorflow_model_optimization as tfmot

    unsupported = unsupported_qat_layers(model)
    if unsupported:
        raise QATUnsupportedError(tuple(unsupported))
    try:
        qat_model = tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as exc:
        raise EdgeMLError(f"QAT could not wrap the model: {str(exc).splitlines()[0]}") from None
    loss = loss_for(model, dataset.label_format)
    qat_model.compile(optimizer=tf.keras.optimizers.Adam(config.qat_lr), loss=loss, metrics=["accuracy"])
    labels = targets_for(dataset.y_train, loss, dataset.num_classes)
    train_index, validation_index = train_validation_split(dataset.y_train, source.validation_split, source.seed)
    print(f"QAT fine-tuning: {config.qat_epochs} epoch(s) at lr {config.qat_lr}")
    tf.keras.utils.set_random_seed(source.seed)  # the same model and data give the same int8 file
    qat_model.fit(
        x_train[train_index], labels[train_index],
        validation_data=(x_train[validation_index], labels[validation_index]),
        epochs=config.qat_epochs, batch_size=config.batch_size, verbose=2,
    )
    return qat_model


# ---------------------------------------------------------------------------------------------- conversion


def _convert(tf, model, representative: np.ndarray | None = None, io: IOType = IOType.INT8,
             float16: bool = False, dynamic_range: bool = False) -> bytes:
    """Convert with a static batch of 1, the batch a device runs.

    With the batch left dynamic, a Dense on a rank-3 tensor converts to SHAPE, GATHER, PACK, REDUCE_PROD,
    CONCATENATION and STRIDED_SLICE computing its output shape at run time (REDUCE_PROD has no TFLite
    Micro kernel); with every shape known it is one FULLY_CONNECTED (keep_num_dims) and RESHAPEs with
    constant shapes. Every variant is converted the same way, so they stay comparable.

    A Keras 3 model goes through a SavedModel exported with that batch-1 signature: traced as a concrete
    function, its variables stay READ_VARIABLE ops that fail at int8 calibration.
    """
    with _converters(tf, model) as converter:
        return _run_converter(tf, converter(), representative, io, float16, dynamic_range)


@contextmanager
def _converters(tf, model) -> Iterator[Callable[[], Any]]:
    """A function giving a fresh batch-1 TFLiteConverter for ``model`` per call (one per variant); a Keras 3
    model is exported as a SavedModel once for all of them, kept until the block ends."""
    if not is_keras3_model(model):
        yield lambda: tf.lite.TFLiteConverter.from_concrete_functions([_batch_of_one(tf, model)], model)
        return
    with tempfile.TemporaryDirectory(prefix="edgeml-keras3-") as scratch:
        signature = _batch_of_one_signature(tf, model)
        try:
            model.export(scratch, format="tf_saved_model", input_signature=[signature], verbose=False)
        except Exception as exc:  # export traces the model: any layer error surfaces here
            raise EdgeMLError(f"exporting the Keras 3 model as a SavedModel failed: {_first_line(exc)}") from None
        yield lambda: tf.lite.TFLiteConverter.from_saved_model(scratch)


def _run_converter(tf, converter, representative: np.ndarray | None = None, io: IOType = IOType.INT8,
                   float16: bool = False, dynamic_range: bool = False) -> bytes:
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {IOType.INT8: tf.int8, IOType.UINT8: tf.uint8, IOType.FLOAT32: tf.float32}[io]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    elif float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif dynamic_range:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
        lines = [line for line in str(exc).splitlines() if "error" in line.lower()] or [str(exc) or type(exc).__name__]
        raise EdgeMLError(f"TFLite conversion failed: {lines[0].strip()}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _batch_of_one(tf, model):
    """The model's inference function traced for one float32 sample of its input shape."""
    signature = _batch_of_one_signature(tf, model)
    return tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(signature)


def _batch_of_one_signature(tf, model):
    """The float32 TensorSpec of one sample of the model's input, batch 1."""
    if isinstance(model.input_shape, list):
        raise EdgeMLError("models with several inputs are not supported")
    sample_shape = tuple(model.input_shape[1:])
    if any(dimension is None for dimension in sample_shape):
        raise EdgeMLError(
            f"the model's input shape {sample_shape} has an unknown dimension; a TFLite model for a device "
            "needs a fixed input shape (give the model's Input a fixed shape)"
        )
    return tf.TensorSpec((1, *sample_shape), tf.float32, name="input")


def _calibration(samples: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def generate() -> Iterator[list[np.ndarray]]:
        every = max(1, len(samples) // 50)
        for sample in progress(samples, len(samples), "int8 calibration", every=every):
            yield [sample[np.newaxis].astype(np.float32)]

    return generate
