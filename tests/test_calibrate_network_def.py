"""The calibration sweep on the user's own MONAI network (issue 17): ``network_def_file``.

The sweep trains that network at its widths x the multipliers, snapped to its constraints (one
network per distinct widths), counts weights as the registry does, and the fitted models name its
architecture. Tiny recipe (1 epoch of 2 iterations on 32 x 32 patches), synthetic data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import pytest

pytest.importorskip("torch")

from monai_ccnet.data.synthetic import make_synthetic_datasets  # noqa: E402
from monai_ccnet.errors import ConfigError  # noqa: E402
from monai_ccnet.workflows import CalibrationSweep  # noqa: E402

from tests.conftest import REPO  # noqa: E402
from tests.test_probe_network_def import SEGRESNET, TINY, conv_and_linear_weights  # noqa: E402

#: a small MONAI UNet (3 stages), as a bundle's configs/train.json writes it
UNET = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
        "channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 1}
QUICK = dict(seeds=[0], recipe=TINY, progress=False, plots=False, bootstrap=0, interval_bootstrap=0,
             fit_measures={"f1": "jpeg"}, complexity={"measures": ["jpeg", "foreground"]})


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    return make_synthetic_datasets(str(tmp_path_factory.mktemp("data")), ["discs", "vessels"], num_images=4, size=32)


def _train_json(folder, block=UNET):
    path = folder / "train.json"
    path.write_text(json.dumps({"num_classes": 2, "network_def": block}))
    return path


def test_calibrate_sweeps_a_network_def_and_its_models_name_the_architecture(datasets, tmp_path):
    from monai_ccnet.nets.network_def import read_network_def
    from monai_ccnet.planning import load_degradation, plan_compression
    from monai_ccnet.planning.network_plan import plan_network_def

    train = _train_json(tmp_path)
    out = tmp_path / "calibration"
    sweep = CalibrationSweep(datasets, str(out), multipliers=[1.0, 0.5], network_def_file=str(train), **QUICK)
    summary = sweep.run()
    assert summary["status"] == "complete"
    spec = read_network_def(str(train)).spec
    records = json.loads((out / "records.json").read_text())
    assert sorted(tuple(r["widths"]) for r in records) == [(4, 8, 16)] * 2 + [(8, 16, 32)] * 2
    for record in records:  # what was trained is the user's MONAI UNet at those widths, counted as built
        net = spec.build(record["widths"])
        assert type(net).__name__ == "UNet" and list(net.channels) == record["widths"]
        assert record["parameters"] == sum(p.numel() for p in net.parameters())
        assert record["weights"] == conv_and_linear_weights(net) == spec.weights(record["widths"])
        assert record["arch"] == "monai.UNet"
    model = load_degradation(str(out / "degradation_f1.json"))
    assert model.arch == "monai.UNet" and model.provenance["network"] == spec.fingerprint()
    assert model.provenance["base_widths"] == [8, 16, 32]
    # one epoch of training fits noise: plan with the fitted model's record (arch, provenance) and a
    # slope that can be inverted
    model = dataclasses.replace(model, lam=0.5, delta=0.05)
    complexity = [0.2, 0.1, 0.05]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # planning the network it was calibrated on: no warning
        plan_network_def(str(train), complexity, model, min_relative_accuracy=0.5)
    # another architecture: the linear form warns (its prediction is relative), the saturating form
    # (absolute log10(weights) of monai.UNet) refuses
    with pytest.warns(UserWarning, match="calibrated for 'monai.UNet'; planning 'unet'"):
        plan_compression("unet", complexity, model, widths=[8, 16, 32], min_relative_accuracy=0.5)
    saturating = load_degradation(str(out / "degradation_f1_saturating.json"))
    assert saturating.arch == "monai.UNet"
    with pytest.warns(UserWarning, match="calibrated for"), pytest.raises(ValueError, match="it predicts only that network"):
        plan_compression("unet", complexity, saturating, widths=[8, 16, 32], min_relative_accuracy=0.5)


def test_multipliers_that_snap_to_one_network_train_it_once(datasets, tmp_path):
    # GroupNorm(8): init_filters 16 x 0.5 and x 0.25 both snap to 8
    sweep = CalibrationSweep(datasets, str(tmp_path), multipliers=[0.25, 1.0, 0.5],
                             network_def_file={"network_def": SEGRESNET}, **QUICK)
    assert sweep.arch == "monai.SegResNet" and sweep.widths == [16, 32, 64, 128]
    assert sweep.widths_by_multiplier() == {1.0: (16, 32, 64, 128), 0.5: (8, 16, 32, 64)}
    runs = sweep.runs()
    assert [(r["multiplier"], r["widths"]) for r in runs if r["dataset"] == "discs"] == [
        (1.0, [16, 32, 64, 128]), (0.5, [8, 16, 32, 64])]
    assert len({r["key"] for r in runs}) == len(runs) == 4
    with pytest.raises(ConfigError, match=r"fewer than 2 distinct networks .*\(snapped to monai.SegResNet's constraints"):
        CalibrationSweep(datasets, str(tmp_path), multipliers=[1.0, 0.9], network_def_file={"network_def": SEGRESNET},
                         **QUICK)


@pytest.mark.parametrize("block, kwargs, words", [
    ({**UNET, "_target_": "monai.networks.nets.VNet"}, {}, ["is not a registered architecture", "monai.networks.nets.UNet"]),
    ({**UNET, "spatial_dims": 3}, {}, ["is 3-D but spatial_dims is 2", "set spatial_dims 3"]),
    ({**UNET, "out_channels": 3}, {}, ["has out_channels 3", "set it to 2"]),
], ids=["unregistered", "dims", "classes"])
def test_bad_network_defs_stop_the_sweep_with_one_line(datasets, tmp_path, block, kwargs, words):
    with pytest.raises(ConfigError) as err:
        CalibrationSweep(datasets, str(tmp_path), multipliers=[1.0, 0.5], network_def_file=str(_train_json(tmp_path, block)),
                         **QUICK, **kwargs)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_the_calibrate_bundle_config_takes_network_def_file(datasets, tmp_path):
    """``python -m monai.bundle run calibrate ... --network_def_file FILE`` builds the sweep of that
    network; ``arch`` and ``widths`` (always set by common.yaml) are not used."""
    from monai.bundle import ConfigParser

    configs = REPO / "bundles" / "ccnet_segmentation" / "configs"
    parser = ConfigParser()
    parser.read_config([str(configs / "common.yaml"), str(configs / "calibrate.yaml")])
    parser.update({"bundle_root": str(tmp_path), "calibration_datasets": datasets, "device": "cpu",
                   "network_def_file": str(_train_json(tmp_path)), "multipliers_sweep": [1.0, 0.5]})
    sweep = parser.get_parsed_content("calibration")
    assert isinstance(sweep, CalibrationSweep) and sweep.arch == "monai.UNet" and sweep.widths == [8, 16, 32]
    assert {tuple(r["widths"]) for r in sweep.runs()} == {(8, 16, 32), (4, 8, 16)}


def test_three_datasets_get_the_held_out_check_counted_in_the_networks_own_weights(tmp_path):
    """With >= 3 datasets the sweep of a network_def runs leave-one-dataset-out like ours: its
    predictions count the MONAI network's registry weights (``network=``), so the default form is
    chosen by held-out error, not assumed."""
    data = make_synthetic_datasets(str(tmp_path / "data"), ["discs", "cells", "vessels"], num_images=4, size=32)
    out = tmp_path / "calibration"
    sweep = CalibrationSweep(data, str(out), multipliers=[1.0, 0.5], network_def_file=str(_train_json(tmp_path)),
                             **{**QUICK, "interval_bootstrap": 10})
    summary = sweep.run()
    assert summary["status"] == "complete"
    lodo = json.loads((out / "lodo_f1.json").read_text())
    assert sorted(lodo["datasets"]) == ["cells", "discs", "vessels"]
    assert lodo["points"] and all(math.isfinite(p["predicted"]) for p in lodo["points"])
    chosen = json.loads((out / "degradation_f1.json").read_text())
    assert chosen["arch"] == "monai.UNet" and "leave-one-dataset-out" in chosen["provenance"]["default_form_because"]
