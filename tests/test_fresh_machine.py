"""The README's fresh-machine commands as a user meets them: a fresh clone, the system interpreter, nothing
activated. The Makefile must build .venv from PYTHON and run pip and edgeml from it, never from PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def system_python() -> str:
    """The distribution's interpreter (``/usr/bin/python3``), else the first ``python3`` on the system PATH."""
    if Path("/usr/bin/python3").exists():
        return "/usr/bin/python3"
    return shutil.which("python3", path=SYSTEM_PATH) or sys.executable


def fake_command(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def user_environment(first_on_path: Path) -> dict[str, str]:
    """This process's environment minus any activated venv or project path, with ``first_on_path`` first."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{first_on_path}:{SYSTEM_PATH}"
    return env


def make(clone: Path, env: dict[str, str], *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def clone(tmp_path) -> Path:
    """``git clone`` of this checkout's committed HEAD."""
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("git and make are needed to test the fresh-machine commands")
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout")
    target = tmp_path / "edgeml"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, capture_output=True)
    return target


@pytest.mark.slow
def test_make_builds_a_venv_from_the_system_python_and_runs_its_edgeml(clone, tmp_path):
    fakes = tmp_path / "fake_bin"
    marker = tmp_path / "path_edgeml_was_called"
    fake_command(fakes, "edgeml", f'echo "$@" >> {marker}; exit 3')
    env = user_environment(fakes)

    # One `make demo`, as the README says: it makes .venv and installs edgeml into it (its prerequisite, setup),
    # then runs .venv's edgeml. (A separate `make setup` first would install edgeml twice.)
    demo = make(clone, env, "demo", "DEMO_EXTRAS=pi", f"PYTHON={system_python()}", timeout=900)
    if demo.returncode != 0 and "No matching distribution" in demo.stderr:
        pytest.skip(f"no package index for pip: {demo.stderr.strip().splitlines()[-1]}")
    assert f"creating .venv from {system_python()}" in demo.stdout, demo.stdout + demo.stderr
    # make runs the demo's command only after setup succeeded.
    assert ".venv/bin/edgeml pipeline --config examples/fashion_mnist.toml --out runs/demo" in demo.stdout
    venv_python = clone / ".venv" / "bin" / "python"
    base = subprocess.run([str(venv_python), "-I", "-c", "import sys, edgeml; print(sys.base_prefix); print(edgeml.__file__)"],
                          capture_output=True, text=True, env=env, check=True).stdout.split()
    home = subprocess.run([system_python(), "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert base == [home, str(clone / "edgeml" / "__init__.py")]
    usage = subprocess.run([str(clone / ".venv" / "bin" / "edgeml"), "--help"], capture_output=True, text=True, env=env)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("Usage: edgeml [OPTIONS] COMMAND [ARGS]...")

    # The [pi] extra has no TensorFlow: the demo reaches .venv's edgeml, which stops at training with its own
    # error; the edgeml first on PATH is never called.
    assert not marker.exists(), f"make called the edgeml on PATH: {marker.read_text()}"
    assert "error: stage train failed: TensorFlow is not installed" in demo.stderr
    assert demo.returncode != 0


def test_a_missing_interpreter_is_one_line(clone, tmp_path):
    result = make(clone, user_environment(tmp_path), "venv", "PYTHON=/nonexistent/python3")
    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        "error: /nonexistent/python3 not found: install Python >= 3.10 (apt-get install python3) "
        "or run make PYTHON=/path/to/python3"
    ]
    assert not (clone / ".venv").exists()


def test_a_python_without_venv_names_the_package_when_not_root(clone, tmp_path):
    """Debian 12's python3 without python3-venv, run by a user (``id -u`` is not 0): one line, nothing built."""
    fakes = tmp_path / "fake_bin"
    fake_command(fakes, "id", "echo 1000")
    python = fake_command(
        fakes, "python3-no-venv",
        f'case "$*" in *"import venv"*) echo "No module named venv" >&2; exit 1;; esac\nexec {system_python()} "$@"',
    )
    result = make(clone, user_environment(fakes), "venv", f"PYTHON={python}")
    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        f"error: {python} cannot create a virtual environment (no venv/ensurepip module): install python3-venv "
        "(sudo apt-get install python3-venv) or run make PYTHON=/path/to/python3"
    ]
    assert not (clone / ".venv").exists()
