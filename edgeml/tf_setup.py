"""The single place where TensorFlow is imported.

tensorflow-model-optimization 0.8 only understands Keras 2 models, so ``TF_USE_LEGACY_KERAS=1`` must be
set before TensorFlow is imported anywhere in the process; then ``tf.keras`` *is* ``tf_keras``. Modules
that train or convert call :func:`load_tensorflow` inside their functions; nothing imports TF at module
level, which keeps ``import edgeml`` instant and the Raspberry Pi path TensorFlow-free.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Iterator

from edgeml.errors import EdgeMLError


def load_tensorflow(verbose: bool = False) -> ModuleType:
    """Import TensorFlow with Keras 2 (tf_keras) selected and, unless ``verbose``, its log noise quieted."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        if verbose or "tensorflow" in sys.modules:
            import tensorflow as tf
        else:
            with _native_stderr_silenced():
                import tensorflow as tf
    except ImportError as exc:
        raise EdgeMLError(
            f"TensorFlow is not installed ({exc}); install the training extra: pip install 'edgeml[train]'"
        ) from None
    if not verbose:
        tf.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"tf_keras.*|tensorflow.*")
    return tf


def load_keras(verbose: bool = False) -> ModuleType:
    """Return the Keras 2 module (``tf_keras``) that tensorflow-model-optimization works with."""
    tf = load_tensorflow(verbose)
    if not getattr(tf.keras, "__name__", "").startswith("tf_keras"):
        raise EdgeMLError(
            "TensorFlow was imported before edgeml could select Keras 2: set TF_USE_LEGACY_KERAS=1 "
            "before importing tensorflow, or import edgeml first"
        )
    return tf.keras


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2 while TensorFlow's C++ core loads.

    Its start-up lines (CUDA stubs, oneDNN notices) are written by absl before any log level applies,
    so neither TF_CPP_MIN_LOG_LEVEL nor Python logging can stop them. Python-level errors still raise.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
