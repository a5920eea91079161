"""The one monotone search every constraint plans with (docs/method.md §4).

A plan walks one path of width vectors, ``widths_at(t)``, that grows with a single unknown ``t``
(log10 of the uniform multiplier, Eq. 11's constant K, or a disk budget in MB) and looks for the
end of the stretch where a constraint holds: the largest ``t`` that fits a budget, or the smallest
that meets an accuracy floor. The equations give ``t`` on real numbers; integer widths then need a
search, because rounding moves the exact count (or the score) across the limit.

:func:`boundary` is that search, for any constraint: it keeps a feasible and an infeasible end and
stops once no width vector lies strictly between them (they differ by one channel in one stage),
so the answer is the extreme feasible vector on the path whatever the steps were. Steps are false
position (Illinois variant) on the constraint's excess, which is close to linear in ``t`` for
counts that grow like a power of the widths, so a memory count (~0.2 ms) or an export (seconds) is
needed a few times only; bisection where the excess is not finite (e.g. below the smallest network
that was measured). torch-free.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable, Sequence

__all__ = ["boundary", "widths_apart"]


def widths_apart(a: Sequence[int], b: Sequence[int]) -> int:
    """Channels between two width vectors of the same path (the sum of per-stage differences)."""
    return sum(abs(int(x) - int(y)) for x, y in zip(a, b))


def boundary(
    widths_at: Callable[[float], Hashable],
    excess: Callable[[float], float],
    feasible: float,
    infeasible: float,
    *,
    tol: float = 1e-12,
    bisect_every: int = 0,
) -> float:
    """The ``t`` at the feasible end of the constraint's boundary on the path ``widths_at``.

    Args:
        widths_at: ``t -> widths`` (a sequence of ints), monotone along ``t``.
        excess: ``t -> how far the constraint is missed``: ``<= 0`` where it holds, increasing
            from ``feasible`` towards ``infeasible`` (e.g. log(cost / budget), or floor - score);
            ``inf`` where it cannot hold. Callers cache what it counts: many ``t`` round alike.
        feasible, infeasible: two values of ``t`` where it holds and where it does not (either
            order: below for a budget, above for a floor).
        tol: stop when the ends are this close relative to ``t`` (a path that barely moves).
        bisect_every: with ``n > 0``, every n-th step bisects (a safeguard when ``excess`` is far
            from linear in ``t``).

    Returns:
        The end of the final bracket where the constraint holds; its widths are the extreme
        feasible vector on the path (the largest under a budget, the smallest meeting a floor).
    """
    lo, hi = float(feasible), float(infeasible)
    f_lo, f_hi = excess(lo), excess(hi)
    if f_lo > 0:
        raise ValueError(f"boundary: the constraint does not hold at t={lo!r} (excess {f_lo!r}).")
    if f_hi <= 0:
        raise ValueError(f"boundary: the constraint holds at t={hi!r}; no boundary lies between.")
    side, step = 0, 0  # which end moved last (Illinois: no end gets stuck)
    while abs(hi - lo) > tol * max(1.0, abs(lo)) and widths_apart(widths_at(hi), widths_at(lo)) > 1:
        step += 1
        if math.isfinite(f_lo) and math.isfinite(f_hi) and f_hi != f_lo and not (bisect_every and step % bisect_every == 0):
            t = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            t = min(max(t, min(lo, hi) + 1e-6 * abs(hi - lo)), max(lo, hi) - 1e-6 * abs(hi - lo))
        else:
            t = 0.5 * (lo + hi)
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
