"""Opening a run's raster inputs: benchmark .mat files (core, no GDAL) or GDAL rasters.

'file.mat' / 'file.mat:key' load through core; anything else opens as a GDAL raster, imported
lazily so the .mat path also works on a bare GPU box without GDAL.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import InputError
from ..core.manifest import Manifest
from ..core.pipeline import ArraySource, WindowSource
from ..core.reporter import Reporter
from ..core.scenes import SCENES, as_bands_last, as_labels, load_mat_array, load_wavelengths, split_mat_spec

if TYPE_CHECKING:  # GDAL loads only for GDAL inputs
    from ..raster.grid import RasterGrid
    from .hsi_bands import HsiSelection
    from .lidar_source import CloudOptions


def is_mat(spec: str) -> bool:
    """Returns: whether `spec` names a benchmark .mat file (with or without ':key')."""
    return split_mat_spec(str(spec))[0].lower().endswith(".mat")


def open_image(spec: str, name: str, select: HsiSelection | None = None) -> WindowSource:
    """HSI or LiDAR input as a window source; .mat cubes are rows x cols x bands.

    Args:
        spec: file.mat, file.mat:KEY or a GDAL raster path.
        name: 'HSI' or 'LiDAR', used in messages.
        select: the bands to read and the scale (app.hsi_bands), for GDAL rasters.

    Returns:
        An ArraySource (.mat) or a RasterSource (GDAL).

    Raises:
        FileNotFoundError: a GDAL raster path that is not a file.
    """
    if is_mat(spec):
        cube = as_bands_last(load_mat_array(spec))
        return ArraySource(np.moveaxis(cube, -1, 0), name=f"{name} ({spec})")
    from ..raster.prisma import product_path
    spec = product_path(spec) or spec  # a PRISMA cube's GDAL subdataset (a QGIS layer) stands for its .he5
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{name} raster not found: {spec}")
    from ..raster.reader import RasterSource
    if select is not None and (select.bands is not None or select.scale != 1.0):
        note = select.describe()
        return RasterSource(spec, name=f"{name} ({spec}{', ' + note if note else ''})", bands=select.bands,
                            scale=select.scale)
    return RasterSource(spec, name=f"{name} ({spec})")


@contextmanager
def opened_pair(hsi_spec: str, lidar_spec: str, resample: bool, reporter: Reporter, cloud: CloudOptions | None = None,
                scene: str | None = None, hsi_select: HsiSelection | None = None,
                ) -> Iterator[tuple[WindowSource, WindowSource]]:
    """HSI and LiDAR window sources on one pixel grid, closed after the block.

    GDAL rasters must share CRS, extent and pixel size (GridMismatchError names both grids)
    unless resample is set: then LiDAR is warped onto the HSI grid on the fly (bilinear VRT).

    Args:
        hsi_spec: the HSI input.
        lidar_spec: the LiDAR input.
        resample: warp LiDAR onto the HSI grid.
        reporter: logs the grid.
        cloud: lidar_source.CloudOptions when LiDAR is LAS/LAZ point clouds: rasterised onto the HSI grid.
        scene: the benchmark scene, whose nominal grid a .mat HSI has (for point clouds).
        hsi_select: the HSI bands to read and their scale (ENVI bad-band list, reflectance scale).

    Yields:
        (hsi, lidar) sources.
    """
    hsi = open_image(hsi_spec, "HSI", hsi_select)
    lidar = None
    try:
        if cloud is not None:  # on the HSI grid by construction
            from .lidar_source import rasterised_source
            lidar = rasterised_source(lidar_spec, hsi, scene, cloud, reporter)
        else:
            lidar = open_image(lidar_spec, "LiDAR")
        hg, lg = getattr(hsi, "grid", None), getattr(lidar, "grid", None)
        if hg is not None and lg is not None:
            from ..raster.grid import check_aligned, same_grid
            if resample and not same_grid(hg, lg):
                from ..raster.reader import RasterSource, resample_to_grid
                lidar.close()
                vrt = resample_to_grid(lidar_spec, hg, "bilinear")
                lidar = RasterSource(vrt, name=f"LiDAR ({lidar_spec}, resampled onto the HSI grid)")
                reporter.log(f"LiDAR resampled (bilinear) onto the HSI grid: {hg.describe()}")
            check_aligned(hg, lidar.grid, hsi.name, lidar.name)
            reporter.log(f"HSI grid: {hg.describe()}")
        yield hsi, lidar
    finally:
        for src in (hsi, lidar):
            if src is not None and hasattr(src, "close"):
                src.close()


def wavelengths_of(spec: str, select: HsiSelection | None = None) -> list[float] | None:
    """Band centres (nm) from a benchmark .mat's 'wavelengths_nm' or a raster's band metadata.

    Args:
        spec: the HSI input.
        select: the bands read (app.hsi_bands); None: all.

    Returns:
        One centre per band (None for a band without one), or None when unknown.
    """
    if is_mat(spec):
        return load_wavelengths(spec)
    from ..raster.reader import RasterSource
    with RasterSource(spec, bands=select.bands if select is not None else None) as src:
        return src.wavelengths()


def read_labels(spec: str, like: WindowSource | None = None, compact: bool = False) -> np.ndarray:
    """Class-id labels (0 = none) from .mat or a raster (on the grid of `like` when given).

    Args:
        spec: the labels input.
        like: a source whose grid the labels must share.
        compact: a raster's ids in the smallest unsigned type that holds them (large scenes).

    Returns:
        (H, W) int64 class ids (compact: uint8 / uint16 / ... for a raster).
    """
    if spec.lower().endswith(".npy"):
        return np.load(spec, allow_pickle=False)
    if is_mat(spec):
        return as_labels(load_mat_array(spec))
    from ..raster.reader import read_labels as read_raster_labels
    return read_raster_labels(spec, getattr(like, "grid", None), compact=compact)


def check_wavelengths(manifest: Manifest, hsi_spec: str, reporter: Reporter,
                      select: HsiSelection | None = None) -> None:
    """Refuse an HSI whose bands sit elsewhere in the spectrum than the model's.

    Same band count, different meaning: another sensor, or bands in another order. Needs both
    band lists; without them nothing is checked.

    Args:
        manifest: the model's manifest.
        hsi_spec: the HSI input.
        reporter: logs how close the centres are.
        select: the bands read (app.hsi_bands); None: all.
    """
    trained = manifest.wavelengths_nm
    if not trained:
        return
    here = wavelengths_of(hsi_spec, select)
    if not here:
        return  # unknown here
    if len(here) != len(trained):
        if any(v is None for v in here) or any(v is None for v in trained):
            return  # a band-count mismatch that classify() names
        raise InputError(f"HSI ({hsi_spec}) has {len(here)} bands at {min(here):g}-{max(here):g} nm; the model was "
                         f"trained on {len(trained)} bands at {min(trained):g}-{max(trained):g} nm: resample the "
                         f"scene's spectra to the model's bands with --resample-bands linear (or gaussian; "
                         f"Processing: 'Resample the HSI bands to the model's band centres')")
    trained = np.array([np.nan if v is None else v for v in trained], float)  # None: a band without a centre
    here = np.asarray(here, float)
    spacing = np.median(np.abs(np.diff(trained))) if trained.size > 1 else 10.0
    off = np.abs(trained - here)
    worst = int(np.nanargmax(off)) if np.isfinite(off).any() else 0
    if off[worst] > max(0.5 * spacing, 1.0):
        raise InputError(f"HSI ({hsi_spec}) band {worst + 1} is centred at {here[worst]:g} nm, but the model's "
                         f"band {worst + 1} was at {trained[worst]:g} nm: another sensor or band order. "
                         f"Train a model on this sensor, or resample the scene's spectra to the model's bands with "
                         f"--resample-bands linear (or gaussian; Processing: 'Resample the HSI bands to the model's band centres')")
    if off.max() > 0:
        reporter.log(f"HSI band centres within {off.max():.3g} nm of the model's")


def output_grid(hsi: WindowSource, scene: str | None) -> RasterGrid:
    """The HSI's own grid; for .mat inputs the scene's nominal grid (or a bare pixel grid).

    Args:
        hsi: the HSI source.
        scene: the model's benchmark scene, if any.

    Returns:
        The RasterGrid to write outputs on.
    """
    from ..raster.grid import RasterGrid
    from ..raster.mat_import import nominal_grid
    if getattr(hsi, "grid", None) is not None:
        return hsi.grid
    known = SCENES.get(scene or "")
    if known and (hsi.height, hsi.width) == known.shape:
        return nominal_grid(known.name)
    return RasterGrid.north_up(hsi.width, hsi.height, None, (0.0, float(hsi.height)), 1.0)
