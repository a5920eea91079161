"""The workflow building blocks, in process: recipe, data resolution, rank coordination, planning
checks, reports, plots, and the bundle's configs and metadata."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.workflows import (  # noqa: E402
    CompressWorkflow,
    bundle_data,
    compress_markdown,
    make_recipe,
    markdown_table,
    model_widths,
    plot_degradation,
    run_key,
    split_validation,
)

CONFIGS = REPO / "bundles" / "ccnet_segmentation" / "configs"


def test_recipe_defaults_overrides_and_errors():
    recipe = make_recipe({"max_epochs": 3}, patch_size=64)
    assert recipe["max_epochs"] == 3 and recipe["patch_size"] == [64] and recipe["loss"] == "dicece"
    with pytest.raises(ValueError, match=r"unknown recipe key\(s\) \['epochs'\]"):
        make_recipe({"epochs": 3})
    with pytest.raises(ValueError, match="loss 'focal' is unknown"):
        make_recipe(loss="focal")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make_recipe(batch_size=0)


def test_recipe_image_size_resizes_images_and_scores_at_label_size(tmp_path):
    from monai.transforms import Compose

    from monai_ccnet.workflows import build_model, evaluate_network, load_transforms, train_transforms

    item = bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path, "discs", num_images=4, size=64)))["test"][0]
    recipe = make_recipe(patch_size=[16, 16], image_size=32)
    loaded = Compose(load_transforms(1, recipe=recipe))(item)
    assert tuple(loaded["image"].shape) == (1, 32, 32) and tuple(loaded["label"].shape) == (1, 64, 64)
    patches = train_transforms(recipe, 1)(item)
    assert tuple(patches[0]["image"].shape) == tuple(patches[0]["label"].shape) == (1, 16, 16)
    assert set(torch.unique(patches[0]["label"]).tolist()) <= {0.0, 1.0}
    scores = evaluate_network(build_model("unet", [2, 4, 4, 4, 4]), [item], recipe, "cpu", 1)
    assert set(scores) == {"f1", "iou"}, "predictions resized back to the label's size before scoring"
    with pytest.raises(ValueError, match="image_size must be positive"):
        make_recipe(image_size=0)


def test_validation_split_is_deterministic_and_disjoint():
    items = [{"image": f"{i}.png", "id": str(i)} for i in range(10)]
    train, val = split_validation(items, 0.2, seed=0)
    assert (train, val) == split_validation(items, 0.2, seed=0)
    assert len(val) == 2 and len(train) == 8 and not {i["id"] for i in train} & {i["id"] for i in val}
    assert split_validation(items[:1], 0.2) == (items[:1], items[:1]), "one item validates on itself"


def test_run_keys_are_unique_file_names():
    keys = {run_key(d, m, s) for d in ("a b", "c/d") for m in (1, 0.25, 1 / 64) for s in (0, 1)}
    assert len(keys) == 12 and all("/" not in k and " " not in k for k in keys)
    assert run_key("cells", 0.0625, 1) == "cells__m0.0625__s1"


@pytest.fixture
def tiny_dataset(tmp_path):
    return make_synthetic_dataset(tmp_path / "data", "discs", num_images=4, size=32)


def test_bundle_data_errors_name_the_problem(tmp_path, tiny_dataset):
    data = bundle_data(dataset_dir=str(tiny_dataset))
    assert data["name"] == "discs" and len(data["train"]) == 3 and len(data["test"]) == 1
    synthetic = bundle_data(synthetic_dir=str(tmp_path / "syn"), synthetic={"num_images": 4, "size": 32}, target="vessels")
    assert synthetic["name"] == "synthetic-vessels"
    with pytest.raises(FileNotFoundError, match="dataset_dir not found: /no/such"):
        bundle_data(dataset_dir="/no/such")
    with pytest.raises(ValueError, match="not both"):
        bundle_data(dataset_dir=str(tiny_dataset), datalist="x.json")
    split = json.loads((tiny_dataset / "split.json").read_text())
    (tiny_dataset / "split.json").write_text(json.dumps({"train": split["train"] + split["test"], "test": split["test"]}))
    with pytest.raises(ValueError, match="in both train and test"):
        bundle_data(dataset_dir=str(tiny_dataset))
    (tiny_dataset / "split.json").write_text(json.dumps({"train": split["train"]}))
    with pytest.raises(ValueError, match=r"no split .test. \(found \[.train.\]\)\. This run evaluates on a held-out test split: add"):
        bundle_data(dataset_dir=str(tiny_dataset))


def test_bundle_data_lists_every_bad_file_before_training(tiny_dataset):
    import numpy as np
    from PIL import Image

    split = json.loads((tiny_dataset / "split.json").read_text())
    first, last = split["train"][0], split["test"][0]
    (tiny_dataset / "images" / f"{first}.png").write_bytes(b"broken")
    Image.fromarray(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32) % 3).save(tiny_dataset / "labels" / f"{last}.png")
    with pytest.raises(ValueError, match="2 bad file\\(s\\) in the train/test splits") as err:
        bundle_data(dataset_dir=str(tiny_dataset))
    assert f"images/{first}.png: cannot read the file" in str(err.value)
    assert f"labels/{last}.png: label is not binary: found 3 values [0, 1, 2]" in str(err.value)
    assert bundle_data(dataset_dir=str(tiny_dataset), check_files=False)["test"], "the check can be turned off"
    with pytest.raises(ValueError, match="but the network is 3-D"):
        bundle_data(dataset_dir=str(make_synthetic_dataset(tiny_dataset.parent / "ok", "discs", num_images=4, size=32)),
                    spatial_dims=3)


def test_calibration_refuses_unfittable_designs_before_training(tmp_path):
    from monai_ccnet.workflows import CalibrationSweep

    a = str(make_synthetic_dataset(tmp_path / "a", "discs", num_images=4, size=32))
    common = dict(output_dir=str(tmp_path / "out"), widths=[4, 8], progress=False, plots=False)
    from monai_ccnet.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 2 datasets"):  # one line in a bundle run
        CalibrationSweep({"a": a}, multipliers=[1, 0.5], **common)
    with pytest.raises(ValueError, match="fewer than 2 distinct networks"):
        CalibrationSweep({"a": a, "b": a}, multipliers=[1.0, 0.95], **common)  # 0.95 rounds back to widths 4-8
    sweep = CalibrationSweep({"a": a, "b": a}, multipliers=[1, 0.5], seeds=[0], **common)
    with pytest.raises(ValueError, match="same complexity 'jb'.*degenerate"):
        sweep.run()
    assert not (tmp_path / "out" / "runs").exists(), "nothing was trained"


def test_compress_checks_constraint_and_plan_before_training(tmp_path, tiny_dataset):
    data = bundle_data(dataset_dir=str(tiny_dataset))
    common = dict(data=data, output_dir=str(tmp_path / "out"), widths=[4, 8, 16], progress=False)
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        CompressWorkflow(arch="resnet", disk_budget_mb=1, **common)
    with pytest.raises(ValueError, match="constraint must be one of"):
        CompressWorkflow(constraint="speed", **common)
    with pytest.raises(ValueError, match="needs a value for min_relative_accuracy"):
        CompressWorkflow(constraint="accuracy", **common)
    # the selected constraint wins over the other budgets' defaults
    workflow = CompressWorkflow(constraint="accuracy", disk_budget_mb=1.0, min_relative_accuracy=0.9, **common)
    plan, model = workflow.plan()
    assert plan.constraint["kind"] == "accuracy" and plan.predicted_relative_accuracy >= 0.9
    assert model.metric == "f1" and len(plan.complexity) == 3
    with pytest.raises(ValueError, match="disk budget"):
        CompressWorkflow(disk_budget_mb=1e-6, **common).plan()
    assert not (tmp_path / "out" / "models").exists(), "nothing is trained or exported by a failed plan"


def test_model_widths_from_multipliers_or_plan(tmp_path, tiny_dataset):
    assert model_widths([4, 8, 16], 0.5) == [2, 4, 8]
    data = bundle_data(dataset_dir=str(tiny_dataset))
    plan, _ = CompressWorkflow(data, str(tmp_path), widths=[4, 8, 16], disk_budget_mb=0.005, progress=False).plan()
    plan.save(tmp_path / "plan.json")
    assert model_widths([64, 128], None, str(tmp_path / "plan.json")) == plan.widths
    (tmp_path / "corrupt.json").write_text("{oops")
    for name, message in (("nope.json", "cannot read the compression plan"), ("corrupt.json", "not valid JSON")):
        with pytest.raises(ValueError, match=f"plan_file: .*{name}: {message}.*models/plan.json"):
            model_widths([4, 8], None, str(tmp_path / name))


def test_markdown_report_shows_predicted_and_achieved():
    report = {
        "arch": "unet", "dataset": "cells", "layerwise": False, "satisfied": True, "device": "cpu",
        "constraint": {"kind": "disk", "value": 1.0, "unit": "MB"}, "complexity": [0.1, 0.05],
        "degradation": {"source": "unet-f1-paper", "measure": "jpeg", "lam": 0.437, "delta": 0.0103},
        "predicted": {"metric": "f1", "relative_accuracy": 0.9, "f1": 0.72},
        "compressed": {"widths": [2, 4], "weights": 100, "disk_bytes": 400, "latency_ms": 1.0, "f1": 0.7, "iou": 0.5,
                       "relative_f1": 0.875, "latency_input": [1, 1, 32, 32]},
        "full": {"widths": [4, 8], "weights": 400, "disk_bytes": 1600, "latency_ms": 2.0, "f1": 0.8, "iou": 0.6},
        "compression": {"weights_ratio": 4.0, "speedup": 2.0},
        "files": {"report": "r.json"},
    }
    text = compress_markdown(report)
    assert "| predicted | 0.9 | 0.72 |" in text and "| achieved | 0.875 | 0.7 |" in text
    assert "| compressed | 2-4 | 100 |" in text and "4x fewer" in text
    assert markdown_table(["a"], [[None]]) == "| a |\n|---|\n| - |"


def test_degradation_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from monai_ccnet.planning import fit_degradation

    records = []
    for name, c, slope in (("easy", 0.05, 0.03), ("hard", 0.2, 0.1)):
        for m, weights in ((1.0, 10000), (0.5, 2500), (0.25, 625)):
            f1 = 0.9 * (1 - slope * (4 - __import__("math").log10(weights)))
            records.append({"dataset": name, "complexity": {"jpeg": [c, c / 2]}, "multiplier": m, "widths": [4, 8],
                            "weights": weights, "seed": 0, "f1": f1, "iou": f1 * 0.8})
    model = fit_degradation(records, "f1", "jpeg", bootstrap=0)
    assert model.lam == pytest.approx((0.1 - 0.03) / 0.15)
    path = plot_degradation(records, model, tmp_path / "fig6.png")
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


def test_metadata_has_the_bundle_spec_keys():
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    required = {"version", "changelog", "monai_version", "pytorch_version", "numpy_version", "required_packages_version",
                "task", "description", "authors", "copyright", "network_data_format"}
    assert required <= set(meta)
    assert meta["version"] in meta["changelog"]
    import monai

    assert meta["monai_version"] == monai.__version__
    fmt = meta["network_data_format"]
    assert fmt["inputs"]["image"]["num_channels"] == 1 and fmt["outputs"]["pred"]["num_channels"] == 2


def test_bundle_defaults_are_the_python_defaults(tmp_path):
    """One source for the bundle's defaults. MONAI's ``--recipe#key value`` override cannot reach
    into a ``$`` expression, so common.yaml spells the recipe out: it must be ``DEFAULT_RECIPE``,
    key for key. calibrate.yaml takes ``DEFAULT_MULTIPLIERS`` itself; its ``fit_measures``, ``seeds``
    and ``bootstrap`` must be ``CalibrationSweep``'s defaults."""
    from monai.bundle import ConfigParser

    from monai_ccnet.data.synthetic import make_synthetic_datasets
    from monai_ccnet.workflows import DEFAULT_MULTIPLIERS, DEFAULT_RECIPE, CalibrationSweep

    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "common.yaml"), str(CONFIGS / "calibrate.yaml")])
    assert parser["recipe"] == DEFAULT_RECIPE
    assert parser.get_parsed_content("multipliers_sweep") == list(DEFAULT_MULTIPLIERS)
    datasets = make_synthetic_datasets(tmp_path, ["discs", "cells"], num_images=4, size=32)
    sweep = CalibrationSweep(datasets, str(tmp_path / "calibration"), widths=[4, 8, 16])
    assert sweep.multipliers == list(DEFAULT_MULTIPLIERS)
    assert (parser["fit_measures"], parser["seeds"], parser["bootstrap"]) == (sweep.fit_measures, sweep.seeds, sweep.bootstrap)
    # the CPU profile replaces the recipe on purpose, with known keys only
    cpu = ConfigParser.load_config_file(str(CONFIGS / "calibrate_cpu.yaml"))["recipe"]
    assert set(cpu) <= set(DEFAULT_RECIPE) and cpu != {k: DEFAULT_RECIPE[k] for k in cpu}


@pytest.mark.parametrize(
    "workflow, ids",
    [
        # MONAI's train / inference properties themselves: tests/test_bundle_properties.py (check_properties)
        ("train", ["bundle_root", "device", "dataset_dir", "network_def", "train#trainer", "train#dataset",
                   "train#preprocessing", "train#handlers", "train#inferer", "validate#evaluator",
                   "validate#handlers", "max_epochs", "val_interval", "run", "training"]),
        ("evaluate", ["evaluator", "dataset", "preprocessing", "inferer", "postprocessing", "handlers", "network_def",
                      "run", "evaluate"]),
        ("inference", ["evaluator", "dataset", "inferer", "network_def", "run", "inference"]),
        ("compress", ["compression", "run", "compress"]),
        ("calibrate", ["calibration", "run", "calibrate"]),
        ("complexity", ["run", "complexity"]),
    ],
)
def test_configs_merge_and_define_the_property_ids(workflow, ids):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "common.yaml"), str(CONFIGS / f"{workflow}.yaml")])
    for key in ids:
        assert key in parser, f"{workflow}: missing {key}"
    assert parser["imports"] == ConfigParser.load_config_file(str(CONFIGS / "common.yaml"))["imports"]
    assert "imports" not in ConfigParser.load_config_file(str(CONFIGS / f"{workflow}.yaml")), "override files keep imports"
