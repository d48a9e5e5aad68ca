"""What an export wrote and measured: ``export.json`` in its ``--out`` folder, written and read back typed.

Every ``edgeml export`` writes one record beside its files (in the same all-or-nothing set): TFLite Micro's
(:class:`TflmExportRecord`: model array, measured arena, TFLM vs LiteRT parity, flash of the model object on a
Cortex-M4), the C engine's int8 build (:class:`CEngineExportRecord`: static RAM, flash, four-way parity) or its
float32 build (:class:`CFloatExportRecord`: RAM beside the int8 build, flash, agreement with LiteRT BUILTIN_REF
float). :func:`record_from_json` reads any of them back by its ``engine`` and ``dtype``. The pipeline's export
stage is these same exports into ``firmware/`` and ``firmware/c_engine/``, so a run exported by hand holds the
same records.

Schema version 1 (``schema_version``). A pipeline's ``firmware/export.json`` from before it (no
``schema_version``: the TFLite Micro facts at the top level, the C engine's under ``c_engine``) is read by
:func:`read_previous_layout`. A missing key or a value of the wrong type is one EdgeMLError naming the file and
the key (:class:`edgeml.artifact_json.JsonObject`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from edgeml.artifact_json import JsonObject, read_json_object
from edgeml.errors import EdgeMLError
from edgeml.measurement import ModelParity
from firmware_export.model_flash import FlashMeasurement

if TYPE_CHECKING:
    from firmware_export.cengine.build import StaticMemory
    from firmware_export.cengine.float_exactness import FloatAgreement

SCHEMA_VERSION = 1
TFLM, C_ENGINE = "tflm", "c"  # the ``engine`` of a record; the C engine's also has a ``dtype``
FLOAT_FLASH_HOW = "text + data, Cortex-M4 with FPU, arm-none-eabi-gcc -Os, --gc-sections, newlib libm"


@dataclass(frozen=True)
class TflmExportRecord:
    """``edgeml export --engine tflm``: the files for TensorFlow Lite Micro and what was measured. ``model`` is
    the exported file's name (None in a record from before schema version 1); ``arena`` and ``parity`` are the
    export's own sentences (:meth:`ArenaMeasurement.describe`, :meth:`ParityReport.describe`; parity None: not
    checked); ``flash`` the model object's text + data on a Cortex-M4, or why not measured."""

    model: str | None
    symbol: str
    files: tuple[str, ...]
    model_bytes: int
    model_sha256: str
    ops: tuple[str, ...]
    arena_bytes: int
    arena_minimum_bytes: int | None
    arena_margin_bytes: int | None
    arena: str | None
    parity: str | None
    flash: FlashMeasurement
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "engine": TFLM, "model": self.model, "files": list(self.files),
                "symbol": self.symbol, "model_bytes": self.model_bytes, "model_sha256": self.model_sha256,
                "ops": list(self.ops), "arena_bytes": self.arena_bytes, "arena_minimum_bytes": self.arena_minimum_bytes,
                "arena_margin_bytes": self.arena_margin_bytes, "arena": self.arena, "parity": self.parity,
                "flash_bytes": self.flash.flash_bytes, "flash_not_measured": self.flash.not_measured,
                "arm_size_output": self.flash.size_output, "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data: JsonObject) -> "TflmExportRecord":
        return cls(
            model=data.text("model"), symbol=data.text("symbol", True), files=tuple(data.strings("files", True)),
            model_bytes=data.integer("model_bytes", True), model_sha256=data.text("model_sha256", True),
            ops=tuple(data.strings("ops", True)), arena_bytes=data.integer("arena_bytes", True),
            arena_minimum_bytes=data.integer("arena_minimum_bytes"), arena_margin_bytes=data.integer("arena_margin_bytes"),
            arena=data.text("arena"), parity=data.text("parity"),
            flash=FlashMeasurement(data.integer("flash_bytes"), data.text("arm_size_output"),
                                   data.text("flash_not_measured")),
            warnings=tuple(data.strings("warnings")))


@dataclass(frozen=True)
class _CEngineBuild:
    """What the C engine's int8 and float32 records share: the exported model's file name (None before schema
    version 1), the symbol, the files, the ops in execution order, the memory plan's liveness floor and the
    static memory (RAM = arena + input + output; flash of the Cortex-M4 build, or why not measured)."""

    model: str | None
    symbol: str
    files: tuple[str, ...]
    ops: tuple[str, ...]
    liveness_floor_bytes: int
    memory: "StaticMemory"

    def _build_json(self, dtype: str) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "engine": C_ENGINE, "dtype": dtype, "model": self.model,
                "files": list(self.files), "symbol": self.symbol, "ops": list(self.ops),
                "liveness_floor_bytes": self.liveness_floor_bytes, **self.memory.to_json(),
                "static_ram_bytes": self.memory.ram_bytes}

    @staticmethod
    def _build_fields(data: JsonObject) -> dict[str, Any]:
        from firmware_export.cengine.build import StaticMemory

        memory = StaticMemory(data.integer("arena_bytes", True), data.integer("input_bytes", True),
                              data.integer("output_bytes", True), data.integer("flash_bytes"),
                              data.text("flash_not_measured"))
        return {"model": data.text("model"), "symbol": data.text("symbol", True),
                "files": tuple(data.strings("files", True)), "ops": tuple(data.strings("ops", True)),
                "liveness_floor_bytes": data.integer("liveness_floor_bytes", True), "memory": memory}


@dataclass(frozen=True)
class CEngineExportRecord(_CEngineBuild):
    """``edgeml export --engine c`` of an int8 model: the C engine's build (flash of engine and model linked for
    a Cortex-M4 at -Os) and the four-way parity against the tflite-micro interpreter (None: ``--check-samples
    0``)."""

    parity: ModelParity | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**self._build_json("int8"), "parity": self.parity.to_json() if self.parity else None,
                "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data: JsonObject) -> "CEngineExportRecord":
        build = cls._build_fields(data)
        parity = data.object("parity")
        if parity and "model" not in parity:  # before schema version 1 the parity's model was the record's
            parity = JsonObject({"model": build["model"] or "the exported model", **parity.data}, parity.path,
                                parity.where)
        return cls(**build, parity=ModelParity.from_json(parity) if parity else None,
                   warnings=tuple(data.strings("warnings")))


@dataclass(frozen=True)
class FloatRamComparison:
    """Static RAM (arena + input + output, bytes) of the float32 build next to the int8 build of the same
    run's ``model_int8.tflite`` (compiled, not written, to plan its arena), or why there is none."""

    float_ram_bytes: int
    int8_ram_bytes: int | None = None
    int8_model: str | None = None
    not_compared: str | None = None

    @property
    def extra_bytes(self) -> int | None:
        return None if self.int8_ram_bytes is None else self.float_ram_bytes - self.int8_ram_bytes

    @property
    def ratio(self) -> float | None:
        return None if not self.int8_ram_bytes else self.float_ram_bytes / self.int8_ram_bytes

    def describe(self) -> str:
        if self.int8_ram_bytes is None:
            return (f"float32 needs {self.float_ram_bytes:,} bytes of static RAM; not compared with int8: "
                    f"{self.not_compared}")
        return (f"float32 needs {self.float_ram_bytes:,} bytes of static RAM, {self.extra_bytes:,} more than the int8 "
                f"build's {self.int8_ram_bytes:,} ({self.ratio:.2f}x; {self.int8_model})")

    def to_json(self) -> dict:
        return {"float_ram_bytes": self.float_ram_bytes, "int8_ram_bytes": self.int8_ram_bytes,
                "extra_bytes": self.extra_bytes, "ratio": round(self.ratio, 3) if self.ratio else None,
                "int8_model": self.int8_model, "not_compared": self.not_compared,
                "ram": "arena + input buffer + output buffer of each build"}

    @classmethod
    def from_json(cls, data: JsonObject) -> "FloatRamComparison":
        return cls(data.integer("float_ram_bytes", True), data.integer("int8_ram_bytes"), data.text("int8_model"),
                   data.text("not_compared"))


@dataclass(frozen=True)
class CFloatExportRecord(_CEngineBuild):
    """``edgeml export MODEL_FLOAT32.tflite --engine c``: the float32 build (flash of the Cortex-M4 build with FPU,
    :data:`FLOAT_FLASH_HOW`), its static RAM beside the int8 build's (``ram``), and its outputs against LiteRT
    BUILTIN_REF float (``parity``), or why they were not compared (``parity_not_run``)."""

    ram: FloatRamComparison | None = None
    parity: "FloatAgreement | None" = None
    parity_not_run: str | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**self._build_json("float32"), "flash": FLOAT_FLASH_HOW,
                "ram_vs_int8": self.ram.to_json() if self.ram else None,
                "parity": self.parity.to_json() if self.parity else {"not_run": self.parity_not_run},
                "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data: JsonObject) -> "CFloatExportRecord":
        from firmware_export.cengine.float_exactness import FloatAgreement

        parity = data.object("parity", True)
        agreement = None if "not_run" in parity else FloatAgreement(
            samples=parity.integer("samples", True), max_abs_difference=parity.number("max_abs_difference", True),
            clear_samples=parity.integer("clear_samples", True),
            top_class_differences=parity.integer("top_class_differences", True),
            first_divergence=parity.text("first_divergence"), inputs=parity.text("inputs", True))
        return cls(**cls._build_fields(data), ram=FloatRamComparison.from_json(data.object("ram_vs_int8", True)),
                   parity=agreement, parity_not_run=parity.text("not_run"), warnings=tuple(data.strings("warnings")))


ExportRecord = Union[TflmExportRecord, CEngineExportRecord, CFloatExportRecord]


def record_from_json(data: JsonObject) -> ExportRecord:
    """The record an ``export.json`` holds, by its ``engine`` (and the C engine's ``dtype``). EdgeMLError for a
    file from a newer edgeml, an unknown engine, or a missing or mistyped key (naming the file and key)."""
    version = data.integer("schema_version", True)
    if version > SCHEMA_VERSION:
        raise EdgeMLError(f"{data.path} has schema version {version}; this edgeml reads up to {SCHEMA_VERSION}: "
                          "upgrade edgeml")
    engine, dtype = data.text("engine", True), data.text("dtype")
    if engine == TFLM:
        return TflmExportRecord.from_json(data)
    if engine == C_ENGINE and dtype in (None, "int8"):
        return CEngineExportRecord.from_json(data)
    if engine == C_ENGINE and dtype == "float32":
        return CFloatExportRecord.from_json(data)
    raise EdgeMLError(f"{data.path} does not have the contents edgeml expects (engine {engine!r}, dtype {dtype!r}: "
                      f"expected engine {TFLM!r}, or {C_ENGINE!r} with dtype 'int8' or 'float32')")


def read_export_record(path: Path) -> ExportRecord | None:
    """The record in ``path`` (an export's ``export.json``), None when there is no such file."""
    data = read_json_object(Path(path))
    return None if data is None else record_from_json(data)


def read_previous_layout(data: JsonObject) -> tuple[TflmExportRecord | None, CEngineExportRecord | None]:
    """A pipeline's ``firmware/export.json`` from before schema version 1: the TFLite Micro export's facts at
    the top level (absent when its ``engines`` left TFLM out), the C engine's under ``c_engine`` (null: none)."""
    engines = data.strings("engines") or [TFLM]
    c_engine = data.object("c_engine")
    return (TflmExportRecord.from_json(data) if TFLM in engines else None,
            CEngineExportRecord.from_json(c_engine) if c_engine else None)
