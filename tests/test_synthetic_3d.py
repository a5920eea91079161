"""Built-in 3-D synthetic volumes (chosen when spatial_dims is 3 and no data is given) and the
one-line summary of a problem many files share."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monai_ccnet.data import load_dataset_dir
from monai_ccnet.data.synthetic import SYNTHETIC_KINDS, make_synthetic_dataset, synthetic_pair

pytest.importorskip("monai")
nibabel = pytest.importorskip("nibabel")


@pytest.mark.parametrize("kind", sorted(SYNTHETIC_KINDS))
def test_volumes_are_deterministic_8bit_with_binary_masks(kind):
    image, label = synthetic_pair(kind, 16, seed=3, spatial_dims=3)
    again, _ = synthetic_pair(kind, 16, seed=3, spatial_dims=3)
    assert image.dtype == np.uint8 and image.shape == (16, 16, 16) and label.shape == (16, 16, 16)
    assert np.array_equal(image, again) and set(np.unique(label)) == {0, 1}
    with pytest.raises(ValueError, match="2-D or 3-D"):
        synthetic_pair(kind, 16, spatial_dims=1)


def test_3d_dataset_is_nifti_in_its_own_folder(tmp_path):
    flat = make_synthetic_dataset(tmp_path, "cells", num_images=4, size=16)
    folder = make_synthetic_dataset(tmp_path, "cells", num_images=4, size=16, spatial_dims=3)
    assert folder.name == "cells-3d" and flat.name == "cells", "2-D and 3-D data of one kind live side by side"
    assert "spatial_dims" not in json.loads((flat / "synthetic.json").read_text()), "2-D manifests unchanged (reused)"
    train = load_dataset_dir(folder, "train")
    assert len(train) == 3 and train[0]["image"].endswith(".nii.gz")
    volume = nibabel.load(train[0]["image"])
    assert volume.shape == (16, 16, 16) and np.asarray(volume.dataobj).dtype == np.uint8
    stamp = (folder / "images" / "cells_000.nii.gz").stat().st_mtime_ns
    make_synthetic_dataset(tmp_path, "cells", num_images=4, size=16, spatial_dims=3)
    assert (folder / "images" / "cells_000.nii.gz").stat().st_mtime_ns == stamp, "same settings: reused"


def test_bundle_data_picks_3d_synthetic_volumes_for_a_3d_network(tmp_path):
    from monai_ccnet.workflows import bundle_data

    data = bundle_data(synthetic_dir=str(tmp_path), synthetic={"num_images": 4, "size": 16}, target="discs", spatial_dims=3)
    assert data["name"] == "synthetic-discs-3d" and data["train"][0]["image"].endswith(".nii.gz")
    assert bundle_data(synthetic_dir=str(tmp_path), synthetic={"num_images": 4, "size": 16},
                       target="discs", spatial_dims=2)["train"][0]["image"].endswith(".png")


def test_many_files_with_one_problem_are_one_line(tmp_path):
    from monai_ccnet.workflows import bundle_data, summarize_file_errors

    folder = make_synthetic_dataset(tmp_path, "discs", num_images=8, size=16)
    with pytest.raises(ValueError) as err:
        bundle_data(dataset_dir=str(folder), spatial_dims=3)
    message = str(err.value)
    assert "\n" not in message and message.count("a 2-D image") == 1
    assert "8 bad file(s) in the train/test splits, all with one problem" in message
    assert "(images/discs_000.png, images/discs_001.png, images/discs_002.png, ... and 5 more)" in message
    assert "use 3-D data or set spatial_dims=2" in message
    # different problems: one line each, files with the same one counted together
    errors = [{"image": f"/d/images/{i}.png", "label": f"/d/labels/{i}.png",
               "error": f"/d/labels/{i}.png: label is not binary: found {3 + i} values"} for i in range(4)]
    errors.append({"image": "/d/images/x.png", "label": None, "error": "/d/images/x.png: cannot read the file (broken)."})
    lines = summarize_file_errors(errors, root="/d")
    assert lines == [
        "4 files (labels/0.png, labels/1.png, labels/2.png, ... and 1 more): label is not binary: found 3 values "
        "(the numbers differ between files: these are the first's)",
        "images/x.png: cannot read the file (broken).",
    ]


def test_bundle_compress_in_3d_on_the_built_in_data(tmp_path):
    """``monai.bundle run compress --spatial_dims 3`` with no dataset: built-in NIfTI volumes (it stopped
    at 'a 2-D image ... but the network is 3-D' for every synthetic PNG before)."""
    from tests.test_bundle import run_bundle

    proc = run_bundle("compress", "compress", tmp_path, spatial_dims=3, synthetic__size=16, synthetic__num_images=5,
                      recipe__patch_size="[16,16,16]", recipe__max_epochs=1, disk_budget_mb=0.01,
                      disk_budget_counts="weights", export="[torchscript]", plot="False")
    report = json.loads((tmp_path / "compress" / "report.json").read_text())
    assert report["dataset"] == "synthetic-discs-3d" and report["satisfied"]
    assert report["compressed"]["latency_input"] == [1, 1, 16, 16, 16] and 0 <= report["compressed"]["f1"] <= 1
    assert (tmp_path / "cache" / "synthetic" / "discs-3d" / "images" / "discs_000.nii.gz").is_file()
    assert "compress report:" in proc.stdout and "but the network is 3-D" not in proc.stdout
