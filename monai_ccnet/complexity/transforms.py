"""MONAI transforms for the complexity measures (array + dictionary versions).

An array transform maps a channel-first image (or label, for the mask-based measures) to a
float64 numpy array of K values, the measure at scales k = 0..K-1 (see
:mod:`monai_ccnet.complexity.measures` for the definitions). A dictionary transform stores that
array in the data dict under ``output_key.format(key=key)``; the defaults are::

    JPEGComplexityd(keys="image")          -> d["image_jpeg_complexity"]
    ForegroundDensityd(keys="label")       -> d["label_foreground_density"]
    BoundaryDensityd / ComponentDensityd / ObjectThicknessd (label)
                                           -> d["label_boundary_density"], d["label_components"], d["label_thickness"]
    SignalEnergyd / EdgeInformationd / KeypointDensityd / FeatureCongestiond / SubbandEntropyd (image)
                                           -> d["image_signal_energy"], d["image_edge"], d["image_keypoints"],
                                              d["image_clutter_fc"], d["image_clutter_se"]

They work after ``LoadImaged(keys, ensure_channel_first=True)``. Note that MONAI's Pillow
reader returns 2-D images transposed, (W, H), by default: a JPEG ratio of the transposed image
differs slightly from the stored file's; load with
``LoadImaged(keys, reader=PILReader(reverse_indexing=False), ensure_channel_first=True)`` to
measure exactly what :func:`~monai_ccnet.complexity.analyze_dataset` measures.
With ``reference="file"``, J divides by the size of ``img.meta["filename_or_obj"]``.
"""

from __future__ import annotations

import inspect
from typing import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from .measures import ComplexitySettings, measure

__all__ = [
    "ComplexityMeasure",
    "ComplexityMeasured",
    "JPEGComplexity",
    "JPEGComplexityd",
    "JPEGComplexityD",
    "JPEGComplexityDict",
    "ForegroundDensity",
    "ForegroundDensityd",
    "ForegroundDensityD",
    "ForegroundDensityDict",
    "BoundaryDensity",
    "BoundaryDensityd",
    "BoundaryDensityD",
    "BoundaryDensityDict",
    "ComponentDensity",
    "ComponentDensityd",
    "ComponentDensityD",
    "ComponentDensityDict",
    "ObjectThickness",
    "ObjectThicknessd",
    "ObjectThicknessD",
    "ObjectThicknessDict",
    "SignalEnergy",
    "SignalEnergyd",
    "SignalEnergyD",
    "SignalEnergyDict",
    "EdgeInformation",
    "EdgeInformationd",
    "EdgeInformationD",
    "EdgeInformationDict",
    "KeypointDensity",
    "KeypointDensityd",
    "KeypointDensityD",
    "KeypointDensityDict",
    "FeatureCongestion",
    "FeatureCongestiond",
    "FeatureCongestionD",
    "FeatureCongestionDict",
    "SubbandEntropy",
    "SubbandEntropyd",
    "SubbandEntropyD",
    "SubbandEntropyDict",
]


class ComplexityMeasure(Transform):
    """Base array transform: ``img -> np.ndarray`` (float64, K values) of measure :attr:`measure`.

    Args:
        scales: K, scales k = 0..K-1.
        settings: further :class:`~monai_ccnet.complexity.measures.ComplexitySettings` fields.
    """

    measure: str = ""

    def __init__(self, scales: int = 5, **settings) -> None:
        self.settings = ComplexitySettings(scales=scales, **settings)

    def __call__(self, img, file_bytes: int | None = None) -> np.ndarray:
        return measure(self.measure, img, self.settings, file_bytes=file_bytes)


class ComplexityMeasured(MapTransform):
    """Base dictionary transform: ``d[output_key.format(key=key)] = ArrayTransform(d[key])``.

    Args:
        keys: keys of the images (or labels) to measure.
        output_key: format string with ``{key}``; default ``"{key}_<measure>"`` (see the module doc).
        allow_missing_keys: do not raise when a key is absent.
        kwargs: the array transform's arguments (``scales``, ``quality``, ...).
    """

    array_transform: type = ComplexityMeasure
    output_suffix: str = ""

    def __init__(self, keys: KeysCollection, output_key: str | None = None, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, allow_missing_keys)
        self.measurer = self.array_transform(**kwargs)
        self.output_key = output_key or "{key}_" + self.output_suffix
        if len(self.keys) > 1 and "{key}" not in self.output_key:
            raise ValueError(f"output_key {self.output_key!r} must contain '{{key}}' when several keys are measured.")

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.output_key.format(key=key)] = self.measurer(d[key])
        return d


class JPEGComplexity(ComplexityMeasure):
    """Scale-wise JPEG complexity J_0..J_{K-1} (Eq. 1, 2) of a channel-first image.

    Args:
        scales: K.
        quality: JPEG quality (the paper: 25).
        reference: ``"raw"`` (bytes / (H*W*C)) or ``"file"`` (bytes / stored file size).
        colour: ``"keep"`` or ``"luma"``.
        intensity: 8-bit conversion rule for non-uint8 input (``"minmax"``, ``"percentile[:LO,HI]"``, ``"window:LO,HI"``).
        slice_axis: spatial axis along which volumes are sliced.
    """

    measure = "jpeg"

    def __init__(
        self,
        scales: int = 5,
        quality: int = 25,
        reference: str = "raw",
        colour: str = "keep",
        intensity: str = "minmax",
        slice_axis: int = -1,
    ) -> None:
        super().__init__(scales, quality=quality, reference=reference, colour=colour, intensity=intensity, slice_axis=slice_axis)


class _MaskMeasure(ComplexityMeasure):
    def __init__(self, scales: int = 5, slice_axis: int = -1) -> None:
        super().__init__(scales, slice_axis=slice_axis)


class ForegroundDensity(_MaskMeasure):
    """Scale-wise foreground density B (foreground pixels / pixels) of a binary label."""

    measure = "foreground"


class BoundaryDensity(_MaskMeasure):
    """Scale-wise boundary density (foreground boundary pixels / pixels) of a binary label."""

    measure = "boundary_density"


class ComponentDensity(_MaskMeasure):
    """Scale-wise connected foreground components (8-connected) per megapixel of a binary label."""

    measure = "components"


class ObjectThickness(_MaskMeasure):
    """Scale-wise mean object thickness (2 x mean distance transform inside the foreground), pixels."""

    measure = "thickness"


class _ImageMeasure(ComplexityMeasure):
    def __init__(self, scales: int = 5, intensity: str = "minmax", slice_axis: int = -1) -> None:
        super().__init__(scales, intensity=intensity, slice_axis=slice_axis)


class SignalEnergy(_ImageMeasure):
    """Scale-wise FFT signal energy (DC excluded, per pixel) of the [0, 1] grey image."""

    measure = "signal_energy"


class EdgeInformation(_ImageMeasure):
    """Scale-wise mean gradient magnitude (``edge_operator="sobel"`` or ``"scharr"``)."""

    measure = "edge"

    def __init__(self, scales: int = 5, intensity: str = "minmax", slice_axis: int = -1, edge_operator: str = "sobel") -> None:
        # the one image measure with an option of its own: past _ImageMeasure, which takes none
        ComplexityMeasure.__init__(self, scales, intensity=intensity, slice_axis=slice_axis, edge_operator=edge_operator)


class KeypointDensity(_ImageMeasure):
    """Scale-wise Harris keypoints per megapixel (a free stand-in for the paper's SURF)."""

    measure = "keypoints"


class FeatureCongestion(_ImageMeasure):
    """Scale-wise feature-congestion clutter (Rosenholtz et al. 2007, :mod:`.clutter`)."""

    measure = "clutter_fc"


class SubbandEntropy(_ImageMeasure):
    """Scale-wise sub-band-entropy clutter (Rosenholtz et al. 2007, :mod:`.clutter`)."""

    measure = "clutter_se"


def _dict_version(array_transform: type, suffix: str) -> type:
    """The dictionary transform of ``array_transform``, with the real signature
    ``(keys, output_key=None, allow_missing_keys=False, *, <the array transform's arguments>)``."""
    doc = (
        f"Dictionary version of :class:`{array_transform.__name__}`: writes "
        f"``d[output_key.format(key=key)]`` (default ``'{{key}}_{suffix}'``). "
        "Arguments: ``keys``, ``output_key``, ``allow_missing_keys`` and those of the array transform."
    )

    def __init__(self, keys: KeysCollection, output_key: str | None = None, allow_missing_keys: bool = False, **kwargs) -> None:
        ComplexityMeasured.__init__(self, keys, output_key, allow_missing_keys, **kwargs)

    own = [p for p in inspect.signature(__init__).parameters.values() if p.kind is not p.VAR_KEYWORD]
    array_args = [
        p.replace(kind=p.KEYWORD_ONLY) for p in list(inspect.signature(array_transform.__init__).parameters.values())[1:]
    ]
    __init__.__signature__ = inspect.Signature(own + array_args, return_annotation=None)
    name = array_transform.__name__ + "d"
    __init__.__qualname__ = f"{name}.__init__"
    return type(name, (ComplexityMeasured,), {
        "array_transform": array_transform, "output_suffix": suffix, "__doc__": doc, "__module__": __name__,
        "__init__": __init__,
    })


JPEGComplexityd = JPEGComplexityD = JPEGComplexityDict = _dict_version(JPEGComplexity, "jpeg_complexity")
ForegroundDensityd = ForegroundDensityD = ForegroundDensityDict = _dict_version(ForegroundDensity, "foreground_density")
BoundaryDensityd = BoundaryDensityD = BoundaryDensityDict = _dict_version(BoundaryDensity, "boundary_density")
ComponentDensityd = ComponentDensityD = ComponentDensityDict = _dict_version(ComponentDensity, "components")
ObjectThicknessd = ObjectThicknessD = ObjectThicknessDict = _dict_version(ObjectThickness, "thickness")
SignalEnergyd = SignalEnergyD = SignalEnergyDict = _dict_version(SignalEnergy, "signal_energy")
EdgeInformationd = EdgeInformationD = EdgeInformationDict = _dict_version(EdgeInformation, "edge")
KeypointDensityd = KeypointDensityD = KeypointDensityDict = _dict_version(KeypointDensity, "keypoints")
FeatureCongestiond = FeatureCongestionD = FeatureCongestionDict = _dict_version(FeatureCongestion, "clutter_fc")
SubbandEntropyd = SubbandEntropyD = SubbandEntropyDict = _dict_version(SubbandEntropy, "clutter_se")
