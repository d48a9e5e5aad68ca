"""The README says what the code does: every `edgeml …` example parses with the real command line, the
defaults it states are the code's, and every table of numbers names the benchmarks/ script behind it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeml.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
# A table cell that is a measurement: a number, maybe signed, then nothing, a unit or a parenthesis.
MEASURED_NUMBER = re.compile(r"^[−+-]?\d[\d,]*(\.\d+)?( ?(B|µs|s|%|×|pp))?( \(|$)")


def readme_commands() -> list[str]:
    """``edgeml …`` commands in the README: each line of a ```bash block that runs edgeml (continuations
    joined, comments and environment assignments dropped), and each inline `edgeml COMMAND ARG…` span outside
    headings (no ``...`` placeholder)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = [word for word in shlex.split(line, comments=True) if word != "&"]
            while words and ENV_ASSIGNMENT.match(words[0]):
                words.pop(0)
            if words and words[0].endswith("edgeml"):
                commands.append(shlex.join(words))
    for line in README.splitlines():
        if line.startswith("#"):
            continue
        for span in re.findall(r"`((?:\.venv/bin/)?edgeml [^`]+)`", line):
            if "..." not in span and len(span.split()) >= 3:  # a command with options, not a command's name
                commands.append(span)
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_the_examples_it_should():
    # A guard against the extraction silently finding nothing: these are in the README today.
    assert "edgeml quantize runs/cnn --method ptq --calibration-samples 500 --float16 --dynamic-range" in COMMANDS
    assert "edgeml train --dataset digits --strategy multiworker --out runs/mw" in COMMANDS
    assert ".venv/bin/edgeml pipeline --dataset mnist" in COMMANDS
    assert len(COMMANDS) >= 12


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_example_parses(command, monkeypatch):
    """Each example reaches its command's callback with parsed options (the callback itself is replaced)."""
    words = shlex.split(command)[1:]
    name = next(word for word in words if not word.startswith("-"))
    called: list[dict] = []
    monkeypatch.setattr(cli.commands[name], "callback", lambda *args, **kwargs: called.append(kwargs))
    result = CliRunner().invoke(cli, words)
    assert result.exit_code == 0, f"{command}: {result.output}"
    assert len(called) == 1


def test_benchmark_runtimes_default_is_what_the_readme_says(monkeypatch):
    from edgeml.benchmark import BenchmarkOptions
    from edgeml.errors import EdgeMLError

    assert "default\n`all`: every runtime installed here" in README
    configs: list = []

    def record(config):
        configs.append(config)
        raise EdgeMLError("recorded")

    monkeypatch.setattr("edgeml.benchmark.run_benchmark", record)
    CliRunner().invoke(cli, ["benchmark", "runs/x"])
    assert configs[0].runtimes == ("all",) == BenchmarkOptions().runtimes


def test_pipeline_tables_take_the_options_the_readme_says():
    from edgeml.benchmark import BenchmarkOptions
    from edgeml.pipeline import EvaluateOptions

    assert "`[evaluate]` takes\n`test_samples` and `batch_size`" in README
    assert [field for field in EvaluateOptions.__dataclass_fields__] == ["test_samples", "batch_size"]
    for device_option in ("device", "identity", "imports"):
        assert f"`{device_option}`" in README and device_option in BenchmarkOptions.__dataclass_fields__


def test_the_demo_duration_is_stated_the_same_way_everywhere():
    example = (ROOT / "examples" / "fashion_mnist.toml").read_text(encoding="utf-8")
    in_readme = re.findall(r"([\w-]+(?: [\w-]+)*) of compute on 2 cores", README)
    in_example = re.findall(r"([\w-]+(?: [\w-]+)*) of compute on 2 cores", " ".join(example.replace("#", " ").split()))
    assert in_readme and {d.lower() for d in in_readme} == {d.lower() for d in in_example}


def number_tables() -> list[tuple[str, str]]:
    """(text before the table since the previous table or heading, table) for every README table with digits
    in its body."""
    tables = []
    context: list[str] = []
    lines = README.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("|"):
            table = []
            while index < len(lines) and lines[index].startswith("|"):
                table.append(lines[index])
                index += 1
            cells = [cell.strip(" *") for row in table[2:] for cell in row.strip("|").split("|")]
            if any(MEASURED_NUMBER.match(cell) for cell in cells):
                tables.append(("\n".join(context), "\n".join(table)))
            context = []
            continue
        context = [] if lines[index].startswith("#") else [*context, lines[index]]
        index += 1
    return tables


def test_every_number_table_names_the_script_that_produced_it():
    tables = number_tables()
    assert len(tables) >= 4  # training, quantization, host comparison, firmware
    for context, table in tables:
        scripts = re.findall(r"benchmarks/[\w./-]+\.py", context)
        assert scripts, f"no benchmarks/ script named before the table:\n{table[:200]}"
        for script in scripts:
            assert (ROOT / script).is_file(), script


def readme_block(language: str, first_line: str) -> str:
    """The README's fenced ``language`` block whose first line is ``first_line``."""
    blocks = [block for block in re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)
              if block.splitlines()[0] == first_line]
    assert len(blocks) == 1, f"no single ```{language} block starting {first_line!r}"
    return blocks[0]


def test_the_readme_makefile_builds_the_exported_c_engine(tiny_run, tmp_path, monkeypatch):
    """Issue 12: the plain-Makefile recipe, exactly as the README prints it, builds the exported engine with
    gcc, and the program prints the tflite-micro interpreter's outputs."""
    import shutil
    import subprocess

    import numpy as np

    from edgeml.data import load_dataset
    from edgeml.runtime import open_model, raw_outputs

    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to build the README's Makefile")
    monkeypatch.setenv("EDGEML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = shutil.copytree(tiny_run, tmp_path / "mlp")  # conftest's PTQ-quantized digits MLP, shared
    project = tmp_path / "project"
    project.mkdir()
    command = "edgeml export runs/mlp --engine c --name model --out model_c"
    assert f"`{command}`" in README
    words = shlex.split(command)[1:]
    words[words.index("runs/mlp")], words[-1] = str(run_dir), str(project / "model_c")
    result = CliRunner().invoke(cli, words)
    assert result.exit_code == 0, result.output
    (project / "main.c").write_text(readme_block("c", "/* main.c */"))
    (project / "Makefile").write_text(readme_block("make", "# Makefile: `make` builds ./classify from main.c and "
                                                           "the exported engine in model_c/"))
    built = subprocess.run(["make", "CC=gcc", "CFLAGS=-std=c99 -O2 -Wall -Wextra -Werror"], cwd=project,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    micro = open_model(run_dir / "model_int8.tflite", "tflm")
    samples = micro.input_quantization.quantize(load_dataset("digits", test_samples=20).test_inputs())
    expected = raw_outputs(micro, samples).reshape(len(samples), -1)
    for sample, outputs in zip(samples, expected):
        ran = subprocess.run([str(project / "classify")], input=sample.astype(np.int8).tobytes(), capture_output=True)
        assert ran.returncode == 0, ran.stderr
        assert [int(v) for v in ran.stdout.split()] == outputs.tolist()


def test_the_c_engine_claims_match_the_code():
    from edgeml.c_runtime import COMPILERS, INSTALL_COMPILER
    from edgeml.pipeline import EXPORT_ENGINES, ExportOptions
    from edgeml.rundir import C_ENGINE_DIR
    from edgeml.runtime import RUNTIMES

    assert "c" in RUNTIMES and "`c` (edgeml's\nC engine built with this machine's C compiler" in README
    assert "(`$CC`, else gcc, clang or cc; `-O2`)" in README and COMPILERS == ("gcc", "clang", "cc")
    assert "($CC, gcc, clang or cc)" in INSTALL_COMPILER
    assert "`[export] engine = \"tflm\" | \"c\" | \"both\"`" in README and EXPORT_ENGINES == ("tflm", "c", "both")
    assert ExportOptions().engine is None and "unset, it is `both` when a C compiler is found" in README
    assert f"`firmware/{C_ENGINE_DIR}/`" in README
    assert "`~/.cache/edgeml/cengine` (`$EDGEML_CACHE_DIR` moves it)" in README


def test_the_mutation_table_covers_every_mutated_module_and_adds_up(monkeypatch):
    """docs/MUTATION.md's result table: one row per module benchmarks/mutation_survivors.py mutates, complete
    (mutants = killed + survived + untested) and with the share its own columns give."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("mutation_survivors", ROOT / "benchmarks" / "mutation_survivors.py")
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclasses look their module up
    spec.loader.exec_module(script)
    section = (ROOT / "docs" / "MUTATION.md").read_text(encoding="utf-8").split("\n## Result\n", 1)[1]
    table = re.search(r"\n(\|.*\|\n)+", section).group(0).strip().splitlines()
    assert table[0].startswith("| module | mutants | killed | survived | no fast test reaches it | surviving (of tested) |")
    modules = []
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        module = re.match(r"`([\w/.]+)`", cells[0]).group(1)
        mutants, killed, survived, untested = (int(cell) for cell in cells[1:5])
        assert mutants == killed + survived + untested, line
        assert cells[5] == f"{survived / (killed + survived):.1%}", line
        assert f"`mutation_survivors.py --module {module}`" in cells, line
        modules.append(module)
    assert sorted(modules) == sorted(script.MODULES)
