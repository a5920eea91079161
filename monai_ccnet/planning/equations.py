"""The paper's planning equations (docs/method.md §3 and §4), each next to its number.

Pure Python (``math`` only): every function here is the literal equation on real numbers.
Integer widths, exact weight counts and budgets are the planner's job (``planner.py``); this
module is what a reader compares with the paper. The complexity side (the JB rule, §2.2 and §5.1,
and the measure names) is in ``monai_ccnet/complexity/equations.py``.

Notation: ``theta`` is a weight count, ``C`` a complexity, ``s = lambda * C + delta`` the degree
of degradation (the slope of relative accuracy against log10(theta)), ``alpha`` a channel
multiplier and ``dA`` a drop in relative accuracy (1 - floor).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

__all__ = [
    "degradation_slope",
    "relative_accuracy",
    "stage_drop",
    "weights_for_disk_budget",
    "uniform_multiplier_disk",
    "uniform_multiplier_main_memory",
    "stage_multipliers_for_constant",
    "solve_stage_constant",
    "log10_weights_for_floor",
    "uniform_multiplier_for_floor",
    "stage_multipliers_for_floor",
]


def degradation_slope(lam: float, delta: float, complexity: float) -> float:
    """Eq. 3: dA / dlog10(theta) = lambda * C + delta (the degree of degradation)."""
    return lam * complexity + delta


def relative_accuracy(slope: float, log10_theta: float, log10_theta_star: float) -> float:
    """Eq. 3 integrated (§4.2): A(theta*) / A(theta) = 1 - s * (log10 theta - log10 theta*)."""
    return 1.0 - slope * (log10_theta - log10_theta_star)


def stage_drop(slope: float, alpha: float) -> float:
    """Predicted drop of one stage with multiplier ``alpha``: s_i * 2 * log10(1 / alpha_i).

    Eq. 5 (theta_i* / theta_i = alpha_i^2) put into Eq. 3; Eq. 11 and Eq. 17 make this drop equal
    across stages, and docs/method.md §4.3 predicts a width vector by its largest drop.
    """
    return slope * 2.0 * math.log10(1.0 / alpha)


def weights_for_disk_budget(budget_bytes: float, bits_per_weight: float) -> float:
    """§4.1: theta* = budget_bytes * 8 / bits_per_weight (1 MB at 64 bits = 125,000 weights)."""
    return budget_bytes * 8.0 / bits_per_weight


def uniform_multiplier_disk(theta_star: float, theta: float) -> float:
    """Eq. 6: alpha = sqrt(theta* / theta) (weights scale with alpha^2, Eq. 5)."""
    return math.sqrt(theta_star / theta)


def uniform_multiplier_main_memory(memory_star: float, memory: float) -> float:
    """Eq. 7 (the paper's approximation): alpha = theta* / theta, i.e. main memory scales like
    alpha because feature maps (~alpha) dominate the weights (~alpha^2)."""
    return memory_star / memory


def stage_multipliers_for_constant(constant: float, slopes: Sequence[float]) -> list[float]:
    """Eq. 11: s_i * log10(alpha_i) = K for every stage, so alpha_i = 10^(K / s_i) (K <= 0).

    Multipliers are capped at 1: the model describes shrinking a calibrated network, not widening it.
    """
    return [min(1.0, 10.0 ** (constant / s)) for s in slopes]


def solve_stage_constant(
    cost: Callable[[list[float]], float], budget: float, slopes: Sequence[float], tol: float = 1e-12
) -> float:
    """Eq. 11 + Eq. 13 (disk: cost = sum_i alpha_i^2 theta_i) or Eq. 14 (main memory:
    sum_i alpha_i theta_i): the largest K <= 0 with cost(alpha(K)) <= budget, by bisection.

    ``cost`` maps the multipliers of :func:`stage_multipliers_for_constant` to a cost that does not
    decrease with K (every alpha_i grows with K), so bisection is exact to ``tol``. Returns 0 when
    the full network (all alpha_i = 1) fits.
    """
    if cost(stage_multipliers_for_constant(0.0, slopes)) <= budget:
        return 0.0
    lo = -1.0
    while cost(stage_multipliers_for_constant(lo, slopes)) > budget:
        lo *= 2.0
        if lo < -1e6:  # alpha ~ 10^-(1e6 / s): nothing positive is that small; the budget is <= 0
            raise ValueError(f"no multipliers meet a budget of {budget!r}.")
    hi = 0.0
    while hi - lo > tol * max(1.0, abs(lo)):
        mid = 0.5 * (lo + hi)
        if cost(stage_multipliers_for_constant(mid, slopes)) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def log10_weights_for_floor(log10_theta: float, drop: float, slope: float) -> float:
    """Eq. 16: log10 theta - log10 theta* = dA / (lambda * C + delta)."""
    return log10_theta - drop / slope


def uniform_multiplier_for_floor(drop: float, slope: float) -> float:
    """Eq. 16 then Eq. 6: alpha = sqrt(theta* / theta) = 10^(-dA / (2 s))."""
    return 10.0 ** (-drop / (2.0 * slope))


def stage_multipliers_for_floor(drop: float, slopes: Sequence[float]) -> list[float]:
    """Eq. 17: log10 theta - log10 theta_i* = dA / s_i, alpha_i = 10^(-dA / (2 s_i))."""
    return [uniform_multiplier_for_floor(drop, s) for s in slopes]
