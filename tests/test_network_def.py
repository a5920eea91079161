"""A bundle's network_def: read, identify, write the override; ``plan --network-def`` end to end with ConfigParser."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from monai.bundle import ConfigParser

from monai_ccnet.__main__ import main
from monai_ccnet.nets.network_def import read_network_def, write_network_def
from monai_ccnet.nets.registry import count_parameters, count_weights

UNET_DEF = {"_target_": "monai.networks.nets.UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
            "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2}
SEGRESNET_DEF = {"_target_": "SegResNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "init_filters": 16,
                 "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1]}
J5 = ["0.1518", "0.0857", "0.0655", "0.0496", "0.0375"]


def _bundle(tmp_path, network_def, name="train.json"):
    """A minimal bundle: configs/train.json with the network block, a value it refers to, and a
    training entry that uses it (as model-zoo bundles do)."""
    configs = tmp_path / "bundle" / "configs"
    configs.mkdir(parents=True)
    config = {"imports": ["$import torch", "$from monai_ccnet.nets.registry import count_weights"], "num_classes": 2,
              "network_def": network_def, "network": "$@network_def.to(torch.device('cpu'))",
              "training": ["$print('train', list(getattr(@network, 'channels', [])), count_weights(@network))"]}
    path = configs / name
    if name.endswith(".json"):
        path.write_text(json.dumps(config))
    else:
        import yaml

        path.write_text(yaml.safe_dump(config))
    return path


def _merged_network(train, override):
    """The network MONAI builds from ``--config_file "['train.json','network_def.json']"``."""
    parser = ConfigParser()
    parser.read_config([str(train), str(override)])
    return parser, parser.get_parsed_content("network")


def test_read_a_bundle_config_and_write_the_override(tmp_path):
    train = _bundle(tmp_path, UNET_DEF)
    netdef = read_network_def(train)
    assert netdef.architecture.name == "monai.UNet" and netdef.base_widths == (16, 32, 64, 128, 256)
    assert netdef.kwargs["out_channels"] == 2  # "@num_classes" resolved by ConfigParser
    override = write_network_def(netdef, (8, 16, 32, 64, 128), tmp_path / "planned")
    written = json.loads(override.read_text())
    # the full block: a top-level key replaces the whole value when MONAI merges config files
    assert written == {"network_def": {**UNET_DEF, "channels": [8, 16, 32, 64, 128]}}
    parser, net = _merged_network(train, override)
    assert list(net.channels) == [8, 16, 32, 64, 128] and net.out_channels == 2 and net.num_res_units == 2
    assert count_weights(net) == netdef.spec.weights((8, 16, 32, 64, 128))
    assert parser["num_classes"] == 2 and parser["training"][0].startswith("$print('train'")  # the rest unchanged


def test_extracted_blocks_and_yaml(tmp_path):
    block = tmp_path / "block.json"
    block.write_text(json.dumps({**UNET_DEF, "out_channels": 3}))
    assert read_network_def(block).kwargs["out_channels"] == 3
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"network_def": SEGRESNET_DEF}))
    assert read_network_def(wrapped).base_widths == (16, 32, 64, 128)
    yaml_config = _bundle(tmp_path, SEGRESNET_DEF, name="train.yaml")
    assert read_network_def(yaml_config).architecture.name == "monai.SegResNet"


@pytest.mark.parametrize("block, words", [
    ({**UNET_DEF, "in_channels": "@image_channels"}, ["network_def#in_channels", "@image_channels"]),
    ({**UNET_DEF, "channels": "$[16 * k for k in undefined_name]"}, ["network_def#channels"]),
    ({**UNET_DEF, "_target_": "VNet"}, ["monai.networks.nets.UNet (monai.UNet)", "monai.SegResNet"]),
    ({**SEGRESNET_DEF, "init_filters": 12}, ["GroupNorm", "num_groups=8", "stage 0 has 12"]),
])
def test_bad_blocks_are_one_line(tmp_path, block, words):
    with pytest.raises(ValueError) as err:
        read_network_def(_bundle(tmp_path, block))
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_plan_cli_writes_an_override_that_monai_trains(tmp_path, capsys):
    train = _bundle(tmp_path, UNET_DEF)
    out_dir = tmp_path / "planned"
    code = main(["plan", "--network-def", str(train), "--complexity", *J5, "--degradation", "unet-f1-paper",
                 "--disk-budget-mb", "0.5", "--layerwise", "--save-network-def", str(out_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    plan = json.loads(captured.out)
    assert plan["arch"] == "monai.UNet" and plan["base_widths"] == [16, 32, 64, 128, 256] and plan["layerwise"]
    assert plan["weights"] <= 125_000 and plan["satisfied"]
    assert f"network_def override written to {out_dir / 'network_def.json'}" in captured.err
    assert "python -m monai.bundle run training --config_file" in captured.err
    _, net = _merged_network(train, out_dir / "network_def.json")
    assert list(net.channels) == plan["widths"] and count_weights(net) == plan["weights"]
    assert plan["network_def"]["channels"] == plan["widths"]
    # and the command the CLI prints trains it: MONAI's own runner, the override merged over train.json
    command = captured.err.split("train the planned network with: ", 1)[1].strip()
    assert command.startswith("python -m monai.bundle run training --config_file ")
    config_file = command.split("--config_file ", 1)[1].strip('"')
    result = subprocess.run([sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", config_file],
                            cwd=train.parent.parent, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"train {plan['widths']} {plan['weights']}" in result.stdout


def test_plan_cli_segresnet_uniform_only(tmp_path, capsys):
    train = _bundle(tmp_path, SEGRESNET_DEF, name="train.yaml")
    out_dir = tmp_path / "planned"
    args = ["plan", "--network-def", str(train), "--complexity", *J5[:4], "--degradation", "unet-f1-paper",
            "--disk-budget-mb", "2", "--save-network-def", str(out_dir)]
    assert main([*args, "--save", str(tmp_path / "plan.json")]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.strip().startswith("original"))
    assert header.split() == ["original", "uniform", "*"] and "uniform plans only" in text
    assert next(line for line in text.splitlines() if line.startswith("init_filters")).split()[1:] == ["16", "8"]
    _, net = _merged_network(train, out_dir / "network_def.json")
    weights = count_weights(net)
    assert weights == plan["weights"] <= 500_000 and [net.init_filters * 2**i for i in range(4)] == plan["widths"]
    assert net.init_filters % 8 == 0 and net.init_filters < 16  # SegResNet's GroupNorm(8) kept
    row = next(line for line in text.splitlines() if line.startswith("weights"))
    assert row.split()[-1].rstrip("*") == f"{weights:,}"
    params = next(line for line in text.splitlines() if line.startswith("parameters"))
    assert params.split()[-1] == f"{count_parameters(net):,}"
    # per-stage plans do not exist for one number
    assert main([*args, "--layerwise"]) == 2
    assert "only uniform plans exist" in capsys.readouterr().err


def test_plan_cli_network_def_errors(tmp_path, capsys):
    train = _bundle(tmp_path, {**UNET_DEF, "strides": "@strides"})
    assert main(["plan", "--network-def", str(train), "--complexity", *J5, "--disk-budget-mb", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "network_def#strides" in err and "\n" not in err
    with pytest.raises(SystemExit):  # one network: ours or the bundle's
        main(["plan", "--arch", "unet", "--network-def", str(train), "--complexity", *J5, "--disk-budget-mb", "1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_plan_cli_memory_budget_for_a_monai_network(tmp_path, capsys):
    import torch

    from monai_ccnet.nets.memory import measure_feature_memory

    train = _bundle(tmp_path, {**UNET_DEF, "channels": [8, 16, 32, 64], "strides": [2, 2, 2]})
    out_dir = tmp_path / "planned"
    code = main(["plan", "--network-def", str(train), "--complexity", *J5[:4], "--degradation", "unet-f1-paper",
                 "--memory-budget-mb", "0.5", "--input-shape", "64", "64", "--save-network-def", str(out_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    plan = json.loads(captured.out)
    assert plan["satisfied"] and plan["memory_bytes"] <= 500_000 and plan["widths"] != [8, 16, 32, 64]
    _, net = _merged_network(train, out_dir / "network_def.json")
    held = measure_feature_memory(net, torch.randn(1, 1, 64, 64)) + 4 * count_parameters(net)
    assert held == plan["memory_bytes"]
