"""Width-scalable classic U-Net (Ronneberger et al. 2015; docs/method.md §2 and §5)."""

from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv

from .blocks import ScalableSegNet

__all__ = ["ScalableUNet"]


class ScalableUNet(ScalableSegNet):
    """Classic U-Net whose every stage width is a parameter.

    ======  ==========================================  =========================================
    stage   encoder (scale 1/2**i)                      decoder (scale 1/2**i)
    ======  ==========================================  =========================================
    0       2x [3x3 conv, norm, act] -> w0              2x2 up-conv w1->w0, cat skip, 2x [3x3 conv]
    i       2x2 max-pool, 2x [3x3 conv, norm, act]      2x2 up-conv w(i+1)->wi, cat skip, 2x [3x3]
    S-1     2x2 max-pool, 2x [3x3 conv] (bottleneck)    --
    head    1x1 conv w0 -> out_channels (with bias) at full resolution
    ======  ==========================================  =========================================

    With ``in_channels=1, out_channels=2`` and the default widths ``(64, 128, 256, 512, 1024)``
    it holds exactly 31,023,808 conv weights without biases (docs/method.md §2, log10 = 7.4917). The
    layers are those of ``monai_ccnet.accounting.conv_layers("unet", ...)``. Arguments: see
    :class:`~monai_ccnet.nets.blocks.ScalableSegNet`.

    Example::

        net = ScalableUNet(spatial_dims=2, in_channels=1, out_channels=2, multipliers=0.25)
        net.widths  # (16, 32, 64, 128, 256)
    """

    arch = "unet"

    def _build(self) -> None:
        #: decoder stages in the order they run: stage S-2 first, stage 0 last
        self.decoder = nn.ModuleList(self._decoder_stage(i) for i in range(self.n_stages - 2, -1, -1))
        self.head = Conv[Conv.CONV, self.spatial_dims](self.widths[0], self.out_channels, 1, bias=True)

    def conv_modules(self) -> dict[str, nn.Module]:
        modules = super().conv_modules()
        for i, stage in zip(range(self.n_stages - 2, -1, -1), self.decoder):
            modules[f"dec{i}.up"] = stage.up
            modules[f"dec{i}.conv0"] = stage.convs.conv0
            modules[f"dec{i}.conv1"] = stage.convs.conv1
        modules["head"] = self.head
        return modules

    def encode(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The output of every encoder stage, full resolution first, bottleneck last."""
        features: List[torch.Tensor] = []
        for i, stage in enumerate(self.encoder):
            if i > 0:
                x = self.pool(x)
            for layer in stage:  # layer by layer, so each map is freed after its last use
                x = layer(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = self.encode(x)
        x = skips.pop()  # the bottleneck
        for stage in self.decoder:
            x = stage.up(x)
            x = torch.cat([skips.pop(), x], dim=1)
            for layer in stage.convs:
                x = layer(x)
        return self.head(x)
