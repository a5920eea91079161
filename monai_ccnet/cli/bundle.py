"""``python -m monai_ccnet bundle``: print where the ``ccnet_segmentation`` bundle is installed, or copy it out.

The bundle's files and where they are: :mod:`monai_ccnet.bundled`. Pure standard library.
"""

from __future__ import annotations

import argparse
import sys

from ..bundled import BUNDLE_NAME, bundle_path, write_bundle


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
