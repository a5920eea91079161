"""The compress report's judgement (no training: a real plan, made-up measurements)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.workflows import CompressWorkflow, bundle_data, compress_markdown  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path_factory.mktemp("d"), "discs", num_images=4, size=32)))


def _report(data, tmp_path, achieved_f1=0.6, **kwargs):
    workflow = CompressWorkflow(data, str(tmp_path), widths=[4, 8, 16], progress=False, plot=False,
                                recipe={"patch_size": [32, 32]}, **kwargs)
    plan, model = workflow.plan()
    comp = {"widths": plan.widths, "weights": plan.weights, "disk_bytes": plan.disk_bytes, "latency_ms": 1.0,
            "latency_input": [1, 1, 32, 32], "f1": achieved_f1, "iou": 0.5}
    full = {"widths": [4, 8, 16], "weights": 7308, "disk_bytes": 29232, "latency_ms": 2.0}
    files = {"plan": "p.json", "state_dict": "m/model.pt"}
    report = workflow._report(plan, model, comp, full, files, {"state_dict": 30_000}, workflow.fit_files)
    return report, compress_markdown(report)


def test_unknown_full_accuracy_is_one_line(data, tmp_path):
    report, text = _report(data, tmp_path, constraint="accuracy", min_relative_accuracy=0.9)
    assert report["predicted"]["f1"] is None and report["compressed"]["relative_f1"] is None
    assert [c["met"] for c in report["checks"]["measurement"]] == [None]
    lines = [line for line in text.splitlines() if line.startswith("The prediction cannot be checked")]
    assert len(lines) == 1 and "set full_accuracy" in lines[0].lower() and "compare_full: true" in lines[0]


def test_full_accuracy_judges_the_floor(data, tmp_path):
    report, text = _report(data, tmp_path, achieved_f1=0.6, constraint="accuracy", min_relative_accuracy=0.9,
                           full_accuracy=0.8)
    rel = report["predicted"]["relative_accuracy"]
    assert report["predicted"]["f1"] == pytest.approx(0.8 * rel) and report["compressed"]["relative_f1"] == pytest.approx(0.75)
    (predicted,), (measured,) = report["checks"]["prediction"], report["checks"]["measurement"]
    assert predicted["met"] is True and measured["met"] is False and measured["short"] == pytest.approx(0.15)
    assert "| relative f1 | measurement | 0.75 | >= 0.9 | **no**: 0.15 short |" in text
    assert "Full network's F1: 0.8 (full_accuracy" in text and "cannot be checked" not in text


def test_memory_budget_says_what_it_counts(data, tmp_path):
    report, text = _report(data, tmp_path, constraint="memory", memory_budget_mb=0.5, input_shape=[32, 32])
    assert "peak live feature maps" in report["budget"]["counts"] and "[32, 32] x batch 1" in report["budget"]["counts"]
    assert report["checks"]["prediction"][0]["met"] is True
    assert report["checks"]["measurement"][0]["met"] is None and "not measured" in text


def test_weights_count_reports_file_excess(data, tmp_path):
    report, text = _report(data, tmp_path, constraint="disk", disk_budget_mb=0.02, disk_budget_counts="weights")
    assert "weights only, at 32 bits per weight" in report["budget"]["counts"]
    (measured,) = report["checks"]["measurement"]
    assert measured["met"] is False and measured["over"] == pytest.approx(0.01)
    assert "| file models/model.pt | measurement | 0.03 MB | <= 0.02 MB | **no**: 0.01 MB over |" in text


def test_report_gives_interval_caveat_and_calibration_mismatch(data, tmp_path):
    from monai_ccnet.planning import fit_degradation

    from tests.conftest import saturating_records

    model = fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=30,
                            provenance={"recipe": {"patch_size": [64, 64], "max_epochs": 10}, "base_widths": [16, 32]})
    report, text = _report(data, tmp_path, constraint="accuracy", min_relative_accuracy=0.9, degradation=model.to_dict(),
                           confidence=0.9)
    low, high = report["predicted"]["relative_interval"]
    assert low >= 0.9 - 1e-9 and report["constraint"]["confidence"] == 0.9
    assert "Predicted 0.9 interval: relative F1" in text
    assert "never checked on held-out datasets" in report["caveat"]  # this model has no held-out record
    assert "patch_size [64, 64] (calibration) vs [32, 32] (here)" in report["calibration_mismatch"]
    assert text.count("**Caution**") == 2


def test_paper_preset_says_it_gives_no_interval(data, tmp_path):
    report, text = _report(data, tmp_path, constraint="disk", disk_budget_mb=0.01, degradation="unet-f1-paper")
    assert report["predicted"]["relative_interval"] is None
    assert "gives no prediction interval" in text
    with pytest.raises(ValueError, match="confidence needs a degradation model with a prediction spread"):
        CompressWorkflow(data, str(tmp_path / "x"), widths=[4, 8, 16], degradation="unet-f1-paper", constraint="accuracy",
                         min_relative_accuracy=0.9, confidence=0.9, recipe={"patch_size": [32, 32]})
