"""Windowed raster reading, validity masks, resampling onto a reference grid, label rasters.

Scenes can be far larger than memory, so RasterSource only ever reads explicit windows.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
from osgeo import gdal

from .envi import NM_PER_UNIT
from .grid import GridMismatchError, RasterGrid, check_aligned, grid_of, open_raster
from ..core.errors import InputError

gdal.UseExceptions()

_RESAMPLING = {
    "nearest": gdal.GRA_NearestNeighbour, "near": gdal.GRA_NearestNeighbour,
    "bilinear": gdal.GRA_Bilinear, "cubic": gdal.GRA_Cubic, "cubicspline": gdal.GRA_CubicSpline,
    "lanczos": gdal.GRA_Lanczos, "average": gdal.GRA_Average, "mode": gdal.GRA_Mode,
}


class RasterSource:
    """A raster opened read-only, read window by window as float32 (bands, h, w).

    `bands` (0-based) reads a subset, e.g. the good bands of an ENVI bad-band list; `scale`
    multiplies the values read (reflectance scale factors of two sensors made to agree).
    """

    def __new__(cls, path: str | os.PathLike, *args, **kwargs):
        if cls is RasterSource and ".he5" in str(path).lower():  # PRISMA: VNIR + SWIR cubes in HDF5
            from .prisma import PrismaSource, product_path
            if product_path(str(path)):
                return super().__new__(PrismaSource)
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike, name: str | None = None, bands: list[int] | None = None,
                 scale: float = 1.0):
        from . import enmap
        self.path = enmap.image_of(str(path))  # an EnMAP METADATA.XML stands for the spectral image beside it
        self.name = name or os.path.basename(self.path.rstrip("/")) or self.path
        self._ds = open_raster(self.path)
        self.grid = RasterGrid.from_dataset(self._ds)
        if self.grid.band_count < 1:
            raise InputError(f"{self.name}: {self.path} has no raster bands")
        self._product_spectral = None  # SpectralInfo from a product's metadata file (EnMAP METADATA.XML)
        xml = enmap.metadata_beside(self.path)
        if xml is not None:
            meta = enmap.read_metadata(xml)
            self._product_spectral = enmap.spectral_info(meta, self.grid.band_count, self.path)
            if meta.background is not None:  # the product's no-data value, where the GeoTIFF states none
                self.grid.nodata = [meta.background if nd is None else nd for nd in self.grid.nodata]
        self.all_band_count = self.grid.band_count
        self.band_subset = None if bands is None else [int(b) for b in bands]
        self.scale = float(scale)
        if self.band_subset is not None:
            self.grid.nodata = [self.grid.nodata[b] for b in self.band_subset]
            self.grid.band_count = len(self.band_subset)
        self._bands = [self._ds.GetRasterBand(i + 1) for i in (self.band_subset or range(self.grid.band_count))]
        # A per-dataset mask (alpha band, .msk sidecar) marks invalid pixels as well as nodata.
        flags = self._bands[0].GetMaskFlags()
        self._dataset_mask = bool(flags & gdal.GMF_PER_DATASET) and not flags & gdal.GMF_NODATA

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._bands = []
        self._ds = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def width(self) -> int:
        return self.grid.width

    @property
    def height(self) -> int:
        return self.grid.height

    @property
    def band_count(self) -> int:
        return self.grid.band_count

    bands = band_count  # the name core.pipeline's window sources use

    def band_descriptions(self) -> list[str]:
        return [b.GetDescription() for b in self._bands]

    def spectral(self):  # noqa: ANN201 (envi.SpectralInfo)
        """The ENVI header's (or EnMAP METADATA.XML's) wavelengths, fwhm, bad bands and scale, for all bands."""
        if self._product_spectral is not None:
            return self._product_spectral
        from .envi import spectral_info
        return spectral_info(self._ds, self.path)

    def wavelengths(self) -> list[float] | None:
        """Band centres in nm of the bands read: the ENVI header's 'wavelength' list (units nm or
        µm), else GDAL band metadata (WAVELENGTH + WAVELENGTH_UNITS, as written by
        mmlgnet:importbenchmark); None unless every band has one."""
        envi = self.spectral().wavelengths_nm
        if envi is not None:
            return [envi[b] for b in self.band_subset] if self.band_subset is not None else envi
        if self._ds.GetMetadataItem("wavelength", "ENVI"):
            return None  # a header whose 'wavelength' is no length (band index, wavenumber)
        out = []
        for band in self._bands:
            value = band.GetMetadataItem("WAVELENGTH") or band.GetMetadataItem("wavelength")
            units = band.GetMetadataItem("WAVELENGTH_UNITS") or band.GetMetadataItem("wavelength_units") or ""
            try:
                out.append(float(value) * NM_PER_UNIT.get(units.strip().lower(), 1.0))
            except (TypeError, ValueError):
                break
        return out if len(out) == self.band_count else None

    # -- reading --------------------------------------------------------------------------------
    def _check_window(self, x0: int, y0: int, w: int, h: int) -> tuple[int, int, int, int]:
        if self._ds is None:
            raise InputError(f"{self.name}: source is closed")
        x0, y0, w, h = int(x0), int(y0), int(w), int(h)
        if w <= 0 or h <= 0 or x0 < 0 or y0 < 0 or x0 + w > self.width or y0 + h > self.height:
            raise InputError(
                f"{self.name}: window x {x0}..{x0 + w}, y {y0}..{y0 + h} is outside the raster "
                f"({self.width} x {self.height} px) or empty")
        return x0, y0, w, h

    def _read_native(self, x0, y0, w, h) -> np.ndarray:
        band_list = [b + 1 for b in self.band_subset] if self.band_subset is not None else None
        arr = self._ds.ReadAsArray(x0, y0, w, h, band_list=band_list)
        return arr[None] if arr.ndim == 2 else arr

    def _scaled(self, native: np.ndarray) -> np.ndarray:
        out = native.astype(np.float32, copy=False)
        return out * np.float32(self.scale) if self.scale != 1.0 else out

    def _mask_of(self, native: np.ndarray, x0, y0, w, h) -> np.ndarray:
        valid = np.ones(native.shape[1:], dtype=bool)
        for band, nd in zip(native, self.grid.nodata):
            if nd is not None:
                valid &= ~nodata_matches(band, nd)
            if band.dtype.kind == "f":
                valid &= np.isfinite(band)
        if self._dataset_mask:
            valid &= self._bands[0].GetMaskBand().ReadAsArray(x0, y0, w, h) > 0
        return valid

    def read_window(self, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """float32 array (bands, h, w); the window must lie inside the raster."""
        x0, y0, w, h = self._check_window(x0, y0, w, h)
        return self._scaled(self._read_native(x0, y0, w, h))

    def valid_mask_window(self, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """bool (h, w): False where any band is nodata, NaN or infinite."""
        x0, y0, w, h = self._check_window(x0, y0, w, h)
        return self._mask_of(self._read_native(x0, y0, w, h), x0, y0, w, h)

    def read_window_with_mask(self, x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Both of the above from one read."""
        x0, y0, w, h = self._check_window(x0, y0, w, h)
        native = self._read_native(x0, y0, w, h)
        return self._scaled(native), self._mask_of(native, x0, y0, w, h)

    def __repr__(self):
        return f"RasterSource({self.path!r}: {self.grid.describe()})"


def nodata_matches(arr: np.ndarray, nodata: float) -> np.ndarray:
    """Where arr equals nodata, compared in arr's own type (a float32 cast could merge values)."""
    if arr.dtype.kind == "f":
        if np.isnan(nodata):
            return np.isnan(arr)
        return arr == arr.dtype.type(nodata)
    if not np.isfinite(nodata) or nodata != int(nodata):
        return np.zeros(arr.shape, dtype=bool)
    info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
    if info is not None and not info.min <= int(nodata) <= info.max:
        return np.zeros(arr.shape, dtype=bool)  # nodata outside the type's range never occurs
    return arr == int(nodata)


# -- resampling -------------------------------------------------------------------------------
_TEMP_DIRS: list[str] = []


def _cleanup_temp_dirs():
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_temp_dirs)


def resample_to_grid(src_path: str | os.PathLike, ref_grid: RasterGrid, resampling: str = "bilinear",
                     out_path: str | os.PathLike | None = None) -> str:
    """Warp src onto ref_grid exactly (CRS, bounds, size) as a VRT; returns the VRT path.

    Nothing is computed up front: the VRT warps on the fly, window by window, as it is read.
    Without out_path the VRT goes to a private temp folder removed when Python exits.
    Pixels outside the source become nodata (the source's, else NaN as Float32).
    """
    if resampling not in _RESAMPLING:
        raise InputError(f"unknown resampling '{resampling}'; use one of {sorted(_RESAMPLING)}")
    if not ref_grid.is_north_up:
        raise InputError(f"cannot resample onto a rotated grid: {ref_grid.describe()}")
    src_path = os.path.abspath(str(src_path)) if os.path.exists(str(src_path)) else str(src_path)
    src = open_raster(src_path)
    src_grid = RasterGrid.from_dataset(src)
    if not src_grid.crs_wkt and ref_grid.crs_wkt:
        raise GridMismatchError(f"{src_path} has no CRS, so it cannot be reprojected onto "
                                f"{ref_grid.describe()}; assign its CRS first")
    if out_path is None:
        tmp = tempfile.mkdtemp(prefix="mmlgnet-resample-")
        _TEMP_DIRS.append(tmp)
        stem = os.path.splitext(os.path.basename(src_path))[0] or "layer"
        out_path = os.path.join(tmp, f"{stem}_on_grid.vrt")
    out_path = str(out_path)

    kwargs = {}
    if any(nd is None for nd in src_grid.nodata):
        # No nodata to mark pixels the source does not cover: use NaN, which needs a float type.
        kwargs["dstNodata"] = float("nan")
        if src_grid.dtype not in ("Float32", "Float64"):
            kwargs["outputType"] = gdal.GDT_Float32
    xmin, ymin, xmax, ymax = ref_grid.bounds
    gdal.Warp(out_path, src, format="VRT", dstSRS=ref_grid.crs_wkt or None,
              outputBounds=(xmin, ymin, xmax, ymax), width=ref_grid.width, height=ref_grid.height,
              resampleAlg=_RESAMPLING[resampling], **kwargs)
    src = None
    got = grid_of(out_path)
    check_aligned(ref_grid, got, "reference grid", "resampled layer")  # guards against float drift
    return out_path


# -- labels -----------------------------------------------------------------------------------
def read_labels(path: str | os.PathLike, ref_grid: RasterGrid | None = None,
                name: str = "labels", compact: bool = False) -> np.ndarray:
    """Band 1 of a label raster as int64 (h, w); nodata -> 0 (= unlabeled).

    Labels are small (one band of class ids), so the whole band is read. With ref_grid the
    raster must lie on that grid. compact: the smallest unsigned type that holds the ids instead
    of int64 (a 15,000 x 15,000 uint8 label raster then takes 225 MiB, not 1.7 GiB).
    """
    ds = open_raster(path)
    grid = RasterGrid.from_dataset(ds)
    if ref_grid is not None:
        check_aligned(ref_grid, grid, "reference grid", name)
    band = ds.GetRasterBand(1)
    arr = band.ReadAsArray()
    nd = band.GetNoDataValue()
    invalid = np.zeros(arr.shape, dtype=bool)
    if nd is not None:
        invalid |= nodata_matches(arr, nd)
    if arr.dtype.kind == "f":
        data = arr[~invalid]
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise InputError(f"{name}: {path} is not integer-valued (band 1 is {grid.dtype} with "
                             f"fractional or NaN values); a label raster holds class ids 0..N")
    elif arr.dtype.kind not in "iub":
        raise InputError(f"{name}: {path} band 1 has type {grid.dtype}; expected integer class ids")
    out = np.where(invalid, 0, arr)
    del arr, invalid
    if out.min() < 0:
        raise InputError(f"{name}: {path} holds negative class ids (min {out.min()}); "
                         f"0 = unlabeled, 1..N = classes")
    return out.astype(np.min_scalar_type(int(out.max())) if compact else np.int64, copy=False)


def raster_classes(path: str) -> tuple[list[str], list[str]] | None:
    """Class names and colours embedded in a class GeoTIFF (category names + colour table), or None."""
    try:
        ds = gdal.Open(str(path))
    except RuntimeError:
        return None
    band = ds.GetRasterBand(1)
    band.GetDescription()  # loads the .aux.xml, where GDAL keeps category names
    names, table = band.GetCategoryNames(), band.GetColorTable()
    if not names or len(names) < 2:
        return None
    names = [str(n) for n in names[1:]]  # entry 0 = unclassified
    colours = []
    for k in range(1, len(names) + 1):
        rgba = table.GetColorEntry(k) if table is not None and k < table.GetCount() else (128, 128, 128, 255)
        colours.append("#{:02x}{:02x}{:02x}".format(*rgba[:3]))
    return names, colours


__all__ = ["RasterSource", "resample_to_grid", "read_labels", "raster_classes", "GridMismatchError"]
