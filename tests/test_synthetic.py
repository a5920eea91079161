"""Built-in synthetic datasets: deterministic, in the common layout, of clearly different complexity."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from monai_ccnet.data import load_dataset_dir
from monai_ccnet.data.synthetic import SYNTHETIC_KINDS, make_synthetic_dataset, make_synthetic_datasets, synthetic_pair

pytest.importorskip("monai")


def _jpeg_ratio(image: np.ndarray) -> float:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=25)
    return len(buffer.getvalue()) / image.size


@pytest.mark.parametrize("kind", sorted(SYNTHETIC_KINDS))
def test_pair_is_deterministic_8bit_with_binary_mask(kind):
    image, label = synthetic_pair(kind, 64, seed=3)
    again, again_label = synthetic_pair(kind, 64, seed=3)
    other, _ = synthetic_pair(kind, 64, seed=4)
    assert image.dtype == np.uint8 and image.shape == (64, 64) and label.shape == (64, 64)
    assert np.array_equal(image, again) and np.array_equal(label, again_label)
    assert not np.array_equal(image, other)
    assert set(np.unique(label)) == {0, 1}, "every image has foreground and background"


def test_kinds_span_clearly_different_complexity():
    # mean JPEG complexity (Eq. 1 with raw bytes) over a few images, in the documented order
    means = [np.mean([_jpeg_ratio(synthetic_pair(kind, 128, seed)[0]) for seed in range(4)]) for kind in SYNTHETIC_KINDS]
    assert all(b > 1.2 * a for a, b in zip(means, means[1:])), dict(zip(SYNTHETIC_KINDS, means))


def test_dataset_folder_is_the_common_layout_and_reused(tmp_path):
    folder = make_synthetic_dataset(tmp_path, "vessels", num_images=6, size=32, seed=1, test_fraction=0.34)
    train, test = load_dataset_dir(folder, "train"), load_dataset_dir(folder, "test")
    assert len(train) == 4 and len(test) == 2
    assert {i["id"] for i in train}.isdisjoint(i["id"] for i in test)
    stamp = (folder / "images" / "vessels_000.png").stat().st_mtime_ns
    assert make_synthetic_dataset(tmp_path, "vessels", num_images=6, size=32, seed=1, test_fraction=0.34) == folder
    assert (folder / "images" / "vessels_000.png").stat().st_mtime_ns == stamp, "same settings: reused, not rewritten"
    make_synthetic_dataset(tmp_path, "vessels", num_images=6, size=32, seed=2, test_fraction=0.34)
    assert json.loads((folder / "synthetic.json").read_text())["seed"] == 2, "other settings: regenerated"


def test_several_datasets_and_bad_arguments(tmp_path):
    folders = make_synthetic_datasets(tmp_path, ["discs", "clutter"], num_images=2, size=16)
    assert sorted(folders) == ["clutter", "discs"]
    with pytest.raises(ValueError, match="unknown synthetic dataset kind 'stars'"):
        synthetic_pair("stars")
    with pytest.raises(ValueError, match="num_images must be >= 2"):
        make_synthetic_dataset(tmp_path, "discs", num_images=1)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        synthetic_pair("discs", size=8)
