"""The architecture registry (monai_ccnet.nets.registry): counts equal the built modules', constraints, lookup."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch.nn as nn

import monai_ccnet.nets as nets
from monai_ccnet.nets import registry
from monai_ccnet.nets.registry import (
    Architecture,
    StageWidthsAndFinal,
    find_architecture,
    get_architecture,
    list_architectures,
    register_architecture,
)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def _module_counts(net: nn.Module) -> tuple[int, int]:
    """What the registry should say, counted on the real module: conv/linear weights, all parameters."""
    weights = sum(m.weight.numel() for m in net.modules() if isinstance(m, _CONVS))
    return weights, sum(p.numel() for p in net.parameters())


# small networks (fast to build for real), one per registered entry
CASES = {
    "unet": dict(in_channels=1, out_channels=2, widths=[4, 8, 16]),
    "cumedvision": dict(in_channels=3, out_channels=2, widths=[4, 8, 16]),
    "ucunet": dict(in_channels=1, out_channels=2, widths=[4, 8, 16], norm=("group", {"num_groups": 2})),
    "monai.UNet": dict(in_channels=1, out_channels=2, channels=[4, 8, 16, 32], strides=[2, 2, 2], num_res_units=2),
    "monai.BasicUNet": dict(in_channels=1, out_channels=2, features=[4, 4, 8, 16, 32, 4]),
    "monai.SegResNet": dict(in_channels=1, out_channels=2, init_filters=8, blocks_down=[1, 1, 1], blocks_up=[1, 1]),
    "monai.DynUNet": dict(in_channels=1, out_channels=2, kernel_size=[3, 3, 3], strides=[1, 2, 2],
                          upsample_kernel_size=[2, 2], filters=[4, 8, 16]),
    "monai.AttentionUnet": dict(in_channels=1, out_channels=2, channels=[4, 8, 16], strides=[2, 2]),
    "monai.SwinUNETR": dict(in_channels=1, out_channels=2, feature_size=12, depths=[1, 1, 1, 1]),
}


def test_every_entry_has_a_case():
    assert set(CASES) == set(list_architectures())


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_registry_counts_equal_the_built_module(name, spatial_dims):
    entry = get_architecture(name)
    spec = entry.configure({**CASES[name], "spatial_dims": spatial_dims})
    half = spec.snap([w / 2 for w in spec.base_widths])
    for widths in (spec.base_widths, half):
        counts = spec.counts(widths, stages=True)
        assert (counts.weights, counts.parameters) == _module_counts(spec.build(widths)), (name, widths)
        assert sum(counts.stage_weights) == counts.weights
        assert len(counts.stage_weights) == len(widths)


def test_our_networks_keep_their_torch_free_accounting():
    for name in ("unet", "cumedvision", "ucunet"):
        entry = get_architecture(name)
        assert entry.count is not None and entry.memory is not None  # not the meta-device path
        spec = entry.configure({**CASES[name], "spatial_dims": 2})
        # the accounting's per-stage split (docs/method.md §2), not the resolution split
        from monai_ccnet.accounting import stage_weights

        assert spec.stage_weights(spec.base_widths) == stage_weights(
            name, spec.base_widths, 2, CASES[name]["in_channels"], CASES[name]["out_channels"])


def test_monai_unet_num_res_units_0_and_2_and_stage_split():
    entry = get_architecture("monai.UNet")
    base = dict(spatial_dims=2, in_channels=1, out_channels=2, channels=[16, 32, 64, 128, 256], strides=[2, 2, 2, 2])
    plain, residual = entry.configure({**base, "num_res_units": 0}), entry.configure({**base, "num_res_units": 2})
    assert residual.weights(plain.base_widths) > plain.weights(plain.base_widths)
    theta = plain.stage_weights(plain.base_widths)
    assert theta == sorted(theta)  # weights grow with depth in a U-Net


def test_width_arguments_map_onto_the_constructor():
    basic = get_architecture("monai.BasicUNet").configure(dict(spatial_dims=2, in_channels=1, out_channels=2))
    assert basic.base_widths == (32, 32, 64, 128, 256)  # BasicUNet's default features, final left out
    assert basic.values((16, 16, 32, 64, 128)) == {"features": [16, 16, 32, 64, 128, 16]}  # final follows stage 0
    dyn = get_architecture("monai.DynUNet").configure(
        dict(spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3] * 4, strides=[1, 2, 2, 2], upsample_kernel_size=[2] * 3))
    assert dyn.base_widths == (32, 64, 128, 256)  # DynUNet's rule for filters=None
    seg = get_architecture("monai.SegResNet").configure(dict(spatial_dims=3, init_filters=16))
    assert seg.uniform_only and seg.base_widths == (16, 32, 64, 128)
    assert seg.values((8, 16, 32, 64)) == {"init_filters": 8}
    ours = get_architecture("unet").configure(dict(spatial_dims=2, in_channels=1, out_channels=2, widths=[16, 32, 64],
                                                   multipliers=0.5))
    assert ours.base_widths == (8, 16, 32)
    assert ours.values((4, 8, 16)) == {"widths": [4, 8, 16], "multipliers": None}  # widths are final


@pytest.mark.parametrize("name, kwargs, widths, words", [
    ("monai.SegResNet", dict(spatial_dims=2), (12, 24, 48, 96), ["GroupNorm", "num_groups=8", "stage 0 has 12"]),
    ("monai.SegResNet", dict(spatial_dims=2), (8, 24, 32, 64), ["init_filters", "only uniform multipliers"]),
    ("monai.UNet", dict(spatial_dims=2, in_channels=1, out_channels=2, channels=[8, 16, 32], strides=[2, 2],
                        norm=["GROUP", {"num_groups": 4}]), (6, 16, 32), ["GroupNorm", "num_groups=4", "stage 0 has 6"]),
    ("monai.AttentionUnet", CASES["monai.AttentionUnet"] | {"spatial_dims": 2}, (1, 8, 16), ["attention gates", ">= 2"]),
    ("monai.SwinUNETR", CASES["monai.SwinUNETR"] | {"spatial_dims": 3}, (18, 18, 36, 72, 144, 288), ["divisible by 12"]),
    ("monai.DynUNet", CASES["monai.DynUNet"] | {"spatial_dims": 2, "norm_name": ("group", {"num_groups": 4})},
     (4, 6, 16), ["GroupNorm", "num_groups=4", "stage 1 has 6"]),
    ("unet", CASES["unet"] | {"spatial_dims": 2}, (4, 8, 16, 32), ["4 widths", "3 stages"]),
])
def test_a_broken_constraint_is_one_line_naming_it(name, kwargs, widths, words):
    spec = get_architecture(name).configure(kwargs)
    with pytest.raises(ValueError) as err:
        spec.values(widths)
    message = str(err.value)
    assert "\n" not in message and message.startswith(name)
    for word in words:
        assert word in message


def test_snap_keeps_the_constraints():
    unet = get_architecture("monai.UNet").configure(dict(
        spatial_dims=2, in_channels=1, out_channels=2, channels=[16, 32, 64], strides=[2, 2], norm=("group", {"num_groups": 8})))
    assert unet.snap((5, 13, 30)) == (8, 16, 32)
    assert unet.snap((5, 13, 30), up=True) == (8, 16, 32)
    assert unet.snap((3, 17, 41), up=True) == (8, 24, 48)
    seg = get_architecture("monai.SegResNet").configure(dict(spatial_dims=2, init_filters=32))
    assert seg.snap((13, 26, 52, 104)) == (16, 32, 64, 128)
    assert seg.snap((13, 26, 52, 130), up=True) == (24, 48, 96, 192)  # covers every stage
    swin = get_architecture("monai.SwinUNETR").configure(dict(in_channels=1, out_channels=2, feature_size=48))
    assert swin.snap([w * 0.3 for w in swin.base_widths]) == (12, 12, 24, 48, 96, 192)


def test_find_architecture_by_bundle_target():
    assert find_architecture("UNet") is find_architecture("Unet") is find_architecture("monai.networks.nets.UNet")
    assert find_architecture("monai.networks.nets.unet.UNet").name == "monai.UNet"
    assert find_architecture("BasicUnet").name == "monai.BasicUNet"
    assert find_architecture("ScalableUCUNet").name == find_architecture("monai_ccnet.nets.ScalableUCUNet").name == "ucunet"
    for target in ("VNet", "monai.networks.nets.VNet", "NoSuchNet"):
        with pytest.raises(ValueError, match="monai.networks.nets.UNet \\(monai.UNet\\)"):
            find_architecture(target)


def test_adding_an_architecture_is_one_entry():
    entry = register_architecture(Architecture(
        name="test.BasicUNetPlusPlus", target="monai.networks.nets.BasicUNetPlusPlus",
        widths=StageWidthsAndFinal("features", stages=5), constraints=(registry.GroupNormGroups("norm"),)))
    try:
        spec = find_architecture("BasicUNetPlusPlus").configure(
            dict(spatial_dims=2, in_channels=1, out_channels=2, features=[4, 4, 8, 16, 32, 4]))
        assert spec.architecture is entry
        counts = spec.counts((2, 2, 4, 8, 16))
        assert (counts.weights, counts.parameters) == _module_counts(spec.build((2, 2, 4, 8, 16)))
        with pytest.raises(ValueError, match="already registered"):
            register_architecture(entry)
    finally:
        registry._REGISTRY.pop("test.BasicUNetPlusPlus")


def test_nets_does_not_import_planning():
    for path in Path(nets.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert "planning" not in module, f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                assert not any("monai_ccnet.planning" in a.name for a in node.names), path.name


@pytest.mark.parametrize("name", ["monai.UNet", "monai.BasicUNet", "monai.SegResNet", "monai.DynUNet", "monai.AttentionUnet"])
def test_meta_device_memory_equals_the_real_forward(name):
    """A main-memory budget for MONAI's networks: the meta-device measurement is what a real forward holds."""
    import torch

    from monai_ccnet.nets.memory import measure_feature_memory

    spec = get_architecture(name).configure({**CASES[name], "spatial_dims": 2})
    widths = spec.snap([w / 2 for w in spec.base_widths])
    torch.manual_seed(0)
    net = spec.build(widths)
    real = measure_feature_memory(net, torch.randn(2, 1, 32, 32))
    assert spec.memory_bytes(widths, (32, 32), batch=2) == 4 * sum(p.numel() for p in net.parameters()) + real
    assert spec.memory_bytes(widths, (32, 32), batch=2, dtype_bytes=2) == 2 * sum(p.numel() for p in net.parameters()) + real // 2
    with pytest.raises(ValueError, match=r"input shape \[30, 30\]") as err:
        get_architecture("monai.DynUNet").configure({**CASES["monai.DynUNet"], "spatial_dims": 2}).memory_bytes(
            (4, 8, 16), (30, 30))
    assert "\n" not in str(err.value)


def test_our_memory_stays_the_accounting_and_the_meta_measurement_agrees():
    import torch

    from monai_ccnet import accounting
    from monai_ccnet.nets.memory import measure_feature_memory

    spec = get_architecture("ucunet").configure({**CASES["ucunet"], "spatial_dims": 3})
    assert spec.memory_bytes(spec.base_widths, (16, 8, 16)) == accounting.memory_bytes(
        "ucunet", spec.base_widths, (16, 8, 16), in_channels=1, out_channels=2)
    net = registry.instantiate_on_meta(spec.architecture.network_class, spec.constructor_kwargs())
    assert measure_feature_memory(net, torch.empty(1, 1, 16, 8, 16, device="meta")) == accounting.feature_memory_bytes(
        "ucunet", spec.base_widths, (16, 8, 16), in_channels=1, out_channels=2)
