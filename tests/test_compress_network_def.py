"""compress on the user's own network: a bundle's MONAI ``network_def`` planned through the registry,
trained with the recipe, reported, and written back as an override that MONAI's ConfigParser merges."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai.bundle import ConfigParser  # noqa: E402

from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.errors import ConfigError  # noqa: E402
from monai_ccnet.nets.registry import count_weights  # noqa: E402
from monai_ccnet.workflows import CompressWorkflow, bundle_data  # noqa: E402

UNET = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
        "channels": [8, 16, 32, 64], "strides": [2, 2, 2], "num_res_units": 2}
SEGRESNET = {"_target_": "monai.networks.nets.SegResNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
             "init_filters": 16, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1]}
#: a few optimizer steps: the point is the plumbing, not the accuracy
RECIPE = {"max_epochs": 1, "batch_size": 2, "num_samples": 2, "early_stop_patience": 0, "num_threads": 1, "amp": False}


def _bundle(tmp_path, network_def) -> str:
    """A minimal model-zoo style bundle: configs/train.json holding the network block, a value it
    refers to and the objects built from it."""
    configs = tmp_path / "bundle" / "configs"
    configs.mkdir(parents=True)
    config = {"imports": ["$import torch"], "num_classes": 2, "network_def": network_def,
              "network": "$@network_def.to(torch.device('cpu'))"}
    (configs / "train.json").write_text(json.dumps(config))
    return str(configs / "train.json")


@pytest.fixture(scope="module")
def data2d(tmp_path_factory):
    folder = make_synthetic_dataset(tmp_path_factory.mktemp("data"), "discs", num_images=5, size=32)
    return bundle_data(dataset_dir=str(folder))


def _compress(data, tmp_path, network_def, dims=2, **kwargs):
    train = _bundle(tmp_path, network_def)
    size = 32 if dims == 2 else 16
    workflow = CompressWorkflow(
        data, str(tmp_path / "out"), network_def_file=train, disk_budget_counts="weights", spatial_dims=dims,
        recipe={**RECIPE, "patch_size": [size] * dims}, export=["torchscript"], progress=False, plot=False,
        latency_repeats=1, **kwargs,
    )
    return train, workflow.run()


def _merged(train, override):
    """What ``monai.bundle run training --config_file "['train.json','network_def.json']"`` builds."""
    parser = ConfigParser()
    parser.read_config([train, override])
    return parser.get_parsed_content("network")


@pytest.mark.parametrize("block, budget, arg", [(UNET, 0.05, "channels"), (SEGRESNET, 2.0, "init_filters")],
                         ids=["UNet", "SegResNet"])
def test_compress_plans_trains_and_writes_the_override(data2d, tmp_path, block, budget, arg):
    train, report = _compress(data2d, tmp_path, block, disk_budget_mb=budget)
    plan = json.loads((tmp_path / "out" / "models" / "plan.json").read_text())
    netdef = report["network_def"]
    assert report["arch"] == netdef["architecture"] == plan["arch"] and report["satisfied"]
    assert plan["weights"] <= budget * 1e6 / 4 < netdef["original"]["weights"]
    assert report["compressed"]["widths"] == plan["widths"] == netdef["planned"]["widths"]
    assert report["compressed"]["weights"] == plan["weights"] == netdef["planned"]["weights"]
    assert report["full"]["weights"] == netdef["original"]["weights"]
    assert 0 <= report["compressed"]["f1"] <= 1, "trained and scored on the test split"
    assert report["predicted"]["relative_interval"] and "registry count" in report["predicted"]["count"]
    override = tmp_path / "out" / "network_def.json"
    assert netdef["override"] == str(override) and train in netdef["train_command"]
    written = json.loads(override.read_text())["network_def"]
    assert {k: v for k, v in written.items() if k != arg} == {k: v for k, v in block.items() if k != arg}
    net = _merged(train, str(override))
    assert count_weights(net) == plan["weights"], "the network MONAI builds is the one planned (registry count)"
    if arg == "channels":
        assert list(net.channels) == plan["widths"] == written["channels"]
    else:
        assert written["init_filters"] == plan["widths"][0] == net.init_filters
        assert plan["widths"] == [plan["widths"][0] * 2**i for i in range(4)]
    text = (tmp_path / "out" / "report.md").read_text()
    assert f"`{arg}` " in text and "Override written" in text and "Which weight count the prediction used" in text
    assert (tmp_path / "out" / "models" / "model.ts").is_file()


def test_compress_a_3d_network_on_tiny_volumes(tmp_path):
    folder = make_synthetic_dataset(tmp_path / "data", "discs", num_images=5, size=16, spatial_dims=3)
    data = bundle_data(dataset_dir=str(folder), spatial_dims=3)
    block = {**UNET, "spatial_dims": 3, "channels": [4, 8, 16, 32]}
    train, report = _compress(data, tmp_path, block, dims=3, disk_budget_mb=0.02)
    plan = json.loads((tmp_path / "out" / "models" / "plan.json").read_text())
    net = _merged(train, str(tmp_path / "out" / "network_def.json"))
    assert list(net.channels) == plan["widths"] and count_weights(net) == plan["weights"] == report["compressed"]["weights"]
    assert plan["weights"] <= 5000 < report["full"]["weights"] and report["compressed"]["latency_input"] == [1, 1, 16, 16, 16]
    with torch.no_grad():
        assert net(torch.rand(1, 1, 16, 16, 16)).shape == (1, 2, 16, 16, 16)


@pytest.mark.parametrize("block, kwargs, words", [
    ({**UNET, "_target_": "VNet"}, {}, ["is not a registered architecture", "monai.networks.nets.UNet (monai.UNet)"]),
    ({**SEGRESNET, "init_filters": 12}, {}, ["break a constraint", "GroupNorm", "num_groups=8", "stage 0 has 12"]),
    ({**UNET, "strides": [2, 2]}, {}, ["does not instantiate", "monai.networks.nets.UNet", "strides"]),
    ({**UNET, "dropout_rate": 0.1}, {}, ["does not instantiate", "TypeError", "dropout_rate"]),
    ({**SEGRESNET}, {"recipe": {"patch_size": [20, 20]}}, ["refuses the recipe's patch [20, 20]", "recipe#patch_size"]),
    ({**UNET, "spatial_dims": 3}, {}, ["is 3-D", "--spatial_dims 3"]),
    ({**UNET, "out_channels": 3}, {}, ["out_channels is 3", "set out_channels 2"]),
    ({**SEGRESNET}, {"layerwise": True}, ["only uniform plans"]),
])
def test_bad_network_defs_are_one_line_before_anything_is_measured(data2d, tmp_path, block, kwargs, words):
    train = _bundle(tmp_path, block)
    with pytest.raises(ConfigError) as err:
        CompressWorkflow(data2d, str(tmp_path / "out"), network_def_file=train, disk_budget_mb=0.5, progress=False,
                         **{"recipe": {"patch_size": [32, 32]}, **kwargs})
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert not (tmp_path / "out").exists(), "nothing measured or written"


def test_bundle_run_compress_takes_network_def_file(tmp_path):
    """The bundle key: ``--network_def_file`` on ``python -m monai.bundle run compress``."""
    from tests.test_bundle import run_bundle

    train = _bundle(tmp_path, UNET)
    proc = run_bundle("compress", "compress", tmp_path, network_def_file=train, disk_budget_mb=0.05,
                      disk_budget_counts="weights", export="[]", plot="False", recipe__max_epochs=1,
                      synthetic__num_images=5)
    override = tmp_path / "compress" / "network_def.json"
    assert f"network_def override written to {override}" in proc.stdout
    report = json.loads((tmp_path / "compress" / "report.json").read_text())
    assert report["arch"] == "monai.UNet" and report["network_def"]["original"]["channels"] == [8, 16, 32, 64]
    net = _merged(train, str(override))
    assert list(net.channels) == report["compressed"]["widths"] and count_weights(net) == report["compressed"]["weights"]
