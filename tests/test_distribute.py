"""tf.distribute plumbing: MirroredStrategy on a split CPU, MultiWorkerMirroredStrategy on two local workers.

Splitting the CPU must happen before TensorFlow initialises, and each worker is its own process, so the
trainings run in fresh subprocesses; the pytest process never initialises TensorFlow.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeml.errors import EdgeMLError
from edgeml.train import RUN_FILES, TrainConfig, train

WORKER_TIMEOUT_S = 240
RESULT_PREFIX = "EDGEML-TEST-RESULT "

# Small enough for a 2-core machine; seeded so that every worker builds the same model and data.
TRAIN_SCRIPT = f"""
import json, sys
from edgeml.train import TrainConfig, train

out, strategy, cpu_devices = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = train(TrainConfig(
    out=out, dataset="digits", strategy=strategy, cpu_devices=cpu_devices,
    train_samples=300, test_samples=100, epochs=2, batch_size=32, seed=0,
))
print({RESULT_PREFIX!r} + json.dumps(
    {{"replicas": run.replicas, "acc": run.test_accuracy, "loss": run.test_loss, "run_dir": str(run.run_dir)}}
), flush=True)
"""

# Loads the chief's model in a fresh process: the file must be complete.
LOAD_SCRIPT = f"""
import json, sys
from edgeml.tf_setup import load_keras

model = load_keras().models.load_model(sys.argv[1])
print({RESULT_PREFIX!r} + json.dumps({{"output_shape": list(model.output_shape)}}), flush=True)
"""


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(extra)
    return env


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def result_of(stdout: str) -> dict:
    """The JSON line a script printed after RESULT_PREFIX (the rest of stdout is Keras' progress)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise AssertionError(f"no result line in stdout:\n{tail(stdout)}")


def run_script(script: Path, *args: str, cwd: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
    )
    assert completed.returncode == 0, (
        f"{script.name} exited with {completed.returncode}; stderr tail:\n{tail(completed.stderr)}"
    )
    return result_of(completed.stdout)


def free_ports(count: int) -> list[int]:
    """Ports the OS just handed out; held open together so that they differ, then released for the workers."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def read_config(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))


@pytest.fixture
def train_script(tmp_path: Path) -> Path:
    script = tmp_path / "train_digits.py"
    script.write_text(TRAIN_SCRIPT, encoding="utf-8")
    return script


@pytest.mark.slow
def test_mirrored_strategy_replicates_on_split_cpu(tmp_path, train_script):
    out = tmp_path / "run"

    result = run_script(train_script, str(out), "mirrored", "2", cwd=tmp_path)

    assert result["replicas"] == 2
    assert 0.0 <= result["acc"] <= 1.0
    assert (out / "model.keras").is_file()
    config = read_config(out)
    assert config["result"]["replicas"] == 2
    assert config["train"]["strategy"] == "mirrored"
    assert config["train"]["cpu_devices"] == 2


@pytest.mark.slow
def test_multiworker_chief_writes_run_dir_and_other_worker_does_not(tmp_path, train_script):
    out = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        # Each worker gets its own TMPDIR, so the non-chief's throw-away run folder is findable and cleaned up.
        worker_tmp = tmp_path / f"worker{index}-tmp"
        worker_tmp.mkdir()
        stdout_path, stderr_path = tmp_path / f"worker{index}.out", tmp_path / f"worker{index}.err"
        env = subprocess_env(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TMPDIR=str(worker_tmp),
        )
        with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(train_script), str(out), "multiworker", "0"],
                cwd=tmp_path, env=env, stdout=stdout, stderr=stderr,
            )
        workers.append((process, stdout_path, stderr_path, worker_tmp))

    # A worker that dies leaves the other blocked in a collective, so stop everyone on the first failure.
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    try:
        while any(process.poll() is None for process, *_ in workers):
            failed = any(process.poll() not in (None, 0) for process, *_ in workers)
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for process, *_ in workers:
            if process.poll() is None:
                process.kill()
            process.wait()

    # Every worker's story in one message: the one that failed first is the interesting one, not the one we killed.
    assert all(process.returncode == 0 for process, *_ in workers), "\n\n".join(
        f"worker {index} exited with {process.returncode} (-9: killed by this test after another worker failed "
        f"or after {WORKER_TIMEOUT_S} s); stderr tail:\n{tail(stderr_path.read_text())}"
        for index, (process, _, stderr_path, _) in enumerate(workers)
    )
    chief, other = (result_of(stdout_path.read_text()) for _, stdout_path, _, _ in workers)

    assert chief["replicas"] == other["replicas"] == 2
    assert Path(chief["run_dir"]) == out
    assert read_config(out)["result"]["replicas"] == 2
    # Exactly the chief's files: no second writer's leftovers (temporary files, duplicates).
    assert sorted(path.name for path in out.iterdir()) == sorted(RUN_FILES)
    # Synchronous training leaves both workers with the same weights, hence the same test loss.
    assert chief["loss"] == other["loss"] and chief["acc"] == other["acc"]
    # Worker 1 saved into a throw-away folder under its own TMPDIR, which is gone again.
    assert Path(other["run_dir"]).is_relative_to(workers[1][3])
    assert not Path(other["run_dir"]).exists() and not any(workers[1][3].iterdir())

    load_script = tmp_path / "load_model.py"
    load_script.write_text(LOAD_SCRIPT, encoding="utf-8")
    assert run_script(load_script, str(out / "model.keras"), cwd=tmp_path)["output_shape"] == [None, 10]


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [(None, "needs the TF_CONFIG environment variable"), ("{not json", "TF_CONFIG is not valid JSON")],
)
def test_multiworker_needs_valid_tf_config(tmp_path, monkeypatch, tf_config, message):
    # Fails before TensorFlow initialises a device, so running in the pytest process is safe.
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    out = tmp_path / "run"

    with pytest.raises(EdgeMLError, match=message):
        train(TrainConfig(out=str(out), dataset="digits", strategy="multiworker", epochs=2))

    assert not out.exists()
