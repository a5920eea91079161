"""Pareto tables: predicted accuracy against size over a grid of widths (docs/method.md §4), and their plot."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from .. import accounting
from ..accounting import DEFAULT_WIDTHS, MB, resolve_widths, stage_weights
from ..utils import optional_import, save_figure
from .degradation import load_degradation
from .planner import plan_compression

__all__ = ["PARETO_MULTIPLIERS", "pareto_table", "plot_pareto"]

#: default Pareto grid: 2^(-k/4), k = 0..24 (full width down to 1/64; contains the paper's 1, .5,
#: .25, .125, .0625 and is dense enough to read a curve)
PARETO_MULTIPLIERS = tuple(2.0 ** (-k / 4) for k in range(25))


def pareto_table(
    arch: str,
    complexity: Sequence[float],
    degradation,
    *,
    multipliers: Sequence[float] = PARETO_MULTIPLIERS,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    bits_per_weight: float = 32,
    layerwise: bool = True,
    full_accuracy: float | None = None,
    interval_level: float = 0.9,
    network: Any = None,
) -> list[dict]:
    """Weights vs predicted accuracy over a grid of uniform multipliers (a list of dicts to plot).

    One ``"uniform"`` row per multiplier; with ``layerwise`` also the per-stage plan (Eq. 11 + 13)
    for the same disk budget as that uniform row, so both curves can be drawn side by side.
    Rows carry ``interval`` (``[low, high]`` at ``interval_level``) when the model has a spread.

    ``network``: count and round through this object instead of :mod:`monai_ccnet.accounting`, as
    :func:`~monai_ccnet.planning.planner.plan_compression` does (a registry ``NetworkSpec``, e.g. a
    bundle's MONAI network; pass its base widths as ``widths`` and its dimensions and channels).
    Its uniform widths are snapped to its constraints, multipliers that give the same network are
    one row (under the first), per-stage rows exist only when it is not ``uniform_only``, and
    rows also carry ``parameters`` (every parameter of the module) and ``width_argument`` (the
    constructor argument at those widths, e.g. ``{"channels": [...]}``).
    """
    model = load_degradation(degradation)
    base = resolve_widths(widths)
    counts = dict(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels)
    # predictions count like the planner's: a model measured on this network reads its registry weights
    predict_counts = {**counts, "network": network}
    if network is not None:
        arch = network.name
        layerwise = layerwise and not network.uniform_only
    rows = []

    def weights_of(w) -> int:
        return sum(stage_weights(arch, w, **counts)) if network is None else network.weights(w)

    def row(kind, multiplier, w):
        weights = weights_of(w)
        rel = model.predict_relative_accuracy(w, base, complexity, **predict_counts)
        interval = model.predict_interval(w, base, complexity, interval_level, **predict_counts)
        return {
            "kind": kind, "multiplier": multiplier, "widths": list(w), "weights": weights,
            "log10_weights": math.log10(weights), "disk_mb": accounting.disk_bytes(weights, bits_per_weight) / MB,
            "predicted_relative_accuracy": rel,
            "predicted_accuracy": full_accuracy * rel if full_accuracy is not None else None,
            "interval": [interval[1], interval[2]] if interval else None,
            **({"parameters": network.parameters(w), "width_argument": network.values(w)} if network is not None else {}),
        }

    seen = set()
    for m in multipliers:
        widths_m = resolve_widths(base, m) if network is None else tuple(network.snap(resolve_widths(base, m)))
        if network is not None:  # snapping merges neighbouring multipliers into one network: one row
            if widths_m in seen:
                continue
            seen.add(widths_m)
        uniform = row("uniform", float(m), widths_m)
        rows.append(uniform)
        if layerwise:
            try:
                plan = plan_compression(arch, complexity, model, disk_budget_mb=uniform["disk_mb"],
                                        bits_per_weight=bits_per_weight, layerwise=True, widths=base, network=network,
                                        **counts)
            except ValueError:  # below the smallest network the planner may plan (stages >= 2 channels): no per-stage point
                continue
            rows.append(row("layerwise", None, plan.widths))
    return rows


def plot_pareto(rows: Sequence[dict], path: str | os.PathLike, title: str | None = None) -> Path | None:
    """Draw a :func:`pareto_table` (predicted relative accuracy against log10 weights) as a PNG.

    Needs matplotlib (the ``plot`` extra); returns None without writing when it is missing.
    """
    if optional_import("matplotlib") is None:
        return None
    from matplotlib.figure import Figure  # the optional [plot] extra: imported only to draw

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for kind, style in (("uniform", "o-"), ("layerwise", "s--")):
        points = [(r["log10_weights"], r["predicted_relative_accuracy"]) for r in rows if r["kind"] == kind]
        if points:
            line = ax.plot(*zip(*points), style, markersize=3, label="per-stage" if kind == "layerwise" else kind)[0]
            band = [(r["log10_weights"], *r["interval"]) for r in rows if r["kind"] == kind and r.get("interval")]
            if band:
                x, low, high = zip(*sorted(band))
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("log10(weights)")
    ax.set_ylabel("predicted relative accuracy")
    ax.set_title(title or "CC-Net plans: predicted accuracy vs size")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
