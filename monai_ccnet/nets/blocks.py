"""Building blocks shared by the width-scalable networks (docs/method.md §5).

Every layer comes from ``monai.networks.layers.factories`` (through MONAI's ``get_norm_layer`` /
``get_act_layer``), so one class serves 1-D, 2-D and 3-D. The layers, their channels and the stage
each belongs to are those of :func:`monai_ccnet.accounting.conv_layers`; :meth:`ScalableSegNet.conv_modules`
pairs every accounting entry with the module that holds its weights, which the tests compare.

The networks' ``forward`` runs the layers one at a time in the network's own frame (``x = layer(x)``)
so that every feature map is freed right after its last use, in the order that
:func:`monai_ccnet.accounting.feature_memory_bytes` models.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv, Dropout, Pool
from monai.networks.layers.utils import get_act_layer, get_norm_layer

from ..accounting import DEFAULT_WIDTHS, ConvSpec, conv_layers, resolve_widths
from ..network_options import check_network_options

__all__ = ["conv_norm_act", "DecoderStage", "ScalableSegNet"]


def conv_norm_act(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    norm: str | tuple | None = "batch",
    act: str | tuple | None = "relu",
    dropout: float = 0.0,
    bias: bool = False,
    transposed: bool = False,
    suffix: str = "",
    conv_name: str = "conv",
) -> OrderedDict[str, nn.Module]:
    """The layers ``conv -> [norm] -> [dropout] -> [act]`` (MONAI's "NDA" order), named
    ``{conv_name}{suffix}``, ``norm{suffix}``, ... so that several of them make one flat ``nn.Sequential``.

    A regular conv is stride 1 with "same" padding (``kernel // 2``, odd kernels); a transposed
    conv (``transposed=True``) has kernel = stride, so it multiplies every spatial size by
    ``kernel`` exactly (2x2 up-convolution of U-Net, 2**k side-output up-sampling).
    ``norm`` / ``act`` None leave the layer out; dropout only with ``dropout > 0``.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if transposed:
        conv_type = Conv[Conv.CONVTRANS, spatial_dims]
        layers[f"{conv_name}{suffix}"] = conv_type(in_channels, out_channels, kernel_size, stride=kernel_size, bias=bias)
    else:
        conv_type = Conv[Conv.CONV, spatial_dims]
        layers[f"{conv_name}{suffix}"] = conv_type(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    if norm is not None:
        layers[f"norm{suffix}"] = get_norm_layer(norm, spatial_dims, out_channels)
    if dropout:
        layers[f"dropout{suffix}"] = Dropout[Dropout.DROPOUT, 1](dropout)
    if act is not None:
        layers[f"act{suffix}"] = get_act_layer(act)
    return layers


class DecoderStage(nn.Module):
    """U-Net decoder stage i: 2x2 up-convolution from stage i+1 (no norm/act, as in the classic
    U-Net), concat ``[skip, up]``, then ``convs``: two 3x3 conv + norm + act (``conv0``, ``conv1``).

    A container without ``forward``: the networks run ``up`` and then the layers of ``convs`` one
    by one in their own frame, so that every feature map is freed after its last use (module doc).
    """

    def __init__(self, up: nn.Module, convs: nn.Sequential):
        super().__init__()
        self.up = up
        self.convs = convs


class ScalableSegNet(nn.Module):
    """Common part of the three networks: argument checks, width resolution, the encoder, the
    input-size check and the link to the accounting. Subclasses set ``arch``, add their layers
    in ``_build`` and extend ``conv_modules``; they share this constructor.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes); side outputs have this many maps, never scaled.
        widths: base channel widths per stage (any number >= 2); stage i works at 1 / 2**i.
        multipliers: None, one float, or one float per stage: ``width_i = max(1, round(widths_i * m_i))``
            (:func:`monai_ccnet.accounting.resolve_widths`; Python rounds half to even).
        norm: MONAI norm name or ``(name, kwargs)`` (e.g. ``("group", {"num_groups": 8})``); None: no norm.
        act: MONAI activation name or ``(name, kwargs)``; None is refused (the stages need a nonlinearity).
        dropout: dropout probability after every norm of the encoder/decoder convs (0: none).
        bias: biases on the convs. Default False: every such conv but the up-convolution is followed
            by a norm that cancels a bias, and the paper counts weights without biases (docs/method.md §2).
            The layers that produce the logits always have a bias: the U-Net 1x1 head, UCU-Net's
            shared 1x1 side conv and CUMedVision's side-output 3x3 convs. Set it True when ``norm=None``.

    Raises:
        ValueError: bad ``spatial_dims``, channels, widths, multipliers or dropout.
    """

    arch: str = ""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        multipliers: float | Sequence[float] | None = None,
        norm: str | tuple | None = "batch",
        act: str | tuple = "relu",
        dropout: float = 0.0,
        bias: bool = False,
    ):
        super().__init__()
        name = type(self).__name__
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"{name}: spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {key} must be an integer >= 1, got {value!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}.")
        if act is None:
            raise ValueError(f"{name}: act must name an activation (e.g. 'relu'), got None.")
        try:
            self.widths = resolve_widths(widths, multipliers)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        self.spatial_dims, self.in_channels, self.out_channels = spatial_dims, in_channels, out_channels
        self.norm, self.act, self.dropout, self.bias = norm, act, float(dropout), bool(bias)
        self.net_name = name  # for error messages (TorchScript has no type(self).__name__)
        self.n_stages = len(self.widths)
        #: every input spatial size must be a multiple of this (n_stages - 1 poolings)
        self.size_divisor = 2 ** (self.n_stages - 1)

        self.encoder = nn.ModuleList()
        for i, w in enumerate(self.widths):
            cin = in_channels if i == 0 else self.widths[i - 1]
            self.encoder.append(self._conv_pair(cin, w))
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        self._build()

    def _build(self) -> None:
        """Add the architecture's layers after the encoder (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _build().")

    def _conv_pair(self, in_channels: int, out_channels: int) -> nn.Sequential:
        """Two 3x3 conv + norm + dropout + act, flat: ``conv0, norm0, act0, conv1, norm1, act1``."""
        args = (self.norm, self.act, self.dropout, self.bias)
        return nn.Sequential(
            OrderedDict(
                [
                    *conv_norm_act(self.spatial_dims, in_channels, out_channels, 3, *args, suffix="0").items(),
                    *conv_norm_act(self.spatial_dims, out_channels, out_channels, 3, *args, suffix="1").items(),
                ]
            )
        )

    def _decoder_stage(self, scale: int) -> DecoderStage:
        up = Conv[Conv.CONVTRANS, self.spatial_dims](self.widths[scale + 1], self.widths[scale], 2, stride=2, bias=self.bias)
        return DecoderStage(up, self._conv_pair(2 * self.widths[scale], self.widths[scale]))

    def _side_output(self, scale: int, logits_bias: bool) -> nn.Sequential:
        """CUMedVision side output of stage ``scale``: transposed conv (kernel = stride = 2**scale) to
        ``out_channels`` maps at full resolution + norm/act (``up``, ``norm``, ``act``), then a 3x3
        conv (``conv``: logits, no norm/act; with a bias if ``logits_bias`` or ``self.bias``)."""
        layers = conv_norm_act(
            self.spatial_dims, self.widths[scale], self.out_channels, 2**scale, self.norm, self.act, 0.0, self.bias,
            transposed=True, conv_name="up",
        )
        layers.update(
            conv_norm_act(self.spatial_dims, self.out_channels, self.out_channels, 3, None, None, 0.0, self.bias or logits_bias)
        )
        return nn.Sequential(layers)

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse inputs whose spatial sizes are not multiples of ``2**(n_stages - 1)``."""
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                f"{self.net_name}: expected a (batch, channel, {self.spatial_dims} spatial sizes) input, "
                f"got shape {list(x.shape)}."
            )
        for size in x.shape[2:]:
            if size % self.size_divisor != 0:
                raise ValueError(
                    f"{self.net_name}: input spatial shape {list(x.shape[2:])} must be multiples of 2**(stages-1) = "
                    f"{self.size_divisor}; pad or crop it (monai.transforms.DivisiblePad(k={self.size_divisor})) "
                    f"or use sliding_window_inference with such a roi_size."
                )

    # --- link to the accounting ---------------------------------------------------------------
    def conv_specs(self) -> list[ConvSpec]:
        """The accounting's description of this network (:func:`monai_ccnet.accounting.conv_layers`)."""
        return conv_layers(
            self.arch, self.widths, self.in_channels, self.out_channels, bias=self.bias, normed=self.norm is not None
        )

    def conv_modules(self) -> dict[str, nn.Module]:
        """``{accounting layer name: the conv module holding its weights}``, in the accounting's order."""
        modules: dict[str, nn.Module] = {}
        for i, stage in enumerate(self.encoder):
            modules[f"enc{i}.conv0"] = stage.conv0
            modules[f"enc{i}.conv1"] = stage.conv1
        return modules

    @staticmethod
    def _side_modules(sides: nn.ModuleList, scales: Sequence[int]) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {}
        for k, side in zip(scales, sides):
            modules[f"side{k}.up"] = side.up
            modules[f"side{k}.conv"] = side.conv
        return modules

    def plan_dict(self) -> dict:
        """What ``monai_ccnet.nets.network_from_plan`` needs to rebuild this network, JSON-ready.

        Every constructor argument is there: the plan keys of the planner's ``CompressionPlan``
        (``arch``, ``widths``, ``spatial_dims``, ``in_channels``, ``out_channels``) and the layer
        options under ``network_options`` (``norm``, ``act``, ``dropout``, ``bias``; tuples such as
        ``("group", {"num_groups": 8})`` as lists, the form they take in JSON).
        """
        return {
            "arch": self.arch,
            "widths": list(self.widths),
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "network_options": check_network_options(
                {"norm": self.norm, "act": self.act, "dropout": self.dropout, "bias": self.bias}
            ),
        }

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, widths={self.widths}, spatial_dims={self.spatial_dims}"
