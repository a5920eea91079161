"""Dataset analyzer: JSON contract and round trip, workers, every bad input, the CLI."""

from __future__ import annotations

import json

import nibabel
import numpy as np
import pytest
from PIL import Image

from monai_ccnet.__main__ import main
from monai_ccnet.complexity import ComplexityError, ComplexityReport, analyze_dataset, check_items, jb, jpeg_complexity
from monai_ccnet.data import find_pairs
from tests.conftest import textured


def write_pair(folder, name, image, label=None, fmt="png"):
    (folder / "images").mkdir(exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{name}.{fmt}")
    if label is not None:
        Image.fromarray(label).save(folder / "labels" / f"{name}.png")


def mask(h=40, w=48, top=10):
    label = np.zeros((h, w), np.uint8)
    label[top:30, 8:20] = 1
    return label


@pytest.fixture
def folder(tmp_path):
    for n in range(3):
        write_pair(tmp_path, f"case{n}", textured(40, 48, 3, seed=n).transpose(1, 2, 0), mask(top=5 + n))
    return tmp_path


def test_report_contract_round_trip_and_workers(folder, tmp_path):
    items = find_pairs(folder / "images", folder / "labels")
    report = analyze_dataset(items, scales=3, progress=False)
    assert report.settings["reference"] == "raw" and report.settings["colour"] == "keep"
    assert report.settings["quality"] == 25 and report.settings["scales"] == 3 and report.settings["intensity"] == "minmax"
    per_image = np.array([i["jpeg"] for i in report.images])
    assert per_image[:, 0].tolist() == [jpeg_complexity(textured(40, 48, 3, seed=n)) for n in range(3)]
    stats = report.measures["jpeg"]
    np.testing.assert_allclose(stats["mean"], per_image.mean(0))
    np.testing.assert_allclose(stats["std"], per_image.std(0))
    assert stats["min"] == per_image.min(0).tolist() and stats["max"] == per_image.max(0).tolist()
    assert report.mean("foreground") == report.measures["foreground"]["mean"]
    np.testing.assert_allclose(jb(report, 0.5), 0.5 * per_image.mean(0) + 0.5 * np.array(report.mean("foreground")))
    path = report.save(tmp_path / "out" / "report.json")
    content = json.loads(open(path).read())
    assert set(content) == {"settings", "measures", "images", "errors"}
    assert content["images"][0]["image"] == items[0]["image"] and content["images"][0]["label"] == items[0]["label"]
    assert ComplexityReport.load(path).to_dict() == report.to_dict()
    parallel = analyze_dataset(items, scales=3, workers=2, progress=False)
    assert parallel.to_dict() == report.to_dict()
    with pytest.raises(KeyError, match="edge"):
        report.mean("edge")


def test_default_measures_without_labels_and_all_measures(folder):
    items = find_pairs(folder / "images")
    assert set(analyze_dataset(items, scales=2, progress=False).measures) == {"jpeg"}
    # a label measure on a dataset without any label: one clear error up front, not one per image
    with pytest.raises(ValueError, match=r"measures \['thickness'\] need labels, and no image has one"):
        analyze_dataset(items, measures=("jpeg", "thickness"), progress=False)


def test_every_bad_input_is_reported(tmp_path):
    write_pair(tmp_path, "good", textured(40, 48, 1)[0], mask())
    write_pair(tmp_path, "mismatch", textured(40, 48, 1)[0], mask(h=41))
    write_pair(tmp_path, "nonbinary", textured(40, 48, 1)[0], mask() * 3 + (mask(top=20) * 4))
    write_pair(tmp_path, "rgb_label", textured(40, 48, 1)[0], np.stack([mask()] * 3, -1))
    nan = textured(40, 48, 1)[0].astype(np.float32)
    nan[2, 2] = np.nan
    write_pair(tmp_path, "nan", nan, mask(), fmt="tif")
    (tmp_path / "images" / "corrupt.png").write_bytes(b"not a png")
    Image.fromarray(mask()).save(tmp_path / "labels" / "corrupt.png")
    write_pair(tmp_path, "unlabelled", textured(40, 48, 1)[0])
    items = find_pairs(tmp_path / "images")
    for item in items:
        item["label"] = str(tmp_path / "labels" / f"{item['id']}.png")
    items.append({"image": str(tmp_path / "missing.png"), "label": str(tmp_path / "labels" / "good.png")})
    report = analyze_dataset(items, scales=2, progress=False)
    errors = {e["image"].split("/")[-1]: e["error"] for e in report.errors}
    assert len(report.images) == 1 and report.images[0]["id"] == "good"
    assert "label size (41, 48) differs from image size (40, 48)" in errors["mismatch.png"]
    assert "mismatch.png" in errors["mismatch.png"]
    assert "nonbinary.png" in errors["nonbinary.png"] and "[0, 3, 7]" in errors["nonbinary.png"]
    assert "one-channel label" in errors["rgb_label.png"]
    assert "nan.tif" in errors["nan.tif"] and "NaN/Inf" in errors["nan.tif"]
    assert "cannot read the file" in errors["corrupt.png"]
    assert errors["missing.png"].endswith("missing.png: file not found.")
    assert errors["unlabelled.png"].endswith("labels/unlabelled.png: file not found.")
    with pytest.raises(ComplexityError, match="strict mode"):
        analyze_dataset(items, scales=2, strict=True, progress=False)
    with pytest.raises(ComplexityError, match="every image failed"):
        analyze_dataset([i for i in items if i.get("id") != "good"], scales=2, progress=False)
    two_channel = str(tmp_path / "two.nii.gz")
    nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 2, 2), np.float32), np.eye(4)), two_channel)
    with pytest.raises(ComplexityError, match="two.nii.gz: .*channel count 2"):
        analyze_dataset([{"image": two_channel}], measures=("jpeg",), progress=False)
    with pytest.raises(ValueError, match="empty"):
        analyze_dataset([], progress=False)
    with pytest.raises(ValueError, match="unknown measure"):
        analyze_dataset(items, measures=("jpg",), progress=False)
    # the same checks without measuring (what the bundle runs before training): every bad file listed
    checked = {e["image"].split("/")[-1]: e["error"] for e in check_items(items)}
    assert set(checked) == set(errors) and checked["nonbinary.png"] == errors["nonbinary.png"]
    assert check_items([i for i in items if i.get("id") == "good"], spatial_dims=2) == []
    volume = str(tmp_path / "volume.nii.gz")
    nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 4), np.float32), np.eye(4)), volume)
    (bad,) = check_items([{"image": volume}], spatial_dims=2)
    assert "volume.nii.gz: a 3-D image of size (8, 8, 4), but the network is 2-D" in bad["error"]


def test_cli_on_a_small_folder(folder, tmp_path, capsys):
    output = tmp_path / "report.json"
    args = ["complexity", "--images", str(folder / "images"), "--labels", str(folder / "labels"), "--scales", "3",
            "--measures", "jpeg,foreground,boundary_density", "--output", str(output), "--no-progress"]
    assert main(args + ["--plot"]) == 0
    assert (tmp_path / "report.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "boundary_density" in printed and "k=2" in printed and "3 image(s), 0 error(s)" in printed
    report = ComplexityReport.load(output)
    assert len(report.mean("jpeg")) == 3 and report.settings["measures"] == ["jpeg", "foreground", "boundary_density"]
    (folder / "images" / "zz_bad.png").write_bytes(b"broken")
    Image.fromarray(mask()).save(folder / "labels" / "zz_bad.png")
    assert main(args) == 1
    assert "zz_bad.png: cannot read the file" in capsys.readouterr().err
    assert main(args + ["--strict"]) == 1
    assert "strict mode" in capsys.readouterr().err
    assert main(["complexity", "--images", str(tmp_path / "nowhere"), "--no-progress"]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["complexity", "--images", str(folder / "images"), "--dataset", str(folder), "--no-progress"]) == 1
    assert capsys.readouterr().err == "error: give exactly one of --images, --dataset, --datalist (got --images and --dataset).\n"
    # an output that cannot be written fails before the analysis, in one line naming the option
    for bad_output, message in ((tmp_path, "is a folder"), (output / "x.json", "cannot write in")):
        assert main(args[:-3] + ["--output", str(bad_output), "--no-progress"]) == 1
        captured = capsys.readouterr()
        assert captured.err.startswith(f"error: --output {bad_output}") and message in captured.err
        assert captured.err.count("\n") == 1 and captured.out == ""


def test_image_size_measures_what_the_network_sees(tmp_path):
    """``image_size`` resizes (longest side, aspect kept) before measuring: equal to measuring a
    copy resized the same way, and the masks' foreground density survives the resize."""
    from monai_ccnet.complexity.measures import resize_longest

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (96, 160), dtype=np.uint8))
    mask = np.zeros((96, 160), np.uint8)
    mask[20:60, 40:120] = 1
    for folder, (img, lab) in {"native": (image, mask)}.items():
        (tmp_path / folder / "images").mkdir(parents=True)
        (tmp_path / folder / "labels").mkdir(parents=True)
        img.save(tmp_path / folder / "images" / "a.png")
        Image.fromarray(lab).save(tmp_path / folder / "labels" / "a.png")
    size = resize_longest(image.size, 64)
    assert size == (64, 38)
    (tmp_path / "small" / "images").mkdir(parents=True)
    image.resize(size, Image.Resampling.BILINEAR).save(tmp_path / "small" / "images" / "a.png")
    items = find_pairs(tmp_path / "native" / "images", tmp_path / "native" / "labels")
    resized = analyze_dataset(items, scales=2, measures=("jpeg", "foreground"), image_size=64, progress=False)
    direct = analyze_dataset(find_pairs(tmp_path / "small" / "images"), scales=2, measures=("jpeg",), progress=False)
    assert resized.mean("jpeg") == pytest.approx(direct.mean("jpeg"))
    assert resized.mean("foreground")[0] == pytest.approx(40 * 80 / (96 * 160), abs=0.02)
    assert resized.settings["image_size"] == 64 and "resize" in resized.settings
    with pytest.raises(ValueError, match="image_size must be None or an integer >= 1"):
        analyze_dataset(items, scales=1, image_size=0, progress=False)
