"""Exact weight accounting for the width-scalable networks (METHOD.md §2, Eq. 4 and 5).

Pure Python: no torch. The planner (``monai_ccnet.planning``) and the networks
(``monai_ccnet.nets``) both rely on this module, so a plan computed on a laptop without
torch describes exactly the network that ``monai_ccnet.nets`` builds.

Conventions (shared with ``monai_ccnet.nets``):

- A network has ``S = len(widths)`` stages; stage ``i`` works at scale ``1 / 2**i``.
- A conv layer holds ``theta = FM_in * prod(kernel) * FM_out`` weights (Eq. 4); biases and
  normalisation parameters are not counted unless asked for (``include_bias`` /
  ``include_norm``), as in the paper.
- ``theta_i`` ("the weights belonging to stage i", METHOD §2) = the encoder convs at scale i
  + the decoder convs at scale i + the up-convolution that produces scale i. Side outputs are
  attributed to the stage they come from. The final 1x1 head (and UCU-Net's shared 1x1 side
  conv) work at full resolution and are attributed to stage 0.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_WIDTHS",
    "ConvSpec",
    "resolve_widths",
    "conv_layers",
    "stage_weights",
    "total_weights",
    "disk_bytes",
    "MB",
]

ARCHITECTURES = ("unet", "cumedvision", "ucunet")
DEFAULT_WIDTHS = (64, 128, 256, 512, 1024)
MB = 10**6  # METHOD §4: "MB" means 10^6 bytes everywhere.


class ConvSpec:
    """One convolution layer of a network: enough to count its weights, biases and MACs.

    Attributes:
        name: a readable name, e.g. ``"enc2.conv1"``.
        stage: the stage the weights are attributed to (METHOD §2).
        in_channels, out_channels: feature maps in and out.
        kernel: kernel size per spatial dimension (e.g. 3 or 2**k).
        scale: the stage of the *output* resolution (output spatial size = input / 2**scale).
        transposed: whether the layer is a transposed convolution.
        normed: whether a normalisation layer follows (its affine parameters are optional extras).
        has_bias: whether the built layer has a bias vector.
    """

    __slots__ = ("name", "stage", "in_channels", "out_channels", "kernel", "scale", "transposed", "normed", "has_bias")

    def __init__(
        self,
        name: str,
        stage: int,
        in_channels: int,
        out_channels: int,
        kernel: int,
        scale: int,
        transposed: bool = False,
        normed: bool = False,
        has_bias: bool = False,
    ):
        self.name = name
        self.stage = stage
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel = kernel
        self.scale = scale
        self.transposed = transposed
        self.normed = normed
        self.has_bias = has_bias

    def weights(self, spatial_dims: int) -> int:
        """Eq. 4: FM_in * k^d * FM_out."""
        return self.in_channels * self.kernel**spatial_dims * self.out_channels

    def __repr__(self) -> str:
        return (
            f"ConvSpec({self.name!r}, stage={self.stage}, {self.in_channels}->{self.out_channels}, "
            f"k={self.kernel}, scale={self.scale}{', transposed' if self.transposed else ''})"
        )


def resolve_widths(
    widths: Sequence[int] = DEFAULT_WIDTHS, multipliers: float | Sequence[float] | None = None
) -> tuple[int, ...]:
    """Per-stage channel widths after applying multipliers.

    ``width_i = max(1, round(widths_i * m_i))`` (Python's round: half to even). ``multipliers`` is
    None (keep ``widths``), one float for every stage, or one float per stage.

    Raises:
        ValueError: empty or non-positive widths, fewer than 2 stages, non-positive or non-finite
            multipliers, or a multiplier list whose length differs from ``widths``.
    """
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least 2 stages, got {widths!r}.")
    for i, w in enumerate(widths):
        if isinstance(w, bool) or not isinstance(w, (int,)) and not float(w).is_integer():
            raise ValueError(f"widths[{i}] must be an integer, got {w!r}.")
        if int(w) < 1:
            raise ValueError(f"widths[{i}] must be >= 1, got {w!r}.")
    widths = tuple(int(w) for w in widths)
    if multipliers is None:
        return widths
    if isinstance(multipliers, (int, float)):
        multipliers = [float(multipliers)] * len(widths)
    multipliers = [float(m) for m in multipliers]
    if len(multipliers) != len(widths):
        raise ValueError(
            f"multipliers has {len(multipliers)} values but the network has {len(widths)} stages "
            f"(widths={widths}); give one float or one per stage."
        )
    for i, m in enumerate(multipliers):
        if not math.isfinite(m) or m <= 0:
            raise ValueError(f"multipliers[{i}] must be a finite number > 0, got {m!r}.")
    return tuple(max(1, int(round(w * m))) for w, m in zip(widths, multipliers))


def _check_arch(arch: str) -> str:
    arch = str(arch).lower()
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}.")
    return arch


def conv_layers(
    arch: str,
    widths: Sequence[int],
    in_channels: int = 1,
    out_channels: int = 2,
    bias: bool = False,
    normed: bool = True,
) -> list[ConvSpec]:
    """Every convolution of ``arch`` with these (already resolved) widths, in forward order.

    This list is the single description of the architectures that the weight, memory and MAC
    accounting use; ``monai_ccnet.nets`` builds exactly these layers (tests check the counts).

    - ``unet``: per stage two 3x3 convs; 2x2 max-pool down; 2x2 transposed conv up; decoder stage
      i takes concat(skip_i, up_i) = 2*w_i channels; final 1x1 conv to ``out_channels``.
    - ``cumedvision``: the same encoder; every stage k >= 1 emits a side output: transposed conv
      with kernel = stride = 2**k to ``out_channels`` maps at full resolution, then a 3x3 conv;
      the side outputs are summed.
    - ``ucunet``: the U-Net, plus side outputs from the bottleneck and from every decoder stage
      below full resolution (transposed conv 2**k + norm/act + 3x3 conv), each through one
      shared 1x1 conv; output = U-Net head + sum of side outputs.
    """
    arch = _check_arch(arch)
    widths = resolve_widths(widths)
    n = len(widths)
    layers: list[ConvSpec] = []

    def add(name, stage, cin, cout, k, scale, transposed=False, norm=normed, has_bias=bias):
        layers.append(ConvSpec(name, stage, cin, cout, k, scale, transposed, norm, has_bias))

    # encoder (all three architectures)
    for i, w in enumerate(widths):
        cin = in_channels if i == 0 else widths[i - 1]
        add(f"enc{i}.conv0", i, cin, w, 3, i)
        add(f"enc{i}.conv1", i, w, w, 3, i)

    if arch == "cumedvision":
        for k in range(1, n):
            add(f"side{k}.up", k, widths[k], out_channels, 2**k, 0, transposed=True)
            # the 3x3 conv ends the side branch: logits, no norm after it
            add(f"side{k}.conv", k, out_channels, out_channels, 3, 0, norm=False)
        return layers

    # U-Net decoder: stage i from n-2 down to 0
    for i in range(n - 2, -1, -1):
        w = widths[i]
        # the up-convolution producing scale i belongs to stage i (METHOD §2); classic U-Net has
        # no norm/act after it
        add(f"dec{i}.up", i, widths[i + 1], w, 2, i, transposed=True, norm=False)
        add(f"dec{i}.conv0", i, 2 * w, w, 3, i)
        add(f"dec{i}.conv1", i, w, w, 3, i)
    add("head", 0, widths[0], out_channels, 1, 0, norm=False, has_bias=True)

    if arch == "ucunet":
        # side outputs from the bottleneck (stage n-1) and decoder stages n-2 .. 1
        for k in range(n - 1, 0, -1):
            add(f"side{k}.up", k, widths[k], out_channels, 2**k, 0, transposed=True)
            add(f"side{k}.conv", k, out_channels, out_channels, 3, 0, norm=False)
        add("side.shared", 0, out_channels, out_channels, 1, 0, norm=False, has_bias=True)
    return layers


def stage_weights(
    arch: str,
    widths: Sequence[int],
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    include_bias: bool = False,
    include_norm: bool = False,
    bias: bool = False,
    normed: bool = True,
) -> list[int]:
    """theta_i per stage (METHOD §2); ``sum(stage_weights(...)) == total_weights(...)``.

    Args:
        include_bias: also count the bias vectors of layers built with a bias (``bias`` says
            whether the network's convs have one; heads always have one).
        include_norm: also count the affine parameters (2 per channel) of norm layers
            (``normed`` says whether the network has them).
    """
    if spatial_dims not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
    widths = resolve_widths(widths)
    theta = [0] * len(widths)
    for layer in conv_layers(arch, widths, in_channels, out_channels, bias=bias, normed=normed):
        count = layer.weights(spatial_dims)
        if include_bias and layer.has_bias:
            count += layer.out_channels
        if include_norm and layer.normed:
            count += 2 * layer.out_channels
        theta[layer.stage] += count
    return theta


def total_weights(
    arch: str,
    widths: Sequence[int],
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    **kwargs,
) -> int:
    """theta: the network's weight count (Eq. 4 summed over layers). See :func:`stage_weights`."""
    return sum(stage_weights(arch, widths, spatial_dims, in_channels, out_channels, **kwargs))


def disk_bytes(weights: int, bits_per_weight: float = 32) -> float:
    """Bytes needed to store ``weights`` parameters at ``bits_per_weight`` (METHOD §4.1)."""
    if bits_per_weight <= 0:
        raise ValueError(f"bits_per_weight must be > 0, got {bits_per_weight!r}.")
    return weights * bits_per_weight / 8
