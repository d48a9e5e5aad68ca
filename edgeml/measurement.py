"""A benchmark measurement, typed (issue 10 item 3): one row of ``benchmark/benchmark.json`` read back.

:mod:`edgeml.bench_runner` measures one (on this machine or a Raspberry Pi: latency in µs, peak RSS; the C
engine adds its static RAM and flash) and :mod:`edgeml.qemu_target` another kind (an emulated Cortex-M:
instruction counts, and flash and RAM of the linked image); the benchmark targets pass them on, and
:mod:`edgeml.benchmark` writes them with :meth:`Measurement.to_json` (the runner's output and a device's
``results.json`` also carry each sample's predicted class, which ``benchmark.json`` leaves out).
:meth:`Measurement.from_json` reads either kind back. A file with a ``schema_version`` above
:data:`SCHEMA_VERSION` (written by a newer edgeml) is refused; files without one are version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

from edgeml.artifact_json import JsonObject
from edgeml.errors import EdgeMLError
from edgeml.rundir import FLOAT_TFLITE_FILE, INT8_TFLITE_FILE

SCHEMA_VERSION = 1
PERCENTILES = ("mean", "p50", "p90", "p99")
HOST_KEYS = ("machine", "cpu", "cores", "os", "python")  # a machine's description (bench_runner.device_info)
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
class HostInfo:
    """The machine a row was measured on, as its OS names it (:func:`edgeml.bench_runner.device_info`):
    architecture, CPU model, core count, OS and Python version, all text."""

    machine: str | None = None
    cpu: str | None = None
    cores: str | None = None
    os: str | None = None
    python: str | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> "HostInfo":
        return cls(*(data.text(key) for key in HOST_KEYS))

    def to_json(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in HOST_KEYS if getattr(self, key) is not None}


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

    What the runner also records of a timed row: ``warmup`` and ``runs`` (untimed and timed single-sample
    invokes), ``batch_size`` and ``batch_in_one_invoke`` (how throughput was measured; None: not measured),
    ``rss_before_model_bytes`` (resident memory once the runtime was imported, before the model opened),
    ``engine_arena_bytes`` (the C engine's arena alone), ``host`` (the machine) and ``predictions`` (each
    sample's predicted class, in sample order, for the agreement with the float model; not in
    benchmark.json).
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
    warmup: int | None = None
    runs: int | None = None
    batch_size: int | None = None
    batch_in_one_invoke: bool | None = None
    rss_before_model_bytes: int | None = None
    engine_arena_bytes: int | None = None
    host: HostInfo | None = None
    predictions: tuple[int, ...] | None = None

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
        described = isinstance(row.raw("device"), dict)  # a timed row holds its machine's description here
        device = row.text("device") if not described else None
        emulated = (device or "").startswith(QEMU_PREFIX)
        predictions = row.numbers("predictions") if "predictions" in row else None
        common = dict(model=row.text("model", True), runtime=row.text("runtime", not emulated) or "c",
                      target=row.text("source") or device or "host", device=device, board=row.text("machine"),
                      runtime_version=row.text("runtime_version"), threads=row.integer("threads"),
                      samples=row.integer("samples"), accuracy=row.number("accuracy"),
                      agreement_with_float=row.number("agreement_with_float"),
                      predictions=None if predictions is None else tuple(int(value) for value in predictions))
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
                   flash_not_measured=row.text("flash_not_measured"), warmup=row.integer("warmup"),
                   runs=row.integer("runs"), batch_size=row.integer("batch_size"),
                   batch_in_one_invoke=_flag(row, "batch_in_one_invoke"),
                   rss_before_model_bytes=row.integer("rss_before_model_bytes"),
                   engine_arena_bytes=row.integer("engine_arena_bytes"),
                   host=HostInfo.from_json(row.object("device")) if described else None)

    def to_json(self, predictions: bool = False) -> dict[str, Any]:
        """The row as benchmark.json holds it: the keys this measurement has (None values left out);
        with ``predictions`` also each sample's predicted class (the runner's output, results.json)."""
        nested = {"latency_us": self.latency, "instructions": self.instructions, "flash": self.image_flash,
                  "ram": self.image_ram, "device": self.host}
        row = {"model": self.model, "runtime": self.runtime, "source": self.target, "device": self.device,
               "machine": self.board, **{key: value.to_json() for key, value in nested.items() if value is not None}}
        for key in ("runtime_version", "threads", "samples", "accuracy", "agreement_with_float",
                    "agreement_with_host_c", "agreement_with_tflm", "agreement_with_litert_ref",
                    "max_abs_difference", "float_abi", "init_ms", "first_invoke_ms", "throughput_per_s",
                    "file_bytes", "peak_rss_bytes", "arena_bytes", "arena_not_measured", "static_ram_bytes",
                    "flash_bytes", "flash_not_measured", "not_measured", "warmup", "runs", "batch_size",
                    "batch_in_one_invoke", "rss_before_model_bytes", "engine_arena_bytes"):
            row[key] = getattr(self, key)
        if predictions and self.predictions is not None:
            row["predictions"] = list(self.predictions)
        return {key: value for key, value in row.items() if value is not None}


def _flag(row: JsonObject, key: str) -> bool | None:
    """An optional true/false; EdgeMLError naming the file and key for anything else."""
    value = row.raw(key)
    if value is not None and not isinstance(value, bool):
        raise EdgeMLError(f"{row.path} does not have the contents edgeml expects ({row.where}{key}: expected "
                          f"true/false, found {value!r})")
    return value


@dataclass(frozen=True)
class BoardPair:
    """One emulated board's measured float32 and int8 rows (None: no measured row of that variant) and its
    rows that were not measured (issue 15: float32 against int8 on the microcontroller)."""

    device: str
    float32: Measurement | None
    int8: Measurement | None
    not_measured: tuple[Measurement, ...]

    @property
    def int8_over_float32_instructions(self) -> float | None:
        if self.float32 is None or self.int8 is None:
            return None
        return self.int8.instructions.per_inference / self.float32.instructions.per_inference  # below 1: int8 fewer

    @property
    def float32_over_int8_ram(self) -> float | None:
        if self.float32 is None or self.int8 is None:
            return None
        return self.float32.image_ram.total / self.int8.image_ram.total


def board_pairs(emulated: Sequence[Measurement]) -> tuple[BoardPair, ...]:
    """The float32 and int8 rows of each emulated board (``device``), boards in the order the rows name them;
    other models (neither the run's float32 nor its int8 file) are left out."""
    compared = [row for row in emulated if row.variant in (Variant.FLOAT32, Variant.INT8)]
    devices = list(dict.fromkeys(row.device for row in compared))

    def measured(device: str, variant: Variant) -> Measurement | None:
        return next((row for row in compared if row.device == device and row.variant is variant
                     and row.not_measured is None), None)

    return tuple(BoardPair(device, measured(device, Variant.FLOAT32), measured(device, Variant.INT8),
                           tuple(row for row in compared if row.device == device and row.not_measured is not None))
                 for device in devices)


@dataclass(frozen=True)
class RuntimeParity:
    """One runtime's outputs against the parity's baseline: output vectors that differ in any byte, the
    largest difference (LSB of an int8 output), the first op that diverges, or why it did not run."""

    runtime: str
    differing_vectors: int | None = None
    max_lsb: float | None = None
    first_divergence: str | None = None
    not_run: str | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> "RuntimeParity":
        return cls(data.text("runtime", True), data.integer("differing_vectors"), data.number("max_lsb"),
                   data.text("first_divergence"), data.text("not_run"))

    def to_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "differing_vectors": self.differing_vectors, "max_lsb": self.max_lsb,
                "first_divergence": self.first_divergence, "not_run": self.not_run}


@dataclass(frozen=True)
class ModelParity:
    """The four-way parity of one model the C engine ran in a benchmark
    (:class:`firmware_export.cengine.exactness.FourWayParity`, as benchmark.json's ``parity`` holds it)."""

    model: str
    baseline: str
    inputs: str
    samples: int
    runtimes: tuple[RuntimeParity, ...]

    @classmethod
    def from_json(cls, data: JsonObject) -> "ModelParity":
        """One ``parity`` entry; a missing key or a wrong type is an EdgeMLError naming the file and key."""
        return cls(data.text("model", True), data.text("baseline", True), data.text("inputs", True),
                   data.integer("samples", True),
                   tuple(RuntimeParity.from_json(row) for row in data.objects("runtimes", True)))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "baseline": self.baseline, "inputs": self.inputs, "samples": self.samples,
                "runtimes": [row.to_json() for row in self.runtimes]}


def read_measurements(benchmark: JsonObject) -> tuple[Measurement, ...]:
    """Every row of a benchmark.json (``benchmark``), typed; EdgeMLError for a newer schema or a bad row."""
    version = benchmark.integer("schema_version") or 1
    if version > SCHEMA_VERSION:
        raise EdgeMLError(f"{benchmark.path} has schema version {version}; this edgeml reads up to "
                          f"{SCHEMA_VERSION}: upgrade edgeml")
    return tuple(Measurement.from_json(row) for row in benchmark.objects("rows", required=True))


def write_measurements(rows: Sequence[Measurement], predictions: bool = False) -> dict[str, Any]:
    """``schema_version`` and ``rows`` (each :meth:`Measurement.to_json`), the part of benchmark.json (and of
    a device's results.json, ``predictions`` included) that :func:`read_measurements` reads."""
    return {"schema_version": SCHEMA_VERSION, "rows": [row.to_json(predictions) for row in rows]}
