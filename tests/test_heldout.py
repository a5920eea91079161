"""Held-out checks end to end on tiny synthetic data: a calibration, its plan check and probe check."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from monai_ccnet.data.synthetic import make_synthetic_datasets  # noqa: E402
from monai_ccnet.workflows import CalibrationSweep  # noqa: E402

TINY_RECIPE = {"patch_size": [32, 32], "max_epochs": 1, "epoch_length": 3, "early_stop_patience": 0,
               "num_samples": 2, "batch_size": 2, "val_interval": 1}


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    datasets = make_synthetic_datasets(str(root / "data"), ["discs", "cells", "vessels"], num_images=6, size=32)
    out = root / "calibration"
    sweep = CalibrationSweep(datasets, str(out), widths=[4, 8, 16], multipliers=[1.0, 0.5, 0.25], seeds=[0, 1],
                             recipe=TINY_RECIPE, progress=False, plots=False, bootstrap=0, interval_bootstrap=20,
                             complexity={"measures": ["jpeg", "foreground"]})
    summary = sweep.run()
    assert summary["status"] == "complete"
    return out


def test_calibration_writes_both_forms_and_its_held_out_check(calibration):
    lodo = json.loads((calibration / "lodo_f1.json").read_text())
    assert set(lodo["models"]) == {"linear", "saturating", "no_loss"} and lodo["datasets"] == ["cells", "discs", "vessels"]
    default = json.loads((calibration / "degradation_f1.json").read_text())
    assert default["form"] == lodo["default"] and "leave-one-dataset-out" in default["provenance"]["default_form_because"]
    for form in ("linear", "saturating"):
        assert json.loads((calibration / f"degradation_f1_{form}.json").read_text())["form"] == form


def test_plan_check_trains_every_plan_and_reuses_calibration_runs(calibration, tmp_path):
    from monai_ccnet.workflows.heldout import PLAN_CONSTRAINTS, PlanCheck

    check = PlanCheck(str(calibration), str(tmp_path / "plans"), form="linear", seeds=[0, 1], workers=1,
                      interval_bootstrap=10, constraints=PLAN_CONSTRAINTS[2:])  # the two disk budgets
    assert len(check.plans) == 3 * 2 * 2  # datasets x budgets x (uniform, per stage)
    summary = check.run()
    assert summary["status"] == "complete"
    result = json.loads((tmp_path / "plans" / "plans.json").read_text())
    trained = [p for p in result["plans"] if "widths" in p]
    assert trained and all(p["achieved"] is not None and len(p["achieved_seeds"]) == 2 for p in trained)
    for plan in trained:  # every budget plan fits its budget exactly
        assert plan["weights"] <= plan["budget_weights"]
    # a planned network the calibration trained (same widths and seed) is its record, not retrained
    again = PlanCheck(str(calibration), str(tmp_path / "reuse"), form="linear", seeds=[0, 1], workers=1,
                      interval_bootstrap=10, constraints=PLAN_CONSTRAINTS[2:3], datasets=["discs"])
    again.plans = [{**again.plans[0], "widths": [2, 4, 8]}]  # the calibration's multiplier 0.5
    again.run()
    reused = [json.loads(p.read_text()) for p in (tmp_path / "reuse" / "runs").glob("*.json")]
    assert sorted(r["reused_from"] for r in reused) == ["discs__m0.5__s0", "discs__m0.5__s1"]


def test_probe_plan_check_plans_from_each_probe_and_judges_every_seed(calibration, tmp_path):
    from monai_ccnet.planning import DegradationModel
    from monai_ccnet.workflows.heldout import ProbePlanCheck

    prior = DegradationModel(lam=0.1, delta=0.01, provenance={"base_widths": [4, 8, 16], "recipe": TINY_RECIPE}).to_dict()
    check = ProbePlanCheck(str(calibration / "records.json"), str(calibration.parent / "data"), str(tmp_path / "pp"),
                           prior=prior, seeds=[0], floors=[0.9], confidences=[None, 0.9],
                           probe_multipliers=(1.0, 0.5), probe_seeds=(0, 1), workers=1)
    assert len(check.plans) == 3 * 2 * 2  # datasets x (central, confidence) x (uniform, per stage)
    for name, probe in check.probes.items():  # each probe is its own dataset's calibration runs, nothing else
        assert probe["curve"]["n"] == [2, 1] and probe["prior_seed_sd"] is not None
    summary = check.run()
    assert summary["status"] == "complete"
    result = json.loads((tmp_path / "pp" / "probe_plans.json").read_text())
    trained = [p for p in result["plans"] if "widths" in p]
    refused = [p for p in result["plans"] if "refused" in p]
    assert len(trained) + len(refused) == 12 and all(p["refused"] for p in refused)
    for plan in trained:
        assert set(plan["met_seeds"]) == {"0"} and plan["met_median"] == plan["met_seeds"]["0"]
        assert plan["met_median"] == (plan["achieved"] >= plan["floor"])
        if plan["oracle_weights"]:
            assert plan["weights_vs_oracle"] == pytest.approx(plan["weights"] / plan["oracle_weights"])
    assert set(result["summary"]) == {"with_confidence", "without_confidence"}
    # every candidate probe design is scored on the same targets
    candidates = result["candidates"]["overall"]
    assert set(candidates) == set(result["candidates"]["description"]) and len(candidates) == 4
    assert all(c["full_network_mae"] >= 0 for c in candidates.values())


def test_identical_plans_count_once_in_the_summaries():
    """Uniform and per-stage planning that chose the same network for the same constraint trained
    one network: one outcome, not two (the plan check counted chase_db1's 1-1-2-4-8 twice)."""
    from monai_ccnet.workflows.heldout import _distinct_plans

    same = {"dataset": "chase_db1", "constraint": "floor 0.90", "widths": [1, 1, 2, 4, 8], "floor_met": False}
    rows = [{**same, "layerwise": False}, {**same, "layerwise": True},
            {**same, "constraint": "floor 0.95", "layerwise": False},  # another floor: another outcome
            {"dataset": "chase_db1", "constraint": "floor 0.90", "refused": "no plan", "layerwise": False}]
    assert [(r["constraint"], r.get("layerwise")) for r in _distinct_plans(rows)] == [
        ("floor 0.90", False), ("floor 0.95", False), ("floor 0.90", False)]


def test_network_probe_plan_check_probes_plans_and_trains_a_monai_network(tmp_path):
    """``heldout probe-plans --network-def``: the probe of a MONAI UNet trained fresh, floors planned
    from it in the registry's weights, plans and the full network trained with seeds 0 and 1; a rerun
    trains nothing."""
    from monai_ccnet.data import make_synthetic_dataset
    from monai_ccnet.nets.network_def import read_network_def
    from monai_ccnet.planning import fit_degradation
    from monai_ccnet.workflows.heldout import NetworkProbePlanCheck
    from tests.conftest import saturating_records

    make_synthetic_dataset(tmp_path / "data", "discs", num_images=6, size=32)
    block = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": [16, 32, 64],
             "strides": [2, 2], "num_res_units": 2}
    (tmp_path / "train.json").write_text(json.dumps({"network_def": block}))
    prior = fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=20,
                            provenance={"recipe": TINY_RECIPE, "name": "tiny"})
    check = NetworkProbePlanCheck(str(tmp_path / "train.json"), str(tmp_path / "data"), str(tmp_path / "out"), ["discs"],
                                  prior=prior, floors=[0.9], confidences=[None], workers=1)
    summary = check.run()["summary"]
    result = json.loads((tmp_path / "out" / "probe_plans.json").read_text())
    case = result["cases"][0]
    spec = read_network_def({"network_def": block}).spec
    assert case["architecture"] == "monai.UNet" and case["base"]["weights"] == spec.weights((16, 32, 64))
    assert sorted(case["full_seeds"]) == ["0", "1"]
    assert case["probe"]["probe_widths"] == [[16, 32, 64], [4, 8, 16], [2, 4, 8]]
    plan = case["plans"][0]
    if "refused" not in plan:  # a one-epoch probe may refuse honestly; otherwise every seed is trained
        assert plan["weights"] == spec.weights(plan["widths"]) and len(plan["achieved_seeds"]) == 2
        assert plan["channels"] == plan["widths"]
    assert summary["plans"] == 1 and (tmp_path / "out" / "probe_plans.md").is_file()
    runs = sorted((tmp_path / "out").rglob("runs/*.json"))
    mtimes = [p.stat().st_mtime_ns for p in runs]
    check.run()
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "out").rglob("runs/*.json"))] == mtimes


def test_heldout_cli_network_def_needs_datasets(tmp_path):
    import argparse

    from monai_ccnet.cli import heldout as heldout_cli

    parser = argparse.ArgumentParser()
    heldout_cli.add_arguments(parser)
    args = parser.parse_args(["probe-plans", "--network-def", "docs/results/probe_plans_monai/unet_res2.json",
                              "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs --datasets"):
        heldout_cli.run(args)
