"""Reading complexity reports, the JSON the analyzer writes (:class:`~.analyzer.ComplexityReport`).

The one reader of that contract, torch-free so that planning runs without torch:
``ComplexityReport.load``, ``complexity.jb`` and the planner (``planning.predict.complexity_from_report``)
all parse reports here::

    {"settings": {...}, "measures": {name: {"mean": [per-scale values], ...}, ...}, ...}
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..utils import read_json
from .equations import JB_KEY, component_measures, jb_complexity

__all__ = ["VARIANT_SETTINGS", "read_complexity_report", "report_means", "report_measure_means"]

#: measurement settings a report records that a degradation model's ``variant`` must match
VARIANT_SETTINGS = ("quality", "reference", "colour")


def read_complexity_report(report: Any) -> tuple[dict, str]:
    """A complexity report as a dict, and where it came from (for error messages).

    Args:
        report: a path to the report JSON, its dict, or an object with ``to_dict()``
            (``ComplexityReport``).

    Raises:
        ValueError: an unreadable file, or content without a ``measures`` object (``settings``,
            when missing, is taken as empty).
    """
    if isinstance(report, (str, os.PathLike)):
        source = str(report)
        report = read_json(report, "complexity report")
    elif hasattr(report, "to_dict"):
        source, report = type(report).__name__, report.to_dict()
    else:
        source = "<report>"
    if not isinstance(report, dict) or not isinstance(report.get("measures"), dict):
        raise ValueError(f"{source}: not a complexity report (no 'measures' object).")
    settings = report.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError(f"{source}: not a complexity report ('settings' is not an object).")
    return {**report, "settings": settings}, source


def report_means(report: Any, measure: str, w: float | None = None) -> list[float]:
    """Dataset complexity of ``measure`` per scale: ``measures[measure]["mean"]``; for ``"jb"``
    combined from ``jpeg`` and ``foreground`` with weight ``w`` (:func:`~.equations.jb_complexity`).

    Raises:
        ValueError: not a report, the measure (or one of JB's parts) is missing, or JB without ``w``.
    """
    return report_measure_means(*read_complexity_report(report), measure, w)


def report_measure_means(report: dict, source: str, measure: str, w: float | None, used_by: str = "") -> list[float]:
    """:func:`report_means` of a report already read (``read_complexity_report``'s pair);
    ``used_by`` ends the error message (who needs the measure)."""
    means = []
    for name in component_measures(measure):
        entry = report["measures"].get(name)
        if not isinstance(entry, dict) or "mean" not in entry:
            combined = f"; JB combines {list(component_measures(measure))}" if measure == JB_KEY else ""
            raise ValueError(f"{source} lacks the measure {name!r} (has {sorted(report['measures'])}){combined}{used_by}.")
        means.append([float(v) for v in entry["mean"]])
    if measure != JB_KEY:
        return means[0]
    if w is None:
        raise ValueError("JB needs its weight w (a degradation model's variant['w']).")
    j, b = means
    if len(j) != len(b):
        raise ValueError(f"{source}: jpeg has {len(j)} scale(s) and foreground {len(b)}; JB needs both per scale.")
    return [jb_complexity(jk, bk, w) for jk, bk in zip(j, b)]

