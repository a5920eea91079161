"""Width-scalable segmentation networks (docs/method.md §5) and their construction from width plans.

``ScalableUNet``, ``ScalableCUMedVision`` and ``ScalableUCUNet`` share one constructor
``(spatial_dims, in_channels, out_channels, widths=(64, 128, 256, 512, 1024), multipliers=None,
norm="batch", act="relu", dropout=0.0, bias=False)``; their conv layers are exactly those of
``monai_ccnet.accounting.conv_layers`` (see ``docs/networks.md``).

``registry`` describes every architecture the planner can shrink, ours and MONAI's (UNet,
BasicUNet, SegResNet, DynUNet, AttentionUnet, SwinUNETR), one entry each; ``network_def`` reads a
bundle's ``network_def`` block and writes it back with planned widths.
"""

from __future__ import annotations

from .blocks import ScalableSegNet
from .cumedvision import ScalableCUMedVision
from .factory import NETWORKS, build_network, network_from_plan
from .network_def import NetworkDef, read_network_def, write_network_def
from .registry import Architecture, NetworkSpec, find_architecture, get_architecture, list_architectures, register_architecture
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
    "Architecture",
    "NetworkSpec",
    "register_architecture",
    "get_architecture",
    "list_architectures",
    "find_architecture",
    "NetworkDef",
    "read_network_def",
    "write_network_def",
]
