"""Plan the network a MONAI bundle defines (its ``network_def``), counted through the architecture registry.

``monai_ccnet.nets.registry`` describes each architecture once (ours and MONAI's UNet, BasicUNet,
SegResNet, DynUNet, AttentionUnet, SwinUNETR); :func:`plan_network_def` hands the configured
network to :func:`~monai_ccnet.planning.planner.plan_compression` (``network=``), so weights are
exact counts of the network the bundle will build and the widths keep its constraints.
``monai_ccnet.nets.network_def.write_network_def`` then writes the override that trains it::

    from monai_ccnet.nets.network_def import read_network_def, write_network_def
    from monai_ccnet.planning.network_plan import plan_network_def

    netdef = read_network_def("configs/train.json")           # {"network_def": {"_target_": "UNet", ...}}
    plan = plan_network_def(netdef, complexity, "unet-f1-cpu", disk_budget_mb=1.0)
    write_network_def(netdef, plan.widths, "planned")          # planned/network_def.json

This module imports torch (through ``monai_ccnet.nets``) only when called; the rest of
``monai_ccnet.planning`` stays torch-free.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from .. import accounting
from ..accounting import MB
from . import equations
from .plan import CompressionPlan
from .planner import plan_compression

__all__ = ["plan_network_def"]


def plan_network_def(
    network_def: Any,
    complexity: Sequence[float],
    degradation,
    *,
    layerwise: bool = False,
    key: str = "network_def",
    **constraint: Any,
) -> CompressionPlan:
    """Widths for the network a bundle config defines, for one constraint.

    Args:
        network_def: a :class:`monai_ccnet.nets.network_def.NetworkDef`, or what
            :func:`~monai_ccnet.nets.network_def.read_network_def` reads (a bundle config path, a
            network_def.json, a dict).
        complexity: per-stage complexity, one value per stage of the network (its base widths).
        degradation: as for :func:`plan_compression`.
        layerwise: per-stage multipliers (refused for architectures scaled by one number, e.g. SegResNet).
        key: the config key of the block when ``network_def`` is read here.
        constraint: the other keyword arguments of :func:`plan_compression` (``disk_budget_mb``,
            ``memory_budget_mb`` + ``input_shape``, ``min_relative_accuracy``, ``bits_per_weight``, ...);
            ``widths``, ``spatial_dims``, ``in_channels`` and ``out_channels`` come from the block.

    Raises:
        ValueError: as :func:`plan_compression` and ``read_network_def``; a disk budget below the
            smallest network the constraints allow names its widths.
    """
    from ..nets.network_def import NetworkDef, read_network_def

    netdef = network_def if isinstance(network_def, NetworkDef) else read_network_def(network_def, key=key)
    taken = sorted({"widths", "spatial_dims", "in_channels", "out_channels", "network", "arch"} & set(constraint))
    if taken:
        raise ValueError(f"{taken} come from the network_def block ({netdef.source}); do not pass them.")
    spec = netdef.spec
    disk = constraint.get("disk_budget_mb")
    if disk is not None and isinstance(disk, (int, float)) and disk > 0:
        smallest = spec.snap((1,) * len(spec.base_widths), up=True)
        bits = float(constraint.get("bits_per_weight", 32))
        if equations.weights_for_disk_budget(disk * MB, bits) < spec.weights(smallest):
            need = accounting.disk_bytes(spec.weights(smallest), bits) / MB
            raise ValueError(
                f"a disk budget of {disk} MB at {bits:g} bits/weight is below the smallest {spec.name} its constraints "
                f"allow (widths {'-'.join(map(str, smallest))}: {spec.weights(smallest):,} weights, {need:.6g} MB); "
                "raise the budget or store fewer bits per weight."
            )
    return plan_compression(
        spec.name, complexity, degradation, network=spec, layerwise=layerwise, widths=spec.base_widths,
        spatial_dims=spec.spatial_dims, in_channels=spec.in_channels, out_channels=spec.out_channels, **constraint,
    )


def describe_network_def(netdef: Any) -> list[str]:
    """Lines naming the block, its architecture and what passes through unchanged (for the CLI)."""
    entry = netdef.architecture
    arg = entry.widths.arg
    passed = ", ".join(f"{k}={v!r}" for k, v in netdef.block.items() if not k.startswith("_") and k != arg)
    return [
        f"network_def: {netdef.source} ({netdef.key}#_target_ {netdef.block['_target_']!r} = {entry.target}, "
        f"registered as {entry.name!r}: {entry.widths.describe()})",
        f"unchanged: {passed or '(nothing else)'}",
    ]


def network_def_rows(netdef: Any, plans: Mapping[str, CompressionPlan | None]) -> list[tuple[str, list[str]]]:
    """The table the CLI prints: the original network and each plan, column by column."""
    spec = netdef.spec
    arg = netdef.architecture.widths.arg
    base = tuple(spec.base_widths)
    columns = [("original", base, None)] + [(name, tuple(p.widths), p) for name, p in plans.items() if p is not None]

    def value(widths):
        return netdef.architecture.values(netdef.kwargs, widths)[arg]

    bits = next(p for _, _, p in columns if p is not None).bits_per_weight
    rows = [
        (arg, [str(value(w)) for _, w, _ in columns]),
        ("widths", ["-".join(map(str, w)) for _, w, _ in columns]),
        ("weights", [f"{spec.weights(w):,}" for _, w, _ in columns]),
        ("parameters", [f"{spec.parameters(w):,}" for _, w, _ in columns]),
        (f"disk MB @ {bits:g} bit", [f"{accounting.disk_bytes(spec.weights(w), bits) / MB:.4g}" for _, w, _ in columns]),
        ("predicted relative accuracy", ["1"] + [f"{p.predicted_relative_accuracy:.4f}" for _, _, p in columns[1:]]),
    ]
    if all(p.predicted_interval is not None for _, _, p in columns[1:]):
        level = columns[1][2].interval_level
        rows.append((f"{level:.0%} interval", [""] + [f"{p.predicted_interval[0]:.3f} .. {p.predicted_interval[1]:.3f}"
                                                      for _, _, p in columns[1:]]))
    if any(p.memory_bytes is not None for _, _, p in columns[1:]):
        rows.append(("main memory MB", [""] + [f"{p.memory_bytes / MB:.4g}" if p.memory_bytes is not None else ""
                                               for _, _, p in columns[1:]]))
    rows.append(("constraint met", [""] + ["yes" if p.satisfied else "NO" for _, _, p in columns[1:]]))
    return [("", [name for name, _, _ in columns])] + rows


def training_command(config: str | os.PathLike | None, override: str | os.PathLike) -> str:
    """The ``monai.bundle run`` line that trains with the override merged over the bundle config."""
    first = str(config) if config is not None else "configs/train.json"
    return f"python -m monai.bundle run training --config_file \"['{first}','{override}']\""
