"""Degradation models and the compression planner (METHOD.md §3 and §4).

numpy + stdlib only: ``import monai_ccnet.planning`` works without torch or MONAI, and a plan
takes well under 10 ms. ``equations`` holds the paper's equations; ``degradation`` fits and loads
(lambda, delta); ``planner`` predicts accuracy and picks widths for a constraint.
"""

from . import equations
from .degradation import (
    SCHEMA_VERSION,
    DegradationModel,
    fit_degradation,
    list_presets,
    load_degradation,
    rank_measures,
)
from .planner import (
    PARETO_MULTIPLIERS,
    CompressionPlan,
    complexity_from_report,
    pareto_table,
    plot_pareto,
    plan_compression,
    predict_accuracy,
    predict_relative_accuracy,
    stage_slopes,
)

__all__ = [
    "equations",
    "SCHEMA_VERSION",
    "DegradationModel",
    "fit_degradation",
    "list_presets",
    "load_degradation",
    "rank_measures",
    "PARETO_MULTIPLIERS",
    "CompressionPlan",
    "complexity_from_report",
    "pareto_table",
    "plot_pareto",
    "plan_compression",
    "predict_accuracy",
    "predict_relative_accuracy",
    "stage_slopes",
]
