"""The ``ccnet_segmentation`` bundle's workflows: the shared training recipe (``recipe``), how it
runs here (``runtime``: device, threads, autocast) and its engines (``training``), a run's inputs
(``inputs``: data, complexity, network), torchrun ranks (``distributed``), the calibration sweep,
the compression pipeline, reports, plots and export. Bundle configs reach them with
dotted paths (``monai_ccnet.workflows.CompressWorkflow``).

Imported by ``python -m monai.bundle`` (the configs import it), it installs
:func:`monai_ccnet.errors.bundle_excepthook`: a :class:`~monai_ccnet.errors.ConfigError` (bad
input) ends the run with one line, ``monai_ccnet: error: <cause>``, not MONAI's chained tracebacks."""

from monai_ccnet.errors import ConfigError, install_bundle_excepthook

from .calibrate import DEFAULT_MULTIPLIERS, CalibrationSweep, run_key
from .compress import CompressWorkflow
from .distributed import RankBarrier, node_context, shard_context
from .export import export_network, measure_latency
from .inputs import (
    build_model,
    bundle_data,
    complexity_run,
    detect_in_channels,
    measure_complexity,
    model_widths,
    summarize_file_errors,
)
from .plots import plot_compression, plot_degradation
from .recipe import (
    DEFAULT_RECIPE,
    load_transforms,
    loss_function,
    make_recipe,
    post_transforms,
    segmentation_metrics,
    train_transforms,
    val_inferer,
)
from .markdown import calibration_markdown, compress_markdown, markdown_table
from .runtime import resolve_device
from .training import build_training, evaluate_network, save_metrics, split_validation, train_and_evaluate

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
