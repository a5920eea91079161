"""Width-scalable segmentation networks (docs/method.md §5) and their construction from width plans.

``ScalableUNet``, ``ScalableCUMedVision`` and ``ScalableUCUNet`` share one constructor
``(spatial_dims, in_channels, out_channels, widths=(64, 128, 256, 512, 1024), multipliers=None,
norm="batch", act="relu", dropout=0.0, bias=False)``; their conv layers are exactly those of
``monai_ccnet.accounting.conv_layers`` (see ``docs/networks.md``).
"""

from __future__ import annotations

from .blocks import ScalableSegNet
from .cumedvision import ScalableCUMedVision
from .factory import NETWORKS, build_network, network_from_plan
from .ucunet import ScalableUCUNet
from .unet import ScalableUNet

__all__ = [
    "ScalableSegNet",
    "ScalableUNet",
    "ScalableCUMedVision",
    "ScalableUCUNet",
    "NETWORKS",
    "build_network",
    "network_from_plan",
]
