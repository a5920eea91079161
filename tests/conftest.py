"""Shared fixtures: the real datasets of ``../shared/data`` (skipped when absent) and tiny files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.planning.forms import saturating_relative_accuracy

REPO = Path(__file__).resolve().parents[1]
#: real 2-D datasets (common layout); override with MONAI_CCNET_SHARED_DATA
SHARED_DATA = Path(os.environ.get("MONAI_CCNET_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_DATASETS = ("busi", "chase_db1", "dsb2018_nuclei", "hc18", "ph2")


def shared_dataset(name: str) -> Path:
    """Path of a real dataset, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "images").is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (set MONAI_CCNET_SHARED_DATA); user checkouts lack it")
    return path


#: synthetic calibration data following the saturating form (docs/method.md §7.1)
SATURATING_BASE = [16, 32, 64, 128, 256]
SATURATING_MULTIPLIERS = (1.0, 0.5, 0.25, 0.125, 0.0625)
SATURATING_COMPLEXITY = {"a": 0.1, "b": 0.3, "c": 0.5, "d": 0.7, "e": 0.9}


def saturating_records(datasets=SATURATING_COMPLEXITY, beta=0.3, kappa=1.0, mu=4.5, noise=0.01, seeds=3, seed=0):
    """Calibration records whose accuracy follows Eq. S1/S2 plus seed noise (full-network F1 0.8)."""
    rng = np.random.default_rng(seed)
    records = []
    for name, c in datasets.items():
        for m in SATURATING_MULTIPLIERS:
            widths = list(resolve_widths(SATURATING_BASE, m))
            weights = total_weights("unet", widths, 2, 1, 2)
            r = float(saturating_relative_accuracy(math.log10(weights), kappa * c + mu, beta))
            for s in range(seeds):
                records.append({"dataset": name, "complexity": {"jpeg": [c, c / 2]}, "multiplier": m, "widths": widths,
                                "weights": weights, "seed": s, "f1": 0.8 * r + rng.normal(0, noise), "iou": 0.5})
    return records


def textured(h=48, w=40, channels=3, seed=0) -> np.ndarray:
    """Channel-first uint8 image: a smooth gradient plus noise (compresses, but not to nothing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = (yy * 3 + xx * 2)[None].repeat(channels, 0) + rng.integers(0, 60, (channels, h, w))
    return np.clip(base, 0, 255).astype(np.uint8)
