"""PRISMA Level 2D products (.he5): the VNIR and SWIR cubes read window by window as one spectrum.

Layout (ASI, "PRISMA Products Specification Document", Issue 2.3, 12/03/2020):

- cubes `HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/VNIR_Cube` and `SWIR_Cube`: uint16 DN stored
  rows x bands x columns, bands in the order of the centre lists (decreasing wavelength);
- root attributes `List_Cw_Vnir`, `List_Fwhm_Vnir`, `List_Cw_Vnir_Flags` (and `_Swir`): band centres
  and FWHM in nm; a centre or width of 0, or a flag of 0, marks an unused slot;
- `L2ScaleVnirMin` / `L2ScaleVnirMax` (and Swir): reflectance = min + DN * (max - min) / 65535;
- `Epsg_Code`, `Product_ULcorner_easting`, `Product_ULcorner_northing`: the UTM grid, 30 m pixels,
  the UL corner taken as the outer corner of the first pixel.

The two cubes become one spectrum sorted by wavelength. Rule for the VNIR / SWIR overlap
(about 920-1010 nm, where both detectors have bands): every used VNIR band is kept, and SWIR
bands centred at or below the longest used VNIR centre are dropped (the VNIR detector is the less
noisy one there; the common practice, e.g. Vangi et al. 2021). Unused slots are dropped.
DN 0 in every band read marks a pixel outside the image (no data).

The cubes are read through GDAL's HDF5 driver (multidimensional API, each cube viewed as a classic
raster of columns x rows x bands), so a window reads only the HDF5 chunks it touches.
"""
from __future__ import annotations

import os
import re

import numpy as np
from osgeo import gdal

from ..core.errors import DependencyError, InputError
from .envi import SpectralInfo
from .grid import RasterGrid, epsg_wkt
from .reader import RasterSource

FIELDS = "/HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields"
PIXEL_SIZE = 30.0
DN_MAX = 65535.0
DETECTORS = (("VNIR", "Vnir"), ("SWIR", "Swir"))


_SUBDATASET = re.compile(r'^HDF5:"?(?P<path>.+?\.he5)"?:', re.IGNORECASE)


def product_path(spec: str) -> str | None:
    """The .he5 a PRISMA input names: the file itself, or the file of a GDAL subdataset string such as
    QGIS gives for a layer added from one cube (`HDF5:"x.he5"://HDFEOS/SWATHS/PRS_L2D_HCO/Data_Fields/VNIR_Cube`);
    None for anything else."""
    spec = str(spec)
    if spec.lower().endswith(".he5"):
        return spec
    match = _SUBDATASET.match(spec)
    return match.group("path") if match else None


def hdf5_driver() -> gdal.Driver | None:
    """GDAL's HDF5 driver, or None when this GDAL was built without it."""
    return gdal.GetDriverByName("HDF5")


def _attribute(attrs: dict, key: str, path: str, required: bool = True):  # noqa: ANN202
    if key not in attrs:
        if required:
            raise InputError(f"{path}: the PRISMA L2D root attribute '{key}' is missing")
        return None
    return attrs[key]


def _floats(value, key: str, path: str) -> np.ndarray:  # noqa: ANN001
    try:
        return np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{path}: the attribute '{key}' is not a list of numbers") from None


class PrismaSource(RasterSource):
    """A PRISMA L2D .he5 as a RasterSource: float32 reflectance (bands, h, w), bands sorted by wavelength.

    Args:
        path: the .he5 file.
        name: used in messages.
        bands: 0-based subset of the merged bands.
        scale: multiplies the reflectance read.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None, bands: list[int] | None = None,
                 scale: float = 1.0):
        self.path = product_path(str(path)) or str(path)  # a subdataset string stands for its .he5
        self.name = name or os.path.basename(self.path) or self.path
        if hdf5_driver() is None:
            raise DependencyError(f"{self.path}: reading a PRISMA .he5 product needs GDAL's HDF5 driver, which this "
                                  f"GDAL ({gdal.__version__}) lacks; use a GDAL built with HDF5 (QGIS's own, "
                                  f"conda-forge) or convert the product to GeoTIFF first")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"PRISMA product not found: {self.path}")
        try:
            self._ds = gdal.OpenEx(self.path, gdal.OF_MULTIDIM_RASTER)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: not a readable HDF5 (PRISMA .he5) file: {exc}") from exc
        root = self._ds.GetRootGroup()
        attrs = {a.GetName(): a.Read() for a in (root.GetAttributes() or [])}
        self._parts = []          # per detector: (classic dataset, [(merged index, 1-based band)], min, max)
        merged = []               # (centre, fwhm, detector, 1-based band in its cube)
        rows_cols = None
        for det, key in DETECTORS:
            try:
                array = root.OpenMDArrayFromFullname(f"{FIELDS}/{det}_Cube")
            except RuntimeError:
                array = None
            if array is None:
                raise InputError(f"{self.path}: no {FIELDS.lstrip('/')}/{det}_Cube: not a PRISMA L2D product "
                                 f"(L1 and L2B/L2C products are not read)")
            dims = [d.GetSize() for d in array.GetDimensions()]
            if len(dims) != 3:
                raise InputError(f"{self.path}: {det}_Cube has {len(dims)} dimensions; expected rows x bands x columns")
            if rows_cols is not None and (dims[0], dims[2]) != rows_cols:
                raise InputError(f"{self.path}: VNIR_Cube is {rows_cols[0]} x {rows_cols[1]} px but SWIR_Cube "
                                 f"{dims[0]} x {dims[2]}")
            rows_cols = (dims[0], dims[2])
            centres = _floats(_attribute(attrs, f"List_Cw_{key}", self.path), f"List_Cw_{key}", self.path)
            widths = _floats(_attribute(attrs, f"List_Fwhm_{key}", self.path), f"List_Fwhm_{key}", self.path)
            flags = _attribute(attrs, f"List_Cw_{key}_Flags", self.path, required=False)
            flags = np.ones(dims[1]) if flags is None else _floats(flags, f"List_Cw_{key}_Flags", self.path)
            for what, values in ((f"List_Cw_{key}", centres), (f"List_Fwhm_{key}", widths),
                                 (f"List_Cw_{key}_Flags", flags)):
                if values.size != dims[1]:
                    raise InputError(f"{self.path}: '{what}' lists {values.size} values, but {det}_Cube has "
                                     f"{dims[1]} bands")
            low = float(_attribute(attrs, f"L2Scale{key}Min", self.path))
            high = float(_attribute(attrs, f"L2Scale{key}Max", self.path))
            used = [i for i in range(dims[1]) if centres[i] > 0 and widths[i] > 0 and flags[i] != 0]
            if det == "SWIR" and merged:
                longest_vnir = max(c for c, _, d, _ in merged if d == 0)
                used = [i for i in used if centres[i] > longest_vnir]
            part = len(self._parts)
            merged += [(float(centres[i]), float(widths[i]), part, i + 1) for i in used]
            self._parts.append([array.AsClassicDataset(2, 0), [], low, high, array])
        if not merged:
            raise InputError(f"{self.path}: every band slot is unused (centre, width or flag 0)")
        merged.sort(key=lambda m: m[0])
        for k, (_, _, part, band) in enumerate(merged):
            self._parts[part][1].append((k, band))
        self._merged = merged
        epsg = _attribute(attrs, "Epsg_Code", self.path)
        x0 = float(_attribute(attrs, "Product_ULcorner_easting", self.path))
        y0 = float(_attribute(attrs, "Product_ULcorner_northing", self.path))
        try:
            crs = epsg_wkt(int(np.asarray(epsg).ravel()[0]))
        except (RuntimeError, ValueError, TypeError):
            raise InputError(f"{self.path}: Epsg_Code {epsg!r} is not an EPSG code GDAL knows") from None
        n = len(merged)
        self.grid = RasterGrid(rows_cols[1], rows_cols[0], (x0, PIXEL_SIZE, 0.0, y0, 0.0, -PIXEL_SIZE), crs, n,
                               [None] * n, "Float32")
        self.all_band_count = n
        self.band_subset = None if bands is None else [int(b) for b in bands]
        self.scale = float(scale)
        if self.band_subset is not None:
            self.grid.band_count = len(self.band_subset)
        self._bands = []
        self._dataset_mask = False
        self._product_spectral = SpectralInfo(
            wavelengths_nm=[m[0] for m in merged], fwhm_nm=[m[1] for m in merged], scale=1.0,
            units_note=f"PRISMA L2D {os.path.basename(self.path)}: {n} bands (VNIR + SWIR, overlap from VNIR)")

    def close(self) -> None:
        """Release the HDF5 file."""
        self._parts = []
        self._ds = None

    def band_descriptions(self) -> list[str]:
        """Returns: 'VNIR band 12 (452.3 nm)' per band read."""
        chosen = self.band_subset if self.band_subset is not None else range(len(self._merged))
        return [f"{DETECTORS[self._merged[k][2]][0]} band {self._merged[k][3]} ({self._merged[k][0]:.1f} nm)"
                for k in chosen]

    def _plan(self) -> list[tuple[int, int, int]]:
        """(output position, part, 1-based band) per band read."""
        where = {}
        for part, (_, members, _, _, _) in enumerate(self._parts):
            for k, band in members:
                where[k] = (part, band)
        chosen = self.band_subset if self.band_subset is not None else range(len(self._merged))
        return [(pos, *where[k]) for pos, k in enumerate(chosen)]

    def _read_native(self, x0, y0, w, h) -> np.ndarray:
        plan = self._plan()
        out = np.empty((len(plan), h, w), np.uint16)
        for part, (classic, _, _, _, _) in enumerate(self._parts):
            mine = [(pos, band) for pos, p, band in plan if p == part]
            if not mine:
                continue
            block = classic.ReadAsArray(x0, y0, w, h, band_list=[band for _, band in mine])
            block = block[None] if block.ndim == 2 else block
            out[[pos for pos, _ in mine]] = block
        return out

    def _scaled(self, native: np.ndarray) -> np.ndarray:
        plan = self._plan()
        low = np.array([self._parts[p][2] for _, p, _ in plan], np.float32)[:, None, None]
        step = np.array([(self._parts[p][3] - self._parts[p][2]) / DN_MAX for _, p, _ in plan], np.float32)[:, None, None]
        out = low + native.astype(np.float32) * step
        return out * np.float32(self.scale) if self.scale != 1.0 else out

    def _mask_of(self, native: np.ndarray, x0, y0, w, h) -> np.ndarray:
        return (native != 0).any(axis=0)  # DN 0 in every band: outside the image

    def __repr__(self):
        return f"PrismaSource({self.path!r}: {self.grid.describe()})"
