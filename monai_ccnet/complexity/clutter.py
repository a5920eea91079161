"""Visual clutter after Rosenholtz, Li & Nakano, "Measuring visual clutter", J. Vision 7(2), 2007.

A compact reimplementation with scipy / scikit-image of the two measures the paper compares
(its Fig. 2), not a port of the authors' MATLAB code: the structure follows the paper, the
filters are simpler, so values are comparable between images measured here, not with
numbers published from the MATLAB toolbox.

* **Feature congestion** (FC): in CIELab, on a 3-level Gaussian pyramid, the local (Gaussian
  window) covariance of three features - colour (L, a, b), luminance contrast (|DoG| of L) and
  orientation (the doubled-angle structure-tensor vector) - gives per pixel the "volume" of the
  feature distribution: det(cov)^(1/(2n)) for an n-dimensional feature. Each feature keeps the
  maximum over pyramid levels; the clutter map is colour/0.2088 + contrast/0.0660 +
  orientation/0.0269 (the paper's weights) and FC is its mean.
* **Sub-band entropy** (SE): each Lab channel is split into 3 scales x 4 orientations of
  band-pass, oriented sub-bands (oriented Gaussian-derivative filters on a Laplacian-style
  pyramid); SE is the mean Shannon entropy (bits; coefficients quantised in steps of 0.5 Lab
  units) of the sub-bands,
  luminance weighted 1 and each chrominance channel 0.0625, normalised by the weights' sum.
  A grey image has no chrominance: SE is its luminance entropy.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["feature_congestion", "subband_entropy"]

LEVELS = 3
#: weights of the colour, contrast and orientation clutter maps (Rosenholtz et al. 2007)
FC_WEIGHTS = (0.2088, 0.0660, 0.0269)
CHROMA_WEIGHT = 0.0625
BIN_WIDTH = 0.5  # Lab units: sub-band coefficients are quantised to this step for the entropy
POOL_SIGMA = 3.0  # pixels: the local window over which feature distributions are pooled


def _lab(image: Image.Image) -> np.ndarray:
    """(3, H, W) CIELab with L in [0, 100]; a grey image has a = b = 0."""
    from skimage.color import rgb2lab  # as the measures' scikit-image imports: only where used (start-up time)

    if image.mode == "L":
        grey = np.asarray(image, np.float64) / 255.0
        lab = rgb2lab(np.repeat(grey[..., None], 3, axis=-1))
        lab[..., 1:] = 0.0
    else:
        lab = rgb2lab(np.asarray(image.convert("RGB"), np.float64) / 255.0)
    return np.moveaxis(lab, -1, 0)


def _pyramid(planes: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """Gaussian pyramid of (C, H, W) planes (each level blurred, then halved)."""
    out = [planes]
    for _ in range(levels - 1):
        blurred = ndimage.gaussian_filter(out[-1], sigma=(0, 1, 1))
        if min(blurred.shape[1:]) < 4:
            break
        out.append(blurred[:, ::2, ::2])
    return out


def _local_volume(features: np.ndarray, regulariser: float) -> np.ndarray:
    """det(local covariance)^(1/(2n)) of an (n, H, W) feature field (n <= 3), Gaussian pooling window."""
    n = features.shape[0]
    features = features.astype(np.float32)

    def pool(x):
        return ndimage.gaussian_filter(x, POOL_SIGMA, truncate=3.0)

    mean = [pool(f) for f in features]
    c = [[None] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            c[i][j] = c[j][i] = pool(features[i] * features[j]) - mean[i] * mean[j] + (regulariser if i == j else 0.0)
    if n == 1:  # closed-form determinants: far cheaper than np.linalg.det on (H, W, n, n)
        det = c[0][0]
    elif n == 2:
        det = c[0][0] * c[1][1] - c[0][1] ** 2
    else:
        det = (
            c[0][0] * (c[1][1] * c[2][2] - c[1][2] ** 2)
            - c[0][1] * (c[0][1] * c[2][2] - c[1][2] * c[0][2])
            + c[0][2] * (c[0][1] * c[1][2] - c[1][1] * c[0][2])
        )
    return np.clip(det, 0.0, None) ** (1.0 / (2 * n))


def _orientation_field(luminance: np.ndarray) -> np.ndarray:
    """Doubled-angle orientation vector (Jxx - Jyy, 2 Jxy) / (Jxx + Jyy + eps) of the structure tensor."""
    gy = ndimage.gaussian_filter(luminance, 1.0, order=(1, 0))
    gx = ndimage.gaussian_filter(luminance, 1.0, order=(0, 1))
    jxx, jyy, jxy = (ndimage.gaussian_filter(g, 1.0) for g in (gx * gx, gy * gy, gx * gy))
    energy = jxx + jyy + 1e-2
    return np.stack([(jxx - jyy) / energy, 2.0 * jxy / energy])


def feature_congestion(image: Image.Image) -> float:
    """Feature-congestion clutter (mean of the combined clutter map) of an 'L' / 'RGB' image."""
    lab = _lab(image)
    size = lab.shape[1:]
    maps = np.zeros((3,) + size)
    for level in _pyramid(lab):
        luminance = level[0]
        contrast = np.abs(ndimage.gaussian_filter(luminance, 1.0) - ndimage.gaussian_filter(luminance, 3.0))[None]
        per_feature = (
            _local_volume(level, regulariser=1.0),  # colour, Lab units (~1 unit noise floor)
            _local_volume(contrast, regulariser=1e-2),
            _local_volume(_orientation_field(luminance), regulariser=1e-3),
        )
        for f, volume in enumerate(per_feature):
            zoom = (size[0] / volume.shape[0], size[1] / volume.shape[1])
            maps[f] = np.maximum(maps[f], ndimage.zoom(volume, zoom, order=1, grid_mode=True, mode="nearest")[: size[0], : size[1]])
    clutter_map = sum(m / w for m, w in zip(maps, FC_WEIGHTS))
    return float(clutter_map.mean())


def _entropy(values: np.ndarray, bin_width: float = BIN_WIDTH) -> float:
    # fixed-width bins (not range-relative ones): a smoother image must not gain entropy
    _, counts = np.unique(np.floor(values / bin_width), return_counts=True)
    p = counts / values.size
    return float(-(p * np.log2(p)).sum())


def _subbands(plane: np.ndarray) -> list[np.ndarray]:
    """3 scales x 4 orientations of band-pass oriented responses (steered first derivatives)."""
    bands = []
    current = plane
    for _ in range(LEVELS):
        low = ndimage.gaussian_filter(current, 1.0)
        band = current - low
        gy = ndimage.gaussian_filter(band, 1.0, order=(1, 0))
        gx = ndimage.gaussian_filter(band, 1.0, order=(0, 1))
        for angle in (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4):
            bands.append(np.cos(angle) * gx + np.sin(angle) * gy)
        if min(low.shape) < 8:
            break
        current = low[::2, ::2]
    return bands


def subband_entropy(image: Image.Image) -> float:
    """Sub-band-entropy clutter (bits) of an 'L' / 'RGB' image."""
    lab = _lab(image)
    channels = [lab[0]] if image.mode == "L" else list(lab)
    entropies = [np.mean([_entropy(b) for b in _subbands(c)]) for c in channels]
    if len(entropies) == 1:
        return float(entropies[0])
    return float((entropies[0] + CHROMA_WEIGHT * (entropies[1] + entropies[2])) / (1.0 + 2.0 * CHROMA_WEIGHT))
