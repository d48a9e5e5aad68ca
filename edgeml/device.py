"""Run a bundle on a device over SSH: copy it, run it with the device's Python, fetch its rows, clean up.
The transport of the ``ssh://`` benchmark target (:mod:`edgeml.targets.ssh`).

Uses the system ``ssh`` (OpenSSH) in batch mode, so keys come from ``identity_file``, ssh-agent or
``~/.ssh/config`` as for an interactive ``ssh``, and nothing ever waits for a password. Three
connections: upload (tar over ssh, so the device needs no sftp), run + fetch, and removal of the
remote folder, which happens whatever went wrong.
"""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgeml.artifacts import write_json
from edgeml.bench_runner import MeasureConfig
from edgeml.errors import EdgeMLError
from edgeml.measurement import Measurement
from edgeml.pi_runner import MANIFEST_FILE, RESULTS_FILE, RUNNER_FILE
from edgeml.targets.results import import_results

HOST_KEY_CHECKING = ("accept-new", "yes", "no")
# What the upload step creates on the device; removal refuses anything else.
REMOTE_DIR_PATTERN = re.compile(r"^/[\w./-]*/edgeml-bundle\.[A-Za-z0-9]+$")
SSH_FAILED = 255  # ssh's own exit status; anything else is the remote command's
RUNNING = "running the bundle"


@dataclass(frozen=True)
class SshOptions:
    identity_file: str | None = None  # -i KEY (with IdentitiesOnly); None: ssh-agent and ~/.ssh/config decide
    device_python: str = "python3"  # a command on the device, may carry arguments ("/opt/venv/bin/python -X utf8")
    known_hosts_file: str | None = None  # UserKnownHostsFile; None: ssh's default (~/.ssh/known_hosts)
    host_key_checking: str = "accept-new"  # StrictHostKeyChecking: accept-new | yes | no
    connect_timeout_s: int = 10
    run_timeout_s: float = 3600.0  # the whole measurement on the device
    config_file: str | None = None  # ssh -F FILE; None: ~/.ssh/config and /etc/ssh/ssh_config

    def __post_init__(self) -> None:
        if self.host_key_checking not in HOST_KEY_CHECKING:
            raise EdgeMLError(
                f"unknown host key checking {self.host_key_checking!r}: choose one of {', '.join(HOST_KEY_CHECKING)}"
            )
        if self.connect_timeout_s <= 0 or self.run_timeout_s <= 0:
            raise EdgeMLError("SSH timeouts must be positive")
        try:
            if not shlex.split(self.device_python):
                raise EdgeMLError("--device-python is empty")
        except ValueError as exc:
            raise EdgeMLError(f"--device-python {self.device_python!r} is not a command line: {exc}") from None
        if self.identity_file is not None and not Path(self.identity_file).expanduser().is_file():
            raise EdgeMLError(f"identity file not found: {self.identity_file}")


@dataclass(frozen=True)
class RunnerOptions:
    """The options ``run.py`` takes on the device (see :mod:`edgeml.bundle`)."""

    threads: int = MeasureConfig.threads
    runs: int = MeasureConfig.runs
    warmup: int = MeasureConfig.warmup
    batch_size: int = MeasureConfig.batch_size
    runtimes: tuple[str, ...] = ()  # litert, tflite-runtime, tflm; empty: every one installed there

    def arguments(self) -> list[str]:
        arguments = ["--threads", str(self.threads), "--runs", str(self.runs), "--warmup", str(self.warmup),
                     "--batch-size", str(self.batch_size)]
        for runtime in self.runtimes:
            arguments += ["--runtime", runtime]
        return arguments


@dataclass(frozen=True)
class DeviceTarget:
    user: str | None
    host: str
    port: int | None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user + '@' if self.user else ''}{host}{':' + str(self.port) if self.port else ''}"


def parse_target(target: str) -> DeviceTarget:
    """``ssh://[user@]host[:port]`` (or ``[user@]host``) as ssh's destination and port."""
    spec = target if "://" in target else f"ssh://{target}"
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        raise EdgeMLError(f"bad port in device address {target!r}: PORT must be 1-65535") from None
    if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.password:
        raise EdgeMLError(f"device address {target!r} is not of the form ssh://user@host[:port]")
    for value in (parts.username, parts.hostname):
        # ssh would read a leading dash as an option; whitespace would split the argument.
        if value and (value.startswith("-") or re.search(r"[\s'\"\\;]", value)):
            raise EdgeMLError(f"device address {target!r} has an unusable user or host name")
    return DeviceTarget(parts.username, parts.hostname, port)


def run_on_device(
    target: str,
    bundle_dir: Path | str,
    ssh: SshOptions = SshOptions(),
    runner: RunnerOptions = RunnerOptions(),
    results_path: Path | str | None = None,
) -> list[Measurement]:
    """Measure a bundle (``edgeml.bundle.make_bundle``) on ``target``; rows as ``import_results`` gives
    (:mod:`edgeml.targets.results`).

    All or nothing: any failure is one EdgeMLError and no rows; ``results_path`` (the device's raw
    results.json, kept for a later ``--import``) is written only on success.
    """
    device = parse_target(target)
    remote_dir = upload_bundle(device, bundle_dir, ssh)
    try:
        return run_uploaded(device, remote_dir, ssh, runner, results_path)
    finally:
        remove_uploaded(device, ssh, remote_dir)


def upload_bundle(device: DeviceTarget, bundle_dir: Path | str, ssh: SshOptions) -> str:
    """Copy the bundle into a new folder under the device's $TMPDIR (tar over ssh); that folder's path."""
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / RUNNER_FILE).is_file() or not (bundle_dir / MANIFEST_FILE).is_file():
        raise EdgeMLError(f"{bundle_dir} is not an edgeml bundle (no {RUNNER_FILE} or {MANIFEST_FILE})")
    archive = _tar_gz(bundle_dir, exclude=("__pycache__", RESULTS_FILE))

    upload = "d=$(mktemp -d \"${TMPDIR:-/tmp}/edgeml-bundle.XXXXXX\") || exit 1\n" \
             "if tar -xzf - -C \"$d\"; then echo \"$d\"; else rm -rf \"$d\"; exit 1; fi"
    answer = _ssh(device, ssh, upload, "copying the bundle", stdin=archive, timeout_s=ssh.connect_timeout_s + 300)
    remote_dir = (answer.strip().splitlines() or [""])[-1]  # the last line: a login script may print first
    if not REMOTE_DIR_PATTERN.match(remote_dir):
        raise EdgeMLError(f"copying the bundle to {device} failed: the device answered {answer[-200:]!r}, not a folder")
    return remote_dir


def run_uploaded(device: DeviceTarget, remote_dir: str, ssh: SshOptions, runner: RunnerOptions,
                 results_path: Path | str | None = None) -> list[Measurement]:
    """Run the uploaded bundle's ``run.py`` with the device's python and read back its rows (checked and
    labelled as ``--import`` does); ``results_path`` gets the raw results file."""
    python = " ".join(shlex.quote(part) for part in shlex.split(ssh.device_python))
    run = (f"cd {shlex.quote(remote_dir)} || exit 1\n"
           f"{python} {RUNNER_FILE} {shlex.join(runner.arguments())} --out {RESULTS_FILE} 1>&2 || exit $?\n"
           f"cat {RESULTS_FILE}")
    output = _ssh(device, ssh, run, RUNNING, timeout_s=ssh.run_timeout_s)
    try:
        results = json.loads(output)
    except json.JSONDecodeError:
        raise EdgeMLError(f"{device} sent back something that is not a results file: {output[:200]!r}") from None
    with tempfile.TemporaryDirectory(prefix="edgeml-device-") as scratch:
        rows = import_results(write_json(Path(scratch) / RESULTS_FILE, results))  # the same checks and labels
    if results_path:
        write_json(results_path, results)
    return rows


def ssh_command(device: DeviceTarget, options: SshOptions) -> list[str]:
    """``ssh`` with batch mode, timeouts and host-key handling, up to and including the destination."""
    command = ["ssh"]
    if options.config_file:
        command += ["-F", options.config_file]
    command += [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={max(1, math.ceil(options.connect_timeout_s))}",  # ssh takes whole seconds
        "-o", f"StrictHostKeyChecking={options.host_key_checking}",
        # A device that vanishes mid-run is noticed within a minute instead of at run_timeout_s.
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
        "-o", "LogLevel=ERROR",  # errors only: no "Permanently added ... to the list of known hosts"
    ]
    if options.known_hosts_file:
        command += ["-o", f"UserKnownHostsFile={Path(options.known_hosts_file).expanduser()}"]
    if options.identity_file:
        command += ["-i", str(Path(options.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
    if device.port:
        command += ["-p", str(device.port)]
    return command + ["--", device.destination]


def _ssh(device: DeviceTarget, options: SshOptions, script: str, doing: str, timeout_s: float,
         stdin: bytes | None = None) -> str:
    """Run ``script`` with ``sh`` on the device (not the login shell: it may be fish); its stdout."""
    command = ssh_command(device, options) + ["sh -c " + shlex.quote(script)]
    try:
        completed = subprocess.run(command, input=stdin if stdin is not None else b"", capture_output=True,
                                   timeout=timeout_s)
    except FileNotFoundError:
        raise EdgeMLError("the ssh command is not installed here: apt install openssh-client") from None
    except subprocess.TimeoutExpired:
        raise EdgeMLError(f"{doing} on {device} took longer than {timeout_s:.0f} s; stopped") from None
    stderr = completed.stderr.decode(errors="replace")
    if completed.returncode == SSH_FAILED:
        raise _ssh_failure(device, options, stderr)
    if completed.returncode != 0:
        raise _remote_failure(device, options, doing, completed.returncode, stderr)
    return completed.stdout.decode(errors="replace")


def _ssh_failure(device: DeviceTarget, options: SshOptions, stderr: str) -> EdgeMLError:
    """ssh's own failure (exit 255) as one sentence that names the likely fix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "ssh exited with 255 and no message"
    text = stderr.lower()
    if "connection refused" in text:
        return EdgeMLError(f"{device} is unreachable: connection refused on port {device.port or 22} "
                           "(is sshd running there, and is that the right port?)")
    if "timed out" in text:
        return EdgeMLError(f"{device} is unreachable: no answer within {options.connect_timeout_s} s "
                           "(wrong address, device off, or a firewall?)")
    if any(reason in text for reason in ("no route to host", "network is unreachable", "could not resolve hostname",
                                         "name or service not known", "temporary failure in name resolution")):
        return EdgeMLError(f"{device} is unreachable: {last}")
    if "permission denied" in text or "too many authentication failures" in text:
        return EdgeMLError(
            f"authentication failed for {device.destination} ({last}): edgeml never asks for a password; "
            "give --identity KEY, load the key into ssh-agent, or install your public key on the device (ssh-copy-id)"
        )
    if "host key is known" in text:  # "No ED25519 host key is known for ... and you have requested strict checking"
        return EdgeMLError(
            f"the host key of {device.host} is not known and host key checking is {options.host_key_checking!r}: "
            "connect once with ssh to accept it, or use the default accept-new"
        )
    if "host key verification failed" in text or "remote host identification has changed" in text:
        return EdgeMLError(
            f"host key verification failed for {device.host}: it is not the key known for this host "
            f"(remove the old one with ssh-keygen -R {device.host} if the device was reinstalled, or use --known-hosts)"
        )
    return EdgeMLError(f"ssh to {device} failed: {last}")


def _remote_failure(device: DeviceTarget, options: SshOptions, doing: str, status: int, stderr: str) -> EdgeMLError:
    """A failure of the command on the device: run.py's own "error: ..." line when it wrote one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    if errors:
        return EdgeMLError(f"on {device}: {errors[-1]}")
    if status in (126, 127):  # the shell's "command not found" / "not executable"
        missing = lines[-1] if lines else "command not found"
        if doing == RUNNING:
            return EdgeMLError(f"the device python {options.device_python!r} cannot be started on {device} "
                               f"({missing}): set --device-python to its path")
        return EdgeMLError(f"{doing} on {device} failed: {missing} (the device needs sh, mktemp and tar)")
    return EdgeMLError(f"{doing} on {device} failed (exit {status}): {lines[-1] if lines else 'no message'}")


def remove_uploaded(device: DeviceTarget, options: SshOptions, remote_dir: str) -> None:
    """Delete the uploaded folder; a failure here costs a stray /tmp folder, not the results."""
    if not REMOTE_DIR_PATTERN.match(remote_dir):
        return
    try:
        _ssh(device, options, f"rm -rf {shlex.quote(remote_dir)}", "removing the bundle",
             timeout_s=options.connect_timeout_s + 60)
    except EdgeMLError as exc:
        sys.stderr.write(f"warning: could not remove {remote_dir} on {device}: {exc}\n")


def _tar_gz(folder: Path, exclude: tuple[str, ...]) -> bytes:
    """The folder's contents as a .tar.gz, owned by nobody in particular (so root on the device keeps them)."""

    def anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if Path(info.name).name in exclude:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in sorted(folder.iterdir()):
            archive.add(entry, arcname=entry.name, filter=anonymous)
    return buffer.getvalue()
