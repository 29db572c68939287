"""Open the command line's inputs: benchmark .mat files (core, no GDAL) or rasters (GDAL).

'file.mat' / 'file.mat:key' load through core; anything else opens as a GDAL raster,
imported lazily so the .mat path also works on a bare GPU box without GDAL.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .core.pipeline import ArraySource
from .core.scenes import as_bands_last, as_labels, load_mat_array, load_wavelengths, split_mat_spec


def is_mat(spec: str) -> bool:
    return split_mat_spec(str(spec))[0].lower().endswith(".mat")


class RasterWindowSource:
    """GDAL raster as a core window source (names match core.pipeline's protocol)."""

    def __init__(self, path: str, name: str | None = None):
        from .raster.reader import RasterSource
        self.raster = RasterSource(path, name=name)
        self.name = self.raster.name
        self.grid = self.raster.grid

    height = property(lambda self: self.raster.height)
    width = property(lambda self: self.raster.width)
    bands = property(lambda self: self.raster.band_count)

    def read_window(self, x0, y0, w, h):
        return self.raster.read_window(x0, y0, w, h)

    def read_window_with_mask(self, x0, y0, w, h):
        return self.raster.read_window_with_mask(x0, y0, w, h)

    def close(self):
        self.raster.close()


def open_image(spec: str, name: str):
    """HSI or LiDAR input as a window source; .mat cubes are rows x cols x bands."""
    if is_mat(spec):
        cube = as_bands_last(load_mat_array(spec))
        return ArraySource(np.moveaxis(cube, -1, 0), name=f"{name} ({spec})")
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{name} raster not found: {spec}")
    return RasterWindowSource(spec, name=f"{name} ({spec})")


def wavelengths_of(spec: str) -> list[float] | None:
    if is_mat(spec):
        return load_wavelengths(spec)
    from .raster.reader import RasterSource
    with RasterSource(spec) as src:
        wl = getattr(src, "wavelengths", None)
        return wl() if callable(wl) else wl


def read_labels(spec: str, like=None) -> np.ndarray:
    """Class-id labels (0 = none) from .mat or a raster (on the grid of `like` when given)."""
    if is_mat(spec):
        return as_labels(load_mat_array(spec))
    from .raster.reader import read_labels as read_raster_labels
    return read_raster_labels(spec, getattr(like, "grid", None))
