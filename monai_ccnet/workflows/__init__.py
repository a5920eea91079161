"""The ``ccnet_segmentation`` bundle's workflows: the shared training recipe, the calibration
sweep, the compression pipeline, reports, plots and export. Bundle configs reach them with
dotted paths (``monai_ccnet.workflows.CompressWorkflow``)."""

from .calibrate import DEFAULT_MULTIPLIERS, CalibrationSweep, run_key
from .common import (
    FileBarrier,
    build_model,
    bundle_data,
    complexity_run,
    shard_context,
    measure_complexity,
    model_widths,
    save_metrics,
)
from .compress import CompressWorkflow
from .export import export_network, measure_latency
from .plots import plot_degradation
from .recipe import (
    DEFAULT_RECIPE,
    build_training,
    detect_in_channels,
    evaluate_network,
    load_transforms,
    loss_function,
    make_recipe,
    post_transforms,
    resolve_device,
    segmentation_metrics,
    split_validation,
    train_and_evaluate,
    train_transforms,
    val_inferer,
)
from .reports import calibration_markdown, compress_markdown, markdown_table

__all__ = [
    "DEFAULT_MULTIPLIERS",
    "CalibrationSweep",
    "run_key",
    "FileBarrier",
    "build_model",
    "bundle_data",
    "complexity_run",
    "shard_context",
    "measure_complexity",
    "model_widths",
    "save_metrics",
    "CompressWorkflow",
    "export_network",
    "measure_latency",
    "plot_degradation",
    "DEFAULT_RECIPE",
    "build_training",
    "detect_in_channels",
    "evaluate_network",
    "load_transforms",
    "loss_function",
    "make_recipe",
    "post_transforms",
    "resolve_device",
    "segmentation_metrics",
    "split_validation",
    "train_and_evaluate",
    "train_transforms",
    "val_inferer",
    "calibration_markdown",
    "compress_markdown",
    "markdown_table",
]
