"""The compression plan: what the planner decided and what ``monai_ccnet.nets`` builds from it.

torch-free: the planner writes plans, the networks read them (``network_from_plan``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..network_options import NETWORK_OPTIONS, check_network_options
from ..utils import atomic_write_json, read_json

__all__ = ["PLAN_SCHEMA_VERSION", "NETWORK_OPTIONS", "CompressionPlan", "check_network_options"]

PLAN_SCHEMA_VERSION = 1


@dataclasses.dataclass
class CompressionPlan:
    """The planner's answer; ``to_dict()`` is what ``monai_ccnet.nets`` builds a network from.

    Attributes:
        widths: integer channel width per stage (what to build).
        multipliers: ``widths[i] / base_widths[i]`` (what the prediction uses).
        equation_multipliers: the equations' real-valued solution before rounding.
        weights, log10_weights: exact weight count of ``widths`` (accounting, no biases).
        disk_bytes: bytes to store the weights at ``bits_per_weight``.
        memory_bytes: peak inference memory for ``inputs["input_shape"]`` (None without a shape).
        predicted_relative_accuracy: predicted A(widths) / A(base_widths) (docs/method.md §4).
        predicted_accuracy: the same times the full network's accuracy, when it was given.
        predicted_interval, interval_level: ``[low, high]`` of the relative accuracy at that level
            (docs/method.md §7.2), None when the degradation model has no spread (paper presets).
        constraint: {"kind": "disk" | "memory" | "accuracy", "value", ...}; ``satisfied`` says
            whether the rounded plan meets it (checked with exact counts).
        network_options: the network's layer options (``NETWORK_OPTIONS``: ``norm``, ``act``,
            ``dropout``, ``bias``) that ``monai_ccnet.nets.network_from_plan`` passes on; empty
            means the networks' defaults. They do not change the counts (the paper counts conv
            weights without biases).
        extrapolation: None when the plan lies where accuracy was measured, else how far outside:
            ``narrow_stages`` (stages under 2 channels), ``decades_below_measured`` (log10 weights
            below the smallest measured network); only with ``allow_extrapolation``.
    """

    arch: str
    spatial_dims: int
    in_channels: int
    out_channels: int
    base_widths: list
    widths: list
    multipliers: list
    equation_multipliers: list
    weights: int
    log10_weights: float
    disk_bytes: float
    bits_per_weight: float
    memory_bytes: int | None
    predicted_relative_accuracy: float
    predicted_accuracy: float | None
    constraint: dict
    satisfied: bool
    layerwise: bool
    complexity: list
    degradation: dict
    inputs: dict
    network_options: dict = dataclasses.field(default_factory=dict)
    predicted_interval: list | None = None
    interval_level: float | None = None
    extrapolation: dict | None = None
    schema_version: int = PLAN_SCHEMA_VERSION

    def __post_init__(self):
        self.network_options = check_network_options(self.network_options)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> "CompressionPlan":
        known = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in data and f.default is dataclasses.MISSING)
        if missing:
            raise ValueError(f"{source}: not a compression plan, missing key(s) {missing}.")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown} in a compression plan.")
        return cls(**data)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CompressionPlan":
        data = read_json(path, "compression plan")
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a compression plan (a JSON {type(data).__name__}, expected an object).")
        return cls.from_dict(data, source=str(path))
