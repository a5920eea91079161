"""Degradation models and the compression planner (docs/method.md §3 and §4).

numpy, scipy + stdlib (and the torch-free part of ``monai_ccnet.complexity``: its vocabulary and
report reader): ``import monai_ccnet.planning`` works without torch or MONAI, and a plan takes
well under 10 ms. One job per module, imported in this order (each uses only those above):

- ``equations``: the paper's planning equations (the JB rule and the complexity reports are
  ``monai_ccnet.complexity``'s: ``complexity.equations``, ``complexity.report``);
- ``plan``: :class:`CompressionPlan`, what the planner returns and the networks are built from;
- ``degradation``: fit, load and apply (lambda, delta) (:class:`DegradationModel`);
- ``predict``: accuracy predictions for a model given in any form (object, dict, preset, path),
  and the per-stage complexity a model needs from a complexity report;
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
from .predict import complexity_from_report, predict_accuracy, predict_relative_accuracy, stage_slopes

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
