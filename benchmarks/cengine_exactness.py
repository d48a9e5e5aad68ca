"""The C engine against the runtimes it follows, on a whole test set, and its RAM against TFLite Micro's.

For each int8 model (edgeml's default MLP and CNN, and the issue's other architectures: a Conv1D model, a
depthwise-separable CNN with BatchNorm, LeakyReLU and average pooling, a functional residual model with
broadcasting ADDs and a CONCATENATION model, from tests/cengine_models.py; all trained here on Fashion-MNIST,
the MLP and CNN quantized as edgeml does by default (QAT), the others with PTQ, unless --models names .tflite
files; --only picks some): differing output vectors of the default build vs the tflite-micro interpreter, of the EDGEML_SINGLE_ROUNDING build vs LiteRT BUILTIN_REF, and for contrast of the default
build vs BUILTIN_REF; the engine's planned arena, liveness floor and input + output bytes next to TFLM's
minimum arena as measured by edgeml's arena search (tflite-micro package, 64-bit host).

    python benchmarks/cengine_exactness.py --out benchmarks/out/cengine

Exactness counts are deterministic; nothing here is timed. RAM here excludes the invoke's stack
(benchmarks/cengine_memory.py measures it).
Measured 2026-12-01 (x86_64, 2 shared cores; --only mlp cnn with the defaults: --epochs 2, the whole
training set, edgeml's default QAT; all 10,000 test images): default MLP and CNN: 0 differing vectors in both
modes (default vs TFLM, single vs BUILTIN_REF); default build vs BUILTIN_REF 256 (MLP, <= 11 LSB) and 50
(CNN, <= 5 LSB). Arena + I/O vs TFLM's arena: 1,114 / 3,616 B (30.8%), 5,626 / 18,432 B (30.5%).
(With PTQ, whose Dense layers are per channel, TFLM's arenas are 6,528 and 18,912 B.)
Measured 2026-12-01 (same machine, --only conv1d separable_cnn residual concatenation --train-samples 10000
--epochs 2, all 10,000 test images): 0 differing vectors in both modes for each; default build vs
BUILTIN_REF 91 (Conv1D, <= 7 LSB), 110 (separable, <= 2), 104 (residual, <= 5), 4 (concatenation, <= 4).
Arena + I/O vs TFLM's arena: 1,298 / 4,480 B (29.0%), 25,882 / 28,048 B (92.3%), 19,610 / 21,968 B (89.3%),
17,258 / 20,032 B (86.2%) (before conv+pool fusion and in-place element-wise ops; see cengine_memory.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeml.data import load_dataset
from edgeml.graph import read_graph_bytes
from edgeml.models import ModelSpec
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.runtime import TensorQuantization
from edgeml.tflite_model import read_tflite_bytes
from edgeml.train import TrainConfig, train
from firmware_export.arena import measure_arena
from firmware_export.cengine.exactness import Reference, reference_outputs
from firmware_export.cengine.generate import write_files, compile_model
from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cengine_models import WHOLE_MODELS, trained_int8  # noqa: E402  (the tests' model builders)

EDGEML_MODELS = {"mlp": ModelSpec(), "cnn": ModelSpec.default_for("cnn")}
MODEL_NAMES = tuple(EDGEML_MODELS) + tuple(WHOLE_MODELS)


def train_models(out: Path, names: tuple[str, ...], epochs: int, train_samples: int | None) -> dict[str, Path]:
    """Each named model trained on Fashion-MNIST (seed 0) and converted to int8, kept in ``out``. edgeml's
    MLP and CNN go through edgeml's default quantization (QAT: Dense layers quantized per tensor, as in
    `make demo`); PTQ would quantize them per channel, which costs TFLite Micro 8 bytes of arena per
    FULLY_CONNECTED output channel (the MLP: 6,528 B instead of 3,616 B)."""
    models = {}
    for name in names:
        run = out / f"run_{name}_qat" if name in EDGEML_MODELS else out / f"run_{name}"
        path = run / "model_int8.tflite"
        if path.exists():
            models[name] = path
        elif name in EDGEML_MODELS:
            train(TrainConfig(out=str(run), dataset="fashion_mnist", model=EDGEML_MODELS[name], epochs=epochs,
                              seed=0, train_samples=train_samples, force=True))
            quantize(QuantizeConfig(target=str(run), force=True))
        else:  # the architectures edgeml does not build: plain Keras, calibrated on 100 training images
            dataset = load_dataset("fashion_mnist", train_samples=train_samples, seed=0)
            run.mkdir(parents=True, exist_ok=True)
            path.write_bytes(trained_int8(WHOLE_MODELS[name], dataset.train_inputs(), dataset.y_train, epochs))
        models[name] = path
    return models


def measure(name: str, model: bytes, raw_test: np.ndarray, folder: Path) -> dict:
    compiled = compile_model(model, "net", name)
    write_files(folder, compiled.files)
    graph = compiled.graph
    inputs_tensor, output_tensor = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    inputs = TensorQuantization(np.int8, inputs_tensor.scale, inputs_tensor.zero_point).quantize(raw_test)
    inputs = inputs.reshape(len(inputs), -1)
    row = {"model": name, "samples": len(inputs), "ops": [op.name for op in graph.ops]}
    outputs = {}
    for single in (False, True):
        library = build_shared_library(folder, folder / f"lib{int(single)}.so", BuildOptions(single_rounding=single))
        engine = HostEngine(library, "net", inputs_tensor.element_count, output_tensor.element_count,
                            compiled.plan.arena_bytes)
        outputs[single] = engine.run(inputs)
    for label, single, reference in (("default_vs_tflm", False, Reference.TFLM),
                                     ("single_vs_builtin_ref", True, Reference.BUILTIN_REF),
                                     ("default_vs_builtin_ref", False, Reference.BUILTIN_REF)):
        expected = reference_outputs(model, inputs, reference)
        differing = (expected != outputs[single]).any(axis=1)
        row[label] = {"differing_vectors": int(differing.sum()),
                      "max_abs_diff_lsb": int(np.abs(expected.astype(int) - outputs[single]).max())}
    tflm_arena = measure_arena(model, read_tflite_bytes(model).inputs, margin_percent=0).minimum_bytes
    engine_ram = compiled.plan.arena_bytes + inputs_tensor.byte_size + output_tensor.byte_size
    row.update({
        "engine_arena_bytes": compiled.plan.arena_bytes,
        "engine_liveness_floor_bytes": compiled.plan.liveness_floor_bytes,
        "engine_io_bytes": inputs_tensor.byte_size + output_tensor.byte_size,
        "engine_ram_bytes_without_stack": engine_ram,
        "tflm_minimum_arena_bytes": tflm_arena,
        "engine_ram_percent_of_tflm": round(100 * engine_ram / tflm_arena, 1),
    })
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/cengine"))
    parser.add_argument("--models", type=Path, nargs="*", help=".tflite files (default: train the models)")
    parser.add_argument("--only", nargs="*", choices=MODEL_NAMES, default=list(MODEL_NAMES),
                        help="which models to train and measure (default: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--test-samples", type=int, default=None, help="default: the whole test set")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = ({path.stem: path for path in args.models} if args.models
              else train_models(args.out, tuple(args.only), args.epochs, args.train_samples))
    dataset = load_dataset("fashion_mnist", test_samples=args.test_samples)
    raw_test = dataset.test_inputs()
    rows = []
    for name, path in models.items():
        with tempfile.TemporaryDirectory(prefix="cengine-") as scratch:
            row = measure(name, path.read_bytes(), raw_test, Path(scratch) / "engine")
        rows.append(row)
        print(json.dumps(row))
    summary = {"machine": f"{platform.machine()} {platform.processor() or platform.platform()}", "models": rows}
    (args.out / "cengine_exactness.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
