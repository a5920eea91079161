"""The three constraints a plan meets (docs/method.md §4), each one object that plans, checks and
reports itself: :class:`DiskBudget` (Eq. 6; per stage Eq. 11 + 13), :class:`MemoryBudget` (Eq. 7;
per stage Eq. 11 + 14) and :class:`AccuracyFloor` (Eq. 16; per stage Eq. 17).

Each ``solve`` starts from the equations' real-valued answer and finds integer widths on the same
one-parameter path with the one search of :mod:`.search`; ``record`` is what the plan's
``constraint`` field holds; ``prediction_checks`` / ``measurement_checks`` are the rows a report
shows (planned against the limit, and what a trained, exported network measured against it).
:func:`constraint_from` turns the planner's keyword arguments into one of them. torch-free.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, ClassVar, Mapping, Sequence

from .. import accounting
from ..accounting import MB
from . import equations
from .search import boundary

__all__ = [
    "AccuracyFloor",
    "Constraint",
    "DiskBudget",
    "MEMORY_MODELS",
    "MemoryBudget",
    "PlanningPath",
    "Solution",
    "constraint_from",
    "limit_check",
]

MEMORY_MODELS = ("exact", "paper")


@dataclasses.dataclass(frozen=True)
class PlanningPath:
    """What every constraint plans against: the base network, its one-parameter family of width
    vectors and the counts and scores along it (built by :func:`~.planner.plan_compression`).

    ``t`` is the equations' single unknown: log10 of the uniform multiplier, or Eq. 11's constant K
    (``layerwise``); ``widths_at(t)`` rounds and snaps its multipliers, growing with ``t``.
    """

    arch: str
    base: tuple
    slopes: tuple
    theta_stage: tuple  # weights per stage of the base network (Eq. 5)
    layerwise: bool
    smallest: tuple  # the narrowest widths a plan may have
    narrowest: int  # their per-stage limit (MIN_STAGE_WIDTH, or 1 with extrapolation)
    min_weights: int  # no plan below this many weights (the smallest network, or the smallest measured)
    multipliers_at: Callable[[float], list]
    widths_at: Callable[[float], tuple]
    weights_of: Callable[[tuple], int]
    score: Callable[[Sequence[int]], float]  # what a floor is checked against (central or one-sided bound)
    predict: Callable[[Sequence[int]], float]  # the central predicted relative accuracy
    memory: Callable[[tuple], int] | None  # peak inference bytes (None without an input shape)
    snap_up: Callable[[Sequence[int]], list] | None  # a registry network's constraints, rounding up
    linear_closed_form: bool  # the linear form's Eq. 16 / 17 apply (no confidence)

    @property
    def theta(self) -> int:
        return sum(self.theta_stage)


@dataclasses.dataclass
class Solution:
    """A constraint's answer: integer widths, the equations' unknown (None: closed-form multipliers
    given directly) and what the plan records about the constraint."""

    widths: list
    t: float | None
    record: dict
    equation_multipliers: list | None = None


class Constraint:
    """One constraint: ``solve`` a path, ``satisfied`` by widths, the plan's ``record``, report rows."""

    kind: ClassVar[str]

    def solve(self, path: PlanningPath) -> Solution:  # pragma: no cover - abstract
        raise NotImplementedError

    def satisfied(self, path: PlanningPath, widths: Sequence[int]) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def budget(self, counts: str | None = None, metric: str = "f1") -> dict:  # pragma: no cover - abstract
        """What a report says the constraint is and counts (``counts``: how a workflow counts it)."""
        raise NotImplementedError

    def prediction_checks(self, plan) -> list[dict]:  # pragma: no cover - abstract
        """The plan against the limit, as a report's rows (:func:`limit_check`)."""
        raise NotImplementedError

    def measurement_checks(self, file_bytes: Mapping[str, int], counted: Callable[[str], bool],
                           relative_accuracy: float | None, metric: str) -> list[dict]:  # pragma: no cover
        """A trained, exported network against the limit: ``file_bytes`` (file name -> bytes),
        ``counted(name)`` whether the budget counts that file, the measured relative accuracy."""
        raise NotImplementedError

    def uncounted_file(self, name: str, size: int, note: str) -> dict:
        return {"what": f"file models/{name}", "value": size / MB, "limit": None, "unit": "MB", "met": None, "note": note}


def _largest_feasible(path: PlanningPath, cost: Callable[[tuple], float], budget: float, t_eq: float,
                      guess: float | None = None) -> float:
    """The largest t <= t_eq whose rounded widths cost at most ``budget``: rounding can push the
    exact count over it, so the unknown is lowered (first by doubling steps down from ``guess``, e.g.
    the paper's approximation, until a fitting end is found), then :func:`~.search.boundary`."""

    def excess(t: float) -> float:
        # log of cost / budget: costs grow roughly like a power of the multipliers, so this is close
        # to linear in t and false position lands near the answer in a few steps
        return math.log(cost(path.widths_at(t)) / budget)

    if excess(t_eq) <= 0:
        return t_eq
    lo = guess if guess is not None and guess < t_eq else t_eq - 1.0
    hi = t_eq
    while excess(lo) > 0:
        hi, lo = lo, t_eq - 2.0 * (t_eq - lo)
        if lo < -1e6:  # unreachable: the constraints check that the smallest network fits first
            raise ValueError("no integer widths fit the budget.")
    return boundary(path.widths_at, excess, lo, hi)


@dataclasses.dataclass
class DiskBudget(Constraint):
    """Best accuracy whose weights fit ``mb`` MB at ``bits_per_weight`` (Eq. 6; Eq. 11 + 13 per stage)."""

    mb: float
    bits_per_weight: float = 32.0
    kind: ClassVar[str] = "disk"

    def __post_init__(self):
        _check_positive("disk_budget_mb", self.mb)  # kept as given: messages quote it so

    @property
    def budget_weights(self) -> float:
        return equations.weights_for_disk_budget(float(self.mb) * MB, self.bits_per_weight)

    def solve(self, path: PlanningPath) -> Solution:
        theta_star = self.budget_weights
        if theta_star < path.min_weights:
            need = accounting.disk_bytes(path.min_weights, self.bits_per_weight) / MB
            what = (f"the smallest {path.arch} (all widths {path.narrowest})" if path.min_weights == path.weights_of(path.smallest)
                    else f"the smallest network whose accuracy was measured ({path.min_weights} weights)")
            extrapolate = path.narrowest == 1
            raise ValueError(
                f"a disk budget of {self.mb} MB at {self.bits_per_weight:g} bits/weight holds {theta_star:.0f} weights, "
                f"but {what} has {path.min_weights}; raise the budget to at least {need:.6g} MB, store fewer bits per weight"
                + ("" if extrapolate else ", or allow_extrapolation (narrower stages, unmeasured sizes)") + "."
            )
        if path.layerwise:  # Eq. 11 + Eq. 13: sum_i alpha_i^2 theta_i = theta*
            t_eq = equations.solve_stage_constant(
                lambda a: sum(ai * ai * th for ai, th in zip(a, path.theta_stage)), theta_star, path.slopes)
        else:  # Eq. 6
            t_eq = math.log10(min(1.0, equations.uniform_multiplier_disk(theta_star, path.theta)))
        t = _largest_feasible(path, path.weights_of, theta_star, t_eq)
        record = {"kind": "disk", "value": float(self.mb), "unit": "MB", "bits_per_weight": self.bits_per_weight,
                  "budget_weights": theta_star, "log10_budget_weights": math.log10(theta_star)}
        return Solution(list(path.widths_at(t)), t_eq, record)

    def satisfied(self, path: PlanningPath, widths: Sequence[int]) -> bool:
        return path.weights_of(tuple(widths)) <= self.budget_weights

    def budget(self, counts: str | None = None, metric: str = "f1") -> dict:
        counts = counts or (f"the weights only, at {self.bits_per_weight:g} bits per weight (biases, normalisation and "
                            "the file container are not counted)")
        return {"kind": "disk", "value_mb": float(self.mb), "counts": counts, "bits_per_weight": self.bits_per_weight}

    def prediction_checks(self, plan) -> list[dict]:
        return [limit_check(f"weights at {plan.bits_per_weight:g} bits/weight", plan.disk_bytes / MB, float(self.mb), "MB")]

    def measurement_checks(self, file_bytes, counted, relative_accuracy, metric) -> list[dict]:
        return [limit_check(f"file models/{name}", size / MB, float(self.mb), "MB") if counted(name) else
                self.uncounted_file(name, size, "float32 fallback, not counted")
                for name, size in file_bytes.items()]


@dataclasses.dataclass
class MemoryBudget(Constraint):
    """Best accuracy whose inference (weights + peak live feature maps for ``input_shape`` x
    ``batch`` at ``dtype_bytes``) fits ``mb`` MB: ``memory_model`` "exact" solves the exact count,
    "paper" starts from the paper's approximation (Eq. 7; Eq. 11 + 14 per stage) and fixes it up."""

    mb: float
    input_shape: Sequence[int] | None = None
    batch: int = 1
    dtype_bytes: int = 4
    memory_model: str = "exact"
    kind: ClassVar[str] = "memory"

    def __post_init__(self):
        if self.memory_model not in MEMORY_MODELS:
            raise ValueError(f"memory_model must be one of {MEMORY_MODELS}, got {self.memory_model!r}.")

    def solve(self, path: PlanningPath) -> Solution:
        if path.memory is None:
            raise ValueError("a memory budget needs input_shape (the feature maps depend on it), e.g. input_shape=(256, 256).")
        budget_mb = _check_positive("memory_budget_mb", self.mb)
        memory, budget_bytes = path.memory, budget_mb * MB
        full_memory = memory(tuple(path.base))
        if path.layerwise:  # Eq. 11 + Eq. 14: sum_i alpha_i theta_i = theta*, theta* = theta * M* / M
            target = path.theta * budget_bytes / full_memory
            t_paper = equations.solve_stage_constant(
                lambda a: sum(ai * th for ai, th in zip(a, path.theta_stage)), target, path.slopes)
        else:  # Eq. 7: alpha = theta* / theta with memory ~ alpha
            t_paper = math.log10(min(1.0, equations.uniform_multiplier_main_memory(budget_bytes, full_memory)))
        # the smallest network is counted only when the approximation does not fit (saves a count)
        if memory(path.widths_at(t_paper)) > budget_bytes and memory(path.smallest) > budget_bytes:
            raise ValueError(
                f"a main-memory budget of {self.mb} MB is below the smallest {path.arch} (all widths {path.narrowest}) for "
                f"input {tuple(self.input_shape)} x batch {self.batch} at {self.dtype_bytes} bytes/value: "
                f"{memory(path.smallest) / MB:.6g} MB; raise the budget to at least that, or use a smaller input shape or batch."
            )
        if self.memory_model == "paper":
            t_eq, guess = t_paper, None
        else:  # exact: Eq. 11's structure (or one multiplier), the unknown solved against the true memory
            t_eq, guess = 0.0, t_paper
        t = _largest_feasible(path, memory, budget_bytes, t_eq, guess)
        widths = list(path.widths_at(t))
        record = {"kind": "memory", "value": float(self.mb), "unit": "MB", "memory_model": self.memory_model,
                  "input_shape": list(self.input_shape), "batch": self.batch, "dtype_bytes": self.dtype_bytes,
                  "full_network_bytes": full_memory}
        if self.memory_model == "paper":
            record["approximation"] = "Eq. 14 (per stage)" if path.layerwise else "Eq. 7 (uniform)"
        if path.weights_of(tuple(widths)) < path.min_weights:
            raise ValueError(
                f"a main-memory budget of {self.mb} MB needs a network of {path.weights_of(tuple(widths))} weights, "
                f"smaller than the smallest whose accuracy was measured ({path.min_weights}); raise the budget or "
                "allow_extrapolation (an unmeasured size)."
            )
        return Solution(widths, t if self.memory_model == "exact" else t_eq, record)

    def satisfied(self, path: PlanningPath, widths: Sequence[int]) -> bool:
        return path.memory(tuple(widths)) <= float(self.mb) * MB

    def budget(self, counts: str | None = None, metric: str = "f1") -> dict:
        counts = counts or (f"weights + the peak live feature maps of one forward pass for input {list(self.input_shape)} x "
                            f"batch {self.batch} at {self.dtype_bytes} bytes per value ({self.memory_model} accounting)")
        return {"kind": "memory", "value_mb": float(self.mb), "counts": counts}

    def prediction_checks(self, plan) -> list[dict]:
        return [limit_check("main memory (accounting)", plan.memory_bytes / MB, float(self.mb), "MB")]

    def measurement_checks(self, file_bytes, counted, relative_accuracy, metric) -> list[dict]:
        return [{"what": "main memory", "value": None, "limit": float(self.mb), "unit": "MB", "met": None,
                 "note": "not measured by this run (the accounting is checked against torch in docs/networks.md)"}] + [
            self.uncounted_file(name, size, "size only (a memory budget)") for name, size in file_bytes.items()]


@dataclasses.dataclass
class AccuracyFloor(Constraint):
    """Least memory whose predicted relative accuracy is at least ``floor`` (Eq. 16; Eq. 17 per
    stage); with ``confidence``, the one network a user trains reaches it with that probability."""

    floor: float
    confidence: float | None = None
    kind: ClassVar[str] = "accuracy"

    def __post_init__(self):
        floor = float(self.floor)
        if not 0.0 < floor < 1.0:
            raise ValueError(
                f"min_relative_accuracy must be in (0, 1) (a fraction of the full network's accuracy, e.g. 0.95), got {self.floor!r}."
            )
        self.floor = floor

    def solve(self, path: PlanningPath) -> Solution:
        drop = 1.0 - self.floor
        record = {"kind": "accuracy", "value": self.floor, "drop": drop}
        if path.linear_closed_form:
            return self._solve_linear(path, drop, record)
        # no closed form (the saturating and measured forms, or a floor met with confidence): the
        # smallest network of the same one-parameter family (uniform alpha, or Eq. 11's K) whose
        # score meets the floor
        t_min = (min(s * math.log10(1.0 / b) for s, b in zip(path.slopes, path.base)) if path.layerwise
                 else math.log10(1.0 / max(path.base)))
        t = self._smallest_meeting(path, t_min)
        widths = list(path.widths_at(t))
        if self.confidence is not None:
            record["confidence"] = float(self.confidence)
            # what one trained network reaches with that probability (the floor is met by it)
            record["lower_bound"] = float(path.score(tuple(widths)))
        return Solution(widths, t, record)

    def _smallest_meeting(self, path: PlanningPath, t_min: float) -> float:
        def excess(t: float) -> float:
            return self.floor - path.score(path.widths_at(t))

        if excess(0.0) > 0:
            raise ValueError(self._refusal(path.arch, path.score(tuple(path.base))))
        if excess(t_min) <= 0:
            return t_min
        return boundary(path.widths_at, excess, 0.0, t_min)

    def _solve_linear(self, path: PlanningPath, drop: float, record: dict) -> Solution:
        n = len(path.base)
        if path.layerwise:  # Eq. 17
            multipliers = equations.stage_multipliers_for_floor(drop, path.slopes)
        else:  # Eq. 16 with the binding (largest) slope, usually the input scale's
            multipliers = [equations.uniform_multiplier_for_floor(drop, max(path.slopes))] * n
        widths = [max(w, m) for w, m in zip(_round_up(path.base, multipliers), path.smallest)]
        if path.snap_up is not None:
            widths = list(path.snap_up(widths))
        # float noise may leave a stage a hair below the floor: give it one more channel
        while path.predict(widths) < self.floor:
            drops = [equations.stage_drop(s, w / b) for s, w, b in zip(path.slopes, widths, path.base)]
            widths[drops.index(max(drops))] += 1
            if path.snap_up is not None:
                widths = list(path.snap_up(widths))
        if not path.layerwise:
            record["log10_weights_eq16"] = equations.log10_weights_for_floor(math.log10(path.theta), drop, max(path.slopes))
        return Solution(widths, None, record, equation_multipliers=list(multipliers))

    def satisfied(self, path: PlanningPath, widths: Sequence[int]) -> bool:
        return path.score(widths) >= self.floor

    def _refusal(self, arch: str, full_score: float) -> str:
        """Why no network meets the floor: with confidence, even the full network trained once misses
        it too often - its relative accuracy is 1 by definition, so what stops it is the seed noise."""
        if self.confidence is None:
            return f"no {arch} of these base widths meets a floor of {self.floor:g}: even the full network is predicted below it."
        return (f"no {arch} of these base widths meets a floor of {self.floor:g} with confidence {self.confidence:g}: the "
                f"seed noise stops it - one training of the full network itself reaches only {full_score:.3f} of its expected "
                f"accuracy with probability {self.confidence:g}; lower the floor or the confidence, or train several seeds "
                "and keep the best.")

    def budget(self, counts: str | None = None, metric: str = "f1") -> dict:
        counts = counts or f"test-split {metric} of the compressed network / the full network's"
        return {"kind": "accuracy", "value": self.floor, "counts": counts}

    def prediction_checks(self, plan) -> list[dict]:
        metric = plan.degradation.get("metric", "f1")
        return [limit_check(f"relative {metric}", plan.predicted_relative_accuracy, self.floor, "", at_least=True)]

    def measurement_checks(self, file_bytes, counted, relative_accuracy, metric) -> list[dict]:
        if relative_accuracy is None:
            return [{"what": f"relative {metric}", "value": None, "limit": self.floor, "compare": ">=", "unit": "",
                     "met": None, "note": "the full network's accuracy is unknown"}]
        return [limit_check(f"relative {metric}", relative_accuracy, self.floor, "", at_least=True)]


def constraint_from(
    *,
    disk_budget_mb: float | None = None,
    bits_per_weight: float = 32,
    memory_budget_mb: float | None = None,
    input_shape: Sequence[int] | None = None,
    batch: int = 1,
    dtype_bytes: int = 4,
    memory_model: str = "exact",
    min_relative_accuracy: float | None = None,
    confidence: float | None = None,
) -> Constraint:
    """The one constraint the planner's keyword arguments give (exactly one of ``disk_budget_mb``,
    ``memory_budget_mb``, ``min_relative_accuracy``), validated."""
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
    if confidence is not None:
        if min_relative_accuracy is None:
            raise ValueError("confidence applies to an accuracy floor (min_relative_accuracy); budget plans "
                             "report their interval at interval_level.")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), e.g. 0.9, got {confidence!r}.")
    if disk_budget_mb is not None:
        return DiskBudget(disk_budget_mb, bits_per_weight)
    if memory_budget_mb is not None:
        return MemoryBudget(memory_budget_mb, input_shape, batch, dtype_bytes, memory_model)
    return AccuracyFloor(min_relative_accuracy, None if confidence is None else float(confidence))


def limit_check(what: str, value: float, limit: float, unit: str, at_least: bool = False) -> dict:
    """One report row: ``value`` against ``limit`` (at most, or ``at_least``), met, and by how much not."""
    met = value >= limit if at_least else value <= limit
    out = {"what": what, "value": value, "limit": limit, "compare": ">=" if at_least else "<=", "unit": unit, "met": bool(met)}
    if not met and not at_least:
        out["over"] = value - limit
    elif not met:
        out["short"] = limit - value
    return out


def _round_up(base: Sequence[int], multipliers: Sequence[float]) -> list[int]:
    # the 1e-9 keeps 30.000000000004 (float noise on an exact 30) from becoming 31
    return [min(b, max(1, math.ceil(b * m - 1e-9))) for b, m in zip(base, multipliers)]


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)
