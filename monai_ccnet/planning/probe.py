"""The probe's statistics (docs/method.md §7.3): a dataset's own accuracy-vs-width curve, measured.

A probe trains the user's architecture on the user's data at a few widths - by default the full
(base) network once and stage-0 widths 4 and 2 twice - and predicts every width between them.
This module is the arithmetic on those runs, pure numpy/scipy (no torch), used by the probe
workflow, the planner (through :class:`~monai_ccnet.planning.DegradationModel`'s ``measured``
form) and the held-out checks alike:

- :func:`trivial_f1` and :func:`failed_seeds`: a run *failed* when it scored no better than the
  trivial masks (Eq. P0) - an absolute baseline computable from the labels, not a ratio to the
  other seeds - and a majority is never excluded: where most seeds failed, failure is what that
  width does.
- :func:`measured_curve`: per width the mean of every run (failures included: a deployed network
  that collapses misses its floor), made non-decreasing in width by isotonic regression (Eq. P1),
  and the seed noise pooled over the widths' replicate runs (Eq. P2; the calibration's seed noise
  can be given weight as a prior, off by default).
- :func:`curve_prediction`: relative accuracy at any log10(weights) by linear interpolation
  between measured widths (Eq. P3) - no curve shape is assumed, so nothing fitted on other
  datasets enters the central prediction - with its one-sided lower bound and two-sided interval
  for *one* network trained there, relative to the full network's expected accuracy (Eq. P4).

Why interpolation: the earlier probe fitted a hinge ``P * (1 - beta * max(0, knee - x))``
through stage-0 widths 8, 4, 2 with priors from the calibration; on new datasets whose accuracy
kept rising from width 8 to 16 its plateau came out low and every relative prediction high
(issue 16). Measuring the full network removes that extrapolation, and between measured widths
a curve that saturates (concave in log weights) lies above its chords, so interpolation errs on
the safe side there.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

__all__ = [
    "TRIVIAL_MARGIN",
    "NOISE_FLOOR",
    "PRIOR_NOISE_DOF",
    "trivial_f1",
    "failed_seeds",
    "seed_noise",
    "measured_curve",
    "curve_prediction",
    "unreliable_reason",
    "calibration_seed_noise",
    "hinge_prior",
]

#: a run must beat the trivial masks' F1 by this much (absolute) to count as trained
TRIVIAL_MARGIN = 0.01
#: smallest seed noise (s.d., relative to the full network) a probe assumes: two or three runs can
#: agree by chance far better than seeds do (chosen a priori, not tuned on any dataset)
NOISE_FLOOR = 0.005
#: weight, in degrees of freedom, of the calibration's seed noise against the probe's own (Eq. P2);
#: 0 by default: the real datasets' seed noise differed 15-fold (hc18 0.002-0.005, busi 0.03-0.07
#: of the full network's F1), so another dataset's noise is no estimate of yours
PRIOR_NOISE_DOF = 0
#: seed noise (relative s.d.) above which a probe is too noisy to plan from
MAX_NOISE = 0.15


def trivial_f1(foreground_fractions: Sequence[float]) -> float:
    """Eq. P0: the best test F1 (Dice) a constant mask reaches, averaged over images.

    All-background scores 0 on every image with foreground; all-foreground scores
    ``2 p / (1 + p)`` on an image whose foreground fraction is ``p``. A network whose F1 is not
    above this learned nothing from the images (chase_db1's width-1 F1 of 0.1221 is exactly it).
    """
    p = np.asarray([float(v) for v in foreground_fractions], dtype=float)
    p = p[p > 0]  # images without foreground are left out of the mean Dice, as MONAI's DiceMetric does
    if p.size == 0:
        return 0.0
    return float(np.mean(2.0 * p / (1.0 + p)))


def failed_seeds(values: Mapping, trivial: float, margin: float = TRIVIAL_MARGIN) -> list:
    """The seeds of one width whose accuracy is not above ``trivial + margin`` - unless they are
    a majority (then they are that width's typical result and are kept: an empty list)."""
    failed = [s for s, v in values.items() if not float(v) > trivial + margin]
    return failed if 2 * len(failed) <= len(values) and len(failed) < len(values) else []


def seed_noise(groups: Sequence[Sequence[float]], reference: float) -> tuple[float, int]:
    """Pooled within-width standard deviation of replicate runs, relative to ``reference``, and
    its degrees of freedom (sum of n - 1 over widths with >= 2 runs)."""
    ss, dof = 0.0, 0
    for values in groups:
        v = np.asarray(values, dtype=float)
        if v.size > 1:
            ss += float(np.sum((v - v.mean()) ** 2))
            dof += v.size - 1
    if dof == 0 or reference <= 0:
        return float("nan"), 0
    return math.sqrt(ss / dof) / reference, dof


def _isotonic(values: Sequence[float], weights: Sequence[float]) -> tuple[list[float], list[int]]:
    """Pool-adjacent-violators: the weighted least-squares non-decreasing fit; returns the fitted
    values and, per point, the id of the block it was pooled into."""
    blocks: list[list] = []  # [total weight, weighted sum, member indices]
    for i, (v, w) in enumerate(zip(values, weights)):
        blocks.append([float(w), float(w) * float(v), [i]])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            w2, s2, m2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += s2
            blocks[-1][2] += m2
    fitted, block_of = [0.0] * len(values), [0] * len(values)
    for b, (w, s, members) in enumerate(blocks):
        for i in members:
            fitted[i], block_of[i] = s / w, b
    return fitted, block_of


def measured_curve(
    runs: Sequence[Mapping],
    trivial: float = 0.0,
    prior_noise: float | None = None,
    prior_dof: int = PRIOR_NOISE_DOF,
    metric: str = "f1",
) -> dict:
    """A probe's runs as a measured curve (Eq. P1, P2).

    Args:
        runs: ``{"weights", "seed", metric}`` per trained network (one dataset, one architecture);
            the widest network is the full network the curve is relative to.
        trivial: the trivial masks' F1 on the test split (:func:`trivial_f1`).
        prior_noise: the calibration's seed noise (relative s.d.), weighted as ``prior_dof``
            degrees of freedom against the probe's own replicate runs; None: the probe's alone.

    Returns ``{"x": [...], "n": [...], "mean": [...], "level": [...], "block": [...], "failed":
    [[seed, ...], ...], "values": [{seed: value}, ...], "full_accuracy", "noise" (relative s.d.),
    "noise_dof", "own_noise", "own_dof", "trivial"}``, widths ascending. ``level`` is the isotonic
    (non-decreasing) fit of the means; ``full_accuracy`` its value at the widest network.
    """
    groups: dict[int, dict] = {}
    for run in runs:
        value = run.get(metric)
        if value is None or not math.isfinite(float(value)):
            raise ValueError(f"probe run {run.get('key', run)} has no finite {metric!r}: {value!r}.")
        groups.setdefault(int(run["weights"]), {})[run["seed"]] = float(value)
    if len(groups) < 2:
        raise ValueError(f"a measured curve needs runs at >= 2 widths, got {len(groups)}.")
    weights = sorted(groups)
    values = [groups[w] for w in weights]
    failed = [failed_seeds(v, trivial) for v in values]
    means = [float(np.mean(list(v.values()))) for v in values]
    counts = [len(v) for v in values]
    level, block = _isotonic(means, counts)
    full = level[-1]
    # noise from the replicate runs that trained (a collapse is not seed noise around a level)
    kept = [[x for s, x in v.items() if s not in f] for v, f in zip(values, failed)]
    own, own_dof = seed_noise(kept, full)
    if prior_noise is not None and math.isfinite(prior_noise) and prior_dof > 0:
        pooled = (prior_dof * prior_noise**2 + own_dof * (own**2 if own_dof else 0.0)) / (prior_dof + own_dof)
        noise, dof = math.sqrt(pooled), prior_dof + own_dof
    else:
        noise, dof = own, own_dof
    return {
        "x": [math.log10(w) for w in weights], "weights": weights, "n": counts, "mean": means, "level": level,
        "block": block, "failed": failed, "values": [{str(s): x for s, x in v.items()} for v in values],
        "full_accuracy": full, "noise": max(NOISE_FLOOR, noise) if dof and math.isfinite(noise) else None,
        "noise_dof": int(dof) if dof and math.isfinite(noise) else 0,
        "own_noise": own if own_dof and math.isfinite(own) else None, "own_dof": int(own_dof), "trivial": float(trivial), "metric": metric,
    }


def unreliable_reason(curve: Mapping) -> str | None:
    """Why a measured curve cannot support plans, or None: no replicate runs to measure seed noise,
    a full network that trained nothing, or seeds too noisy to tell widths apart."""
    metric = curve.get("metric", "f1")
    if curve["level"][-1] <= curve["trivial"] + TRIVIAL_MARGIN:
        return (f"the full network scored {metric} {curve['level'][-1]:.3f}, no better than the trivial masks "
                f"({curve['trivial']:.3f}): training failed; the data may be too small, or the recipe too short for it")
    if not curve["noise_dof"]:
        return "no width has two runs that trained, so the seed noise cannot be measured: train two seeds of a width"
    if curve["noise"] > MAX_NOISE:
        return (f"the seeds disagree by {curve['noise']:.3f} of the full network's {metric} (s.d.), more than "
                f"{MAX_NOISE}: too noisy to plan from; train more seeds or a longer recipe")
    return None


def _coefficients(curve: Mapping, x: float, extrapolate: bool) -> tuple[np.ndarray, str | None]:
    """Interpolation weights of the measured levels at ``x`` (Eq. P3) and where ``x`` lies outside
    the measured range (``"above"``, ``"below"`` or None)."""
    xs = np.asarray(curve["x"], dtype=float)
    c = np.zeros(xs.size)
    if x >= xs[-1]:  # wider than every measured network: the curve is taken as flat there
        c[-1] = 1.0
        return c, ("above" if x > xs[-1] + 1e-12 else None)
    if x < xs[0]:
        if not extrapolate:
            raise ValueError(
                f"log10(weights) {x:.3f} is below the probe's smallest network ({xs[0]:.3f}): no accuracy was measured "
                "there (allow_extrapolation extends the last segment's slope)."
            )
        i = 0
    else:
        i = int(np.searchsorted(xs, x, side="right") - 1)
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    c[i], c[i + 1] = 1.0 - t, t
    return c, ("below" if x < xs[0] else None)


def curve_prediction(
    curve: Mapping, x: float, x_full: float | None = None, level: float = 0.9, confidence: float | None = None,
    extrapolate: bool = False,
) -> dict:
    """Relative accuracy of one network at ``x = log10 weights`` against the full network at
    ``x_full`` (default: the widest measured) - Eq. P3, P4.

    ``central`` is ``A(x) / A(x_full)`` from the interpolated levels. The uncertainty is that of
    ``A_new(x) - r * A(x_full)`` for one new run: its seed noise plus the levels' own noise
    (``sigma^2 / n`` of each isotonic block, through the interpolation weights; at the full
    network itself the two cancel, so only the new run's noise is left). ``interval`` is
    two-sided at ``level``; ``lower`` (with ``confidence``) the one-sided bound that one network
    trained at ``x`` reaches with probability ``confidence`` (Student t on the noise's degrees of
    freedom).
    """
    x_full = curve["x"][-1] if x_full is None else float(x_full)
    c, where = _coefficients(curve, float(x), extrapolate)
    v, _ = _coefficients(curve, x_full, True)
    levels = np.asarray(curve["level"], dtype=float)
    full = float(v @ levels)
    if full <= 0:
        raise ValueError("the probe's full-network accuracy is not positive: no relative prediction is possible.")
    central = max(0.0, float(c @ levels)) / full
    # variance of A_new - central * A_full, per isotonic block (pooled points share one level)
    diff = c - central * v
    blocks = np.asarray(curve["block"])
    sizes = np.asarray(curve["n"], dtype=float)
    var_levels = sum(float(diff[blocks == b].sum()) ** 2 / float(sizes[blocks == b].sum()) for b in np.unique(blocks))
    sd = float(curve["noise"]) * math.sqrt(1.0 + var_levels)  # relative units: noise is relative to the full network
    dof = max(1, int(curve["noise_dof"]))
    half = float(student_t.ppf(0.5 + level / 2.0, dof)) * sd
    out = {"central": central, "interval": [max(0.0, central - half), central + half], "sd": sd, "dof": dof,
           "extrapolated": where}
    if confidence is not None:
        out["lower"] = central - float(student_t.ppf(float(confidence), dof)) * sd
    return out


def calibration_seed_noise(points: Sequence[Mapping]) -> tuple[float, int]:
    """The calibration's seed noise (relative s.d., pooled over datasets and widths) from
    :func:`~monai_ccnet.planning.forms.curve_points`: the prior of a probe's own (Eq. P2). Widths
    where a seed collapsed (a run below half another's) are left out: a collapse is not noise."""
    groups = [p["r_seeds"] for p in points if len(p["r_seeds"]) > 1 and min(p["r_seeds"]) >= 0.5 * max(p["r_seeds"])]
    return seed_noise(groups, 1.0)


# ------------------------------------------------------------------------------------------
# the earlier probe, kept as a candidate the held-out check compares against (docs/RESULTS.md §6):
# a hinge through stage-0 widths 8, 4, 2 with the calibration's knee and fall as priors


def hinge_prior(prior, complexity: float, max_sd: float = 0.5) -> dict:
    """The calibration's knee (clipped to its ``knee_bounds``) and fall at a dataset's complexity,
    with their spreads (the datasets' scatter around the model, and the refits' capped at ``max_sd``)."""
    knee = prior.kappa * complexity + prior.mu
    if prior.knee_bounds:
        knee = float(np.clip(knee, *prior.knee_bounds))
    boots = prior.bootstrap or []
    boot_knees = [b["kappa"] * complexity + b["mu"] for b in boots]
    boot_betas = [b["beta"] for b in boots]
    knee_sd = math.hypot(float(prior.spread.get("knee_sd", 0.3)), min(max_sd, float(np.std(boot_knees))) if boots else 0.0)
    beta_sd = math.hypot(float(prior.spread.get("beta_sd", 0.1)), min(max_sd, float(np.std(boot_betas))) if boots else 0.0)
    return {"knee": knee, "knee_sd": max(knee_sd, 0.05), "beta": prior.beta, "beta_sd": max(beta_sd, 0.02)}
