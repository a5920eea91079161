"""Width-scalable CUMedVision (Chen et al. 2016, "deep contextual network"; docs/method.md §5)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from .blocks import ScalableSegNet

__all__ = ["ScalableCUMedVision"]


class ScalableCUMedVision(ScalableSegNet):
    """CUMedVision: the U-Net encoder without a decoder; every stage below the first emits a side
    output at full resolution and the prediction is their sum.

    ======  ==========================================  =========================================
    stage   encoder (scale 1/2**i)                      side output (full resolution)
    ======  ==========================================  =========================================
    0       2x [3x3 conv, norm, act] -> w0              --
    k >= 1  2x2 max-pool, 2x [3x3 conv, norm, act]      up-conv k = stride = 2**k, wk -> out_channels,
                                                        norm, act, 3x3 conv (bias) -> out_channels
    output  sum of the side outputs of stages 1 .. S-1
    ======  ==========================================  =========================================

    Side outputs have ``out_channels`` maps and are not scaled by the multipliers; their weights
    count for the stage they come from (``monai_ccnet.accounting.conv_layers("cumedvision", ...)``).
    Arguments: see :class:`~monai_ccnet.nets.blocks.ScalableSegNet`.
    """

    arch = "cumedvision"

    def _build(self) -> None:
        #: side outputs of stages 1 .. S-1, in that order
        self.sides = nn.ModuleList(self._side_output(k, logits_bias=True) for k in range(1, self.n_stages))

    def conv_modules(self) -> dict[str, nn.Module]:
        modules = super().conv_modules()
        modules.update(self._side_modules(self.sides, range(1, self.n_stages)))
        return modules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        fused: Optional[torch.Tensor] = None
        for i, stage in enumerate(self.encoder):
            if i > 0:
                x = self.pool(x)
            for layer in stage:  # layer by layer, so each map is freed after its last use
                x = layer(x)
            # the side output of stage i (a scan: TorchScript indexes ModuleLists only with literals)
            for k, side in enumerate(self.sides):
                if k + 1 == i:
                    fused = side(x) if fused is None else fused + side(x)
        assert fused is not None  # at least 2 stages, so at least one side output
        return fused
