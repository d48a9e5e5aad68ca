from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from browser import render_in_chromium

from edgeml.cli import cli
from edgeml.errors import EdgeMLError
from edgeml.pipeline import STAGES, load_config, run_pipeline

SMALL = """
out = "{out}"
[train]
dataset = "digits"
epochs = 4
lr = 0.005
[train.model]
hidden = [32, 16]
[quantize]
qat_epochs = 1
[export]
name = "digits_mlp"
check_samples = 20
{export_extra}
[benchmark]
runs = 20
warmup = 2
test_samples = 100
{benchmark_extra}
"""
# The runtimes the end-to-end run measures: the lite runtime, TFLite Micro and the C engine side by side
# (what its tests read). tf.lite ("tensorflow") would start TensorFlow in two more subprocesses for rows no
# test reads. Beside this machine, the int8 model on an emulated Cortex-M4 (as examples/fashion_mnist.toml).
END_TO_END_RUNTIMES = 'runtimes = ["litert", "tflm", "c"]\ndevice = ["local", "qemu:cortex-m4"]'
QEMU_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
# Tests of the stage bookkeeping (resume, skip, force) read statuses, not numbers: one runtime, one engine.
BOOKKEEPING = dict(benchmark_extra='runtimes = ["litert"]', export_extra='engine = "tflm"')
# ... and any trained model will do: one epoch on 300 samples.
BOOKKEEPING_TRAIN = ("train.epochs=1", "train.train_samples=300")


def write_config(path: Path, out: Path, export_extra: str = "", benchmark_extra: str = END_TO_END_RUNTIMES) -> Path:
    path.write_text(SMALL.format(out=out, export_extra=export_extra, benchmark_extra=benchmark_extra))
    return path


def statuses(result) -> dict[str, str]:
    return {stage.name: stage.status for stage in result.stages}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    config = load_config(write_config(base / "edgeml.toml", base / "run"))
    return run_pipeline(config), config


def test_end_to_end_artifacts_and_report(finished):
    result, _ = finished
    assert statuses(result) == {name: "done" for name in STAGES}
    run = result.run_dir
    for name in ("model.keras", "config.json", "history.png", "metrics.json", "confusion_matrix.png", "roc.png",
                 "model_float32.tflite", "model_int8.tflite", "quantization.json", "int8_metrics.json",
                 "int8_confusion_matrix.png", "firmware/model_data.h", "firmware/model_data.cc",
                 "firmware/model_config.h", "firmware/model_ops.h", "firmware/export.json",
                 "firmware/c_engine/export.json",
                 "benchmark/benchmark.json", "benchmark/latency.png", "report.html", "report.md", "pipeline.json"):
        assert (run / name).is_file(), name
    export = json.loads((run / "firmware/export.json").read_text())
    assert export["arena_bytes"] >= export["arena_minimum_bytes"] > 0 and export["symbol"] == "digits_mlp"
    assert (export["schema_version"], export["engine"], export["model"]) == (1, "tflm", "model_int8.tflite")
    assert export["model_bytes"] == (run / "model_int8.tflite").stat().st_size
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        # The object holds the aligned array and its length constant, nothing else.
        assert export["flash_not_measured"] is None and 0 <= export["flash_bytes"] - export["model_bytes"] < 32
    else:
        assert export["flash_bytes"] is None and export["flash_not_measured"].startswith("no arm-none-eabi toolchain")
    int8 = json.loads((run / "int8_metrics.json").read_text())
    quantization = json.loads((run / "quantization.json").read_text())
    int8_variant = next(v for v in quantization["variants"] if v["name"] == "int8")
    assert int8["accuracy"] == pytest.approx(int8_variant["accuracy"])  # same file, same test set, same runtime
    html = result.report_html.read_text()
    assert html.count("data:image/png;base64,") >= 5 and "digits_mlp" in html


# What a hand-run sequence does not make: the pipeline's state, and the benchmark (not run by hand here), with the
# chart the report draws from it.
NOT_BY_HAND = ("pipeline.json", "benchmark", "report_mcu_instructions.png")
BY_HAND = ("int8_metrics.json", "int8_confusion_matrix.png", "int8_roc.png", "firmware", "report.html", "report.md")


def test_the_commands_by_hand_give_the_pipelines_run_directory_and_report(finished, tmp_path):
    """Issue 10 item 4: after the pipeline's train, evaluate and quantize, `edgeml evaluate RUN/model_int8.tflite`,
    `edgeml export RUN --out RUN/firmware`, `edgeml export RUN --engine c --out RUN/firmware/c_engine` and
    `edgeml report RUN` give the same files, byte for byte, and the same report sections. (quantize is not redone:
    a second QAT in one Python process names a tensor `quantize_layer_1` where the first wrote `quantize_layer`,
    so the file differs in that name though not in any value; separate processes write the same bytes.)"""
    from edgeml.evaluate import EvaluateConfig, evaluate
    from edgeml.report import build_report
    from firmware_export.export import Engine, ExportConfig, export_for_engine
    from firmware_export.export_record import read_export_record

    result, config = finished
    pipeline_run = result.run_dir
    run = shutil.copytree(pipeline_run, tmp_path / "run")
    for name in NOT_BY_HAND + BY_HAND:
        (shutil.rmtree if (run / name).is_dir() else Path.unlink)(run / name)

    evaluate(EvaluateConfig(target=str(run / "model_int8.tflite")))
    options = ["--name", config.export.name, "--check-samples", str(config.export.check_samples)]
    exported = CliRunner().invoke(cli, ["export", str(run), "--out", str(run / "firmware"), *options])
    assert exported.exit_code == 0, exported.output
    export_for_engine(ExportConfig(source=str(run), out=str(run / "firmware" / "c_engine"), name=config.export.name,
                                   check_samples=config.export.check_samples), Engine.C)
    reported = CliRunner().invoke(cli, ["report", str(run)])
    assert reported.exit_code == 0, reported.output

    def files(root: Path) -> dict[str, bytes]:
        return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*"))
                if path.is_file() and path.relative_to(root).parts[0] not in NOT_BY_HAND}

    by_hand, by_pipeline = files(run), files(pipeline_run)
    assert sorted(by_hand) == sorted(by_pipeline)
    reports = ("report.html", "report.md")
    differing = [name for name in by_hand if name not in reports and by_hand[name] != by_pipeline[name]]
    assert differing == [], differing
    for folder in ("firmware", "firmware/c_engine"):
        assert read_export_record(run / folder / "export.json") == read_export_record(pipeline_run / folder / "export.json")
    by_hand_report, pipeline_report = build_report(run), build_report(pipeline_run)
    for section in ("dataset", "model", "training", "evaluation", "quantization", "firmware"):
        assert by_hand_report.section(section) == pipeline_report.section(section), section


def test_the_pipeline_report_renders_in_chromium(finished, tmp_path):
    result, _ = finished
    rendered = render_in_chromium(result.report_html.read_text(), tmp_path)
    assert rendered["images"] and rendered["fetched"] == []
    for image in rendered["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image


def test_rerun_after_finish_does_nothing(finished):
    result, config = finished
    before = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file() and p.name != "pipeline.json"}
    again = run_pipeline(config)
    assert statuses(again) == {name: "skipped (current)" for name in STAGES}
    after = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file() and p.name != "pipeline.json"}
    assert before == after


def test_failed_stage_keeps_earlier_outputs_resumes_and_force_redoes_every_stage(tmp_path):
    out = tmp_path / "run"
    bad = load_config(write_config(tmp_path / "bad.toml", out, benchmark_extra=BOOKKEEPING["benchmark_extra"],
                                   export_extra=BOOKKEEPING["export_extra"] + '\nsection = "not a section!"'),
                      BOOKKEEPING_TRAIN)
    with pytest.raises(EdgeMLError, match=r"stage export failed: .*re-run to resume from export"):
        run_pipeline(bad)
    state = json.loads((out / "pipeline.json").read_text())
    assert [s["status"] for s in state["last_run"]] == ["done"] * 4 + ["failed"]
    assert (out / "model_int8.tflite").is_file() and not (out / "firmware").exists()
    fixed = load_config(write_config(tmp_path / "good.toml", out, **BOOKKEEPING), BOOKKEEPING_TRAIN)
    resumed = run_pipeline(fixed)
    assert statuses(resumed) == {
        "train": "skipped (current)", "evaluate": "skipped (current)", "quantize": "skipped (current)",
        "evaluate_int8": "skipped (current)", "export": "done", "benchmark": "done", "report": "done",
    }
    # Changing a quantization option redoes quantization and what depends on it, not training.
    changed_config = load_config(tmp_path / "good.toml", (*BOOKKEEPING_TRAIN, "quantize.method=ptq"))
    changed = run_pipeline(changed_config)
    assert statuses(changed)["train"] == "skipped (current)" and statuses(changed)["quantize"] == "done"
    assert statuses(changed)["evaluate"] == "skipped (current)"
    assert statuses(changed)["export"] == "done"
    # --force redoes every stage, even of a run that is current.
    assert statuses(run_pipeline(changed_config)) == {name: "skipped (current)" for name in STAGES}
    forced = run_pipeline(changed_config, force=True)
    assert statuses(forced) == {name: "done" for name in STAGES}


def test_config_errors_and_cli(tmp_path):
    with pytest.raises(EdgeMLError, match="unknown option"):
        load_config(None, ("quantize.bits=4",))
    with pytest.raises(EdgeMLError, match="not valid TOML"):
        (tmp_path / "broken.toml").write_text("[train\n")
        load_config(tmp_path / "broken.toml")
    with pytest.raises(EdgeMLError, match="not found"):
        load_config(tmp_path / "missing.toml")
    config_path = write_config(tmp_path / "e.toml", tmp_path / "run")
    result = CliRunner().invoke(cli, ["pipeline", "--config", str(config_path), "--epochs", "7",
                                      "--set", "benchmark.runtimes=['litert']", "--print-config"])
    assert result.exit_code == 0, result.output
    assert "epochs = 7" in result.output and 'runtimes = ["litert"]' in result.output
    assert 'dataset = "digits"' in result.output and not (tmp_path / "run").exists()


def test_a_hand_made_run_is_not_overwritten_without_force(digits_run, tmp_path):
    import shutil

    out = tmp_path / "mine"
    shutil.copytree(digits_run, out)
    before = (out / "model.keras").read_bytes()
    with pytest.raises(EdgeMLError, match="no pipeline.json; use --force"):
        run_pipeline(load_config(None, (f"out='{out}'",)))
    assert (out / "model.keras").read_bytes() == before
    (out / "pipeline.json").write_text("[]")
    with pytest.raises(EdgeMLError, match="not an edgeml pipeline state"):
        run_pipeline(load_config(None, (f"out='{out}'",)))


def test_cli_shortcuts_are_quoted_as_toml(tmp_path):
    odd = tmp_path / 'dir with "quotes" and \\ backslash'
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(odd), "--dataset", "digits", "--print-config"])
    assert result.exit_code == 0, result.output
    assert load_config(None, (f"out={json.dumps(str(odd))}",)).out == str(odd)
    assert json.dumps(str(odd)) in result.output


def test_top_level_shortcuts_are_the_cli_shortcuts(tmp_path):
    config_path = tmp_path / "short.toml"
    config_path.write_text('out = "runs/x"\ndataset = "digits"\nepochs = 3\nmodel = "cnn"\ndata = "/data/digits"\n'
                           "[train.model]\nfilters = [4, 8]\n")
    config = load_config(config_path)
    expected = load_config(None, ('out="runs/x"', "train.dataset=digits", "train.epochs=3", "train.model.arch=cnn",
                                  'train.data_path="/data/digits"', "train.model.filters=[4, 8]"))
    assert config == expected
    assert (config.train.dataset, config.train.epochs, config.train.model.arch, config.train.model.filters) == (
        "digits", 3, "cnn", (4, 8))
    # A Keras file is a model path, as with `edgeml train --model my.keras`.
    (tmp_path / "file.toml").write_text('model = "mine.keras"\n')
    assert load_config(tmp_path / "file.toml").train.model_path == "mine.keras"
    # The command line still wins over the file's shortcut, through either spelling.
    assert load_config(config_path, ("train.epochs=5",)).train.epochs == 5
    assert load_config(config_path, ("epochs=6",)).train.epochs == 6
    result = CliRunner().invoke(cli, ["pipeline", "--config", str(config_path), "--dataset", "mnist", "--print-config"])
    assert result.exit_code == 0, result.output
    assert 'dataset = "mnist"' in result.output and "epochs = 3" in result.output


def test_a_stage_option_at_the_top_level_names_its_table(tmp_path):
    (tmp_path / "twice.toml").write_text('epochs = 3\n[train]\nepochs = 4\n')
    with pytest.raises(EdgeMLError, match=r"sets epochs twice: at the top level \(short for \[train\] epochs\) and in \[train\]; keep one$"):
        load_config(tmp_path / "twice.toml")
    (tmp_path / "misplaced.toml").write_text('batch_size = 64\nmethod = "ptq"\ntest_samples = 100\nbits = 4\n')
    with pytest.raises(EdgeMLError) as failure:
        load_config(tmp_path / "misplaced.toml")
    assert str(failure.value) == (
        "unknown top-level key(s) in the pipeline config: batch_size belongs in [train] or [evaluate] or [benchmark]; "
        "bits is no option of any stage; method belongs in [quantize]; "
        "test_samples belongs in [train] or [evaluate] or [quantize] or [benchmark] "
        "(top level takes out, dataset, data, epochs, model and the tables [train], [evaluate], [quantize], [export], [benchmark])"
    )


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-size") is None,
                    reason="arm-none-eabi-gcc/size not installed (apt-get install gcc-arm-none-eabi)")
def test_flash_is_measured_or_the_compile_error_is_the_reason(tmp_path):
    """Issue 16: a failing Arm compile is "compile failed: <gcc's first error line>", never "no toolchain"."""
    from firmware_export.model_flash import arm_flash_bytes

    good = tmp_path / "model_data.cc"
    good.write_text("alignas(16) extern const unsigned char m[1000];\nalignas(16) const unsigned char m[1000] = {1, 2, 3};\n")
    measured = arm_flash_bytes((tmp_path / "model_config.h", good))
    assert measured.flash_bytes == 1000 and measured.not_measured is None  # a 1000-byte const array, no code
    assert measured.size_output.splitlines()[1].split() == ["1000", "0", "0", "1000", "3e8", "model_data.o"]

    broken = tmp_path / "broken" / "model_data.cc"
    broken.parent.mkdir()
    broken.write_text("this is not C\n")
    failed = arm_flash_bytes((broken,))
    assert failed.flash_bytes is None
    # Compiled in its folder: the error names the file, not the (temporary) folder an export writes it in.
    assert failed.not_measured == "compile failed: model_data.cc:1:1: error: expected unqualified-id before 'this'"
    assert not broken.with_suffix(".o").exists()


def test_flash_without_the_toolchain_names_the_missing_tools(tmp_path, monkeypatch):
    import firmware_export.model_flash as model_flash

    monkeypatch.setattr(model_flash.shutil, "which", lambda tool: None if tool == "arm-none-eabi-size" else "/usr/bin/" + tool)
    missing = model_flash.arm_flash_bytes((tmp_path / "model_data.cc",))
    assert missing == model_flash.FlashMeasurement(
        None, not_measured="no arm-none-eabi toolchain (arm-none-eabi-size not found; "
                           "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")


def test_the_c_engine_is_exported_and_benchmarked_beside_tflm(finished):
    """Issue 12: a C compiler here, so the default exports both; export.json, the benchmark and the report
    put the C engine beside TFLite Micro."""
    import numpy as np

    from edgeml.c_runtime import find_compiler
    from edgeml.graph import read_graph

    if find_compiler() is None:
        pytest.skip("no C compiler here: the default is tflm only (test_export_engine_choice covers it)")
    result, _ = finished
    run = result.run_dir
    export = json.loads((run / "firmware/export.json").read_text())
    c_engine = json.loads((run / "firmware/c_engine/export.json").read_text())  # its own record, in its folder
    assert (export["engine"], c_engine["engine"], c_engine["dtype"]) == ("tflm", "c", "int8")
    assert export["symbol"] == c_engine["symbol"] == "digits_mlp"
    assert (run / "firmware/c_engine/digits_mlp_model.c").is_file() and "digits_mlp_model.h" in c_engine["files"]
    assert sorted(c_engine["files"] + ["export.json"]) == sorted(p.name for p in (run / "firmware/c_engine").iterdir())
    graph = read_graph(run / "model_int8.tflite")
    assert (c_engine["input_bytes"], c_engine["output_bytes"]) == (64, 10)
    assert c_engine["static_ram_bytes"] == c_engine["arena_bytes"] + 74
    assert c_engine["ops"] == [op.name for op in graph.ops]
    assert c_engine["parity"]["samples"] == 20 and c_engine["parity"]["runtimes"][0]["differing_vectors"] == 0
    assert c_engine["parity"]["model"] == "model_int8.tflite"
    benchmark = json.loads((run / "benchmark/benchmark.json").read_text())
    rows = {(row["model"], row["runtime"]): row for row in benchmark["rows"] if row["source"] == "host"}
    c_row, tflm_row = rows["model_int8.tflite", "c"], rows["model_int8.tflite", "tflm"]
    assert c_row["accuracy"] == tflm_row["accuracy"] and c_row["static_ram_bytes"] == c_engine["static_ram_bytes"]
    assert c_row["flash_bytes"] == c_engine["flash_bytes"]  # the same sources, linked the same way
    assert [p["model"] for p in benchmark["parity"]] == ["model_int8.tflite"]
    assert benchmark["parity"][0]["runtimes"][0]["differing_vectors"] == 0
    markdown = (run / "report.md").read_text()
    assert "TFLite Micro and edgeml's C engine, side by side:" in markdown
    ram = f"{c_engine['static_ram_bytes']:,} ({c_engine['arena_bytes']:,} + 64 + 10)"
    assert f"| {export['arena_bytes']:,} | {ram} |" in markdown
    assert np.isfinite(c_row["latency_us"]["p50"])


def test_the_int8_model_is_benchmarked_on_the_emulated_cortex_m4(finished):
    """[benchmark] device = ["local", "qemu:cortex-m4"]: the int8 model's qemu row in the same benchmark.json,
    measured when the Arm tools are here, else "not measured" with what to install."""
    result, _ = finished
    benchmark = json.loads((result.run_dir / "benchmark/benchmark.json").read_text())
    float_row, row = [row for row in benchmark["rows"] if row["source"] == "qemu:cortex-m4"]  # issue 15: float32 too
    assert float_row["model"] == "model_float32.tflite"
    row = {"not_measured": None, "instructions": None, "accuracy": None, **row}  # benchmark.json leaves out nulls
    assert (row["model"], row["runtime"], row["device"], row["machine"]) == (
        "model_int8.tflite", "c", "qemu:cortex-m4", "mps2-an386")
    markdown = (result.run_dir / "benchmark/benchmark.md").read_text()
    assert "## Emulated Cortex-M (edgeml's C engine under QEMU)" in markdown
    missing = [tool for tool in QEMU_TOOLS if shutil.which(tool) is None]
    if missing:
        assert row["not_measured"] == (f"{', '.join(missing)} not found (apt-get install gcc-arm-none-eabi "
                                       "libnewlib-arm-none-eabi qemu-system-arm)")
        assert row["instructions"] is None and row["accuracy"] is None
        assert f"| model_int8.tflite | not measured: {row['not_measured']} |" in markdown
        return
    assert row["not_measured"] is None
    # All 100 benchmark samples fit the board, so the accuracy is TFLite Micro's on the host's same samples.
    host_tflm = next(r for r in benchmark["rows"] if r["source"] == "host" and r["runtime"] == "tflm"
                     and r["model"] == "model_int8.tflite")
    assert row["samples"] == 100 and row["accuracy"] == host_tflm["accuracy"]
    assert row["agreement_with_host_c"] == row["agreement_with_tflm"] == 1.0
    per_op = row["instructions"]["per_op"]
    assert [op["macs"] for op in per_op if op["macs"]] == [64 * 32, 32 * 16, 16 * 10]  # hidden = [32, 16]
    assert abs(sum(op["instructions"] for op in per_op) - row["instructions"]["per_inference"]) <= len(per_op) * 120
    flash, ram = row["flash"], row["ram"]
    assert flash["total_bytes"] == sum(flash[f"{part}_bytes"] for part in ("engine", "model", "harness", "samples"))
    assert flash["samples_bytes"] == 100 * 64 + 4  # 8x8 int8 inputs and their count
    assert ram["total_bytes"] == ram["data_bytes"] + ram["bss_bytes"] + ram["stack_peak_bytes"]
    assert (f"| qemu:cortex-m4 | mps2-an386 | model_int8.tflite | 100 | {row['accuracy']:.4f} | 100%, 100% | "
            f"{row['instructions']['per_inference']:,.0f} | {flash['total_bytes']:,} | {ram['total_bytes']:,} |") in markdown


def test_export_engine_choice(tmp_path, monkeypatch, capsys):
    from edgeml.pipeline import ExportOptions

    assert ExportOptions(engine="c").engines() == ("c",) and ExportOptions(engine="both").engines() == ("tflm", "c")
    with pytest.raises(EdgeMLError, match=r"\[export\] engine = 'C': choose 'tflm', 'c', 'both'"):
        ExportOptions(engine="C")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ExportOptions().engines() == ("tflm",)
    assert capsys.readouterr().out.startswith("note: no C compiler found ($CC, gcc, clang or cc): exporting for "
                                              "TFLite Micro only")
