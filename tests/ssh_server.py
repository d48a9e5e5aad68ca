"""Helpers for the device tests: a tiny quantized run, a "device" Python, and a throwaway OpenSSH server.

Builders take a folder in the session's base temp directory and build there only once, so
test_bundle.py and test_device_ssh.py share one run and one venv per session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
REPO = Path(__file__).resolve().parent.parent


def tiny_quantized_run(base: Path) -> Path:
    """A 2-epoch MLP on digits, converted with PTQ: model_float32.tflite and model_int8.tflite."""
    from edgeml.models import ModelSpec
    from edgeml.quantize import QuantizeConfig, quantize
    from edgeml.train import TrainConfig, train

    run = base / "tiny_ptq_run"
    if not (run / "model_int8.tflite").is_file():
        train(TrainConfig(out=str(run), dataset="digits", epochs=2, lr=1e-2, model=ModelSpec(hidden=(16,)), seed=0,
                          force=True))
        quantize(QuantizeConfig(target=str(run), method="ptq", calibration_samples=50))
    return run


def pi_python(base: Path) -> Path | str:
    """A clean venv with only ``pip install "edgeml[pi]"`` (numpy, click, Pillow, LiteRT; no TensorFlow):
    what a Raspberry Pi has.

    Returns the venv's python, or a string saying why it could not be made (no package index for pip).
    """
    venv = base / "pi_venv"
    python = venv / "bin" / "python"
    if not (venv / "ready").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", f"{REPO}[pi]"],
            capture_output=True, text=True, timeout=900,
        )
        if installed.returncode != 0:
            tail = (installed.stderr.strip().splitlines() or ["no output"])[-1]
            return f"pip install 'edgeml[pi]' into a venv failed (no package index?): {tail}"
        (venv / "ready").touch()
    return python


def numpy_only_python(base: Path, pi: Path) -> Path:
    """A venv that has numpy but no lite runtime: a device where the runtime was never installed.

    numpy is linked in from the pi venv rather than installed again (another 10 s of pip).
    """
    venv = base / "numpy_only_venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
        pi_site = Path(subprocess.check_output(
            [str(pi), "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"], text=True,
        ).strip())
        site = Path(subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True,
        ).strip())
        only_numpy = venv / "numpy_only"
        only_numpy.mkdir()
        for entry in pi_site.iterdir():
            if entry.name == "numpy" or entry.name.startswith(("numpy-", "numpy.libs")):
                (only_numpy / entry.name).symlink_to(entry)
        (site / "numpy_only.pth").write_text(str(only_numpy) + "\n")
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ssh_keygen(path: Path, key_type: str = "ed25519") -> Path:
    """A passphrase-less key pair at ``path`` and ``path.pub``."""
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "edgeml-test", "-f", str(path)], check=True)
    return path


@dataclass
class SshServer:
    """``sshd -D -e`` for the current user on 127.0.0.1, with throwaway host and client keys."""

    folder: Path
    port: int
    client_key: Path
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls, folder: Path) -> "SshServer":
        folder.mkdir(parents=True, exist_ok=True)
        host_key = ssh_keygen(folder / "host_ed25519")
        client_key = ssh_keygen(folder / "client_ed25519")
        shutil.copyfile(client_key.with_suffix(".pub"), folder / "authorized_keys")
        port = free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {host_key}\n"
            f"PidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\n"
            "LogLevel ERROR\n"
        )
        if os.geteuid() == 0:
            # Root's sshd insists on its privilege-separation folder; Debian's service unit makes it.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(folder / "sshd.log", "wb")
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        server = cls(folder, port, client_key, process)
        server._wait_until_listening()
        return server

    def _wait_until_listening(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {self.log()}")
            if (self.folder / "sshd.pid").is_file():  # written once it listens
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen on port {self.port} within {timeout_s} s: {self.log()}")

    def log(self) -> str:
        return (self.folder / "sshd.log").read_text(errors="replace").strip()

    @property
    def target(self) -> str:
        import getpass

        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
