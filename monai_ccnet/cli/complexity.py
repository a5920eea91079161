"""``python -m monai_ccnet complexity``: measure a dataset, print a table, write the JSON report."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from ..complexity.analyzer import DEFAULT_MEASURES, ComplexityError, analyze_dataset
from ..complexity.measures import COLOURS, MEASURES, REFERENCES
from ..data import resolve_data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("data (exactly one of --images, --dataset, --datalist)")
    source.add_argument("--images", help="folder of images (paired by file stem with --labels)")
    source.add_argument("--labels", help="folder of binary label masks (0 = background)")
    source.add_argument("--dataset", help="folder in the common layout: images/, labels/, split.json")
    source.add_argument("--datalist", help='MONAI datalist JSON ({"training": [{"image": ..., "label": ...}]})')
    source.add_argument("--split", default="train", help="split.json key / datalist key ('train' -> 'training'); default train")
    parser.add_argument("--scales", type=int, default=5, help="number of scales K (k = 0..K-1); default 5")
    parser.add_argument(
        "--measures",
        default=",".join(DEFAULT_MEASURES),
        help=f"comma-separated, or 'all': {', '.join(MEASURES)}; default {','.join(DEFAULT_MEASURES)}",
    )
    parser.add_argument("--quality", type=int, default=25, help="JPEG quality; default 25 (the paper)")
    parser.add_argument("--reference", choices=REFERENCES, default="raw", help="J denominator: raw H*W*C bytes or stored file bytes")
    parser.add_argument("--colour", choices=COLOURS, default="keep", help="encode colour images as RGB (keep) or their luma")
    parser.add_argument("--intensity", default="minmax", help="8-bit rule for non-uint8 images: minmax | percentile[:LO,HI] | window:LO,HI")
    parser.add_argument("--image-size", type=int, default=None,
                        help="resize each image (longest side, aspect kept) before measuring, like the recipe's "
                             "image_size: the complexity of what the network sees; default: native size")
    parser.add_argument("--slice-axis", type=int, default=-1, help="spatial axis along which 3-D volumes are sliced; default -1 (last)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = this process); default 0")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad file instead of listing every one")
    parser.add_argument("--output", default="complexity.json", help="JSON report path; default complexity.json")
    parser.add_argument("--plot", action="store_true", help="also save a PNG of the measures per scale beside the JSON (needs matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _check_writable(path: str) -> None:
    """Fail before the analysis, not after it, when the report cannot be written."""
    if os.path.isdir(path):
        raise OSError(f"--output {path} is a folder; give a file name such as {os.path.join(path, 'complexity.json')}.")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise OSError(f"--output {path}: cannot write in {folder} ({err.strerror or err}).") from None


def run(args: argparse.Namespace) -> int:
    measures = list(MEASURES) if args.measures.strip() == "all" else [m.strip() for m in args.measures.split(",") if m.strip()]
    try:
        given = [flag for flag, value in (("--images", args.images), ("--dataset", args.dataset), ("--datalist", args.datalist)) if value]
        if len(given) != 1:  # the flags' names, not resolve_data's argument names
            raise ValueError(f"give exactly one of --images, --dataset, --datalist (got {' and '.join(given) or 'none'}).")
        _check_writable(args.output)
        items = resolve_data(dataset_dir=args.dataset, datalist=args.datalist, images=args.images, labels=args.labels, split=args.split)
        report = analyze_dataset(
            items,
            scales=args.scales,
            measures=tuple(measures),
            workers=args.workers,
            strict=args.strict,
            progress=not args.no_progress,
            quality=args.quality,
            reference=args.reference,
            colour=args.colour,
            intensity=args.intensity,
            slice_axis=args.slice_axis,
            image_size=args.image_size,
        )
    except (ValueError, OSError, ComplexityError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for error in report.errors:
        print(f"error: {error['error']}", file=sys.stderr)
    print(report.table())
    try:
        print(f"report: {report.save(args.output)}")
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.plot:
        try:
            print(f"plot: {report.plot(os.path.splitext(args.output)[0] + '.png')}")
        except ImportError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 1 if report.errors else 0
