"""Degradation forms beyond the paper's Eq. 3, and the prediction intervals of every form
(docs/method.md §7). Pure numpy/scipy: planning stays importable without torch.

Two forms map a network to its accuracy relative to the full (plateau) network:

- ``linear`` (the paper's Eq. 3, integrated): ``r = 1 - (lam * C + delta) * (log10 theta_base -
  log10 theta)``. Relative to the calibration's base network, so a calibration at base 16 cannot
  plan a base-64 network.
- ``saturating`` (Eq. S1, this project): ``r = 1 - beta * max(0, knee - log10 theta)`` with
  ``knee = kappa * C + mu`` (Eq. S2). Accuracy is flat down to a knee in *absolute* weights and
  falls by ``beta`` per decade of weights below it: independent of the base width, and
  ``kappa = 0`` is the complexity-free "average curve" of the calibration datasets.

Intervals (Eq. S3): quantiles of ``r_b + sigma(r_b) * T``: the refitted models over a bootstrap
of datasets and seeds (``r_b``), plus the spread of single trained networks around the model,
``sigma(r) = s0 + s1 * (1 - r)`` (seed noise grows where accuracy falls), ``T`` Student t on the
fit's degrees of freedom, so fewer calibration points give wider intervals.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares, minimize, nnls
from scipy.stats import linregress

__all__ = [
    "fit_probe_curve",
    "probe_accuracy",
    "curve_points",
    "fit_form",
    "predict_form",
    "bootstrap_params",
    "cross_validated_spread",
    "FORMS",
    "saturating_relative_accuracy",
    "linear_relative_accuracy",
    "fit_saturating",
    "fit_residual_spread",
    "predictive_interval",
    "robust_curves",
]

FORMS = ("linear", "saturating")


def saturating_relative_accuracy(log10_weights, knee, beta):
    """Eq. S1: ``1 - beta * max(0, knee - log10 theta)``, never below 0 (array-friendly)."""
    return np.maximum(0.0, 1.0 - np.asarray(beta) * np.maximum(0.0, np.asarray(knee) - np.asarray(log10_weights)))


def linear_relative_accuracy(log10_weights, log10_base, slope):
    """Eq. 3 integrated from the base network: ``1 - slope * (log10 theta_base - log10 theta)``."""
    return 1.0 - np.asarray(slope) * (np.asarray(log10_base) - np.asarray(log10_weights))


def _beta_for_knees(x: np.ndarray, r: np.ndarray, knees: np.ndarray) -> tuple[float, float]:
    # for fixed knees Eq. S1 is linear in beta: closed-form least squares, beta >= 0
    hinge = np.maximum(0.0, knees - x)
    denom = float(np.sum(hinge**2))
    beta = max(0.0, float(np.sum((1.0 - r) * hinge) / denom)) if denom > 0 else 0.0
    sse = float(np.sum((1.0 - beta * hinge - r) ** 2))
    return beta, sse


def fit_saturating(
    x: Sequence[float], r: Sequence[float], complexity: Sequence[float] | None = None
) -> dict[str, float]:
    """Least-squares fit of Eq. S1/S2 to points ``(log10 theta, relative accuracy)``.

    Args:
        x, r: one point per trained network (or per width, aggregated over seeds).
        complexity: the dataset complexity of each point; None fits a complexity-free knee
            (``kappa = 0``): the average curve.

    Returns ``{"beta", "kappa", "mu", "sse", "n", "knee_bounds"}`` (the observed log10-weight range
    plus half a decade each side: where a knee can be told from the data). The knee search is a grid over the observed
    log10-weight range (and a little beyond) refined by Nelder-Mead: the hinge makes the loss
    piecewise smooth, so a single local start could stop at a kink.
    """
    x = np.asarray(x, dtype=float)
    r = np.asarray(r, dtype=float)
    if x.shape != r.shape or x.size < 2:
        raise ValueError(f"fit_saturating needs >= 2 points of equal length, got {x.size} and {r.size}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(r))):
        raise ValueError("fit_saturating: the points contain NaN or infinity.")
    lo, hi = float(x.min()) - 0.5, float(x.max()) + 0.5
    if complexity is None:
        grid = np.linspace(lo, hi, 201)
        sses = [_beta_for_knees(x, r, np.full_like(x, k))[1] for k in grid]
        knee = float(grid[int(np.argmin(sses))])
        result = minimize(lambda p: _beta_for_knees(x, r, np.full_like(x, p[0]))[1], [knee], method="Nelder-Mead")
        knee = float(np.clip(result.x[0], lo, hi))
        beta, sse = _beta_for_knees(x, r, np.full_like(x, knee))
        return {"beta": beta, "kappa": 0.0, "mu": knee, "sse": sse, "n": int(x.size), "knee_bounds": [lo, hi]}
    c = np.asarray(complexity, dtype=float)
    if c.shape != x.shape or not np.all(np.isfinite(c)):
        raise ValueError("fit_saturating: complexity must be finite and give one value per point.")
    spread = float(c.max() - c.min())
    if spread <= 0:
        raise ValueError(
            "fit_saturating: every point has the same complexity, so the knee's dependence on it (kappa) "
            "cannot be fitted; fit without complexity (the average curve) or add datasets."
        )
    # kappa in units of "knee shift across the observed complexity range", searched on a grid
    def loss(p):
        return _beta_for_knees(x, r, p[0] * c + p[1])[1]

    best = None
    for shift in np.linspace(-3.0, 3.0, 25):
        kappa = shift / spread
        for mu in np.linspace(lo - kappa * c.mean(), hi - kappa * c.mean(), 25):
            value = loss((kappa, mu))
            if best is None or value < best[0]:
                best = (value, kappa, mu)
    result = minimize(loss, [best[1], best[2]], method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10})
    kappa, mu = (float(v) for v in result.x) if result.fun <= best[0] else (best[1], best[2])
    beta, sse = _beta_for_knees(x, r, kappa * c + mu)
    return {"beta": beta, "kappa": kappa, "mu": mu, "sse": sse, "n": int(x.size), "knee_bounds": [lo, hi]}


def fit_residual_spread(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """``sigma(r_hat) = s0 + s1 * (1 - r_hat)`` from single networks around the model (Eq. S3).

    Fitted to ``|measured - predicted| * sqrt(pi / 2)`` (the mean absolute deviation of a normal
    variable is sigma * sqrt(2 / pi)) by least squares with both coefficients kept >= 0.
    """
    predicted = np.asarray(predicted, dtype=float)
    measured = np.asarray(measured, dtype=float)
    if predicted.size < 2:
        raise ValueError("fit_residual_spread needs at least 2 points.")
    target = np.abs(measured - predicted) * math.sqrt(math.pi / 2.0)
    design = np.stack([np.ones_like(predicted), np.clip(1.0 - predicted, 0.0, None)], axis=1)
    (s0, s1), _ = nnls(design, target)
    return {"s0": float(s0), "s1": float(s1), "n": int(predicted.size)}


def predictive_interval(
    r_hat: float, boot_predictions: Sequence[float], spread: Mapping[str, float], dof: int, level: float = 0.9,
    model_share: float = 1.0,
) -> tuple[float, float]:
    """Eq. S3's interval ``(low, high)`` at ``level`` (two-sided) for one network trained at this width.

    The predictive distribution is sampled: every bootstrap refit's prediction ``r_b`` plus one
    run's noise ``sigma(r_b) * T`` with ``T`` Student t on ``dof`` degrees of freedom (a fixed
    seed: the same model gives the same interval). Its quantiles are the interval, so it is as
    lopsided as the refits are - near the plateau the refits cannot exceed it, and the interval
    does not pretend they could - and it widens with fewer calibration points (fewer ``dof``,
    more scattered refits). Without refits it is ``r_hat +- t * sigma(r_hat)``.

    ``model_share`` (0..1): the part of sigma's variance beyond the seed noise
    (``spread["seed_sd"]``) that applies here - 0 at the base network, whose relative accuracy
    is 1 by definition, so only one run's seed noise is left there.
    """
    if not 0 < level < 1:
        raise ValueError(f"interval level must be in (0, 1), got {level!r}.")
    rng = np.random.default_rng(0)
    centres = np.asarray(boot_predictions, dtype=float)
    if centres.size == 0:
        centres = np.array([float(r_hat)])
    draws = max(20, 10_000 // centres.size)
    sigma = float(spread.get("s0", 0.0)) + float(spread.get("s1", 0.0)) * np.clip(1.0 - centres, 0.0, None)
    if "seed_sd" in spread and model_share < 1.0:
        seed = float(spread["seed_sd"])
        sigma = np.sqrt(seed**2 + float(model_share) * np.clip(sigma**2 - seed**2, 0.0, None))
    samples = centres[:, None] + sigma[:, None] * rng.standard_t(max(1, int(dof)), size=(centres.size, draws))
    low, high = np.quantile(samples, [0.5 - level / 2.0, 0.5 + level / 2.0])
    # the central prediction stays inside its own interval whatever the refits' skew
    return float(min(max(0.0, low), r_hat)), float(max(high, r_hat))


def robust_curves(records: Sequence[Mapping], metric: str = "f1", collapse_ratio: float = 0.5) -> dict:
    """Per dataset and width: the seeds' accuracies, failed runs flagged, medians.

    A run is *failed* (a training collapse, not a capacity limit) when its accuracy is below
    ``collapse_ratio`` x the median of the other seeds at the same width: width-1 U-Nets
    collapsed to F1 ~0 in one of two seeds on two real datasets while the other seed trained.
    Failed runs are excluded from the medians and listed, but never a majority of a width's seeds
    (then failing is what that width does; ``median_all`` is every seed's median). The reference accuracy of a dataset is
    the median over seeds of its widest network.

    Returns ``{dataset: {"complexity": {...}, "reference": float, "widths": [{"widths",
    "multiplier", "weights", "values", "failed", "median", "relative"}...]}}``, widths widest first.
    """
    by_dataset: dict[str, dict] = {}
    for record in records:
        value = record.get(metric)
        if value is None or not math.isfinite(float(value)):
            continue
        entry = by_dataset.setdefault(record["dataset"], {"complexity": record.get("complexity", {}), "groups": {}})
        key = tuple(record["widths"])
        group = entry["groups"].setdefault(
            key, {"widths": list(key), "multiplier": record.get("multiplier"), "weights": record["weights"], "runs": []}
        )
        group["runs"].append({"seed": record.get("seed"), "value": float(value)})
    out = {}
    for name, entry in sorted(by_dataset.items()):
        rows = []
        for group in sorted(entry["groups"].values(), key=lambda g: -g["weights"]):
            values = [run["value"] for run in group["runs"]]
            failed = []
            for i, run in enumerate(group["runs"]):
                others = values[:i] + values[i + 1 :]
                if others and run["value"] < collapse_ratio * float(np.median(others)):
                    failed.append(run["seed"])
            if 2 * len(failed) > len(values):  # most seeds failed: that is what this width does
                failed = []
            kept = [run["value"] for run in group["runs"] if run["seed"] not in failed]
            rows.append(
                {
                    "widths": group["widths"],
                    "multiplier": group["multiplier"],
                    "weights": int(group["weights"]),
                    "values": {str(run["seed"]): run["value"] for run in group["runs"]},
                    "failed": failed,
                    "median": float(np.median(kept)) if kept else float("nan"),
                    "median_all": float(np.median(values)),
                }
            )
        reference = rows[0]["median"]
        for row in rows:
            row["relative"] = row["median"] / reference if reference > 0 else float("nan")
        out[name] = {"complexity": entry["complexity"], "reference": reference, "widths": rows}
    return out


# ------------------------------------------------------------------------------------------
# one fit and one prediction for every form, on per-(dataset, width) points


def curve_points(curves: Mapping[str, Mapping], complexity: Mapping[str, float]) -> list[dict]:
    """Flatten :func:`robust_curves` into fit points: one per (dataset, width), with the dataset's
    complexity ``C``, ``x = log10 theta``, ``x_base`` (its widest network), the median relative
    accuracy ``r`` and the single seeds' relative values that did not fail (``r_seeds``)."""
    points = []
    for name, curve in curves.items():
        if name not in complexity:
            raise ValueError(f"no complexity for calibration dataset {name!r} (have {sorted(complexity)}).")
        x_base = math.log10(curve["widths"][0]["weights"])
        for row in curve["widths"]:
            seeds = [v / curve["reference"] for s, v in row["values"].items() if int(s) not in row["failed"]]
            points.append(
                {
                    "dataset": name,
                    "complexity": float(complexity[name]),
                    "x": math.log10(row["weights"]),
                    "x_base": x_base,
                    "widths": row["widths"],
                    "r": float(row["relative"]),
                    "r_seeds": seeds,
                }
            )
    return points


def fit_form(points: Sequence[Mapping], form: str) -> dict:
    """Parameters of ``form`` fitted to ``points`` (see :func:`curve_points`).

    ``linear``: per dataset the least-squares slope of ``r`` on ``log10 theta`` (docs/method.md
    §3.2), then ``slope = lam * C + delta`` across datasets (§3.3). ``saturating``: Eq. S1/S2 on
    all points at once. ``average``: Eq. S1 with ``kappa = 0`` (no complexity). ``no_loss``: none.
    """
    if form == "no_loss":
        return {}
    x = np.array([p["x"] for p in points])
    r = np.array([p["r"] for p in points])
    if form == "saturating":
        return fit_saturating(x, r, [p["complexity"] for p in points])
    if form == "average":
        return fit_saturating(x, r, None)
    if form != "linear":
        raise ValueError(f"unknown degradation form {form!r}; choose one of {FORMS + ('average', 'no_loss')}.")
    names = sorted({p["dataset"] for p in points})
    c, s = [], []
    for name in names:
        mine = [p for p in points if p["dataset"] == name]
        xs = np.array([p["x"] for p in mine])
        if len(np.unique(xs)) < 2:
            raise ValueError(f"dataset {name!r} has points at fewer than 2 widths; a slope needs 2.")
        s.append(float(linregress(xs, [p["r"] for p in mine]).slope))
        c.append(mine[0]["complexity"])
    if len(names) < 2 or len(set(c)) < 2:
        raise ValueError(
            f"the linear form needs >= 2 datasets of different complexity, got {dict(zip(names, c))}."
        )
    line = linregress(c, s)
    return {"lam": float(line.slope), "delta": float(line.intercept), "r2": float(line.rvalue**2)}


def predict_form(params: Mapping, form: str, complexity: float, x, x_base: float, knee_bounds=None):
    """Relative accuracy (to the dataset's base network at ``x_base``) of networks at ``x``.

    ``knee_bounds``: the saturating knee is clipped to this ``[low, high]`` (log10 weights): a
    knee linear in complexity must not be extrapolated beyond the weights the calibration saw
    (with complexities close together, ``kappa`` is ill-determined and a new dataset's knee
    could land decades away)."""
    x = np.asarray(x, dtype=float)
    if form == "no_loss":
        return np.ones_like(x)
    if form == "linear":
        return linear_relative_accuracy(x, x_base, params["lam"] * complexity + params["delta"])
    if form in ("saturating", "average"):
        knee = params["kappa"] * complexity + params["mu"]
        if knee_bounds is not None:
            knee = float(np.clip(knee, knee_bounds[0], knee_bounds[1]))
        base = saturating_relative_accuracy(x_base, knee, params["beta"])
        return saturating_relative_accuracy(x, knee, params["beta"]) / max(float(base), 1e-9)
    raise ValueError(f"unknown degradation form {form!r}.")


def bootstrap_params(points: Sequence[Mapping], form: str, n: int = 200, seed: int = 0) -> list[dict]:
    """Refits of ``form`` on bootstrap resamples: datasets drawn with replacement, and within each
    drawn dataset its surviving seeds redrawn (median again) - the two sources of a fit's error."""
    rng = np.random.default_rng(seed)
    names = sorted({p["dataset"] for p in points})
    fits = []
    for _ in range(int(n)):
        sample = []
        for j, name in enumerate(rng.choice(names, size=len(names), replace=True)):
            for p in (p for p in points if p["dataset"] == name):
                seeds = p["r_seeds"] or [p["r"]]
                drawn = float(np.median(rng.choice(seeds, size=len(seeds), replace=True)))
                sample.append({**p, "dataset": f"{name}#{j}", "r": drawn})
        try:
            fits.append(fit_form(sample, form))
        except ValueError:  # a resample with one distinct complexity cannot be fitted: skip it
            continue
    return fits


def cross_validated_spread(points: Sequence[Mapping], form: str) -> dict:
    """Eq. S3's ``sigma(r_hat)`` from leave-one-dataset-out residuals of single seeds: what a new
    dataset's single trained network does around the model (model error + seed noise)."""
    names = sorted({p["dataset"] for p in points})
    predicted, measured = [], []
    for held in names:
        train = [p for p in points if p["dataset"] != held]
        try:
            params = fit_form(train, form)
        except ValueError:
            continue
        for p in (p for p in points if p["dataset"] == held and p["x"] < p["x_base"]):
            r_hat = float(predict_form(params, form, p["complexity"], p["x"], p["x_base"], params.get("knee_bounds")))
            for value in p["r_seeds"]:
                predicted.append(r_hat)
                measured.append(value)
    if len(predicted) < 2:
        raise ValueError(f"too few held-out points ({len(predicted)}) to estimate the prediction spread of {form!r}.")
    return fit_residual_spread(predicted, measured)


# ------------------------------------------------------------------------------------------
# the probe: a dataset's own curve from its smallest networks (docs/method.md §7.3)


def fit_probe_curve(
    x: Sequence[float],
    accuracy: Sequence[float],
    prior: Mapping[str, float],
    noise_floor: float = 0.01,
) -> dict:
    """Absolute accuracy ``A(x) = P * (1 - beta * max(0, knee - x))`` through a probe's runs.

    A probe trains a few small widths; three widths cannot pin three parameters against seed
    noise, so the knee and the fall get Gaussian priors from the real-data calibration
    (``prior = {"knee", "knee_sd", "beta", "beta_sd"}``) and the plateau ``P`` is free: a MAP
    fit by least squares on the runs (each weighted by the seeds' pooled noise, at least
    ``noise_floor``) plus the two prior terms. The covariance of the parameters is the
    Gauss-Newton one at the optimum.

    Returns ``{"plateau", "knee", "beta", "cov" (3x3, in that order), "noise", "dof", "n"}``.
    """
    x = np.asarray(x, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if x.size < 2 or x.shape != a.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(a))):
        raise ValueError(f"a probe curve needs >= 2 finite runs, got {a.tolist()}.")
    groups = [a[x == v] for v in np.unique(x)]
    pooled = [float(np.var(g, ddof=1)) for g in groups if g.size > 1]
    noise = max(float(noise_floor), math.sqrt(float(np.mean(pooled)))) if pooled else float(noise_floor)

    def residuals(p):
        plateau, knee, beta = p
        model = plateau * (1.0 - beta * np.maximum(0.0, knee - x))
        return np.concatenate([(model - a) / noise, [(knee - prior["knee"]) / prior["knee_sd"],
                                                     (beta - prior["beta"]) / prior["beta_sd"]]])

    # the hinge has no gradient in the knee where the knee lies beyond every run, so a local
    # optimiser can stall there: scan the knee over the runs' range (+- a decade and a half), fit
    # plateau and fall at each, and refine the best; the knee stays inside that range
    lo, hi = float(x.min()) - 1.0, float(x.max()) + 1.5
    bounds = ([0.0, lo, 0.0], [1.0, hi, np.inf])
    best = None
    for knee in np.linspace(lo, hi, 51):
        trial = least_squares(lambda p: residuals([p[0], knee, p[1]]), [float(a.max()), float(prior["beta"])],
                              bounds=([0.0, 0.0], [1.0, np.inf]))
        if best is None or trial.cost < best[0]:
            best = (trial.cost, [trial.x[0], knee, trial.x[1]])
    start = np.clip(best[1], [b + 1e-9 for b in bounds[0]], [b - 1e-9 if np.isfinite(b) else b for b in bounds[1]])
    fit = least_squares(residuals, start, bounds=bounds)
    jac = fit.jac
    cov = np.linalg.pinv(jac.T @ jac)
    return {
        "plateau": float(fit.x[0]),
        "knee": float(fit.x[1]),
        "beta": float(fit.x[2]),
        "cov": cov.tolist(),
        "noise": noise,
        "dof": max(1, int(x.size) + 2 - 3),
        "n": int(x.size),
    }


def probe_accuracy(fit: Mapping, x) -> np.ndarray:
    """The probe's predicted absolute accuracy at ``x = log10 theta``."""
    return fit["plateau"] * saturating_relative_accuracy(x, fit["knee"], fit["beta"])
