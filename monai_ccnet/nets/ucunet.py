"""Width-scalable UCU-Net (Mishra et al. 2020; docs/method.md §5)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv

from .unet import ScalableUNet

__all__ = ["ScalableUCUNet"]


class ScalableUCUNet(ScalableUNet):
    """UCU-Net: the U-Net plus CUMedVision-style side outputs from the bottleneck and from every
    decoder stage below full resolution, each through one shared 1x1 conv; the output is the U-Net
    head plus the sum of the side outputs.

    ========  =======================================================================
    part      layers
    ========  =======================================================================
    U-Net     encoder, decoder and 1x1 head exactly as :class:`ScalableUNet`
    side k    from the bottleneck (k = S-1) and decoder stages k = S-2 .. 1: up-conv
              kernel = stride = 2**k, wk -> out_channels, norm, act, 3x3 conv
    shared    one 1x1 conv out_channels -> out_channels (with bias), applied to each side
    output    head(decoder stage 0) + sum_k shared(side_k)
    ========  =======================================================================

    Side-output channels equal ``out_channels`` and are not scaled; side weights count for the
    stage they come from, the shared 1x1 conv for stage 0
    (``monai_ccnet.accounting.conv_layers("ucunet", ...)``). Arguments: see
    :class:`~monai_ccnet.nets.blocks.ScalableSegNet`.
    """

    arch = "ucunet"

    def _build(self) -> None:
        super()._build()  # the U-Net
        #: side outputs of scales S-1 .. 1: ``sides[j]`` reads the features entering ``decoder[j]``
        #: (their 3x3 convs need no bias: the shared 1x1 conv after them has one)
        self.sides = nn.ModuleList(self._side_output(k, logits_bias=False) for k in range(self.n_stages - 1, 0, -1))
        self.side_shared = Conv[Conv.CONV, self.spatial_dims](self.out_channels, self.out_channels, 1, bias=True)

    def conv_modules(self) -> dict[str, nn.Module]:
        modules = super().conv_modules()
        modules.update(self._side_modules(self.sides, range(self.n_stages - 1, 0, -1)))
        modules["side.shared"] = self.side_shared
        return modules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = self.encode(x)
        x = skips.pop()  # the bottleneck
        fused: Optional[torch.Tensor] = None
        for stage, side in zip(self.decoder, self.sides):
            # side output of the features entering this decoder stage: the bottleneck, then
            # decoder stages S-2 .. 1
            fused = self.side_shared(side(x)) if fused is None else fused + self.side_shared(side(x))
            x = stage.up(x)
            x = torch.cat([skips.pop(), x], dim=1)
            for layer in stage.convs:
                x = layer(x)
        assert fused is not None  # at least 2 stages, so at least one side output
        return self.head(x) + fused
