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


def test_compress_with_the_probe_as_predictor_judges_in_absolute_units(tmp_path):
    from monai_ccnet.workflows import CompressWorkflow, bundle_data

    prior = fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=30,
                            provenance={"base_widths": [16, 32, 64]})
    data = bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path / "d", "discs", num_images=8, size=32)))
    workflow = CompressWorkflow(
        data, str(tmp_path / "out"), widths=[8, 16, 32], degradation=prior.to_dict(), predictor="probe",
        constraint="accuracy", min_relative_accuracy=0.9, progress=False, plot=False, export=[],
        recipe={"patch_size": [32, 32], "max_epochs": 2, "epoch_length": 5, "early_stop_patience": 0,
                "num_samples": 2, "batch_size": 2},
    )
    report = workflow.run()
    probe = json.loads((tmp_path / "out" / "probe" / "probe.json").read_text())
    assert probe["status"] == "ok" and report["degradation"]["predictor"] == "probe"
    assert report["predicted"]["absolute_from"] == "the probe's predicted plateau"
    assert report["predicted"]["f1"] == pytest.approx(report["predicted"]["relative_accuracy"] * probe["plateau"])
    low, high = report["predicted"]["f1_interval"]
    assert low < report["predicted"]["f1"] < high
    assert report["cannot_judge"].startswith("Judged in absolute F1")
    assert report["caveat"] is None  # measured on this dataset


def test_probe_refuses_widths_too_small_to_measure(tmp_path, prior):
    from monai_ccnet.errors import ConfigError
    from monai_ccnet.workflows.probe import Probe

    data = make_synthetic_dataset(tmp_path / "data", "discs", num_images=4, size=32)
    with pytest.raises(ConfigError, match="must be distinct networks with stage-0 widths >= 2"):
        Probe(str(data), str(tmp_path / "p"), prior=prior, widths=[4, 8, 16])


def test_probe_bundle_config_builds_the_probe_and_calibrate_cpu_profile_merges(tmp_path):
    from monai.bundle import ConfigParser

    from monai_ccnet.workflows.probe import Probe
    from tests.conftest import REPO

    configs = REPO / "bundles" / "ccnet_segmentation" / "configs"
    parser = ConfigParser()
    parser.read_config([str(configs / "common.yaml"), str(configs / "probe.yaml")])
    parser.update({"bundle_root": str(tmp_path), "synthetic#size": 32, "synthetic#num_images": 6, "device": "cpu"})
    probe = parser.get_parsed_content("probe")
    assert isinstance(probe, Probe) and probe.prior.provenance["name"] == "unet-f1-cpu"
    assert probe.recipe["epoch_length"] == 100 and probe.recipe["image_size"] == 128  # the prior's recipe
    assert probe.widths[0] == 16 and probe.workers == 2 and probe.target_widths[0] == 64
    cpu = ConfigParser()
    cpu.read_config([str(configs / n) for n in ("common.yaml", "calibrate.yaml", "calibrate_cpu.yaml")])
    cpu.update({"calibration_root": str(REPO / "tests")})  # a folder without datasets
    assert cpu.get_parsed_content("widths") == [16, 32, 64, 128, 256] and cpu.get_parsed_content("seeds") == [0, 1, 2]
    from monai_ccnet.errors import find_config_error

    with pytest.raises(Exception) as failed:  # MONAI wraps it; the bundle hook prints the ConfigError's line
        cpu.get_parsed_content("calibration_datasets")
    assert "no dataset in the common layout" in str(find_config_error(failed.value))
