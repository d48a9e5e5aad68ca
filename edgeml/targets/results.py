"""Results files measured elsewhere (a bundle run on a device: ``results.json``), read and checked into
:class:`~edgeml.measurement.Measurement` rows.

Below :mod:`edgeml.benchmark` and :mod:`edgeml.device`, which both read such files.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgeml.artifact_json import JsonObject
from edgeml.artifacts import read_json
from edgeml.errors import EdgeMLError
from edgeml.measurement import PERCENTILES, Measurement, read_measurements

# What every measurement row (bench_runner.measure) carries; imported rows are checked against it.
ROW_KEYS = ("model", "runtime", "accuracy", "latency_us", "file_bytes", "peak_rss_bytes", "init_ms", "first_invoke_ms")


def import_results(path: str | Path) -> list[Measurement]:
    """Rows measured elsewhere (``edgeml bundle`` run on a device), labelled with that device: a row without
    a ``source`` (written by an edgeml before the rows were typed) takes its device's CPU. EdgeMLError when
    the file is not a results file, a row lacks a measurement, or was written by a newer edgeml."""
    data = read_json(path, "benchmark results")
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise EdgeMLError(f"{path} is not an edgeml results file (no rows with latency_us)")
    for index, row in enumerate(rows):
        missing = [key for key in ROW_KEYS if key not in row]
        latency = row.get("latency_us")
        if missing or not isinstance(latency, dict) or not all(isinstance(latency.get(p), (int, float)) for p in PERCENTILES):
            raise EdgeMLError(
                f"{path} is not an edgeml results file: row {index} lacks "
                f"{', '.join(missing) or 'latency_us percentiles'}"
            )
    measurements = read_measurements(JsonObject(data, Path(path)))
    return [row if "source" in raw else replace(row, target=(row.host and row.host.cpu) or "device")
            for row, raw in zip(measurements, rows)]
