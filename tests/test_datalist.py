"""``load_datalist`` reads MONAI/Decathlon datalists with MONAI's ``load_decathlon_datalist``; its
own checks name the file, key and entry of what is wrong (tests/test_data_layout.py: the basics)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("monai")

from monai_ccnet.data import load_datalist  # noqa: E402


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_datalist_reads_like_monai(tmp_path):
    from monai.data import load_decathlon_datalist

    for name in ("img/a.png", "img/a_ch2.png", "lab/a.png", "img/t.png", "other/b.png", "lab/b.png"):
        _touch(tmp_path / name)
    datalist = tmp_path / "lists" / "datalist.json"
    datalist.parent.mkdir()
    content = {
        "training": [
            {"image": "../img/a.png", "label": "../lab/a.png"},
            # multi-channel: a list of images, named after the first
            {"image": ["../img/a_ch2.png", "../img/a.png"], "label": "../lab/a.png", "id": "mc"},
        ],
        "test": ["../img/t.png"],
    }
    datalist.write_text(json.dumps(content))
    items = load_datalist(datalist)
    monai_items = load_decathlon_datalist(datalist, data_list_key="training")
    assert [{k: v for k, v in item.items() if k != "id"} for item in items] == [
        {k: v for k, v in item.items() if k != "id"} for item in monai_items
    ]
    assert items[0] == {"image": str(tmp_path / "img" / "a.png"), "label": str(tmp_path / "lab" / "a.png"), "id": "a"}
    assert items[1]["image"] == [str(tmp_path / "img" / "a_ch2.png"), str(tmp_path / "img" / "a.png")]
    assert items[1]["id"] == "mc"
    # the Decathlon "test" list of bare image paths
    assert load_datalist(datalist, "test") == [{"image": str(tmp_path / "img" / "t.png"), "id": "t"}]
    # base_dir instead of the datalist's folder
    datalist.write_text(json.dumps({"training": [{"image": "other/b.png", "label": "lab/b.png"}]}))
    assert load_datalist(datalist, base_dir=tmp_path)[0]["image"] == str(tmp_path / "other" / "b.png")


@pytest.mark.parametrize(
    "content, key, message",
    [
        ({"training": ["img/a.png"]}, "training", r"training\[0\] has no 'image' key \(only the 'test' list"),
        ({"test": ["img/a.png", {"image": "img/a.png"}]}, "test", r"test\[1\] is not an image path like test\[0\]"),
        ({"training": [{"image": []}]}, "training", r"training\[0\]\.image must be a path or a list of paths"),
        (
            {"training": [{"image": "img/a.png", "label": "lab/none.png"}]},
            "training",
            r"1 listed file\(s\) not found: training\[0\]\.label",
        ),
        ([1, 2], "training", r"no key 'training' \(found list\)"),
    ],
)
def test_datalist_errors_name_the_file_key_and_entry(tmp_path, content, key, message):
    _touch(tmp_path / "img" / "a.png")
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps(content))
    with pytest.raises((ValueError, FileNotFoundError), match=message) as err:
        load_datalist(datalist, key)
    assert str(datalist) in str(err.value)
