"""Results files measured elsewhere (a bundle run on a device: ``results.json``), read and checked.

Below :mod:`edgeml.benchmark` and :mod:`edgeml.device`, which both read such files.
"""

from __future__ import annotations

from pathlib import Path

from edgeml.artifacts import read_json
from edgeml.errors import EdgeMLError

# What every measurement row (bench_runner.measure) carries; imported rows are checked against it.
ROW_KEYS = ("model", "runtime", "accuracy", "latency_us", "file_bytes", "peak_rss_bytes", "init_ms", "first_invoke_ms")
PERCENTILES = ("mean", "p50", "p90", "p99")


def import_results(path: str | Path) -> list[dict]:
    """Rows measured elsewhere (``edgeml bundle`` run on a device), labelled with that device."""
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
        device = row.get("device") if isinstance(row.get("device"), dict) else {}
        row.setdefault("source", device.get("cpu", "device"))
    return rows

