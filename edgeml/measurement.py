"""A benchmark measurement, typed (issue 10 item 3): one row of ``benchmark/benchmark.json`` read back.

The rows are written as dicts by :mod:`edgeml.bench_runner` (on this machine or a Raspberry Pi: latency in
µs, peak RSS; the C engine adds its static RAM and flash) and by :mod:`edgeml.qemu_target` (an emulated
Cortex-M: instruction counts, and flash and RAM of the linked image); :meth:`Measurement.from_json` reads
either kind, and :meth:`Measurement.to_json` writes the same keys back, so the writers can move to this
type without changing the file. A file with a ``schema_version`` above :data:`SCHEMA_VERSION` (written by
a newer edgeml) is refused; files without one are version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from edgeml.artifact_json import JsonObject
from edgeml.errors import EdgeMLError
from edgeml.rundir import FLOAT_TFLITE_FILE, INT8_TFLITE_FILE

SCHEMA_VERSION = 1
PERCENTILES = ("mean", "p50", "p90", "p99")
QEMU_PREFIX = "qemu:"  # the device of a row measured on an emulated Cortex-M (firmware_export.mcu.boards)


class Variant(str, Enum):
    """Which of a run's models a row measured, from its file name (the names edgeml.quantize writes)."""

    KERAS = "keras"
    FLOAT32 = "float32"
    INT8 = "int8"
    OTHER = "other"

    @classmethod
    def of(cls, model: str) -> "Variant":
        name = Path(model).name
        if Path(name).suffix in (".keras", ".h5"):
            return cls.KERAS
        return {FLOAT_TFLITE_FILE: cls.FLOAT32, INT8_TFLITE_FILE: cls.INT8}.get(name, cls.OTHER)


@dataclass(frozen=True)
class Latency:
    """Single-sample invoke latency after warm-up, µs."""

    mean_us: float | None
    p50_us: float | None
    p90_us: float | None
    p99_us: float | None

    @classmethod
    def from_json(cls, data: JsonObject) -> "Latency":
        return cls(*(data.number(percentile) for percentile in PERCENTILES))

    def to_json(self) -> dict[str, float | None]:
        return dict(zip(PERCENTILES, (self.mean_us, self.p50_us, self.p90_us, self.p99_us)))


@dataclass(frozen=True)
class OpInstructions:
    """One op's instructions per inference on the emulated board; MACs for FULLY_CONNECTED and convolutions."""

    op_index: int
    op: str
    kernel: str | None
    instructions: float
    macs: int | None
    instructions_per_mac: float | None

    @classmethod
    def from_json(cls, data: JsonObject) -> "OpInstructions":
        return cls(data.integer("op_index", True), data.text("op", True), data.text("kernel"),
                   data.number("instructions", True), data.integer("macs"), data.number("instructions_per_mac"))

    def to_json(self) -> dict[str, Any]:
        return {"op_index": self.op_index, "op": self.op, "kernel": self.kernel, "instructions": self.instructions,
                "macs": self.macs, "instructions_per_mac": self.instructions_per_mac}


@dataclass(frozen=True)
class InstructionCounts:
    """Instructions per inference under QEMU ``-icount shift=0`` (mean, min, max over the samples), with
    ``resolution`` instructions per SysTick count and each op's mean over the profiled samples."""

    per_inference: float
    minimum: float | None
    maximum: float | None
    resolution: float
    per_op: tuple[OpInstructions, ...]
    note: str | None

    @classmethod
    def from_json(cls, data: JsonObject) -> "InstructionCounts":
        return cls(data.number("per_inference", True), data.number("min"), data.number("max"),
                   data.number("resolution", True),
                   tuple(OpInstructions.from_json(op) for op in data.objects("per_op")), data.text("note"))

    def to_json(self) -> dict[str, Any]:
        return {"per_inference": self.per_inference, "min": self.minimum, "max": self.maximum,
                "resolution": self.resolution, "per_op": [op.to_json() for op in self.per_op], "note": self.note}

    def top_ops(self, count: int) -> tuple[OpInstructions, ...]:
        """The ``count`` ops with the most instructions, most first (ties in graph order)."""
        return tuple(sorted(self.per_op, key=lambda op: -op.instructions)[:count])


@dataclass(frozen=True)
class ImageBytes:
    """Bytes of a linked image's flash or RAM: ``total`` and its parts by owner, as (JSON key, bytes)
    pairs in the file's order (``engine_bytes``, ``model_bytes``, ...)."""

    total: int
    parts: tuple[tuple[str, int], ...]

    @classmethod
    def from_json(cls, data: JsonObject) -> "ImageBytes":
        return cls(data.integer("total_bytes", True),
                   tuple((key, data.integer(key, True)) for key in data.keys() if key != "total_bytes"))

    def to_json(self) -> dict[str, int]:
        return {"total_bytes": self.total, **dict(self.parts)}

    def part(self, key: str) -> int | None:
        return dict(self.parts).get(key)


@dataclass(frozen=True)
class Measurement:
    """One model in one runtime on one target: ``target`` is ``host``, a device's CPU, or ``qemu:<core>``.

    A host or device row has ``latency`` (and ``peak_rss_bytes``; TFLM its ``arena_bytes``, the C engine
    ``static_ram_bytes`` and ``flash_bytes``, or why not); an emulated Cortex-M row has ``instructions``,
    ``image_flash`` and ``image_ram`` and its agreement with the host C engine and TFLM, or
    ``not_measured``: why it could not be measured (e.g. which tools to install).

    An emulated float32 row (issue 15) has no TFLM agreement; instead ``float_abi`` (``soft``: M0/M3
    software floating point, ``hard``: the M4's FPU), ``agreement_with_litert_ref`` (top class equal to
    LiteRT's ``BUILTIN_REF`` float kernels, fraction of the samples) and ``max_abs_difference`` (the largest
    |output - BUILTIN_REF output| over the samples' output values); ``agreement_with_host_c`` is the
    fraction of samples whose top class equals the float C engine built on the host (an int8 row's is 1.0:
    any byte difference is an error).
    """

    model: str
    runtime: str
    target: str
    device: str | None = None
    board: str | None = None
    runtime_version: str | None = None
    threads: int | None = None
    samples: int | None = None
    accuracy: float | None = None
    agreement_with_float: float | None = None
    agreement_with_host_c: float | None = None
    agreement_with_tflm: float | None = None
    agreement_with_litert_ref: float | None = None
    max_abs_difference: float | None = None
    float_abi: str | None = None
    latency: Latency | None = None
    init_ms: float | None = None
    first_invoke_ms: float | None = None
    throughput_per_s: float | None = None
    file_bytes: int | None = None
    peak_rss_bytes: int | None = None
    arena_bytes: int | None = None
    arena_not_measured: str | None = None
    static_ram_bytes: int | None = None
    flash_bytes: int | None = None
    flash_not_measured: str | None = None
    instructions: InstructionCounts | None = None
    image_flash: ImageBytes | None = None
    image_ram: ImageBytes | None = None
    not_measured: str | None = None

    @property
    def variant(self) -> Variant:
        return Variant.of(self.model)

    @property
    def emulated(self) -> bool:
        """Measured (or to be measured) on an emulated Cortex-M under QEMU."""
        return (self.device or "").startswith(QEMU_PREFIX)

    @classmethod
    def from_json(cls, row: JsonObject) -> "Measurement":
        """One row; a missing key or a value of the wrong type is an EdgeMLError naming the file and key."""
        device = row.raw("device")  # an imported Raspberry Pi row holds the device's description here
        device = row.text("device") if not isinstance(device, dict) else None
        emulated = (device or "").startswith(QEMU_PREFIX)
        common = dict(model=row.text("model", True), runtime=row.text("runtime", not emulated) or "c",
                      target=row.text("source") or device or "host", device=device, board=row.text("machine"),
                      runtime_version=row.text("runtime_version"), threads=row.integer("threads"),
                      samples=row.integer("samples"), accuracy=row.number("accuracy"),
                      agreement_with_float=row.number("agreement_with_float"))
        if row.text("not_measured"):
            return cls(**common, not_measured=row.text("not_measured"))
        if emulated:
            float32 = Variant.of(common["model"]) is Variant.FLOAT32
            return cls(**common, agreement_with_host_c=row.number("agreement_with_host_c", True),
                       agreement_with_tflm=row.number("agreement_with_tflm", not float32),
                       agreement_with_litert_ref=row.number("agreement_with_litert_ref", float32),
                       max_abs_difference=row.number("max_abs_difference", float32),
                       float_abi=row.text("float_abi", float32),
                       instructions=InstructionCounts.from_json(row.object("instructions", True)),
                       image_flash=ImageBytes.from_json(row.object("flash", True)),
                       image_ram=ImageBytes.from_json(row.object("ram", True)))
        return cls(**common, latency=Latency.from_json(row.object("latency_us", True)),
                   init_ms=row.number("init_ms"), first_invoke_ms=row.number("first_invoke_ms"),
                   throughput_per_s=row.number("throughput_per_s"), file_bytes=row.integer("file_bytes"),
                   peak_rss_bytes=row.integer("peak_rss_bytes"), arena_bytes=row.integer("arena_bytes"),
                   arena_not_measured=row.text("arena_not_measured"),
                   static_ram_bytes=row.integer("static_ram_bytes"), flash_bytes=row.integer("flash_bytes"),
                   flash_not_measured=row.text("flash_not_measured"))

    def to_json(self) -> dict[str, Any]:
        """The row as benchmark.json holds it: the keys this measurement has (None values left out)."""
        nested = {"latency_us": self.latency, "instructions": self.instructions, "flash": self.image_flash,
                  "ram": self.image_ram}
        row = {"model": self.model, "runtime": self.runtime, "source": self.target, "device": self.device,
               "machine": self.board, **{key: value.to_json() for key, value in nested.items() if value is not None}}
        for key in ("runtime_version", "threads", "samples", "accuracy", "agreement_with_float",
                    "agreement_with_host_c", "agreement_with_tflm", "agreement_with_litert_ref",
                    "max_abs_difference", "float_abi", "init_ms", "first_invoke_ms", "throughput_per_s",
                    "file_bytes", "peak_rss_bytes", "arena_bytes", "arena_not_measured", "static_ram_bytes",
                    "flash_bytes", "flash_not_measured", "not_measured"):
            row[key] = getattr(self, key)
        return {key: value for key, value in row.items() if value is not None}


def read_measurements(benchmark: JsonObject) -> tuple[Measurement, ...]:
    """Every row of a benchmark.json (``benchmark``), typed; EdgeMLError for a newer schema or a bad row."""
    version = benchmark.integer("schema_version") or 1
    if version > SCHEMA_VERSION:
        raise EdgeMLError(f"{benchmark.path} has schema version {version}; this edgeml reads up to "
                          f"{SCHEMA_VERSION}: upgrade edgeml")
    return tuple(Measurement.from_json(row) for row in benchmark.objects("rows", required=True))
