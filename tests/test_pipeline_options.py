"""The pipeline's stage tables are the stages' own options: same names, types, defaults and checks."""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields

import pytest

import edgeml.pipeline as pipeline
from edgeml.errors import EdgeMLError
from edgeml.evaluate import EvaluateConfig
from edgeml.quantize import IOType, Method, QuantizeConfig
from firmware_export.export import ExportConfig
from firmware_export.render import Lang

TABLES = [
    (pipeline.QuantizeOptions, QuantizeConfig, set()),
    (pipeline.ExportOptions, ExportConfig, {"engine"}),  # which engines: the pipeline's own choice
    (pipeline.EvaluateOptions, EvaluateConfig, set()),
]


@pytest.mark.parametrize("table, stage, pipeline_only", TABLES, ids=lambda value: getattr(value, "__name__", ""))
def test_each_table_option_is_the_stage_option(table, stage, pipeline_only):
    stage_fields = {field.name: field for field in fields(stage)}
    table_types = typing.get_type_hints(table)
    stage_types = typing.get_type_hints(stage)
    for field in fields(table):
        if field.name in pipeline_only:
            continue
        assert field.name in stage_fields, f"{table.__name__}.{field.name} is no option of {stage.__name__}"
        assert table_types[field.name] == stage_types[field.name], field.name
        assert stage_fields[field.name].default is not MISSING
        assert field.default == stage_fields[field.name].default, field.name


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
