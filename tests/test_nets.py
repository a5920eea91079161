"""Width-scalable networks: layers == accounting, output shapes, argument checks."""

from __future__ import annotations

import pytest
import torch

from monai_ccnet.accounting import ARCHITECTURES, DEFAULT_WIDTHS, stage_weights, total_weights
from monai_ccnet.nets import NETWORKS, ScalableCUMedVision, ScalableUCUNet, ScalableUNet, build_network

WIDTHS = {
    "default": DEFAULT_WIDTHS,
    "non-uniform": (7, 3, 12, 5),
    "all-ones": (1, 1, 1),
}


def conv_weight_count(net: torch.nn.Module) -> int:
    """Weights of every conv / transposed conv of the module, found independently of conv_modules()."""
    conv_types = (torch.nn.modules.conv._ConvNd,)
    return sum(m.weight.numel() for m in net.modules() if isinstance(m, conv_types))


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("widths", WIDTHS.values(), ids=WIDTHS.keys())
def test_conv_weights_match_accounting(arch, spatial_dims, widths):
    # the meta device builds full-width 3-D networks without allocating (or running) them
    with torch.device("meta"):
        net = build_network(arch, spatial_dims, in_channels=3, out_channels=4, widths=widths)
    assert sum(stage_weights(arch, widths, spatial_dims, 3, 4)) == conv_weight_count(net)
    # same layers, same order, same shapes: the stage attribution of every weight is the accounting's
    specs, modules = net.conv_specs(), net.conv_modules()
    assert [s.name for s in specs] == list(modules)
    for spec in specs:
        conv = modules[spec.name]
        assert conv.weight.numel() == spec.weights(spatial_dims), spec
        assert (conv.in_channels, conv.out_channels) == (spec.in_channels, spec.out_channels), spec
        assert conv.kernel_size == (spec.kernel,) * spatial_dims, spec
        assert isinstance(conv, torch.nn.modules.conv._ConvTransposeNd) == spec.transposed, spec
        assert (conv.bias is not None) == spec.has_bias, spec


def test_unet_holds_the_papers_weight_count():
    with torch.device("meta"):
        net = ScalableUNet(2, 1, 2)
    assert conv_weight_count(net) == 31_023_808  # docs/method.md §2, log10 = 7.4917


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("norm", ["batch", None])
def test_all_parameters_match_flagged_accounting(arch, bias, norm):
    net = build_network(arch, 2, 2, 3, widths=(3, 6, 4), norm=norm, bias=bias)
    expected = total_weights(arch, (3, 6, 4), 2, 2, 3, include_bias=True, include_norm=True, bias=bias, normed=norm is not None)
    assert sum(p.numel() for p in net.parameters()) == expected


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("widths", [(1, 1, 1), (4, 2, 6, 3)])
def test_output_shapes_tiny_widths(arch, widths):
    for shape in [(16, 24), (8, 16, 8)]:
        net = build_network(arch, len(shape), 2, 3, widths=widths)
        x = torch.randn(2, 2, *shape)
        y = net(x)
        assert y.shape == (2, 3, *shape)
        y.sum().backward()  # trains: every parameter gets a gradient
        assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_output_shapes_full_widths(arch):
    net = build_network(arch, 2, 1, 2).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 1, 16, 32)).shape == (1, 2, 16, 32)
    # 3-D at full width: shapes propagated on the meta device, nothing computed
    with torch.device("meta"):
        net3 = build_network(arch, 3, 1, 2)
        assert net3(torch.empty(1, 1, 16, 16, 32)).shape == (1, 2, 16, 16, 32)


def test_multipliers_and_norm_variants():
    assert ScalableUNet(2, 1, 2, multipliers=0.25).widths == (16, 32, 64, 128, 256)
    assert ScalableUCUNet(2, 1, 2, widths=(8, 16), multipliers=(0.5, 0.01)).widths == (4, 1)
    for norm, act in [("instance", "prelu"), (("group", {"num_groups": 2}), ("leakyrelu", {"negative_slope": 0.1}))]:
        net = ScalableCUMedVision(2, 1, 2, widths=(4, 8, 6), norm=norm, act=act, dropout=0.1)
        assert net(torch.randn(2, 1, 8, 8)).shape == (2, 2, 8, 8)


@pytest.mark.parametrize("cls", NETWORKS.values())
def test_bad_arguments_raise_clear_errors(cls):
    name = cls.__name__
    cases = [
        (dict(widths=()), "widths must list at least 2 stages"),
        (dict(widths=(8,)), "widths must list at least 2 stages, got \\(8,\\)"),
        (dict(widths=(8, 0)), "widths\\[1\\] must be >= 1"),
        (dict(multipliers=0.0), "multipliers\\[0\\] must be a finite number > 0"),
        (dict(multipliers=-0.5), "multipliers\\[0\\]"),
        (dict(multipliers=(1.0, 0.5)), "multipliers has 2 values but the network has 5 stages"),
        (dict(dropout=1.0), "dropout must be in \\[0, 1\\)"),
        (dict(act=None), "act must name an activation"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=f"{name}: {match}"):
            cls(2, 1, 2, **kwargs)
    with pytest.raises(ValueError, match="spatial_dims must be 1, 2 or 3"):
        cls(4, 1, 2)
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        cls(2, 0, 2)
    net = cls(2, 1, 2, widths=(2, 2, 2))
    with pytest.raises(ValueError, match=f"{name}: input spatial shape \\[30, 32\\] must be multiples of 2\\*\\*\\(stages-1\\) = 4"):
        net(torch.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match="expected a \\(batch, channel, 2 spatial sizes\\) input"):
        net(torch.zeros(1, 32, 32))


def test_build_network_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture 'vnet'"):
        build_network("vnet")
    assert isinstance(build_network("UCUNet", widths=(2, 2)), ScalableUCUNet)
