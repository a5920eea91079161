"""The bundle runs' complexity cache (workflows.inputs.measure_complexity) is keyed on its exact inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import monai_ccnet.complexity as complexity
from monai_ccnet.workflows.inputs import measure_complexity


def _dataset(folder, seed: int, n: int = 3, size: int = 32) -> list[dict]:
    """``n`` grey images of one size; ``seed`` sets how noisy (so how complex) they are."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    items = []
    for i in range(n):
        noise = rng.integers(0, 255 if seed else 8, (size, size), dtype=np.uint8)
        path = folder / f"{i}.png"
        Image.fromarray(noise).save(path)
        items.append({"image": str(path), "id": str(i)})
    return items


@pytest.fixture
def analyses(monkeypatch):
    """Counts the analyses measure_complexity really runs."""
    calls = []
    analyze = complexity.analyze_dataset

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return analyze(*args, **kwargs)

    monkeypatch.setattr(complexity, "analyze_dataset", counting)
    return calls


def test_unchanged_rerun_reuses_the_cache(tmp_path, analyses):
    items = _dataset(tmp_path / "a", seed=1)
    cache = tmp_path / "complexity.json"
    first = measure_complexity(items, 2, cache, progress=False)
    mtime = cache.stat().st_mtime_ns
    again = measure_complexity(items, 2, cache, progress=False)
    assert len(analyses) == 1 and cache.stat().st_mtime_ns == mtime
    assert again.mean("jpeg") == first.mean("jpeg")
    # defaults spelled out are the same inputs
    measure_complexity(items, 2, cache, measures=["jpeg", "foreground"], progress=False, quality=25, workers=0)
    assert len(analyses) == 1


def test_datasets_of_equal_size_do_not_share_the_cache(tmp_path, analyses):
    cache = tmp_path / "complexity.json"
    noisy = measure_complexity(_dataset(tmp_path / "noisy", seed=1), 2, cache, progress=False)
    flat_items = _dataset(tmp_path / "flat", seed=0)
    flat = measure_complexity(flat_items, 2, cache, progress=False)
    assert len(analyses) == 2
    assert flat.mean("jpeg") == complexity.analyze_dataset(flat_items, scales=2, progress=False).mean("jpeg")
    assert flat.mean("jpeg")[0] < noisy.mean("jpeg")[0]


def test_a_rewritten_file_invalidates_the_cache(tmp_path, analyses):
    items = _dataset(tmp_path / "a", seed=1)
    cache = tmp_path / "complexity.json"
    before = measure_complexity(items, 2, cache, progress=False)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(items[0]["image"])  # new content, new mtime
    stat = os.stat(items[0]["image"])
    os.utime(items[0]["image"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # a coarse clock still moves
    after = measure_complexity(items, 2, cache, progress=False)
    assert len(analyses) == 2 and after.mean("jpeg") != before.mean("jpeg")


@pytest.mark.parametrize(
    "first, second",
    [
        (dict(quality=90), dict(quality=25)),
        (dict(reference="raw"), dict(reference="file")),
        (dict(scales=2), dict(scales=3)),
        (dict(measures=["jpeg"]), dict(measures=["jpeg", "edge"])),
    ],
)
def test_different_settings_do_not_share_the_cache(tmp_path, analyses, first, second):
    items = _dataset(tmp_path / "a", seed=1)
    cache = tmp_path / "complexity.json"
    a = measure_complexity(items, **{"scales": 2, **first}, cache_file=cache, progress=False)
    b = measure_complexity(items, **{"scales": 2, **second}, cache_file=cache, progress=False)
    assert len(analyses) == 2
    for key, value in second.items():
        assert b.settings[key] == value and a.settings[key] != value
