"""The package's layering, checked on the source with ``ast`` (nothing is imported; milliseconds).

Every import counts, at module level or inside a function (a function-local import hides a
cycle, it does not remove it). A *unit* is a subpackage or a top-level module of ``monai_ccnet``
(``"monai_ccnet"``: the package's own ``__init__``). docs/architecture.md draws the same rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monai_ccnet"

#: the units below the applications; each may import only what its entry lists (bottom-up)
LIBRARY = {
    "utils": set(),
    "errors": set(),
    "network_options": set(),
    "bundled": set(),
    "accounting": {"network_options", "errors", "utils"},
    "data": {"errors", "utils"},
    "complexity": {"accounting", "errors", "utils"},
    "nets": {"accounting", "network_options", "errors", "utils"},
    "planning": {"complexity", "accounting", "network_options", "errors", "utils"},
}
#: unit -> the units it may import: the libraries above, then the package (registers the networks
#: and transforms with MONAI), the workflows (bundle runs, held-out checks), the command lines
ALLOWED = {
    **LIBRARY,
    "monai_ccnet": set(LIBRARY),
    "workflows": set(LIBRARY) | {"monai_ccnet"},
    "cli": set(LIBRARY) | {"monai_ccnet", "workflows"},
    "__main__": {"monai_ccnet", "cli", "workflows"},
}
#: inside ``workflows/``, the modules every run builds on (one job each) and which of them each may
#: import; the jobs above them (calibrate, compress, probe, export, ...) may import any of these
WORKFLOW_BASE = {
    "distributed": set(),  # torchrun rank / node context, RankBarrier
    "recipe": set(),  # the recipe: knobs, transforms, loss, metrics
    "inputs": set(),  # data, complexity cache, the network to train
    "runtime": {"distributed", "recipe"},  # device, threads, bf16 autocast
    "training": {"recipe", "runtime"},  # the engines, evaluation, the shared cache
}
#: arrows that break the layering today, each with its reason; test_known_back_arrows_are_gone
#: xfails (strictly) while one is left, so whoever removes it also removes its entry here
KNOWN_BACK_ARROWS = {
    ("planning", "nets"): (
        "planning/network_plan.py reads a MONAI network_def with nets.network_def (a function-local import, "
        "torch only with plan --network-def): it composes the planner with nets' architecture registry and "
        "belongs above both"
    ),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _imports(name: str, path: Path, is_package: bool) -> list[tuple[str, int]]:
    """``(module of monai_ccnet it imports, line)`` for every import in ``path``, at any depth."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                found.append((f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module, node.lineno))
    return [(target, line) for target, line in found if target == "monai_ccnet" or target.startswith("monai_ccnet.")]


def _unit(module: str) -> str:
    return module.split(".")[1] if "." in module else module


#: (importing module, imported module, line), every import inside the package
EDGES = [(name, target, line) for name, (path, is_package) in MODULES.items()
         for target, line in _imports(name, path, is_package)]


def _unit_arrows() -> dict[tuple[str, str], list[str]]:
    arrows: dict[tuple[str, str], list[str]] = {}
    for source, target, line in EDGES:
        if _unit(source) != _unit(target):
            arrows.setdefault((_unit(source), _unit(target)), []).append(f"{MODULES[source][0].relative_to(PACKAGE.parent)}:{line}")
    return arrows


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for child in sorted(graph.get(node, ())):
            cycle = visit(child, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_every_module_has_a_place_in_the_layering():
    units = {_unit(name) for name in MODULES}
    assert units <= set(ALLOWED), f"new unit(s) {sorted(units - set(ALLOWED))}: add them to ALLOWED (and docs/architecture.md)"
    assert len(EDGES) > 100  # the parser sees the imports (a silent parser would pass every rule)


def test_imports_follow_the_layering():
    wrong = {arrow: where for arrow, where in _unit_arrows().items()
             if arrow[1] not in ALLOWED[arrow[0]] and arrow not in KNOWN_BACK_ARROWS}
    assert not wrong, "imports against the layering (unit -> unit: where):\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(where)}" for (a, b), where in sorted(wrong.items()))


def test_only_the_command_line_imports_workflows():
    importers = {a for (a, b) in _unit_arrows() if b == "workflows"}
    assert importers <= {"cli", "__main__"}, importers


def test_workflow_base_modules_import_only_those_below():
    wrong = []
    for source, target, line in EDGES:
        parts, into = source.split("."), target.split(".")
        if parts[:2] == into[:2] == ["monai_ccnet", "workflows"] and len(parts) == 3 and parts[2] in WORKFLOW_BASE:
            if len(into) != 3 or into[2] not in WORKFLOW_BASE[parts[2]]:
                wrong.append(f"{source} -> {target} (line {line})")
    assert not wrong, "workflows/ base modules import above their place (docs/architecture.md):\n  " + "\n  ".join(wrong)
    assert all(f"monai_ccnet.workflows.{name}" in MODULES for name in WORKFLOW_BASE)


def test_no_cycles_between_units():
    graph: dict[str, set[str]] = {}
    for a, b in _unit_arrows():
        graph.setdefault(a, set()).add(b)
    assert _cycle(graph) is None, f"import cycle between units: {' -> '.join(_cycle(graph))}"
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]  # the check itself


def test_no_cycles_between_modules():
    # a package's __init__ gathers its modules' names, and modules may take names from it: leave
    # the __init__s out, every other cycle counts (function-local imports included)
    graph: dict[str, set[str]] = {}
    for source, target, _ in EDGES:
        if source != target and not MODULES[source][1] and not MODULES[target][1]:
            graph.setdefault(source, set()).add(target)
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_commands_live_in_the_cli_package():
    tree = ast.parse((PACKAGE / "__main__.py").read_text())
    commands = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMMANDS")
    modules = {name: module for name, (module, _) in commands.items()}
    assert all(module in MODULES for module in modules.values()), modules
    assert all(m.startswith("monai_ccnet.cli.") for m in modules.values()), modules
    assert {"complexity", "plan", "lodo", "bundle", "heldout"} <= set(modules)


@pytest.mark.xfail(strict=True, reason="; ".join(f"{a} -> {b}: {why}" for (a, b), why in KNOWN_BACK_ARROWS.items()))
def test_known_back_arrows_are_gone():
    arrows = _unit_arrows()
    assert not [arrow for arrow in KNOWN_BACK_ARROWS if arrow in arrows]
