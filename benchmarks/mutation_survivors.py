"""Mutation testing of edgeml's TensorFlow-free modules: the share of surviving mutants per module.

Each module is mutated by mutmut (https://github.com/boxed/mutmut, 3.x) in a scratch copy of this
repository's tracked files, against the fast tests listed for it in MODULES (no TensorFlow training or
conversion: two cores cannot afford that per mutant). A mutant "survives" when every selected test still
passes; "no tests" means no selected test reaches the mutated function (those functions run TensorFlow
or a runtime and are guarded by the slower tests instead). Survivors are either killed by a test or
listed in docs/MUTATION.md with why they are equivalent.

Time budget: one core (mutmut --max-children 1), at most --budget-minutes per module (default 15); the
whole table took 18 minutes on the shared 2-core development machine under load (Dec 2026), no module over
4 minutes. A module that runs out of time is reported as such, never as a share.

    pip install -e '.[dev,mutation]'
    python benchmarks/mutation_survivors.py                  # every module, Markdown table on stdout
    python benchmarks/mutation_survivors.py --module edgeml/history.py --survivors
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# module -> the fast test files that guard it (all TensorFlow-free or TensorFlow-light).
MODULES: dict[str, tuple[str, ...]] = {
    "edgeml/history.py": ("tests/test_mutation_kills_history.py",),
    "firmware_export/arena.py": ("tests/test_mutation_kills_arena.py",),
    "firmware_export/parity.py": ("tests/test_mutation_kills_parity.py",),
    "firmware_export/cengine/plan.py": ("tests/test_mutation_kills_plan.py",),
    "firmware_export/cengine/lower.py": ("tests/test_mutation_kills_lower.py",),
    "edgeml/benchmark.py": ("tests/test_mutation_kills_benchmark.py",),
    "edgeml/bench_runner.py": ("tests/test_mutation_kills_benchmark.py", "tests/test_mutation_kills_bench_runner.py"),
    "edgeml/graph.py": ("tests/test_mutation_kills_graph.py",),
    "edgeml/predict.py": ("tests/test_mutation_kills_predict.py",),
    "edgeml/data.py": ("tests/test_mutation_kills_data.py",),
}
# Modules mutated only in part: the functions (mutmut's mutant names, fnmatch patterns; a method is
# ``xǁClassǁmethod``) that the goal is about. The rest of data.py finds, downloads and decodes datasets.
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "edgeml/data.py": ("edgeml.data.xǁNormalizationǁ*", "edgeml.data.x_parse_normalize__mutmut_*",
                       "edgeml.data.x_choose_normalization__mutmut_*"),
}

# mutmut's exit codes (mutmut/stats.py @ 3.8.1) folded into the columns of the table.
KILLED_CODES = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}  # test failure, timeout, crash: all detected
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


@dataclass(frozen=True)
class ModuleResult:
    module: str
    mutants: int
    killed: int
    survived: int
    no_tests: int
    not_checked: int
    seconds: float
    survivors: tuple[str, ...]
    timed_out: bool
    diffs: str = ""  # `mutmut show` of every survivor, when asked for

    @property
    def tested(self) -> int:
        return self.killed + self.survived

    def survived_share(self) -> str:
        if self.timed_out or self.not_checked:
            return f"incomplete: {self.not_checked} not checked within the budget"
        if not self.tested:
            return "no mutant reached by a test"
        return f"{self.survived / self.tested:.1%}"


def scratch_copy(destination: Path, module: str, tests: tuple[str, ...]) -> None:
    """The repository's tracked files (plus the listed tests, tracked or not) with a [tool.mutmut] section."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in [*tracked.decode().split("\0"), *tests]:
        source = REPO / name
        if name and source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    settings = {
        "source_paths": ["edgeml", "firmware_export"],
        "only_mutate": [module],
        "pytest_add_cli_args_test_selection": list(tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
    }
    lines = ["", "[tool.mutmut]", *(f"{key} = {json.dumps(value)}" for key, value in settings.items())]
    with open(destination / "pyproject.toml", "a", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")


def mutate(module: str, tests: tuple[str, ...], budget_seconds: float, show_survivors: bool,
           functions: tuple[str, ...] = ()) -> ModuleResult:
    """Mutate ``module`` (only the mutants matching ``functions`` when given) against ``tests``."""
    work = Path(tempfile.mkdtemp(prefix="edgeml-mutation-"))
    try:
        scratch_copy(work, module, tests)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        if os.environ.get("MUTMUT_PATH"):  # a mutmut installed apart from the venv (pip --target)
            env["PYTHONPATH"] = os.environ["MUTMUT_PATH"]
        started = time.monotonic()
        timed_out = False
        try:
            subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", *functions], cwd=work, env=env,
                           timeout=budget_seconds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            timed_out = True
        seconds = time.monotonic() - started
        meta = work / "mutants" / f"{module}.meta"
        if not meta.exists():
            raise SystemExit(f"error: mutmut produced no results for {module}; run it by hand in a copy to see why")
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        if functions:
            exit_codes = {key: code for key, code in exit_codes.items()
                          if any(fnmatch.fnmatch(key, pattern) for pattern in functions)}
        if not timed_out and all(code is None for code in exit_codes.values()):
            raise SystemExit(f"error: no mutant of {module} was run: the tests fail unmutated in mutmut's copy "
                             f"(run `mutmut run` in a copy to see which)")
        survivors = tuple(sorted(name for name, code in exit_codes.items() if code in SURVIVED_CODES))
        diffs = ""
        if show_survivors:
            diffs = "\n".join(subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env,
                                             capture_output=True, text=True).stdout for name in survivors)
        return ModuleResult(
            module=module,
            mutants=len(exit_codes),
            killed=sum(code in KILLED_CODES for code in exit_codes.values()),
            survived=sum(code in SURVIVED_CODES for code in exit_codes.values()),
            no_tests=sum(code in NO_TESTS_CODES for code in exit_codes.values()),
            not_checked=sum(code is None for code in exit_codes.values()),
            seconds=seconds,
            survivors=survivors,
            timed_out=timed_out,
            diffs=diffs,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(results: list[ModuleResult], budget_minutes: float, measured: str) -> str:
    """The Markdown table of docs/MUTATION.md: one row per module, with the budget, the date and the command."""
    rows = ["| module | mutants | killed | survived | no fast test reaches it | surviving (of tested) | seconds | "
            "budget | measured | command |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for result in results:
        part = " (normalisation only)" if result.module in FUNCTIONS else ""
        rows.append(f"| `{result.module}`{part} | {result.mutants} | {result.killed} | {result.survived} | "
                    f"{result.no_tests} | {result.survived_share()} | {result.seconds:.0f} | {budget_minutes:g} min | "
                    f"{measured} | `mutation_survivors.py --module {result.module}` |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES),
                        help="mutate only this module (repeatable); default: all")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="wall-clock limit per module")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    modules = args.module or sorted(MODULES)
    started = time.time()
    results = []
    for module in modules:
        result = mutate(module, MODULES[module], args.budget_minutes * 60, args.survivors, FUNCTIONS.get(module, ()))
        print(f"{module}: {result.killed} killed, {result.survived} survived, {result.no_tests} no tests "
              f"({result.seconds:.0f} s)", file=sys.stderr)
        results.append(result)
    print(table(results, args.budget_minutes, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))))
    for result in results:
        if result.diffs:
            print(f"\n## Survivors in {result.module}\n\n```diff\n{result.diffs}```")
    if args.json:
        args.json.write_text(json.dumps([{**result.__dict__, "survivors": list(result.survivors)}
                                         for result in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
