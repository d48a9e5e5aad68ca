"""Typed benchmark rows (edgeml.measurement): read from the dicts edgeml's writers produce today and
written back with the same keys; a newer schema or a bad row is one error naming the file and key."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeml.artifact_json import JsonObject
from edgeml.errors import EdgeMLError
from edgeml.measurement import SCHEMA_VERSION, Measurement, Variant, read_measurements, write_measurements
from test_report import QEMU_ROW, _artifacts

FILE = Path("run/benchmark/benchmark.json")


def _read(row: dict) -> Measurement:
    return Measurement.from_json(JsonObject(row, FILE))


@pytest.mark.parametrize("index", range(4))
def test_host_rows_round_trip(index):
    row = _artifacts()["benchmark/benchmark.json"]["rows"][index]
    measurement = _read(row)
    assert not measurement.emulated and measurement.latency.p90_us == row["latency_us"]["p90"]
    assert measurement.to_json() == {key: value for key, value in row.items() if value is not None}
    assert _read(measurement.to_json()) == measurement


def test_an_emulated_row_round_trips():
    measurement = _read(QEMU_ROW)
    assert measurement.emulated and measurement.board == "mps2-an386" and measurement.target == "qemu:cortex-m4"
    assert measurement.image_flash.part("samples_bytes") == 4000 and measurement.image_ram.total == 5000
    assert [op.op_index for op in measurement.instructions.top_ops(2)] == [0, 2]
    assert measurement.to_json() == QEMU_ROW


def test_the_row_qemu_target_writes_is_read_whole():
    """edgeml.qemu_target.QemuResult.to_row, the emulated rows' writer, read back: every key but the
    predictions (benchmark.json leaves them out) survives."""
    from edgeml.qemu_target import OpCount, QemuResult
    from firmware_export.mcu.boards import board_for

    board = board_for("qemu:cortex-m7")
    result = QemuResult("model_int8.tflite", board, 3, 2 / 3, np.zeros((3, 10), np.int8), 4321.5, (4280.0, 4400.0),
                        (OpCount(0, "FULLY_CONNECTED", "fully_connected", 4000.0, 1600), OpCount(1, "SOFTMAX",
                                                                                               "softmax", 80.0, None)),
                        {"total_bytes": 100, "engine_bytes": 40, "model_bytes": 30, "harness_bytes": 20,
                         "samples_bytes": 10},
                        {"total_bytes": 50, "data_bytes": 4, "bss_bytes": 30, "stack_peak_bytes": 16,
                         "model_bytes": 20, "engine_stack_bytes": 8, "harness_bytes": 22}, (1, 2, 3))
    row = {key: value for key, value in result.to_row().items() if key != "predictions"}
    measurement = _read(row)
    assert measurement.instructions.per_op[0].instructions_per_mac == 2.5
    assert measurement.device == "qemu:cortex-m7" and measurement.board == board.machine
    assert measurement.to_json() == {key: value for key, value in row.items() if value is not None}


def test_a_not_measured_row():
    row = {"model": "model_int8.tflite", "runtime": "c", "source": "qemu:cortex-m0", "device": "qemu:cortex-m0",
           "machine": "microbit", "not_measured": "qemu-system-arm not found"}
    measurement = _read(row)
    assert measurement.emulated and measurement.not_measured == "qemu-system-arm not found"
    assert measurement.instructions is None and measurement.to_json() == row


def test_the_pipelines_row_shapes_with_null_measurements():
    """The shapes the pipeline's qemu target writes (branch i13-target): a not-measured row with every
    measurement null and ``samples`` 0; a measured row with ``"not_measured": null``."""
    reason = ("arm-none-eabi-gcc, qemu-system-arm not found (apt-get install gcc-arm-none-eabi "
              "libnewlib-arm-none-eabi qemu-system-arm)")
    row = {"model": "model_int8.tflite", "runtime": "c", "source": "qemu:cortex-m4", "device": "qemu:cortex-m4",
           "machine": "mps2-an386", "samples": 0, "accuracy": None, "agreement_with_host_c": None,
           "agreement_with_tflm": None, "instructions": None, "flash": None, "ram": None, "not_measured": reason}
    assert _read(row) == Measurement("model_int8.tflite", "c", "qemu:cortex-m4", device="qemu:cortex-m4",
                                     board="mps2-an386", samples=0, not_measured=reason)
    assert _read({**QEMU_ROW, "not_measured": None}) == _read(QEMU_ROW)


def test_an_imported_device_row_keeps_its_cpu_as_target():
    row = {**_artifacts()["benchmark/benchmark.json"]["rows"][0], "source": "Cortex-A72",
           "device": {"cpu": "Cortex-A72", "cores": "4"}}
    measurement = _read(row)
    assert measurement.target == "Cortex-A72" and measurement.device is None and not measurement.emulated


@pytest.mark.parametrize("model, variant", [("model_int8.tflite", Variant.INT8), ("model_float32.tflite",
                                            Variant.FLOAT32), ("runs/a/model.keras", Variant.KERAS),
                                            ("mine.h5", Variant.KERAS), ("digits_int8_v2.tflite", Variant.OTHER)])
def test_variant_from_the_file_name(model, variant):
    assert Variant.of(model) is variant


def test_a_newer_schema_is_refused():
    with pytest.raises(EdgeMLError, match=re.escape(f"{FILE} has schema version 2; this edgeml reads up to 1")):
        read_measurements(JsonObject({"schema_version": 2, "rows": []}, FILE))


def test_an_emulated_row_without_its_counts_names_the_key():
    row = {key: value for key, value in QEMU_ROW.items() if key != "ram"}
    with pytest.raises(EdgeMLError, match=re.escape(f"{FILE} does not have the contents edgeml expects (missing "
                                                    "key rows[0].ram)")):
        read_measurements(JsonObject({"rows": [row]}, FILE))


FLOAT_QEMU_ROW = {**QEMU_ROW, "model": "model_float32.tflite", "float_abi": "soft", "agreement_with_host_c": 0.95,
                  "agreement_with_litert_ref": 0.9, "max_abs_difference": 3e-6}
del FLOAT_QEMU_ROW["agreement_with_tflm"]


def test_an_emulated_float32_row_has_litert_agreement_and_abi_instead_of_tflm():
    measurement = _read(FLOAT_QEMU_ROW)
    assert (measurement.variant, measurement.float_abi, measurement.agreement_with_tflm) == (Variant.FLOAT32, "soft",
                                                                                           None)
    assert (measurement.agreement_with_host_c, measurement.agreement_with_litert_ref,
            measurement.max_abs_difference) == (0.95, 0.9, 3e-6)
    assert measurement.to_json() == FLOAT_QEMU_ROW and _read(measurement.to_json()) == measurement


@pytest.mark.parametrize("key", ["float_abi", "agreement_with_litert_ref", "max_abs_difference"])
def test_an_emulated_float32_row_without_its_reference_comparison_names_the_key(key):
    row = {k: v for k, v in FLOAT_QEMU_ROW.items() if k != key}
    with pytest.raises(EdgeMLError, match=re.escape(key)):
        _read(row)


def test_an_emulated_int8_row_still_needs_its_tflm_agreement():
    row = {k: v for k, v in QEMU_ROW.items() if k != "agreement_with_tflm"}
    with pytest.raises(EdgeMLError, match="agreement_with_tflm"):
        _read(row)


RUNNER_ROW = {  # what bench_runner prints for a TFLM row on a Raspberry Pi (its predictions included)
    "model": "model_int8.tflite", "runtime": "tflm", "source": "Cortex-A76", "runtime_version": "0.1",
    "samples": 3, "accuracy": 2 / 3, "predictions": [1, 0, 2], "init_ms": 1.5, "first_invoke_ms": 0.25,
    "warmup": 2, "runs": 5, "latency_us": {"mean": 11.0, "p50": 10.0, "p90": 12.0, "p99": 13.5},
    "batch_size": 2, "batch_in_one_invoke": False, "throughput_per_s": 900.0, "file_bytes": 16789,
    "peak_rss_bytes": 7340032, "rss_before_model_bytes": 5242880, "arena_bytes": 6208,
    "device": {"machine": "aarch64", "cpu": "Cortex-A76", "cores": "4", "os": "Linux", "python": "3.11.2"},
}


def test_the_runners_row_round_trips_with_its_predictions_and_machine():
    measurement = _read(RUNNER_ROW)
    assert measurement.predictions == (1, 0, 2) and measurement.host.cores == "4" and measurement.device is None
    assert (measurement.warmup, measurement.runs, measurement.batch_size, measurement.batch_in_one_invoke) == (
        2, 5, 2, False)
    assert measurement.rss_before_model_bytes == 5242880 and measurement.latency.mean_us == 11.0
    assert measurement.to_json(predictions=True) == RUNNER_ROW
    assert measurement.to_json() == {key: value for key, value in RUNNER_ROW.items() if key != "predictions"}
    assert _read(measurement.to_json()).predictions is None


def test_the_c_engines_own_arena_survives():
    row = {**RUNNER_ROW, "runtime": "c", "static_ram_bytes": 6282, "engine_arena_bytes": 6208, "flash_bytes": 9000}
    del row["arena_bytes"]
    measurement = _read(row)
    assert (measurement.engine_arena_bytes, measurement.static_ram_bytes, measurement.arena_bytes) == (6208, 6282, None)
    assert measurement.to_json(predictions=True) == row


@pytest.mark.parametrize("key, value, expected", [("batch_in_one_invoke", "yes", "expected true/false, found 'yes'"),
                                                  ("predictions", [1, "a"], "expected a list of numbers")])
def test_a_bad_runner_field_names_the_key(key, value, expected):
    with pytest.raises(EdgeMLError, match=re.escape(expected)) as caught:
        _read({**RUNNER_ROW, key: value})
    assert key in str(caught.value) and str(FILE) in str(caught.value)


def test_write_measurements_is_what_read_measurements_reads():
    rows = (_read(RUNNER_ROW), _read(QEMU_ROW))
    written = write_measurements(rows)
    assert written["schema_version"] == SCHEMA_VERSION and "predictions" not in written["rows"][0]
    assert read_measurements(JsonObject(written, FILE)) == (replace(rows[0], predictions=None), rows[1])
    assert write_measurements(rows, predictions=True)["rows"][0]["predictions"] == [1, 0, 2]


def test_a_devices_results_file_is_read_typed_and_labelled_with_its_cpu(tmp_path):
    from edgeml.targets.results import import_results

    old = {key: value for key, value in RUNNER_ROW.items() if key != "source"}  # written before rows were typed
    no_cpu = {**old, "device": {"machine": "armv7l"}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rows": [RUNNER_ROW, old, no_cpu]}))
    assert [row.target for row in import_results(path)] == ["Cortex-A76", "Cortex-A76", "device"]
    assert import_results(path)[0] == _read(RUNNER_ROW)
    path.write_text(json.dumps({"schema_version": 2, "rows": [RUNNER_ROW]}))
    with pytest.raises(EdgeMLError, match="has schema version 2; this edgeml reads up to 1: upgrade edgeml"):
        import_results(path)
