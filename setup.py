"""Package metadata and dependencies live in setup.cfg; this file only says which packages ship.

The repository keeps the MONAI bundle in the model-zoo layout at ``bundles/ccnet_segmentation/``;
it is installed as the package data folder ``monai_ccnet/bundle/`` (one copy, nothing to keep in
sync), so ``pip install monai_ccnet`` can run every bundle run. ``python -m monai_ccnet bundle``
prints where it is (or writes a copy to edit).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["monai_ccnet", "monai_ccnet.*"]) + ["monai_ccnet.bundle"],
    package_dir={"monai_ccnet.bundle": "bundles/ccnet_segmentation"},
    package_data={"monai_ccnet": ["presets/*.json"], "monai_ccnet.bundle": ["LICENSE", "configs/*", "docs/*"]},
)
