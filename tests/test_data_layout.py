"""Dataset discovery: the common layout, folder pairs and MONAI datalists, and their errors."""

from __future__ import annotations

import json

import pytest

from monai_ccnet.data import find_pairs, load_datalist, load_dataset_dir, resolve_data
from tests.conftest import SHARED_DATASETS, shared_dataset


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def layout(tmp_path):
    for i in ("a", "b", "c"):
        _touch(tmp_path / "images" / f"{i}.png")
        _touch(tmp_path / "labels" / f"{i}.png")
    (tmp_path / "split.json").write_text(json.dumps({"train": ["a", "b"], "test": ["c"]}))
    return tmp_path


def test_dataset_dir_split(layout):
    train = load_dataset_dir(layout, "train")
    assert [item["id"] for item in train] == ["a", "b"]
    assert train[0]["image"].endswith("images/a.png") and train[0]["label"].endswith("labels/a.png")
    assert [item["id"] for item in load_dataset_dir(layout, "test")] == ["c"]
    assert len(load_dataset_dir(layout, None)) == 3


def test_dataset_dir_errors(layout, tmp_path):
    with pytest.raises(ValueError, match="no split 'val'"):
        load_dataset_dir(layout, "val")
    (layout / "split.json").write_text(json.dumps({"train": ["a", "zz"]}))
    with pytest.raises(ValueError, match="zz"):
        load_dataset_dir(layout, "train")
    (layout / "split.json").write_text(json.dumps({"train": []}))
    with pytest.raises(ValueError, match="empty"):
        load_dataset_dir(layout, "train")
    (layout / "split.json").write_text("{not json")
    with pytest.raises(ValueError, match="split.json"):
        load_dataset_dir(layout, "train")
    with pytest.raises(FileNotFoundError, match="dataset_dir not found"):
        load_dataset_dir(tmp_path / "missing")


def test_find_pairs_errors(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="empty"):
        find_pairs(tmp_path / "images")
    _touch(tmp_path / "images" / "x.png")
    _touch(tmp_path / "images" / "y.nii.gz")
    (tmp_path / "labels").mkdir()
    _touch(tmp_path / "labels" / "x.png")
    with pytest.raises(ValueError, match=r"have no label.*'y'"):
        find_pairs(tmp_path / "images", tmp_path / "labels")
    _touch(tmp_path / "images" / "x.jpg")
    with pytest.raises(ValueError, match="share the id 'x'"):
        find_pairs(tmp_path / "images")


def test_datalist(tmp_path):
    _touch(tmp_path / "img" / "a.nii.gz")
    _touch(tmp_path / "lab" / "a.nii.gz")
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}], "test": []}))
    items = load_datalist(datalist)
    assert items[0]["id"] == "a" and items[0]["image"] == str(tmp_path / "img" / "a.nii.gz")
    assert resolve_data(datalist=datalist) == items
    with pytest.raises(ValueError, match="lists no entries"):
        load_datalist(datalist, "test")
    with pytest.raises(ValueError, match="no key 'validation'"):
        load_datalist(datalist, "validation")
    datalist.write_text(json.dumps({"training": [{"image": "img/missing.png"}, {"image": "img/gone.png", "label": "lab/no.png"}]}))
    with pytest.raises(FileNotFoundError, match=r"3 listed file\(s\) not found") as err:  # every one, not the first
        load_datalist(datalist)
    for name in (r"training[0].image = ", r"training[1].image = ", r"training[1].label = "):
        assert name in str(err.value)
    datalist.write_text(json.dumps({"training": [{"label": "lab/a.nii.gz"}]}))
    with pytest.raises(ValueError, match="has no 'image' key"):
        load_datalist(datalist)


def test_resolve_data_needs_exactly_one_source(layout):
    with pytest.raises(ValueError, match="exactly one"):
        resolve_data()
    with pytest.raises(ValueError, match="exactly one"):
        resolve_data(dataset_dir=layout, images=layout / "images")


@pytest.mark.parametrize("name", SHARED_DATASETS)
def test_real_datasets_follow_the_layout(name):
    root = shared_dataset(name)
    split = json.loads((root / "split.json").read_text())
    train, test = load_dataset_dir(root, "train"), load_dataset_dir(root, "test")
    assert len(train) == len(split["train"]) and len(test) == len(split["test"])
    assert not {i["id"] for i in train} & {i["id"] for i in test}
