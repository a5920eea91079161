"""The training speed-ups of issue 18 keep trained numbers bit-identical (docs/RESULTS.md, training
throughput): the random training transforms run on plain tensors, batches reach the network as
plain tensors, and a short training gives the same weights with the speed-ups on and off."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.workflows import bundle_data, build_model, make_recipe, split_validation  # noqa: E402
from monai_ccnet.workflows import recipe as recipe_module  # noqa: E402
from monai_ccnet.workflows import training as training_module  # noqa: E402

RECIPE = dict(patch_size=[16, 16], image_size=32, num_samples=2, batch_size=2, max_epochs=2, epoch_length=3,
              val_interval=1, early_stop_patience=0, num_threads=None)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    folder = make_synthetic_dataset(tmp_path_factory.mktemp("speed"), "discs", num_images=6, size=40)
    return bundle_data(dataset_dir=str(folder))


@pytest.fixture
def fast_paths():
    saved = recipe_module.FAST_PATHS
    yield
    recipe_module.FAST_PATHS = saved


def _train(data, fast: bool):
    """A short build_training run; returns (weights, losses, network input types, best val F1)."""
    recipe_module.FAST_PATHS = fast
    from monai.utils import set_determinism

    fit, val = split_validation(data["train"], 0.2, 0)
    set_determinism(seed=0)
    network = build_model("unet", [2, 4, 4, 4, 4])
    seen: list[type] = []
    network.register_forward_pre_hook(lambda module, inputs: seen.append(type(inputs[0])))
    parts = training_module.build_training(network, fit, val, make_recipe(RECIPE), "cpu", 1, progress=False, seed=0)
    losses: list[float] = []
    from ignite.engine import Events

    trainer = parts["trainer"]
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(float(e.state.output[0]["loss"])))
    n_train = {}
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: n_train.setdefault("n", len(seen)))
    trainer.run()
    weights = {k: v.detach().clone() for k, v in network.state_dict().items()}
    return weights, losses, seen[: n_train["n"]], parts["evaluator"].state.best_metric


@pytest.fixture(scope="module")
def trained(items):
    """The same short training with the speed-ups on and off (MONAI's plain path)."""
    saved = recipe_module.FAST_PATHS
    try:
        return {fast: _train(items, fast) for fast in (True, False)}
    finally:
        recipe_module.FAST_PATHS = saved


def test_training_batches_reach_the_network_as_plain_tensors(trained):
    from monai.data import MetaTensor
    from monai.data.meta_obj import get_track_meta

    _, _, seen, best = trained[True]
    assert seen and all(t is torch.Tensor for t in seen), f"training network inputs: {set(seen)}"
    assert get_track_meta(), "metadata tracking is restored after the random transforms"
    assert best is not None and 0 <= best <= 1, "validation (Invertd needs MetaTensors) still runs"
    _, _, seen_plain, _ = trained[False]
    assert all(issubclass(t, MetaTensor) for t in seen_plain), "FAST_PATHS=False is MONAI's plain path"


def test_speed_ups_keep_trained_numbers_bit_identical(trained):
    fast_w, fast_losses, _, fast_best = trained[True]
    plain_w, plain_losses, _, plain_best = trained[False]
    assert fast_losses == plain_losses and len(fast_losses) == 6
    assert fast_best == plain_best
    assert fast_w.keys() == plain_w.keys() and all(torch.equal(fast_w[k], plain_w[k]) for k in fast_w)


def test_train_compose_patches_equal_the_plain_compose(items, fast_paths):
    """The same seeded transforms give the same patches with tracking on or off (CacheDataset split too)."""
    from monai.data import CacheDataset

    recipe = make_recipe(RECIPE)
    out = {}
    for fast in (True, False):
        recipe_module.FAST_PATHS = fast
        transform = recipe_module.train_transforms(recipe, 1)
        transform.set_random_state(seed=3)
        dataset = CacheDataset(items["train"][:3], transform, progress=False)
        out[fast] = [dataset[i] for i in range(3)] + [transform(items["train"][0])]
    for fast_patches, plain_patches in zip(out[True], out[False]):
        assert len(fast_patches) == len(plain_patches) == 2
        for a, b in zip(fast_patches, plain_patches):
            assert type(a["image"]) is torch.Tensor
            assert torch.equal(a["image"], b["image"].as_tensor()) and torch.equal(a["label"], b["label"].as_tensor())


def test_shared_decoded_items_equal_per_run_loading(items, fast_paths):
    """SharedCacheDataset decodes each file once per process; what it caches is what CacheDataset computes."""
    from monai.data import CacheDataset
    from monai.transforms import Compose

    recipe = make_recipe(RECIPE)
    chosen = items["train"][:3]
    for kind, make in (("train", lambda: recipe_module.train_transforms(recipe, 1)),
                       ("eval", lambda: Compose(recipe_module.load_transforms(1, recipe=recipe)))):
        what = training_module._decoded_key(kind, recipe, 1)
        first = training_module.SharedCacheDataset(chosen, make(), what, progress=False)
        second = training_module.SharedCacheDataset(chosen, make(), what, progress=False)
        plain = CacheDataset(chosen, make(), progress=False)
        assert all(a is b for a, b in zip(first._cache, second._cache)), "the second run reuses the decoded items"
        for shared, own in zip(second._cache, plain._cache):
            assert shared.keys() == own.keys()
            for key in own:
                a, b = shared[key], own[key]
                assert type(a) is type(b)
                assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)) if hasattr(b, "shape") else a == b, key
        other = training_module.SharedCacheDataset(chosen, make(), what + ("other",), progress=False)
        assert not any(a is b for a, b in zip(first._cache, other._cache)), "other transforms: their own items"
    recipe_module.FAST_PATHS = False
    off = training_module.SharedCacheDataset(chosen, Compose(recipe_module.load_transforms(1, recipe=recipe)),
                                           training_module._decoded_key("eval", recipe, 1), progress=False)
    assert not any(a is b for a, b in zip(first._cache, off._cache)), "FAST_PATHS=False: MONAI's per-run loading"
    assert training_module._item_fingerprint({"image": torch.zeros(2)}) is None, "in-memory items are not shared"


def test_two_evaluations_in_one_process_invert_their_own_resize(items, fast_paths):
    """Evaluation items are not shared across runs: Invertd undoes the recipe's resize by the ids of
    the transforms that made each item, so a second run's scoring in the same process (the probe's
    and a calibration worker's later runs, an int8 file scored after its float network) must get
    items made by its own transforms."""
    recipe_module.FAST_PATHS = True
    recipe = make_recipe(RECIPE)
    network = build_model("unet", [2, 4, 4, 4, 4]).eval()
    first = training_module.evaluate_network(network, items["test"], recipe, "cpu", 1)
    second = training_module.evaluate_network(network, items["test"], recipe, "cpu", 1)
    assert first == second
