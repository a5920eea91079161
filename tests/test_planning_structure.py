"""How the planning package is put together: no import cycles, no pyplot in library plots."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import monai_ccnet.planning as planning

PACKAGE = Path(planning.__file__).parent


def _local_imports(path: Path) -> set[str]:
    """Sibling modules of ``planning`` that ``path`` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module] if node.module else [a.name for a in node.names])
    return names & {p.stem for p in PACKAGE.glob("*.py")}


def test_planning_modules_import_each_other_without_cycles():
    graph = {p.stem: _local_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert "planner" not in graph["degradation"] and "predict" not in graph["degradation"]
    done: set[str] = set()

    def visit(module: str, path: tuple):
        assert module not in path, f"import cycle: {' -> '.join(path + (module,))}"
        if module not in done:
            for child in graph.get(module, ()):
                visit(child, path + (module,))
            done.add(module)

    for module in graph:
        visit(module, ())


def test_public_api_is_unchanged():
    # the split kept every earlier name; prediction_caveat was added with the held-out checks
    assert set(planning.__all__) == {
        "equations", "SCHEMA_VERSION", "DegradationModel", "fit_degradation", "list_presets", "load_degradation",
        "rank_measures", "PARETO_MULTIPLIERS", "CompressionPlan", "complexity_from_report", "pareto_table",
        "plot_pareto", "plan_compression", "predict_accuracy", "predict_relative_accuracy", "stage_slopes",
        "prediction_caveat",
    }
    assert all(hasattr(planning, name) for name in planning.__all__)


def test_library_plots_leave_pyplot_alone(tmp_path):
    """plot_pareto and ComplexityReport.plot draw on their own canvas: the user's backend stays."""
    code = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "from monai_ccnet.planning import pareto_table, plot_pareto\n"
        "from monai_ccnet.complexity import ComplexityReport\n"
        "rows = pareto_table('unet', [0.15, 0.09, 0.07], 'unet-f1-paper', widths=(8, 16, 32), multipliers=(1, 0.5))\n"
        f"assert plot_pareto(rows, {str(tmp_path / 'pareto.png')!r}).is_file()\n"
        "report = ComplexityReport({'scales': 2}, {'jpeg': {'mean': [0.2, 0.1], 'std': [0.01, 0.01]}})\n"
        f"report.plot({str(tmp_path / 'complexity.png')!r})\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("pareto.png", "complexity.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
