"""The training recipe: one definition used by every run that trains a network.

CC-Net's calibration (docs/method.md §3, §6) only holds if every width of every dataset is trained the
same way, so ``calibrate``, ``compress`` and ``train`` all take their pieces from here: the recipe's
knobs (:data:`DEFAULT_RECIPE`, :func:`make_recipe`), Adam's settings, Dice+CE (or CE / Dice),
random flips and 90-degree rotations on patches (128 x 128 by default), foreground F1 and IoU,
validation every ``val_interval`` epochs with early stopping on validation F1, bf16 autocast
(``amp``) on a GPU and on CPUs with native bf16 (AMX / AVX512-BF16). The MONAI engines that run
it are wired in :mod:`~monai_ccnet.workflows.training`; device, threads and autocast are
:mod:`~monai_ccnet.workflows.runtime`'s.

A fixed step budget (the calibration's rule: every width gets the same number of optimizer steps)
is ``max_epochs`` epochs of ``epoch_length`` iterations each (ignite's ``epoch_length``), with
``early_stop_patience: 0``; the best validation weights are still the ones scored.

Foreground F1 and IoU are MONAI's confusion-matrix metrics on the foreground channel
("f1 score" and "threat score" = TP / (TP + FP + FN) = IoU), with the confusion-matrix counts
averaged over the images before the ratio: one number for the split, defined also for images
without foreground.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import numpy as np
import torch

from monai.data.meta_obj import get_track_meta, set_track_meta
from monai.handlers import ConfusionMatrix, from_engine
from monai.inferers import SlidingWindowInferer
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

from monai_ccnet.utils import as_bool

__all__ = [
    "DEFAULT_RECIPE",
    "make_recipe",
    "load_transforms",
    "train_transforms",
    "TrainCompose",
    "FAST_PATHS",
    "post_transforms",
    "loss_function",
    "segmentation_metrics",
    "val_inferer",
]


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
#: bit-identical; ``False`` gives MONAI's plain path (benchmarks/probe_speed.py's baseline). Read at
#: every use by :class:`TrainCompose` and by :class:`~monai_ccnet.workflows.training.SharedCacheDataset`
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
