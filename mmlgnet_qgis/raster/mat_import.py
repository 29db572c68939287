"""Benchmark .mat arrays -> georeferenced GeoTIFFs, so QGIS can show and process them.

The benchmark files carry no georeference; a nominal one (core.scenes.SCENES) is attached.
"""
from __future__ import annotations

import os
import re

import numpy as np
from osgeo import gdal

from ..core.scenes import SCENES, as_labels, load_mat_array, load_wavelengths, split_mat_spec
from .grid import RasterGrid
from .writer import GeoTiffWriter, apply_class_style, gdal_type_for, paletted_qml, qml_path_for, write_text_atomic
from ..core.defaults import MAX_CLASSES
from ..core.errors import InputError

gdal.UseExceptions()

KINDS = ("auto", "image", "hsi", "lidar", "labels")
# Variable names of label arrays in the common releases (TRLabel, TSLabel, gt, mask_train, ...).
_LABEL_KEY = re.compile(r"label|^gt$|mask|^tr|^ts", re.IGNORECASE)


def scene_georef(scene: str) -> dict:
    """Nominal georeference of a benchmark scene, as mat_to_geotiff keyword arguments."""
    s = _scene(scene)
    return {"epsg": s.epsg, "origin_xy": tuple(s.origin), "pixel_size": s.pixel_size}


def nominal_grid(scene: str, shape: tuple[int, int] | None = None) -> RasterGrid:
    """Nominal grid of a scene. shape = (rows, cols); without it, the public release's size."""
    s = _scene(scene)
    rows, cols = (int(v) for v in (shape or s.shape))
    return RasterGrid.north_up(cols, rows, s.epsg, s.origin, s.pixel_size)


def _scene(scene: str):
    if scene not in SCENES:
        raise KeyError(f"unknown scene '{scene}'; known: {sorted(SCENES)}")
    return SCENES[scene]


def _guess_kind(array: np.ndarray, key: str | None) -> str:
    if array.ndim == 2 and array.dtype.kind in "iub":
        return "labels"
    if (array.ndim == 2 and key and _LABEL_KEY.search(key) and np.all(np.isfinite(array))
            and np.all(array == np.round(array)) and array.min() >= 0):
        return "labels"  # labels saved as double by MATLAB
    return "image"


def mat_to_geotiff(mat_spec: str, out_path: str | os.PathLike, epsg: int,
                   origin_xy: tuple[float, float], pixel_size: float, nodata: float | None = None,
                   kind: str = "auto", class_names=None, colours_hex=None,
                   band_names: list[str] | None = None) -> str:
    """Write one .mat array ('file.mat' or 'file.mat:key') as a tiled north-up GeoTIFF.

    Images (rows x cols x bands, or rows x cols) keep their dtype, one band per slice, with
    wavelengths as band descriptions when the file holds 'wavelengths_nm'. Labels (2-D class
    ids) become Byte/UInt16 with nodata 0 and, given class_names, a colour table, category
    names and a .qml. Returns the output path.
    """
    if kind not in KINDS:
        raise InputError(f"kind must be one of {KINDS}, got '{kind}'")
    array = np.asarray(load_mat_array(str(mat_spec)))
    _, key = split_mat_spec(str(mat_spec))
    if kind == "auto":
        kind = _guess_kind(array, key)
    out_path = str(out_path)

    if kind == "labels":
        labels = as_labels(array)
        n_max = int(labels.max()) if labels.size else 0
        if class_names is not None and n_max > len(class_names):
            raise InputError(f"{mat_spec}: label {n_max} but only {len(class_names)} class names")
        if n_max > MAX_CLASSES:
            raise InputError(f"{mat_spec}: label {n_max} does not fit UInt16")
        wide = n_max > 255 or (class_names is not None and len(class_names) > 255)
        data = labels.astype(np.uint16 if wide else np.uint8)[None]
        gtype = gdal.GDT_UInt16 if wide else gdal.GDT_Byte
        nodata = 0
    else:
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise InputError(f"{mat_spec}: expected rows x cols [x bands], got shape {array.shape}")
        gtype = gdal_type_for(array.dtype)
        data = np.moveaxis(array, 2, 0)  # rows x cols x bands -> bands x rows x cols
        if array.dtype == np.bool_ or array.dtype == np.int8:
            data = data.astype(np.uint8 if array.dtype == np.bool_ else np.int16)

    bands, rows, cols = data.shape
    grid = RasterGrid.north_up(cols, rows, epsg, origin_xy, pixel_size, bands,
                               gdal.GetDataTypeName(gtype))
    wavelengths = _wavelengths(mat_spec, bands) if kind != "labels" else None
    descriptions = _band_descriptions(mat_spec, key, kind, bands, band_names, wavelengths)
    # Pixel interleaving: a window read of all bands then touches each tile once.
    options = ("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
               "BIGTIFF=IF_SAFER", "INTERLEAVE=PIXEL")
    with GeoTiffWriter(out_path, grid, bands, gtype, nodata, options) as w:
        ds = w.dataset
        ds.SetMetadataItem("SOURCE_MAT", os.path.basename(str(mat_spec)))
        for i in range(bands):
            band = ds.GetRasterBand(i + 1)
            band.SetDescription(descriptions[i])
            if wavelengths is not None:
                band.SetMetadataItem("WAVELENGTH", f"{wavelengths[i]:g}")
                band.SetMetadataItem("WAVELENGTH_UNITS", "nm")
        if kind == "labels" and class_names is not None:
            apply_class_style(ds.GetRasterBand(1), class_names, colours_hex)
        ds.WriteArray(np.ascontiguousarray(data))
    if kind == "labels" and class_names is not None:
        write_text_atomic(qml_path_for(out_path), paletted_qml(class_names, colours_hex))
    return out_path


def _wavelengths(mat_spec: str, bands: int) -> list[float] | None:
    try:
        wl = load_wavelengths(str(mat_spec))
    except (OSError, ValueError, RuntimeError):
        return None
    return wl if wl is not None and len(wl) == bands else None


def _band_descriptions(mat_spec, key, kind, bands, band_names, wl) -> list[str]:
    if band_names is not None:
        if len(band_names) != bands:
            raise InputError(f"{len(band_names)} band names for {bands} bands")
        return [str(n) for n in band_names]
    if kind == "labels":
        return ["class"]
    if wl is not None:
        return [f"band {i + 1} ({w:.1f} nm)" for i, w in enumerate(wl)]
    stem = key or os.path.splitext(os.path.basename(split_mat_spec(str(mat_spec))[0]))[0]
    return [f"{stem} band {i + 1}" for i in range(bands)]
