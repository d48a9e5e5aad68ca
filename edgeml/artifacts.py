"""Atomic writing of run artifacts: a file appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from edgeml.errors import EdgeMLError


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only if the block succeeds.

    The temporary name keeps the target's suffix so that writers that choose a format by extension
    (Keras ``.keras``, matplotlib ``.png``) still work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; artifacts get normal permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: Path | str, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: Path | str, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: Path | str, obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path | str, what: str) -> Any:
    """Read a JSON artifact; a missing or corrupt file is an EdgeMLError naming ``what`` it should hold."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeMLError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgeMLError(f"{what} is unreadable ({path}): {exc}") from None


def check_output_dir(out_dir: Path | str, force: bool, produces: tuple[str, ...]) -> Path:
    """Fail early if ``out_dir`` cannot receive the files it ``produces``; refuse to overwrite unless ``force``.

    Nothing is created here: the folder appears with the first artifact, so a run that fails on bad
    input leaves no empty output folder behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeMLError(f"output path exists and is not a directory: {out_dir}")
    existing = [name for name in produces if (out_dir / name).exists()]
    if existing and not force:
        raise EdgeMLError(
            f"{out_dir} already holds {', '.join(existing)}; use --force to overwrite or choose another --out"
        )
    require_writable(out_dir)
    return out_dir


def require_writable(path: Path | str) -> None:
    """``path`` (which need not exist yet) can be created: its nearest existing ancestor is a writable folder."""
    path = Path(path)
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise EdgeMLError(f"cannot write to {path}: {ancestor} is not a writable directory")
