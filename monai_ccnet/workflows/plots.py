"""The workflows' figures (matplotlib, optional extra ``plot``), drawn on ``matplotlib.figure.Figure``
objects: no pyplot backend is chosen or changed, so they work headless and inside notebooks.

- :func:`plot_degradation`, calibration in the style of the paper's Fig. 6. Left: relative
  accuracy A_alpha / A_1 against log10(#weights), one colour per dataset, with each dataset's
  least-squares line. Right: the per-dataset slopes against complexity with the fitted Eq. 3 line
  ``slope = lambda * C + delta`` and lambda, delta, R^2 in the legend.
- :func:`plot_compression`, the compress report's figure: the predicted Pareto curves (uniform and
  per-stage) with the chosen plan, the budget or accuracy floor and the achieved point.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from monai_ccnet.utils import optional_import, save_figure

__all__ = ["plot_degradation", "plot_compression"]

logger = logging.getLogger(__name__)


def plot_degradation(records: Sequence[dict], model, path: str | os.PathLike) -> Path | None:
    """Write the two-panel figure for ``model`` (a fitted ``DegradationModel``) to ``path`` (PNG).

    Returns the path, or None (with a log line) when matplotlib is not installed.
    """
    fig = _figure((11, 4.2), "the calibration plot")
    if fig is None:
        return None
    import matplotlib

    metric = model.metric
    fits = {d["dataset"]: d for d in model.datasets}
    left, right = fig.subplots(1, 2)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (name, fit) in enumerate(sorted(fits.items(), key=lambda kv: kv[1]["complexity"])):
        colour = colours[n % len(colours)]
        runs = [r for r in records if str(r["dataset"]) == name]
        x = np.array([math.log10(r["weights"]) for r in runs])
        y = np.array([r[metric] / fit["full_accuracy"] for r in runs])
        left.scatter(x, y, color=colour, s=18, label=f"{name} (C={fit['complexity']:.3g})")
        xs = np.linspace(x.min(), x.max(), 2)
        left.plot(xs, fit["intercept"] + fit["slope"] * xs, color=colour, lw=1)
        right.scatter(fit["complexity"], fit["slope"], color=colour, s=30)
        right.annotate(name, (fit["complexity"], fit["slope"]), fontsize=8, xytext=(4, 2), textcoords="offset points")
    left.set_xlabel("log10(#weights)")
    left.set_ylabel(f"relative {metric.upper()}  (A / A_full)")
    left.set_title(f"{model.arch}: accuracy vs size")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    c = np.array([d["complexity"] for d in model.datasets])
    cs = np.linspace(min(0.0, c.min()), c.max() * 1.1, 2)
    r2 = "n/a" if model.r2 is None else f"{model.r2:.3f}"
    right.plot(cs, model.lam * cs + model.delta, "k-", lw=1, label=f"lambda={model.lam:.4g}, delta={model.delta:.4g}, R^2={r2}")
    right.set_xlabel(f"complexity ({model.measure}, input scale)")
    right.set_ylabel("slope  dA / dlog10(#weights)")
    right.set_title("Eq. 3: slope = lambda * C + delta")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    return save_figure(fig, path)


def _figure(size: tuple, what: str):
    """A pyplot-free figure, or None (with a log line) without matplotlib."""
    if optional_import("matplotlib") is None:
        logger.info(f"matplotlib not installed (pip install 'monai_ccnet[plot]'): skipping {what}.")
        return None
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def plot_compression(report: Mapping, pareto: Sequence[dict], path: str | os.PathLike) -> Path | None:
    """The compress report's figure: predicted relative accuracy against log10(#weights).

    ``pareto`` is :func:`monai_ccnet.planning.pareto_table`'s rows (uniform and per-stage curves);
    ``report`` the compress report (``report.json``'s content): it marks the chosen plan, the disk
    budget (as weights at the plan's bits per weight) or the accuracy floor, and the achieved point
    (achieved relative accuracy, when the full network's accuracy is known). Returns the path, or
    None without matplotlib.
    """
    fig = _figure((6.4, 4.4), "the compression plot")
    if fig is None:
        return None
    ax = fig.subplots()
    metric = report["predicted"]["metric"]
    for kind, style, label in (("uniform", "o-", "uniform (predicted)"), ("layerwise", "s--", "per stage (predicted)")):
        points = sorted((r["log10_weights"], r["predicted_relative_accuracy"]) for r in pareto if r["kind"] == kind)
        if points:
            line = ax.plot(*zip(*points), style, markersize=3, lw=1, label=label)[0]
            band = sorted((r["log10_weights"], *r["interval"]) for r in pareto if r["kind"] == kind and r.get("interval"))
            if band:  # the model's prediction interval (docs/method.md §7.2)
                bx, low, high = zip(*band)
                ax.fill_between(bx, low, high, color=line.get_color(), alpha=0.12, linewidth=0)
    comp = report["compressed"]
    x = math.log10(comp["weights"])
    ax.plot([x], [report["predicted"]["relative_accuracy"]], "k*", markersize=13, label="chosen plan (predicted)")
    interval = report["predicted"].get("relative_interval")
    if interval:
        ax.plot([x, x], interval, "k-", lw=2, alpha=0.6, label=f"{report['predicted']['interval_level']:.0%} interval")
    achieved = comp.get(f"relative_{metric}")
    if achieved is not None:
        ax.plot([x], [achieved], "rD", markersize=8, label="achieved (measured)")
        ax.plot([x, x], [report["predicted"]["relative_accuracy"], achieved], "r:", lw=1)
    else:
        ax.annotate("achieved: not placed (full network's accuracy unknown)", (x, report["predicted"]["relative_accuracy"]),
                    xytext=(-8, -14), textcoords="offset points", fontsize=7, ha="right")
    c = report["constraint"]
    budget = report.get("budget", {})
    if c["kind"] == "disk":
        bits = c.get("bits_per_weight", 32)
        budget_weights = budget.get("value_mb", c["value"]) * 1e6 * 8 / bits
        ax.axvline(math.log10(budget_weights), color="grey", ls="--", lw=1,
                   label=f"disk budget {budget.get('value_mb', c['value']):g} MB ({bits:g}-bit weights)")
        planned = budget.get("planned_weights_mb")
        if planned is not None and planned < budget.get("value_mb", planned):
            ax.axvline(math.log10(planned * 1e6 * 8 / bits), color="grey", ls=":", lw=1,
                       label=f"weights budget so the files fit ({planned:.4g} MB)")
    elif c["kind"] == "accuracy":
        ax.axhline(c["value"], color="grey", ls="--", lw=1, label=f"floor {c['value']:g}")
    else:  # a memory budget has no fixed weight count: the plan marks where it lands
        ax.set_title(f"memory budget {c['value']:g} MB for input {c['input_shape']}", fontsize=8, loc="right")
    ax.set_xlabel("log10(#weights)")
    ax.set_ylabel(f"relative {metric.upper()}  (A / A_full)")
    ax.set_title(f"{report['arch']} on {report['dataset']}", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
