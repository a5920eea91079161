"""Built-in synthetic segmentation datasets of clearly different image complexity.

They let every bundle run work out of the box (no download): ``calibrate`` needs several datasets
whose JPEG complexity differs, ``compress`` needs a target. Each dataset is generated in code,
deterministically from a seed, and written in the common layout (``images/``, ``labels/`` with 0/1
masks, ``split.json``), so exactly the same ``LoadImaged`` pipeline reads synthetic and real data:
8-bit PNGs in 2-D, and with ``spatial_dims=3`` 8-bit NIfTI volumes (``.nii.gz``, ``size`` voxels
a side, in ``<root>/<kind>-3d``) for 3-D networks.

Synthetic calibration is a demonstration of the workflow, not a calibration: the fitted
(lambda, delta) describe these toy images, not biomedical data.

Kinds (from simple to complex):

- ``"discs"``: a few large bright discs on a flat background, little noise
  (``monai.data.synthetic.create_test_image_2d``; in 3-D balls, ``create_test_image_3d``).
- ``"cells"``: many small discs (nuclei-like), moderate noise.
- ``"vessels"``: thin, curved, branching-free vessel-like lines on a textured background (3-D: tubes).
- ``"clutter"``: many small discs of random contrast on strong noise (the most complex).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation, gaussian_filter

from ..utils import atomic_write_json

__all__ = ["SYNTHETIC_KINDS", "synthetic_pair", "make_synthetic_dataset", "make_synthetic_datasets"]

#: kind -> generator settings; the order goes from low to high JPEG complexity.
SYNTHETIC_KINDS: dict[str, dict] = {
    "discs": {"generator": "discs", "num_objs": 3, "rad_min": 0.12, "rad_max": 0.25, "noise": 0.02},
    "cells": {"generator": "discs", "num_objs": 25, "rad_min": 0.03, "rad_max": 0.07, "noise": 0.15},
    "vessels": {"generator": "vessels", "num_curves": 6, "noise": 0.12},
    "clutter": {"generator": "discs", "num_objs": 80, "rad_min": 0.02, "rad_max": 0.05, "noise": 0.7},
}

_FORMAT_VERSION = 2  # bump when the generators change, so cached folders are regenerated


def _discs(size: int, rng: np.random.RandomState, num_objs: int, rad_min: float, rad_max: float, noise: float,
           spatial_dims: int = 2):
    if spatial_dims == 3:
        return _balls(size, rng, num_objs, rad_min, rad_max, noise)
    from monai.data.synthetic import create_test_image_2d  # monai imports torch: monai_ccnet.data stays torch-free

    rmin = max(1, int(round(rad_min * size)))
    rmax = max(rmin + 1, int(round(rad_max * size)))
    # radius must leave room for the disc centre inside the image
    rmax = min(rmax, size // 2 - 1)
    rmin = min(rmin, rmax - 1)
    image, seg = create_test_image_2d(
        size, size, num_objs=num_objs, rad_max=rmax, rad_min=rmin, noise_max=noise, num_seg_classes=4, random_state=rng
    )
    return image, (seg > 0).astype(np.uint8)


def _balls(size: int, rng: np.random.RandomState, num_objs: int, rad_min: float, rad_max: float, noise: float):
    """The 3-D discs: balls of the same relative radii (``create_test_image_3d``), at least two radii apart."""
    from monai.data.synthetic import create_test_image_3d  # as above: torch only when drawing

    rmax = min(max(int(round(rad_max * size)), 3), size // 2 - 1)  # randint(rmin, rmax) excludes rmax
    rmin = min(max(1, int(round(rad_min * size))), rmax - 1)
    image, seg = create_test_image_3d(
        size, size, size, num_objs=num_objs, rad_max=rmax, rad_min=rmin, noise_max=noise, num_seg_classes=4,
        random_state=rng,
    )
    return image, (seg > 0).astype(np.uint8)


def _vessels(size: int, rng: np.random.RandomState, num_curves: int, noise: float, spatial_dims: int = 2):
    """Smooth random curves 1-2 px thick (vessel-like) over a low-frequency textured background."""
    if spatial_dims == 3:
        return _tubes(size, rng, num_curves, noise)
    mask = np.zeros((size, size), dtype=bool)
    n_steps = 8 * size  # half-pixel steps: the rasterised curve has no gaps
    for _ in range(num_curves):
        # a random walk whose heading changes smoothly: a curve crossing the image
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.04, n_steps))
        y0, x0 = rng.uniform(0, size, 2)
        ys = np.round(y0 + 0.5 * np.cumsum(np.sin(heading))).astype(int)
        xs = np.round(x0 + 0.5 * np.cumsum(np.cos(heading))).astype(int)
        inside = (ys >= 0) & (ys < size) & (xs >= 0) & (xs < size)
        curve = np.zeros_like(mask)
        curve[ys[inside], xs[inside]] = True
        if rng.randint(2):  # about half the vessels are 2-3 px thick
            curve = binary_dilation(curve)
        mask |= curve
    background = gaussian_filter(rng.normal(0, 1, (size, size)), sigma=size / 16)
    background = 0.3 + 0.15 * background / (np.abs(background).max() + 1e-8)
    image = background + 0.5 * mask + rng.normal(0, noise, (size, size))
    return np.clip(image, 0, 1), mask.astype(np.uint8)


def _tubes(size: int, rng: np.random.RandomState, num_curves: int, noise: float):
    """The 3-D vessels: smooth random 3-D curves (half of them dilated) over a textured background."""
    mask = np.zeros((size,) * 3, dtype=bool)
    n_steps = 8 * size
    for _ in range(num_curves):
        # heading (azimuth, elevation) changing smoothly: a curve crossing the volume
        azimuth = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.04, n_steps))
        elevation = rng.uniform(-np.pi / 2, np.pi / 2) + np.cumsum(rng.normal(0, 0.04, n_steps))
        start = rng.uniform(0, size, 3)
        steps = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        points = np.round(start[:, None] + 0.5 * np.cumsum(steps, axis=1)).astype(int)
        inside = np.all((points >= 0) & (points < size), axis=0)
        curve = np.zeros_like(mask)
        curve[tuple(points[:, inside])] = True
        if rng.randint(2):
            curve = binary_dilation(curve)
        mask |= curve
    background = gaussian_filter(rng.normal(0, 1, (size,) * 3), sigma=size / 16)
    background = 0.3 + 0.15 * background / (np.abs(background).max() + 1e-8)
    image = background + 0.5 * mask + rng.normal(0, noise, (size,) * 3)
    return np.clip(image, 0, 1), mask.astype(np.uint8)


def synthetic_pair(
    kind: str, size: int = 128, seed: int | np.random.RandomState = 0, spatial_dims: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """One (image, label) pair of ``kind``: uint8 image (H, W), or (H, W, D) with ``spatial_dims=3``,
    in [0, 255], uint8 mask in {0, 1}."""
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown synthetic dataset kind {kind!r}; choose one of {sorted(SYNTHETIC_KINDS)}.")
    if int(spatial_dims) not in (2, 3):
        raise ValueError(f"synthetic data are 2-D or 3-D, got spatial_dims={spatial_dims!r}.")
    if int(size) < 16:
        raise ValueError(f"synthetic images must be at least 16 pixels wide, got size={size!r}.")
    rng = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(int(seed))
    settings = dict(SYNTHETIC_KINDS[kind])
    generator = settings.pop("generator")
    if int(spatial_dims) == 3:
        settings["spatial_dims"] = 3
    image, label = (_discs if generator == "discs" else _vessels)(int(size), rng, **settings)
    lo, hi = float(image.min()), float(image.max())
    image8 = np.round(255 * (image - lo) / (hi - lo if hi > lo else 1.0)).astype(np.uint8)
    return image8, label.astype(np.uint8)


def make_synthetic_dataset(
    root: str | os.PathLike,
    kind: str,
    num_images: int = 24,
    size: int = 128,
    seed: int = 0,
    test_fraction: float = 0.25,
    spatial_dims: int = 2,
) -> Path:
    """Write (or reuse) dataset ``kind`` under ``root/<kind>`` in the common layout; return its folder.

    Deterministic: the same arguments give the same files. A ``synthetic.json`` manifest records
    the arguments; a folder whose manifest differs is regenerated, a matching one is reused.
    ``spatial_dims=3``: ``size``^3 volumes as NIfTI (``.nii.gz``, identity affine) in ``root/<kind>-3d``.
    """
    spatial_dims = int(spatial_dims)
    if spatial_dims not in (2, 3):
        raise ValueError(f"synthetic data are 2-D or 3-D, got spatial_dims={spatial_dims!r}.")
    if int(num_images) < 2:
        raise ValueError(f"num_images must be >= 2 (a train and a test image), got {num_images!r}.")
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}.")
    folder = Path(root).expanduser().resolve() / (kind if spatial_dims == 2 else f"{kind}-3d")
    manifest = {
        "kind": kind,
        "num_images": int(num_images),
        "size": int(size),
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "format_version": _FORMAT_VERSION,
    }
    if spatial_dims == 3:  # 2-D manifests stay as they were (their folders are reused)
        manifest["spatial_dims"] = 3
    manifest_file = folder / "synthetic.json"
    if manifest_file.is_file() and (folder / "split.json").is_file():
        try:
            if json.loads(manifest_file.read_text()) == manifest:
                return folder
        except json.JSONDecodeError:
            pass
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    # one stream per dataset: kinds differ by name, so two kinds never share images
    rng = np.random.RandomState((int(seed) * 1_000_003 + sum(map(ord, kind))) % 2**32)
    ids = [f"{kind}_{i:03d}" for i in range(int(num_images))]
    for key in ids:
        image, label = synthetic_pair(kind, size, rng, spatial_dims)
        if spatial_dims == 3:
            import nibabel  # 3-D only; the torch-free import of monai_ccnet does not load it (start-up time)

            for array, sub in ((image, "images"), (label, "labels")):
                nibabel.save(nibabel.Nifti1Image(array, np.eye(4)), str(folder / sub / f"{key}.nii.gz"))
        else:
            Image.fromarray(image).save(folder / "images" / f"{key}.png")
            Image.fromarray(label).save(folder / "labels" / f"{key}.png")
    n_test = min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
    atomic_write_json(folder / "split.json", {"train": ids[:-n_test], "test": ids[-n_test:]})
    atomic_write_json(manifest_file, manifest)  # written last: a complete folder has a manifest
    return folder


def make_synthetic_datasets(
    root: str | os.PathLike,
    kinds: Sequence[str] | None = None,
    num_images: int = 24,
    size: int = 128,
    seed: int = 0,
    test_fraction: float = 0.25,
    spatial_dims: int = 2,
) -> dict[str, str]:
    """:func:`make_synthetic_dataset` for several kinds (default: all); returns ``{kind: folder}``."""
    kinds = list(SYNTHETIC_KINDS) if kinds is None else [str(k) for k in kinds]
    return {k: str(make_synthetic_dataset(root, k, num_images, size, seed, test_fraction, spatial_dims)) for k in kinds}
