"""The complexity vocabulary: measure names and the JB rule (docs/method.md §1), next to the paper's numbers.

Pure Python: the one place the JB rule (§2.2, §5.1) and the names of the measures it combines are
defined; the complexity reports (:mod:`.report`), the calibration (``planning.degradation``) and the
workflows use them from here. J itself (Eq. 1, Eq. 2) and B are measured on images in
:mod:`.measures`, whose docstring states them; the planning equations (Eq. 3-17) are in
``monai_ccnet/planning/equations.py``.
"""

from __future__ import annotations

__all__ = ["JPEG_KEY", "FOREGROUND_KEY", "JB_KEY", "component_measures", "jb_complexity"]

#: the measure names (complexity report and calibration record keys) of J (Eq. 1, 2), B and JB
JPEG_KEY, FOREGROUND_KEY, JB_KEY = "jpeg", "foreground", "jb"


def component_measures(measure: str) -> tuple[str, ...]:
    """The measured complexities that ``measure`` is computed from: JB's J and B, else itself."""
    return (JPEG_KEY, FOREGROUND_KEY) if measure == JB_KEY else (measure,)


def jb_complexity(jpeg, foreground, w: float):
    """§2.2 and §5.1: JB = w * J + (1 - w) * B, J the JPEG complexity, B the foreground density.

    The one implementation of the rule: numbers or numpy arrays of equal shape (per image or per
    scale) alike. ``w`` in [0, 1] is chosen by the best R^2 during calibration.
    """
    if not 0.0 <= float(w) <= 1.0:
        raise ValueError(f"the JB weight w must be in [0, 1], got {w!r}.")
    return w * jpeg + (1.0 - w) * foreground
