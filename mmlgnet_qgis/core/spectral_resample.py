"""Resampling a scene's spectra onto a model's band centres: one (target x source) weight matrix.

A model is trained on one sensor's bands; a scene from another sensor (or a band subset of the
same one) has other centres. Every output band is a fixed linear combination of the scene's
bands, so the whole resampling is a matrix W (target bands x source bands) computed once and
applied to every pixel of every tile (per pixel, so tiled classification equals whole-scene).

- linear: each model band takes the scene's spectrum linearly interpolated in wavelength at
  its centre (two non-zero weights per row).
- gaussian: each model band is a Gaussian spectral response (FWHM from the model, else the
  model's band spacing). The scene's bands are already blurred by their own responses (FWHM
  from the scene's metadata), so the scene's linearly interpolated spectrum is further blurred
  by a Gaussian of FWHM sqrt(max(FWHM_model^2 - FWHM_scene^2, 0)) (Gaussian widths add in
  quadrature): the total blur then matches the model's bands. Where the scene's bands are as
  wide or wider than the model's, nothing can be sharpened and the row is the linear one.

Model bands outside the range the scene covers (its outermost centres, widened by half their
FWHM when known) are refused by band number and wavelength: nothing is extrapolated beyond that.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import InputError

METHODS = ("none", "linear", "gaussian")
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548


def covered_range(source_nm: Sequence[float], source_fwhm: Sequence[float] | None = None) -> tuple[float, float]:
    """The wavelengths a scene's bands cover.

    Args:
        source_nm: the scene's band centres (nm), in any order.
        source_fwhm: their FWHM (nm), or None when unknown.

    Returns:
        (low, high) nm: the outermost centres, widened by half the outermost bands' FWHM when known.
    """
    s = np.asarray(source_nm, float)
    lo, hi = int(np.argmin(s)), int(np.argmax(s))
    if source_fwhm is None:
        return float(s[lo]), float(s[hi])
    f = np.asarray(source_fwhm, float)
    return float(s[lo] - f[lo] / 2), float(s[hi] + f[hi] / 2)


def _check(source_nm: np.ndarray, target_nm: np.ndarray, source_fwhm: np.ndarray | None, scene: str) -> None:
    if source_nm.ndim != 1 or source_nm.size < 2:
        raise InputError(f"{scene}: resampling bands needs at least 2 band centres, got {source_nm.size}")
    if not np.all(np.isfinite(source_nm)) or not np.all(np.isfinite(target_nm)):
        raise InputError(f"{scene}: every band needs a centre wavelength to resample bands")
    if np.unique(source_nm).size != source_nm.size:
        dup = source_nm[np.argmax([np.sum(source_nm == v) > 1 for v in source_nm])]
        raise InputError(f"{scene}: two bands are centred at {dup:g} nm; cannot interpolate between them")
    if source_fwhm is not None and (source_fwhm.shape != source_nm.shape or np.any(source_fwhm < 0)):
        raise InputError(f"{scene}: {source_fwhm.size} band widths (FWHM) for {source_nm.size} bands, "
                         f"or a negative width")
    lo, hi = covered_range(source_nm, source_fwhm)
    outside = [i for i, t in enumerate(target_nm) if not lo - 1e-6 <= t <= hi + 1e-6]
    if outside:
        listed = ", ".join(f"band {i + 1} at {target_nm[i]:g} nm" for i in outside[:6])
        more = f" and {len(outside) - 6} more" if len(outside) > 6 else ""
        raise InputError(f"{scene} covers {lo:g}-{hi:g} nm; the model's {listed}{more} "
                         f"{'lies' if len(outside) == 1 else 'lie'} outside it, and bands "
                         f"are never extrapolated: use a scene that covers the model's bands, or train a model on "
                         f"this sensor")


def _interpolation(source_nm: np.ndarray, at_nm: np.ndarray) -> np.ndarray:
    """(len(at), S) weights: the source spectrum linearly interpolated at `at_nm` (edge values held)."""
    order = np.argsort(source_nm)
    s = source_nm[order]
    w = np.zeros((at_nm.size, s.size))
    x = np.clip(at_nm, s[0], s[-1])
    j = np.clip(np.searchsorted(s, x, side="right") - 1, 0, s.size - 2)
    frac = (x - s[j]) / (s[j + 1] - s[j])
    rows = np.arange(at_nm.size)
    w[rows, j] = 1.0 - frac
    w[rows, j + 1] += frac
    out = np.zeros_like(w)
    out[:, order] = w  # back to the scene's band order
    return out


def band_spacing_fwhm(centres_nm: Sequence[float]) -> list[float]:
    """A stand-in FWHM per band when none is recorded: the distance to the neighbouring centres.

    Args:
        centres_nm: band centres (nm), ascending or not.

    Returns:
        Per band, the mean distance to its neighbours (imaging spectrometers sample about one FWHM apart).
    """
    c = np.asarray(centres_nm, float)
    order = np.argsort(c)
    s = c[order]
    gaps = np.diff(s)
    left = np.concatenate([[gaps[0]], gaps])
    right = np.concatenate([gaps, [gaps[-1]]])
    out = np.empty_like(c)
    out[order] = (left + right) / 2
    return out.tolist()


def resample_matrix(source_nm: Sequence[float], target_nm: Sequence[float], method: str = "linear",
                    source_fwhm: Sequence[float] | None = None, target_fwhm: Sequence[float] | None = None,
                    scene: str = "the scene", step_nm: float = 0.5) -> np.ndarray:
    """The (target x source) weights that resample a scene's spectra onto a model's bands.

    Args:
        source_nm: the scene's band centres (nm), one per band read.
        target_nm: the model's band centres (nm).
        method: 'linear' or 'gaussian' (needs source_fwhm).
        source_fwhm: the scene's band FWHM (nm); also widens the covered range by half the edge bands' widths.
        target_fwhm: the model's band FWHM (nm); None: the model's band spacing (band_spacing_fwhm).
        scene: names the scene in messages.
        step_nm: the wavelength step of the grid the Gaussian responses are integrated on.

    Returns:
        float32 (T, S); every row sums to 1 (a constant spectrum stays constant).

    Raises:
        InputError: an unknown method, gaussian without source_fwhm, too few or duplicate centres,
            or a model band outside the scene's covered range (named by number and nm).
    """
    if method not in ("linear", "gaussian"):
        raise InputError(f"unknown band resampling '{method}'; use linear or gaussian")
    s = np.asarray(source_nm, float)
    t = np.asarray(target_nm, float)
    sf = None if source_fwhm is None else np.asarray(source_fwhm, float)
    if method == "gaussian" and sf is None:
        raise InputError(f"{scene}: gaussian band resampling needs the scene's band widths (FWHM)")
    _check(s, t, sf, scene)
    linear = _interpolation(s, t)
    if method == "linear":
        return linear.astype(np.float32)
    tf = np.asarray(band_spacing_fwhm(t) if target_fwhm is None else target_fwhm, float)
    if tf.shape != t.shape:
        raise InputError(f"the model records {tf.size} band widths (FWHM) for {t.size} bands")
    order = np.argsort(s)
    scene_fwhm_at = np.interp(t, s[order], sf[order])  # the scene's own blur at each model centre
    extra = np.sqrt(np.maximum(tf ** 2 - scene_fwhm_at ** 2, 0.0)) / FWHM_PER_SIGMA  # sigma still to add
    grid = np.arange(s.min(), s.max() + step_nm / 2, step_nm)
    to_grid = _interpolation(s, grid)  # (G, S)
    out = np.empty((t.size, s.size))
    for k in range(t.size):
        if extra[k] < step_nm:  # narrower than the integration step: the interpolated value itself
            out[k] = linear[k]
            continue
        response = np.exp(-0.5 * ((grid - t[k]) / extra[k]) ** 2)
        out[k] = response @ to_grid / response.sum()  # tails beyond the covered range are cut off
    return out.astype(np.float32)


def describe(method: str, weights: np.ndarray, source_nm: Sequence[float], target_nm: Sequence[float]) -> str:
    """One log line: 'HSI bands resampled (linear): 48 bands at 403-989 nm -> the model's 63 at 403-989 nm'.

    Args:
        method: linear or gaussian.
        weights: the matrix from resample_matrix.
        source_nm: the scene's centres.
        target_nm: the model's centres.

    Returns:
        The line.
    """
    s, t = np.asarray(source_nm, float), np.asarray(target_nm, float)
    used = int(np.count_nonzero(np.abs(weights).max(axis=0) > 1e-6))
    return (f"HSI bands resampled ({method}): {s.size} bands at {s.min():.4g}-{s.max():.4g} nm -> the model's "
            f"{t.size} at {t.min():.4g}-{t.max():.4g} nm ({used} scene bands used)")


class ResampledSource:
    """A window source whose spectra are another's multiplied by a (target x source) matrix.

    Args:
        source: the scene's window source (core.pipeline.WindowSource).
        weights: (T, S) from resample_matrix, S = source.bands.
    """

    def __init__(self, source: object, weights: np.ndarray) -> None:
        if weights.ndim != 2 or weights.shape[1] != source.bands:
            raise InputError(f"{source.name}: a resampling matrix for {weights.shape[-1]} bands, "
                             f"but the scene has {source.bands}")
        self.source = source
        self.weights = np.ascontiguousarray(weights, np.float32)
        self.name = source.name
        self.height, self.width = source.height, source.width

    @property
    def bands(self) -> int:
        """The model's band count (rows of the matrix)."""
        return int(self.weights.shape[0])

    @property
    def grid(self) -> object:
        """The scene's pixel grid (for rasters; None for arrays)."""
        return getattr(self.source, "grid", None)

    def read_window_with_mask(self, x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a window of the scene and resample every pixel's spectrum.

        Args:
            x0: first column.
            y0: first row.
            w: columns.
            h: rows.

        Returns:
            (T, h, w) float32 values and the (h, w) valid mask of the scene.
        """
        values, valid = self.source.read_window_with_mask(x0, y0, w, h)
        flat = values.reshape(values.shape[0], -1)
        flat = np.where(np.isfinite(flat), flat, 0.0)  # invalid pixels stay invalid through the mask
        return (self.weights @ flat).reshape(self.bands, h, w).astype(np.float32, copy=False), valid

    def close(self) -> None:
        """Close the scene's source."""
        if hasattr(self.source, "close"):
            self.source.close()
