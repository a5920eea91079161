"""Degradation models and the compression planner (docs/method.md §3 and §4).

numpy + stdlib only: ``import monai_ccnet.planning`` works without torch or MONAI, and a plan
takes well under 10 ms. One job per module, imported in this order (each uses only those above):

- ``equations``: the paper's equations, JB included;
- ``plan``: :class:`CompressionPlan`, what the planner returns and the networks are built from;
- ``degradation``: fit, load and apply (lambda, delta) (:class:`DegradationModel`);
- ``predict``: accuracy predictions for a model given in any form (object, dict, preset, path);
- ``report``: reading the complexity analyzer's reports;
- ``planner``: :func:`plan_compression`, widths for a constraint;
- ``pareto``: predicted accuracy against size over a grid of widths, and its plot.
"""

from . import equations
from .degradation import (
    SCHEMA_VERSION,
    DegradationModel,
    fit_degradation,
    list_presets,
    load_degradation,
    prediction_caveat,
    rank_measures,
)
from .pareto import PARETO_MULTIPLIERS, pareto_table, plot_pareto
from .plan import CompressionPlan
from .planner import plan_compression
from .predict import predict_accuracy, predict_relative_accuracy, stage_slopes
from .report import complexity_from_report

__all__ = [
    "equations",
    "SCHEMA_VERSION",
    "DegradationModel",
    "fit_degradation",
    "list_presets",
    "load_degradation",
    "prediction_caveat",
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
