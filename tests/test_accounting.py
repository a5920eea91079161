"""Pure accounting: weight counts (Eq. 4), feature-map memory and MACs (no torch needed)."""

from __future__ import annotations

import math

import pytest

from monai_ccnet.accounting import (
    ARCHITECTURES,
    DEFAULT_WIDTHS,
    conv_layers,
    disk_bytes,
    feature_memory_bytes,
    macs,
    memory_bytes,
    resolve_widths,
    spatial_sizes,
    stage_weights,
    total_weights,
)


def test_unet_weight_count_matches_the_paper():
    # docs/method.md §2: classic U-Net, 1 input channel, 2 classes, no biases
    theta = total_weights("unet", DEFAULT_WIDTHS, spatial_dims=2, in_channels=1, out_channels=2)
    assert theta == 31_023_808
    assert round(math.log10(theta), 4) == 7.4917


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_stage_weights_sum_to_layer_weights(arch, spatial_dims):
    widths = (5, 9, 17, 3)
    layers = conv_layers(arch, widths, 3, 4)
    assert sum(stage_weights(arch, widths, spatial_dims, 3, 4)) == sum(l.weights(spatial_dims) for l in layers)
    # every stage owns weights, and stage i's encoder convs are attributed to it
    assert all(t > 0 for t in stage_weights(arch, widths, spatial_dims, 3, 4))


def test_resolve_widths_rounding_and_errors():
    assert resolve_widths((64, 128), 0.25) == (16, 32)
    assert resolve_widths((64, 128), (0.5, 0.001)) == (32, 1)  # never below one channel
    for bad, match in [((), "at least 2"), ((4, 0), "widths\\[1\\]")]:
        with pytest.raises(ValueError, match=match):
            resolve_widths(bad)
    with pytest.raises(ValueError, match="multipliers\\[0\\]"):
        resolve_widths((4, 8), 0)
    with pytest.raises(ValueError, match="multipliers\\[1\\]"):
        resolve_widths((4, 8), (1.0, -2.0))
    with pytest.raises(ValueError, match="3 values but the network has 2 stages"):
        resolve_widths((4, 8), (1.0, 1.0, 1.0))


def test_disk_bytes_paper_example():
    # docs/method.md §4.1: 1 MB at 64-bit weights holds 125,000 weights
    assert disk_bytes(125_000, 64) == 10**6


def test_feature_memory_by_hand():
    """widths (2, 4), 1 -> 2 channels, 4x4 input, 1 byte per value; worked out op by op.

    inference: the peak is at the decoder's concat: input 16 + skip 32 + up 32 + concat 64 = 144.
    training: input 16 + enc0 (norm in 32 + relu out 32) x2 + pool indices 2*4*8 + pooled 8
    + enc1 (16 + 16) x2 + concat 64 + dec0 (32 + 32) x2 = 472.
    """
    assert feature_memory_bytes("unet", (2, 4), (4, 4), dtype_bytes=1) == 144
    assert feature_memory_bytes("unet", (2, 4), (4, 4), dtype_bytes=1, mode="training") == 472
    # the pool indices are int64 whatever the feature dtype, so only the rest scales with dtype
    assert feature_memory_bytes("unet", (2, 4), (4, 4), dtype_bytes=2, mode="training") == 2 * (472 - 64) + 64


def test_macs_by_hand():
    expected = (
        16 * 1 * 9 * 2 + 16 * 2 * 9 * 2  # enc0 at 4x4
        + 4 * 2 * 9 * 4 + 4 * 4 * 9 * 4  # enc1 at 2x2
        + 4 * 4 * 4 * 2  # transposed 2x2 conv: every input voxel writes a 2x2 block
        + 16 * 4 * 9 * 2 + 16 * 2 * 9 * 2  # dec0 at 4x4 on the concat
        + 16 * 2 * 2  # 1x1 head
    )
    assert macs("unet", (2, 4), (4, 4)) == expected == 3648


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_memory_scales_and_orders(arch):
    widths, shape = (8, 16, 32), (32, 32)
    inference = feature_memory_bytes(arch, widths, shape)
    training = feature_memory_bytes(arch, widths, shape, mode="training")
    assert 0 < inference < training
    # feature maps are linear in batch; halving every width roughly halves them (activations ~ alpha)
    assert feature_memory_bytes(arch, widths, shape, batch=3) == 3 * inference
    half = feature_memory_bytes(arch, (4, 8, 16), shape)
    assert 0.4 < half / inference < 0.7
    params = total_weights(arch, widths, 2, include_bias=True, include_norm=True)
    assert memory_bytes(arch, widths, shape, weight_bytes=8) == 8 * params + inference
    # 3-D: spatial_dims comes from the input shape
    assert macs(arch, widths, (8, 8, 8)) > macs(arch, widths, (8, 8))


def test_bad_shapes_and_modes():
    with pytest.raises(ValueError, match="multiples of 2\\*\\*\\(stages-1\\) = 4"):
        spatial_sizes((30, 32), 3)
    with pytest.raises(ValueError, match="multiples"):
        macs("unet", (4, 8, 16), (30, 32))
    with pytest.raises(ValueError, match="mode must be one of"):
        feature_memory_bytes("unet", (4, 8), (8, 8), mode="train")
    with pytest.raises(ValueError, match="unknown architecture 'vnet'"):
        feature_memory_bytes("vnet", (4, 8), (8, 8))
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1, got 0"):
        stage_weights("unet", (4, 8), in_channels=0)
    with pytest.raises(ValueError, match="out_channels must be an integer >= 1, got 1.5"):
        stage_weights("ucunet", (4, 8), out_channels=1.5)
    assert spatial_sizes((8, 4, 4), 3) == [128, 16, 2]
