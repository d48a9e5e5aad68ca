"""edgeml benchmark --device, for real: an OpenSSH server on 127.0.0.1 and a "device" Python with only the pi extra."""

from __future__ import annotations

import dataclasses
import glob
import json
from pathlib import Path

import numpy as np
import pytest

from edgeml.benchmark import BenchmarkConfig, run_benchmark
from edgeml.bundle import BundleConfig, make_bundle
from edgeml.device import RunnerOptions, SshOptions, parse_target, run_on_device, ssh_command
from edgeml.errors import EdgeMLError
from edgeml.targets.base import MeasureJob
from edgeml.targets.model_set import collect_models
from edgeml.targets.ssh import SshTarget, SshTargetOptions
from ssh_server import SSHD, SshServer, free_port, numpy_only_python, ssh_keygen

RUNNER = RunnerOptions(runs=20, warmup=2)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.exists():
        pytest.skip(f"OpenSSH server not installed ({SSHD}): apt-get install openssh-server")
    server = SshServer.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()




@pytest.fixture(scope="module")
def bundle(tiny_run, tmp_path_factory) -> Path:
    return make_bundle(BundleConfig((str(tiny_run),), out=str(tmp_path_factory.mktemp("ssh_bundle") / "bundle")))


@pytest.fixture
def ssh_options(sshd, device_python, tmp_path, monkeypatch) -> SshOptions:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # only the throwaway key may log in
    return SshOptions(identity_file=str(sshd.client_key), device_python=str(device_python),
                      known_hosts_file=str(tmp_path / "known_hosts"), config_file="/dev/null")


def remote_bundles() -> set[str]:
    return set(glob.glob("/tmp/edgeml-bundle.*"))


@pytest.mark.slow
def test_ssh_round_trip_measures_on_the_device_and_merges_with_host_rows(sshd, ssh_options, tiny_run, tmp_path):
    before = remote_bundles()
    results = tmp_path / "device_results.json"
    model_set = collect_models([str(tiny_run)])
    target = SshTarget(sshd.target, SshTargetOptions(ssh_options, RUNNER, str(results)))
    rows = list(target.measure(MeasureJob(model_set.models, model_set.record, test_samples=1000)).rows)
    assert [(r.model, r.runtime) for r in rows] == [
        ("model_float32.tflite", "litert"), ("model_int8.tflite", "litert"),
    ]
    assert all(r.host.cpu and r.host.os and r.target == r.host.cpu for r in rows)
    assert all(r.runs == 20 and r.latency.p50_us > 0 for r in rows)
    assert remote_bundles() == before  # the remote folder is gone
    assert "127.0.0.1" in (tmp_path / "known_hosts").read_text()  # accept-new recorded the host key

    report = run_benchmark(BenchmarkConfig(
        targets=(str(tiny_run / "model_float32.tflite"), str(tiny_run / "model_int8.tflite")), runtimes=("litert",),
        runs=20, warmup=2, imports=(str(results),), out=str(tmp_path / "report"),
    ))
    sources = [row.target for row in report.rows]
    assert sources == ["host", "host", rows[0].target, rows[1].target]
    for row in report.rows:  # against the float32 file's predictions in the same place
        reference = next(r for r in report.rows if r.target == row.target and r.model == "model_float32.tflite")
        assert row.agreement_with_float == np.mean(np.array(row.predictions) == reference.predictions)


@pytest.mark.slow
def test_unreachable_host_is_one_clear_error(sshd, ssh_options, bundle, tmp_path):
    results = tmp_path / "results.json"
    with pytest.raises(EdgeMLError, match="unreachable: connection refused"):
        run_on_device(f"ssh://nobody@127.0.0.1:{free_port()}", bundle, ssh_options, RUNNER, results)
    assert not results.exists()


@pytest.mark.slow
def test_authentication_failure_is_one_clear_error(sshd, ssh_options, bundle, tmp_path):
    wrong_key = ssh_keygen(tmp_path / "not_authorized")
    options = dataclasses.replace(ssh_options, identity_file=str(wrong_key))
    results = tmp_path / "results.json"
    with pytest.raises(EdgeMLError, match="authentication failed .*Permission denied.*--identity"):
        run_on_device(sshd.target, bundle, options, RUNNER, results)
    assert not results.exists()


@pytest.mark.slow
def test_missing_runtime_on_the_device_is_one_clear_error(sshd, ssh_options, device_python, bundle, tmp_path,
                                                          tmp_path_factory):
    before = remote_bundles()
    python = numpy_only_python(tmp_path_factory.getbasetemp(), device_python)
    results = tmp_path / "results.json"
    with pytest.raises(EdgeMLError, match="no lite runtime is installed for .*pip install ai-edge-litert"):
        run_on_device(sshd.target, bundle, dataclasses.replace(ssh_options, device_python=str(python)), RUNNER, results)
    assert not results.exists()
    assert remote_bundles() == before

    with pytest.raises(EdgeMLError, match="device python '/no/such/python3' cannot be started .*--device-python"):
        run_on_device(sshd.target, bundle, dataclasses.replace(ssh_options, device_python="/no/such/python3"), RUNNER,
                      results)
    assert not results.exists()


def test_device_addresses_and_ssh_options_are_checked():
    assert parse_target("ssh://pi@raspberrypi.local:2222") == parse_target("pi@raspberrypi.local:2222")
    target = parse_target("ssh://pi@raspberrypi.local")
    assert (target.user, target.host, target.port) == ("pi", "raspberrypi.local", None)
    for bad in ("http://pi@host", "ssh://pi@host:99999", "ssh://-oProxyCommand=x", "ssh://pi@host/path", "ssh://"):
        with pytest.raises(EdgeMLError, match="device address"):
            parse_target(bad)
    with pytest.raises(EdgeMLError, match="host key checking"):
        SshOptions(host_key_checking="sometimes")
    with pytest.raises(EdgeMLError, match="identity file not found"):
        SshOptions(identity_file="/no/such/key")
    command = ssh_command(parse_target("ssh://pi@host:2222"), SshOptions(known_hosts_file="/tmp/kh"))
    assert command[:1] == ["ssh"] and command[-2:] == ["--", "pi@host"]
    expected = ("BatchMode=yes", "ConnectTimeout=10", "StrictHostKeyChecking=accept-new", "UserKnownHostsFile=/tmp/kh")
    assert all(option in command for option in expected)
    assert command[command.index("-p") + 1] == "2222"


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    with pytest.raises(EdgeMLError, match="not an edgeml bundle"):
        run_on_device("ssh://pi@host", tmp_path)


@pytest.mark.slow
def test_benchmark_command_with_device_option(sshd, ssh_options, tiny_run, tmp_path):
    """`edgeml benchmark --device ssh://...`: host and device rows in one report."""
    from click.testing import CliRunner

    from edgeml.cli import cli

    out = tmp_path / "report"
    result = CliRunner().invoke(cli, [
        "benchmark", str(tiny_run / "model_float32.tflite"), str(tiny_run / "model_int8.tflite"),
        "--runtime", "litert", "--runs", "20", "--warmup", "2", "--out", str(out),
        "--device", sshd.target, "--device-python", ssh_options.device_python, "--identity", ssh_options.identity_file,
        "--known-hosts", ssh_options.known_hosts_file, "--ssh-config", "/dev/null",
    ])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    assert len(rows) == 4 and sum(row["source"] == "host" for row in rows) == 2
    device_rows = [row for row in rows if row["source"] != "host"]
    assert all(row["device"]["os"] for row in device_rows)
    # same files, same runtime, same samples: the device agrees with its float32 file as the host does
    host_rows = [row for row in rows if row["source"] == "host"]
    assert [row["agreement_with_float"] for row in device_rows] == [row["agreement_with_float"] for row in host_rows]
    assert device_rows[0]["agreement_with_float"] == 1.0
    ratios = json.loads((out / "benchmark.json").read_text())["latency_ratios"]
    assert {ratio["source"] for ratio in ratios} == {"host", device_rows[0]["source"]}


@pytest.mark.slow
def test_unreachable_device_leaves_no_report(sshd, ssh_options, tiny_run, tmp_path):
    from edgeml.benchmark import BenchmarkConfig, run_benchmark

    with pytest.raises(EdgeMLError, match="unreachable"):
        run_benchmark(BenchmarkConfig(targets=(str(tiny_run / "model_int8.tflite"),), runtimes=("litert",),
                                      out=str(tmp_path / "report"), device=f"ssh://nobody@127.0.0.1:{free_port()}",
                                      ssh_config="/dev/null", identity=ssh_options.identity_file))
    assert not (tmp_path / "report").exists()
