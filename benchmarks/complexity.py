"""Speed of the dataset complexity analyzer against a bare Pillow loop doing the same work.

The bare loop reads every image with Pillow and, per scale k, does exactly the encodes, decodes
and resizes of Eq. 2 (k = 0: encode; k > 0: BOX down, JPEG round trip, BILINEAR up, encode),
then divides by H*W*C. The analyzer (``analyze_dataset(measures=("jpeg",))``) does the same plus
its bookkeeping (file checks, settings, the process pool, summaries). Both run in this process
on the same images, best of ``--repeats`` each, interleaved; the target is analyzer (1 worker) /
bare loop <= 1.3. The scaling with workers is reported as well. The two must agree exactly.

    python benchmarks/complexity.py --data /work/shared/data --scales 5 --repeats 3 --workers 0 1 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from monai_ccnet.complexity import analyze_dataset
from monai_ccnet.data import load_dataset_dir


def bare_loop(paths: list[str], scales: int, quality: int = 25) -> np.ndarray:
    """J_0..J_{K-1} of every image with nothing but Pillow."""

    def encode(image: Image.Image) -> io.BytesIO:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return buffer

    out = np.empty((len(paths), scales))
    for i, path in enumerate(paths):
        image = Image.open(path)
        image.load()
        raw = image.width * image.height * len(image.getbands())
        out[i, 0] = encode(image).tell() / raw
        for k in range(1, scales):
            small = image.resize((max(1, image.width >> k), max(1, image.height >> k)), Image.Resampling.BOX)
            decoded = Image.open(encode(small))
            out[i, k] = encode(decoded.resize(image.size, Image.Resampling.BILINEAR)).tell() / raw
    return out


def dataset_items(data: Path) -> list[dict]:
    """Train split of one dataset folder, or of every dataset folder below ``data``."""
    if (data / "images").is_dir():
        return load_dataset_dir(data)
    return [item for sub in sorted(data.iterdir()) if (sub / "images").is_dir() for item in load_dataset_dir(sub)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--scales", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", help="also write the numbers as JSON here")
    args = parser.parse_args(argv)

    items = dataset_items(Path(args.data))
    paths = [item["image"] for item in items]
    megapixels = sum(Image.open(p).width * Image.open(p).height for p in paths) / 1e6
    print(f"{len(paths)} images ({megapixels:.1f} MP) from {args.data}, {args.scales} scales, cpu_count={os.cpu_count()}")

    timings: dict[str, list[float]] = {"bare": []} | {f"workers={w}": [] for w in args.workers}
    reference = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        reference = bare_loop(paths, args.scales)
        timings["bare"].append(time.perf_counter() - start)
        for w in args.workers:
            start = time.perf_counter()
            report = analyze_dataset(items, scales=args.scales, measures=("jpeg",), workers=w, progress=False)
            timings[f"workers={w}"].append(time.perf_counter() - start)
            measured = np.array([image["jpeg"] for image in report.images])
            if report.errors or not np.array_equal(measured, reference):
                print(f"analyzer and bare loop disagree (workers={w}, errors={report.errors[:3]})", file=sys.stderr)
                return 1
    best = {name: min(values) for name, values in timings.items()}
    print(f"{'run':<12} {'best s':>8} {'images/s':>9} {'/ bare':>7}")
    for name, seconds in best.items():
        print(f"{name:<12} {seconds:8.2f} {len(paths) / seconds:9.1f} {seconds / best['bare']:7.2f}")
    summary = {"images": len(paths), "scales": args.scales, "repeats": args.repeats, "best_seconds": best,
               "ratio_to_bare": {k: v / best["bare"] for k, v in best.items()}}
    if "workers=1" in best:
        ratio = best["workers=1"] / best["bare"]
        print(f"analyzer (1 worker) / bare loop = {ratio:.3f} (target <= 1.3): {'OK' if ratio <= 1.3 else 'FAIL'}")
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["ratio_to_bare"].get("workers=1", 0) <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
