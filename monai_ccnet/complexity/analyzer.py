"""Dataset complexity: every measure, per image and per scale, summarised over a dataset.

:func:`analyze_dataset` takes MONAI data dicts (``{"image": path, "label": path?, "id"?}``, as
:func:`monai_ccnet.data.resolve_data` returns them) and gives a :class:`ComplexityReport`, whose
JSON (``report.save(path)``) is the contract other tools read::

    {"settings": {...every option, the J variant included...},
     "measures": {"jpeg": {"mean": [K values], "std": [...], "min": [...], "max": [...]}, ...},
     "images":   [{"image": path, "label": path, "id": str, "jpeg": [K values], ...}],
     "errors":   [{"image": path, "label": path, "error": message}]}

The dataset complexity of a measure at scale k is ``measures[name]["mean"][k]`` (docs/method.md §1:
the mean over the training images); ``std`` is the population standard deviation.

Files are read inside the workers (a process pool; pickling pixel arrays to a pool was
measured 2.5x slower than one process): 2-D images with Pillow (PNG, JPEG, TIFF, BMP), NIfTI
volumes with nibabel. A bad file does not stop the run: it is reported in ``errors`` (or, with
``strict=True``, raised at once).

:class:`ComplexityStats` / :class:`ComplexityStatsSumm` are the same measures as an
Auto3DSeg case / summary analyzer pair for ``monai.auto3dseg.SegSummarizer``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import nibabel
import numpy as np
from monai.auto3dseg.analyzer import Analyzer
from PIL import Image
from tqdm.auto import tqdm

from ..utils import atomic_write_json, optional_import, save_figure
from .measures import MEASURES, ComplexityInputError, ComplexitySettings, image_slices, mask_slices, measure, resize_longest
from .report import read_complexity_report

__all__ = [
    "DEFAULT_MEASURES",
    "ComplexityError",
    "ComplexityReport",
    "ComplexityStats",
    "ComplexityStatsSumm",
    "analyze_dataset",
    "analyze_item",
    "check_item",
    "check_items",
    "read_image",
    "summarize",
]

#: what the method needs (J and B, for JB); pass ``measures=tuple(MEASURES)`` for all of them
DEFAULT_MEASURES = ("jpeg", "foreground")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


class ComplexityError(RuntimeError):
    """A dataset run that cannot produce a report (strict mode, or every image failed)."""


# --------------------------------------------------------------------------------------------
# reading (inside the workers)
# --------------------------------------------------------------------------------------------
def _is_nifti(path: str) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_image(path: str | os.PathLike) -> Image.Image | np.ndarray:
    """A 2-D file as a Pillow image, a NIfTI file as a channel-first array (C, H, W, D).

    Raises:
        ComplexityInputError: the file is missing or unreadable (the message names it).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise ComplexityInputError(f"{path}: file not found.")
    try:
        if _is_nifti(path):
            array = np.asanyarray(nibabel.load(path).dataobj)
            if array.ndim == 2:
                array = array[..., None]
            if array.ndim == 3:
                return array[None]
            if array.ndim == 4:  # NIfTI stores channels/time last
                return np.moveaxis(array, -1, 0)
            raise ComplexityInputError(f"{path}: NIfTI with {array.ndim} dimensions, expected 2 to 4.")
        image = Image.open(path)
        image.load()
        return image
    except ComplexityInputError:
        raise
    except Exception as err:  # Pillow / nibabel raise many types for corrupt files
        raise ComplexityInputError(f"{path}: cannot read the file ({type(err).__name__}: {err}).") from err


def _image_planes(image: Image.Image | np.ndarray, settings: ComplexitySettings) -> list[Image.Image]:
    """8-bit 'L'/'RGB' slices; 8-bit Pillow images are used as decoded (the hot path)."""
    if isinstance(image, Image.Image):
        if image.mode in ("L", "RGB"):
            return [image]
        if image.mode in ("RGBA", "LA", "P", "PA", "1", "CMYK", "YCbCr"):
            # alpha is dropped, palettes expanded: the colours that are shown are what is measured
            return [image.convert("L" if image.mode in ("LA", "1") else "RGB")]
        array = np.asarray(image)  # 16-bit / float modes: the intensity rule decides
        image = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    return image_slices(image, settings.intensity, settings.slice_axis)


def _label_planes(label: Image.Image | np.ndarray, settings: ComplexitySettings) -> list[np.ndarray]:
    array = np.asarray(label)
    if isinstance(label, Image.Image) and array.ndim == 3:
        array = np.moveaxis(array, -1, 0)  # (H, W, C) -> channel-first, rejected below unless C == 1
    return mask_slices(array, settings.slice_axis)


def _channels(data: Image.Image | np.ndarray) -> int:
    """Channels a network reads from this image (MONAI ``LoadImage``: 1 grey, 3 RGB, 4 RGBA)."""
    return len(data.getbands()) if isinstance(data, Image.Image) else int(data.shape[0])


def _spatial_shape(data: Image.Image | np.ndarray) -> tuple[int, ...]:
    return (data.height, data.width) if isinstance(data, Image.Image) else tuple(data.shape[1:])


def _load_item(item: Mapping[str, Any], settings: ComplexitySettings, with_image: bool, with_label: bool):
    """Read and check one data dict: ``(image planes, label masks, image)``.

    Raises:
        ComplexityInputError: a missing/unreadable file, size mismatch, non-binary label, NaN/Inf
            or unsupported channels; the message names the file.
    """
    image_path = str(item["image"])
    label_path = item.get("label")
    image = read_image(image_path)
    label = read_image(label_path) if with_label else None
    if label is not None and _spatial_shape(label) != _spatial_shape(image):
        raise ComplexityInputError(
            f"{label_path}: label size {_spatial_shape(label)} differs from image size {_spatial_shape(image)} "
            f"of {image_path}."
        )
    try:  # arrays carry no file name: name the file here
        planes = _image_planes(image, settings) if with_image else []
    except ComplexityInputError as err:
        raise ComplexityInputError(f"{image_path}: {err}") from err
    try:
        masks = _label_planes(label, settings) if label is not None else []
    except ComplexityInputError as err:
        raise ComplexityInputError(f"{label_path}: {err}") from err
    if settings.image_size is not None:  # what the network sees (the recipe's image_size)
        planes = [p.resize(resize_longest(p.size, settings.image_size), Image.Resampling.BILINEAR) for p in planes]
        masks = [
            np.asarray(Image.fromarray(m.astype(np.uint8)).resize(
                resize_longest((m.shape[1], m.shape[0]), settings.image_size), Image.Resampling.NEAREST)).astype(m.dtype)
            for m in masks
        ]
    return planes, masks, image


def analyze_item(item: Mapping[str, Any], measures: Sequence[str], settings: ComplexitySettings) -> dict:
    """Measure one data dict: ``{"image", "label"?, "id"?, <measure>: [K floats], ...}``.

    Raises:
        ComplexityInputError: a missing/unreadable file, size mismatch, non-binary label, NaN/Inf,
            unsupported channels, or a label measure asked for without a label; the message
            names the file.
    """
    image_path = str(item["image"])
    label_path = item.get("label")
    out = {"image": image_path, **({"label": str(label_path)} if label_path else {}), "id": item.get("id")}
    needs_label = [m for m in measures if MEASURES[m].needs == "label"]
    if needs_label and not label_path:
        raise ComplexityInputError(f"{image_path}: measures {needs_label} need a label, and this image has none.")
    planes, masks, image = _load_item(item, settings, True, bool(needs_label))
    shape = _spatial_shape(image)
    smallest = min(s for s in shape[:2] if s > 1) if any(s > 1 for s in shape[:2]) else 1
    if 2 ** (settings.scales - 1) > smallest:
        # scale k sees the image at 1/2^k: below one pixel there is nothing left to measure
        allowed = int(math.floor(math.log2(smallest))) + 1
        raise ComplexityInputError(
            f"{image_path}: {settings.scales} scales need a side of at least {2 ** (settings.scales - 1)} pixels, but "
            f"the image is {shape}; use at most {allowed} scales."
        )
    out["channels"] = _channels(image)
    file_bytes = os.path.getsize(image_path)
    for name in measures:
        spec = MEASURES[name]
        values = spec.function(masks if spec.needs == "label" else planes, settings, file_bytes)
        out[name] = [float(v) for v in values]
    return out


def check_item(item: Mapping[str, Any], spatial_dims: int | None = None, settings: ComplexitySettings | None = None) -> None:
    """Run every check of :func:`analyze_item` on one data dict without measuring anything (the
    label too, when the item has one): readable files, equal image/label sizes, a binary label,
    no NaN/Inf, 1/3/4 channels; with ``spatial_dims`` also that the image has that many spatial
    dimensions (a 2-D network cannot take a volume).

    Raises:
        ComplexityInputError: the first problem found, naming the file.
    """
    settings = settings or ComplexitySettings(scales=1)
    _, _, image = _load_item(item, settings, True, bool(item.get("label")))
    if spatial_dims is not None:
        shape = _spatial_shape(image)
        dims = 2 if len(shape) == 2 or (len(shape) == 3 and shape[-1] == 1) else len(shape)
        if dims != int(spatial_dims):
            raise ComplexityInputError(
                f"{item['image']}: a {dims}-D image of size {shape}, but the network is {spatial_dims}-D "
                f"(spatial_dims={spatial_dims}); use {spatial_dims}-D data or set spatial_dims={dims}."
            )


def check_items(items: Iterable[Mapping[str, Any]], spatial_dims: int | None = None, **settings) -> list[dict]:
    """:func:`check_item` over ``items``; every bad file, as ``[{"image", "label", "error"}]``
    (empty when all are good), so a user fixes them all at once."""
    config = ComplexitySettings(scales=1, **settings)
    errors = []
    for item in items:
        try:
            check_item(item, spatial_dims, config)
        except ComplexityInputError as err:
            errors.append({"image": str(item.get("image")), "label": item.get("label"), "error": str(err)})
    return errors


def _analyze_or_error(args) -> dict:
    item, measures, settings = args
    try:
        return analyze_item(item, measures, settings)
    except (ComplexityInputError, OSError) as err:  # a bad or vanished file; anything else is a bug: raise it
        return {"image": str(item.get("image")), "label": item.get("label"), "error": str(err)}


# --------------------------------------------------------------------------------------------
# summary and report
# --------------------------------------------------------------------------------------------
def summarize(per_image: Sequence[Mapping[str, Sequence[float]]], measures: Iterable[str]) -> dict:
    """Per measure and scale: mean, std (population), min, max and count over the images."""
    out = {}
    for name in measures:
        rows = [r[name] for r in per_image if name in r]
        if not rows:
            continue
        values = np.asarray(rows, np.float64)
        out[name] = {
            "mean": values.mean(axis=0).tolist(),
            "std": values.std(axis=0).tolist(),
            "min": values.min(axis=0).tolist(),
            "max": values.max(axis=0).tolist(),
            "count": int(values.shape[0]),
        }
    return out


@dataclass
class ComplexityReport:
    """Result of :func:`analyze_dataset`; ``to_dict()`` is the JSON contract (module docstring)."""

    settings: dict
    measures: dict
    images: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return deepcopy(asdict(self))

    def mean(self, measure: str) -> list[float]:
        """Dataset complexity C_0..C_{K-1} of ``measure`` (mean over the images, per scale)."""
        if measure not in self.measures:
            raise KeyError(f"measure {measure!r} not in this report (has {sorted(self.measures)}).")
        return list(self.measures[measure]["mean"])

    def save(self, path: str | os.PathLike) -> str:
        """Write the JSON atomically; returns the path."""
        return str(atomic_write_json(path, self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ComplexityReport":
        """Read a report JSON (``monai_ccnet.complexity.report.read_complexity_report``'s checks).

        Raises:
            ValueError: the file cannot be read or is not a complexity report (naming it).
        """
        content, _ = read_complexity_report(path)
        return cls(content["settings"], content["measures"], content.get("images", []), content.get("errors", []))

    def plot(self, path: str | os.PathLike, measures: Sequence[str] | None = None) -> str:
        """PNG of each measure's mean +- std against the scale k (one panel per measure).

        Needs matplotlib (``pip install monai_ccnet[plot]``)."""
        if optional_import("matplotlib") is None:
            raise ImportError("plotting needs matplotlib: pip install 'monai_ccnet[plot]'")
        from matplotlib.figure import Figure  # the optional [plot] extra: imported only to draw

        names = [m for m in (measures or self.measures) if m in self.measures]
        fig = Figure(figsize=(3.2 * len(names), 3.0))
        axes = fig.subplots(1, len(names), squeeze=False)
        for ax, name in zip(axes[0], names):
            mean, std = np.asarray(self.measures[name]["mean"]), np.asarray(self.measures[name]["std"])
            k = np.arange(len(mean))
            ax.errorbar(k, mean, yerr=std, marker="o", capsize=3)
            ax.set(title=name, xlabel="scale k (1/2^k)", xticks=k)
        fig.suptitle(f"reference={self.settings.get('reference')}, colour={self.settings.get('colour')}", fontsize=9)
        return str(save_figure(fig, path, dpi=110))

    def table(self) -> str:
        """Readable table: one row per measure, 'mean +- std' per scale."""
        scales = int(self.settings.get("scales", 1))
        head = ["measure"] + [f"k={k}" for k in range(scales)]
        rows = [head]
        for name, stats in self.measures.items():
            rows.append([name] + [f"{m:.4g} +- {s:.2g}" for m, s in zip(stats["mean"], stats["std"])])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n = max((s.get("count", 0) for s in self.measures.values()), default=0)
        variant = f"J variant: reference={self.settings.get('reference')}, colour={self.settings.get('colour')}, quality={self.settings.get('quality')}"
        return "\n".join(lines + [f"{n} image(s), {len(self.errors)} error(s); {variant}"])


def analyze_dataset(
    items: Sequence[Mapping[str, Any]],
    scales: int = 5,
    measures: Sequence[str] = DEFAULT_MEASURES,
    workers: int = 0,
    strict: bool = False,
    progress: bool = True,
    **settings,
) -> ComplexityReport:
    """Measure every image of ``items`` (MONAI data dicts) and summarise per measure and scale.

    Args:
        items: ``[{"image": path, "label": path?, "id"?}, ...]`` (see :func:`monai_ccnet.data.resolve_data`).
        scales: K, scales k = 0..K-1.
        measures: names from :data:`MEASURES`; mask-based ones need labels. With the default,
            ``foreground`` is skipped when no item has a label.
        workers: 0 measures in this process; N > 0 uses a pool of N processes that read the files.
        strict: raise at the first bad file instead of listing it in ``report.errors``.
        progress: show a tqdm progress bar.
        settings: further :class:`~monai_ccnet.complexity.measures.ComplexitySettings` fields
            (``quality``, ``reference``, ``colour``, ``intensity``, ``slice_axis``, ``edge_operator``).

    Raises:
        ValueError: empty ``items``, unknown measure or option.
        ComplexityError: ``strict`` and a file is bad, or every image failed (all errors listed).
    """
    items = list(items)
    if not items:
        raise ValueError("no images to analyse: the dataset is empty.")
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {sorted(MEASURES)}.")
    if not any(item.get("label") for item in items):
        needs_label = [m for m in measures if MEASURES[m].needs == "label"]
        if tuple(measures) == DEFAULT_MEASURES:
            measures = tuple(m for m in measures if MEASURES[m].needs == "image")
        elif needs_label:
            raise ValueError(f"measures {needs_label} need labels, and no image has one: give the labels or drop these measures.")
    config = ComplexitySettings(scales=scales, **settings)
    jobs = [(item, tuple(measures), config) for item in items]

    bar = tqdm(total=len(jobs), desc="complexity", unit="image", disable=not progress)
    results: list[dict] = []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
    try:
        outputs = pool.map(_analyze_or_error, jobs, chunksize=max(1, len(jobs) // (8 * workers))) if pool else map(_analyze_or_error, jobs)
        for result in outputs:
            if strict and "error" in result:
                raise ComplexityError(f"strict mode: {result['error']}")
            results.append(result)
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    images = [r for r in results if "error" not in r]
    errors = [r for r in results if "error" in r]
    if not images:
        listing = "\n  ".join(e["error"] for e in errors[:20])
        raise ComplexityError(f"every image failed ({len(errors)}):\n  {listing}")
    channels = sorted({int(r["channels"]) for r in images if "channels" in r})
    return ComplexityReport(
        settings={**config.to_dict(), "measures": list(measures), "images": len(items),
                  # what the planner needs to count the first layer's weights (plan --complexity-report)
                  "channels": channels[0] if len(channels) == 1 else channels},
        measures=summarize(images, measures),
        images=images,
        errors=errors,
    )


# --------------------------------------------------------------------------------------------
# Auto3DSeg analyzers
# --------------------------------------------------------------------------------------------


class ComplexityStats(Analyzer):
    """Auto3DSeg case analyzer: scale-wise complexity of one loaded case.

    Reads ``data[image_key]`` (and ``data[label_key]`` for mask-based measures), channel-first
    as ``LoadImaged(..., ensure_channel_first=True)`` gives them (a label without channel axis,
    as Auto3DSeg's ``DataAnalyzer`` squeezes it, is accepted), and writes
    ``data[stats_name] = {measure: [K floats], ...}``. Add it with its summary analyzer::

        summarizer = SegSummarizer("image", "label")
        summarizer.add_analyzer(ComplexityStats("image", "label"), ComplexityStatsSumm())

    Args:
        image_key, label_key: keys of the image and label.
        measures: names from :data:`~monai_ccnet.complexity.measures.MEASURES`.
        scales: K.
        stats_name: key of the case report (and of the summary in ``SegSummarizer.summarize``).
        settings: further ``ComplexitySettings`` fields (``quality``, ``reference``, ...).
    """

    def __init__(
        self,
        image_key: str = "image",
        label_key: str | None = "label",
        measures: Sequence[str] = DEFAULT_MEASURES,
        scales: int = 5,
        stats_name: str = "image_complexity",
        **settings,
    ) -> None:
        unknown = [m for m in measures if m not in MEASURES]
        if unknown:
            raise ValueError(f"unknown measure(s) {unknown}; choose from {sorted(MEASURES)}.")
        if label_key is None and any(MEASURES[m].needs == "label" for m in measures):
            raise ValueError(f"measures {list(measures)} include mask-based ones: give label_key.")
        self.image_key, self.label_key, self.measures = image_key, label_key, tuple(measures)
        self.settings = ComplexitySettings(scales=scales, **settings)
        super().__init__(stats_name, {name: None for name in self.measures})

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        report = deepcopy(self.get_report_format())
        for name in self.measures:
            key = self.label_key if MEASURES[name].needs == "label" else self.image_key
            if key not in d:
                raise KeyError(f"{type(self).__name__}: key {key!r} (needed by {name!r}) not in the data ({sorted(map(str, d))}).")
            value = d[key]
            if key == self.label_key and value.ndim == d[self.image_key].ndim - 1:
                value = value[None]  # Auto3DSeg squeezes the label's channel axis
            report[name] = measure(name, value, self.settings).tolist()
        d[self.stats_name] = report
        return d


class ComplexityStatsSumm(Analyzer):
    """Auto3DSeg summary analyzer: per measure and scale, mean/std/min/max/count over the cases
    (the ``measures`` block of the dataset analyzer's JSON)."""

    def __init__(self, stats_name: str = "image_complexity") -> None:
        super().__init__(stats_name, {})

    def __call__(self, data: list[dict]) -> dict:
        if not data or self.stats_name not in data[0]:
            raise KeyError(f"{self.stats_name!r} is not in the case reports: add ComplexityStats to the summarizer.")
        cases = [d[self.stats_name] for d in data]
        return summarize(cases, list(cases[0]))
