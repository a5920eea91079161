"""The ``ccnet_segmentation`` MONAI bundle that ships with the package, and ``python -m monai_ccnet bundle``.

An installed package carries the bundle as package data (``monai_ccnet/bundle/``: ``configs/``,
``docs/``, ``LICENSE``); a repository checkout (also an editable install) uses
``bundles/ccnet_segmentation/``, the same files. Run a bundle workflow from either::

    B=$(python -m monai_ccnet bundle --path)
    python -m monai.bundle run compress --config_file "['$B/configs/common.yaml','$B/configs/compress.yaml']" --bundle_root runs/demo

``python -m monai_ccnet bundle --write DIR`` copies the bundle to ``DIR`` to edit its configs.
Pure standard library.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

__all__ = ["BUNDLE_NAME", "BUNDLE_PARTS", "bundle_path", "write_bundle", "add_arguments", "run"]

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--path", action="store_true", help="print the installed bundle's folder (the default)")
    what.add_argument("--write", metavar="DIR", help="copy the bundle (configs/, docs/, LICENSE) to DIR, to edit its configs")
    parser.add_argument("--force", action="store_true", help="with --write: overwrite existing files")


def run(args: argparse.Namespace) -> int:
    try:
        if args.write:
            folder = write_bundle(args.write, overwrite=args.force)
            print(f"wrote the {BUNDLE_NAME} bundle to {folder}")
            print(f"run it: python -m monai.bundle run compress --config_file \"['{folder}/configs/common.yaml',"
                  f"'{folder}/configs/compress.yaml']\" --bundle_root runs/demo")
        else:
            print(bundle_path())
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
