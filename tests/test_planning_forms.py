"""The saturating form, failed-run exclusion, prediction intervals and LODO (docs/method.md §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.planning import DegradationModel, fit_degradation, load_degradation, plan_compression
from monai_ccnet.planning.forms import fit_saturating, robust_curves, saturating_relative_accuracy
from monai_ccnet.planning.lodo import leave_one_dataset_out

from tests.conftest import SATURATING_COMPLEXITY as COMPLEXITY
from tests.conftest import saturating_records

BASE = [16, 32, 64, 128, 256]


def test_saturating_fit_recovers_knee_and_fall():
    x = np.linspace(3.5, 6.5, 12)
    c = np.repeat([0.2, 0.8], 6)
    x = np.tile(np.linspace(3.5, 6.5, 6), 2)
    r = saturating_relative_accuracy(x, 1.5 * c + 4.0, 0.25)
    fit = fit_saturating(x, r, c)
    assert fit["beta"] == pytest.approx(0.25, abs=1e-3)
    assert fit["kappa"] == pytest.approx(1.5, abs=1e-2) and fit["mu"] == pytest.approx(4.0, abs=1e-2)
    with pytest.raises(ValueError, match="same complexity"):
        fit_saturating(x, r, np.full_like(x, 0.3))


def test_collapsed_run_is_flagged_and_left_out_of_the_fit():
    records = saturating_records()
    collapsed = next(r for r in records if r["dataset"] == "b" and r["multiplier"] == 0.0625 and r["seed"] == 1)
    collapsed["f1"] = 0.01
    curves = robust_curves(records)
    assert curves["b"]["widths"][-1]["failed"] == [1]
    model = fit_degradation(records, form="saturating", bootstrap=0, interval_bootstrap=20)
    assert model.excluded_runs == [
        {"dataset": "b", "widths": collapsed["widths"], "seed": 1, "f1": 0.01,
         "why": "below 0.5 x the median of the other seeds at this width"}
    ]
    assert model.beta == pytest.approx(0.3, abs=0.03)


def test_saturating_model_predicts_plans_and_round_trips(tmp_path):
    model = fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=50)
    assert model.form == "saturating" and model.has_interval
    path = model.save(tmp_path / "sat.json")
    assert load_degradation(path) == model
    complexity = [0.5, 0.25, 0.12, 0.06, 0.03]
    wide = model.predict_relative_accuracy(BASE, BASE, complexity)
    narrow = model.predict_relative_accuracy([1, 2, 4, 8, 16], BASE, complexity)
    assert wide == pytest.approx(1.0) and narrow < 0.9
    plan = plan_compression("unet", complexity, model, min_relative_accuracy=0.95, widths=BASE)
    assert plan.satisfied and plan.predicted_relative_accuracy >= 0.95 and plan.predicted_interval is not None
    smaller = resolve_widths(plan.widths, 0.8)
    assert model.predict_relative_accuracy(smaller, BASE, complexity) < 0.95 or smaller == tuple(plan.widths)


def test_interval_contains_central_value_and_widens_with_fewer_points():
    records = saturating_records(noise=0.02)
    many = fit_degradation(records, form="saturating", bootstrap=0, interval_bootstrap=100)
    # the same calibration with 3 of its 5 datasets and 2 of its 3 seeds
    subset = [r for r in records if r["dataset"] in ("a", "c", "e") and r["seed"] < 2]
    few = fit_degradation(subset, form="saturating", bootstrap=0, interval_bootstrap=100)
    widths, complexity = [2, 4, 8, 16, 32], [0.5, 0.3, 0.2, 0.1, 0.05]
    central, low, high = many.predict_interval(widths, BASE, complexity, 0.9)
    assert low < central < high
    _, few_low, few_high = few.predict_interval(widths, BASE, complexity, 0.9)
    assert few_high - few_low > high - low
    _, low80, high80 = many.predict_interval(widths, BASE, complexity, 0.8)
    assert high80 - low80 < high - low


def test_linear_model_interval_and_paper_preset_gives_none():
    linear = fit_degradation(saturating_records(noise=0.02), form="linear", bootstrap=0, interval_bootstrap=50)
    central, low, high = linear.predict_interval([4, 8, 16, 32, 64], BASE, [0.5, 0.3, 0.2, 0.1, 0.05])
    assert low < central < high
    paper = load_degradation("unet-f1-paper")
    assert not paper.has_interval and paper.predict_interval([4, 8, 16, 32, 64], BASE, [0.1] * 5) is None
    with pytest.raises(ValueError, match="no prediction spread"):
        plan_compression("unet", [0.1] * 5, paper, min_relative_accuracy=0.9, confidence=0.9, widths=BASE)


@pytest.mark.parametrize("form", ["linear", "saturating"])
@pytest.mark.parametrize("layerwise", [False, True])
def test_floor_plan_with_confidence_is_never_smaller(form, layerwise):
    model = fit_degradation(saturating_records(noise=0.01), form=form, bootstrap=0, interval_bootstrap=50)
    complexity = [0.5, 0.3, 0.2, 0.1, 0.05]
    planned = 0
    for floor in (0.7, 0.8, 0.9):
        plain = plan_compression("unet", complexity, model, min_relative_accuracy=floor, layerwise=layerwise, widths=BASE)
        try:
            sure = plan_compression("unet", complexity, model, min_relative_accuracy=floor, layerwise=layerwise,
                                    widths=BASE, confidence=0.9)
        except ValueError as err:  # not even the full network is sure enough: also "not smaller"
            assert "meets a floor" in str(err)
            continue
        planned += 1
        assert sure.weights >= plain.weights
        # one trained network reaches the floor with probability 0.9: the one-sided bound meets it
        assert sure.constraint["lower_bound"] >= floor and sure.constraint["confidence"] == 0.9
        assert sure.constraint["lower_bound"] == pytest.approx(
            model.lower_bound(sure.widths, BASE, complexity, 0.9), abs=1e-12)
    assert planned >= 1


def test_confidence_floor_no_network_can_meet_is_refused():
    model = fit_degradation(saturating_records(noise=0.05), form="saturating", bootstrap=0, interval_bootstrap=50)
    with pytest.raises(ValueError, match="no unet of these base widths meets a floor of 0.999"):
        plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=0.999, confidence=0.95, widths=BASE)


def test_version_1_model_files_still_load():
    old = {"lam": 0.4, "delta": 0.01, "metric": "f1", "measure": "jpeg", "variant": {}, "arch": "unet", "r2": 0.9,
           "n_datasets": 3, "n_points": 9, "provenance": {}, "form": "linear", "datasets": [], "ci": {},
           "schema_version": 1}
    model = DegradationModel.from_dict(old)
    assert model.lam == 0.4 and not model.has_interval
    with pytest.raises(ValueError, match="needs \\['beta', 'kappa', 'mu'\\]"):
        DegradationModel.from_dict({"form": "saturating", "beta": 0.3})


def test_leave_one_dataset_out_prefers_the_true_form_and_covers():
    lodo = leave_one_dataset_out(saturating_records(noise=0.01), COMPLEXITY, paper={"lam": 0.437, "delta": 0.0103},
                                 bootstrap=30)
    assert set(lodo) >= {"metric", "datasets", "models", "default"}
    assert lodo["datasets"] == sorted(COMPLEXITY)
    assert lodo["default"] == "saturating"
    mae = {m: v["mae"] for m, v in lodo["models"].items()}
    assert mae["saturating"] < 0.5 * mae["no_loss"] and mae["saturating"] < mae["average"]
    assert 0.7 <= lodo["intervals"]["saturating"]["coverage"] <= 1.0


def test_prediction_caveat_says_when_complexity_alone_was_not_supported():
    from monai_ccnet.planning import prediction_caveat

    assert "never checked on held-out datasets" in prediction_caveat(load_degradation("unet-f1-paper"))
    model = fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=0)
    model.provenance["heldout"] = {"mae": 0.05, "no_loss_mae": 0.05}
    assert "no better" not in prediction_caveat(model) and "0.050" in prediction_caveat(model)
    model.provenance["heldout"] = {"mae": 0.01, "no_loss_mae": 0.05}
    assert prediction_caveat(model) is None
    model.provenance = {"source": "monai_ccnet probe"}
    assert prediction_caveat(model) is None


def test_lodo_command_writes_the_contract_details_and_plots(tmp_path, capsys):
    import json

    from monai_ccnet.__main__ import main
    from monai_ccnet.complexity import ComplexityReport

    (tmp_path / "records.json").write_text(json.dumps(saturating_records(noise=0.01)))
    for variant, scale in (("native_raw_keep", 1.0), ("trained128_raw_keep", 2.0)):
        for name, c in COMPLEXITY.items():
            ComplexityReport({"scales": 2}, {"jpeg": {"mean": [c * scale, c], "std": [0.0, 0.0]},
                                             "foreground": {"mean": [0.2, 0.2], "std": [0.0, 0.0]}}
                             ).save(tmp_path / "reports" / variant / f"{name}.json")
    out = tmp_path / "results" / "lodo.json"
    code = main(["lodo", "--records", str(tmp_path / "records.json"), "--complexity-reports", str(tmp_path / "reports"),
                 "--output", str(out), "--bootstrap", "20", "--plots"])
    assert code == 0
    lodo = json.loads(out.read_text())
    assert set(lodo) == {"metric", "datasets", "models", "default"}
    assert set(lodo["models"]) == {"linear", "saturating", "average", "paper", "no_loss"}
    assert all(set(m) == {"mae", "per_dataset"} for m in lodo["models"].values())
    details = json.loads((tmp_path / "results" / "lodo_details.json").read_text())
    assert {r["variant"] for r in details["ranking"]} == {"native_raw_keep", "trained128_raw_keep"}
    assert details["command"].startswith("python -m monai_ccnet lodo")
    assert (tmp_path / "results" / "lodo_curves.png").is_file() and (tmp_path / "results" / "lodo_knees.png").is_file()
    assert "default form" in capsys.readouterr().out
