"""The import graph of edgeml and firmware_export, read from the source with ast: every ``import`` and
``from ... import`` at module level and inside functions (a function-level import is still a dependency,
it only runs later). It must hold the documented layering:

    cli  ->  pipeline, report  ->  stages (train, quantize, evaluate, predict, benchmark, firmware_export)
    ->  benchmark targets (targets.registry -> targets.local, targets.ssh -> device -> bundle,
    targets.qemu -> qemu_target)  ->  runtimes (runtime registry, bench_runner, c_runtime)  ->  firmware_export
    ->  lower layers (errors, artifacts, graph, tflite_model, tflm_ops, interpreter, data, rundir, targets.base,
    targets.model_set, targets.results)

``firmware_export`` uses edgeml's lower layers (the interpreters of ``edgeml.interpreter``, not the registry's
adapters, whose ``c`` runtime is built on ``firmware_export.cengine``), never benchmark, pipeline, report,
device, bundle or cli, not even through another module. Import cycles are listed below exactly as they
are today, each with the change that breaks it: a new cycle fails, and so does a broken one until it is
taken off the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edgeml", "firmware_export")

# What firmware_export may import from edgeml: the lower layers.
FIRMWARE_EXPORT_MAY_USE = frozenset({
    "edgeml", "edgeml.errors", "edgeml.artifacts", "edgeml.graph", "edgeml.tflite_model", "edgeml.data",
    "edgeml.rundir", "edgeml.interpreter", "edgeml.tflm_ops", "edgeml.artifact_json", "edgeml.measurement",
})
# The upper layers: nothing in firmware_export or in edgeml's lower layers reaches them.
UPPER = frozenset({
    "edgeml.benchmark", "edgeml.pipeline", "edgeml.report", "edgeml.device", "edgeml.bundle", "edgeml.cli",
})
# Every import cycle today (strongly connected components of the import graph), with the change that
# breaks it. (Broken: benchmark -> device -> bundle -> benchmark by edgeml.targets; runtime <-> bench_runner
# by edgeml.keras_model; runtime -> c_runtime -> firmware_export -> runtime by edgeml.interpreter (the
# interpreters below the registry), firmware_export.cengine.build (the engine's build, below c_runtime),
# firmware_export.source (the export's source rules, below export and the C engine's generator) and host's
# own templates folder; lookup <-> lower by cengine.fixed_point.) None is left: a new one fails.
KNOWN_CYCLES = {
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """``{module: modules it imports}`` among the modules of ``packages`` under ``root``, every import
    statement anywhere in the file (module level, functions, classes), relative ones resolved."""
    files = {module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from package import module`` imports the module; ``from module import name`` the module.
                targets += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
        graph[name] = {target for target in map(known, targets) if target and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = lowlink[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    lowlink[work[-1][0]] = min(lowlink[work[-1][0]], lowlink[node])
                if lowlink[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.add(frozenset(component))
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO_ROOT, PACKAGES)


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import pkg.b\n")
    (package / "b.py").write_text("def later():\n    from pkg.sub import c\n")
    (package / "sub" / "__init__.py").write_text("from .c import thing\n")
    (package / "sub" / "c.py").write_text("class K:\n    def m(self):\n        from ..a import x\n\nimport os\n")
    (package / "d.py").write_text("from . import a\nfrom pkg.sub.c import K\n")
    found = import_graph(tmp_path, ("pkg",))
    assert found == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"}, "pkg.sub": {"pkg.sub.c"},
                     "pkg.sub.c": {"pkg.a"}, "pkg.d": {"pkg.a", "pkg.sub.c"}}
    assert cycles(found) == {frozenset({"pkg.a", "pkg.b", "pkg.sub.c"})}
    assert reachable(found, "pkg.d") == {"pkg.a", "pkg.b", "pkg.sub.c"}


def test_import_cycles_are_exactly_the_known_ones(graph):
    found = cycles(graph)
    new = [sorted(cycle) for cycle in found - KNOWN_CYCLES.keys()]
    gone = [sorted(cycle) for cycle in KNOWN_CYCLES.keys() - found]
    assert not new, f"new import cycles: {new}"
    assert not gone, f"these cycles are broken (or changed): take them off KNOWN_CYCLES: {gone}"


def test_firmware_export_uses_only_edgemls_lower_layers(graph):
    used = {(module, target) for module, targets in graph.items() if module.startswith("firmware_export")
            for target in targets if target.split(".")[0] == "edgeml"}
    outside = {edge for edge in used if edge[1] not in FIRMWARE_EXPORT_MAY_USE}
    assert not outside
    for module in graph:
        if module.startswith("firmware_export"):
            assert not reachable(graph, module) & UPPER, f"{module} reaches {sorted(reachable(graph, module) & UPPER)}"


@pytest.mark.parametrize("lower", sorted(FIRMWARE_EXPORT_MAY_USE))
def test_lower_layers_never_reach_the_upper_ones(graph, lower):
    assert lower in graph
    assert not reachable(graph, lower) & UPPER


# The targets' own lower modules: what benchmark, bundle, device and every target read.
TARGETS_LOWER = ("edgeml.targets", "edgeml.targets.base", "edgeml.targets.model_set", "edgeml.targets.results")


@pytest.mark.parametrize("lower", TARGETS_LOWER)
def test_the_targets_lower_modules_reach_no_target_and_no_stage(graph, lower):
    assert lower in graph
    reached = reachable(graph, lower)
    assert not reached & (UPPER | {"edgeml.targets.registry", "edgeml.targets.local", "edgeml.targets.ssh",
                                   "edgeml.targets.qemu", "edgeml.qemu_target"})


def test_only_the_benchmark_picks_targets_and_nothing_below_it_reaches_it(graph):
    importers = {module for module, targets in graph.items() if "edgeml.targets.registry" in targets}
    assert importers == {"edgeml.benchmark"}
    for module in ("edgeml.device", "edgeml.bundle", "edgeml.pi_runner", "edgeml.qemu_target", "edgeml.targets.local",
                   "edgeml.targets.ssh", "edgeml.targets.qemu"):
        assert "edgeml.benchmark" not in reachable(graph, module), module


def test_nothing_imports_the_cli_and_only_the_cli_imports_the_pipeline(graph):
    importers = {target: {module for module, targets in graph.items() if target in targets}
                 for target in ("edgeml.cli", "edgeml.pipeline")}
    assert importers == {"edgeml.cli": set(), "edgeml.pipeline": {"edgeml.cli"}}
