"""Calibration plots in the style of the paper's Fig. 6 (matplotlib, optional extra ``plot``).

Left: relative accuracy A_alpha / A_1 against log10(#weights), one colour per dataset, with each
dataset's least-squares line. Right: the per-dataset slopes against complexity with the fitted
Eq. 3 line ``slope = lambda * C + delta`` and lambda, delta, R^2 in the legend.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from monai_ccnet.utils import optional_import, save_figure

__all__ = ["plot_degradation"]

logger = logging.getLogger(__name__)


def plot_degradation(records: Sequence[dict], model, path: str | os.PathLike) -> Path | None:
    """Write the two-panel figure for ``model`` (a fitted ``DegradationModel``) to ``path`` (PNG).

    Returns the path, or None (with a log line) when matplotlib is not installed.
    """
    matplotlib = optional_import("matplotlib")
    if matplotlib is None:
        logger.info("matplotlib not installed (pip install 'monai_ccnet[plot]'): skipping the calibration plot.")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = model.metric
    fits = {d["dataset"]: d for d in model.datasets}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
