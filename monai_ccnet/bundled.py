"""The ``ccnet_segmentation`` MONAI bundle that ships with the package (``python -m monai_ccnet bundle``:
``monai_ccnet/cli/bundle.py``).

An installed package carries the bundle as package data (``monai_ccnet/bundle/``: ``configs/``,
``docs/``, ``LICENSE``); a repository checkout (also an editable install) uses
``bundles/ccnet_segmentation/``, the same files. Run a bundle workflow from either::

    B=$(python -m monai_ccnet bundle --path)
    python -m monai.bundle run compress --config_file "['$B/configs/common.yaml','$B/configs/compress.yaml']" --bundle_root runs/demo

``python -m monai_ccnet bundle --write DIR`` copies the bundle to ``DIR`` to edit its configs.
Pure standard library.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["BUNDLE_NAME", "BUNDLE_PARTS", "bundle_path", "write_bundle"]

BUNDLE_NAME = "ccnet_segmentation"
#: what a bundle folder holds (outputs of runs under a checkout's bundle folder are not part of it)
BUNDLE_PARTS = ("configs", "docs", "LICENSE")
_PACKAGE = Path(__file__).resolve().parent


def bundle_path() -> Path:
    """The bundle's folder (holding ``configs/common.yaml``): the installed package data, or the checkout's.

    Raises:
        FileNotFoundError: neither exists (a broken installation).
    """
    for candidate in (_PACKAGE / "bundle", _PACKAGE.parent / "bundles" / BUNDLE_NAME):
        if (candidate / "configs" / "common.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"the {BUNDLE_NAME} bundle is missing from this installation ({_PACKAGE / 'bundle'}); reinstall monai_ccnet."
    )


def write_bundle(destination: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy the bundle (``configs/``, ``docs/``, ``LICENSE``) into ``destination``; returns it.

    Raises:
        FileExistsError: a file the copy would write exists already (and not ``overwrite``).
    """
    source, destination = bundle_path(), Path(destination).expanduser()
    if not overwrite:
        clashes = [str(destination / part) for part in BUNDLE_PARTS if (destination / part).exists()]
        if clashes:
            raise FileExistsError(f"{', '.join(clashes)} exist(s) already; choose an empty folder or pass --force.")
    destination.mkdir(parents=True, exist_ok=True)
    for part in BUNDLE_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, destination / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (source / part).is_file():
            shutil.copy2(source / part, destination / part)
    return destination

