"""The training recipe: one definition used by every run that trains a network.

CC-Net's calibration (docs/method.md §3, §6) only holds if every width of every dataset is trained the
same way, so ``calibrate``, ``compress`` and ``train`` all build their MONAI engines here:
``SupervisedTrainer`` / ``SupervisedEvaluator`` (pytorch-ignite), Adam, Dice+CE (or CE / Dice),
random flips and 90-degree rotations on patches (128 x 128 by default), foreground F1 and IoU,
validation every ``val_interval`` epochs with early stopping on validation F1, bf16 autocast
(``amp``) on a GPU and on CPUs with native bf16 (AMX / AVX512-BF16).

A fixed step budget (the calibration's rule: every width gets the same number of optimizer steps)
is ``max_epochs`` epochs of ``epoch_length`` iterations each (ignite's ``epoch_length``), with
``early_stop_patience: 0``; the best validation weights are still the ones scored.

Foreground F1 and IoU are MONAI's confusion-matrix metrics on the foreground channel
("f1 score" and "threat score" = TP / (TP + FP + FN) = IoU), with the confusion-matrix counts
averaged over the images before the ratio: one number for the split, defined also for images
without foreground.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from monai.data import CacheDataset, DataLoader, Dataset
from monai.data.meta_obj import get_track_meta, set_track_meta
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import (
    CheckpointSaver,
    ConfusionMatrix,
    EarlyStopHandler,
    StatsHandler,
    ValidationHandler,
    from_engine,
    stopping_fn_from_metric,
)
from monai.inferers import Inferer, SimpleInferer, SlidingWindowInferer
from monai.losses import DiceCELoss, DiceLoss
from monai.transforms import (
    AsDiscreted,
    Compose,
    DeleteItemsd,
    EnsureTyped,
    FgBgToIndicesd,
    Invertd,
    Lambdad,
    LoadImaged,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandomizableTrait,
    RandRotate90d,
    Resized,
    ScaleIntensityd,
    SpatialPadd,
    Transform,
)
from monai.utils import optional_import, set_determinism

from monai_ccnet.utils import as_bool

__all__ = [
    "DEFAULT_RECIPE",
    "make_recipe",
    "resolve_device",
    "detect_in_channels",
    "split_validation",
    "load_transforms",
    "train_transforms",
    "TrainCompose",
    "SharedCacheDataset",
    "FAST_PATHS",
    "post_transforms",
    "cpu_supports_bf16",
    "autocast_dtype",
    "AutocastInferer",
    "ProgressBarHandler",
    "apply_num_threads",
    "loss_function",
    "segmentation_metrics",
    "val_inferer",
    "build_training",
    "evaluate_network",
    "train_and_evaluate",
]

logger = logging.getLogger(__name__)

#: every knob of the recipe; a bundle's ``recipe`` dict overrides any subset.
DEFAULT_RECIPE: dict[str, Any] = {
    "patch_size": [128, 128],  # training patches; also the sliding-window size at evaluation
    # None: native resolution; N: every image is resized (aspect kept) so its longest side is N
    # pixels before patching / sliding windows, so that a patch sees the object in context;
    # predictions are resized back and scored (and saved) at the label's own resolution
    "image_size": None,
    "num_samples": 4,  # patches per image per epoch (half centred on foreground)
    "batch_size": 4,  # images per batch (x num_samples patches)
    "max_epochs": 100,
    # iterations per epoch; None: one pass over the training images. With a number, an epoch is
    # that many optimizer steps whatever the dataset size (a fixed step budget = max_epochs x it)
    "epoch_length": None,
    "learning_rate": 1e-3,
    "adam_eps": 1e-8,
    "loss": "dicece",  # "dicece" | "ce" | "dice"
    "val_interval": 1,  # epochs between validations
    "val_fraction": 0.2,  # of the training split, held out for validation / early stopping
    "early_stop_patience": 10,  # validations without improvement of val F1; 0 = never stop
    "amp": True,  # bf16 autocast on CUDA, and on CPUs with native bf16 (else fp32, logged)
    # torch threads of this process: "auto" = the free cores (cpu affinity minus load) shared by
    # the processes of this node (LOCAL_WORLD_SIZE under torchrun); an int sets it; None leaves it
    "num_threads": "auto",
    "cache_rate": 1.0,
    "num_workers": 0,
    "sw_batch_size": 4,
    "sw_overlap": 0.25,
}

_LOSSES = ("dicece", "ce", "dice")


def make_recipe(recipe: Mapping | None = None, **overrides) -> dict:
    """``DEFAULT_RECIPE`` updated with ``recipe`` and ``overrides``, checked.

    Raises:
        ValueError: an unknown key (typo), an unknown loss, or a non-positive size / count.
    """
    merged = dict(DEFAULT_RECIPE)
    for source in (recipe or {}, overrides):
        unknown = sorted(set(source) - set(DEFAULT_RECIPE))
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}; known keys: {sorted(DEFAULT_RECIPE)}.")
        merged.update(source)
    merged["patch_size"] = [int(p) for p in np.atleast_1d(merged["patch_size"])]
    if str(merged["loss"]).lower() not in _LOSSES:
        raise ValueError(f"recipe loss {merged['loss']!r} is unknown; choose one of {_LOSSES}.")
    merged["loss"] = str(merged["loss"]).lower()
    merged["amp"] = as_bool(merged["amp"], "recipe amp")
    for key in ("num_samples", "batch_size", "max_epochs", "val_interval"):
        if int(merged[key]) < 1:
            raise ValueError(f"recipe {key} must be >= 1, got {merged[key]!r}.")
        merged[key] = int(merged[key])
    if merged["epoch_length"] is not None:
        if int(merged["epoch_length"]) < 1:
            raise ValueError(f"recipe epoch_length must be >= 1 or None, got {merged['epoch_length']!r}.")
        merged["epoch_length"] = int(merged["epoch_length"])
    if merged["num_threads"] not in (None, "auto"):
        if int(merged["num_threads"]) < 1:
            raise ValueError(f"recipe num_threads must be >= 1, 'auto' or None, got {merged['num_threads']!r}.")
        merged["num_threads"] = int(merged["num_threads"])
    if any(p < 1 for p in merged["patch_size"]):
        raise ValueError(f"recipe patch_size must be positive, got {merged['patch_size']!r}.")
    if merged["image_size"] is not None:
        merged["image_size"] = int(merged["image_size"])
        if merged["image_size"] < 1:
            raise ValueError(f"recipe image_size must be positive or None, got {merged['image_size']!r}.")
    if not 0 <= float(merged["val_fraction"]) < 1:
        raise ValueError(f"recipe val_fraction must be in [0, 1), got {merged['val_fraction']!r}.")
    return merged


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` / ``"auto"``: the GPU of this process (``LOCAL_RANK`` under torchrun) if any, else CPU."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            from .common import node_context

            return torch.device(f"cuda:{node_context()[0]}")
        return torch.device("cpu")
    return torch.device(device)


def detect_in_channels(items: Sequence[Mapping]) -> int:
    """Channels of the first image (1 for grey, 3 for RGB), read with MONAI's ``LoadImage``."""
    if not items:
        raise ValueError("cannot detect the number of image channels: the dataset is empty.")
    from monai.transforms import LoadImage

    image = LoadImage(image_only=True, ensure_channel_first=True)(items[0]["image"])
    return int(image.shape[0])


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


def _match_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    # grey networks get the luma of a colour image; colour networks get grey images repeated
    if image.shape[0] == channels:
        return image
    if channels == 1:
        return image[:3].mean(dim=0, keepdim=True) if image.shape[0] >= 3 else image[:1]
    if image.shape[0] == 1:
        return image.repeat(channels, *([1] * (image.ndim - 1)))
    raise ValueError(f"image has {image.shape[0]} channels, the network expects {channels}.")


def load_transforms(
    in_channels: int = 1, with_label: bool = True, recipe: Mapping | None = None, resize_label: bool = False
) -> list:
    """Deterministic loading shared by training, validation, test and inference:
    read, channel-first, match the network's channels, scale to [0, 1], binarise the mask (> 0),
    and with the recipe's ``image_size`` resize the image (and the label only if ``resize_label``:
    training; evaluation keeps the label at its own resolution, see ``post_transforms``)."""
    image_size = make_recipe(recipe)["image_size"]
    keys = ["image", "label"] if with_label else ["image"]
    transforms = [
        LoadImaged(keys=keys, image_only=True, ensure_channel_first=True),
        Lambdad(keys="image", func=partial(_match_channels, channels=int(in_channels))),
        ScaleIntensityd(keys="image"),
    ]
    if with_label:
        # masks stored as 0/1 or 0/255: anything above 0 is foreground
        transforms.append(AsDiscreted(keys="label", threshold=0.5))
    if image_size is not None:
        # bilinear with anti-aliasing: smooth when shrinking, and its inverse (Invertd, see
        # post_transforms) interpolates the logits back instead of repeating pixels
        transforms.append(
            Resized(keys="image", spatial_size=image_size, size_mode="longest", mode="bilinear", anti_aliasing=True)
        )
        if with_label and resize_label:
            transforms.append(Resized(keys="label", spatial_size=image_size, size_mode="longest", mode="nearest"))
    transforms.append(EnsureTyped(keys=keys, track_meta=True))
    return transforms


#: the training speed-ups of docs/RESULTS.md (training throughput) that keep every trained number
#: bit-identical; ``False`` gives MONAI's plain path (benchmarks/probe_speed.py's baseline)
FAST_PATHS = True


def _is_random(transform) -> bool:
    # the test CacheDataset uses to split a Compose into its cached and its per-step part
    return isinstance(transform, RandomizableTrait) or not isinstance(transform, Transform)


class TrainCompose(Compose):
    """``Compose`` whose random part (patches, flips, rotations: the part ``CacheDataset`` runs at
    every step) runs with MONAI's metadata tracking off (``set_track_meta(False)``).

    Training needs no inverse, and with tracking on every random transform re-wraps its output as
    a ``MetaTensor`` whose per-op bookkeeping was most of the data time of a small network on CPU
    (about 90 of 115 ms per step, busi at 64x64 patches), and the batches then reach the network and
    the loss as ``MetaTensor``\ s too. The random draws and the arithmetic are the same, so trained
    numbers are bit-identical (tests/test_training_speed.py; docs/RESULTS.md). The deterministic
    part (loading, resizing) keeps tracking as configured. Off with ``FAST_PATHS = False``.
    """

    def __call__(self, input_, start=0, end=None, threading=False, lazy: bool | None = None):
        first = self.get_index_of_first(_is_random)
        if not FAST_PATHS or first is None or (end is not None and end <= first) or not get_track_meta():
            return super().__call__(input_, start, end, threading, lazy)
        if start < first:
            input_ = super().__call__(input_, start, first, threading, lazy)
            start = first
        set_track_meta(False)
        try:
            return super().__call__(input_, start, end, threading, lazy)
        finally:
            set_track_meta(True)


def train_transforms(recipe: Mapping | None = None, in_channels: int = 1) -> Compose:
    """Loading + padding to the patch size + patches (half on foreground) + flips + 90-degree rotations
    (a :class:`TrainCompose`: the random part runs on plain tensors)."""
    recipe = make_recipe(recipe)
    keys = ["image", "label"]
    patch = recipe["patch_size"]
    spatial_axes = list(range(len(patch)))
    return TrainCompose(
        load_transforms(in_channels, recipe=recipe, resize_label=True)
        + [
            SpatialPadd(keys=keys, spatial_size=patch),
            # training needs no inverse: plain tensors skip MONAI's per-op metadata tracking,
            # most of the data time of a small network on CPU
            EnsureTyped(keys=keys, track_meta=False),
            # deterministic, so CacheDataset keeps the indices: the crop need not search the
            # label for foreground at every step (half the data time of a small network)
            FgBgToIndicesd(keys="label", fg_postfix="_fg", bg_postfix="_bg"),
            RandCropByPosNegLabeld(
                keys=keys,
                label_key="label",
                spatial_size=patch,
                pos=1,
                neg=1,
                num_samples=recipe["num_samples"],
                fg_indices_key="label_fg",
                bg_indices_key="label_bg",
            ),
            DeleteItemsd(keys=["label_fg", "label_bg"]),
            *[RandFlipd(keys=keys, prob=0.5, spatial_axis=axis) for axis in spatial_axes],
            RandRotate90d(keys=keys, prob=0.5, max_k=3, spatial_axes=(0, 1)),
        ]
    )


def post_transforms(preprocessing: Compose | None = None) -> Compose:
    """Logits -> one-hot prediction; label -> one-hot (what the confusion-matrix metrics expect).

    With the ``preprocessing`` that produced the network's input, the logits are first taken back
    to the input image's own size by MONAI's ``Invertd`` (undoing the recipe's ``image_size``
    resize; a no-op without it): the same inverse the bundle's inference uses, so the masks that
    are scored are the masks a user gets.
    """
    transforms: list = []
    if preprocessing is not None:
        transforms.append(Invertd(keys="pred", transform=preprocessing, orig_keys="image", nearest_interp=False))
    transforms += [AsDiscreted(keys="pred", argmax=True, to_onehot=2), AsDiscreted(keys="label", to_onehot=2)]
    return Compose(transforms)


def loss_function(name: str = "dicece"):
    """The recipe's loss on 2-class logits against an index label."""
    name = str(name).lower()
    if name == "dicece":
        return DiceCELoss(to_onehot_y=True, softmax=True)
    if name == "ce":
        return DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=0.0, lambda_ce=1.0)
    if name == "dice":
        return DiceLoss(to_onehot_y=True, softmax=True)
    raise ValueError(f"unknown loss {name!r}; choose one of {_LOSSES}.")


def segmentation_metrics(prefix: str = "") -> tuple[dict, dict]:
    """(key metric, additional metrics): foreground F1 (the key) and IoU as ignite metrics."""
    output = from_engine(["pred", "label"])
    f1 = ConfusionMatrix(include_background=False, metric_name="f1 score", output_transform=output)
    iou = ConfusionMatrix(include_background=False, metric_name="threat score", output_transform=output)
    return {f"{prefix}f1": f1}, {f"{prefix}iou": iou}


def val_inferer(recipe: Mapping | None = None) -> SlidingWindowInferer:
    """Whole images through patch-size windows (any image size; images smaller than a patch are padded)."""
    recipe = make_recipe(recipe)
    return SlidingWindowInferer(
        roi_size=recipe["patch_size"], sw_batch_size=recipe["sw_batch_size"], overlap=recipe["sw_overlap"]
    )


def cpu_supports_bf16() -> bool:
    """Whether this CPU runs bf16 matrix work natively (AMX or AVX512-BF16 flags, Linux).

    Only there does bf16 autocast pay on CPU (measured on this project's dev CPU with AMX: small
    U-Nets trained 1.4-1.7x faster than in fp32); elsewhere bf16 is emulated and slower.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("amx_bf16", "avx512_bf16"))


def autocast_dtype(recipe: Mapping, device: str | torch.device) -> torch.dtype | None:
    """bf16 when the recipe's ``amp`` is on and the device computes it natively, else None (fp32)."""
    device = torch.device(device)
    if not make_recipe(recipe)["amp"]:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None


class AutocastInferer(Inferer):
    """Run another inferer under ``torch.autocast`` and hand back float32 logits.

    One mixed-precision path for CPU and GPU (MONAI engines' own ``amp`` flag autocasts on CUDA
    only); the loss and the metrics see float32.
    """

    def __init__(self, inferer: Inferer, device_type: str, dtype: torch.dtype | None = torch.bfloat16):
        super().__init__()
        self.inferer, self.device_type, self.dtype = inferer, str(device_type), dtype

    def __call__(self, inputs: torch.Tensor, network, *args, **kwargs):
        if self.dtype is None:
            return self.inferer(inputs, network, *args, **kwargs)
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            outputs = self.inferer(inputs, network, *args, **kwargs)
        return outputs.float()


def _with_autocast(inferer: Inferer, recipe: Mapping, device: torch.device) -> Inferer:
    dtype = autocast_dtype(recipe, device)
    return inferer if dtype is None else AutocastInferer(inferer, device.type, dtype)


_THREADS_SET: list = []


def free_cores() -> int:
    """Cores this process may use (its CPU affinity) minus the 1-minute load average, >= 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def apply_num_threads(setting: int | str | None = "auto") -> int:
    """Set this process's torch threads from the recipe's ``num_threads``; returns the count.

    ``"auto"``: the cores this process may use (its CPU affinity) minus the 1-minute load of the
    others, divided among the processes of this node (``LOCAL_WORLD_SIZE`` under torchrun), at
    least 1. Why: on a 2-core machine already busy, two threads per process ran convolutions up to
    ~10x slower than one (oversubscription), and two one-thread shards use both cores fully.
    """
    if setting is None:
        return torch.get_num_threads()
    if setting == "auto" and os.environ.get("MONAI_CCNET_WORKER_THREADS"):
        # a calibration worker process: its parent already shared the cores out
        threads, why = int(os.environ["MONAI_CCNET_WORKER_THREADS"]), "worker process share"
    elif setting == "auto":
        from .common import node_context

        local_world = max(1, node_context()[1])
        threads = max(1, free_cores() // local_world)
        why = f"auto: {free_cores()} free core(s), {local_world} process(es) on this node"
    else:
        threads, why = int(setting), "recipe num_threads"
    if torch.get_num_threads() != threads or not _THREADS_SET:
        torch.set_num_threads(threads)
        logger.info(f"torch threads: {threads} ({why})")
        _THREADS_SET.append(threads)
    return threads


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
    a calibration worker decode and resize each image once instead of once per run. The cached
    item is the one ``CacheDataset`` would compute (random transforms still start from a copy of
    it), so trained numbers are bit-identical. Off with ``FAST_PATHS = False``."""

    def __init__(self, data, transform, what: tuple, **kwargs):
        self.what = what
        super().__init__(data, transform, **kwargs)

    def _load_cache_item(self, idx: int):
        fingerprint = _item_fingerprint(self.data[idx]) if FAST_PATHS else None
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
    val_ds = _dataset(list(val_items), val_pre, recipe, _decoded_key("eval", recipe, in_channels))
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
        inferer=_with_autocast(val_inferer(recipe), recipe, device),
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
        inferer=_with_autocast(SimpleInferer(), recipe, device),
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
    loader = DataLoader(_dataset(list(items), preprocessing, recipe, _decoded_key("eval", recipe, in_channels)), batch_size=1)
    evaluator = SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network.to(device),
        inferer=_with_autocast(val_inferer(recipe), recipe, device),
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

