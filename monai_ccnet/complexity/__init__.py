"""Image complexity (docs/method.md §1): scale-wise JPEG complexity J_k, foreground density B, the
paper's candidate measures and label-structure measures; MONAI transforms, Auto3DSeg analyzers
and a dataset analyzer (``python -m monai_ccnet complexity``)."""

from .analyzer import (
    DEFAULT_MEASURES,
    ComplexityError,
    ComplexityReport,
    ComplexityStats,
    ComplexityStatsSumm,
    analyze_dataset,
    analyze_item,
    check_item,
    check_items,
    summarize,
)
from .measures import (
    MEASURES,
    ComplexityInputError,
    ComplexitySettings,
    boundary_density,
    components_per_megapixel,
    edge_information,
    foreground_density,
    jb,
    jpeg_complexity,
    keypoint_density,
    mean_thickness,
    measure,
    scalewise_jpeg_complexity,
    signal_energy,
    to_uint8,
)
from .transforms import *  # noqa: F401,F403  (the transforms' __all__)
from .transforms import __all__ as _transforms_all

__all__ = [
    "DEFAULT_MEASURES",
    "MEASURES",
    "ComplexityError",
    "ComplexityInputError",
    "ComplexityReport",
    "ComplexitySettings",
    "ComplexityStats",
    "ComplexityStatsSumm",
    "analyze_dataset",
    "analyze_item",
    "boundary_density",
    "check_item",
    "check_items",
    "components_per_megapixel",
    "edge_information",
    "foreground_density",
    "jb",
    "jpeg_complexity",
    "keypoint_density",
    "mean_thickness",
    "measure",
    "scalewise_jpeg_complexity",
    "signal_energy",
    "summarize",
    "to_uint8",
    *_transforms_all,
]
