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


def open_image(spec: str, name: str):
    """HSI or LiDAR input as a window source; .mat cubes are rows x cols x bands."""
    if is_mat(spec):
        cube = as_bands_last(load_mat_array(spec))
        return ArraySource(np.moveaxis(cube, -1, 0), name=f"{name} ({spec})")
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{name} raster not found: {spec}")
    from .raster.reader import RasterSource  # a core window source as it is
    return RasterSource(spec, name=f"{name} ({spec})")


def wavelengths_of(spec: str) -> list[float] | None:
    """Band centres (nm) from a benchmark .mat's 'wavelengths_nm' or a raster's band metadata."""
    if is_mat(spec):
        return load_wavelengths(spec)
    from .raster.reader import RasterSource
    with RasterSource(spec) as src:
        return src.wavelengths()


def read_labels(spec: str, like=None) -> np.ndarray:
    """Class-id labels (0 = none) from .mat or a raster (on the grid of `like` when given)."""
    if is_mat(spec):
        return as_labels(load_mat_array(spec))
    from .raster.reader import read_labels as read_raster_labels
    return read_raster_labels(spec, getattr(like, "grid", None))
