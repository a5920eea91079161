"""What calibration records say about where the data is: a path relative to the working directory
(e.g. ``../shared/data/busi``), not the machine's absolute path, and one that loads the data again."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")

from monai_ccnet.data.synthetic import make_synthetic_datasets  # noqa: E402
from monai_ccnet.workflows import CalibrationSweep  # noqa: E402
from monai_ccnet.workflows import calibrate  # noqa: E402
from monai_ccnet.workflows.calibrate import portable_dir, run_key  # noqa: E402

WIDTHS = [4, 8, 16]


def test_portable_dir(tmp_path, monkeypatch):
    (tmp_path / "work" / "repo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "repo")
    assert portable_dir(tmp_path / "work" / "shared" / "data" / "busi") == os.path.join("..", "shared", "data", "busi")
    assert portable_dir(tmp_path / "work" / "repo" / "data" / "busi") == os.path.join("data", "busi")
    assert portable_dir("../shared/data/busi") == "../shared/data/busi"  # relative: as given


def test_records_and_provenance_hold_relative_dataset_folders(tmp_path, monkeypatch):
    folders = make_synthetic_datasets(str(tmp_path / "shared" / "data"), ["discs", "vessels"], num_images=4, size=32)
    assert all(Path(f).is_absolute() for f in folders.values())  # what find_datasets gives a calibration
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    sweep = CalibrationSweep(folders, str(tmp_path / "out"), widths=WIDTHS, multipliers=[1.0, 0.5], seeds=[0],
                             progress=False, plots=False, bootstrap=0, interval_bootstrap=0, fit_measures={"f1": "jpeg"})

    def trained(network, *args, **kwargs):  # no training: an accuracy that falls with the width
        weights = sum(p.numel() for p in network.parameters())
        f1 = 0.9 - 0.05 * (5 - math.log10(weights))
        return {"f1": f1, "iou": 0.8 * f1, "val_f1": f1, "epochs": 1, "best_epoch": 1, "device": "cpu", "precision": "fp32"}

    monkeypatch.setattr(calibrate, "train_and_evaluate", trained)
    records = []
    for name, c in (("discs", 0.05), ("vessels", 0.2)):
        for m in (1.0, 0.5):
            run = {"key": run_key(name, m, 0), "dataset": name, "multiplier": m, "seed": 0}
            records.append(sweep._train_one(run, {"jpeg": [c, c / 2, c / 4]}, in_channels=1))
    for record in records:
        assert record["dataset_dir"] == os.path.join("..", "shared", "data", record["dataset"])
        # what PlanCheck does with a calibration's records: load the data from them (same working directory)
        assert Path(record["dataset_dir"]).resolve() == Path(folders[record["dataset"]]).resolve()
    sweep.fit(records)
    saved = json.loads((tmp_path / "out" / "records.json").read_text())
    assert [r["dataset_dir"] for r in saved] == [r["dataset_dir"] for r in records]
    provenance = json.loads((tmp_path / "out" / "degradation_f1.json").read_text())["provenance"]
    assert provenance["datasets"] == {n: os.path.join("..", "shared", "data", n) for n in ("discs", "vessels")}


def test_old_records_with_absolute_paths_still_load(tmp_path):
    """Records written before (absolute ``dataset_dir``) give PlanCheck the same data."""
    folders = make_synthetic_datasets(str(tmp_path / "data"), ["discs", "vessels"], num_images=4, size=32)
    old = CalibrationSweep({n: str(Path(f).resolve()) for n, f in folders.items()}, str(tmp_path / "out"), widths=WIDTHS,
                           progress=False, plots=False)
    assert {n: len(d["train"]) for n, d in old.data.items()} == {"discs": 3, "vessels": 3}
