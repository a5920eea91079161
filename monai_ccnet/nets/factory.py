"""Build a network by architecture name, or from a width plan (the planner's JSON)."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from ..accounting import ARCHITECTURES, DEFAULT_WIDTHS, check_arch
from ..network_options import check_network_options
from ..utils import read_json
from .blocks import ScalableSegNet
from .cumedvision import ScalableCUMedVision
from .ucunet import ScalableUCUNet
from .unet import ScalableUNet

__all__ = ["NETWORKS", "build_network", "network_from_plan"]

#: architecture name (as in ``monai_ccnet.accounting.ARCHITECTURES``) -> network class
NETWORKS: dict[str, type[ScalableSegNet]] = {
    "unet": ScalableUNet,
    "cumedvision": ScalableCUMedVision,
    "ucunet": ScalableUCUNet,
}
assert tuple(NETWORKS) == ARCHITECTURES

#: plan keys that are network arguments; everything else in a plan (budgets, predictions, the
#: multipliers that produced "widths") is ignored: "widths" are final, applying multipliers again would shrink twice.
#: The layer options (``monai_ccnet.network_options.NETWORK_OPTIONS``: norm, act, dropout, bias) sit under "network_options".
_PLAN_NETWORK_KEYS = ("arch", "spatial_dims", "in_channels", "out_channels", "widths")


def build_network(
    arch: str,
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    multipliers: float | Sequence[float] | None = None,
    **kwargs,
) -> ScalableSegNet:
    """``ScalableUNet`` / ``ScalableCUMedVision`` / ``ScalableUCUNet`` by name (``arch`` in
    ``"unet" | "cumedvision" | "ucunet"``, case-insensitive); ``kwargs``: ``norm``, ``act``,
    ``dropout``, ``bias``."""
    return NETWORKS[check_arch(arch)](spatial_dims, in_channels, out_channels, widths, multipliers, **kwargs)


def _plan_dict(plan: Any) -> tuple[dict, str]:
    """The plan as a dict and a description of where it came from (for error messages)."""
    if isinstance(plan, (str, os.PathLike)):
        return read_json(plan, "compression plan"), str(plan)
    if hasattr(plan, "to_dict"):
        return dict(plan.to_dict()), type(plan).__name__
    if isinstance(plan, Mapping):
        return dict(plan), "plan dict"
    raise ValueError(f"plan must be a dict, a path to a plan JSON or an object with .to_dict(), got {type(plan).__name__}.")


def network_from_plan(plan: Any, **overrides) -> ScalableSegNet:
    """Rebuild the network a width plan describes.

    Args:
        plan: a dict, a path to a plan JSON, or an object with ``.to_dict()`` (the planner's
            ``CompressionPlan``, or ``net.plan_dict()``). It needs ``"arch"`` and ``"widths"`` (the
            final integer widths); ``"spatial_dims"``, ``"in_channels"``, ``"out_channels"`` and
            ``"network_options"`` (``norm``, ``act``, ``dropout``, ``bias``) are used when present,
            the networks' defaults otherwise. Other keys (budgets, predictions, ...) are ignored.
        overrides: replace plan values or add network arguments (``norm``, ``act``, ``dropout``,
            ``bias``, ``in_channels`` ...).

    Raises:
        ValueError: unreadable plan, a plan without ``"arch"`` / ``"widths"``, or unknown
            ``"network_options"`` (naming the source).
    """
    data, source = _plan_dict(plan)
    missing = [key for key in ("arch", "widths") if key not in data and key not in overrides]
    if missing:
        raise ValueError(f"{source} lacks {missing} (needs 'arch' and 'widths'; has {sorted(data)}).")
    args = {key: data[key] for key in _PLAN_NETWORK_KEYS if data.get(key) is not None}
    try:
        args.update(check_network_options(data.get("network_options")))
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    args.update(overrides)
    return build_network(**args)
