"""The ``edgeml`` command line: parse options into a config dataclass, call the library, print."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, fields
from enum import Enum

import click

from edgeml import __version__
from edgeml.errors import EdgeMLError, TrainingInterrupted
from edgeml.device import HOST_KEY_CHECKING
from edgeml.runtime import RUNTIMES

EXIT_INTERRUPTED = 130
EXPORT_OPTIONS = "firmware_export.export:ExportOptions"  # (importing it loads numpy and the C generator)


@dataclass(frozen=True)
class GlobalOptions:
    verbose: bool


class EdgeMLGroup(click.Group):
    """Turns EdgeMLError into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrainingInterrupted as exc:
            click.secho(f"interrupted: {exc}", fg="yellow", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except EdgeMLError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _model_data_options(command):
    """``--normalize`` and ``--trust-model-code``, the same on train, evaluate and quantize."""
    from edgeml.data import NORMALIZE_HELP

    command = click.option(
        "--trust-model-code", is_flag=True,
        help="Load Lambda layers (Python code stored in the model file); recorded in the run for later stages.",
    )(command)
    return click.option(
        "--normalize", help=f"Input preprocessing: {NORMALIZE_HELP}. Default: see the README's table; "
                            "a run's recorded normalisation is always used for that run.",
    )(command)


class ConfigDefault(click.Option):
    """An option whose default is the same-named field of a config dataclass (``config="module:Class"``),
    read only when needed: the Python API and the CLI share one set of defaults, and importing the CLI
    stays light (the config module is imported for ``--help`` or when the command runs)."""

    def __init__(self, *args, config: str, **kwargs) -> None:
        self.config = config
        kwargs.setdefault("show_default", True)
        super().__init__(*args, **kwargs)

    def get_default(self, ctx: click.Context, call: bool = True):
        defaults = {field.name: field.default for field in fields(_load(self.config))}
        default = defaults[self.name]
        return default.value if isinstance(default, Enum) else default  # an enum member as the value typed


class EnumChoice(click.Choice):
    """The values of an enum (``enum="module:Class"``) as the choices, read only when needed (as
    :class:`ConfigDefault`): the CLI offers exactly what the config accepts."""

    def __init__(self, enum: str) -> None:
        self.enum = enum
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(member.value for member in _load(self.enum))

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ sets it; the enum decides
        pass


def _load(name: str):
    """``module:Class`` imported."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _int_list(value: str, option: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise EdgeMLError(f"{option} takes comma-separated integers, e.g. 256,64,32; got {value!r}") from None
    return numbers


@click.group(cls=EdgeMLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeml")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's own log messages.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Train a small network, quantize it, and deploy it to a microcontroller or a Raspberry Pi."""
    ctx.obj = GlobalOptions(verbose=verbose)


@cli.command()
def datasets() -> None:
    """List the datasets, where each was found, and their shapes."""
    from edgeml.data import format_dataset_infos, list_datasets

    click.echo(format_dataset_infos(list_datasets()))


@cli.command()
@click.option("--dataset", cls=ConfigDefault, config="edgeml.train:TrainConfig", help="mnist, fashion_mnist, digits, npz:PATH or folder:PATH.")
@click.option("--data", "data_path", type=click.Path(), help="Local copy of mnist/fashion_mnist: a Keras .npz or a folder of idx(.gz) files.")
@click.option("--model", "model", default="mlp", show_default=True, help="mlp, cnn, conv1d, or a PATH.keras/.h5 model to train as is.")
@click.option("--hidden", help="Dense widths, e.g. 256,64,32 (MLP default) or 64 (CNN default).")
@click.option("--activation", type=click.Choice(["relu", "leaky_relu", "sigmoid", "tanh", "linear"]), cls=ConfigDefault, config="edgeml.models:ModelSpec")
@click.option("--dropout", type=float, cls=ConfigDefault, config="edgeml.models:ModelSpec", help="Dropout after each Dense layer.")
@click.option("--batchnorm", is_flag=True, help="BatchNorm after each Dense layer (folds at conversion).")
@click.option("--filters", help="Conv filters per block, e.g. 16,32 (cnn/conv1d).")
@click.option("--kernel-size", type=int, cls=ConfigDefault, config="edgeml.models:ModelSpec")
@click.option("--pooling", type=click.Choice(["max", "avg"]), cls=ConfigDefault, config="edgeml.models:ModelSpec")
@click.option("--epochs", type=int, cls=ConfigDefault, config="edgeml.train:TrainConfig")
@click.option("--batch-size", type=int, cls=ConfigDefault, config="edgeml.train:TrainConfig")
@click.option("--lr", type=float, cls=ConfigDefault, config="edgeml.train:TrainConfig", help="Learning rate (the starting one under --lr-schedule cosine).")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), cls=ConfigDefault, config="edgeml.train:TrainConfig",
              help="cosine: the learning rate decays per step from --lr to 0 at the last epoch.")
@click.option("--keep-weights", type=click.Choice(["last", "best"]), cls=ConfigDefault, config="edgeml.train:TrainConfig",
              help="The weights saved as model.keras: the last epoch's, or those with the lowest validation loss.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), cls=ConfigDefault, config="edgeml.train:TrainConfig")
@click.option("--momentum", type=float, cls=ConfigDefault, config="edgeml.train:TrainConfig", help="SGD momentum.")
@click.option("--validation-split", type=float, cls=ConfigDefault, config="edgeml.train:TrainConfig")
@click.option("--seed", type=int, cls=ConfigDefault, config="edgeml.train:TrainConfig")
@click.option("--early-stopping", type=int, cls=ConfigDefault, config="edgeml.train:TrainConfig", help="Patience in epochs on validation loss; 0 is off.")
@click.option("--reduce-lr", type=int, cls=ConfigDefault, config="edgeml.train:TrainConfig", help="Patience in epochs before the learning rate drops to 0.3x on a validation-loss plateau; 0 is off (needs --lr-schedule constant).")
@click.option("--train-samples", type=int, help="Use a class-balanced subset of the training set.")
@click.option("--test-samples", type=int, help="Use a class-balanced subset of the test set.")
@click.option("--kfold", type=int, default=0, help="K-fold cross-validation instead of one training run.")
@click.option("--strategy", type=click.Choice(["none", "mirrored", "multiworker"]), cls=ConfigDefault, config="edgeml.train:TrainConfig",
              help="tf.distribute strategy; multiworker reads TF_CONFIG.")
@click.option("--cpu-devices", type=int, default=0, help="Split the CPU into N logical devices (for mirrored on one machine).")
@click.option("--out", cls=ConfigDefault, config="edgeml.train:TrainConfig", type=click.Path(), help="Run directory.")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory's files.")
@_model_data_options
@click.pass_obj
def train(options: GlobalOptions, **kwargs) -> None:
    """Train an MLP or CNN (or your own Keras model) and write a run directory."""
    from edgeml.models import ModelSpec
    from edgeml.train import TrainConfig, run_kfold, train as train_model

    model, hidden, filters = kwargs.pop("model"), kwargs.pop("hidden"), kwargs.pop("filters")
    is_file = model.endswith((".keras", ".h5"))
    defaults = ModelSpec.default_for("mlp" if is_file else model)
    spec = ModelSpec(
        arch=defaults.arch,
        hidden=_int_list(hidden, "--hidden") if hidden else defaults.hidden,
        activation=kwargs.pop("activation"),
        dropout=kwargs.pop("dropout"),
        batchnorm=kwargs.pop("batchnorm"),
        filters=_int_list(filters, "--filters") if filters else defaults.filters,
        kernel_size=kwargs.pop("kernel_size"),
        pooling=kwargs.pop("pooling"),
    )
    config = TrainConfig(model=spec, model_path=model if is_file else None, verbose=options.verbose, **kwargs)
    if config.kfold:
        click.echo(run_kfold(config).line())
        return
    run = train_model(config)
    click.echo(f"test accuracy {run.test_accuracy:.4f}, loss {run.test_loss:.4f} (best epoch {run.best_epoch}/{run.epochs_run}, {run.wall_time_s:.1f} s)")
    click.echo(f"inputs normalised {run.normalization.describe()}")
    click.echo(f"fit diagnosis: {run.diagnosis.line()}")
    click.echo(f"run directory: {run.run_dir}")


@cli.command()
@click.argument("target", type=click.Path())
@click.option("--dataset", help="Evaluate on this dataset instead of the run's own (required for a bare model file).")
@click.option("--data", "data_path", type=click.Path(), help="Local copy of mnist/fashion_mnist.")
@click.option("--test-samples", type=int, help="Class-balanced subset of the test set.")
@click.option("--batch-size", type=int, cls=ConfigDefault, config="edgeml.evaluate:EvaluateOptions",
              help="Samples per predict call.")
@click.option("--out", type=click.Path(), help="Where to write metrics (default: the run directory).")
@click.option("--force", is_flag=True, help="Overwrite existing metrics files.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True,
              help="Runtime for a .tflite MODEL (c: edgeml's C engine built here; tflm: TFLite Micro).")
@_model_data_options
@click.pass_obj
def evaluate(options: GlobalOptions, target: str, **kwargs) -> None:
    """Test-set accuracy, per-class precision/recall/F1, confusion matrix and ROC/AUC of RUN_DIR or MODEL."""
    from edgeml.evaluate import EvaluateConfig, evaluate as evaluate_model
    from edgeml.evaluate_metrics import format_metrics_table

    evaluation = evaluate_model(EvaluateConfig(target=target, verbose=options.verbose, **kwargs))
    click.echo(format_metrics_table(evaluation.metrics))
    click.echo(f"inputs normalised {evaluation.normalization.describe()}")
    click.echo("wrote " + ", ".join(str(path) for path in evaluation.files.values()))


@cli.command()
@click.argument("target", type=click.Path())
@click.option("--method", type=EnumChoice("edgeml.quantize:Method"), cls=ConfigDefault, config="edgeml.quantize:QuantizeOptions",
              help="Quantization-aware training, or post-training quantization.")
@click.option("--qat-epochs", type=int, cls=ConfigDefault, config="edgeml.quantize:QuantizeOptions")
@click.option("--qat-lr", type=float, cls=ConfigDefault, config="edgeml.quantize:QuantizeOptions")
@click.option("--calibration-samples", type=int, cls=ConfigDefault, config="edgeml.quantize:QuantizeOptions",
              help="Class-balanced training samples for calibrating int8 ranges.")
@click.option("--io", type=EnumChoice("edgeml.quantize:IOType"), cls=ConfigDefault, config="edgeml.quantize:QuantizeOptions",
              help="Input/output type of the integer model.")
@click.option("--float16", is_flag=True, help="Also write a float16-weights model.")
@click.option("--dynamic-range", is_flag=True, help="Also write a dynamic-range (int8 weights, float activations) model.")
@click.option("--test-samples", type=int, help="Measure on a class-balanced subset of the test set.")
@click.option("--dataset", help="Dataset for a model file outside a run directory (default: the run's own).")
@click.option("--data", "data_path", type=click.Path(), help="Local copy of mnist/fashion_mnist.")
@click.option("--out", type=click.Path(), help="Where to write the models (default: the run directory).")
@click.option("--force", is_flag=True, help="Overwrite existing .tflite files and quantization.json.")
@click.option("--verbose", "show_tensors", is_flag=True, help="Also print every int8 tensor's scale and zero point.")
@_model_data_options
@click.pass_obj
def quantize(options: GlobalOptions, target: str, show_tensors: bool, **kwargs) -> None:
    """Convert RUN_DIR (or MODEL.keras) to int8 TFLite (QAT or PTQ) plus a float32 baseline, and measure it."""
    from edgeml.quantize import QuantizeConfig, quantize as quantize_run
    from edgeml.tflite_model import format_info, read_tflite

    report = quantize_run(QuantizeConfig(target=target, verbose=options.verbose, **kwargs))
    click.echo(report.table())
    if show_tensors or options.verbose:
        click.echo(format_info(read_tflite(report.files["int8"]), verbose=True))
    click.echo("wrote " + ", ".join(str(path) for path in report.files.values()))


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--tensors", is_flag=True, help="Also list every tensor's quantization parameters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(model: str, tensors: bool, as_json: bool) -> None:
    """Inputs, outputs, operators and int8/TFLite Micro readiness of a .tflite file (no TensorFlow needed)."""
    import json

    from edgeml.tflite_model import format_info, read_tflite

    info = read_tflite(model)
    click.echo(json.dumps(info.to_dict(), indent=2) if as_json else format_info(info, verbose=tensors))


@cli.command()
@click.argument("targets", nargs=-1, type=click.Path())
@click.option("--runtime", "runtimes", multiple=True,
              type=click.Choice(["all", *RUNTIMES]),
              help="Runtime(s) to measure .tflite files in (repeatable). Default: all installed; auto: the first lite runtime.")
@click.option("--threads", type=int, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="Interpreter threads (recorded with every result).")
@click.option("--runs", type=int, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="Timed single-sample invokes after warm-up.")
@click.option("--warmup", type=int, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions")
@click.option("--batch-size", type=int, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="Batch for the throughput measurement.")
@click.option("--test-samples", type=int, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="Test samples for accuracy and agreement.")
@click.option("--dataset", help="Dataset for model files outside a run directory.")
@click.option("--import", "imports", multiple=True, type=click.Path(), help="Merge results.json measured on a device.")
@click.option("--device", "device", multiple=True, metavar="DEVICE",
              help="Where to measure (repeatable; default local, this machine): ssh://user@host[:port] (a Raspberry "
                   "Pi over SSH, measured beside this machine) or qemu:cortex-m0|m3|m4|m7 (edgeml's C engine on an "
                   "emulated Cortex-M under qemu-system-arm, instead of this machine unless local is given too).")
@click.option("--device-python", cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="Python on the device (with numpy and a lite runtime).")
@click.option("--identity", type=click.Path(), help="SSH private key for --device.")
@click.option("--known-hosts", type=click.Path(), help="known_hosts file for --device.")
@click.option("--host-key-checking", type=click.Choice(HOST_KEY_CHECKING), cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions")
@click.option("--ssh-timeout", "ssh_timeout_s", type=float, cls=ConfigDefault, config="edgeml.benchmark:BenchmarkOptions", help="SSH connect timeout, seconds.")
@click.option("--ssh-config", type=click.Path(), help="ssh_config file for --device (ssh -F).")
@click.option("--out", type=click.Path(), help="Report folder (default: RUN_DIR/benchmark, or ./benchmark for model files outside a run).")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
def benchmark(targets: tuple[str, ...], runtimes: tuple[str, ...], imports: tuple[str, ...], device: tuple[str, ...],
              **kwargs) -> None:
    """Accuracy, agreement, latency, throughput, size and memory of RUN_DIR's models (or MODEL files)."""
    from edgeml.benchmark import BenchmarkConfig, format_rows, run_benchmark

    config = BenchmarkConfig(targets=targets, runtimes=runtimes or BenchmarkConfig.runtimes, imports=imports,
                             device=device or BenchmarkConfig.device, **kwargs)
    report = run_benchmark(config)
    click.echo(format_rows(report.rows))
    for reason in report.skipped:
        click.secho(f"not measured: {reason}", fg="yellow", err=True)
    click.echo("wrote " + ", ".join(str(path) for path in report.files.values()))


@cli.command()
@click.argument("model", type=click.Path())
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", "-k", type=int, default=3, show_default=True, help="Classes to show per sample.")
@click.option("--run", type=click.Path(), help="Run directory whose config.json gives normalisation and class names (default: the model's folder).")
@click.option("--mean", help="Normalisation mean for a model without a run directory: a number, or one per channel (0.5,0.4,0.3).")
@click.option("--std", help="Normalisation std for a model without a run directory: a number, or one per channel.")
@click.option("--labels", help="Class names: comma-separated, or a file with one per line.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True,
              help="auto: the first installed lite runtime; tflm: TFLite Micro's interpreter; c: edgeml's C engine built here.")
@click.option("--threads", type=int, help="Interpreter threads (default: the runtime's).")
@click.option("--header/--no-header", default=None,
              help="Whether each CSV's first row is a header (default: it is when it has no numbers or is the column numbers 0,1,…).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def predict(model: str, inputs: tuple[str, ...], labels: str | None, as_json: bool, **kwargs) -> None:
    """Top-k classes for images, .npy arrays or CSV rows, with the model's recorded normalisation (no TensorFlow needed)."""
    from edgeml.predict import PredictConfig, format_predictions, parse_labels, predict as run_predict, predictions_to_json

    report = run_predict(PredictConfig(model=model, inputs=inputs, labels=parse_labels(labels) if labels else None, **kwargs))
    click.echo(predictions_to_json(report) if as_json else format_predictions(report))


@cli.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), cls=ConfigDefault, config="edgeml.bundle:BundleConfig")
@click.option("--dataset", help="Dataset for the test samples, for model files outside a run directory.")
@click.option("--test-samples", type=int, cls=ConfigDefault, config="edgeml.bundle:BundleConfig")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
def bundle(targets: tuple[str, ...], **kwargs) -> None:
    """A self-contained folder (models, test samples, a numpy-only runner) to benchmark on a Raspberry Pi."""
    from edgeml.bundle import BundleConfig, make_bundle

    path = make_bundle(BundleConfig(targets=targets, **kwargs))
    click.echo(f"bundle: {path}")
    click.echo("copy it to the device and run: python3 run.py --threads 4 --out results.json; "
               "then merge with: edgeml benchmark RUN_DIR --import results.json")


@cli.command()
@click.option("--config", "config_path", type=click.Path(), help="edgeml.toml with one table per stage.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any stage option, e.g. --set train.epochs=5 --set quantize.method=ptq (repeatable).")
@click.option("--out", help="Run directory (overrides the config's out).")
@click.option("--dataset", help="Shortcut for --set train.dataset=NAME.")
@click.option("--epochs", type=int, help="Shortcut for --set train.epochs=N.")
@click.option("--print-config", is_flag=True, help="Print the effective configuration as TOML and exit.")
@click.option("--force", is_flag=True, help="Redo every stage, even those whose outputs are current.")
@click.pass_obj
def pipeline(options: GlobalOptions, config_path: str | None, overrides: tuple[str, ...], out: str | None,
             dataset: str | None, epochs: int | None, print_config: bool, force: bool) -> None:
    """Train → evaluate → QAT int8 → firmware export → benchmark → report, skipping stages that are current."""
    from edgeml.pipeline import load_config, override, run_pipeline

    shortcuts = {"out": out, "train.dataset": dataset, "train.epochs": epochs}
    overrides += tuple(override(key, value) for key, value in shortcuts.items() if value is not None)
    config = load_config(config_path, overrides)
    if print_config:
        click.echo(config.to_toml())
        return
    result = run_pipeline(config, force=force, verbose=options.verbose)
    done = sum(stage.status == "done" for stage in result.stages)
    click.echo(f"{done} stage(s) run, {len(result.stages) - done} current; report: {result.report_html} ({result.report_markdown})")


@cli.command()
@click.argument("source", metavar="RUN_DIR|MODEL.tflite")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the generated files.")
@click.option("--name", cls=ConfigDefault, config=EXPORT_OPTIONS, help="C symbol of the model (made a valid identifier).")
@click.option("--lang", type=EnumChoice("firmware_export.render:Lang"), cls=ConfigDefault, config=EXPORT_OPTIONS,
              help="model_data file type; cpp for Arduino.")
@click.option("--section", help="Linker section for the array, e.g. .rodata.model.")
@click.option("--progmem", is_flag=True, help="Put the array in PROGMEM (AVR Arduino).")
@click.option("--allow-float", is_flag=True, help="Export a model that is not fully int8, with a warning.")
@click.option("--arena-margin", "arena_margin_percent", type=float, cls=ConfigDefault, config=EXPORT_OPTIONS,
              help="Arena margin, % of the measured size (at least 256 B; 0 = none).")
@click.option("--check-samples", type=int, cls=ConfigDefault, config=EXPORT_OPTIONS,
              help="Samples to compare TFLite Micro with LiteRT on (0 skips).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--engine", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="tflm: files for TensorFlow Lite Micro; c: standalone C99 from edgeml's C engine.")
def export(source: str, engine: str, **kwargs) -> None:
    """C/C++ files for TensorFlow Lite Micro (model array, config header, op resolver, measured arena),
    or with --engine c the model compiled to standalone C99."""
    from firmware_export import ExportConfig
    from firmware_export.export import export_for_engine

    result = export_for_engine(ExportConfig(source=source, **kwargs), engine)
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(result.summary())


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=False))
@click.option("--title", help="Report title (default: the model and dataset).")
@click.option("--force", is_flag=True, help="Replace the report files RUN_DIR already holds.")
def report(run_dir: str, title: str | None, force: bool) -> None:
    """Write report.html and report.md (and the PNG of any chart they draw) into RUN_DIR, from whatever its
    stages wrote (run by `edgeml pipeline` or command by command). Replacing an existing report needs --force."""
    from edgeml.report import write_report

    files = write_report(run_dir, title, force)
    click.echo(f"wrote {files.html} and {files.markdown}")


def main() -> None:
    """Console entry point: click's own usage errors also become one ``error:`` line (exit 2)."""
    try:
        exit_code = cli.main(prog_name="edgeml", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except click.ClickException as exc:
        context = getattr(exc, "ctx", None)
        hint = f" (see: {context.command_path} --help)" if context else ""
        click.secho(f"error: {exc.format_message()}{hint}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.secho("aborted", fg="yellow", err=True)
        sys.exit(1)
    sys.exit(exit_code if isinstance(exit_code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
