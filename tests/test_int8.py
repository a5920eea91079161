"""int8 networks (bits_per_weight 8): ONNX Runtime static quantisation, the int8 file against the
budget and the accounting, the int8 network scored like the float one, and what a failure or a lost
F1 leaves (issue 19). Skips without the [int8] extra, except the missing-extra error itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai_ccnet import ConfigError  # noqa: E402
from monai_ccnet.accounting import MB, int8_onnx_bytes  # noqa: E402
from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.workflows import CompressWorkflow, bundle_data  # noqa: E402
from monai_ccnet.workflows import quantize  # noqa: E402
from monai_ccnet.workflows.inputs import build_model  # noqa: E402

needs_int8 = pytest.mark.skipif(not quantize.int8_available(), reason='needs the [int8] extra: pip install "monai_ccnet[int8]"')
TINY = {"patch_size": [32, 32], "max_epochs": 1, "epoch_length": 2}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path_factory.mktemp("d"), "discs", num_images=6, size=32)))


def _decisive(widths=(8, 16, 32)):
    """A network whose logits are far apart where it is sure: untrained, with a large head bias
    on half of the output, so that the argmax check is not decided by round-off."""
    torch.manual_seed(0)
    return build_model("unet", list(widths)).eval()


@needs_int8
def test_quantised_file_is_smaller_and_agrees_in_argmax(tmp_path):
    network = _decisive()
    rng = np.random.default_rng(0)
    patches = [rng.random((1, 1, 32, 32), dtype=np.float32) for _ in range(8)]
    float_path = quantize.export_float_onnx(network, (1, 1, 32, 32), tmp_path / "float.onnx")
    path = quantize.quantize_onnx(float_path, tmp_path / "model.int8.onnx", patches)
    assert path.stat().st_size < 0.6 * float_path.stat().st_size
    x = torch.from_numpy(np.concatenate(patches[:4]))  # a batch of 4: the dynamic batch axis
    with torch.no_grad():
        expected = network(x)
    got = quantize.OrtNetwork(path, threads=1)(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    margin = (expected[:, 1] - expected[:, 0]).abs()
    agree = (got.argmax(1) == expected.argmax(1))[margin > 0.05 * margin.max()]
    assert agree.float().mean() > 0.99
    assert quantize.ort_latency(path, (1, 1, 32, 32), threads=1, repeats=1, warmup=0) > 0


@needs_int8
def test_file_size_does_not_depend_on_calibration_and_the_accounting_bounds_it(tmp_path):
    for arch, widths, dims in (("unet", (4, 8, 16, 32), 2), ("ucunet", (2, 4, 8), 2), ("cumedvision", (2, 4, 8), 3)):
        torch.manual_seed(1)
        network = build_model(arch, list(widths), spatial_dims=dims)
        shape = (1, 1, *[16] * dims)
        rng = np.random.default_rng(3)
        a = quantize.int8_file_bytes(network, shape)  # random calibration
        b = quantize.int8_file_bytes(network, shape, patches=[4 * rng.random((1, *shape[1:]), dtype=np.float32)])
        assert abs(a - b) <= quantize.INT8_SIZE_SLACK / 8, (a, b)
        modelled = int8_onnx_bytes(arch, widths, spatial_dims=dims)
        assert modelled == quantize.planned_int8_bytes(network)  # accounting = the torch network's conv layers
        assert a <= modelled <= 1.2 * a, (arch, widths, a, modelled)


def test_missing_extra_is_one_line_naming_it(data, tmp_path, monkeypatch):
    real = quantize.optional_import
    monkeypatch.setattr(quantize, "optional_import", lambda name: None if name.startswith("onnxruntime") else real(name))
    with pytest.raises(ConfigError) as caught:
        CompressWorkflow(data, str(tmp_path), widths=[4, 8, 16], disk_budget_mb=0.05, bits_per_weight=8,
                         recipe=TINY, progress=False, plot=False)
    message = str(caught.value)
    assert "\n" not in message and 'pip install "monai_ccnet[int8]"' in message and "onnxruntime" in message
    assert not (tmp_path / "models").exists(), "refused before anything is written"


def _workflow(data, path, **kwargs):
    options = dict(widths=[4, 8, 16], disk_budget_mb=0.05, bits_per_weight=8, disk_budget_counts="files", recipe=TINY,
                   progress=False, plot=False, latency_repeats=1)
    return CompressWorkflow(data, str(path), **{**options, **kwargs})


@needs_int8
def test_compress_writes_and_scores_the_int8_network(data, tmp_path):
    report = _workflow(data, tmp_path).run()
    int8 = report["int8"]
    path = tmp_path / "models" / "model.int8.onnx"
    assert path.is_file() and int8["bytes"] == path.stat().st_size and report["files"]["int8"] == str(path)
    assert int8["float_f1"] == report["compressed"]["f1"] and 0 <= int8["f1"] <= 1
    assert int8["f1_change"] == pytest.approx(int8["f1"] - int8["float_f1"])
    assert int8["bytes"] < int8["float_onnx_bytes"] and int8["size_ratio"] > 1
    assert set(int8["latency_ms"]) == {"int8", "float32"} and set(int8["latency_ms"]["int8"]) == {"1_thread", "all_cores"}
    assert int8["fits_budget"] and int8["deliverable"] == "int8"
    counted = [c for c in report["checks"]["measurement"] if c.get("limit") is not None]
    assert [c["what"] for c in counted] == ["file models/model.int8.onnx"] and counted[0]["met"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["int8"]["bytes"] == int8["bytes"] and saved["file_bytes"]["model.int8.onnx"] == int8["bytes"]
    markdown = (tmp_path / "report.md").read_text()
    assert "## int8 network" in markdown and "Deliverable: the int8 network" in markdown


@needs_int8
def test_int8_scoring_is_the_float_scoring(data, tmp_path):
    """The float network's ONNX file, scored through OrtNetwork, gets the float network's F1."""
    from monai_ccnet.workflows.training import evaluate_network

    network = _decisive((4, 8, 16))
    expected = evaluate_network(network, data["test"], TINY, "cpu")
    path = quantize.export_float_onnx(network, (1, 1, 32, 32), tmp_path / "float.onnx")
    got = quantize.evaluate_onnx(path, data["test"], TINY)
    assert got == pytest.approx(expected, abs=1e-6)


@needs_int8
def test_lost_f1_keeps_the_float_export(data, tmp_path, monkeypatch, capsys):
    workflow = _workflow(data, tmp_path)
    monkeypatch.setattr(workflow, "_train", lambda network, name: {"f1": 0.8, "iou": 0.7})
    monkeypatch.setattr(quantize, "evaluate_onnx", lambda *args, **kwargs: {"f1": 0.75, "iou": 0.6})
    report = workflow.run()
    int8 = report["int8"]
    assert int8["f1_change"] == pytest.approx(-0.05) and not int8["within_tolerance"]
    assert int8["deliverable"] == "float32" and "int8_tolerance 0.01" in int8["note"]
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "models" / "model.ts").is_file()
    assert "Deliverable: the float32 export" in (tmp_path / "report.md").read_text()
    assert "the float32 export" in capsys.readouterr().out
    # a looser tolerance accepts the same loss
    workflow = _workflow(data, tmp_path / "loose", int8_tolerance=0.1)
    monkeypatch.setattr(workflow, "_train", lambda network, name: {"f1": 0.8, "iou": 0.7})
    assert workflow.run()["int8"]["deliverable"] == "int8"


@needs_int8
def test_a_failed_quantisation_keeps_the_network_and_the_report(data, tmp_path, monkeypatch):
    workflow = _workflow(data, tmp_path)
    monkeypatch.setattr(workflow, "_train", lambda network, name: {"f1": 0.8, "iou": 0.7})

    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported op\nConvTranspose with groups")

    monkeypatch.setattr(quantize, "calibration_patches", broken)  # the int8 step only (not the sizing)
    report = workflow.run()
    assert report["int8"]["error"] == "model.int8.onnx: RuntimeError: Unsupported op; ConvTranspose with groups"
    assert report["export_errors"]["int8"] == report["int8"]["error"] and report["int8"]["deliverable"] == "float32"
    assert (tmp_path / "models" / "model.pt").is_file() and not (tmp_path / "models" / "model.int8.onnx").exists()
    assert "Quantisation failed" in (tmp_path / "report.md").read_text()


@needs_int8
def test_the_int8_file_meets_a_budget_its_weights_alone_would_overfill(data, tmp_path):
    """Widths whose weights at 8 bits fit 0.06 MB but whose int8 file would not: the plan is lowered
    (the accounting's overhead, then the written file's size) and the written file fits."""
    budget = 0.06
    workflow = _workflow(data, tmp_path, widths=[8, 16, 32, 64], disk_budget_mb=budget)
    report = workflow.run()
    written = (tmp_path / "models" / "model.int8.onnx").stat().st_size
    assert written <= budget * MB
    plain, _ = workflow.plan()  # the plan of the weights alone, at 8 bits
    assert int8_onnx_bytes("unet", plain.widths) > budget * MB, "the test needs a plan the overhead pushes over"
    assert report["constraint"]["value"] < budget and report["int8"]["fits_budget"]
    assert report["compressed"]["weights"] < plain.weights


@needs_int8
def test_a_monai_network_def_gets_an_int8_file_within_the_budget(data, tmp_path):
    """MONAI's UNet (instance norm, PReLU, residual units: more than the accounting models) through
    network_def_file: the budget search measures its quantised files, and the written one fits."""
    configs = tmp_path / "bundle" / "configs"
    configs.mkdir(parents=True)
    block = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": [8, 16, 32, 64],
             "strides": [2, 2, 2], "num_res_units": 2}
    (configs / "train.json").write_text(json.dumps({"network_def": block}))
    budget = 0.15
    report = _workflow(data, tmp_path / "out", network_def_file=str(configs / "train.json"), disk_budget_mb=budget,
                       export=["torchscript"]).run()
    int8 = report["int8"]
    assert int8["bytes"] <= budget * MB and int8["fits_budget"] and "planned_bytes" not in int8
    assert (tmp_path / "out" / "models" / "model.int8.onnx").stat().st_size == int8["bytes"]
    assert [c["what"] for c in report["checks"]["prediction"]] == ["weights at 8 bits/weight"]
