"""The compression planner (docs/method.md §4): per-stage widths for a disk, memory or accuracy constraint.

Every plan is first solved exactly on real numbers with the paper's equations
(``equations.py``: Eq. 6, 7, 11, 13, 14, 16, 17), then rounded to integer widths honestly:

- memory plans (disk or main memory) round each width to the nearest integer (>= 1, the rule of
  :func:`monai_ccnet.accounting.resolve_widths`, the one the networks use) and, if the *exact*
  count of the rounded network exceeds the budget, shrink the equations' single unknown (the
  uniform multiplier, or Eq. 11's constant K) until it fits;
- accuracy plans round each width up, so no stage drops more than the floor allows.

Each constraint is an object of ``constraints.py`` that plans, checks and reports itself, and all
of them find integer widths with the one monotone search of ``search.py``. Predictions (the degradation model's) use the multipliers ``width_i / base_width_i``; budgets use
exact counts from :mod:`monai_ccnet.accounting`. numpy-free and torch-free. The plan itself is
``plan.py``'s :class:`CompressionPlan`; a grid of plans (the Pareto table) is ``pareto.py``'s.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Mapping, Sequence

from .. import accounting
from ..accounting import DEFAULT_WIDTHS, check_arch, resolve_widths, stage_weights
from . import equations
from .constraints import MEMORY_MODELS, PlanningPath, constraint_from
from .degradation import load_degradation
from .plan import CompressionPlan, check_network_options

__all__ = ["plan_compression", "min_plan_weights", "MEMORY_MODELS", "MIN_STAGE_WIDTH"]

#: no stage narrower than this unless the user allows extrapolation: width-1 stages collapsed in
#: training on real data (docs/RESULTS.md §1) and no measurement supports predicting them
MIN_STAGE_WIDTH = 2


def min_plan_weights(smallest_weights: int, model, allow_extrapolation: bool = False) -> int:
    """The fewest weights a plan may have: the network of the narrowest stages allowed
    (``smallest_weights``) and, without extrapolation, no fewer than the smallest network behind
    the model's predictions (a probe's narrowest; calibrations and presets do not say)."""
    measured = model.measured_log10_weights
    if measured is None or allow_extrapolation:
        return int(smallest_weights)
    return max(int(smallest_weights), math.ceil(10.0 ** measured[0] - 1e-6))


def _memory_function(arch, spatial_dims, in_channels, out_channels, input_shape, batch, dtype_bytes):
    if input_shape is None:
        return None
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != spatial_dims or min(input_shape) < 1:
        raise ValueError(f"input_shape must give {spatial_dims} positive sizes (spatial_dims={spatial_dims}), got {input_shape}.")

    @functools.lru_cache(maxsize=None)
    def memory(widths: tuple) -> int:
        return int(accounting.memory_bytes(arch, widths, input_shape, batch=batch, dtype_bytes=dtype_bytes,
                                           in_channels=in_channels, out_channels=out_channels, mode="inference",
                                           weight_bytes=dtype_bytes))

    return memory


def plan_compression(
    arch: str,
    complexity: Sequence[float],
    degradation,
    *,
    network=None,
    disk_budget_mb: float | None = None,
    bits_per_weight: float = 32,
    memory_budget_mb: float | None = None,
    input_shape: Sequence[int] | None = None,
    batch: int = 1,
    dtype_bytes: int = 4,
    min_relative_accuracy: float | None = None,
    layerwise: bool = False,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    memory_model: str = "exact",
    full_accuracy: float | None = None,
    network_options: Mapping | None = None,
    confidence: float | None = None,
    interval_level: float = 0.9,
    allow_extrapolation: bool = False,
) -> CompressionPlan:
    """Per-stage widths for one constraint (docs/method.md §4), uniform or per-stage (``layerwise``).

    Args:
        arch: "unet", "cumedvision" or "ucunet".
        complexity: per-stage complexity C_0 .. C_{S-1} (same measure as ``degradation``).
        degradation: a :class:`DegradationModel`, its dict, a preset name or a JSON path.
        disk_budget_mb: disk budget in MB (10^6 bytes) at ``bits_per_weight`` -> best accuracy
            (Eq. 6 uniform; Eq. 11 + 13 per stage).
        memory_budget_mb: main-memory budget in MB for ``input_shape`` x ``batch`` at
            ``dtype_bytes`` (weights + peak live feature maps, exact accounting) -> best accuracy.
            ``memory_model="exact"`` solves the exact count numerically; ``"paper"`` starts from
            the paper's approximation (Eq. 7 uniform, Eq. 14 per stage) and then fixes it up.
        min_relative_accuracy: accuracy floor as a fraction of the full network's accuracy, in
            (0, 1) -> least memory (Eq. 16 uniform, Eq. 17 per stage).
        widths: the full network's stage widths (multiplier 1).
        full_accuracy: the full network's accuracy, if known (adds an absolute prediction).
        network_options: layer options of the network to build (``norm``, ``act``, ``dropout``,
            ``bias``), kept in the plan for ``monai_ccnet.nets.network_from_plan``.
        confidence: with an accuracy floor, meet it with this probability (e.g. 0.9) instead of
            at the central prediction: the one network the user trains (one seed) reaches the
            floor with probability ``confidence`` (``DegradationModel.lower_bound``, one-sided); the
            model must carry a spread (``DegradationModel.has_interval``).
        interval_level: level of the two-sided interval every plan reports when the model has one.
        allow_extrapolation: plan outside what was measured: stages narrower than
            :data:`MIN_STAGE_WIDTH` channels, and networks smaller than the smallest one behind
            the model's predictions (a probe's narrowest network). Off by default; the plan's
            ``extrapolation`` says when and by how much a plan lies outside.
        network: count and round through this object instead of :mod:`monai_ccnet.accounting`
            (any architecture, e.g. a MONAI network: ``monai_ccnet.nets.registry.NetworkSpec``):
            ``name`` (used as ``arch``), ``weights(widths)``, ``stage_weights(widths)``,
            ``snap(widths, up=False)`` (the nearest widths its constraints allow; ``up``: the
            smallest ones >= widths), ``uniform_only`` and ``memory_bytes(widths, input_shape,
            batch, dtype_bytes)``. Pass its base widths as ``widths``.

    Exactly one of ``disk_budget_mb``, ``memory_budget_mb``, ``min_relative_accuracy``.
    """
    arch = check_arch(arch) if network is None else str(network.name)
    if network is not None and layerwise and network.uniform_only:
        raise ValueError(f"{arch} scales its widths by one number, so only uniform plans exist (layerwise=False).")
    constraint = constraint_from(
        disk_budget_mb=disk_budget_mb, bits_per_weight=bits_per_weight, memory_budget_mb=memory_budget_mb,
        input_shape=input_shape, batch=batch, dtype_bytes=dtype_bytes, memory_model=memory_model,
        min_relative_accuracy=min_relative_accuracy, confidence=confidence,
    )
    bits_per_weight = float(bits_per_weight)
    network_options = check_network_options(network_options)
    model = load_degradation(degradation)
    if confidence is not None and not model.has_interval:
        raise ValueError(
            "this degradation model has no prediction spread (the paper's presets give no interval), so a floor "
            "cannot be met 'with confidence'; use a model fitted by calibrate or a probe, or drop confidence."
        )
    if model.arch and model.arch != arch:
        # allowed (a prior is better than nothing), but the user should know
        warnings.warn(f"the degradation model was calibrated for {model.arch!r}; planning {arch!r} with it.", stacklevel=2)
    base = list(resolve_widths(widths))
    n = len(base)
    slopes = model.stage_slopes(complexity, n)
    complexity = [float(c) for c in complexity]
    counts = dict(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels)
    # what the model's predictions count with: the network's own weights where the model was measured
    # on it (a probe of a MONAI network), so that they and min_weights below compare like with like
    predict_counts = {**counts, "network": network}

    theta_stage = stage_weights(arch, base, **counts) if network is None else list(network.stage_weights(base))
    narrowest = 1 if allow_extrapolation else MIN_STAGE_WIDTH
    smallest = tuple(min(b, narrowest) for b in base)
    if network is not None:
        smallest = tuple(network.snap(smallest, up=True))

    @functools.lru_cache(maxsize=None)
    def weights_of(w: tuple) -> int:
        return sum(stage_weights(arch, w, **counts)) if network is None else network.weights(w)

    measured = model.measured_log10_weights
    min_weights = min_plan_weights(weights_of(smallest), model, allow_extrapolation)

    def predict(w: Sequence[int]) -> float:
        return model.predict_relative_accuracy(w, base, complexity, **predict_counts)

    def score(w: Sequence[int]) -> float:
        # what a floor is checked against: the central prediction, or the one-sided bound that
        # one trained network reaches with probability `confidence`
        if weights_of(tuple(w)) < min_weights:
            return -math.inf  # outside what was measured: no floor is met there
        if confidence is None:
            return predict(w)
        return model.lower_bound(w, base, complexity, float(confidence), **predict_counts)

    memory = _memory_function(arch, spatial_dims, in_channels, out_channels, input_shape, batch, dtype_bytes)
    if network is not None and memory is not None:
        memory = functools.lru_cache(maxsize=None)(lambda w: network.memory_bytes(w, input_shape, batch, dtype_bytes))

    # the equations' unknown t: uniform -> log10(alpha); per stage -> Eq. 11's K
    def multipliers_at(t: float) -> list[float]:
        return equations.stage_multipliers_for_constant(t, slopes) if layerwise else [min(1.0, 10.0**t)] * n

    def widths_at(t: float) -> tuple:
        widths = tuple(max(w, s) for w, s in zip(resolve_widths(base, multipliers_at(t)), smallest))
        # a registry network keeps its constraints (e.g. GroupNorm's groups divide the widths)
        return widths if network is None else tuple(network.snap(widths))

    path = PlanningPath(
        arch=arch, base=tuple(base), slopes=tuple(slopes), theta_stage=tuple(theta_stage), layerwise=bool(layerwise),
        smallest=smallest, narrowest=narrowest, min_weights=min_weights, multipliers_at=multipliers_at,
        widths_at=widths_at, weights_of=weights_of, score=score, predict=predict, memory=memory,
        snap_up=None if network is None else functools.partial(network.snap, up=True),
        linear_closed_form=model.form == "linear" and confidence is None,
    )
    solution = constraint.solve(path)
    plan_widths = solution.widths
    equation_multipliers = (solution.equation_multipliers if solution.equation_multipliers is not None
                            else multipliers_at(solution.t))
    satisfied = constraint.satisfied(path, plan_widths)
    plan_weights = weights_of(tuple(plan_widths))
    predicted = model.predict_relative_accuracy(plan_widths, base, complexity, **predict_counts)
    interval = model.predict_interval(plan_widths, base, complexity, interval_level, **predict_counts)

    extrapolation = _extrapolation(plan_widths, weights_of(tuple(plan_widths)), measured)
    inputs = {
        "arch": arch, "complexity": complexity, "widths": base, "spatial_dims": spatial_dims, "in_channels": in_channels,
        "out_channels": out_channels, "disk_budget_mb": disk_budget_mb, "bits_per_weight": bits_per_weight,
        "memory_budget_mb": memory_budget_mb, "input_shape": list(input_shape) if input_shape is not None else None,
        "batch": batch, "dtype_bytes": dtype_bytes, "min_relative_accuracy": min_relative_accuracy,
        "layerwise": bool(layerwise), "memory_model": memory_model, "full_accuracy": full_accuracy,
        "confidence": confidence, "interval_level": interval_level, "allow_extrapolation": bool(allow_extrapolation),
    }
    return CompressionPlan(
        arch=arch, spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
        base_widths=base, widths=[int(w) for w in plan_widths],
        multipliers=[w / b for w, b in zip(plan_widths, base)],
        equation_multipliers=[float(a) for a in equation_multipliers],
        weights=plan_weights, log10_weights=math.log10(plan_weights),
        disk_bytes=accounting.disk_bytes(plan_weights, bits_per_weight), bits_per_weight=bits_per_weight,
        memory_bytes=memory(tuple(plan_widths)) if memory is not None else None,
        predicted_relative_accuracy=predicted,
        predicted_accuracy=full_accuracy * predicted if full_accuracy is not None else None,
        constraint=solution.record, satisfied=bool(satisfied), layerwise=bool(layerwise), complexity=complexity,
        degradation=model.to_dict(), inputs=inputs, network_options=network_options,
        predicted_interval=[interval[1], interval[2]] if interval else None,
        interval_level=interval_level if interval else None,
        extrapolation=extrapolation,
    )


def _extrapolation(widths: Sequence[int], weights: int, measured: tuple | None) -> dict | None:
    """How far a plan lies outside what was measured (None: inside): stages narrower than
    ``MIN_STAGE_WIDTH``, and decades of weights below the smallest measured network."""
    out = {}
    narrow = [i for i, w in enumerate(widths) if w < MIN_STAGE_WIDTH]
    if narrow:
        out["narrow_stages"] = narrow
    if measured is not None and math.log10(weights) < measured[0] - 1e-9:
        out["decades_below_measured"] = round(measured[0] - math.log10(weights), 4)
    return out or None
