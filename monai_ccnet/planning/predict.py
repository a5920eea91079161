"""Accuracy prediction (docs/method.md §4) as functions of a degradation model given in any form.

The arithmetic is :class:`~monai_ccnet.planning.degradation.DegradationModel`'s; these functions
take what users pass for a model (the object, its dict, a preset name or a JSON path), and
:func:`complexity_from_report` the complexities a model needs, from a complexity report (read by
:mod:`monai_ccnet.complexity.report`).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..complexity.equations import JB_KEY
from ..complexity.report import VARIANT_SETTINGS, read_complexity_report, report_measure_means
from .degradation import load_degradation

__all__ = ["stage_slopes", "predict_relative_accuracy", "predict_accuracy", "complexity_from_report"]


def stage_slopes(complexity: Sequence[float], degradation, n_stages: int | None = None) -> list[float]:
    """Eq. 3 per stage: s_i = lambda * C_i + delta, validated (:meth:`DegradationModel.stage_slopes`)."""
    return load_degradation(degradation).stage_slopes(complexity, n_stages)


def predict_relative_accuracy(
    widths: Sequence[int], base_widths: Sequence[int], complexity: Sequence[float], degradation, **counts
) -> float:
    """Predicted A(widths) / A(base_widths) (:meth:`DegradationModel.predict_relative_accuracy`;
    ``counts``: ``spatial_dims``, ``in_channels``, ``out_channels`` for the saturating form)."""
    return load_degradation(degradation).predict_relative_accuracy(widths, base_widths, complexity, **counts)


def predict_accuracy(
    widths: Sequence[int], base_widths: Sequence[int], complexity: Sequence[float], degradation, full_accuracy: float
) -> float:
    """Absolute predicted accuracy: the full network's accuracy times :func:`predict_relative_accuracy`."""
    return full_accuracy * predict_relative_accuracy(widths, base_widths, complexity, degradation)


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
    values = report_measure_means(report, source, model.measure, model.variant.get("w"),
                                  f"; the degradation model uses {model.measure!r}")
    if n_stages is not None:
        if len(values) < n_stages:
            raise ValueError(
                f"{source}: the report has {len(values)} scale(s) but the network has {n_stages} stages; "
                f"re-measure with scales={n_stages}."
            )
        values = values[:n_stages]
    return values
