"""Shared fixtures: the real datasets of ``../shared/data`` (skipped when absent) and tiny files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def shared_data_dir() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA} (set MONAI_CCNET_SHARED_DATA)")
    return SHARED_DATA


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


requires_cuda = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
