"""Per-band normalisation computed on the scene and stored with the model.

Arrays are channel-first (B, H, W) here, like raster windows and torch tensors.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .errors import InputError


def band_stats(chw: np.ndarray, valid: np.ndarray | None = None, max_pixels: int = 2_000_000,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per band over valid pixels (a random subsample when the scene is huge)."""
    flat = chw.reshape(chw.shape[0], -1)
    if valid is not None:
        flat = flat[:, valid.reshape(-1)]
    if flat.shape[1] == 0:
        raise InputError("no valid pixels to compute band statistics from")
    if flat.shape[1] > max_pixels:
        idx = np.sort(np.random.default_rng(seed).choice(flat.shape[1], max_pixels, replace=False))
        flat = flat[:, idx]
    flat = flat.astype(np.float64)
    mean, std = flat.mean(1), flat.std(1)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def normalise(chw: np.ndarray, mean: npt.ArrayLike, std: npt.ArrayLike, valid: np.ndarray | None = None,
              name: str = "raster") -> np.ndarray:
    """(B, H, W) -> float32 z-scores; invalid pixels (and NaN / inf) become 0 (the band mean).

    Args:
        chw: (B, H, W) values.
        mean: B band means.
        std: B band standard deviations.
        valid: (H, W) bool mask; None = all valid.
        name: the raster's name, for messages.

    Returns:
        A new (B, H, W) float32 array.

    Raises:
        InputError: the band count is not len(mean).
    """
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    if chw.shape[0] != mean.shape[0]:
        raise InputError(f"{name} has {chw.shape[0]} bands, the model expects {mean.shape[0]}")
    out = chw.astype(np.float32)            # one copy, then in place (tiles are large)
    out -= mean[:, None, None]
    out /= std[:, None, None]
    if out.dtype.kind == "f" and chw.dtype.kind == "f":
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if valid is not None:
        out[:, ~valid] = 0.0
    return out


def valid_pixels(chw: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """(H, W) True where every band is finite and differs from nodata."""
    ok = np.all(np.isfinite(chw), axis=0)
    if nodata is not None:
        ok &= ~np.any(chw == nodata, axis=0)
    return ok
