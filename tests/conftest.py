"""Shared fixtures: tiny datasets written by the tests themselves and one small trained run."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from edgeml.models import ModelSpec
from edgeml.quantize import QuantizeConfig, quantize
from edgeml.train import TrainConfig, train
from ssh_server import pi_python, tiny_quantized_run

# Prepended to a `python -c` script: from then on importing TensorFlow (or any Keras) raises, as on a
# Raspberry Pi that has only the lite runtime.
NO_TENSORFLOW = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _NoTensorFlow())
"""
# The edgeml command line under NO_TENSORFLOW: `python -c CLI_WITHOUT_TENSORFLOW inspect model.tflite`.
CLI_WITHOUT_TENSORFLOW = NO_TENSORFLOW + """
from edgeml.cli import main
sys.argv = ["edgeml", *sys.argv[1:]]
main()
"""


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) in the idx format, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def synthetic_images(count: int, num_classes: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright horizontal band at a class-specific height: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % num_classes
    images = rng.integers(0, 40, size=(count, size, size), dtype=np.uint8)
    band = size // num_classes
    for index, label in enumerate(labels):
        images[index, label * band:(label + 1) * band, :] = 220
    return images, labels.astype(np.uint8)


SIGNAL_SHAPE = (24, 2)


def signals_npz(folder: Path, count: int = 240, seed: int = 0) -> Path:
    """Two-channel signals whose class is the frequency of a noisy sine: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    time = np.arange(SIGNAL_SHAPE[0])[None, :, None]
    frequency = (labels + 1)[:, None, None] * 0.25
    phase = rng.uniform(0, 2 * np.pi, size=(count, 1, SIGNAL_SHAPE[1]))
    x = (np.sin(frequency * time + phase) + 0.1 * rng.normal(size=(count, *SIGNAL_SHAPE))).astype(np.float32)
    path = folder / "signals.npz"
    test = count // 4
    np.savez(path, x_train=x[test:], y_train=labels[test:], x_test=x[:test], y_test=labels[:test])
    return path


@pytest.fixture(scope="session")
def signals(tmp_path_factory) -> Path:
    return signals_npz(tmp_path_factory.mktemp("signals"))


# The built-in models as the conversion tests train them: small, 1 epoch on 300 samples of digits (conv1d: the
# signals above).
BUILTIN_SPECS = {"mlp": ModelSpec(hidden=(16,)), "cnn": ModelSpec(arch="cnn", filters=(4, 8), hidden=(8,)),
                 "conv1d": ModelSpec(arch="conv1d", filters=(4, 8), hidden=(8,))}


@pytest.fixture(scope="session")
def quantized_builtin(tmp_path_factory, signals):
    """``quantized_builtin(arch, method)``: a run directory of the built-in ``arch`` trained as BUILTIN_SPECS says
    and quantized by ``method`` ("ptq" or "qat": 1 QAT epoch, 30 calibration samples). Each arch is trained once
    and each (arch, method) quantized once per session, so tests in several files share them: read them, or copy
    one before writing into it."""
    trained: dict[str, Path] = {}
    quantized: dict[tuple[str, str], Path] = {}

    def get(arch: str, method: str) -> Path:
        if arch not in trained:
            run = tmp_path_factory.mktemp(f"{arch}_trained") / "run"
            train(TrainConfig(out=str(run), dataset=f"npz:{signals}" if arch == "conv1d" else "digits", epochs=1,
                              model=BUILTIN_SPECS[arch], train_samples=300, seed=0))
            trained[arch] = run
        if (arch, method) not in quantized:
            run = shutil.copytree(trained[arch], tmp_path_factory.mktemp(f"{arch}_{method}") / "run")
            quantize(QuantizeConfig(target=str(run), method=method, qat_epochs=1, calibration_samples=30))
            quantized[arch, method] = run
        return quantized[arch, method]

    return get


@pytest.fixture(scope="session")
def idx_folder(tmp_path_factory) -> Path:
    """A Fashion-MNIST-shaped folder of idx.gz files (4 classes, 28x28)."""
    folder = tmp_path_factory.mktemp("idx")
    x_train, y_train = synthetic_images(200, 4, seed=1)
    x_test, y_test = synthetic_images(80, 4, seed=2)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A small MLP trained on the bundled digits: the run directory later tests read."""
    out = tmp_path_factory.mktemp("runs") / "digits_mlp"
    train(TrainConfig(out=str(out), dataset="digits", model=ModelSpec(hidden=(64, 32)), epochs=12, lr=3e-3, seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny PTQ-quantized digits run, shared by the bundle and SSH tests."""
    return tiny_quantized_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def device_python(tmp_path_factory) -> Path:
    """A clean venv with numpy and LiteRT only: the Raspberry Pi's python."""
    python = pi_python(tmp_path_factory.getbasetemp())
    if isinstance(python, str):
        pytest.skip(python)
    return python


@pytest.fixture(autouse=True, scope="session")
def c_engine_cache(tmp_path_factory) -> Path:
    """The `c` runtime's build cache for the whole session in a temp folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("edgeml-cache")
    previous = os.environ.get("EDGEML_CACHE_DIR")
    os.environ["EDGEML_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("EDGEML_CACHE_DIR", None)
    else:
        os.environ["EDGEML_CACHE_DIR"] = previous
