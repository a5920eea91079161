"""Complexity measures: J against the Pillow reference, scale-wise behaviour, mask measures, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_ccnet.complexity import (
    ComplexityInputError,
    boundary_density,
    components_per_megapixel,
    edge_information,
    foreground_density,
    jb,
    jpeg_complexity,
    keypoint_density,
    mean_thickness,
    measure,
    scalewise_jpeg_complexity,
    signal_energy,
)
from monai_ccnet.data import load_dataset_dir

from tests.conftest import textured
from tests.conftest import SHARED_DATASETS, shared_dataset


def pillow_jpeg_bytes(image: Image.Image, quality: int = 25) -> int:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return len(buffer.getvalue())


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_jpeg_complexity_equals_pillow_reference(channels, mode):
    image = textured(channels=channels)
    pil = Image.fromarray(image[0] if channels == 1 else image.transpose(1, 2, 0), mode)
    expected = pillow_jpeg_bytes(pil) / (48 * 40 * channels)
    assert jpeg_complexity(image) == expected
    assert jpeg_complexity(torch.from_numpy(image)) == expected
    assert jpeg_complexity(MetaTensor(torch.from_numpy(image))) == expected
    assert jpeg_complexity(image, quality=75) == pillow_jpeg_bytes(pil, 75) / (48 * 40 * channels)


def test_alpha_channel_is_dropped():
    rgb = textured()
    rgba = np.concatenate([rgb, np.full((1, 48, 40), 255, np.uint8)])
    assert jpeg_complexity(rgba) == jpeg_complexity(rgb)


def test_file_and_luma_variants():
    image = textured()
    pil = Image.fromarray(image.transpose(1, 2, 0), "RGB")
    assert jpeg_complexity(image, reference="file", file_bytes=1000) == pillow_jpeg_bytes(pil) / 1000
    assert jpeg_complexity(image, colour="luma") == pillow_jpeg_bytes(pil.convert("L")) / (48 * 40)
    with pytest.raises(ComplexityInputError, match="file_bytes"):
        jpeg_complexity(image, reference="file")


def test_scalewise_definition_and_j0():
    image = textured(64, 64, 1)
    values = scalewise_jpeg_complexity(image, scales=3)
    assert values.dtype == np.float64 and values.shape == (3,)
    assert values[0] == jpeg_complexity(image)
    # Eq. 2 at k = 2 restated with Pillow: BOX down by 4, JPEG round trip, BILINEAR up, encode
    pil = Image.fromarray(image[0], "L")
    buffer = io.BytesIO()
    pil.resize((16, 16), Image.Resampling.BOX).save(buffer, "JPEG", quality=25)
    up = Image.open(io.BytesIO(buffer.getvalue())).resize((64, 64), Image.Resampling.BILINEAR)
    assert values[2] == pillow_jpeg_bytes(up) / 64**2


@pytest.mark.parametrize("name", SHARED_DATASETS)
def test_scalewise_j_decreases_on_real_images(name):
    # the dataset complexity (mean over the train split) decreases; single images need not:
    # dark, nearly empty dsb2018 images sit at the JPEG header floor at every scale
    values = []
    for item in load_dataset_dir(shared_dataset(name)):
        pil = Image.open(item["image"])
        array = np.asarray(pil)
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        j = scalewise_jpeg_complexity(array, scales=5)
        assert j[0] == pillow_jpeg_bytes(pil) / array.size  # J_0 == J, Pillow reference
        values.append(j)
    assert np.all(np.diff(np.mean(values, axis=0)) < 0), np.mean(values, axis=0)


def test_non_uint8_intensity_rules():
    picture = textured(channels=1)
    picture[0, 0, 0], picture[0, -1, -1] = 0, 255  # full range: min-max maps it onto itself
    image = picture.astype(np.float32) * 4.0 - 100.0  # same picture, other units
    assert jpeg_complexity(image) == jpeg_complexity(picture)
    lo, hi = float(image.min()), float(image.max())
    assert jpeg_complexity(image, intensity=f"window:{lo},{hi}") == jpeg_complexity(image)
    assert jpeg_complexity(image, intensity="percentile:1,99") > 0
    with pytest.raises(ValueError, match="intensity rule"):
        jpeg_complexity(image, intensity="zscore")


def test_bad_images_raise_clear_errors():
    image = textured(channels=1).astype(np.float32)
    image[0, 3, 4] = np.nan
    with pytest.raises(ComplexityInputError, match="1 NaN/Inf"):
        jpeg_complexity(image)
    meta = MetaTensor(torch.from_numpy(image), meta={"filename_or_obj": "/data/x.nii"})
    with pytest.raises(ComplexityInputError, match="/data/x.nii"):
        jpeg_complexity(meta)
    with pytest.raises(ComplexityInputError, match="channel count 2"):
        jpeg_complexity(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ComplexityInputError, match="shape"):
        jpeg_complexity(np.zeros((8, 8), np.uint8))


def test_non_binary_label_names_values():
    label = np.zeros((1, 16, 16), np.uint8)
    label[0, :4] = 1
    label[0, 4:8] = 2
    with pytest.raises(ComplexityInputError, match=r"\[0, 1, 2\]"):
        foreground_density(label)
    with pytest.raises(ComplexityInputError, match="one-channel"):
        foreground_density(np.zeros((3, 16, 16), np.uint8))


def test_mask_measures_on_known_shapes():
    label = np.zeros((1, 40, 50), np.uint8)
    label[0, 5:15, 5:15] = 255  # 10 x 10 square
    label[0, 20:30, 30:40] = 255  # a second one
    assert foreground_density(label, scales=1)[0] == 200 / 2000
    assert boundary_density(label, scales=1)[0] == 2 * 36 / 2000  # perimeter pixels of two squares
    assert components_per_megapixel(label, scales=1)[0] == 2 * 1e6 / 2000
    stripe = np.zeros((1, 30, 30), bool)
    stripe[0, :, 10:20] = True  # distances to background across the stripe: 1..5, 5..1
    assert mean_thickness(stripe, scales=1)[0] == 2 * np.mean([1, 2, 3, 4, 5])
    assert mean_thickness(np.zeros((1, 8, 8), bool), scales=1)[0] == 0.0
    density = foreground_density(label, scales=3)  # 10-pixel squares on the 2- and 4-pixel grids
    assert density.shape == (3,) and np.all(np.abs(density - 0.1) < 0.03)


def test_volume_is_measured_per_slice():
    plane = textured(32, 32, 1)
    volume = np.stack([plane] * 3, axis=-1)  # (1, H, W, D), identical slices
    assert np.array_equal(scalewise_jpeg_complexity(volume, 3), scalewise_jpeg_complexity(plane, 3))
    label = np.zeros((1, 32, 32, 4), np.uint8)
    label[0, :16, :, :2] = 1
    assert foreground_density(label, scales=1)[0] == pytest.approx(0.25)  # mean of 0.5, 0.5, 0, 0
    assert foreground_density(label, scales=1, slice_axis=0)[0] == pytest.approx(0.25)


def test_image_measures_behave():
    flat = np.full((1, 32, 32), 90, np.uint8)
    noise = np.random.default_rng(1).integers(0, 256, (1, 32, 32)).astype(np.uint8)
    grey = noise[0] / 255.0
    assert signal_energy(noise, scales=1)[0] == pytest.approx(grey.var())  # Parseval, DC excluded
    assert signal_energy(flat, scales=1)[0] == 0.0
    np.testing.assert_allclose(edge_information(flat, scales=2), 0.0, atol=1e-12)
    edges = edge_information(noise, scales=3)
    assert edges[0] > edges[1] > edges[2] > 0
    assert edge_information(noise, scales=1, edge_operator="scharr")[0] > 0
    checker = ((np.indices((32, 32)) // 8).sum(0) % 2 * 255).astype(np.uint8)[None]
    assert keypoint_density(checker, scales=1)[0] > 0 == keypoint_density(flat, scales=1)[0]
    for name in ("clutter_fc", "clutter_se"):
        assert measure(name, noise, scales=1)[0] > measure(name, flat, scales=1)[0]


def test_jb_helper():
    j, b = np.array([0.2, 0.1]), np.array([0.4, 0.4])
    np.testing.assert_allclose(jb((j, b), 0.25), 0.25 * j + 0.75 * b)
    report = {"measures": {"jpeg": {"mean": j.tolist()}, "foreground": {"mean": b.tolist()}}}
    np.testing.assert_allclose(jb(report, 1.0), j)
    with pytest.raises(ValueError, match="lacks"):
        jb({"measures": {"jpeg": {"mean": [1.0]}}}, 0.5)
    with pytest.raises(ValueError, match="w must be"):
        jb((j, b), 1.5)
