"""The ``ccnet_segmentation`` bundle's workflows: the shared training recipe, the calibration
sweep, the compression pipeline, reports, plots and export. Bundle configs reach them with
dotted paths (``monai_ccnet.workflows.CompressWorkflow``).

Imported by ``python -m monai.bundle`` (the configs import it), it installs
:func:`monai_ccnet.errors.bundle_excepthook`: a :class:`~monai_ccnet.errors.ConfigError` (bad
input) ends the run with one line, ``monai_ccnet: error: <cause>``, not MONAI's chained tracebacks."""

from monai_ccnet.errors import ConfigError, install_bundle_excepthook

from .calibrate import DEFAULT_MULTIPLIERS, CalibrationSweep, run_key
from .common import (
    RankBarrier,
    node_context,
    build_model,
    bundle_data,
    complexity_run,
    shard_context,
    measure_complexity,
    model_widths,
    save_metrics,
    summarize_file_errors,
)
from .compress import CompressWorkflow
from .export import export_network, measure_latency
from .plots import plot_compression, plot_degradation
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
    "RankBarrier",
    "node_context",
    "build_model",
    "bundle_data",
    "complexity_run",
    "shard_context",
    "measure_complexity",
    "model_widths",
    "save_metrics",
    "summarize_file_errors",
    "CompressWorkflow",
    "export_network",
    "measure_latency",
    "plot_compression",
    "plot_degradation",
    "ConfigError",
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

install_bundle_excepthook()  # only acts in `python -m monai.bundle` processes
