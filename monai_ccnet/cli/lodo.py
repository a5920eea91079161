"""``python -m monai_ccnet lodo``: does a calibration predict datasets it never saw?

Leave-one-dataset-out over a calibration's run records (``calibrate``'s ``runs/*.json``) for
one complexity variant, plus a ranking of every variant and measure found in a folder of
complexity reports (``<reports>/<variant>/<dataset>.json``, written by ``python -m monai_ccnet
complexity``): the paper's Fig. 2 question asked of held-out prediction.

Writes ``--output`` (``{"metric", "datasets", "models": {name: {"mae", "per_dataset"}},
"default"}``), ``<stem>_details.json`` beside it (intervals' coverage, every prediction, failed
runs, per-dataset knees and slopes, the variant ranking) and, with matplotlib, PNG plots.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ..complexity.equations import FOREGROUND_KEY, JPEG_KEY, jb_complexity
from ..complexity.report import read_complexity_report
from ..planning.degradation import load_degradation
from ..planning.forms import curve_points, robust_curves
from ..planning.lodo import LODO_MODELS, leave_one_dataset_out, per_dataset_fits
from ..utils import atomic_write_json, optional_import, read_json, save_figure

#: measures ranked besides J (jb: w = 0.5, a fixed weight so no fit sees the held-out dataset)
RANKED_MEASURES = ("jpeg", "jb", "foreground", "signal_energy", "edge", "keypoints", "boundary_density",
                   "components", "thickness")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", required=True,
                        help="calibration run records: a calibrate output's runs/ folder or its records.json")
    parser.add_argument("--complexity-reports", required=True,
                        help="folder of <variant>/<dataset>.json complexity reports (python -m monai_ccnet complexity)")
    parser.add_argument("--variant", default="native_raw_keep", help="the variant the main result uses; default native_raw_keep")
    parser.add_argument("--measure", default="jpeg", help="the measure the main result uses; default jpeg (J, Eq. 1)")
    parser.add_argument("--metric", default="f1", choices=("f1", "iou"), help="accuracy metric; default f1")
    parser.add_argument("--paper", default="unet-f1-paper", help="preset whose (lambda, delta) is the 'paper' model")
    parser.add_argument("--level", type=float, default=0.9, help="interval level checked for coverage; default 0.9")
    parser.add_argument("--bootstrap", type=int, default=200, help="refits per fold for the intervals; default 200")
    parser.add_argument("--output", default="lodo.json", help="main result JSON; default lodo.json")
    parser.add_argument("--plots", action="store_true", help="PNG plots beside the output (needs matplotlib)")


def load_records(path: str | Path) -> list[dict]:
    """Run records from a ``runs/`` folder (one JSON each) or a ``records.json`` list."""
    path = Path(path)
    if path.is_dir():
        records = [read_json(p, "calibration run record") for p in sorted(path.glob("*.json"))]
    else:
        records = read_json(path, "calibration records")
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}: no calibration run records found.")
    return [{k: v for k, v in r.items() if k != "config"} for r in records]


def complexity_table(folder: str | Path, datasets: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{variant: {measure: {dataset: value at the input scale}}}`` from ``<folder>/<variant>/<dataset>.json``."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for variant_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        reports = {}
        for name in datasets:
            report_path = variant_dir / f"{name}.json"
            if report_path.is_file():
                reports[name] = read_complexity_report(report_path)[0]["measures"]
        if len(reports) != len(datasets):
            continue  # a variant must cover every calibration dataset
        measures: dict[str, dict[str, float]] = {}
        common = set.intersection(*(set(r) for r in reports.values()))
        for measure in common:
            measures[measure] = {n: float(r[measure]["mean"][0]) for n, r in reports.items()}
        if {JPEG_KEY, FOREGROUND_KEY} <= common:  # JB with the fixed w = 0.5 (RANKED_MEASURES)
            measures["jb"] = {n: jb_complexity(measures[JPEG_KEY][n], measures[FOREGROUND_KEY][n], 0.5) for n in datasets}
        table[variant_dir.name] = measures
    if not table:
        raise ValueError(f"{folder}: no variant folder holds complexity reports for every dataset {datasets}.")
    return table


def _spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic) if len(set(a)) > 1 and len(set(b)) > 1 else math.nan


def run(args: argparse.Namespace) -> int:
    records = load_records(args.records)
    datasets = sorted({r["dataset"] for r in records})
    table = complexity_table(args.complexity_reports, datasets)
    if args.variant not in table or args.measure not in table[args.variant]:
        raise SystemExit(f"lodo: no {args.measure!r} in variant {args.variant!r}; have "
                         f"{ {v: sorted(m) for v, m in table.items()} }")
    paper = load_degradation(args.paper).params
    main = leave_one_dataset_out(records, table[args.variant][args.measure], args.metric, paper=paper,
                                 level=args.level, bootstrap=args.bootstrap)
    ranking = []
    for variant, measures in sorted(table.items()):
        for measure in RANKED_MEASURES:
            if measure not in measures:
                continue
            if len(set(measures[measure].values())) < 2:
                continue  # one value for every dataset: nothing to fit
            try:
                lodo = leave_one_dataset_out(records, measures[measure], args.metric, models=("linear", "saturating"),
                                             bootstrap=0)
            except ValueError as err:  # a fold whose training datasets share one complexity
                ranking.append({"variant": variant, "measure": measure, "error": str(err)})
                continue
            fits = per_dataset_fits(_points(records, measures[measure], args.metric))
            c = [f["complexity"] for f in fits.values()]
            ranking.append({
                "variant": variant, "measure": measure, "complexity": measures[measure],
                "mae_linear": lodo["models"]["linear"]["mae"], "mae_saturating": lodo["models"]["saturating"]["mae"],
                "spearman_knee": _spearman(c, [f["knee"] for f in fits.values()]),
                "spearman_slope": _spearman(c, [f["slope"] for f in fits.values()]),
            })
    ranking.sort(key=lambda r: min(r["mae_linear"], r["mae_saturating"]) if "error" not in r else math.inf)
    output = Path(args.output)
    atomic_write_json(output, {k: main[k] for k in ("metric", "datasets", "models", "default")})
    details = {
        "command": "python -m monai_ccnet lodo " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("plots", "_module") and v is not None),
        "variant": args.variant, "measure": args.measure, "complexity": table[args.variant][args.measure],
        "intervals": main["intervals"], "failed_runs": main["failed_runs"], "points": main["points"],
        "per_dataset": per_dataset_fits(_points(records, table[args.variant][args.measure], args.metric)),
        "ranking": ranking,
    }
    details_path = output.with_name(output.stem + "_details.json")
    atomic_write_json(details_path, details)
    print(_summary(main, ranking))
    print(f"wrote {output} and {details_path}")
    if args.plots:
        for png in plot_lodo(main, details, output.with_name(output.stem)):
            print(f"wrote {png}")
    return 0


def _points(records, complexity, metric):
    return curve_points(robust_curves(records, metric), complexity)


def _summary(main: dict, ranking: list[dict]) -> str:
    lines = [f"leave-one-dataset-out MAE of relative {main['metric']} ({len(main['datasets'])} datasets):"]
    for name, entry in main["models"].items():
        per = ", ".join(f"{d} {v:.3f}" for d, v in entry["per_dataset"].items())
        lines.append(f"  {name:<11} {entry['mae']:.4f}   ({per})")
    for form, cov in main["intervals"].items():
        lines.append(f"  {form} {cov['level']:.0%} interval: coverage {cov['coverage']:.2f} of {cov['n']} runs, "
                     f"mean width {cov['mean_width']:.3f}")
    lines.append(f"default form (better held-out MAE of linear / saturating): {main['default']}")
    lines.append("best complexity variants (held-out MAE, linear / saturating):")
    for row in [r for r in ranking if "error" not in r][:5]:
        lines.append(f"  {row['variant']}/{row['measure']}: {row['mae_linear']:.4f} / {row['mae_saturating']:.4f}")
    return "\n".join(lines)


def plot_lodo(main: dict, details: dict, stem: Path) -> list[Path]:
    """``<stem>_curves.png`` (each dataset's measured curve with every model's held-out
    prediction and band) and ``<stem>_knees.png`` (per-dataset knee and slope vs complexity)."""
    if optional_import("matplotlib") is None:
        return []
    from matplotlib.figure import Figure  # the optional [plot] extra: imported only to draw

    written = []
    names = main["datasets"]
    fig = Figure(figsize=(3.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), sharey=True)
    styles = {"linear": "C0", "saturating": "C1", "average": "C2", "paper": "C3", "no_loss": "0.5"}
    for ax, name in zip(np.atleast_1d(axes), names):
        mine = [p for p in main["points"] if p["dataset"] == name]
        for model in LODO_MODELS:
            rows = sorted((p for p in mine if p["model"] == model), key=lambda p: p["x"])
            if not rows:
                continue
            x = [p["x"] for p in rows]
            ax.plot(x, [p["predicted"] for p in rows], "-", color=styles[model], label=model, linewidth=1)
            if all("interval" in p for p in rows) and model in ("saturating",):
                ax.fill_between(x, [p["interval"][0] for p in rows], [p["interval"][1] for p in rows],
                                color=styles[model], alpha=0.15, linewidth=0)
        rows = sorted((p for p in mine if p["model"] == "no_loss"), key=lambda p: p["x"])
        ax.plot([p["x"] for p in rows], [p["measured"] for p in rows], "ko", markersize=4, label="measured (median)")
        for p in rows:
            ax.plot([p["x"]] * len(p["seeds"]), p["seeds"], "k.", markersize=2, alpha=0.5)
        ax.set_ylim(0.0, 1.25)  # a wild extrapolation (a linear fit's) runs off the axis instead of flattening it
        ax.set_title(f"{name} (held out)", fontsize=9)
        ax.set_xlabel("log10(weights)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(f"relative {main['metric']}")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    path = save_figure(fig, Path(f"{stem}_curves.png"))
    if path:
        written.append(path)
    per = details["per_dataset"]
    fig = Figure(figsize=(8, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    c = [v["complexity"] for v in per.values()]
    for ax, key, label in ((ax1, "knee", "own knee, log10(weights)"), (ax2, "slope", "own Eq. 3 slope")):
        ax.plot(c, [v[key] for v in per.values()], "o")
        for name, v in per.items():
            ax.annotate(name, (v["complexity"], v[key]), fontsize=7)
        ax.set_xlabel(f"{details['measure']} ({details['variant']})")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    path = save_figure(fig, Path(f"{stem}_knees.png"))
    if path:
        written.append(path)
    return written
