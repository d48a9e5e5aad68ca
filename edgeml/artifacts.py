"""Atomic writing of run artifacts: a file appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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


@contextlib.contextmanager
def file_set(out_dir: Path | str) -> Iterator[Path]:
    """Yield an empty staging folder; if the block succeeds, each file written there moves into ``out_dir``.

    A command that writes several files writes them into the staging folder, so a failure anywhere
    (a render step, a full disk) leaves none of them in ``out_dir`` and a re-run needs no ``--force``.
    The staging folder is a hidden folder inside ``out_dir`` if it exists, else beside its nearest existing
    ancestor (same file system, so each move is an atomic ``os.replace``); ``out_dir`` itself appears only
    when the set is complete. Only the staging folder's top-level files are moved. Before the first move every
    target is checked (an output name taken by a folder, or a file where a staged folder goes), so such a
    set moves nothing; a move can still fail halfway only on an error the file system gives at that moment.

    Raises EdgeMLError for an ``OSError`` while staging or moving (permissions, no space, a path that is a
    file), naming the output file it concerns, and one EdgeMLError naming every target that cannot be replaced.
    """
    out_dir = Path(out_dir)
    nearest = out_dir
    while not nearest.exists():
        nearest = nearest.parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name or 'out'}.edgeml-", dir=nearest))
    except OSError as exc:
        raise EdgeMLError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    try:
        try:
            yield staging
            out_dir.mkdir(parents=True, exist_ok=True)
            permissions = 0o666 & ~current_umask()
            _check_targets(staging, out_dir)
            for staged in sorted(staging.iterdir()):
                os.chmod(staged, permissions)  # mkstemp/mkdtemp-style 0600 never reaches the user's folder
                os.replace(staged, out_dir / staged.name)
        except OSError as exc:
            concerned = Path(exc.filename).name if exc.filename else ""
            where = out_dir / concerned if concerned and not concerned.startswith(".") else out_dir
            raise EdgeMLError(f"cannot write {where}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_targets(staging: Path, out_dir: Path) -> None:
    """Refuse, before anything moves, a set whose files ``os.replace`` cannot put in ``out_dir``."""
    blocked = []
    for staged in sorted(staging.iterdir()):
        target = out_dir / staged.name
        if target.is_symlink() or not target.exists():
            continue
        if target.is_dir() and not staged.is_dir():
            blocked.append(f"{target} is a directory")
        elif staged.is_dir() and not target.is_dir():
            blocked.append(f"{target} is a file")
        elif staged.is_dir() and any(target.iterdir()):
            blocked.append(f"{target} is a folder that is not empty")
    if blocked:
        raise EdgeMLError(f"cannot write into {out_dir}: {'; '.join(blocked)}")


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
    """Fail early if ``out_dir`` cannot receive the files it ``produces`` (a file's name taken by a folder, even
    with ``force``); refuse to overwrite unless ``force``.

    Nothing is created here: the folder appears with the first artifact, so a run that fails on bad
    input leaves no empty output folder behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeMLError(f"output path exists and is not a directory: {out_dir}")
    taken = [f"{out_dir / name} is a directory" for name in produces if (out_dir / name).is_dir()]
    if taken:  # --force cannot replace a folder with a file: refuse before the work, as file_set would after it
        raise EdgeMLError(f"cannot write into {out_dir}: {'; '.join(taken)}")
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
