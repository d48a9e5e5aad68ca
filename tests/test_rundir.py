"""RunLayout names the files the stages write; the literal names here are the independent expectation."""

from pathlib import Path

from edgeml.rundir import RunLayout


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
    assert files.benchmark == tmp_path / "benchmark" / "benchmark.json"
    assert files.pipeline == tmp_path / "pipeline.json"
    assert (files.html_report, files.markdown_report) == (tmp_path / "report.html", tmp_path / "report.md")


def test_pipeline_stages_declare_the_layouts_names(tmp_path):
    from edgeml.pipeline import PipelineConfig, _stages

    stages = {stage.name: stage for stage in _stages(PipelineConfig(), Path(tmp_path), verbose=False)}
    assert stages["evaluate_int8"].writes == ("int8_metrics.json", "int8_confusion_matrix.png", "int8_roc.png")
    assert stages["export"].writes == ("firmware/export.json",)
    assert stages["report"].writes == ("report.html", "report.md")
    assert stages["benchmark"].writes == ("benchmark/benchmark.json", "benchmark/benchmark.md", "benchmark/latency.png")
