"""The pipeline's stage tables are the stages' own options: same names, types, defaults and checks."""

from __future__ import annotations

import typing
from dataclasses import fields

import click
import pytest

import edgeml.pipeline as pipeline
from edgeml.benchmark import BenchmarkConfig, BenchmarkOptions
from edgeml.errors import EdgeMLError
from edgeml.evaluate import EvaluateConfig, EvaluateOptions
from edgeml.quantize import IOType, Method, QuantizeConfig, QuantizeOptions
from firmware_export.export import ExportConfig, ExportOptions
from firmware_export.render import Lang

TABLES = [
    ("quantize", QuantizeOptions, QuantizeConfig, set()),
    ("evaluate", EvaluateOptions, EvaluateConfig, set()),
    ("export", ExportOptions, ExportConfig, {"engine"}),  # which engines: the pipeline's own choice
    ("benchmark", BenchmarkOptions, BenchmarkConfig, set()),
]


@pytest.mark.parametrize("table, options, stage, pipeline_only", TABLES, ids=[table[0] for table in TABLES])
def test_each_table_is_the_stages_own_options(table, options, stage, pipeline_only):
    """No copy: the table's type is (or extends) the options class the stage's config extends."""
    table_type = typing.get_type_hints(pipeline.PipelineConfig)[table]
    assert issubclass(table_type, options) and issubclass(stage, options)
    assert {field.name for field in fields(table_type)} - {field.name for field in fields(options)} == pipeline_only
    default = getattr(pipeline.PipelineConfig(), table)
    assert all(getattr(default, field.name) == field.default for field in fields(options))
    # the stage's per-run fields (target, out, force, ...) are not table options
    assert not {"target", "targets", "source", "out", "force", "verbose"} & {field.name for field in fields(options)}


def test_the_cli_defaults_and_choices_are_the_options_classes():
    from click.testing import CliRunner

    from edgeml.cli import cli

    def option(command: str, name: str):
        return next(param for param in cli.commands[command].params if param.name == name)

    context = click.Context(cli.commands["quantize"])
    for command, name, expected in (("quantize", "method", "qat"), ("quantize", "io", "int8"),
                                    ("quantize", "qat_epochs", QuantizeOptions.qat_epochs),
                                    ("quantize", "calibration_samples", QuantizeOptions.calibration_samples),
                                    ("evaluate", "batch_size", EvaluateOptions.batch_size),
                                    ("export", "lang", "cc"), ("export", "check_samples", ExportOptions.check_samples),
                                    ("export", "arena_margin_percent", ExportOptions.arena_margin_percent),
                                    ("export", "name", ExportOptions.name)):
        assert option(command, name).get_default(context) == expected, (command, name)
    assert list(option("quantize", "method").type.choices) == [method.value for method in Method] == ["qat", "ptq"]
    assert list(option("quantize", "io").type.choices) == [io.value for io in IOType]
    assert list(option("export", "lang").type.choices) == [lang.value for lang in Lang] == ["cc", "cpp", "c"]
    refused = CliRunner().invoke(cli, ["quantize", "runs/x", "--io", "int4"])
    assert refused.exit_code == 2 and "'int4' is not one of 'int8', 'uint8', 'float32'" in refused.output


def test_an_options_table_keeps_a_value_it_does_not_know_for_the_stage_to_refuse():
    assert QuantizeOptions(method="ptq").method is Method.PTQ and QuantizeOptions(io="xx").io == "xx"
    assert ExportOptions(lang="c").lang is Lang.C and ExportOptions(lang=["c"]).lang == ["c"]
    with pytest.raises(EdgeMLError, match="'xx' is not a valid IOType"):
        QuantizeConfig(target="runs/mlp", io="xx")


def test_tables_hold_the_stage_enums_and_the_stage_checks_them_when_it_runs():
    config = pipeline.load_config(None, ('quantize.method="ptq"', 'quantize.io="uint8"', 'export.lang="c"'))
    assert (config.quantize.method, config.quantize.io, config.export.lang) == (Method.PTQ, IOType.UINT8, Lang.C)
    assert type(config.quantize.method) is Method and type(config.export.lang) is Lang
    assert type(pipeline.PipelineConfig().quantize.io) is IOType
    # The TOML and the stage fingerprints keep the plain values, as before the tables held enums.
    assert 'method = "ptq"\nio = "uint8"' in config.to_toml() and 'lang = "c"' in config.to_toml()
    assert pipeline.json.dumps(pipeline.asdict(config.quantize), sort_keys=True).startswith(
        '{"calibration_samples": 500, "dynamic_range": false, "float16": false, "io": "uint8", "method": "ptq"')
    # A bad value loads (so the stages before it run, and a re-run resumes at the failed one) and the stage
    # refuses it with its own message.
    for override, stage, per_run, message in (
        ('quantize.method="xx"', QuantizeConfig, {"target": "runs/mlp"}, "'xx' is not a valid Method; methods: qat, ptq"),
        ("quantize.qat_epochs=0", QuantizeConfig, {"target": "runs/mlp"}, "--qat-epochs must be positive, got 0"),
        ('export.lang="go"', ExportConfig, {"source": "", "out": ""}, "--lang 'go': choose cc, cpp or c"),
    ):
        table = getattr(pipeline.load_config(None, (override,)), override.split(".")[0])
        values = {f.name: getattr(table, f.name) for f in fields(table) if f.name != "engine"}
        with pytest.raises(EdgeMLError) as caught:
            stage(**per_run, **values)
        assert str(caught.value).startswith(message)


@pytest.mark.parametrize("engine, kept, removed", [("tflm", "firmware/export.json", "firmware/c_engine/export.json"),
                                                   ("c", "firmware/c_engine/export.json", "firmware/export.json")])
def test_an_engine_left_out_of_export_loses_its_earlier_record(tmp_path, monkeypatch, capsys, engine, kept, removed):
    """A run exported for both engines, then for one: the other engine's export.json (what the report reads) goes,
    so the report shows only what this run exported; that export's other files stay."""
    import firmware_export.export as export

    exported = []

    class Exported:
        warnings = ()

        def summary(self) -> str:
            return "exported"

    def fake_export(config, chosen):
        exported.append((chosen.value, config.out))
        return Exported()

    monkeypatch.setattr(export, "export_for_engine", fake_export)
    for record in ("firmware/export.json", "firmware/c_engine/export.json", "firmware/c_engine/net_model.c"):
        (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / record).write_text("{}")
    pipeline._export(pipeline.ExportOptions(engine=engine), tmp_path, (engine,))
    assert exported == [(engine, str((tmp_path / kept).parent))]
    assert (tmp_path / kept).is_file() and not (tmp_path / removed).exists()
    assert (tmp_path / "firmware/c_engine/net_model.c").is_file()
    assert f"note: removed {removed} of an earlier export" in capsys.readouterr().out
