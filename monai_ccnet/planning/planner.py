"""The compression planner (docs/method.md §4): per-stage widths for a disk, memory or accuracy constraint.

Every plan is first solved exactly on real numbers with the paper's equations
(``equations.py``: Eq. 6, 7, 11, 13, 14, 16, 17), then rounded to integer widths honestly:

- memory plans (disk or main memory) round each width to the nearest integer (>= 1, the rule of
  :func:`monai_ccnet.accounting.resolve_widths`, the one the networks use) and, if the *exact*
  count of the rounded network exceeds the budget, shrink the equations' single unknown (the
  uniform multiplier, or Eq. 11's constant K) by bisection until it fits;
- accuracy plans round each width up, so no stage drops more than the floor allows.

Predictions (the degradation model's) use the multipliers ``width_i / base_width_i``; budgets use
exact counts from :mod:`monai_ccnet.accounting`. numpy-free and torch-free. The plan itself is
``plan.py``'s :class:`CompressionPlan`; a grid of plans (the Pareto table) is ``pareto.py``'s.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable, Mapping, Sequence

from .. import accounting
from ..accounting import DEFAULT_WIDTHS, MB, check_arch, resolve_widths, stage_weights
from . import equations
from .degradation import load_degradation
from .plan import CompressionPlan, check_network_options

__all__ = ["plan_compression", "MEMORY_MODELS"]

MEMORY_MODELS = ("exact", "paper")
#: no stage narrower than this unless the user allows extrapolation: width-1 stages collapsed in
#: training on real data (docs/RESULTS.md §1) and no measurement supports predicting them
MIN_STAGE_WIDTH = 2

def _largest_feasible(
    widths_at: Callable[[float], tuple],
    cost: Callable[[tuple], float],
    budget: float,
    t_eq: float,
    guess: float | None = None,
    tol: float = 1e-12,
) -> float:
    """The largest t <= t_eq whose rounded widths cost at most ``budget`` (widths grow with t).

    ``t`` is the equations' single unknown (log10 of the uniform multiplier, or Eq. 11's K);
    rounding can push the exact count over the budget, so the unknown is lowered until it fits.
    The search keeps a feasible ``lo`` and an infeasible ``hi`` and takes false-position steps
    (Illinois variant) on log(cost / budget), so it needs few exact counts (a memory count costs
    ~0.2 ms). It stops once no width vector lies strictly between the two ends (they differ by one
    channel in one stage), so the answer is the largest fitting vector on the path, whatever the
    steps were. ``cost`` should cache its answers: many values of t round to the same widths.
    ``guess``: a first try below ``t_eq`` (e.g. the paper's approximation); saves steps when close.
    """

    def excess(t: float) -> float:
        # log of cost / budget: costs grow roughly like a power of the multipliers, so this is
        # close to linear in t and false position lands near the answer in a few steps
        return math.log(cost(widths_at(t)) / budget)

    hi, f_hi = t_eq, excess(t_eq)
    if f_hi <= 0:
        return t_eq
    lo = guess if guess is not None and guess < t_eq else t_eq - 1.0
    f_lo = excess(lo)
    while f_lo > 0:
        hi, f_hi = lo, f_lo
        lo = t_eq - 2.0 * (t_eq - lo)
        if lo < -1e6:  # unreachable: callers check that the smallest network fits first
            raise ValueError("no integer widths fit the budget.")
        f_lo = excess(lo)
    side = 0  # which end moved last (Illinois variant of false position: no end gets stuck)
    while hi - lo > tol * max(1.0, abs(lo)):
        if sum(h - l for h, l in zip(widths_at(hi), widths_at(lo))) <= 1:
            break
        t = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        t = min(max(t, lo + 1e-6 * (hi - lo)), hi - 1e-6 * (hi - lo))
        f = excess(t)
        if f <= 0:
            lo, f_lo = t, f
            if side < 0:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = t, f
            if side > 0:
                f_lo /= 2
            side = 1
    return lo


def _smallest_meeting(
    widths_at: Callable[[float], tuple], score: Callable[[tuple], float], floor: float, t_min: float
) -> float | None:
    """The smallest t in [t_min, 0] whose widths score at least ``floor`` (scores grow with t), by
    bisection until the two ends' widths differ by at most one channel; None if even t = 0 fails."""
    if score(widths_at(0.0)) < floor:
        return None
    if score(widths_at(t_min)) >= floor:
        return t_min
    lo, hi = t_min, 0.0
    while sum(h - l for h, l in zip(widths_at(hi), widths_at(lo))) > 1 and hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        if score(widths_at(mid)) >= floor:
            hi = mid
        else:
            lo = mid
    return hi


def _round_up(base: Sequence[int], multipliers: Sequence[float]) -> list[int]:
    # the 1e-9 keeps 30.000000000004 (float noise on an exact 30) from becoming 31
    return [min(b, max(1, math.ceil(b * m - 1e-9))) for b, m in zip(base, multipliers)]


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


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


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
    given = {k: v for k, v in (("disk_budget_mb", disk_budget_mb), ("memory_budget_mb", memory_budget_mb),
                               ("min_relative_accuracy", min_relative_accuracy)) if v is not None}
    if len(given) != 1:
        raise ValueError(
            "give exactly one constraint: disk_budget_mb, memory_budget_mb or min_relative_accuracy "
            f"(got {sorted(given) or 'none'})."
        )
    if memory_model not in MEMORY_MODELS:
        raise ValueError(f"memory_model must be one of {MEMORY_MODELS}, got {memory_model!r}.")
    bits_per_weight = _check_positive("bits_per_weight", bits_per_weight)
    network_options = check_network_options(network_options)
    model = load_degradation(degradation)
    if confidence is not None:
        if min_relative_accuracy is None:
            raise ValueError("confidence applies to an accuracy floor (min_relative_accuracy); budget plans "
                             "report their interval at interval_level.")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), e.g. 0.9, got {confidence!r}.")
        if not model.has_interval:
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
    theta = sum(theta_stage)
    narrowest = 1 if allow_extrapolation else MIN_STAGE_WIDTH
    smallest = tuple(min(b, narrowest) for b in base)
    if network is not None:
        smallest = tuple(network.snap(smallest, up=True))

    @functools.lru_cache(maxsize=None)
    def weights_of(w: tuple) -> int:
        return sum(stage_weights(arch, w, **counts)) if network is None else network.weights(w)

    measured = model.measured_log10_weights
    # the smallest network a plan may have: the narrowest stages allowed, and (without
    # extrapolation) no fewer weights than the smallest network behind the predictions
    min_weights = weights_of(smallest)
    if measured is not None and not allow_extrapolation:
        min_weights = max(min_weights, math.ceil(10.0 ** measured[0] - 1e-6))

    def score(w: Sequence[int]) -> float:
        # what a floor is checked against: the central prediction, or the one-sided bound that
        # one trained network reaches with probability `confidence`
        if weights_of(tuple(w)) < min_weights:
            return -math.inf  # outside what was measured: no floor is met there
        if confidence is None:
            return model.predict_relative_accuracy(w, base, complexity, **predict_counts)
        return model.lower_bound(w, base, complexity, float(confidence), **predict_counts)

    memory = _memory_function(arch, spatial_dims, in_channels, out_channels, input_shape, batch, dtype_bytes)
    if network is not None and memory is not None:
        memory = functools.lru_cache(maxsize=None)(lambda w: network.memory_bytes(w, input_shape, batch, dtype_bytes))
    if memory_budget_mb is not None and memory is None:
        raise ValueError("a memory budget needs input_shape (the feature maps depend on it), e.g. input_shape=(256, 256).")

    # the equations' unknown t: uniform -> log10(alpha); per stage -> Eq. 11's K
    def multipliers_at(t: float) -> list[float]:
        return equations.stage_multipliers_for_constant(t, slopes) if layerwise else [min(1.0, 10.0**t)] * n

    def widths_at(t: float) -> tuple:
        return tuple(max(w, s) for w, s in zip(resolve_widths(base, multipliers_at(t)), smallest))

    if network is not None:  # the widths the network's constraints allow (e.g. GroupNorm's groups divide them)
        unsnapped_widths_at = widths_at

        def widths_at(t: float) -> tuple:
            return tuple(network.snap(unsnapped_widths_at(t)))

    if disk_budget_mb is not None:
        budget_bytes = _check_positive("disk_budget_mb", disk_budget_mb) * MB
        theta_star = equations.weights_for_disk_budget(budget_bytes, bits_per_weight)
        if theta_star < min_weights:
            need = accounting.disk_bytes(min_weights, bits_per_weight) / MB
            what = (f"the smallest {arch} (all widths {narrowest})" if min_weights == weights_of(smallest) else
                    f"the smallest network whose accuracy was measured ({min_weights} weights)")
            raise ValueError(
                f"a disk budget of {disk_budget_mb} MB at {bits_per_weight:g} bits/weight holds {theta_star:.0f} weights, "
                f"but {what} has {min_weights}; raise the budget to at least {need:.6g} MB, store fewer bits per weight"
                + ("" if allow_extrapolation else ", or allow_extrapolation (narrower stages, unmeasured sizes)") + "."
            )
        if layerwise:  # Eq. 11 + Eq. 13: sum_i alpha_i^2 theta_i = theta*
            t_eq = equations.solve_stage_constant(
                lambda a: sum(ai * ai * th for ai, th in zip(a, theta_stage)), theta_star, slopes)
        else:  # Eq. 6
            t_eq = math.log10(min(1.0, equations.uniform_multiplier_disk(theta_star, theta)))
        t = _largest_feasible(widths_at, weights_of, theta_star, t_eq)
        plan_widths = list(widths_at(t))
        constraint = {"kind": "disk", "value": float(disk_budget_mb), "unit": "MB", "bits_per_weight": bits_per_weight,
                      "budget_weights": theta_star, "log10_budget_weights": math.log10(theta_star)}
        satisfied = weights_of(tuple(plan_widths)) <= theta_star
    elif memory_budget_mb is not None:
        budget_bytes = _check_positive("memory_budget_mb", memory_budget_mb) * MB
        full_memory = memory(tuple(base))
        if layerwise:  # Eq. 11 + Eq. 14: sum_i alpha_i theta_i = theta*, theta* = theta * M* / M
            target = theta * budget_bytes / full_memory
            t_paper = equations.solve_stage_constant(lambda a: sum(ai * th for ai, th in zip(a, theta_stage)), target, slopes)
        else:  # Eq. 7: alpha = theta* / theta with memory ~ alpha
            t_paper = math.log10(min(1.0, equations.uniform_multiplier_main_memory(budget_bytes, full_memory)))
        # the smallest network is counted only when the approximation does not fit (saves a count)
        if memory(widths_at(t_paper)) > budget_bytes and memory(smallest) > budget_bytes:
            raise ValueError(
                f"a main-memory budget of {memory_budget_mb} MB is below the smallest {arch} (all widths {narrowest}) for input "
                f"{tuple(input_shape)} x batch {batch} at {dtype_bytes} bytes/value: {memory(smallest) / MB:.6g} MB; "
                "raise the budget to at least that, or use a smaller input shape or batch."
            )
        if memory_model == "paper":
            t_eq, guess = t_paper, None
        else:  # exact: Eq. 11's structure (or one multiplier), the unknown solved against the true memory
            t_eq, guess = 0.0, t_paper
        t = _largest_feasible(widths_at, memory, budget_bytes, t_eq, guess)
        plan_widths = list(widths_at(t))
        if memory_model == "exact":
            t_eq = t
        constraint = {"kind": "memory", "value": float(memory_budget_mb), "unit": "MB", "memory_model": memory_model,
                      "input_shape": list(input_shape), "batch": batch, "dtype_bytes": dtype_bytes,
                      "full_network_bytes": full_memory}
        if memory_model == "paper":
            constraint["approximation"] = "Eq. 14 (per stage)" if layerwise else "Eq. 7 (uniform)"
        satisfied = memory(tuple(plan_widths)) <= budget_bytes
        if weights_of(tuple(plan_widths)) < min_weights:
            raise ValueError(
                f"a main-memory budget of {memory_budget_mb} MB needs a network of {weights_of(tuple(plan_widths))} weights, "
                f"smaller than the smallest whose accuracy was measured ({min_weights}); raise the budget or "
                "allow_extrapolation (an unmeasured size)."
            )
    else:
        floor = float(min_relative_accuracy)
        if not 0.0 < floor < 1.0:
            raise ValueError(
                f"min_relative_accuracy must be in (0, 1) (a fraction of the full network's accuracy, e.g. 0.95), got {floor!r}."
            )
        drop = 1.0 - floor
        constraint = {"kind": "accuracy", "value": floor, "drop": drop}
        if model.form == "linear" and confidence is None:
            if layerwise:  # Eq. 17
                equation_multipliers = equations.stage_multipliers_for_floor(drop, slopes)
            else:  # Eq. 16 with the binding (largest) slope, usually the input scale's
                equation_multipliers = [equations.uniform_multiplier_for_floor(drop, max(slopes))] * n
            t_eq = None
            plan_widths = [max(w, m) for w, m in zip(_round_up(base, equation_multipliers), smallest)]
            if network is not None:
                plan_widths = list(network.snap(plan_widths, up=True))
            # float noise may leave a stage a hair below the floor: give it one more channel
            while model.predict_relative_accuracy(plan_widths, base, complexity, **predict_counts) < floor:
                drops = [equations.stage_drop(s, w / b) for s, w, b in zip(slopes, plan_widths, base)]
                plan_widths[drops.index(max(drops))] += 1
                if network is not None:
                    plan_widths = list(network.snap(plan_widths, up=True))
            if not layerwise:
                constraint["log10_weights_eq16"] = equations.log10_weights_for_floor(math.log10(theta), drop, max(slopes))
        else:
            # no closed form (the saturating and measured forms, or a floor met with confidence): the
            # smallest network of the same one-parameter family (uniform alpha, or Eq. 11's K)
            # whose score meets the floor
            t_min = min(s * math.log10(1.0 / b) for s, b in zip(slopes, base)) if layerwise else math.log10(1.0 / max(base))
            t_eq = _smallest_meeting(widths_at, score, floor, t_min)
            if t_eq is None:
                raise ValueError(_floor_refusal(arch, floor, confidence, score(tuple(base))))
            plan_widths = list(widths_at(t_eq))
            if confidence is not None:
                constraint["confidence"] = float(confidence)
                # what one trained network reaches with that probability (the floor is met by it)
                constraint["lower_bound"] = float(score(tuple(plan_widths)))

    if t_eq is not None:
        equation_multipliers = multipliers_at(t_eq)
    plan_weights = weights_of(tuple(plan_widths))
    predicted = model.predict_relative_accuracy(plan_widths, base, complexity, **predict_counts)
    interval = model.predict_interval(plan_widths, base, complexity, interval_level, **predict_counts)
    if min_relative_accuracy is not None:
        satisfied = score(plan_widths) >= float(min_relative_accuracy)

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
        constraint=constraint, satisfied=bool(satisfied), layerwise=bool(layerwise), complexity=complexity,
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


def _floor_refusal(arch: str, floor: float, confidence: float | None, full_score: float) -> str:
    """Why no network meets a floor: with confidence, even the full network trained once misses
    it too often - its relative accuracy is 1 by definition, so what stops it is the seed noise."""
    if confidence is None:
        return f"no {arch} of these base widths meets a floor of {floor:g}: even the full network is predicted below it."
    return (f"no {arch} of these base widths meets a floor of {floor:g} with confidence {confidence:g}: the seed noise "
            f"stops it - one training of the full network itself reaches only {full_score:.3f} of its expected accuracy "
            f"with probability {confidence:g}; lower the floor or the confidence, or train several seeds and keep the best.")
