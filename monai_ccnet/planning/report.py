"""Reading complexity reports, the JSON the analyzer writes (``monai_ccnet.complexity``).

The one reader of that contract, torch-free so that planning runs without torch:
``ComplexityReport.load``, ``complexity.jb`` and the planner all parse reports here::

    {"settings": {...}, "measures": {name: {"mean": [per-scale values], ...}, ...}, ...}
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..utils import read_json
from . import equations
from .degradation import JB_KEY, component_measures, load_degradation

__all__ = ["read_complexity_report", "report_means", "complexity_from_report"]

#: settings a degradation model records in its ``variant`` that the report must match
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
    combined from ``jpeg`` and ``foreground`` with weight ``w`` (:func:`equations.jb_complexity`).

    Raises:
        ValueError: not a report, the measure (or one of JB's parts) is missing, or JB without ``w``.
    """
    return _means(*read_complexity_report(report), measure, w)


def _means(report: dict, source: str, measure: str, w: float | None, used_by: str = "") -> list[float]:
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
    return [equations.jb_complexity(jk, bk, w) for jk, bk in zip(j, b)]


def complexity_from_report(report: Any, degradation, n_stages: int | None = None) -> list[float]:
    """Per-stage dataset complexity for ``degradation``'s measure from a complexity report.

    ``report`` is the JSON written by ``python -m monai_ccnet complexity`` (a path, its dict or a
    ``ComplexityReport``): ``measures[name]["mean"][k]`` is the dataset complexity at scale k. JB is
    combined from ``jpeg`` and ``foreground`` with the model's ``variant["w"]``. The report's
    settings must match the variant the model was calibrated with (quality, reference, colour),
    where the model records one. Extra scales beyond ``n_stages`` are ignored.

    Raises:
        ValueError: not a report, settings that differ from the model's variant, a missing measure,
            an unknown JB weight, or fewer scales than ``n_stages``.
    """
    model = load_degradation(degradation)
    report, source = read_complexity_report(report)
    settings = report["settings"]
    for key in VARIANT_SETTINGS:
        want = model.variant.get(key)
        if want is not None and key in settings and settings[key] != want:
            raise ValueError(
                f"{source}: complexity was measured with {key}={settings[key]!r} but the degradation model was "
                f"calibrated with {key}={want!r}; re-measure with that setting or use a matching model."
            )
    if model.measure == JB_KEY and model.variant.get("w") is None:
        raise ValueError("the degradation model's JB weight w is unknown; pass the JB complexities directly.")
    values = _means(report, source, model.measure, model.variant.get("w"), f"; the degradation model uses {model.measure!r}")
    if n_stages is not None:
        if len(values) < n_stages:
            raise ValueError(
                f"{source}: the report has {len(values)} scale(s) but the network has {n_stages} stages; "
                f"re-measure with scales={n_stages}."
            )
        values = values[:n_stages]
    return values
