"""Complexity transforms inside Compose after LoadImaged, and the Auto3DSeg analyzer pair."""

from __future__ import annotations

import os

import nibabel
import numpy as np
import pytest
from monai.auto3dseg import SegSummarizer
from monai.data import PILReader
from monai.transforms import Compose, LoadImaged, SqueezeDimd
from PIL import Image

from monai_ccnet.complexity import (
    ComplexityStats,
    ComplexityStatsSumm,
    ForegroundDensity,
    JPEGComplexity,
    JPEGComplexityd,
    JPEGComplexityD,
    JPEGComplexityDict,
    ObjectThicknessd,
    SubbandEntropyd,
    analyze_dataset,
    foreground_density,
    scalewise_jpeg_complexity,
)
from tests.conftest import textured


@pytest.fixture
def files(tmp_path):
    image = textured(40, 48, 3).transpose(1, 2, 0)
    label = np.zeros((40, 48), np.uint8)
    label[10:30, 8:20] = 1
    paths = {"image": str(tmp_path / "a.png"), "label": str(tmp_path / "a_label.png"), "tiff": str(tmp_path / "a.tif"), "grey": str(tmp_path / "g.png")}
    Image.fromarray(image, "RGB").save(paths["image"])
    Image.fromarray(image[..., 0], "L").save(paths["tiff"])
    Image.fromarray(image[..., 0], "L").save(paths["grey"])
    Image.fromarray(label, "L").save(paths["label"])
    return paths


def loader(keys):
    # reverse_indexing=False keeps Pillow's (H, W) order: the image is measured as stored
    return LoadImaged(keys, reader=PILReader(reverse_indexing=False), ensure_channel_first=True, image_only=True)


def test_dict_transforms_in_compose_match_the_analyzer(files):
    pipeline = Compose(
        [loader(["image", "label"]), JPEGComplexityd("image", scales=3), ObjectThicknessd("label", scales=3),
         JPEGComplexityd("image", scales=3, reference="file", output_key="{key}_j_file")]
    )
    out = pipeline({"image": files["image"], "label": files["label"]})
    report = analyze_dataset([{"image": files["image"], "label": files["label"]}], scales=3,
                             measures=("jpeg", "thickness"), progress=False)
    assert out["image_jpeg_complexity"].dtype == np.float64
    np.testing.assert_array_equal(out["image_jpeg_complexity"], report.images[0]["jpeg"])
    np.testing.assert_array_equal(out["label_thickness"], report.images[0]["thickness"])
    jpeg_bytes = out["image_jpeg_complexity"] * 40 * 48 * 3
    np.testing.assert_allclose(out["image_j_file"], jpeg_bytes / os.path.getsize(files["image"]))


def test_tiff_and_nifti_inputs(files, tmp_path):
    out = Compose([loader("image"), JPEGComplexityd("image", scales=2)])({"image": files["tiff"]})
    expected = scalewise_jpeg_complexity(np.asarray(Image.open(files["tiff"]))[None], 2)
    np.testing.assert_array_equal(out["image_jpeg_complexity"], expected)
    volume = np.random.default_rng(0).normal(100, 20, (24, 20, 3)).astype(np.float32)  # CT-like floats
    nifti = str(tmp_path / "v.nii.gz")
    nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), nifti)
    out = Compose([LoadImaged("image", ensure_channel_first=True, image_only=True),
                   JPEGComplexityd("image", scales=2, intensity="percentile")])({"image": nifti})
    assert out["image_jpeg_complexity"].shape == (2,) and np.all(out["image_jpeg_complexity"] > 0)


def test_aliases_keys_and_missing_keys(files):
    assert JPEGComplexityd is JPEGComplexityD is JPEGComplexityDict
    data = {"image": textured(channels=1)}
    out = JPEGComplexityd(["image", "other"], scales=2, allow_missing_keys=True)(data)
    assert set(out) == {"image", "image_jpeg_complexity"}
    with pytest.raises(KeyError):
        JPEGComplexityd("other")(data)
    with pytest.raises(ValueError, match="{key}"):
        JPEGComplexityd(["image", "other"], output_key="fixed")
    np.testing.assert_array_equal(JPEGComplexity(scales=2)(data["image"]), scalewise_jpeg_complexity(data["image"], 2))
    label = np.zeros((1, 8, 8), np.uint8)
    label[0, :2] = 1
    np.testing.assert_array_equal(ForegroundDensity(scales=1)(label), foreground_density(label, 1))
    out = SubbandEntropyd("image", scales=1)(data)
    assert out["image_clutter_se"].shape == (1,)


def test_auto3dseg_analyzers_in_seg_summarizer(files):
    summarizer = SegSummarizer("image", "label", do_ccp=False, hist_bins=0)
    summarizer.add_analyzer(ComplexityStats("image", "label", scales=2), ComplexityStatsSumm())
    # as Auto3DSeg's DataAnalyzer loads a case: channel-first image, label without channel axis
    load = Compose([LoadImaged(["image", "label"], ensure_channel_first=True, image_only=True), SqueezeDimd("label", 0)])
    cases = [summarizer(load({"image": files["grey"], "label": files["label"]})) for _ in range(2)]
    case = cases[0]["image_complexity"]
    assert set(case) == {"jpeg", "foreground"} and len(case["jpeg"]) == 2
    summary = summarizer.summarize(cases)["image_complexity"]
    assert summary["jpeg"]["mean"] == case["jpeg"] and summary["foreground"]["count"] == 2
    with pytest.raises(ValueError, match="label_key"):
        ComplexityStats("image", None, measures=("foreground",))
