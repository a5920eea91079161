"""The bundle's train / evaluate / inference configs as MONAI ``ConfigWorkflow`` s, in process: every
property MONAI defines for the workflow type is present, and the property ids are the objects the run
uses (overriding ``train#handlers`` or ``train#preprocessing`` changes what the trainer runs)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai.bundle import ConfigWorkflow  # noqa: E402

CONFIGS = REPO / "bundles" / "ccnet_segmentation" / "configs"

#: a 3-stage U-Net of widths 4-8-16 on eight 32 x 32 synthetic images: builds and trains in seconds
TINY = {
    "widths": [4, 8, 16],
    "synthetic_target": "discs",
    "synthetic#size": 32,
    "synthetic#num_images": 8,
    "recipe#patch_size": [32, 32],
    "recipe#max_epochs": 2,
    "recipe#batch_size": 2,
    "recipe#early_stop_patience": 0,
    "recipe#num_threads": None,
    "progress": False,
    "device": "cpu",
}


def workflow(name: str, workflow_type: str, bundle_root, **overrides) -> ConfigWorkflow:
    """``common.yaml`` + ``<name>.yaml`` as a ConfigWorkflow on the TINY settings, initialised."""
    files = [str(CONFIGS / "common.yaml"), str(CONFIGS / f"{name}.yaml")]
    wf = ConfigWorkflow(
        config_file=files, workflow_type=workflow_type, bundle_root=str(bundle_root), **{**TINY, **overrides}
    )
    wf.initialize()
    return wf


def test_train_properties_are_the_objects_the_run_uses(tmp_path):
    wf = workflow("train", "train", tmp_path)
    assert wf.check_properties() == [], "missing or wrongly referenced train properties"
    trainer, evaluator = wf.trainer, wf.evaluator
    assert trainer.data_loader.dataset is wf.train_dataset
    assert wf.train_dataset.transform is wf.train_preprocessing
    assert trainer.inferer is wf.train_inferer and wf.train_postprocessing is None
    assert trainer.state.max_epochs == wf.max_epochs == 2
    validation = wf.train_handlers[0]
    assert validation.validator is evaluator and validation.interval == wf.val_interval
    assert evaluator.data_loader.dataset is wf.val_dataset and wf.val_dataset.transform is wf.val_preprocessing
    assert evaluator.inferer is wf.val_inferer
    # scored at the label's size: the postprocessing inverts this very preprocessing
    assert wf.val_postprocessing.transforms[0].transform is wf.val_preprocessing
    assert list(wf.val_key_metric) == [evaluator.state.key_metric_name] == ["val_f1"]


def test_train_handlers_override_changes_the_trainer(tmp_path):
    """The handlers the trainer runs are ``train#handlers``: replaced by one checkpoint saver, the
    validation never runs and the saver writes its file."""
    saver = {
        "_target_": "CheckpointSaver",
        "save_dir": str(tmp_path / "final"),
        "save_dict": {"model": "@network"},
        "save_final": True,
        "final_filename": "final.pt",
    }
    wf = workflow("train", "train", tmp_path, **{"train#handlers": [saver], "recipe#max_epochs": 1})
    assert [type(h).__name__ for h in wf.train_handlers] == ["CheckpointSaver"]
    wf.trainer.run()
    assert (tmp_path / "final" / "final.pt").is_file()
    assert wf.evaluator.state.epoch == 0, "no ValidationHandler: the evaluator must not have run"


def test_train_preprocessing_override_changes_the_dataset(tmp_path):
    plain = "$monai.transforms.Compose(monai_ccnet.workflows.load_transforms(@in_channels, resize_label=True))"
    wf = workflow("train", "train", tmp_path, **{"train#preprocessing": plain})
    transform = wf.trainer.data_loader.dataset.transform
    assert transform is wf.train_preprocessing
    assert not any(type(t).__name__ == "RandCropByPosNegLabeld" for t in transform.transforms)


def test_train_bundle_trains_like_build_training(tmp_path):
    """train.yaml wires the recipe's pieces itself: the same seed gives bit-identical weights as
    ``build_training`` (what calibrate and compress train with), with early stopping on."""
    from monai.utils import set_determinism

    from monai_ccnet.workflows import build_model, build_training, make_recipe

    overrides = {"recipe#max_epochs": 3, "recipe#early_stop_patience": 5}
    wf = workflow("train", "train", tmp_path, **overrides)
    wf.run()
    assert (tmp_path / "models" / "model.pt").is_file()
    fit_items, val_items = wf.parser.get_parsed_content("train_val_split")
    set_determinism(seed=0)
    network = build_model("unet", [4, 8, 16], spatial_dims=2, in_channels=1, out_channels=2)
    recipe = make_recipe(wf.parser.get_parsed_content("recipe"))
    parts = build_training(network, fit_items, val_items, recipe, "cpu", in_channels=1, progress=False, seed=0)
    parts["trainer"].run()
    assert parts["trainer"].state.iteration == wf.trainer.state.iteration > 0
    assert parts["evaluator"].state.best_metric == wf.evaluator.state.best_metric
    expected, trained = network.state_dict(), wf.parser.get_parsed_content("network").state_dict()
    assert expected.keys() == trained.keys()
    assert all(torch.equal(expected[k], trained[k]) for k in expected)


@pytest.mark.parametrize("name, workflow_type", [("evaluate", "eval"), ("inference", "infer")])
def test_evaluate_and_inference_define_the_inference_properties(tmp_path, name, workflow_type):
    wf = workflow(name, workflow_type, tmp_path)
    assert wf.check_properties() == [], f"{name}: missing or wrongly referenced properties"
    evaluator = wf.evaluator
    assert evaluator.data_loader.dataset is wf.dataset and wf.dataset.transform is wf.preprocessing
    assert evaluator.inferer is wf.inferer
    assert wf.postprocessing.transforms[0].transform is wf.preprocessing, "Invertd of the preprocessing first"


def test_train_evaluate_inference_with_image_size(tmp_path):
    """With the recipe's ``image_size`` the network sees resized images; evaluate scores and
    inference writes at the images' own 32 x 32 size (Invertd of the preprocessing)."""
    import json

    import numpy as np
    from PIL import Image

    resized = {"recipe#image_size": 24, "recipe#patch_size": [16, 16], "recipe#max_epochs": 1}
    workflow("train", "train", tmp_path, **resized).run()
    assert (tmp_path / "models" / "model.pt").is_file()
    workflow("evaluate", "eval", tmp_path, **resized).run()
    metrics = json.loads((tmp_path / "eval" / "evaluate" / "metrics.json").read_text())
    assert sorted(metrics) == ["f1", "iou"] and all(0 <= v <= 1 for v in metrics.values())
    workflow("inference", "infer", tmp_path, **resized).run()
    masks = sorted((tmp_path / "eval" / "inference").glob("*_seg.png"))
    assert masks and all(np.asarray(Image.open(m)).shape == (32, 32) for m in masks)
