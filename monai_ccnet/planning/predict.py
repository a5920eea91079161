"""Accuracy prediction (docs/method.md §4) as functions of a degradation model given in any form.

The arithmetic is :class:`~monai_ccnet.planning.degradation.DegradationModel`'s; these functions
take what users pass for a model (the object, its dict, a preset name or a JSON path).
"""

from __future__ import annotations

from typing import Sequence

from .degradation import load_degradation

__all__ = ["stage_slopes", "predict_relative_accuracy", "predict_accuracy"]


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
