"""Every export writes export.json (issue 10 item 4), one typed record per kind, read back by ``from_json``
(item 3): TFLite Micro's, the C engine's int8 build and its float32 build. The expectations are the model file
itself (bytes, sha256), the graph reader's ops and tensor sizes, and the files the export left in its folder."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeml.artifact_json import JsonObject
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.graph import read_graph
from firmware_export.cengine.build import INSTALL_COMPILER, find_compiler
from firmware_export.export import Engine, ExportConfig, export_for_engine
from firmware_export.export_record import (SCHEMA_VERSION, CEngineExportRecord, CFloatExportRecord, TflmExportRecord,
                                           read_export_record, read_previous_layout, record_from_json)

CHECK_SAMPLES = 8
DIGITS_INPUT_BYTES, DIGITS_CLASSES = 8 * 8, 10  # one int8 per pixel of an 8x8 digit; one output per class


@pytest.fixture(scope="module")
def run(quantized_builtin, tmp_path_factory) -> Path:
    return shutil.copytree(quantized_builtin("mlp", "ptq"), tmp_path_factory.mktemp("record") / "run")


@pytest.fixture(scope="module")
def exports(run, tmp_path_factory):
    """The three kinds of export of one run: TFLite Micro, the C engine (int8), the C engine (float32)."""
    out = tmp_path_factory.mktemp("exports")
    return {
        "tflm": export_for_engine(ExportConfig(source=str(run), out=str(out / "tflm"), check_samples=CHECK_SAMPLES)),
        "c": export_for_engine(ExportConfig(source=str(run), out=str(out / "c"), check_samples=CHECK_SAMPLES),
                               Engine.C),
        "c_float": export_for_engine(ExportConfig(source=str(run / "model_float32.tflite"), out=str(out / "c_float"),
                                                  check_samples=CHECK_SAMPLES), Engine.C),
    }


def _json(record) -> JsonObject:
    return JsonObject(json.loads(json.dumps(record.to_json())), Path("export.json"))


@pytest.mark.parametrize("kind, record_type", [("tflm", TflmExportRecord), ("c", CEngineExportRecord),
                                               ("c_float", CFloatExportRecord)])
def test_each_export_writes_its_record_and_it_reads_back_equal(exports, kind, record_type):
    result = exports[kind]
    folder = Path(result.files[0]).parent
    assert result.files[-1] == folder / "export.json"
    written = read_export_record(folder / "export.json")
    assert type(written) is record_type and written == result.record
    assert record_type.from_json(_json(written)) == record_from_json(_json(written)) == written
    # The record lists every other file of its folder, and only those.
    assert sorted(written.files) == sorted(path.name for path in folder.iterdir() if path.name != "export.json")
    assert json.loads((folder / "export.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_the_tflm_record_holds_the_models_bytes_arena_and_flash(run, exports):
    record = exports["tflm"].record
    model = (run / "model_int8.tflite").read_bytes()
    assert (record.model, record.model_bytes, record.model_sha256) == (
        "model_int8.tflite", len(model), hashlib.sha256(model).hexdigest())
    assert record.ops == tuple(sorted({op.name for op in read_graph(run / "model_int8.tflite").ops}))
    header = (Path(exports["tflm"].out_dir) / "model_config.h").read_text()
    assert re.search(rf"#define MODEL_TENSOR_ARENA_SIZE {record.arena_bytes}\b", header)
    assert record.arena_bytes == record.arena_minimum_bytes + record.arena_margin_bytes
    assert record.parity.startswith(f"TFLite Micro vs LiteRT on {CHECK_SAMPLES} inputs")
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        # text + data of the object: the aligned array and its length constant, nothing else; named as compiled.
        assert 0 <= record.flash.flash_bytes - record.model_bytes < 32 and record.flash.not_measured is None
        assert record.flash.size_output.splitlines()[1].split()[-1] == "model_data.o"
    else:
        assert record.flash.flash_bytes is None and record.flash.not_measured.startswith("no arm-none-eabi toolchain")


def test_the_c_engine_records_hold_its_memory_ops_and_parity(run, exports):
    int8, float32 = exports["c"].record, exports["c_float"].record
    assert int8.ops == tuple(op.name for op in read_graph(run / "model_int8.tflite").ops)
    assert (int8.memory.input_bytes, int8.memory.output_bytes) == (DIGITS_INPUT_BYTES, DIGITS_CLASSES)
    assert int8.memory.ram_bytes == int8.memory.arena_bytes + DIGITS_INPUT_BYTES + DIGITS_CLASSES
    header = (Path(exports["c"].engine.out_dir) / "model_model.h").read_text()
    assert re.search(rf"#define MODEL_ARENA_BYTES {int8.memory.arena_bytes}\b", header)
    assert int8.parity.model == "model_int8.tflite" and int8.parity.samples == CHECK_SAMPLES
    assert int8.parity.runtimes[0].differing_vectors == 0  # the engine matches the tflite-micro interpreter
    # float32: four bytes a value, RAM beside the int8 build of the model_int8.tflite in the same folder.
    assert (float32.memory.input_bytes, float32.memory.output_bytes) == (4 * DIGITS_INPUT_BYTES, 4 * DIGITS_CLASSES)
    assert float32.ram.float_ram_bytes == float32.memory.ram_bytes
    assert float32.ram.int8_ram_bytes == int8.memory.ram_bytes
    if find_compiler():  # the float build is compared with LiteRT BUILTIN_REF float only when it can be built here
        assert float32.parity.samples == CHECK_SAMPLES and float32.parity.within_bound
    else:
        assert float32.parity is None and float32.parity_not_run == INSTALL_COMPILER


def test_an_export_refuses_to_overwrite_its_record_without_force(run, exports, tmp_path):
    for kind, source, engine in (("c", run, Engine.C), ("c_float", run / "model_float32.tflite", Engine.C)):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "export.json").write_text("{}")
        with pytest.raises(EdgeMLError, match=f"{re.escape(str(folder))} already holds export.json; use --force"):
            export_for_engine(ExportConfig(source=str(source), out=str(folder), check_samples=0), engine)
        assert sorted(path.name for path in folder.iterdir()) == ["export.json"]  # nothing else written
    forced = export_for_engine(ExportConfig(source=str(run), out=str(tmp_path / "c"), check_samples=0, force=True),
                               Engine.C)
    assert read_export_record(tmp_path / "c" / "export.json") == forced.record and forced.record.parity is None


@pytest.mark.parametrize("kind, damage, message", [
    ("tflm", lambda data: data.pop("arena_bytes"), "(missing key arena_bytes)"),
    ("tflm", lambda data: data.update(ops="SOFTMAX"), "(ops: expected a list, found the text 'SOFTMAX')"),
    ("c", lambda data: data["parity"]["runtimes"][1].update(differing_vectors="none"),
     "(parity.runtimes[1].differing_vectors: expected a number, found the text 'none')"),
    ("c_float", lambda data: data["ram_vs_int8"].pop("float_ram_bytes"), "(missing key ram_vs_int8.float_ram_bytes)"),
    ("c", lambda data: data.update(engine="cmsis"), "(engine 'cmsis', dtype 'int8': expected engine 'tflm'"),
    ("tflm", lambda data: data.update(schema_version=SCHEMA_VERSION + 1),
     f"has schema version {SCHEMA_VERSION + 1}; this edgeml reads up to {SCHEMA_VERSION}: upgrade edgeml"),
])
def test_a_damaged_record_is_one_error_naming_the_file_and_the_key(exports, tmp_path, kind, damage, message):
    data = exports[kind].record.to_json()
    damage(data)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EdgeMLError) as failure:
        read_export_record(path)
    assert str(failure.value).startswith(str(path)) and message in str(failure.value)


def test_a_damaged_record_in_a_run_is_one_error_line_from_the_report_command(run, exports, tmp_path):
    copy = shutil.copytree(run, tmp_path / "run")
    data = exports["tflm"].record.to_json()
    del data["model_sha256"]
    (copy / "firmware").mkdir()
    (copy / "firmware" / "export.json").write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["report", str(copy)])
    assert result.exit_code == 1 and not (copy / "report.html").exists()
    assert result.output.strip().splitlines() == [
        f"error: {copy / 'firmware' / 'export.json'} does not have the contents edgeml expects "
        "(missing key model_sha256)"]


TFLM_HELD = "a TFLite Micro export record (engine 'tflm')"
C_INT8_HELD = "a C engine int8 export record (engine 'c')"
C_FLOAT_HELD = "a C engine float32 export record (engine 'c', dtype 'float32')"
TFLM_BELONGS = "the TFLite Micro export's record (edgeml export RUN --out RUN/firmware)"
C_BELONGS = "the C engine export's record (edgeml export RUN --engine c --out RUN/firmware/c_engine)"


@pytest.mark.parametrize("folder, kind, message", [
    ("firmware", "c", f"holds {C_INT8_HELD}; that folder's export.json is {TFLM_BELONGS}"),
    ("firmware", "c_float", f"holds {C_FLOAT_HELD}; that folder's export.json is {TFLM_BELONGS}"),
    ("firmware/c_engine", "tflm", f"holds {TFLM_HELD}; that folder's export.json is {C_BELONGS}"),
    ("firmware", None, "is not an export record: it has no schema_version, no engines key (the layout before "
                       "records), and as the first layout's TFLite Micro facts it does not have the contents edgeml "
                       "expects (missing key symbol)"),
    ("firmware/c_engine", None, "does not have the contents edgeml expects (missing key schema_version)"),
])
def test_a_record_in_the_wrong_export_folder_is_one_error(exports, tmp_path, folder, kind, message):
    """The report reads firmware/export.json as TFLite Micro's record and firmware/c_engine/export.json as the C
    engine's: another kind, or a file that is no record, is an error naming it, not a record shown as another."""
    from edgeml.report import Exports

    path = tmp_path / folder / "export.json"
    path.parent.mkdir(parents=True)
    no_record = {key: value for key, value in exports["c"].record.to_json().items()  # a C record, version cut
                 if key not in ("schema_version", "symbol")}
    path.write_text(json.dumps(exports[kind].record.to_json() if kind else no_record))
    with pytest.raises(EdgeMLError) as failure:
        Exports.read(tmp_path)
    assert str(failure.value) == f"{path} {message}"


def test_each_record_in_its_own_folder_is_read(exports, tmp_path):
    from edgeml.report import Exports

    for folder, kind in (("firmware", "tflm"), ("firmware/c_engine", "c_float")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "export.json").write_text(json.dumps(exports[kind].record.to_json()))
    assert Exports.read(tmp_path) == Exports(exports["tflm"].record, exports["c_float"].record)


def test_the_pipelines_export_json_before_records_is_read(exports):
    """Before schema version 1 the pipeline wrote one firmware/export.json: TFLM's facts at the top level (no
    schema_version, engine or model), the C engine's under c_engine (with "dir", its parity without "model")."""
    tflm, c_engine = exports["tflm"].record, exports["c"].record
    old_c = {key: value for key, value in c_engine.to_json().items() if key not in ("schema_version", "engine", "dtype",
                                                                                    "model")}
    old_c["parity"] = {key: value for key, value in old_c["parity"].items() if key != "model"}
    old = {key: value for key, value in tflm.to_json().items() if key not in ("schema_version", "engine", "model")}
    old.update(engines=["tflm", "c"], c_engine={"dir": "c_engine", **old_c})
    read_tflm, read_c = read_previous_layout(JsonObject(old, Path("export.json")))
    assert read_tflm == TflmExportRecord(**{**tflm.__dict__, "model": None})
    assert read_c.parity.model == "the exported model" and read_c.parity.runtimes == c_engine.parity.runtimes
    assert (read_c.memory, read_c.ops, read_c.files) == (c_engine.memory, c_engine.ops, c_engine.files)
    c_only = {"engines": ["c"], "c_engine": old["c_engine"]}
    assert read_previous_layout(JsonObject(c_only, Path("export.json")))[0] is None

