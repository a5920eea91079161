"""The probe and compress ``predictor: probe`` on the user's own MONAI network (issue 17, item 4).

A probe of a ``network_def`` trains that network at its widths x the probe multipliers, snapped to
its constraints, and counts weights as the registry does; plans made from it count with the
registry too (no proxy through our U-Net's accounting). Tiny recipe, synthetic data.
"""

from __future__ import annotations

import json

import pytest
import torch.nn as nn

from monai_ccnet.data import make_synthetic_dataset
from monai_ccnet.errors import ConfigError
from monai_ccnet.planning import fit_degradation, plan_compression

from tests.conftest import saturating_records

UNET = {"_target_": "monai.networks.nets.UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
        "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2}
SEGRESNET = {"_target_": "SegResNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "init_filters": 16}
TINY = {"patch_size": [32, 32], "max_epochs": 1, "epoch_length": 2, "early_stop_patience": 0, "num_samples": 2,
        "batch_size": 2, "val_interval": 1}


def conv_and_linear_weights(net: nn.Module) -> int:
    """The registry's ``weights`` convention, counted here independently: every conv, transposed
    conv and linear layer's weight tensor, biases and norms left out."""
    layers = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
    return sum(m.weight.numel() for m in net.modules() if isinstance(m, layers))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(make_synthetic_dataset(tmp_path_factory.mktemp("data"), "discs", num_images=6, size=32))


@pytest.fixture(scope="module")
def prior():
    return fit_degradation(saturating_records(), form="saturating", bootstrap=0, interval_bootstrap=20)


def _probe(data, folder, prior, block, **kwargs):
    from monai_ccnet.workflows.probe import Probe

    return Probe(data, str(folder), prior=prior, network={"network_def": block}, recipe=TINY, workers=1,
                 progress=False, plots=False, **kwargs)


def _run(probe) -> dict:
    from monai_ccnet.workflows.probe import ProbeUnreliable

    try:
        probe.run()
    except ProbeUnreliable:  # a one-epoch probe may honestly be too noisy: probe.json still says what was trained
        pass
    return json.loads((probe.output_dir / "probe.json").read_text())


@pytest.mark.parametrize("block, trained", [
    (UNET, [[16, 32, 64, 128, 256], [4, 8, 16, 32, 64], [2, 4, 8, 16, 32]]),
    # GroupNorm(8): init_filters 16 x 0.25 and x 0.125 both snap to 8: one network, trained with both sets of seeds
    (SEGRESNET, [[16, 32, 64, 128], [8, 16, 32, 64]]),
], ids=["UNet-res2", "SegResNet"])
def test_probe_trains_the_users_network_and_counts_its_weights_with_the_registry(data, tmp_path, prior, block, trained):
    from monai_ccnet.nets.network_def import read_network_def

    probe = _probe(data, tmp_path / "probe", prior, block)
    result = _run(probe)
    spec = read_network_def({"network_def": block}).spec
    assert result["arch"] == spec.name and result["probe_widths"] == trained
    section = result["network"]
    assert section["class"] == spec.architecture.target and [t["widths"] for t in section["trained"]] == trained
    for run in result["runs"]:
        net = spec.build(run["widths"])
        assert run["weights"] == conv_and_linear_weights(net) == spec.weights(run["widths"])
    assert {tuple(r["widths"]) for r in result["runs"]} == {tuple(w) for w in trained}
    if block is SEGRESNET:
        assert section["requested"]["0.125"] == [2, 4, 8, 16] and "num_groups=8" in section["constraints"][0]
        assert [t["init_filters"] for t in section["trained"]] == [16, 8]
        # two multipliers merged into one network: it trains their seeds (4), keeping the probe's replicate runs
        assert [t["seeds"] for t in section["trained"]] == [[0], [0, 1, 2, 3]] and len(result["runs"]) == 5
    records = json.loads((probe.output_dir / "records.json").read_text())
    assert all(r["arch"] == spec.name for r in records)
    if result["status"] == "ok":
        for p in result["predictions"]:  # every width the probe predicts is one the network allows, counted by it
            assert p["weights"] == spec.weights(p["widths"]) and tuple(p["widths"]) == spec.snap(p["widths"])


def test_a_probe_of_a_monai_network_plans_in_its_own_weights(data, tmp_path, prior):
    """The measured curve's weights are the registry's, and so are the planner's min-weights
    check and every prediction: planning that network with the probe's model needs no proxy."""
    from monai_ccnet.nets.network_def import read_network_def
    from monai_ccnet.planning import probe as stats
    from monai_ccnet.workflows.probe import probe_model

    spec = read_network_def({"network_def": UNET}).spec
    widths = [spec.base_widths, spec.scaled_widths(0.25), spec.scaled_widths(0.125)]
    f1 = {0: [0.9], 1: [0.88, 0.89], 2: [0.7, 0.72]}
    runs = [{"weights": spec.weights(w), "seed": s, "f1": v} for i, w in enumerate(widths) for s, v in enumerate(f1[i])]
    curve = stats.measured_curve(runs, 0.1)
    model = probe_model(curve, spec.name, "f1", 0.9, {})
    plan = plan_compression(spec.name, [0.5] * 5, model, network=spec, widths=spec.base_widths,
                            min_relative_accuracy=0.95)
    assert plan.weights >= spec.weights(widths[2])  # not below the smallest network measured, in the same count
    assert plan.predicted_relative_accuracy == pytest.approx(stats.curve_prediction(
        curve, __import__("math").log10(plan.weights))["central"])
    with pytest.raises(ValueError, match="it predicts only that network"):
        plan_compression("unet", [0.5] * 5, model, widths=[16, 32, 64, 128, 256], min_relative_accuracy=0.9)


def test_compress_with_the_probe_on_a_network_def_writes_an_override_monai_instantiates(tmp_path, prior):
    from monai.bundle import ConfigParser

    from monai_ccnet.nets.network_def import read_network_def
    from monai_ccnet.workflows import CompressWorkflow, bundle_data

    train = tmp_path / "bundle" / "train.json"
    train.parent.mkdir()
    small = {**UNET, "channels": [16, 32, 64], "strides": [2, 2], "out_channels": "@num_classes"}  # quick to train
    train.write_text(json.dumps({"num_classes": 2, "network_def": small}))
    data = bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path / "d", "discs", num_images=6, size=32)))
    out = tmp_path / "out"
    report = CompressWorkflow(
        data, str(out), degradation=prior.to_dict(), predictor="probe", constraint="accuracy",
        min_relative_accuracy=0.9, network_def_file=str(train), recipe=TINY, progress=False, plot=False, export=[],
        probe_workers=1,
    ).run()
    spec = read_network_def(str(train)).spec
    probe = json.loads((out / "probe" / "probe.json").read_text())
    assert probe["status"] == "ok" and probe["arch"] == "monai.UNet"
    planned = report["network_def"]["planned"]
    assert report["compressed"]["weights"] == planned["weights"] == spec.weights(planned["widths"])
    assert planned["weights"] >= min(r["weights"] for r in probe["runs"])  # min-weights check in registry counts
    assert "proxy" not in report["predicted"]["count"] and "registry count" in report["predicted"]["count"]
    parser = ConfigParser()
    parser.read_config([str(train), report["network_def"]["override"]])
    net = parser.get_parsed_content("network_def")
    assert list(net.channels) == planned["widths"] == planned["channels"]
    assert conv_and_linear_weights(net) == planned["weights"]
    assert sum(p.numel() for p in net.parameters()) == planned["parameters"]


@pytest.mark.parametrize("block, words", [
    ({**UNET, "_target_": "monai.networks.nets.VNet"}, ["is not a registered architecture", "monai.networks.nets.UNet"]),
    ({**SEGRESNET, "init_filters": 12}, ["break a constraint", "num_groups=8", "stage 0 has 12"]),
], ids=["unregistered", "constraint"])
def test_bad_network_defs_stop_the_probe_with_one_line(data, tmp_path, prior, block, words):
    with pytest.raises(ConfigError) as err:
        _probe(data, tmp_path / "p", prior, block)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_the_probe_bundle_config_takes_network_def_file(tmp_path, data):
    from monai.bundle import ConfigParser

    from monai_ccnet.workflows.probe import Probe
    from tests.conftest import REPO

    train = tmp_path / "train.json"
    train.write_text(json.dumps({"network_def": SEGRESNET}))
    configs = REPO / "bundles" / "ccnet_segmentation" / "configs"
    parser = ConfigParser()
    parser.read_config([str(configs / "common.yaml"), str(configs / "probe.yaml")])
    parser.update({"bundle_root": str(tmp_path), "dataset_dir": data, "device": "cpu", "network_def_file": str(train)})
    probe = parser.get_parsed_content("prober")
    assert isinstance(probe, Probe) and probe.arch == "monai.SegResNet"
    assert probe.widths == [16, 32, 64, 128] and probe.target_widths == [16, 32, 64, 128]
    assert list(probe.probe_networks.values()) == [[16, 32, 64, 128], [8, 16, 32, 64]]
