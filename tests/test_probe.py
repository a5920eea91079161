"""The probe (docs/method.md §7.3): fit, refusal of unreliable probes, planner use, a tiny real run."""

from __future__ import annotations

import json
import math

import pytest

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.data import make_synthetic_dataset
from monai_ccnet.planning import fit_degradation, load_degradation, plan_compression
from monai_ccnet.planning.forms import saturating_relative_accuracy

from tests.conftest import saturating_records

BASE = [16, 32, 64, 128, 256]


@pytest.fixture(scope="module")
def prior():
    return fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=50)


@pytest.fixture
def probe(tmp_path, prior):
    from monai_ccnet.workflows.probe import Probe

    data = make_synthetic_dataset(tmp_path / "data", "discs", num_images=6, size=32)
    return Probe(str(data), str(tmp_path / "probe"), prior=prior, widths=BASE, progress=False, plots=True,
                 recipe={"patch_size": [32, 32], "max_epochs": 1, "epoch_length": 2, "early_stop_patience": 0})


def probe_records(curve, seeds=(0, 1), noise=(0.004, -0.004)):
    """Records of the probe's three widths whose F1 is ``curve(log10 weights)`` +- a little seed noise."""
    records = []
    for m in (0.5, 0.25, 0.125):
        widths = list(resolve_widths(BASE, m))
        weights = total_weights("unet", widths, 2, 1, 2)
        for seed, eps in zip(seeds, noise):
            records.append({"dataset": "discs", "widths": widths, "weights": weights, "seed": seed, "multiplier": m,
                            "f1": curve(math.log10(weights)) + eps, "iou": 0.5, "seconds": 1.0,
                            "complexity": {"jpeg": [0.5, 0.3], "foreground": [0.2, 0.2]}})
    return records


def test_probe_fit_predicts_plateau_and_plans(probe, prior):
    knee = prior.kappa * 0.5 + prior.mu  # the truth agrees with the prior here
    result = probe.fit(probe_records(lambda x: 0.85 * float(saturating_relative_accuracy(x, knee, prior.beta))))["probe"]
    assert result["status"] == "ok"
    assert result["plateau"] == pytest.approx(0.85, abs=0.02)
    low, high = result["plateau_interval"]
    assert low < 0.85 < high
    assert {tuple(p["widths"]) for p in result["predictions"]} >= {tuple(BASE)}
    saved = json.loads((probe.output_dir / "probe.json").read_text())
    assert saved["plateau"] == result["plateau"]
    model = load_degradation(probe.output_dir / "degradation.json")
    assert model.reference_accuracy == pytest.approx(result["plateau"]) and model.has_interval
    plan = plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=0.95, widths=BASE, confidence=0.9)
    assert plan.predicted_interval[0] >= 0.95


def test_probe_refuses_unordered_accuracies(probe):
    from monai_ccnet.workflows.probe import ProbeUnreliable

    with pytest.raises(ProbeUnreliable, match="accuracy falls as the network widens"):
        probe.fit(probe_records(lambda x: 1.2 - 0.1 * x))
    saved = json.loads((probe.output_dir / "probe.json").read_text())
    assert saved["status"] == "unreliable" and "not ordered" in saved["reason"]
    assert not (probe.output_dir / "degradation.json").exists()


def test_probe_refuses_failed_trainings(probe):
    from monai_ccnet.workflows.probe import ProbeUnreliable

    with pytest.raises(ProbeUnreliable, match="training failed at stage-0 width"):
        smallest = math.log10(total_weights("unet", resolve_widths(BASE, 0.125), 2, 1, 2))
        probe.fit(probe_records(lambda x: 0.0 if x <= smallest else 0.7))


def test_probe_needs_a_saturating_prior_and_two_seeds(tmp_path):
    from monai_ccnet.workflows.probe import Probe

    data = make_synthetic_dataset(tmp_path / "data", "discs", num_images=4, size=32)
    with pytest.raises(ValueError, match="saturating"):
        Probe(str(data), str(tmp_path / "p"), prior="unet-f1-paper")
    with pytest.raises(ValueError, match=">= 2 seeds"):
        Probe(str(data), str(tmp_path / "p"), prior=fit_degradation(saturating_records(), form="saturating",
                                                                         bootstrap=0, interval_bootstrap=10), seeds=[0])


def _run(probe) -> dict:
    from monai_ccnet.workflows.probe import ProbeUnreliable

    try:
        return probe.run()
    except ProbeUnreliable as err:  # a tiny probe may honestly be too noisy to fit: also a result
        return {"status": "unreliable", "error": str(err)}


def test_probe_runs_in_worker_processes_and_resumes(probe):
    probe.multipliers = [0.25, 0.125]  # two tiny widths x two seeds, two one-thread workers
    probe.workers = 2
    first = _run(probe)
    assert first["status"] in ("complete", "unreliable")
    runs = sorted((probe.output_dir / "runs").glob("*.json"))
    assert len(runs) == 4 and json.loads((probe.output_dir / "probe.json").read_text())["status"] in ("ok", "unreliable")
    mtimes = [p.stat().st_mtime_ns for p in runs]
    probe.workers = 1
    again = _run(probe)
    assert again["status"] == first["status"]
    assert [p.stat().st_mtime_ns for p in runs] == mtimes  # nothing retrained
