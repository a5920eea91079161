"""The recipe's MONAI engines (:mod:`~monai_ccnet.workflows.recipe`), wired once for every run that
trains or scores a network: the validation split (:func:`split_validation`), ``SupervisedTrainer``
/ ``SupervisedEvaluator`` with their handlers (:func:`build_training`: validation, early stopping,
the best weights kept, checkpoints, TensorBoard, :class:`ProgressBarHandler`), the datasets whose
decoded items the runs of a process share (:class:`SharedCacheDataset`), scoring
(:func:`evaluate_network`, :func:`save_metrics`) and both together (:func:`train_and_evaluate`)."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from monai.data import CacheDataset, DataLoader, Dataset
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import (
    CheckpointSaver,
    EarlyStopHandler,
    StatsHandler,
    ValidationHandler,
    from_engine,
    stopping_fn_from_metric,
)
from monai.inferers import SimpleInferer
from monai.transforms import Compose
from monai.utils import optional_import, set_determinism

from monai_ccnet.utils import as_bool, atomic_write_json

from . import recipe as _recipe
from .recipe import load_transforms, loss_function, make_recipe, post_transforms, segmentation_metrics, train_transforms, val_inferer
from .runtime import apply_num_threads, autocast_dtype, resolve_device, with_autocast

__all__ = [
    "split_validation",
    "SharedCacheDataset",
    "ProgressBarHandler",
    "build_training",
    "evaluate_network",
    "train_and_evaluate",
    "save_metrics",
]

logger = logging.getLogger(__name__)


def split_validation(items: Sequence[Mapping], fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Deterministic (train, validation) split of the training items; the test split stays untouched.

    With a single training item (or ``fraction == 0``) that item also serves for validation.
    """
    items = list(items)
    if not items:
        raise ValueError("the training split is empty.")
    n_val = int(round(fraction * len(items)))
    if fraction <= 0 or len(items) < 2:
        return items, items
    n_val = min(len(items) - 1, max(1, n_val))
    order = np.random.RandomState(seed).permutation(len(items))
    val = [items[i] for i in sorted(order[:n_val])]
    train = [items[i] for i in sorted(order[n_val:])]
    return train, val


#: decoded (deterministically transformed) items this process already loaded, shared by its runs:
#: ``(what, item fingerprint) -> (cached item, bytes)``; at most ``_DECODED_MAX_BYTES`` of
#: tensors, the oldest dropped first
_DECODED: "OrderedDict[tuple, tuple]" = OrderedDict()
_DECODED_MAX_BYTES = 2 * 1024**3
_DECODED_BYTES = [0]
_DECODED_LOCK = threading.Lock()


def _nbytes(item) -> int:
    if isinstance(item, Mapping):
        return sum(_nbytes(v) for v in item.values())
    if isinstance(item, (list, tuple)):
        return sum(_nbytes(v) for v in item)
    if isinstance(item, torch.Tensor):
        return item.numel() * item.element_size()
    return int(getattr(item, "nbytes", 0) or 0)


def _item_fingerprint(item: Mapping) -> tuple | None:
    """An item's files (path, size, modification time) and other values; None (do not share) when
    a value is not a file path or a plain scalar (e.g. an array)."""
    key = []
    for name in sorted(item, key=str):
        value = item[name]
        if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
            stat = os.stat(value)
            key.append((str(name), os.fspath(value), stat.st_size, stat.st_mtime_ns))
        elif isinstance(value, (str, int, float, bool, type(None))):
            key.append((str(name), value))
        else:
            return None
    return tuple(key)


class SharedCacheDataset(CacheDataset):
    """``CacheDataset`` whose cached items (the deterministic part of the transform: read, match
    channels, scale, resize, pad, foreground indices) are shared by every run of this process that
    loads the same files with the same deterministic transforms (``what``): the runs of a probe or
    a calibration worker decode and resize each image once instead of once per run. Training items
    only: evaluation items keep the ids of the transforms that made them for ``Invertd``. The cached
    item is the one ``CacheDataset`` would compute (random transforms still start from a copy of
    it), so trained numbers are bit-identical. Off with ``FAST_PATHS = False``."""

    def __init__(self, data, transform, what: tuple, **kwargs):
        self.what = what
        super().__init__(data, transform, **kwargs)

    def _load_cache_item(self, idx: int):
        fingerprint = _item_fingerprint(self.data[idx]) if _recipe.FAST_PATHS else None
        if fingerprint is None:
            return super()._load_cache_item(idx)
        key = (self.what, fingerprint)
        hit = _DECODED.get(key)
        if hit is not None:
            return hit[0]
        item = super()._load_cache_item(idx)
        size = _nbytes(item)
        if size <= _DECODED_MAX_BYTES:
            with _DECODED_LOCK:  # CacheDataset fills its cache from a thread pool
                if key not in _DECODED:
                    _DECODED[key] = (item, size)
                    _DECODED_BYTES[0] += size
                while _DECODED_BYTES[0] > _DECODED_MAX_BYTES and _DECODED:
                    _DECODED_BYTES[0] -= _DECODED.popitem(last=False)[1][1]
        return item


def _dataset(items, transform, recipe, what: tuple | None = None):
    """A ``CacheDataset`` (shared decoded items when ``what`` names the deterministic transforms), or
    a plain ``Dataset`` with ``cache_rate`` 0."""
    if recipe["cache_rate"] > 0:
        if what is not None:
            return SharedCacheDataset(items, transform, what, cache_rate=recipe["cache_rate"], progress=False)
        return CacheDataset(items, transform, cache_rate=recipe["cache_rate"], progress=False)
    return Dataset(items, transform)


def _decoded_key(kind: str, recipe: Mapping, in_channels: int) -> tuple:
    # everything the deterministic part of the recipe's transforms depends on
    return (kind, int(in_channels), recipe["image_size"], tuple(recipe["patch_size"]))


class _KeepBestWeights:
    """Evaluator handler: a CPU copy of the network's weights whenever the key metric improves."""

    def __init__(self, network: torch.nn.Module):
        self.network = network
        self.state_dict: dict | None = None

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine) -> None:
        if engine.state.best_metric_epoch == engine.state.epoch:
            self.state_dict = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}


def build_training(
    network: torch.nn.Module,
    train_items: Sequence[Mapping],
    val_items: Sequence[Mapping],
    recipe: Mapping | None = None,
    device: str | torch.device | None = None,
    in_channels: int = 1,
    output_dir: str | None = None,
    progress: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """The MONAI engines of the recipe, wired together.

    Returns a dict with the bundle-property names as keys: ``trainer``, ``evaluator``,
    ``train_dataset``, ``val_dataset``, ``train_preprocessing``, ``val_preprocessing``,
    ``postprocessing``, ``train_inferer``, ``val_inferer``, ``train_handlers``, ``val_handlers``,
    plus ``best_weights`` (holds the best validation weights after ``trainer.run()``).
    ``output_dir`` (optional) receives the best checkpoint ``model.pt`` and TensorBoard logs.
    """
    recipe = make_recipe(recipe)
    device = resolve_device(device)
    apply_num_threads(recipe["num_threads"])
    set_determinism(seed=seed)
    network = network.to(device)

    train_pre = train_transforms(recipe, in_channels)
    train_pre.set_random_state(seed=seed)
    val_pre = Compose(load_transforms(in_channels, recipe=recipe))
    post = post_transforms(val_pre)
    train_ds = _dataset(list(train_items), train_pre, recipe, _decoded_key("train", recipe, in_channels))
    # evaluation items are not shared between runs: Invertd undoes their resize by the ids of the
    # transforms that made them, and a later run's Compose has other ids (it refuses the inverse)
    val_ds = _dataset(list(val_items), val_pre, recipe)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        train_ds, batch_size=recipe["batch_size"], shuffle=True, num_workers=recipe["num_workers"], generator=generator
    )
    val_loader = DataLoader(val_ds, batch_size=1, num_workers=recipe["num_workers"])

    key_metric, extra_metrics = segmentation_metrics("val_")
    best = _KeepBestWeights(network)
    val_handlers: list = [StatsHandler(iteration_log=False, name="ccnet.validate"), best]
    tensorboard = optional_import("torch.utils.tensorboard")[1] and optional_import("tensorboard")[1]
    if output_dir is not None:
        val_handlers.append(
            CheckpointSaver(save_dir=output_dir, save_dict={"model": network}, save_key_metric=True, key_metric_filename="model.pt")
        )
    early_stop = None
    if recipe["early_stop_patience"] > 0:
        early_stop = EarlyStopHandler(
            patience=int(recipe["early_stop_patience"]), score_function=stopping_fn_from_metric("val_f1")
        )
        val_handlers.append(early_stop)
    evaluator = SupervisedEvaluator(
        device=device,
        val_data_loader=val_loader,
        network=network,
        inferer=with_autocast(val_inferer(recipe), recipe, device),
        postprocessing=post,
        key_val_metric=key_metric,
        additional_metrics=extra_metrics,
        val_handlers=val_handlers,
    )

    train_handlers: list = [
        ValidationHandler(validator=evaluator, interval=recipe["val_interval"], epoch_level=True),
        StatsHandler(
            tag_name="train_loss", iteration_log=False, output_transform=from_engine(["loss"], first=True), name="ccnet.train"
        ),
    ]
    if output_dir is not None and tensorboard:
        from monai.handlers import TensorBoardStatsHandler

        log_dir = str(Path(output_dir) / "tensorboard")
        train_handlers.append(
            TensorBoardStatsHandler(log_dir=log_dir, tag_name="train_loss", output_transform=from_engine(["loss"], first=True))
        )
        TensorBoardStatsHandler(log_dir=log_dir, iteration_log=False).attach(evaluator)
    if as_bool(progress, "progress"):
        train_handlers.append(ProgressBarHandler(persist=False))
    optimizer = torch.optim.Adam(network.parameters(), lr=float(recipe["learning_rate"]), eps=float(recipe["adam_eps"]))
    trainer = SupervisedTrainer(
        device=device,
        max_epochs=recipe["max_epochs"],
        epoch_length=recipe["epoch_length"],
        train_data_loader=train_loader,
        network=network,
        optimizer=optimizer,
        loss_function=loss_function(recipe["loss"]),
        inferer=with_autocast(SimpleInferer(), recipe, device),
        train_handlers=train_handlers,
    )
    if early_stop is not None:
        early_stop.set_trainer(trainer)
    return {
        "trainer": trainer,
        "evaluator": evaluator,
        "network": network,
        "optimizer": optimizer,
        "train_dataset": train_ds,
        "val_dataset": val_ds,
        "train_preprocessing": train_pre,
        "val_preprocessing": val_pre,
        "postprocessing": post,
        "train_inferer": trainer.inferer,
        "val_inferer": evaluator.inferer,
        "train_handlers": train_handlers,
        "val_handlers": val_handlers,
        "best_weights": best,
    }


class ProgressBarHandler:
    """Training progress as a MONAI-style handler (``.attach(engine)``), so that a bundle config lists
    it in ``train#handlers``. On a terminal, ignite's ``ProgressBar`` showing the running loss
    (``persist``: keep the finished bar); when ``sys.stderr`` is not one (a redirected run, a log
    file), one ``logging`` line per epoch on logger ``name`` with the epoch's mean loss instead of the
    bar's carriage-return redraws."""

    def __init__(self, persist: bool = False, name: str = "ccnet.train"):
        self.logger = logging.getLogger(name)
        self.bar = None
        if _is_terminal(sys.stderr):
            from ignite.handlers import ProgressBar

            self.bar = ProgressBar(persist=persist)
        self._losses: list[float] = []

    def attach(self, engine) -> None:
        if self.bar is not None:
            self.bar.attach(engine, output_transform=from_engine(["loss"], first=True))
            return
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _epoch_started(self, engine) -> None:
        self._losses = []

    def _iteration_completed(self, engine) -> None:
        self._losses.append(float(from_engine(["loss"], first=True)(engine.state.output)))

    def _epoch_completed(self, engine) -> None:
        loss = f"{sum(self._losses) / len(self._losses):.4f}" if self._losses else "n/a"
        self.logger.info(
            f"epoch {engine.state.epoch}/{engine.state.max_epochs}: mean loss {loss} over {len(self._losses)} iterations"
        )


def _is_terminal(stream) -> bool:
    """Whether ``stream`` is an open terminal (``sys.stderr`` may be None, or closed, when there is none)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def evaluate_network(
    network: torch.nn.Module,
    items: Sequence[Mapping],
    recipe: Mapping | None = None,
    device: str | torch.device | None = None,
    in_channels: int = 1,
) -> dict[str, float]:
    """Foreground F1 and IoU of ``network`` on ``items`` (whole images, sliding window)."""
    recipe = make_recipe(recipe)
    device = resolve_device(device)
    if not items:
        raise ValueError("cannot evaluate on an empty split.")
    apply_num_threads(recipe["num_threads"])
    key_metric, extra_metrics = segmentation_metrics()
    preprocessing = Compose(load_transforms(in_channels, recipe=recipe))
    loader = DataLoader(_dataset(list(items), preprocessing, recipe), batch_size=1)  # not shared: see build_training
    evaluator = SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network.to(device),
        inferer=with_autocast(val_inferer(recipe), recipe, device),
        postprocessing=post_transforms(preprocessing),
        key_val_metric=key_metric,
        additional_metrics=extra_metrics,
    )
    evaluator.run()
    return {name: float(evaluator.state.metrics[name]) for name in ("f1", "iou")}


def train_and_evaluate(
    network: torch.nn.Module,
    train_items: Sequence[Mapping],
    test_items: Sequence[Mapping],
    recipe: Mapping | None = None,
    device: str | torch.device | None = None,
    in_channels: int = 1,
    output_dir: str | None = None,
    progress: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Train with the recipe (validation on a held-out part of ``train_items``), restore the best
    validation weights, and evaluate F1 / IoU on ``test_items``.

    Returns ``{"f1", "iou", "val_f1", "best_epoch", "epochs", "steps", "train_seconds", "device",
    "precision"}`` (``precision``: "bf16" when autocast ran, else "fp32").
    """
    recipe = make_recipe(recipe)
    fit_items, val_items = split_validation(train_items, recipe["val_fraction"], seed)
    start = time.perf_counter()
    parts = build_training(network, fit_items, val_items, recipe, device, in_channels, output_dir, progress, seed)
    parts["trainer"].run()
    train_seconds = time.perf_counter() - start
    evaluator = parts["evaluator"]
    if parts["best_weights"].state_dict is not None:
        network.load_state_dict(parts["best_weights"].state_dict)
    metrics = evaluate_network(network, test_items, recipe, device, in_channels)
    best_val = evaluator.state.best_metric
    return {
        **metrics,
        "val_f1": float(best_val) if best_val is not None and math.isfinite(best_val) else None,
        "best_epoch": int(evaluator.state.best_metric_epoch),
        "epochs": int(parts["trainer"].state.epoch),
        "steps": int(parts["trainer"].state.iteration),
        "train_seconds": round(train_seconds, 3),
        "device": str(resolve_device(device)),
        "precision": "bf16" if autocast_dtype(recipe, resolve_device(device)) == torch.bfloat16 else "fp32",
    }


def save_metrics(engine, path: str | os.PathLike) -> dict:
    """Write an ignite engine's final metrics to a JSON file (atomically) and return them."""
    metrics = {k: float(v) for k, v in engine.state.metrics.items()}
    atomic_write_json(path, metrics)
    print(f"metrics {metrics} written to {path}")
    return metrics
