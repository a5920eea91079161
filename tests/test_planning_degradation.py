"""Degradation model (docs/method.md §3, Eq. 3): fitting from calibration records, presets, save/load."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from monai_ccnet.accounting import DEFAULT_WIDTHS, resolve_widths, total_weights
from monai_ccnet.planning import SCHEMA_VERSION, DegradationModel, fit_degradation, list_presets, load_degradation, rank_measures

MULTIPLIERS = (1.0, 0.5, 0.25, 0.125, 0.0625)


def make_records(lam, delta, jpeg, foreground=None, measure_of=None, noise=0.0, seeds=(0,), rng=None, full=0.8):
    """Calibration records whose accuracy follows Eq. 3 exactly (plus optional Gaussian noise).

    ``measure_of(j, b)`` is the complexity that drives the slope (default: jpeg).
    """
    rng = rng or np.random.default_rng(0)
    foreground = foreground or [0.1] * len(jpeg)
    records = []
    for d, (j, b) in enumerate(zip(jpeg, foreground)):
        c = measure_of(j, b) if measure_of else j
        slope = lam * c + delta
        log_full = math.log10(total_weights("unet", DEFAULT_WIDTHS))
        for m in MULTIPLIERS:
            widths = resolve_widths(DEFAULT_WIDTHS, m)
            weights = total_weights("unet", widths)
            rel = 1.0 - slope * (log_full - math.log10(weights))
            for seed in seeds:
                f1 = full * rel + (rng.normal(0, noise) if noise else 0.0)
                records.append({
                    "dataset": f"d{d}", "complexity": {"jpeg": [j, j / 2], "foreground": [b, b], "edge": [0.3, 0.2]},
                    "multiplier": m, "widths": list(widths), "weights": weights, "seed": seed,
                    "f1": f1, "iou": f1 * 0.9,
                })
    return records


JPEG = [0.02, 0.05, 0.09, 0.14, 0.2, 0.28]


def test_fit_recovers_known_lambda_delta_exactly():
    model = fit_degradation(make_records(0.437, 0.0103, JPEG), metric="f1", measure="jpeg", arch="unet", bootstrap=200)
    assert model.lam == pytest.approx(0.437, abs=1e-10)
    assert model.delta == pytest.approx(0.0103, abs=1e-10)
    assert model.r2 == pytest.approx(1.0)
    assert model.n_datasets == 6 and model.n_points == 30
    assert all(abs(d["residual"]) < 1e-10 for d in model.datasets)
    assert model.ci["lam"] == pytest.approx([0.437, 0.437], abs=1e-9)
    # IoU is proportional to F1 here, so its relative accuracy is the same
    assert fit_degradation(make_records(0.437, 0.0103, JPEG), metric="iou", bootstrap=0).lam == pytest.approx(0.437)


def test_fit_from_noisy_records_lies_within_its_confidence_interval():
    jpeg = list(np.linspace(0.02, 0.3, 10))
    records = make_records(0.437, 0.0103, jpeg, noise=0.01, seeds=(0, 1, 2), rng=np.random.default_rng(0))
    model = fit_degradation(records, bootstrap=1000, seed=0)
    lo, hi = model.ci["lam"]
    assert lo <= 0.437 <= hi and lo < model.lam < hi
    lo, hi = model.ci["delta"]
    assert lo <= 0.0103 <= hi
    assert model.ci["level"] == 0.95 and model.ci["n"] == 1000
    assert 0 < model.r2 < 1
    # the relative accuracy divides by the mean over seeds of the multiplier-1 runs
    d0 = [r for r in records if r["dataset"] == "d0"]
    a1 = np.mean([r["f1"] for r in d0 if r["multiplier"] == 1.0])
    assert model.datasets[0]["full_accuracy"] == pytest.approx(a1)
    # coverage over independent noise draws: a 95% interval from 10 datasets should hold the truth in
    # about 19 of 20 draws; 15 leaves room for the percentile bootstrap's known narrowness with few datasets
    covered = 0
    for draw in range(1, 21):
        noisy = make_records(0.437, 0.0103, jpeg, noise=0.01, seeds=(0, 1, 2), rng=np.random.default_rng(draw))
        lo, hi = fit_degradation(noisy, bootstrap=300, seed=draw).ci["lam"]
        covered += lo <= 0.437 <= hi
    assert covered >= 15


def test_jb_weight_search_recovers_w_and_ranking():
    foreground = [0.3, 0.05, 0.2, 0.08, 0.25, 0.12]
    records = make_records(0.35, 0.001, JPEG, foreground, measure_of=lambda j, b: 0.7 * j + 0.3 * b)
    model = fit_degradation(records, metric="iou", measure="jb", bootstrap=0)
    assert model.variant["w"] == pytest.approx(0.7, abs=1e-3)
    assert model.lam == pytest.approx(0.35, rel=1e-3) and model.r2 == pytest.approx(1.0, abs=1e-6)
    ranked = rank_measures(records, "iou")
    assert [r[0] for r in ranked][0] == "jb"
    assert {r[0] for r in ranked} == {"jb", "jpeg", "foreground"}  # "edge" is constant: skipped, not ranked
    assert [r[1] for r in ranked] == sorted((r[1] for r in ranked), reverse=True)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rs: [r for r in rs if r["dataset"] == "d0"], r"at least 2 datasets, got 1"),
        (lambda rs: [r for r in rs if r["multiplier"] in (1.0,)], r"dataset 'd0' has runs at 1 width\(s\); a slope needs at least 2"),
        (lambda rs: [r for r in rs if r["multiplier"] != 1.0], r"dataset 'd0' has no run with multiplier 1"),
        (lambda rs: [{**r, "complexity": {"jpeg": [0.1]}} for r in rs], r"degenerate fit: every calibration dataset has the same complexity 'jpeg'"),
        (lambda rs: [{k: v for k, v in r.items() if k != "f1"} for r in rs], r"record 0 \(dataset 'd0'\) has no 'f1' key"),
        (lambda rs: [{**r, "complexity": {"edge": [1]}} for r in rs], r"has no complexity 'jpeg' \(has \['edge'\]\)"),
    ],
)
def test_fit_bad_input(edit, message):
    with pytest.raises(ValueError, match=message):
        fit_degradation(edit(make_records(0.4, 0.01, JPEG[:3])), bootstrap=0)


def test_save_load_round_trip_and_schema(tmp_path):
    model = fit_degradation(make_records(0.4, 0.01, JPEG), bootstrap=50, provenance={"run": "test"})
    path = model.save(tmp_path / "model.json")
    assert DegradationModel.load(path) == model
    assert load_degradation(path) == model
    assert model.slope(0.1) == pytest.approx(0.4 * 0.1 + 0.01)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 2 and data["form"] == "linear" and data["provenance"]["run"] == "test"
    (tmp_path / "newer.json").write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99 is newer"):
        DegradationModel.load(tmp_path / "newer.json")
    (tmp_path / "odd.json").write_text(json.dumps({**data, "lamda": 1}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lamda'\]"):
        DegradationModel.load(tmp_path / "odd.json")
    with pytest.raises(ValueError, match="metric must be one of"):
        DegradationModel(lam=0.4, delta=0.01, metric="dice")


def test_presets_are_the_papers_values():
    expected = {  # docs/method.md §3
        "unet-f1-paper": (0.437, 0.0103), "cumedvision-f1-paper": (0.538, 0.00427), "ucunet-f1-paper": (0.241, 0.00956),
        "unet-iou-paper": (0.349, 0.000072), "cumedvision-iou-paper": (0.366, 0.000096), "ucunet-iou-paper": (0.151, 0.00708),
    }
    assert sorted(expected) == [name for name in list_presets() if name.endswith("-paper")]
    for name, (lam, delta) in expected.items():
        model = load_degradation(name)
        arch, metric, _ = name.split("-")
        assert (model.lam, model.delta, model.arch, model.metric) == (lam, delta, arch, metric)
        assert "ACM JETC" in model.provenance["source"]
    assert load_degradation("unet-iou-paper").variant["w"] == 0.7
    with pytest.raises(ValueError, match="neither a file nor a preset; presets: cumedvision-f1-paper"):
        load_degradation("unet-dice-paper")


def test_load_degradation_takes_every_form_of_a_model(tmp_path):
    model = DegradationModel(lam=0.4, delta=0.01, measure="jb", variant={"w": 0.7})
    assert load_degradation(model) is model
    assert load_degradation(model.to_dict()) == model
    model.save(tmp_path / "model.json")
    assert load_degradation(tmp_path / "model.json") == load_degradation(str(tmp_path / "model.json")) == model
    assert load_degradation("unet-f1-paper").measure == "jpeg"
    with pytest.raises(ValueError, match="must be a DegradationModel, dict, preset name or path, got int"):
        load_degradation(42)


def test_real_data_presets_carry_provenance_interval_and_their_held_out_check():
    for metric, measure in (("f1", "jpeg"), ("iou", "jb")):
        model = load_degradation(f"unet-{metric}-cpu")
        assert model.form == "saturating" and model.metric == metric and model.measure == measure and model.has_interval
        prov = model.provenance
        assert prov["name"] == f"unet-{metric}-cpu" and "calibrate_cpu.yaml" in prov["command"]
        assert sorted(prov["datasets"]) == ["busi", "chase_db1", "dsb2018_nuclei", "hc18", "ph2"]
        assert prov["base_widths"] == [16, 32, 64, 128, 256] and prov["seeds"] == [0, 1, 2]
        assert {"mae", "no_loss_mae", "coverage"} <= set(prov["heldout"]) and model.excluded_runs
