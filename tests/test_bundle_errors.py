"""Bad input to ``python -m monai.bundle run compress`` reads as one line, before anything is written.

In process: each case raises a :class:`~monai_ccnet.errors.ConfigError` somewhere in MONAI's chain
of "Failed to evaluate / instantiate" wrappers, and the bundle's excepthook prints exactly one
line. Through the real command line: two cases, the last line of the output is the cause and no
traceback is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from monai_ccnet.errors import ConfigError, bundle_excepthook, find_config_error, one_line
from tests.conftest import REPO

pytest.importorskip("torch")
bundle = pytest.importorskip("monai.bundle")

CONFIGS = REPO / "bundles" / "ccnet_segmentation" / "configs"
FILES = [str(CONFIGS / "common.yaml"), str(CONFIGS / "compress.yaml")]
TINY = {"widths": [4, 8, 16], "synthetic#size": 32, "synthetic#num_images": 4, "recipe#patch_size": [32, 32],
        "recipe#max_epochs": 1, "progress": False}


@pytest.fixture
def dataset(tmp_path):
    from monai_ccnet.data.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path / "data", "discs", num_images=4, size=32)


def _split(dataset):
    return json.loads((dataset / "split.json").read_text())


def _size_mismatch(dataset):
    from PIL import Image

    Image.fromarray(np.zeros((30, 30), np.uint8)).save(dataset / "labels" / f"{_split(dataset)['train'][0]}.png")
    return {"dataset_dir": str(dataset)}, "label"


def _non_binary(dataset):
    from PIL import Image

    Image.fromarray((np.arange(32 * 32).reshape(32, 32) % 3).astype(np.uint8)).save(
        dataset / "labels" / f"{_split(dataset)['test'][0]}.png")
    return {"dataset_dir": str(dataset)}, "label is not binary"


def _truncated(dataset):
    image = dataset / "images" / f"{_split(dataset)['train'][0]}.png"
    image.write_bytes(image.read_bytes()[:60])
    return {"dataset_dir": str(dataset)}, "cannot read the file"


def _empty_split(dataset):
    (dataset / "split.json").write_text(json.dumps({"train": [], "test": _split(dataset)["test"]}))
    return {"dataset_dir": str(dataset)}, "lists no image ids"


def _no_test(dataset):
    (dataset / "split.json").write_text(json.dumps({"train": _split(dataset)["train"]}))
    return {"dataset_dir": str(dataset)}, "held-out test split"


def _network_def(dataset, **block):
    """A user's bundle config whose network_def is ``block`` (over a small MONAI UNet)."""
    path = dataset.parent / "train.json"
    unet = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": [8, 16, 32],
            "strides": [2, 2], "num_res_units": 1}
    path.write_text(json.dumps({"network_def": {**unet, **block}}))
    return {"network_def_file": str(path)}


CASES = {
    "missing dataset_dir": lambda d: ({"dataset_dir": "/no/such/dataset"}, "dataset_dir not found"),
    "image/label size mismatch": _size_mismatch,
    "non-binary label": _non_binary,
    "truncated PNG": _truncated,
    "empty split": _empty_split,
    "no test split": _no_test,
    "unknown arch": lambda d: ({"arch": "resnet"}, "unknown architecture 'resnet'"),
    "unknown preset": lambda d: ({"degradation": "unet-f2-paper"}, "neither a file nor a preset"),
    "infeasible budget": lambda d: ({"disk_budget_mb": 0.00001, "disk_budget_counts": "weights"}, "raise the budget to at least"),
    # 0.002 MB holds the smallest network's weights (stages >= 2 channels: 450), not its files
    "files cannot fit": lambda d: ({"disk_budget_mb": 0.002}, "cannot hold the exported files"),
    "floor 1.5": lambda d: ({"constraint": "accuracy", "min_relative_accuracy": 1.5}, "must be in (0, 1)"),
    "unknown constraint": lambda d: ({"constraint": "speed"}, "constraint must be one of"),
    "full_accuracy 93": lambda d: ({"full_accuracy": 93}, "full_accuracy must be"),
    "2-D files for a 3-D network": lambda d: ({"dataset_dir": str(d), "spatial_dims": 3},
                                             "4 bad file(s) in the train/test splits, all with one problem"),
    "network_def unregistered": lambda d: (_network_def(d, _target_="VNet"), "registered: monai_ccnet.nets.ScalableUNet"),
    "network_def constraint": lambda d: (_network_def(d, norm=["group", {"num_groups": 8}], channels=[12, 16, 32]),
                                         "break a constraint: GroupNorm"),
    "network_def does not instantiate": lambda d: (_network_def(d, strides=[2]), "network_def does not instantiate"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_leaves_no_output(case, dataset, tmp_path, capsys):
    overrides, message = CASES[case](dataset)
    root = tmp_path / "run"
    with pytest.raises(Exception) as info:
        bundle.run("compress", config_file=FILES, bundle_root=str(root), **{**TINY, **overrides})
    error = find_config_error(info.value)
    assert error is not None, f"{case}: not a ConfigError in the chain: {info.value!r}"
    assert message in str(error), str(error)
    assert not (root / "compress").exists(), f"{case}: a refused run left {sorted((root / 'compress').rglob('*'))}"
    capsys.readouterr()
    bundle_excepthook(type(info.value), info.value, info.value.__traceback__)
    err = capsys.readouterr().err
    assert err == f"monai_ccnet: error: {one_line(str(error))}\n"
    assert "Traceback" not in err and "\n" not in err.rstrip("\n")


def test_hook_leaves_other_errors_alone(capsys):
    try:
        raise RuntimeError("Failed to evaluate x") from KeyError("a bug")
    except RuntimeError as err:
        bundle_excepthook(type(err), err, err.__traceback__)
    assert "Traceback" in capsys.readouterr().err
    assert one_line("3 bad files:\n  a.png: x\n  b.png: y") == "3 bad files: a.png: x; b.png: y"
    assert isinstance(ConfigError("x"), ValueError)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--dataset_dir", "/no/such/dataset"], "dataset_dir not found"),
        (["--constraint", "accuracy", "--min_relative_accuracy", "1.5"], "must be in (0, 1)"),
    ],
)
def test_command_line_prints_the_cause_last(tmp_path, overrides, message):
    cmd = [sys.executable, "-m", "monai.bundle", "run", "compress", "--config_file", repr(FILES),
           "--bundle_root", str(tmp_path), "--widths", "[4,8,16]", "--synthetic#size", "32",
           "--synthetic#num_images", "4", *overrides]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert lines[-1].startswith("monai_ccnet: error: ") and message in lines[-1], lines[-3:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "compress").exists()
