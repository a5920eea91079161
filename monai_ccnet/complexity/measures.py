"""Image-complexity measures (docs/method.md §1, the paper's §2), as pure functions on channel-first arrays.

Every measure maps an image (or, for the mask-based ones, a label) to a float64 array of K
values, one per scale k = 0..K-1 (the paper's scale-wise / layer-wise complexity, §2.3). At
scale k the image is down-sampled by 2^k and up-sampled back to its original size, so every
value is measured in the frame of the input image:

* JPEG complexity (Eq. 1, Eq. 2)::

      I_k = Up( JPEG_roundtrip( Down(I, 2^k) ) ),   I_0 = I
      J_k = bytes(JPEG(I_k, quality=25)) / size(I)

  with Pillow (libjpeg-turbo) at its default settings, mode ``'L'`` for 1 channel and ``'RGB'``
  for 3 (a 4th, alpha channel is dropped). ``size(I)`` is ``H*W*C`` (``reference="raw"``,
  default) or the bytes of the stored file (``reference="file"``); ``colour="luma"`` encodes the
  luma (Pillow's ITU-R 601-2 ``convert("L")``) of a colour image instead (then ``C = 1``).
* mask-based measures (foreground density B, boundary density, components per megapixel,
  mean object thickness): the mask is area-down-sampled, thresholded at 0.5 and up-sampled with
  nearest neighbour.
* image-based candidates (signal energy, edge information, keypoints; clutter in
  :mod:`.clutter`): computed on ``Up(Down(I, 2^k))`` (no JPEG round trip, that belongs to J).

Resampling: down-sampling by Pillow's ``BOX`` filter (area average: what a stage after k 2x
poolings sees), up-sampling by ``BILINEAR``; sizes are ``max(1, n // 2^k)``.

Non-uint8 images are converted to 8 bits by an intensity rule (:func:`to_uint8`): ``"minmax"``
(default), ``"percentile"`` / ``"percentile:LO,HI"`` (clip to those percentiles first, for CT/MR)
or ``"window:LO,HI"`` (a fixed intensity window, e.g. CT Hounsfield units). uint8 input, and
integer values in 0..255 of any dtype (an 8-bit PNG loaded as float32), are used as is; the
rule is applied to the whole image/volume at once.

3-D volumes ``(C, H, W, D)`` are measured per 2-D slice along ``slice_axis`` (default: the last
spatial axis, D) and the slices are combined: J as the sum of the slices' JPEG bytes over the
volume's size (for ``reference="raw"`` that is exactly the mean of the per-slice J), the other
measures as the mean over slices. Scale-wise down-sampling is in-plane only.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from PIL import Image, features
from scipy import ndimage

from . import clutter
from .equations import jb_complexity
from .report import report_means

__all__ = [
    "ComplexitySettings",
    "Measure",
    "MEASURES",
    "ComplexityInputError",
    "to_uint8",
    "image_slices",
    "mask_slices",
    "jpeg_complexity",
    "scalewise_jpeg_complexity",
    "foreground_density",
    "boundary_density",
    "components_per_megapixel",
    "mean_thickness",
    "signal_energy",
    "edge_information",
    "keypoint_density",
    "measure",
    "jpeg_bytes",
    "scalewise_jpeg_bytes",
    "jb",
]

DOWNSAMPLE = Image.Resampling.BOX
UPSAMPLE = Image.Resampling.BILINEAR
REFERENCES = ("raw", "file")
COLOURS = ("keep", "luma")


class ComplexityInputError(ValueError):
    """An image or label that cannot be measured (the message names the file when known)."""


@dataclass(frozen=True)
class ComplexitySettings:
    """Every option that changes a number; recorded in each report so variants never mix.

    Args:
        scales: K, the number of scales k = 0..K-1.
        quality: JPEG quality of the reference encoder (the paper: 25).
        reference: ``"raw"`` (J = bytes / (H*W*C)) or ``"file"`` (J = bytes / stored file bytes).
        colour: ``"keep"`` (encode colour images as RGB) or ``"luma"`` (encode their luma).
        intensity: rule converting non-uint8 images to 8 bits (see :func:`to_uint8`).
        slice_axis: spatial axis (0, 1, 2 or -1) along which 3-D volumes are sliced.
        edge_operator: ``"sobel"`` or ``"scharr"`` for :func:`edge_information`.
        image_size: None measures images at their own size; N resizes each 2-D plane first so
            its longest side is N pixels (aspect kept), as the training recipe's ``image_size``
            does: the complexity of what the network sees (images bilinear with Pillow's
            antialiasing, masks nearest-neighbour).
    """

    scales: int = 5
    quality: int = 25
    reference: str = "raw"
    colour: str = "keep"
    intensity: str = "minmax"
    slice_axis: int = -1
    edge_operator: str = "sobel"
    image_size: int | None = None

    def __post_init__(self):
        if not isinstance(self.scales, (int, np.integer)) or self.scales < 1:
            raise ValueError(f"scales must be an integer >= 1, got {self.scales!r}.")
        if not 1 <= int(self.quality) <= 100:
            raise ValueError(f"quality must be in 1..100, got {self.quality!r}.")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {self.reference!r}.")
        if self.colour not in COLOURS:
            raise ValueError(f"colour must be one of {COLOURS}, got {self.colour!r}.")
        if self.slice_axis not in (0, 1, 2, -1):
            raise ValueError(f"slice_axis must be a spatial axis 0, 1, 2 or -1, got {self.slice_axis!r}.")
        if self.edge_operator not in ("sobel", "scharr"):
            raise ValueError(f"edge_operator must be 'sobel' or 'scharr', got {self.edge_operator!r}.")
        _parse_intensity(self.intensity)
        if self.image_size is not None and (not isinstance(self.image_size, (int, np.integer)) or self.image_size < 1):
            raise ValueError(f"image_size must be None or an integer >= 1, got {self.image_size!r}.")

    def to_dict(self) -> dict:
        """The options plus the fixed facts that also change numbers (encoder, filters)."""
        out = asdict(self)
        out.update(
            jpeg_encoder=f"Pillow {Image.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}), default settings",
            downsample="Pillow BOX (area average)",
            upsample="Pillow BILINEAR (images), NEAREST after a 0.5 threshold (masks)",
            keypoint_detector="Harris (skimage.feature.corner_harris, sigma=1; corner_peaks min_distance=3, threshold_rel=0.01)",
            volumes=f"2-D slices along spatial axis {self.slice_axis}, in-plane down-sampling",
        )
        if self.image_size is not None:
            out["resize"] = f"longest side {self.image_size} px: Pillow BILINEAR (images), NEAREST (masks)"
        return out


def resize_longest(size: tuple[int, int], image_size: int) -> tuple[int, int]:
    """``(width, height)`` with the longest side ``image_size`` and the aspect kept (MONAI
    ``Resized(size_mode="longest")`` rounding)."""
    width, height = size
    scale = image_size / max(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


# --------------------------------------------------------------------------------------------
# input conversion
# --------------------------------------------------------------------------------------------
def _parse_intensity(rule: str) -> tuple[str, float, float]:
    name, _, args = str(rule).partition(":")
    try:
        values = [float(v) for v in args.split(",")] if args else []
    except ValueError:
        values = None
    if name == "minmax" and not args:
        return name, 0.0, 100.0
    if name == "percentile" and values is not None and len(values) in (0, 2):
        low, high = values or (0.5, 99.5)
        if 0 <= low < high <= 100:
            return name, low, high
    if name == "window" and values is not None and len(values) == 2 and values[0] < values[1]:
        return name, values[0], values[1]
    raise ValueError(
        f"intensity rule {rule!r} not understood: use 'minmax', 'percentile', 'percentile:LO,HI' "
        "(0 <= LO < HI <= 100) or 'window:LO,HI' (LO < HI, image units)."
    )


def _numpy(image) -> np.ndarray:
    """numpy view of a numpy array, torch tensor or MONAI MetaTensor."""
    if hasattr(image, "detach"):  # torch.Tensor / MetaTensor, without importing torch here
        image = image.detach().cpu().numpy()
    return np.asarray(image)


def _source(image) -> str:
    meta = getattr(image, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, dict) else None
    return f"{name}: " if name else ""


def to_uint8(image, intensity: str = "minmax") -> np.ndarray:
    """Channel-first image -> uint8 of the same shape by the documented intensity rule.

    uint8 is returned unchanged, and so are integer values in 0..255 of a wider dtype (an 8-bit
    file that ``LoadImaged`` turned into float32 is measured as stored); bool becomes 0/255;
    anything else is mapped to [0, 255]:
    ``minmax`` scales [min, max] (a constant image becomes 0), ``percentile[:LO,HI]`` first
    clips to those percentiles (default 0.5, 99.5), ``window:LO,HI`` clips to a fixed window.

    Raises:
        ComplexityInputError: NaN or Inf values (named with the source file when known).
    """
    return _to_uint8(_numpy(image), intensity, _source(image))


def _to_uint8(array: np.ndarray, intensity: str, source: str = "") -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.size and np.issubdtype(array.dtype, np.number) and _is_8bit_valued(array):
        # an 8-bit file that a loader widened (LoadImaged gives float32 by default): as stored
        return array.astype(np.uint8)
    name, low, high = _parse_intensity(intensity)
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise ComplexityInputError(f"{source}image contains {bad} NaN/Inf value(s); clean it before measuring.")
    if name == "minmax":
        low, high = float(values.min()), float(values.max())
    elif name == "percentile":
        low, high = (float(v) for v in np.percentile(values, [low, high]))
    if high <= low:
        return np.zeros(array.shape, np.uint8)
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def _is_8bit_valued(array: np.ndarray) -> bool:
    if np.issubdtype(array.dtype, np.integer):
        return bool(array.min() >= 0 and array.max() <= 255)
    finite = np.isfinite(array).all()
    return bool(finite and array.min() >= 0 and array.max() <= 255 and np.array_equal(array, np.round(array)))


def _pil(plane: np.ndarray) -> Image.Image:
    """(C, H, W) uint8 with C in {1, 3} -> Pillow 'L' / 'RGB' image."""
    if plane.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(plane[0]), "L")
    return Image.fromarray(np.ascontiguousarray(np.moveaxis(plane, 0, -1)), "RGB")


def _spatial_slices(array: np.ndarray, slice_axis: int) -> list[np.ndarray]:
    """(C, H, W) -> [array]; (C, H, W, D) -> the 2-D (C, ., .) slices along ``slice_axis``."""
    if array.ndim == 3:
        return [array]
    axis = 1 + (slice_axis % 3)
    return [np.take(array, i, axis=axis) for i in range(array.shape[axis])]


def image_slices(image, intensity: str = "minmax", slice_axis: int = -1) -> list[Image.Image]:
    """Channel-first image (C,H,W) or volume (C,H,W,D) -> list of 8-bit Pillow slices.

    1 channel -> 'L', 3 -> 'RGB', 4 -> 'RGB' with the 4th (alpha) channel dropped.

    Raises:
        ComplexityInputError: wrong number of dimensions, unsupported channel count, NaN/Inf.
    """
    array = _numpy(image)
    if array.ndim not in (3, 4):
        raise ComplexityInputError(
            f"{_source(image)}expected a channel-first image (C, H, W) or volume (C, H, W, D), got shape {array.shape}."
        )
    channels = array.shape[0]
    if channels not in (1, 3, 4):
        raise ComplexityInputError(
            f"{_source(image)}unsupported channel count {channels} (shape {array.shape}): "
            "expected 1 (grey), 3 (RGB) or 4 (RGBA, alpha dropped); is the image channel-first?"
        )
    if min(array.shape[1:]) < 1:
        raise ComplexityInputError(f"{_source(image)}empty image, shape {array.shape}.")
    array = _to_uint8(array[:3] if channels == 4 else array, intensity, _source(image))
    return [_pil(plane) for plane in _spatial_slices(array, slice_axis)]


def mask_slices(label, slice_axis: int = -1) -> list[np.ndarray]:
    """Channel-first binary label (1,H,W) / (1,H,W,D) (or without channel axis) -> bool slices.

    Binary means at most two values, one of them 0 (0/1 or 0/255 masks); foreground = non-zero.

    Raises:
        ComplexityInputError: more than one channel, or non-binary values (the values are named).
    """
    array = _numpy(label)
    if array.ndim == 2:  # (H, W) without channel axis
        array = array[None]
    if array.ndim not in (3, 4) or array.shape[0] != 1:
        raise ComplexityInputError(
            f"{_source(label)}expected a one-channel label (1, H, W) or (1, H, W, D), got shape {array.shape}."
        )
    values = np.unique(array)
    if len(values) > 2 or (len(values) == 2 and values[0] != 0) or not np.isfinite(values).all():
        shown = ", ".join(f"{v:g}" for v in values[:10]) + (" ..." if len(values) > 10 else "")
        raise ComplexityInputError(
            f"{_source(label)}label is not binary: found {len(values)} values [{shown}]; expected 0 = background "
            "and one foreground value (0/1 or 0/255)."
        )
    return [plane[0] != 0 for plane in _spatial_slices(array, slice_axis)]


# --------------------------------------------------------------------------------------------
# resampling and JPEG
# --------------------------------------------------------------------------------------------
def _scaled_size(size: tuple[int, int], k: int) -> tuple[int, int]:
    return max(1, size[0] >> k), max(1, size[1] >> k)


def _encode(image: Image.Image, quality: int) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer


def jpeg_bytes(image: Image.Image, quality: int) -> int:
    """Size in bytes of Pillow's JPEG encoding at ``quality`` (default Pillow settings)."""
    return _encode(image, quality).tell()


def _jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    buffer = _encode(image, quality)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def scalewise_jpeg_bytes(image: Image.Image, scales: int, quality: int = 25) -> np.ndarray:
    """bytes(JPEG(I_k)) for k = 0..scales-1 with I_k of Eq. 2 (I_0 = I: no round trip)."""
    out = np.empty(scales, np.int64)
    out[0] = jpeg_bytes(image, quality)
    for k in range(1, scales):
        small = image.resize(_scaled_size(image.size, k), DOWNSAMPLE)
        out[k] = jpeg_bytes(_jpeg_roundtrip(small, quality).resize(image.size, UPSAMPLE), quality)
    return out


def _rescaled(image: Image.Image, k: int) -> Image.Image:
    """Up(Down(I, 2^k)): the image as a stage after k 2x sub-samplings sees it, original frame."""
    if k == 0:
        return image
    return image.resize(_scaled_size(image.size, k), DOWNSAMPLE).resize(image.size, UPSAMPLE)


def _rescaled_mask(mask: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    small = np.asarray(image.resize(_scaled_size(image.size, k), DOWNSAMPLE)) >= 128
    return np.asarray(Image.fromarray(small.astype(np.uint8) * 255, "L").resize(image.size, Image.Resampling.NEAREST)) > 0


# --------------------------------------------------------------------------------------------
# slice-level measures: f(slices, settings, file_bytes) -> float64 array of `scales` values
# --------------------------------------------------------------------------------------------
def _jpeg_slices(slices: Sequence[Image.Image], settings: ComplexitySettings, file_bytes: int | None = None) -> np.ndarray:
    if settings.colour == "luma":
        slices = [s.convert("L") if s.mode != "L" else s for s in slices]
    total = sum(scalewise_jpeg_bytes(s, settings.scales, settings.quality) for s in slices)
    if settings.reference == "file":
        if not file_bytes:
            raise ComplexityInputError(
                "reference='file' needs the stored file's size: pass file_bytes=, or an image loaded from a "
                "file (MetaTensor with meta['filename_or_obj'])."
            )
        size = file_bytes
    else:  # Eq. 1: raw bytes of the 8-bit image, H * W * C summed over slices
        size = sum(s.width * s.height * len(s.getbands()) for s in slices)
    return np.asarray(total, np.float64) / size


def _per_slice_mean(function: Callable[[object, int, ComplexitySettings], float], rescale: Callable) -> Callable:
    """Lift ``function(plane_at_scale_k, k, settings) -> float`` to the slice-level signature."""

    def measure_slices(slices, settings: ComplexitySettings, file_bytes: int | None = None) -> np.ndarray:
        values = np.zeros((len(slices), settings.scales), np.float64)
        for i, plane in enumerate(slices):
            for k in range(settings.scales):
                values[i, k] = function(rescale(plane, k), k, settings)
        return values.mean(axis=0)

    measure_slices.__doc__ = function.__doc__
    return measure_slices


def _foreground(mask: np.ndarray, k: int, settings) -> float:
    """B: foreground pixels / all pixels."""
    return float(mask.mean())


def _boundary(mask: np.ndarray, k: int, settings) -> float:
    """Foreground pixels with a 4-connected background neighbour (or on the border) / all pixels."""
    inner = ndimage.binary_erosion(mask, border_value=0)
    return float((mask & ~inner).sum() / mask.size)


def _components(mask: np.ndarray, k: int, settings) -> float:
    """8-connected foreground components per megapixel."""
    _, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return float(count * 1e6 / mask.size)


def _thickness(mask: np.ndarray, k: int, settings) -> float:
    """2 x mean Euclidean distance-to-background over foreground pixels (0 without foreground)."""
    if not mask.any():
        return 0.0
    return float(2.0 * ndimage.distance_transform_edt(mask)[mask].mean())


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L") if image.mode != "L" else image, np.float64) / 255.0


def _signal_energy(image: Image.Image, k: int, settings) -> float:
    """sum_{f != 0} |FFT(x)|^2 / N^2 of the [0, 1] grey image (DC excluded; = variance, Parseval)."""
    x = _grey(image)
    power = np.abs(np.fft.fft2(x)) ** 2
    power[0, 0] = 0.0  # the DC term is the mean brightness, not structure
    return float(power.sum() / x.size**2)


def _edge(image: Image.Image, k: int, settings) -> float:
    """mean sqrt(Gx^2 + Gy^2) of the [0, 1] grey image (skimage Sobel or Scharr, unit-gain kernels)."""
    from skimage import filters  # scikit-image only where used: skimage.feature alone takes ~2 s to import

    x = _grey(image)
    if settings.edge_operator == "scharr":
        gx, gy = filters.scharr_v(x), filters.scharr_h(x)
    else:
        gx, gy = filters.sobel_v(x), filters.sobel_h(x)
    return float(np.hypot(gx, gy).mean())


def _keypoints(image: Image.Image, k: int, settings) -> float:
    """Harris corners per megapixel (sigma=1, min_distance=3, threshold_rel=0.01): a free SURF stand-in."""
    from skimage.feature import corner_harris, corner_peaks  # ~2 s to import: only for this measure

    x = _grey(image)
    response = corner_harris(x, sigma=1)
    if response.max() <= 0:
        return 0.0
    peaks = corner_peaks(response, min_distance=3, threshold_rel=0.01)
    return float(len(peaks) * 1e6 / x.size)


@dataclass(frozen=True)
class Measure:
    """A registered measure: what it reads (``"image"`` or ``"label"``) and its slice-level function."""

    name: str
    needs: str
    function: Callable = field(repr=False)
    description: str = ""


def _feature_congestion(image: Image.Image, k: int, settings) -> float:
    """feature congestion (Rosenholtz et al. 2007, see .clutter)"""
    return clutter.feature_congestion(image)


def _subband_entropy(image: Image.Image, k: int, settings) -> float:
    """sub-band entropy (Rosenholtz et al. 2007, see .clutter)"""
    return clutter.subband_entropy(image)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("jpeg", "image", _jpeg_slices, "JPEG complexity J_k (Eq. 1, 2)"),
        Measure("foreground", "label", _per_slice_mean(_foreground, _rescaled_mask), _foreground.__doc__),
        Measure("signal_energy", "image", _per_slice_mean(_signal_energy, _rescaled), _signal_energy.__doc__),
        Measure("edge", "image", _per_slice_mean(_edge, _rescaled), _edge.__doc__),
        Measure("keypoints", "image", _per_slice_mean(_keypoints, _rescaled), _keypoints.__doc__),
        Measure("clutter_fc", "image", _per_slice_mean(_feature_congestion, _rescaled), _feature_congestion.__doc__),
        Measure("clutter_se", "image", _per_slice_mean(_subband_entropy, _rescaled), _subband_entropy.__doc__),
        Measure("boundary_density", "label", _per_slice_mean(_boundary, _rescaled_mask), _boundary.__doc__),
        Measure("components", "label", _per_slice_mean(_components, _rescaled_mask), _components.__doc__),
        Measure("thickness", "label", _per_slice_mean(_thickness, _rescaled_mask), _thickness.__doc__),
    )
}


def _file_bytes(image, file_bytes: int | None) -> int | None:
    if file_bytes is not None:
        return int(file_bytes)
    meta = getattr(image, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, dict) else None
    if isinstance(name, (str, os.PathLike)) and os.path.isfile(name):
        return os.path.getsize(name)
    return None


def measure(name: str, data, settings: ComplexitySettings | None = None, file_bytes: int | None = None, **options) -> np.ndarray:
    """Scale-wise values (float64, length ``settings.scales``) of measure ``name`` on ``data``.

    ``data`` is the channel-first image, or the label for the mask-based measures
    (``MEASURES[name].needs``). ``options`` override fields of ``settings``.
    """
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose from {sorted(MEASURES)}.")
    settings = ComplexitySettings(**{**(asdict(settings) if settings else {}), **options})
    spec = MEASURES[name]
    if spec.needs == "label":
        slices = mask_slices(data, settings.slice_axis)
    else:
        slices = image_slices(data, settings.intensity, settings.slice_axis)
    return spec.function(slices, settings, _file_bytes(data, file_bytes))


def scalewise_jpeg_complexity(
    image,
    scales: int = 5,
    quality: int = 25,
    reference: str = "raw",
    colour: str = "keep",
    file_bytes: int | None = None,
    intensity: str = "minmax",
    slice_axis: int = -1,
) -> np.ndarray:
    """J_0..J_{K-1} (Eq. 2) of a channel-first image (C,H,W) or volume (C,H,W,D); float64, length K.

    ``reference="file"`` divides by ``file_bytes`` (taken from a MetaTensor's source file when
    not given). See the module docstring for the resampling and 3-D rules.
    """
    settings = ComplexitySettings(scales, quality, reference, colour, intensity, slice_axis)
    return measure("jpeg", image, settings, file_bytes=file_bytes)


def jpeg_complexity(
    image,
    quality: int = 25,
    reference: str = "raw",
    colour: str = "keep",
    file_bytes: int | None = None,
    intensity: str = "minmax",
    slice_axis: int = -1,
) -> float:
    """J = bytes(JPEG(image, quality)) / size(image) (Eq. 1); for uint8 input with the default
    ``reference="raw"``, exactly ``len(Pillow JPEG bytes) / (H*W*C)``."""
    return float(scalewise_jpeg_complexity(image, 1, quality, reference, colour, file_bytes, intensity, slice_axis)[0])


def foreground_density(label, scales: int = 5, slice_axis: int = -1) -> np.ndarray:
    """Scale-wise foreground density B (foreground pixels / pixels) of a binary channel-first label."""
    return measure("foreground", label, scales=scales, slice_axis=slice_axis)


def boundary_density(label, scales: int = 5, slice_axis: int = -1) -> np.ndarray:
    """Scale-wise boundary density (foreground pixels with a 4-connected background neighbour,
    or on the image border, / pixels) of a binary channel-first label."""
    return measure("boundary_density", label, scales=scales, slice_axis=slice_axis)


def components_per_megapixel(label, scales: int = 5, slice_axis: int = -1) -> np.ndarray:
    """Scale-wise number of 8-connected foreground components per megapixel of a binary label."""
    return measure("components", label, scales=scales, slice_axis=slice_axis)


def mean_thickness(label, scales: int = 5, slice_axis: int = -1) -> np.ndarray:
    """Scale-wise mean object thickness, 2 x the mean distance-to-background over foreground
    pixels (pixels of the original frame; 0 without foreground), of a binary label."""
    return measure("thickness", label, scales=scales, slice_axis=slice_axis)


def signal_energy(image, scales: int = 5, intensity: str = "minmax", slice_axis: int = -1) -> np.ndarray:
    """Scale-wise FFT signal energy sum_{f != 0} |F|^2 / N^2 of the [0, 1] grey image (DC
    excluded, per pixel so sizes compare; by Parseval this is the grey-level variance)."""
    return measure("signal_energy", image, scales=scales, intensity=intensity, slice_axis=slice_axis)


def edge_information(image, scales: int = 5, intensity: str = "minmax", slice_axis: int = -1, edge_operator: str = "sobel") -> np.ndarray:
    """Scale-wise mean gradient magnitude sqrt(Gx^2 + Gy^2) of the [0, 1] grey image
    (Yu & Winkler 2013 average these over scales)."""
    return measure("edge", image, scales=scales, intensity=intensity, slice_axis=slice_axis, edge_operator=edge_operator)


def keypoint_density(image, scales: int = 5, intensity: str = "minmax", slice_axis: int = -1) -> np.ndarray:
    """Scale-wise Harris corners per megapixel (the paper's SURF is not free; see ``_keypoints``)."""
    return measure("keypoints", image, scales=scales, intensity=intensity, slice_axis=slice_axis)


def jb(report_or_arrays, w: float) -> np.ndarray:
    """JB = w * J + (1 - w) * B per scale (§2.2, §5.1), w in [0, 1].

    ``report_or_arrays``: a :class:`~monai_ccnet.complexity.ComplexityReport`, its ``to_dict()``
    (uses the dataset means of ``jpeg`` and ``foreground``), or a pair ``(J, B)`` of arrays
    of equal shape (per image or per scale).
    """
    if hasattr(report_or_arrays, "to_dict") or isinstance(report_or_arrays, dict):
        return np.asarray(report_means(report_or_arrays, "jb", w), np.float64)
    j, b = report_or_arrays
    j, b = np.asarray(j, np.float64), np.asarray(b, np.float64)
    if j.shape != b.shape:
        raise ValueError(f"J and B must have the same shape, got {j.shape} and {b.shape}.")
    return jb_complexity(j, b, w)
