"""Does a calibration predict datasets it never saw? Leave-one-dataset-out (LODO) evaluation.

For each calibration dataset: fit every candidate form on the *other* datasets, predict the held-
out dataset's whole curve (relative accuracy at every width) from its complexity alone, and
compare with the measured curve (median over seeds, failed runs excluded: see
:func:`~monai_ccnet.planning.forms.robust_curves`). The base width is left out of the error: every
form is exact there by construction. Forms (docs/method.md §3, §7):

- ``linear``: the paper's Eq. 3 fitted on the other datasets;
- ``saturating``: Eq. S1/S2, knee linear in complexity;
- ``average``: Eq. S1 with one knee for all datasets (no complexity): what complexity adds;
- ``paper``: Eq. 3 with the paper's published (lambda, delta) and this project's complexity;
- ``no_loss``: relative accuracy 1 at every width (the trivial predictor).

The same folds check the intervals (Eq. S3): the fraction of the held-out dataset's single
trained networks inside the interval, and its mean width. Pure numpy/scipy.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import linregress

from .degradation import DegradationModel, fit_degradation
from .forms import curve_points, fit_saturating, robust_curves

__all__ = ["LODO_MODELS", "leave_one_dataset_out", "per_dataset_fits"]

LODO_MODELS = ("linear", "saturating", "average", "paper", "no_loss")
#: forms with an interval (their fit has a spread); the paper's preset has none
INTERVAL_FORMS = ("linear", "saturating", "average")


def _points_by_dataset(points):
    out: dict[str, list] = {}
    for p in points:
        out.setdefault(p["dataset"], []).append(p)
    return out


def per_dataset_fits(points: Sequence[Mapping]) -> dict[str, dict]:
    """Each dataset on its own: the linear slope (Eq. 3's s_d) and the saturating knee and fall
    (Eq. S1 without complexity): the per-dataset quantities that complexity should explain."""
    out = {}
    for name, mine in sorted(_points_by_dataset(points).items()):
        x = np.array([p["x"] for p in mine])
        r = np.array([p["r"] for p in mine])
        sat = fit_saturating(x, r, None)
        out[name] = {
            "complexity": mine[0]["complexity"],
            "slope": float(linregress(x, r).slope),
            "knee": sat["mu"],
            "beta": sat["beta"],
        }
    return out


def _with_complexity(records: Sequence[Mapping], complexity: Mapping[str, float], measure: str) -> list[dict]:
    # the records as calibrate writes them, with the variant under test as their complexity
    out = []
    for r in records:
        if r["dataset"] not in complexity:
            raise ValueError(f"no complexity for calibration dataset {r['dataset']!r} (have {sorted(complexity)}).")
        out.append({**r, "complexity": {measure: [float(complexity[r["dataset"]])] * len(r["widths"])}})
    return out


def leave_one_dataset_out(
    records: Sequence[Mapping],
    complexity: Mapping[str, float],
    metric: str = "f1",
    paper: Mapping[str, float] | None = None,
    level: float = 0.9,
    bootstrap: int = 200,
    models: Sequence[str] = LODO_MODELS,
    arch: str = "unet",
    network: Any = None,
) -> dict:
    """LODO errors of every model, interval coverage, and the per-point predictions.

    Every fold fits with :func:`~monai_ccnet.planning.fit_degradation` (what ``calibrate``
    ships) and predicts with :meth:`DegradationModel.predict_interval` (what ``plan`` uses), so
    this measures the product itself.

    Args:
        records: calibration run records (``dataset``, ``widths``, ``weights``, ``seed``, metric).
        complexity: one complexity value per dataset (the variant under test).
        paper: ``{"lam", "delta"}`` of the paper's preset (needed for the ``paper`` model).
        bootstrap: refits per fold for the intervals.
        network: the records' network when it is not one of ours (a registry ``NetworkSpec``, e.g.
            a calibration of the user's MONAI network; ``arch`` is then its name): predictions count
            its weights with it, as ``plan_compression(network=...)`` does.

    Returns ``{"metric", "datasets", "models": {name: {"mae", "per_dataset"}}, "default",
    "intervals": {form: {"level", "coverage", "mean_width", "n"}}, "points": [...],
    "failed_runs": [...]}``; ``default`` is the better of ``linear`` and ``saturating``.
    """
    measure = "complexity"
    records = _with_complexity(records, complexity, measure)
    curves = robust_curves(records, metric)
    points = curve_points(curves, complexity)
    by_dataset = _points_by_dataset(points)
    names = sorted(by_dataset)
    if len(names) < 3:
        raise ValueError(f"leave-one-dataset-out needs >= 3 datasets (fits on >= 2), got {names}.")
    if "paper" in models and not paper:
        raise ValueError("the 'paper' model needs the preset's lam and delta.")
    errors: dict[str, dict[str, float]] = {m: {} for m in models}
    coverage = {f: {"inside": 0, "n": 0, "widths": []} for f in INTERVAL_FORMS if f in models}
    predictions = []
    for held in names:
        train = [r for r in records if r["dataset"] != held]
        held_curve = curves[held]
        base = held_curve["widths"][0]["widths"]
        for model_name in models:
            if model_name == "no_loss":
                model = None
            elif model_name == "paper":
                model = DegradationModel(lam=paper["lam"], delta=paper["delta"], metric=metric, measure=measure, arch=arch)
            elif model_name == "average":  # the saturating form fitted with one complexity for all
                flat = [{**r, "complexity": {measure: [1.0] * len(r["widths"])}} for r in train]
                model = fit_degradation(flat, metric, measure, arch, bootstrap=0, form="saturating",
                                        interval_bootstrap=bootstrap, fit_complexity=False)
            else:
                model = fit_degradation(train, metric, measure, arch, bootstrap=0, form=model_name,
                                        interval_bootstrap=bootstrap)
            c = [1.0 if model_name == "average" else float(complexity[held])] * len(base)
            errs = []
            for p in (p for p in by_dataset[held] if p["x"] < p["x_base"]):
                row = {"dataset": held, "model": model_name, "widths": p["widths"], "x": p["x"], "measured": p["r"],
                       "seeds": p["r_seeds"]}
                if model is None:
                    row["predicted"] = 1.0
                else:
                    interval = model.predict_interval(p["widths"], base, c, level, network=network)
                    row["predicted"] = model.predict_relative_accuracy(p["widths"], base, c, network=network)
                    if interval is not None and model_name in coverage:
                        row["interval"] = [interval[1], interval[2]]
                        cov = coverage[model_name]
                        cov["widths"].append(interval[2] - interval[1])
                        cov["n"] += len(p["r_seeds"])
                        cov["inside"] += sum(interval[1] <= v <= interval[2] for v in p["r_seeds"])
                errs.append(abs(row["predicted"] - p["r"]))
                predictions.append(row)
            errors[model_name][held] = float(np.mean(errs)) if errs else float("nan")
    result_models = {m: {"mae": float(np.mean(list(errors[m].values()))), "per_dataset": errors[m]} for m in models}
    candidates = [m for m in ("linear", "saturating") if m in result_models]
    default = min(candidates, key=lambda m: result_models[m]["mae"]) if candidates else None
    failed = [
        {"dataset": name, "widths": row["widths"], "seeds": row["failed"]}
        for name, curve in curves.items()
        for row in curve["widths"]
        if row["failed"]
    ]
    return {
        "metric": metric,
        "datasets": names,
        "models": result_models,
        "default": default,
        "intervals": {
            f: {
                "level": level,
                "coverage": c["inside"] / c["n"] if c["n"] else math.nan,
                "mean_width": float(np.mean(c["widths"])) if c["widths"] else math.nan,
                "n": c["n"],
            }
            for f, c in coverage.items()
        },
        "points": predictions,
        "failed_runs": failed,
    }
