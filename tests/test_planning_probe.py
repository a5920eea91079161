"""The probe's statistics (monai_ccnet.planning.probe, docs/method.md §7.3): failures against the
trivial masks, the measured curve, its predictions, and what 'confidence' means, on curves that
no calibration prior knows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.planning import plan_compression
from monai_ccnet.planning import probe as stats
from monai_ccnet.workflows.probe import probe_model

BASE = [16, 32, 64, 128, 256]
PROBE = {1.0: (0,), 0.25: (0, 1), 0.125: (0, 1)}


def weights(m: float) -> int:
    return total_weights("unet", list(resolve_widths(BASE, m)), 2, 1, 2)


def runs_from(curve, noise=None, rng=None, design=PROBE):
    """Probe runs whose F1 is ``curve(log10 weights)``, plus Gaussian seed noise when given."""
    out = []
    for m, seeds in design.items():
        for s in seeds:
            eps = rng.normal(0.0, noise) if noise else (0.003 if s else -0.003)
            out.append({"weights": weights(m), "seed": s, "f1": float(curve(math.log10(weights(m)))) + eps})
    return out


def rising(x):
    # keeps rising up to the full network (no plateau), steeper below: a curve the old hinge got wrong
    return 0.9 - 0.02 * (math.log10(weights(1.0)) - x) - 0.25 * max(0.0, 4.6 - x) ** 2


def test_trivial_f1_is_the_all_foreground_mask():
    assert stats.trivial_f1([0.065]) == pytest.approx(2 * 0.065 / 1.065)
    assert stats.trivial_f1([0.5, 0.0, 0.1]) == pytest.approx(np.mean([2 * 0.5 / 1.5, 2 * 0.1 / 1.1]))  # empty image left out
    assert stats.trivial_f1([0.0, 0.0]) == 0.0


def test_failed_seeds_are_judged_against_the_trivial_masks_and_never_a_majority():
    trivial = 2 * 0.065 / 1.065  # chase_db1's 0.1221 at width 1 is exactly this
    assert stats.failed_seeds({0: 0.0, 1: 0.44, 2: trivial}, trivial) == []  # 2 of 3 at the trivial F1: a majority
    assert stats.failed_seeds({0: 0.0, 1: 0.44, 2: 0.32}, trivial) == [0]
    assert stats.failed_seeds({0: 0.0, 1: 0.0, 2: 0.22}, trivial) == []  # most seeds failed: kept, it is the width's result
    assert stats.failed_seeds({0: trivial, 1: 0.5}, trivial) == [0]  # half is not a majority
    assert stats.failed_seeds({0: 0.30, 1: 0.70}, 0.1) == []  # both trained: their spread is noise, not a failure


def test_a_width_that_keeps_one_run_does_not_shrink_the_noise():
    # seeds 0.30 / 0.70 both trained: the noise they show counts, and it is too large to plan from
    runs = runs_from(lambda x: 0.8)
    for r in runs:
        if r["weights"] == weights(0.25):
            r["f1"] = 0.30 if r["seed"] == 0 else 0.70
    curve = stats.measured_curve(runs, trivial=0.1)
    assert curve["noise"] > stats.MAX_NOISE and "disagree" in stats.unreliable_reason(curve)
    # a collapse next to a trained seed is a failure, not noise: the other width's pair measures it
    runs = runs_from(lambda x: 0.8)
    for r in runs:
        if r["weights"] == weights(0.125) and r["seed"] == 1:
            r["f1"] = 0.0
    curve = stats.measured_curve(runs, trivial=0.1)
    assert curve["own_dof"] == 1 and curve["failed"][0] == [1]
    assert curve["mean"][0] == pytest.approx((0.8 - 0.003) / 2)  # the failure still counts in the width's mean


def test_no_replicate_runs_or_a_failed_full_network_is_unreliable():
    single = runs_from(lambda x: 0.8, design={1.0: (0,), 0.25: (0,)})
    assert "no width has two runs" in stats.unreliable_reason(stats.measured_curve(single, 0.1))
    dead = runs_from(lambda x: 0.05)
    assert "no better than the trivial masks" in stats.unreliable_reason(stats.measured_curve(dead, 0.1))


def test_the_curve_is_made_non_decreasing_and_the_full_network_anchors_it():
    # the full network's one seed came out below width 4's pair: isotonic pooling averages them
    runs = runs_from(lambda x: 0.8 if x > math.log10(weights(0.2)) else 0.6)
    for r in runs:
        if r["weights"] == weights(1.0):
            r["f1"] = 0.76
    curve = stats.measured_curve(runs, 0.1)
    assert curve["level"][0] == pytest.approx(0.6)  # width 2: below, untouched
    assert curve["level"][1] == curve["level"][2] == pytest.approx((0.76 + 0.797 + 0.803) / 3)
    assert curve["block"][1] == curve["block"][2] != curve["block"][0]
    assert curve["full_accuracy"] == curve["level"][2]


def test_predictions_interpolate_between_measured_widths_and_refuse_below_them():
    runs = runs_from(rising)
    curve = stats.measured_curve(runs, 0.1)
    x = [math.log10(weights(m)) for m in (0.125, 0.25, 1.0)]
    full = stats.curve_prediction(curve, x[2], confidence=0.9)
    assert full["central"] == 1.0
    assert full["sd"] == pytest.approx(curve["noise"])  # at the full network only one run's noise is left
    mid = 0.5 * (x[0] + x[1])
    expected = 0.5 * (curve["level"][0] + curve["level"][1]) / curve["level"][2]
    assert stats.curve_prediction(curve, mid)["central"] == pytest.approx(expected)
    assert stats.curve_prediction(curve, mid)["sd"] > curve["noise"]  # the levels' own noise adds away from the full network
    with pytest.raises(ValueError, match="below the probe's smallest network"):
        stats.curve_prediction(curve, x[0] - 0.1)
    assert stats.curve_prediction(curve, x[0] - 0.1, extrapolate=True)["extrapolated"] == "below"
    sure = [stats.curve_prediction(curve, mid, confidence=c)["lower"] for c in (0.5, 0.8, 0.95)]
    assert sure[0] == pytest.approx(expected) and sure[0] > sure[1] > sure[2]


def test_floor_plans_stay_where_the_probe_measured():
    curve = stats.measured_curve(runs_from(rising), 0.1)
    model = probe_model(curve, "unet", "f1", curve["full_accuracy"], {"source": "monai_ccnet probe"})
    low = plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=0.3, widths=BASE)
    assert low.weights >= weights(0.125) and low.extrapolation is None  # not below the narrowest probe network
    wild = plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=0.3, widths=BASE, allow_extrapolation=True)
    assert wild.weights < weights(0.125) and wild.extrapolation["decades_below_measured"] > 0
    with pytest.raises(ValueError, match="smallest network whose accuracy was measured"):
        plan_compression("unet", [0.5] * 5, model, disk_budget_mb=0.01, widths=BASE)


def test_confidence_refusal_names_the_seed_noise():
    curve = stats.measured_curve(runs_from(lambda x: 0.8, noise=0.03, rng=np.random.default_rng(3)), 0.1)
    model = probe_model(curve, "unet", "f1", curve["full_accuracy"], {"source": "monai_ccnet probe"})
    with pytest.raises(ValueError, match="seed noise stops it"):
        plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=0.99, widths=BASE, confidence=0.9)


def test_confidence_means_the_trained_network_meets_the_floor_that_often():
    # simulate the user's path on a curve no prior knows: probe runs with seed noise, a plan at
    # confidence 0.9, one new training at the plan; the floor relative to the full network's
    # expected accuracy must be met in about 90% of the cases (never much less)
    rng = np.random.default_rng(0)
    sigma, floor, met, planned = 0.012, 0.93, [], 0
    for _ in range(150):
        runs = runs_from(rising, noise=sigma, rng=rng)
        curve = stats.measured_curve(runs, 0.1)
        model = probe_model(curve, "unet", "f1", curve["full_accuracy"], {"source": "monai_ccnet probe"})
        try:
            plan = plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=floor, widths=BASE, confidence=0.9)
        except ValueError:
            continue
        planned += 1
        new_run = rising(plan.log10_weights) + rng.normal(0.0, sigma)
        met.append(new_run >= floor * rising(math.log10(weights(1.0))))
    assert planned >= 100
    assert np.mean(met) >= 0.85
