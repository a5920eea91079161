"""``plan --network-def FILE --pareto`` (issue 17): the Pareto table of the user's MONAI network.

The table counts and rounds through the network's registry spec (``pareto_table(network=...)``, as
``plan_compression(network=...)`` does): every row's widths keep its constraints and its counts are
those of the module it instantiates.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from monai_ccnet.__main__ import main  # noqa: E402

from tests.test_probe_network_def import SEGRESNET, conv_and_linear_weights  # noqa: E402

UNET = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
        "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2}
J5 = ["0.1518", "0.0857", "0.0655", "0.0496", "0.0375"]


def _plan_pareto(tmp_path, capsys, block, complexity, *extra, budget_mb="1"):
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"num_classes": 2, "network_def": block}))
    table = tmp_path / "pareto.json"
    code = main(["plan", "--network-def", str(train), "--complexity", *complexity, "--degradation", "unet-f1-paper",
                 "--disk-budget-mb", budget_mb, "--pareto", str(table), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Pareto table written to {table}" in captured.err
    return train, json.loads(table.read_text()), captured


def test_plan_pareto_with_a_network_def_counts_the_users_network(tmp_path, capsys):
    from monai_ccnet.nets.network_def import read_network_def

    train, rows, captured = _plan_pareto(tmp_path, capsys, UNET, J5, "--json")
    json.loads(captured.out)  # stdout stays the chosen plan's JSON object
    spec = read_network_def(str(train)).spec
    uniform = [r for r in rows if r["kind"] == "uniform"]
    assert uniform[0]["widths"] == [16, 32, 64, 128, 256] and uniform[0]["predicted_relative_accuracy"] == 1
    assert any(r["kind"] == "layerwise" for r in rows)  # UNet plans per stage too
    assert len({tuple(r["widths"]) for r in uniform}) == len(uniform)
    for row in rows[::4]:  # every 4th row: each builds a real (CPU) UNet
        net = spec.build(row["widths"])
        assert list(net.channels) == row["widths"] == row["width_argument"]["channels"]
        assert row["parameters"] == sum(p.numel() for p in net.parameters())
        assert row["weights"] == conv_and_linear_weights(net) == spec.weights(row["widths"])
    assert all(r["weights"] == spec.weights(r["widths"]) for r in rows)


def test_plan_pareto_of_a_network_scaled_by_one_number_is_uniform_and_snapped(tmp_path, capsys):
    from monai_ccnet.nets.network_def import read_network_def

    train, rows, captured = _plan_pareto(tmp_path, capsys, SEGRESNET, J5[:4], budget_mb="2")
    assert "monai.SegResNet" in captured.out
    spec = read_network_def(str(train)).spec
    assert {r["kind"] for r in rows} == {"uniform"}
    # GroupNorm(8): init_filters 16 gives 8 and nothing smaller; the multipliers that snap there are one row
    assert [r["width_argument"]["init_filters"] for r in rows] == [16, 8]
    assert [r["weights"] for r in rows] == [spec.weights(r["widths"]) for r in rows]
