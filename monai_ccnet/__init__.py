"""monai_ccnet: image-complexity guided network compression for MONAI (CC-Net).

Importing the package registers its components with MONAI's config resolver (it scans loaded
modules whose name starts with ``monai``), so bundle configs can say ``_target_: ScalableUNet``
once ``$import monai_ccnet`` ran. Shipped configs use dotted paths all the same.

The planning and accounting code is pure Python + numpy: ``monai_ccnet.planning`` works in an
environment without torch; the torch-based parts (networks, transforms, workflows) are imported
only when torch is installed.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import accounting, data, errors  # noqa: F401  (pure Python)
from .bundled import bundle_path  # noqa: F401
from .errors import ConfigError  # noqa: F401

try:  # torch is a hard dependency of the full package, but planning must run without it
    import torch as _torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a torch-free subprocess test
    _torch = None

if _torch is not None:
    # networks and transforms: imported so that MONAI's resolver finds `_target_: ScalableUNet`
    from . import complexity, nets  # noqa: F401
