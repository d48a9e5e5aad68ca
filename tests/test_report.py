"""The run report, from a synthetic run directory: small well-formed JSON files and tiny matplotlib PNGs
(no TensorFlow). The last test opens report.html in headless Chromium and checks every image decoded."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from browser import render_in_chromium
from click.testing import CliRunner
from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.report import (
    NOTHING, BarChart, Bullets, Note, ReportFiles, Text, build_report, chart_png, draw_bar_chart, render_html, render_markdown, write_report,
)

HOSTILE_CLASS = "<script>alert('x')</script>"
CLASS_NAMES = ["cat", "dog|wolf", HOSTILE_CLASS]
SECTION_KEYS = ["stages", "dataset", "model", "training", "evaluation", "quantization", "benchmark", "microcontroller",
                "firmware"]
SECTION_TITLES = ["Stages", "Dataset", "Model", "Training", "Evaluation", "Quantization", "Benchmark",
                  "Microcontroller (emulated)", "Firmware"]
PNG_FILES = ["history.png", "confusion_matrix.png", "roc.png", "int8_confusion_matrix.png", "int8_roc.png",
             "benchmark/latency.png"]
JSON_FILES = ["config.json", "history.json", "metrics.json", "int8_metrics.json", "quantization.json",
              "benchmark/benchmark.json", "firmware/export.json", "pipeline.json"]
MODEL_CONFIG_H = "#include <stdint.h>\n#define MODEL_TENSOR_ARENA_SIZE 6208 /* measured + margin */\n"
STAGE_OUTCOMES = [
    {"name": "train", "status": "done", "seconds": 3.2, "error": None},
    {"name": "evaluate", "status": "skipped (current)", "seconds": 0.0, "error": None},
    {"name": "quantize", "status": "done", "seconds": 2.5, "error": None},
    {"name": "evaluate_int8", "status": "done", "seconds": 0.7, "error": None},
    {"name": "export", "status": "done", "seconds": 1.1, "error": None},
    {"name": "benchmark", "status": "done", "seconds": 9.0, "error": None},
]
SUMMARY = """Model: "edgeml_mlp"
 dense0 (Dense)                            (None, 16)                            1040
Total params: 12345 (48.22 KB)

fit diagnosis: good fit: train accuracy 0.950, validation 0.930 (gap 0.020)
"""


@pytest.fixture(scope="module")
def pngs() -> dict[str, bytes]:
    """Six small, different PNGs, drawn once."""
    from matplotlib.figure import Figure

    images = {}
    for index, name in enumerate(PNG_FILES):
        figure = Figure(figsize=(2.4, 1.6), dpi=60)
        axis = figure.add_subplot()
        axis.plot(range(5), [value * (index + 1) for value in range(5)])
        axis.set_title(name, fontsize=7)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        images[name] = buffer.getvalue()
    return images


def _metrics(accuracy: float, f1_drop: float) -> dict:
    per_class = [
        {"name": name, "precision": 0.9 - k * 0.1, "recall": 0.8 - k * 0.1, "f1": 0.85 - k * 0.1 - f1_drop,
         "support": 40 + k, "tp": 32 - k, "fp": 3, "fn": 8 + k, "tn": 80, "auc": 0.97 - k * 0.01}
        for k, name in enumerate(CLASS_NAMES)
    ]
    return {"accuracy": accuracy, "loss": 0.41, "auc_micro": 0.95, "auc_macro": 0.94, "num_samples": 123,
            "class_names": CLASS_NAMES, "per_class": per_class,
            "confusion_matrix": [[32, 4, 4], [2, 31, 8], [1, 7, 34]]}


def _artifacts() -> dict[str, object]:
    return {
        "config.json": {
            "train": {"dataset": "npz:demo.npz", "model": {"arch": "mlp", "hidden": [16], "activation": "relu",
                      "dropout": 0.0, "batchnorm": False, "filters": [16, 32], "kernel_size": 3},
                      "model_path": None, "epochs": 5, "batch_size": 128, "lr": 0.001, "optimizer": "adam"},
            "dataset": {"name": "demo", "source": "npz file demo.npz", "input_shape": [8, 8, 1],
                        "class_names": CLASS_NAMES, "normalization": {"mean": 0.0, "std": 255.0},
                        "train_samples": 12000, "test_samples": 123},
            "model_file": "model.keras",
            "result": {"test_accuracy": 0.912345678, "test_loss": 0.41, "best_epoch": 4, "epochs_run": 5,
                       "wall_time_s": 3.21, "interrupted": False,
                       "diagnosis": "good fit: train accuracy 0.950, validation 0.930 (gap 0.020)"},
        },
        "history.json": {"history": {"loss": [0.9, 0.5], "accuracy": [0.7, 0.95], "val_loss": [0.8, 0.6],
                                     "val_accuracy": [0.72, 0.93]},
                         "best_epoch": 2, "diagnosis": "good fit: fine"},
        "metrics.json": _metrics(0.912345678, 0.0),
        "int8_metrics.json": _metrics(0.9, 0.02),
        "quantization.json": {
            "method": "ptq", "io": "int8", "keras_float_accuracy": 0.912345678, "test_samples": 123,
            "parameter_count": 12345,
            "variants": [
                {"name": "float32", "file": "model_float32.tflite", "size_bytes": 51234, "accuracy": 0.912345678,
                 "agreement_with_float": 1.0, "mean_abs_diff": 1e-8, "max_abs_diff": 7e-8, "fully_int8": False},
                {"name": "int8", "file": "model_int8.tflite", "size_bytes": 16789, "accuracy": 0.9,
                 "agreement_with_float": 0.9248, "mean_abs_diff": 0.00107, "max_abs_diff": 0.0524,
                 "fully_int8": True},
            ],
            "int8_to_float32_size": 0.3277, "parameter_floor_bytes": {"int8": 12345, "float32": 49380},
            "runtime": "litert", "calibration_samples": 500, "qat_epochs": 0, "wall_time_s": 2.5,
        },
        "benchmark/benchmark.json": {
            "host": {"cpu": "Test CPU @ 2GHz", "cores": "2", "os": "Linux", "python": "3.11.7", "machine": "x86_64"},
            "rows": [
                {"source": "host", "model": model, "runtime": runtime, "runtime_version": "1.2.3",
                 "threads": None if runtime == "tflm" else 1, "accuracy": 0.9, "agreement_with_float": 0.99,
                 "latency_us": {"mean": 12.5, "p50": p50, "p90": p50 * 1.2, "p99": p50 * 2},
                 "init_ms": 1.5, "first_invoke_ms": 0.25, "throughput_per_s": 54321.0, "file_bytes": size,
                 "peak_rss_bytes": 104857600, "arena_bytes": 6208 if runtime == "tflm" else None}
                for model, size, p50 in (("model_float32.tflite", 51234, 10.0), ("model_int8.tflite", 16789, 8.0))
                for runtime in ("litert", "tflm")
            ],
            "latency_ratios": [{"model": "model_int8.tflite", "runtime": "litert", "source": "host",
                                "int8_over_float32_p50": 0.8}],
            "skipped": ["tflite-runtime: not installed"],
        },
        "firmware/export.json": {
            "files": ["model_data.h", "model_data.cc", "model_config.h"], "symbol": "model",
            "model_bytes": 16789, "model_sha256": "ab" * 32, "ops": ["FULLY_CONNECTED", "SOFTMAX"],
            "arena_bytes": 6208, "arena_minimum_bytes": 5120, "arena_margin_bytes": 1088,
            "parity": "TFLM equals LiteRT on 123 of 123 samples", "flash_bytes": None,
            "flash_not_measured": "compile failed: model_data.cc:3:1: error: unknown type name int8", "arm_size_output": None,
            "warnings": ["a <warning> & more"],
        },
        "pipeline.json": pipeline_state(STAGE_OUTCOMES),
    }


def pipeline_state(outcomes: list[dict]) -> dict:
    """pipeline.json as edgeml.pipeline writes it: fingerprints by stage name, the last run's outcomes."""
    return {"stages": {outcome["name"]: {"fingerprint": "0" * 64, "outputs": {}} for outcome in outcomes},
            "last_run": outcomes}


def write_run(run_dir: Path, pngs: dict[str, bytes], skip: tuple[str, ...] = ()) -> Path:
    """A complete run directory, less the files named in ``skip``."""
    for name, content in _artifacts().items():
        if name not in skip:
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / name).write_text(json.dumps(content), encoding="utf-8")
    for name, content in pngs.items():
        if name not in skip:
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / name).write_bytes(content)
    if "summary.txt" not in skip:
        (run_dir / "summary.txt").write_text(SUMMARY, encoding="utf-8")
    if "firmware" not in skip:
        (run_dir / "firmware").mkdir(exist_ok=True)
        (run_dir / "firmware" / "model_config.h").write_text(MODEL_CONFIG_H, encoding="utf-8")
        (run_dir / "firmware" / "model_data.cc").write_bytes(b"x" * 23456)
        (run_dir / "firmware" / "model_data.h").write_bytes(b"y" * 589)
    return run_dir


@pytest.fixture
def run_dir(tmp_path, pngs) -> Path:
    return write_run(tmp_path / "run", pngs)


@pytest.fixture
def written(run_dir) -> tuple[ReportFiles, str, str]:
    files = write_report(run_dir)
    return files, files.html.read_text(encoding="utf-8"), files.markdown.read_text(encoding="utf-8")


def test_writes_both_files_into_the_run_directory(run_dir, written):
    files, _, _ = written
    assert files == ReportFiles(html=run_dir / "report.html", markdown=run_dir / "report.md")
    assert not [path.name for path in run_dir.iterdir() if path.name.startswith(".report")]  # no temp files left


def test_every_section_present_in_order(written):
    _, page, markdown = written
    assert re.findall(r'<section id="([a-z]+)">', page) == SECTION_KEYS
    assert re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE) == SECTION_TITLES
    assert "<h1>edgeml run report: mlp on demo</h1>" in page
    assert markdown.startswith("# edgeml run report: mlp on demo\n")
    assert "not produced" not in page


def test_title_can_be_given(run_dir):
    assert build_report(run_dir, title="Night build").title == "Night build"


def test_every_image_is_embedded_as_the_file_itself(run_dir, written, pngs):
    _, page, _ = written
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert page.count("data:image/png;base64,") == len(PNG_FILES)
    assert sorted(base64.b64decode(data) for data in embedded) == sorted(pngs.values())


def test_html_is_self_contained(written):
    _, page, _ = written
    assert "<script" not in page.lower() and "<link" not in page.lower()
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert references and all(reference.startswith("data:image/png;base64,") for reference in references)
    assert "<style>" in page


def test_float_and_int8_confusion_matrices_sit_side_by_side(written):
    _, page, markdown = written
    pair = re.search(r'<div class="figures">(.*?)</div>', page[page.index('id="evaluation"'):]).group(1)
    assert pair.count("<img") == 2 and "Keras float" in pair and "int8 TFLite" in pair
    assert "| ![confusion matrix, Keras float](confusion_matrix.png) | " \
           "![confusion matrix, int8 TFLite](int8_confusion_matrix.png) |" in markdown


def test_markdown_refers_to_images_by_relative_path(run_dir, written):
    _, _, markdown = written
    targets = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(targets) == sorted(PNG_FILES)
    assert all((run_dir / target).is_file() for target in targets)
    assert "data:image" not in markdown and str(run_dir) not in markdown


def test_hostile_text_is_escaped(written):
    _, page, markdown = written
    assert "<script" not in page and "<script" not in markdown
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page  # Jinja2's autoescape spells ' as &#39;
    assert "&lt;warning&gt; &amp; more" in page
    assert "#include &lt;stdint.h&gt;" in page  # model_config.h in a <pre>
    assert "dog\\|wolf" in markdown  # a | inside a Markdown table cell does not split it


def test_numbers_are_formatted(written):
    _, page, markdown = written
    for text in ("0.9123", "0.9000", "12,345", "16,789", "51,234", "92.48%", "0.328", "32.8%", "49,380",
                 "23,456", "6,208", "5,120", "1,088", "100.0", "54,321", "8.0", "1.25× faster"):
        assert text in page, text
    assert "0.912345678" not in page
    assert "| int8 | model_int8.tflite | 16,789 | 0.9000 | -1.23 | 92.48% |" in markdown


def test_stage_table_and_firmware_facts(written):
    _, page, _ = written
    assert '<td class="status-skipped">skipped (current)</td>' in page
    assert '<td class="status-done">done</td>' in page
    assert "not measured: compile failed: model_data.cc:3:1: error: unknown type name int8" in page
    assert "no arm-none-eabi toolchain" not in page
    assert "2: FULLY_CONNECTED, SOFTMAX" in page
    assert "6,208 bytes (measured minimum 5,120 + margin 1,088)" in page
    section = page[page.index('id="firmware"'):]
    assert "<pre>#include &lt;stdint.h&gt;" in section
    assert re.search(r"<td>model_data.cc</td><td class=\"num\">23,456</td>", section)
    assert re.search(r"<td>model_config.h</td><td class=\"num\">\d+</td>", section)


@pytest.mark.parametrize("state", [pipeline_state(STAGE_OUTCOMES), {"stages": STAGE_OUTCOMES}],
                         ids=["edgeml.pipeline", "list"])
def test_stage_table_lists_the_last_runs_outcomes(run_dir, state):
    (run_dir / "pipeline.json").write_text(json.dumps(state), encoding="utf-8")
    table = build_report(run_dir).section("stages").blocks[0]
    assert table.rows == tuple((outcome["name"], outcome["status"], f"{outcome['seconds']:.1f}", "")
                               for outcome in STAGE_OUTCOMES)


def test_a_pipeline_state_without_outcomes_is_a_note(run_dir):
    state = pipeline_state(STAGE_OUTCOMES)
    del state["last_run"]
    (run_dir / "pipeline.json").write_text(json.dumps(state), encoding="utf-8")
    assert "pipeline.json records no stage outcomes" in render_html(build_report(run_dir))


def test_flash_measured_by_the_arm_toolchain(run_dir):
    export = _artifacts()["firmware/export.json"]
    export.update(flash_bytes=17012, arm_size_output="   text    data     bss\n  16996      16       0 model_data.o")
    (run_dir / "firmware" / "export.json").write_text(json.dumps(export), encoding="utf-8")
    page = render_html(build_report(run_dir))
    assert "17,012 bytes (arm-none-eabi-size)" in page
    assert "<pre>   text    data     bss\n  16996      16       0 model_data.o</pre>" in page


def test_per_class_float_and_int8_side_by_side(run_dir):
    table = next(block for block in build_report(run_dir).section("evaluation").blocks
                 if getattr(block, "header", ("",))[0] == "class")
    assert table.header == ("class", "support", "float precision", "float accuracy", "float F1", "float AUC",
                            "int8 precision", "int8 accuracy", "int8 F1", "Δ F1")
    assert [row[0] for row in table.rows] == CLASS_NAMES
    assert table.rows[0][1:] == ("40", "0.9000", "0.8000", "0.8500", "0.9700", "0.9000", "0.8000", "0.8300",
                                 "-0.0200")


def test_an_empty_run_directory_gives_notes_not_a_crash(tmp_path):
    report = build_report(tmp_path)
    assert [section.key for section in report.sections] == SECTION_KEYS
    page, markdown = render_html(report), render_markdown(report)
    for note in ("config.json not produced (stage train did not run)",
                 "metrics.json not produced (stage evaluate did not run)",
                 "int8_metrics.json not produced (stage evaluate_int8 did not run)",
                 "quantization.json not produced (stage quantize did not run)",
                 "benchmark/benchmark.json not produced (stage benchmark did not run)",
                 "firmware/export.json not produced (stage export did not run)",
                 "pipeline.json not found"):
        assert note in page and note in markdown, note
    assert "data:image" not in page


@pytest.mark.parametrize("skipped", [
    ("int8_metrics.json", "int8_confusion_matrix.png", "int8_roc.png"),
    ("benchmark/benchmark.json", "benchmark/latency.png"),
    ("history.png", "roc.png", "summary.txt", "firmware"),
    ("quantization.json", "firmware/export.json", "pipeline.json"),
])
def test_missing_artifacts_give_notes(tmp_path, pngs, skipped):
    run_dir = write_run(tmp_path, pngs, skip=skipped)
    files = write_report(run_dir)
    page = files.html.read_text(encoding="utf-8")
    assert re.findall(r'<section id="([a-z]+)">', page) == SECTION_KEYS
    assert page.count("data:image/png;base64,") == sum((run_dir / name).is_file() for name in PNG_FILES)
    notes = re.findall(r'<p class="note">(.*?)</p>', page)
    assert notes
    for name in skipped:
        if name.endswith((".json", ".txt")) and name != "pipeline.json":
            assert any(note.startswith(f"{name} not produced") for note in notes), (name, notes)


def test_a_missing_image_is_noted_when_its_stage_ran(tmp_path, pngs):
    run_dir = write_run(tmp_path, pngs, skip=("roc.png",))
    page = render_html(build_report(run_dir))
    assert "roc.png not produced (although stage evaluate is marked done)" not in page  # "skipped (current)"
    assert "roc.png not produced (stage evaluate: skipped (current))" in page
    assert page.count("<img") == len(PNG_FILES) - 1


def test_a_failed_stage_is_named_in_the_note(tmp_path, pngs):
    run_dir = write_run(tmp_path, pngs, skip=("firmware/export.json", "firmware"))
    failed = {"name": "export", "status": "failed", "seconds": 0.4, "error": "tflite-micro is not installed"}
    pipeline = pipeline_state(STAGE_OUTCOMES[:4] + [failed])
    (run_dir / "pipeline.json").write_text(json.dumps(pipeline), encoding="utf-8")
    page = render_html(build_report(run_dir))
    assert "firmware/export.json not produced (stage export failed: tflite-micro is not installed)" in page
    assert '<td class="status-failed">failed</td>' in page


@pytest.mark.parametrize("name", JSON_FILES)
def test_corrupt_json_is_an_error_naming_the_file(tmp_path, pngs, name):
    run_dir = write_run(tmp_path, pngs)
    (run_dir / name).write_text('{"truncated": ', encoding="utf-8")
    with pytest.raises(EdgeMLError, match=re.escape(str(run_dir / name))):
        write_report(run_dir)
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize("name", JSON_FILES + ["firmware/c_engine/export.json"])
def test_a_stage_json_that_is_a_folder_is_an_error_not_a_missing_stage(tmp_path, pngs, name):
    run_dir = write_run(tmp_path, pngs)
    if (run_dir / name).exists():
        (run_dir / name).unlink()
    (run_dir / name).mkdir(parents=True)
    with pytest.raises(EdgeMLError) as failure:
        write_report(run_dir)
    assert str(failure.value) == f"{run_dir / name} is a directory; edgeml expects its JSON file there"
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize("name, content", [
    ("quantization.json", {"variants": "int8"}),
    ("benchmark/benchmark.json", {"rows": [{"model": "m.tflite"}]}),
    ("metrics.json", {"accuracy": 0.5, "per_class": "cat"}),
    ("pipeline.json", {"stages": [["train", "done"]]}),
    ("pipeline.json", {"last_run": [{"status": "done"}]}),
    ("config.json", []),
])
def test_json_with_the_wrong_contents_is_an_error_naming_the_file(tmp_path, pngs, name, content):
    run_dir = write_run(tmp_path, pngs)
    (run_dir / name).write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(EdgeMLError, match=re.escape(str(run_dir / name))):
        build_report(run_dir)


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {path.relative_to(folder).as_posix(): None if path.is_dir() else path.read_bytes()
            for path in sorted(folder.rglob("*"))}


def test_an_existing_report_is_replaced_only_with_force(run_dir, written):
    files, page, _ = written
    files.html.write_text("an older report", encoding="utf-8")
    before = _tree(run_dir)
    with pytest.raises(EdgeMLError) as failure:
        write_report(run_dir)
    assert str(failure.value) == f"{run_dir} already holds report.html, report.md; use --force to replace them"
    assert _tree(run_dir) == before
    assert write_report(run_dir, force=True) == files
    assert files.html.read_text(encoding="utf-8") == page


def test_a_report_name_taken_by_a_folder_writes_no_report_file(run_dir):
    """report.md is a folder: one error naming it, and report.html (which would be written first) is not."""
    (run_dir / "report.md").mkdir()
    before = _tree(run_dir)
    with pytest.raises(EdgeMLError) as failure:
        write_report(run_dir, force=True)
    assert str(failure.value) == f"cannot write into {run_dir}: {run_dir / 'report.md'} is a directory"
    assert _tree(run_dir) == before


def test_the_report_command_gives_one_line_for_a_report_it_cannot_write(run_dir):
    (run_dir / "report.md").mkdir()
    result = CliRunner().invoke(cli, ["report", str(run_dir), "--force"])
    assert result.exit_code == 1 and not (run_dir / "report.html").exists()
    assert result.output.splitlines() == [f"error: cannot write into {run_dir}: {run_dir / 'report.md'} is a directory"]
    refused = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        f"error: {run_dir} already holds report.md; use --force to replace them"]


def test_a_folder_without_any_stage_file_is_not_a_run_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run", encoding="utf-8")
    with pytest.raises(EdgeMLError) as failure:
        write_report(tmp_path)
    assert str(failure.value).startswith(f"{tmp_path} is not an edgeml run directory: ")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_report_help_names_what_it_writes_and_force():
    result = CliRunner().invoke(cli, ["report", "--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    assert "Write report.html and report.md (and the PNG of any chart they draw) into RUN_DIR" in text
    assert "Replacing an existing report needs --force." in text
    assert "--force Replace the report files RUN_DIR already holds." in text


def test_a_run_directory_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(EdgeMLError, match="run directory not found"):
        write_report(tmp_path / "nope")


# ------------------------------------------------------------------------------------ rendered in Chromium


def test_chromium_renders_every_image(tmp_path, written):
    files, page, _ = written
    result = render_in_chromium(page, tmp_path)
    assert result["title"] == "edgeml run report: mlp on demo"
    assert result["sections"] == len(SECTION_KEYS)
    assert len(result["images"]) == len(PNG_FILES)
    for image in result["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    assert result["fetched"] == []  # nothing loaded from outside the page


C_PARITY = {"baseline": "tflite-micro interpreter", "inputs": "20 samples of the digits test set", "samples": 20,
            "runtimes": [
                {"runtime": "edgeml C engine (default build)", "differing_vectors": 0, "max_lsb": 0.0,
                 "first_divergence": None, "not_run": None},
                {"runtime": "LiteRT BUILTIN_REF (reference kernels)", "differing_vectors": 3, "max_lsb": 2.0,
                 "first_divergence": "op 1 FULLY_CONNECTED", "not_run": None},
                {"runtime": "LiteRT default (XNNPACK delegate)", "differing_vectors": 1, "max_lsb": 1.0,
                 "first_divergence": "an op inside the XNNPACK delegate (not traceable)", "not_run": None}]}


C_ENGINE_EXPORT = {
    "files": ["model_model.h", "model_model.c", "engine.json"], "symbol": "model",
    "ops": ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"], "liveness_floor_bytes": 96, "arena_bytes": 96,
    "input_bytes": 64, "output_bytes": 10, "static_ram_bytes": 170, "flash_bytes": None,
    "flash_not_measured": "arm-none-eabi-gcc not found", "warnings": []}


def _with_c_engine(run_dir: Path, previous_layout: bool = False) -> Path:
    """The run directory with a C engine benchmark row, its four-way parity and its export: each export's record
    in its own folder (firmware/export.json, firmware/c_engine/export.json), or with ``previous_layout`` the
    pipeline's one firmware/export.json from before export records (the C engine's facts under c_engine)."""
    artifacts = _artifacts()
    benchmark = artifacts["benchmark/benchmark.json"]
    benchmark["rows"].append({**benchmark["rows"][-1], "runtime": "c", "arena_bytes": None, "static_ram_bytes": 170,
                              "engine_arena_bytes": 96, "flash_bytes": 8920, "flash_not_measured": None})
    benchmark["parity"] = [{"model": "model_int8.tflite", **C_PARITY}]
    export = artifacts["firmware/export.json"]
    if previous_layout:
        export.update(engines=["tflm", "c"], c_engine={"dir": "c_engine", **C_ENGINE_EXPORT, "parity": C_PARITY})
    else:
        export.update(schema_version=1, engine="tflm", model="model_int8.tflite")
        artifacts["firmware/c_engine/export.json"] = {
            "schema_version": 1, "engine": "c", "dtype": "int8", "model": "model_int8.tflite", **C_ENGINE_EXPORT,
            "parity": {"model": "model_int8.tflite", **C_PARITY}}
    for name in ("benchmark/benchmark.json", "firmware/export.json", "firmware/c_engine/export.json"):
        if name in artifacts:
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / name).write_text(json.dumps(artifacts[name]), encoding="utf-8")
    return run_dir


@pytest.mark.parametrize("previous_layout", [False, True])
def test_c_engine_beside_tflm_in_the_benchmark_and_firmware_sections(run_dir, previous_layout):
    """Issue 12: the C engine's static RAM and flash in the benchmark table, its export side by side with
    TFLM's, and the four-way parity as a table in both sections; from a run directory of either layout."""
    report = build_report(_with_c_engine(run_dir, previous_layout))
    table = report.section("benchmark").blocks[1]
    c_row = next(row for row in table.rows if row[2].startswith("c "))
    assert c_row[-2:] == ("170 static", "8,920")
    tflm_row = next(row for row in table.rows if row[2].startswith("tflm "))
    assert tflm_row[-2:] == ("6,208", NOTHING)
    firmware = report.section("firmware").blocks
    side = next(block for block in firmware if getattr(block, "header", None) == ("", "TFLite Micro", "C engine"))
    assert side.rows[0][1:] == ("6,208", "170 (96 + 64 + 10)")
    assert side.rows[1][1:] == ("not measured", "not measured: arm-none-eabi-gcc not found")
    assert side.rows[2][1:] == ("2", "3")
    assert side.rows[3][1:] == ("firmware/ (3)", "firmware/c_engine/ (3)")
    for section in ("benchmark", "firmware"):
        parity = [b for b in report.section(section).blocks if getattr(b, "header", None) ==
                  ("runtime", "differing output vectors", "max LSB", "first divergence")]
        assert parity[0].rows == (("edgeml C engine (default build)", "0/20", "0", NOTHING),
                                  ("LiteRT BUILTIN_REF (reference kernels)", "3/20", "2", "op 1 FULLY_CONNECTED"),
                                  ("LiteRT default (XNNPACK delegate)", "1/20", "1",
                                   "an op inside the XNNPACK delegate (not traceable)"))


def test_a_c_engine_only_export_is_beside_a_tflm_column_that_says_not_exported(run_dir):
    """[export] engine = "c": only firmware/c_engine/export.json; the section says TFLite Micro was not exported."""
    _with_c_engine(run_dir)
    (run_dir / "firmware" / "export.json").unlink()
    blocks = build_report(run_dir).section("firmware").blocks
    assert blocks[0] == Note("TFLite Micro: not exported (firmware/export.json holds no TFLite Micro export)")
    side = next(block for block in blocks if getattr(block, "header", None) == ("", "TFLite Micro", "C engine"))
    assert [row[1] for row in side.rows] == ["not exported"] * 4
    assert side.rows[0][2] == "170 (96 + 64 + 10)" and side.rows[3][2] == "firmware/c_engine/ (3)"


def test_a_float32_c_engine_export_shows_its_agreement_with_litert(run_dir):
    float_record = {
        "schema_version": 1, "engine": "c", "dtype": "float32", "model": "model_float32.tflite", **C_ENGINE_EXPORT,
        "arena_bytes": 384, "input_bytes": 256, "output_bytes": 40, "static_ram_bytes": 680,
        "ram_vs_int8": {"float_ram_bytes": 680, "int8_ram_bytes": 170, "int8_model": "run/model_int8.tflite"},
        "parity": {"not_run": "no C compiler"}}
    (run_dir / "firmware" / "c_engine").mkdir(parents=True)
    (run_dir / "firmware" / "c_engine" / "export.json").write_text(json.dumps(float_record), encoding="utf-8")
    blocks = build_report(run_dir).section("firmware").blocks
    side = next(block for block in blocks if getattr(block, "header", None) == ("", "TFLite Micro",
                                                                                "C engine (float32)"))
    assert side.rows[0][1:] == ("6,208", "680 (384 + 256 + 40)")
    assert Text("float outputs not compared: no C compiler") in blocks
    # 680 - 170 = 510 more bytes, 680 / 170 = 4.00 times the int8 build's static RAM
    ram = "float32 needs 680 bytes of static RAM, 510 more than the int8 build's 170 (4.00x; run/model_int8.tflite)"
    assert Text(ram) in blocks
    report = build_report(run_dir)
    assert ram in render_markdown(report) and f"<p>{ram}</p>" in html.unescape(render_html(report))


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_the_c_engines_warnings_are_shown_in_the_firmware_section(run_dir, dtype):
    _with_c_engine(run_dir)
    path = run_dir / "firmware" / "c_engine" / "export.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    warnings = ["--name 'my net' is not a usable C identifier; the symbol is 'my_net'", "a <second> & last"]
    record["warnings"] = warnings
    if dtype == "float32":
        record.update(dtype="float32", ram_vs_int8={"float_ram_bytes": 170, "not_compared": "no model_int8.tflite"},
                      parity={"not_run": "--check-samples is 0"})
    path.write_text(json.dumps(record), encoding="utf-8")
    report = build_report(run_dir)
    blocks = report.section("firmware").blocks
    at = blocks.index(Text("C engine warnings:"))
    assert blocks[at + 1] == Bullets(tuple(warnings))
    assert ("- a &lt;second&gt; &amp; last" in render_markdown(report)  # Markdown passes raw HTML: escaped
            and "<li>a &lt;second&gt; &amp; last</li>" in render_html(report))


def test_a_missing_key_is_an_error_naming_the_file_and_the_key(run_dir):
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    del config["dataset"]["name"]
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(EdgeMLError) as caught:
        build_report(run_dir)
    assert str(caught.value) == (f"{run_dir / 'config.json'} does not have the contents edgeml expects "
                                 "(missing key dataset.name)")


@pytest.mark.parametrize("function, bug, error", [
    ("_model_name", lambda config: {}["no such key"], KeyError),  # while the (intact) config.json is read
    ("_ratio_line", lambda ratio: len(None), TypeError),  # while benchmark.json's latency ratios are
])
def test_a_bug_in_section_code_is_not_blamed_on_the_file(run_dir, monkeypatch, function, bug, error):
    """Only the typed accessors turn a file's contents into an EdgeMLError: a KeyError or TypeError raised by
    edgeml's own code is a bug, and propagates."""
    import edgeml.report

    monkeypatch.setattr(edgeml.report, function, bug)
    with pytest.raises(error):
        build_report(run_dir)


def test_a_value_of_the_wrong_type_names_the_file_and_the_key(run_dir):
    benchmark = _artifacts()["benchmark/benchmark.json"]
    benchmark["rows"][1]["latency_us"]["p50"] = "fast"
    (run_dir / "benchmark" / "benchmark.json").write_text(json.dumps(benchmark), encoding="utf-8")
    with pytest.raises(EdgeMLError) as caught:
        build_report(run_dir)
    assert str(caught.value) == (f"{run_dir / 'benchmark' / 'benchmark.json'} does not have the contents edgeml "
                                 "expects (rows[1].latency_us.p50: expected a number, found the text 'fast')")


def test_templates_are_strict(run_dir):
    """StrictUndefined: a block the templates do not know is an error, never a blank."""
    import jinja2
    from edgeml.report import Report, Section

    report = Report("t", run_dir, (Section("odd", "Odd", (object(),)),))
    for render in (render_html, render_markdown):
        with pytest.raises(jinja2.UndefinedError, match="kind"):
            render(report)


def test_secondary_benchmark_columns_are_one_click_away(written):
    _, page, markdown = written
    section = page[page.index('id="benchmark"'):page.index('id="microcontroller"')]
    summary = "More columns: threads, p90 latency, init, first invoke, batch throughput, peak RSS"
    details = section[section.index("<details>"):section.index("</details>")]
    assert f"<summary>{summary}</summary>" in details
    assert ('<td>model_int8.tflite</td><td>tflm 1.2.3</td><td>—</td><td class="num">9.6</td><td class="num">1.5</td>'
            '<td class="num">0.25</td><td class="num">54,321</td><td class="num">100.0</td>') in details
    assert f"{summary}:\n\n| where | model | runtime | threads | p90 µs |" in markdown


# ------------------------------------------------------------------------------ the emulated Cortex-M (issue 13)

QEMU_TOOLS_MISSING = [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "arm-none-eabi-size")
                      if shutil.which(tool) is None]
needs_qemu_tools = pytest.mark.skipif(bool(QEMU_TOOLS_MISSING), reason=(
    f"{', '.join(QEMU_TOOLS_MISSING)} not installed (Debian: sudo apt install qemu-system-arm gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi)"))
QEMU_ROW = {
    "model": "model_int8.tflite", "runtime": "c", "source": "qemu:cortex-m4", "device": "qemu:cortex-m4",
    "machine": "mps2-an386", "samples": 20, "accuracy": 0.85, "agreement_with_host_c": 1.0, "agreement_with_tflm": 1.0,
    "instructions": {
        "per_inference": 123456.7, "min": 123400.0, "max": 123480.0, "resolution": 40.0, "note": "instructions",
        "per_op": [
            {"op_index": 0, "op": "FULLY_CONNECTED", "kernel": "fully_connected", "instructions": 100000.0,
             "macs": 50000, "instructions_per_mac": 2.0},
            {"op_index": 1, "op": "FULLY_CONNECTED", "kernel": "fully_connected", "instructions": 4000.0,
             "macs": 1600, "instructions_per_mac": 2.5},
            {"op_index": 2, "op": "SOFTMAX", "kernel": "softmax", "instructions": 12000.0, "macs": None,
             "instructions_per_mac": None},
            {"op_index": 3, "op": "RESHAPE", "kernel": "copy", "instructions": 40.0, "macs": None,
             "instructions_per_mac": None}]},
    "flash": {"total_bytes": 30000, "engine_bytes": 8000, "model_bytes": 12000, "harness_bytes": 6000,
              "samples_bytes": 4000},
    "ram": {"total_bytes": 5000, "data_bytes": 100, "bss_bytes": 3900, "stack_peak_bytes": 1000, "model_bytes": 3000,
            "engine_stack_bytes": 400, "harness_bytes": 1600},
}
NOT_MEASURED_ROW = {"model": "model_int8.tflite", "runtime": "c", "source": "qemu:cortex-m7",
                    "device": "qemu:cortex-m7", "machine": "mps2-an500", "not_measured": "arm-none-eabi-gcc not found"}
INSTALL = ("install arm-none-eabi-gcc with newlib-nano and qemu-system-arm (Debian/Ubuntu: sudo apt install "
           "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")


def _with_benchmark_rows(run_dir: Path, *rows: dict) -> Path:
    benchmark = _artifacts()["benchmark/benchmark.json"]
    benchmark["rows"] += list(rows)
    (run_dir / "benchmark" / "benchmark.json").write_text(json.dumps(benchmark), encoding="utf-8")
    return run_dir


def test_microcontroller_row_from_benchmark_json(run_dir):
    report = build_report(_with_benchmark_rows(run_dir, QEMU_ROW))
    blocks = report.section("microcontroller").blocks
    assert blocks[0].header == ("device", "board", "model", "samples", "accuracy", "agreement",
                                "instructions / inference", "flash bytes", "RAM bytes")
    assert blocks[0].rows == (("qemu:cortex-m4", "mps2-an386", "model_int8.tflite", "20", "0.8500", "100.00%",
                               "123,457", "30,000", "5,000"),)
    assert blocks[1].text == ("model_int8.tflite on qemu:cortex-m4: flash 30,000 = engine 8,000 + model 12,000 + "
                              "harness 6,000 + samples 4,000 (text + rodata + data); RAM 5,000 = model buffers 3,000 + "
                              "engine stack 400 + harness 1,600 (data + bss + stack peak by stack painting).")
    assert blocks[2].text.startswith("The 3 ops with the most instructions of 4 ")
    assert blocks[3].rows == (("op 0 FULLY_CONNECTED", "100,000", "50,000", "2.00"),
                              ("op 2 SOFTMAX", "12,000", NOTHING, NOTHING),
                              ("op 1 FULLY_CONNECTED", "4,000", "1,600", "2.50"))
    assert "instructions, not cycles: QEMU -icount counts executed instructions" in blocks[4].text
    assert ("SysTick resolution 40 instructions per count: each op's count (a mean over the profiled samples) has a "
            "resolution of 40 instructions") in blocks[4].text
    host_table = report.section("benchmark").blocks[1]
    assert [row[1:3] for row in host_table.rows] == [("model_float32.tflite", "litert 1.2.3"),
                                                      ("model_float32.tflite", "tflm 1.2.3"),
                                                      ("model_int8.tflite", "litert 1.2.3"),
                                                      ("model_int8.tflite", "tflm 1.2.3")]


@pytest.mark.parametrize("reason, shown", [
    ("arm-none-eabi-gcc not found", f"arm-none-eabi-gcc not found; {INSTALL}"),
    ("qemu-system-arm not found: apt-get install qemu-system-arm", "qemu-system-arm not found: apt-get install "
                                                                   "qemu-system-arm"),
    ("model_int8.tflite needs 300,000 bytes of flash, the board has 262,144", "model_int8.tflite needs 300,000 bytes "
                                                                              "of flash, the board has 262,144"),
])
def test_a_row_not_measured_says_why_and_what_to_install(run_dir, reason, shown):
    page = render_html(build_report(_with_benchmark_rows(run_dir, {**NOT_MEASURED_ROW, "not_measured": reason})))
    section = page[page.index('id="microcontroller"'):page.index('id="firmware"')]
    assert "<table>" not in section  # nothing measured: no table of dashes
    assert f"<li>qemu:cortex-m7 (mps2-an500), model_int8.tflite: not measured: {html.escape(shown)}</li>" in section


def test_no_emulated_rows_says_how_to_measure_one(run_dir):
    markdown = render_markdown(build_report(run_dir))
    assert ("*no emulated Cortex-M in benchmark/benchmark.json: edgeml benchmark RUN_DIR --device qemu:cortex-m4 "
            "runs the int8 model in edgeml's C engine on an emulated Cortex-M4; it needs arm-none-eabi-gcc with "
            "newlib-nano and qemu-system-arm (Debian/Ubuntu: sudo apt install gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi qemu-system-arm)*") in markdown


def test_an_incomplete_qemu_row_names_the_key(run_dir):
    row = json.loads(json.dumps(QEMU_ROW))
    del row["instructions"]["per_inference"]
    _with_benchmark_rows(run_dir, row)
    with pytest.raises(EdgeMLError, match=re.escape("(missing key rows[4].instructions.per_inference)")):
        build_report(run_dir)


@needs_qemu_tools
def test_microcontroller_section_from_a_real_qemu_benchmark(tiny_run, tmp_path):
    """edgeml benchmark --device qemu:cortex-m4 on the tiny MLP, then the report: the int8 row holds the board,
    the accuracy TFLM gives on the same class-balanced samples, outputs identical to the host engine's and
    TFLM's, and flash and RAM that are the sums of their parts; the float32 row (issue 15) sits beside it, and
    the float32 vs int8 table holds both rows' numbers and their ratios."""
    from edgeml.benchmark import BenchmarkConfig, load_test_samples, run_benchmark
    from edgeml.qemu_target import balanced_indices
    from edgeml.rundir import RunRecord
    from edgeml.runtime import decide_class, open_model

    run = shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns("benchmark"))
    run_benchmark(BenchmarkConfig(targets=(str(run),), device="qemu:cortex-m4", test_samples=8))
    saved = json.loads((run / "benchmark" / "benchmark.json").read_text(encoding="utf-8"))
    rows = {row["model"]: row for row in saved["rows"]}
    assert sorted(rows) == [F32, I8]
    row, float_row = rows[I8], rows[F32]
    report = build_report(run)
    blocks = report.section("microcontroller").blocks
    table = blocks[0]
    parts_index = next(index for index, block in enumerate(blocks)
                       if getattr(block, "text", "").startswith("model_int8.tflite on qemu:cortex-m4: flash"))
    parts, ops = blocks[parts_index], blocks[parts_index + 2]

    inputs, labels = load_test_samples(RunRecord.load(run), None, 8)
    chosen = balanced_indices(labels, 8)
    tflm = open_model(run / "model_int8.tflite", "tflm")
    accuracy = np.mean(decide_class(tflm.predict(inputs[chosen]), tflm.output_quantization) == labels[chosen])
    flash, ram = row["flash"], row["ram"]
    assert [cells[2] for cells in table.rows] == [F32, I8]
    assert table.rows[1] == ("qemu:cortex-m4", "mps2-an386", "model_int8.tflite", "8", f"{accuracy:.4f}",
                             "100.00%", f"{row['instructions']['per_inference']:,.0f}",
                             f"{flash['total_bytes']:,}", f"{ram['total_bytes']:,}")
    assert flash["total_bytes"] == sum(flash[key] for key in ("engine_bytes", "model_bytes", "harness_bytes",
                                                                "samples_bytes"))
    assert ram["total_bytes"] == ram["model_bytes"] + ram["engine_stack_bytes"] + ram["harness_bytes"]
    assert parts.text.startswith(f"model_int8.tflite on qemu:cortex-m4: flash {flash['total_bytes']:,} = engine "
                                 f"{flash['engine_bytes']:,} + model {flash['model_bytes']:,} + ")
    top = max(row["instructions"]["per_op"], key=lambda op: op["instructions"])
    assert ops.rows[0][:2] == (f"op {top['op_index']} {top['op']}", f"{top['instructions']:,.0f}")

    float_instructions, int8_instructions = (measured["instructions"]["per_inference"] for measured in (float_row, row))
    comparison = next(block for block in blocks if getattr(block, "header", None) == FLOAT_VS_INT8_HEADER)
    assert comparison.rows == ((
        "cortex-m4", "hard", f"{float_row['accuracy']:.4f}", f"{accuracy:.4f}", f"{float_instructions:,.0f}",
        f"{int8_instructions:,.0f}", f"{int8_instructions / float_instructions:.3f}",
        f"{float_row['flash']['engine_bytes'] + float_row['flash']['model_bytes']:,}",
        f"{flash['engine_bytes'] + flash['model_bytes']:,}", f"{float_row['ram']['total_bytes']:,}",
        f"{ram['total_bytes']:,}", f"{float_row['ram']['total_bytes'] / ram['total_bytes']:.2f}"),)
    page = render_html(report)
    assert "<td>qemu:cortex-m4</td><td>mps2-an386</td>" in page


# ------------------------------------------------------------------ float32 vs int8 on the microcontroller (issue 15)


def _emulated_row(device: str, model: str, instructions: float, flash: int, ram: int, accuracy: float,
                  float_abi: str | None = None) -> dict:
    """QEMU_ROW on another board and model, with its own instructions, engine + model flash, RAM total and accuracy; a
    float32 row has its float ABI and its agreement with LiteRT BUILTIN_REF instead of TFLM's."""
    row = {**json.loads(json.dumps(QEMU_ROW)), "device": device, "source": device, "model": model,
           "accuracy": accuracy}
    row["instructions"]["per_inference"] = instructions
    # ``flash``: engine + model (what the float32 vs int8 table compares); the total adds harness and samples
    row["flash"]["engine_bytes"] = flash - row["flash"]["model_bytes"]
    row["flash"]["total_bytes"] = flash + row["flash"]["harness_bytes"] + row["flash"]["samples_bytes"]
    row["ram"]["total_bytes"] = ram
    if float_abi is not None:
        del row["agreement_with_tflm"]
        row.update(float_abi=float_abi, agreement_with_host_c=0.95, agreement_with_litert_ref=0.9,
                   max_abs_difference=3e-6)
    return row


F32, I8 = "model_float32.tflite", "model_int8.tflite"
M0_FLOAT = _emulated_row("qemu:cortex-m0", F32, 1_000_000.0, 41_000, 12_000, 0.85, "soft")
M0_INT8 = _emulated_row("qemu:cortex-m0", I8, 125_000.0, 30_000, 5_000, 0.80)
M4_FLOAT = _emulated_row("qemu:cortex-m4", F32, 200_000.0, 39_500, 11_000, 0.85, "hard")
M4_INT8 = _emulated_row("qemu:cortex-m4", I8, 240_000.0, 30_500, 5_500, 0.80)
M3_INT8 = _emulated_row("qemu:cortex-m3", I8, 130_000.0, 29_000, 4_000, 0.75)
M3_FLOAT_NOT_MEASURED = {"model": F32, "runtime": "c", "source": "qemu:cortex-m3", "device": "qemu:cortex-m3",
                         "machine": "mps2-an385", "not_measured": "the float32 image needs 300,000 bytes of flash"}
MCU_ROWS = (M0_FLOAT, M0_INT8, M4_FLOAT, M4_INT8, M3_FLOAT_NOT_MEASURED, M3_INT8, NOT_MEASURED_ROW)
FLOAT_VS_INT8_HEADER = ("board", "float ABI", "accuracy float32", "accuracy int8",
                        "instructions float32", "instructions int8",
                        "int8 / float32 instructions", "flash float32", "flash int8", "RAM float32",
                        "RAM int8", "float32 / int8 RAM")


def _float_vs_int8(report) -> list:
    """The microcontroller section's blocks from the float32 vs int8 lead-in on."""
    blocks = report.section("microcontroller").blocks
    start = next(index for index, block in enumerate(blocks)
                 if getattr(block, "text", "").startswith("float32 vs int8"))
    return list(blocks[start:])


def test_float32_vs_int8_table_holds_each_boards_measured_numbers(run_dir):
    """One row per board with a measured variant, in the rows' order; the ratios are int8/float32
    instructions (M0: 125,000 / 1,000,000 = 0.125; M4: 240,000 / 200,000 = 1.2) and float32/int8 RAM
    (12,000 / 5,000 = 2.4; 11,000 / 5,500 = 2.0); M3 has only its int8 row measured."""
    report = build_report(_with_benchmark_rows(run_dir, *MCU_ROWS))
    lead, table, lines, note, chart = _float_vs_int8(report)[:5]
    assert lead.text == ("float32 vs int8 on the microcontroller, per emulated board (instructions per inference; "
                         "flash of the engine and model, without the harness and the embedded test samples; RAM of "
                         "the image; bytes):")
    assert table.header == FLOAT_VS_INT8_HEADER
    assert table.rows == (
        ("cortex-m0", "soft", "0.8500", "0.8000", "1,000,000", "125,000", "0.125", "41,000", "30,000",
         "12,000", "5,000", "2.40"),
        ("cortex-m4", "hard", "0.8500", "0.8000", "200,000", "240,000", "1.200", "39,500", "30,500",
         "11,000", "5,500", "2.00"),
        ("cortex-m3", NOTHING, NOTHING, "0.7500", NOTHING, "130,000", NOTHING, NOTHING, "29,000", NOTHING,
         "4,000", NOTHING),
    )
    assert lines.items == (
        "qemu:cortex-m0 (soft float, the same 20 samples): int8 needs 8.0× fewer instructions than float32 "
        "(125,000 vs 1,000,000 per inference); float32 needs 2.40× the RAM of int8 (12,000 vs 5,000 bytes)",
        "qemu:cortex-m4 (hard float, the same 20 samples): int8 needs 1.2× more instructions than float32 "
        "(240,000 vs 200,000 per inference); float32 needs 2.00× the RAM of int8 (11,000 vs 5,500 bytes)",
        "qemu:cortex-m3: only int8 measured, no ratio: float32 not measured: the float32 image needs 300,000 bytes "
        "of flash",
        f"qemu:cortex-m7: nothing to compare: float32: no row in benchmark/benchmark.json; int8 not measured: "
        f"arm-none-eabi-gcc not found; {INSTALL}",
    )
    assert note.text.startswith("These are instructions, not cycles") and "__aeabi_fmul" in note.text
    assert isinstance(chart, BarChart)


@pytest.mark.parametrize("int8_instructions, stated", [
    (250_000.0, "int8 needs 4.0× fewer instructions than float32"),
    (1_000_000.0, "int8 needs as many instructions as float32"),
    (980_000.0, "int8 needs 1.02× fewer instructions than float32"),  # one decimal would say 1.0×
    (3_500_000.0, "int8 needs 3.5× more instructions than float32"),
])
def test_the_instruction_ratio_is_stated_as_measured(run_dir, int8_instructions, stated):
    int8 = _emulated_row("qemu:cortex-m0", I8, int8_instructions, 30_000, 5_000, 0.8)
    report = build_report(_with_benchmark_rows(run_dir, M0_FLOAT, int8))
    (line,) = _float_vs_int8(report)[2].items
    assert line.startswith(f"qemu:cortex-m0 (soft float, the same 20 samples): {stated} (")
    assert _float_vs_int8(report)[1].rows[0][6] == f"{int8_instructions / 1_000_000:.3f}"


def test_different_sample_counts_are_said_to_make_accuracies_incomparable(run_dir):
    int8 = {**M0_INT8, "samples": 10}
    (line,) = _float_vs_int8(build_report(_with_benchmark_rows(run_dir, M0_FLOAT, int8)))[2].items
    assert line.startswith("qemu:cortex-m0 (soft float, 20 samples float32, 10 int8: accuracies not comparable): "
                           "int8 needs 8.0× fewer instructions than float32")


def test_float32_rows_in_the_emulated_table_agree_with_litert_ref(run_dir):
    """A float32 row's agreement is the smaller of its top-class agreement with the host's float C engine (0.95)
    and with LiteRT BUILTIN_REF (0.9); an int8 row's stays byte-identity with the host engine and TFLM."""
    report = build_report(_with_benchmark_rows(run_dir, M0_FLOAT, M0_INT8))
    table, *rest = report.section("microcontroller").blocks
    assert [(row[2], row[5]) for row in table.rows] == [(F32, "90.00%"), (I8, "100.00%")]
    legend = next(block.text for block in rest if getattr(block, "text", "").startswith("Agreement:"))
    assert "for a float32 model, the share of samples whose top class equals both the float C engine" in legend


def test_only_int8_on_the_microcontroller_says_float32_was_not_run(run_dir):
    report = build_report(_with_benchmark_rows(run_dir, QEMU_ROW))
    assert report.charts() == ()
    last = report.section("microcontroller").blocks[-1]
    assert last.kind == "note" and last.text == (
        "float32 vs int8 on the microcontroller: no float32 row in benchmark/benchmark.json (edgeml benchmark "
        "RUN_DIR --device qemu:cortex-mN measures model_float32.tflite beside model_int8.tflite)")


def test_instructions_chart_has_one_bar_pair_per_board(run_dir):
    """The drawn figure: a float32 and an int8 bar for each board that has a measured variant, heights the rows'
    instructions (no bar where the variant was not measured), the two bars of a board side by side at its tick."""
    report = build_report(_with_benchmark_rows(run_dir, *MCU_ROWS))
    (chart,) = report.charts()
    axes = draw_bar_chart(chart).axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["cortex-m0", "cortex-m4", "cortex-m3"]
    float_bars, int8_bars = axes.containers
    assert [float_bars.get_label(), int8_bars.get_label()] == ["float32", "int8"]
    np.testing.assert_array_equal([bar.get_height() for bar in float_bars], [1_000_000, 200_000, np.nan])
    np.testing.assert_array_equal([bar.get_height() for bar in int8_bars], [125_000, 240_000, 130_000])
    for tick, float_bar, int8_bar in zip(axes.get_xticks(), float_bars, int8_bars):
        float_x, int8_x = (bar.get_x() + bar.get_width() / 2 for bar in (float_bar, int8_bar))
        assert tick - 0.5 < float_x < tick < int8_x < tick + 0.5
    assert axes.get_yscale() == "linear" and axes.get_ylim()[0] == 0
    assert [text.get_text() for text in axes.texts if text.get_text() == "not measured"] == ["not measured"]


def test_instructions_chart_is_written_embedded_and_linked(run_dir):
    """write_report writes the chart's PNG beside report.html; the HTML embeds those very bytes and the Markdown
    links the file."""
    files = write_report(_with_benchmark_rows(run_dir, *MCU_ROWS))
    (chart,) = build_report(run_dir).charts()
    png = (run_dir / chart.path).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == chart_png(chart)
    page = files.html.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(PNG_FILES) + 1
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"' in page
    markdown = files.markdown.read_text(encoding="utf-8")
    assert f"![instructions per inference, float32 vs int8, per emulated board]({chart.path})" in markdown
    assert ("| cortex-m0 | soft | 0.8500 | 0.8000 | 1,000,000 | 125,000 | 0.125 | 41,000 | 30,000 | "
            "12,000 | 5,000 | 2.40 |") in markdown
    assert not [path.name for path in run_dir.iterdir() if path.name.startswith(".report")]


# ------------------------------------------------------------------------------------ a 1280-px window


def test_wide_tables_fit_a_1280_px_window(tmp_path, run_dir):
    """The benchmark's main table (C engine row included), the emulated Cortex-M's and its float32 vs int8 table
    (and chart, decoded) fit a 1280-px window:
    the page does not scroll sideways, no table is wider than the page's column, headers wrap to at most
    three lines and no data cell wraps."""
    _with_c_engine(run_dir)
    benchmark = json.loads((run_dir / "benchmark" / "benchmark.json").read_text(encoding="utf-8"))
    benchmark["rows"] += [QEMU_ROW, *MCU_ROWS]
    (run_dir / "benchmark" / "benchmark.json").write_text(json.dumps(benchmark), encoding="utf-8")
    result = render_in_chromium(render_html(build_report(run_dir)), tmp_path, width_px=1280)
    assert result["page_width"] <= result["window_width"]
    assert len(result["images"]) == len(PNG_FILES) + 1  # the float32 vs int8 instructions chart too
    for image in result["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    shown = [table for table in result["tables"] if table["width"] > 0]  # a closed <details> shows none
    assert {table["section"] for table in shown} >= {"benchmark", "microcontroller"}
    # the rows' table, the top ops of each of the 6 measured rows, float32 vs int8
    assert len([table for table in shown if table["section"] == "microcontroller"]) == 1 + 6 + 1
    for table in shown:
        assert table["width"] <= table["box_width"], table
        assert table["header_height"] < 3.5 * table["line_height"] + 10, table
        assert table["cell_height"] < 1.5 * table["line_height"] + 10, table
