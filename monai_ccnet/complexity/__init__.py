"""Image complexity (docs/method.md §1): scale-wise JPEG complexity J_k, foreground density B, the
paper's candidate measures and label-structure measures; MONAI transforms, Auto3DSeg analyzers
and a dataset analyzer (``python -m monai_ccnet complexity``).

The vocabulary (``equations``: measure names, the JB rule), the report reader (``report``) and the
measures need numpy, Pillow and scipy only, so ``monai_ccnet.planning`` can use them without torch;
the analyzer and the transforms (MONAI, torch) are imported only when torch is installed.
"""

from .equations import jb_complexity
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
from .report import read_complexity_report, report_means

__all__ = [
    "MEASURES",
    "ComplexityInputError",
    "ComplexitySettings",
    "boundary_density",
    "components_per_megapixel",
    "edge_information",
    "foreground_density",
    "jb",
    "jb_complexity",
    "jpeg_complexity",
    "keypoint_density",
    "mean_thickness",
    "measure",
    "read_complexity_report",
    "report_means",
    "scalewise_jpeg_complexity",
    "signal_energy",
    "to_uint8",
]

try:  # as in monai_ccnet/__init__.py: planning reads reports and the JB rule without torch
    import torch as _torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a torch-free subprocess test
    _torch = None

if _torch is not None:
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
    from .transforms import *  # noqa: F401,F403  (the transforms' __all__)
    from .transforms import __all__ as _transforms_all

    __all__ += [
        "DEFAULT_MEASURES",
        "ComplexityError",
        "ComplexityReport",
        "ComplexityStats",
        "ComplexityStatsSumm",
        "analyze_dataset",
        "analyze_item",
        "check_item",
        "check_items",
        "summarize",
        *_transforms_all,
    ]
