"""RunLayout names the files the stages write; the literal names here are the independent expectation."""

from pathlib import Path

import pytest

from edgeml.rundir import INT8_PREFIX, RunLayout, evaluation_files, evaluation_prefix


def test_run_layout_paths_are_the_files_the_stages_write(tmp_path):
    files = RunLayout(str(tmp_path))
    assert files.root == tmp_path
    assert files.config == tmp_path / "config.json"
    assert files.model == tmp_path / "model.keras"
    assert files.float_tflite == tmp_path / "model_float32.tflite"
    assert files.int8_tflite == tmp_path / "model_int8.tflite"
    assert files.quantization == tmp_path / "quantization.json"
    assert files.firmware == tmp_path / "firmware"
    assert files.export == tmp_path / "firmware" / "export.json"
    assert files.c_engine == tmp_path / "firmware" / "c_engine"
    assert files.c_engine_export == tmp_path / "firmware" / "c_engine" / "export.json"
    assert files.benchmark_dir == tmp_path / "benchmark"
    assert files.benchmark == tmp_path / "benchmark" / "benchmark.json"
    assert files.pipeline == tmp_path / "pipeline.json"
    assert (files.html_report, files.markdown_report) == (tmp_path / "report.html", tmp_path / "report.md")


def test_pipeline_stages_declare_the_layouts_names(tmp_path):
    from edgeml.pipeline import ExportOptions, PipelineConfig, _stages

    stages = {stage.name: stage for stage in _stages(PipelineConfig(), Path(tmp_path), verbose=False)}
    assert stages["evaluate_int8"].writes == ("int8_metrics.json", "int8_confusion_matrix.png", "int8_roc.png")
    # Each export writes its own record in its folder, as `edgeml export RUN --out RUN/firmware[/c_engine]` does.
    both = PipelineConfig(export=ExportOptions(engine="both"))
    assert {stage.name: stage for stage in _stages(both, Path(tmp_path), verbose=False)}["export"].writes == (
        "firmware/export.json", "firmware/c_engine/export.json")
    c_only = PipelineConfig(export=ExportOptions(engine="c"))
    c_stages = {stage.name: stage for stage in _stages(c_only, Path(tmp_path), verbose=False)}
    assert c_stages["export"].writes == ("firmware/c_engine/export.json",)
    assert "firmware/c_engine/export.json" in c_stages["report"].reads
    assert stages["report"].writes == ("report.html", "report.md")
    assert stages["benchmark"].writes == ("benchmark/benchmark.json", "benchmark/benchmark.md", "benchmark/latency.png")


def test_evaluation_files_are_named_for_the_models_variant():
    assert [evaluation_prefix(name) for name in ("model_int8.tflite", "runs/x/model_float32.tflite",
                                                 "model.keras", "other.tflite")] == ["int8_", "float32_", "", "other_"]
    assert INT8_PREFIX == "int8_"
    assert evaluation_files() == ("metrics.json", "confusion_matrix.png", "roc.png")
    assert evaluation_files("int8_") == ("int8_metrics.json", "int8_confusion_matrix.png", "int8_roc.png")


def test_stage_outcomes_read_back_from_pipeline_json(tmp_path):
    """pipeline.json's last run is read as StageOutcome (the pipeline writes them, the report reads them); the
    earlier layout (a list under "stages") too; an outcome without its name is one error naming the key."""
    import json
    from dataclasses import asdict

    from edgeml.artifact_json import read_json_object
    from edgeml.errors import EdgeMLError
    from edgeml.rundir import StageOutcome

    outcomes = (StageOutcome("train", "done", 12.5), StageOutcome("export", "failed", 0.25, "error: no C compiler"))
    path = tmp_path / "pipeline.json"
    for data, expected in (
        ({"stages": {"train": {"options": "ab12"}}, "last_run": [asdict(outcome) for outcome in outcomes]}, outcomes),
        ({"stages": [asdict(outcome) for outcome in outcomes]}, outcomes),
        ({"stages": {"train": {"options": "ab12"}}}, ()),
    ):
        path.write_text(json.dumps(data))
        assert StageOutcome.last_run(read_json_object(path)) == expected
    path.write_text(json.dumps({"last_run": [{"status": "done", "seconds": 1.0}]}))
    with pytest.raises(EdgeMLError, match=r"pipeline.json .*missing key last_run\[0\]\.name"):
        StageOutcome.last_run(read_json_object(path))
