"""GeoTIFF writers that never leave a half-written output behind.

Each writer creates `.<name>.partial-<random>.tif` beside the final path, and only on a clean
exit closes it and renames it (plus its .aux.xml, where GDAL keeps category names) over the
final path. An exception, a cancel included, deletes the partial file; an existing final file
is untouched unless the new one is complete.
"""
from __future__ import annotations

import colorsys
import os
import sys
from xml.sax.saxutils import quoteattr

import numpy as np
from osgeo import gdal, gdal_array

from ..core.atomic_files import (check_output_path, partial_name, remove_quietly,  # noqa: F401 (re-export)
                                 write_text_atomic)
from .confidence_style import confidence_renderer_xml
from .grid import RasterGrid
from ..core.defaults import MAX_CLASSES
from ..core.errors import InputError

gdal.UseExceptions()

BLOCK_SIZE = 256
GTIFF_OPTIONS = ("TILED=YES", f"BLOCKXSIZE={BLOCK_SIZE}", f"BLOCKYSIZE={BLOCK_SIZE}",
                 "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER")
UNCLASSIFIED = "unclassified"
QGIS_STYLE_VERSION = "3.22.16-Białowieża"


# -- colours and styles -----------------------------------------------------------------------
def parse_colour(colour) -> tuple[int, int, int, int]:
    """'#rrggbb', '#rrggbbaa' or an (r, g, b[, a]) tuple -> (r, g, b, a)."""
    if isinstance(colour, str):
        h = colour.strip().lstrip("#")
        if len(h) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in h):
            raise InputError(f"colour {colour!r} is not '#rrggbb' or '#rrggbbaa'")
        vals = [int(h[i:i + 2], 16) for i in range(0, len(h), 2)]
        return tuple(vals + [255] * (4 - len(vals)))  # type: ignore[return-value]
    vals = [int(v) for v in colour]
    if len(vals) not in (3, 4) or any(not 0 <= v <= 255 for v in vals):
        raise InputError(f"colour {colour!r} is not (r, g, b[, a]) in 0..255")
    return tuple(vals + [255] * (4 - len(vals)))  # type: ignore[return-value]


def default_colours(n: int) -> list[str]:
    """n distinguishable colours (evenly spaced hues, golden-ratio order)."""
    out = []
    for k in range(n):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.75, 0.9)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def _class_colours(class_names, colours_hex) -> list[tuple[int, int, int, int]]:
    colours = list(colours_hex or [])
    if len(colours) < len(class_names):  # fill missing colours rather than fail on a style detail
        colours += default_colours(len(class_names))[len(colours):]
    return [parse_colour(c) for c in colours[:len(class_names)]]


def apply_class_style(band: gdal.Band, class_names, colours_hex=None) -> None:
    """Colour table (0 = transparent) and category names (0 = 'unclassified') on a class band."""
    ct = gdal.ColorTable()
    ct.SetColorEntry(0, (0, 0, 0, 0))
    for k, rgba in enumerate(_class_colours(class_names, colours_hex), start=1):
        ct.SetColorEntry(k, rgba)
    band.SetColorTable(ct)
    band.SetCategoryNames([UNCLASSIFIED] + [str(n) for n in class_names])


def qml_path_for(raster_path: str | os.PathLike) -> str:
    """QGIS loads '<raster without extension>.qml' as the layer's default style."""
    return os.path.splitext(str(raster_path))[0] + ".qml"


def _qml_document(renderer: str) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_STYLE_VERSION}" styleCategories="AllStyleCategories" '
        'hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0">\n'
        "  <pipe>\n"
        '    <provider>\n      <resampling enabled="false" maxOversampling="2" '
        'zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>\n'
        "    </provider>\n"
        f"{renderer}"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" '
        'colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>\n'
        '    <rasterresampler maxOversampling="2"/>\n'
        "    <resamplingStage>resamplingFilter</resamplingStage>\n"
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n")


# QGIS writes this default block into every raster renderer; both styles below carry it.
_MIN_MAX_ORIGIN = (
    "      <minMaxOrigin>\n        <limits>None</limits>\n        <extent>WholeRaster</extent>\n"
    "        <statAccuracy>Estimated</statAccuracy>\n"
    "        <cumulativeCutLower>0.02</cumulativeCutLower>\n"
    "        <cumulativeCutUpper>0.98</cumulativeCutUpper>\n"
    "        <stdDevFactor>2</stdDevFactor>\n      </minMaxOrigin>\n")


def paletted_qml(class_names, colours_hex=None, band: int = 1) -> str:
    """QGIS 3.22 paletted renderer style: one entry per class 1..N (0 stays nodata)."""
    entries = []
    for k, (name, (r, g, b, a)) in enumerate(
            zip(class_names, _class_colours(class_names, colours_hex)), start=1):
        entries.append(f'        <paletteEntry value="{k}" color="#{r:02x}{g:02x}{b:02x}" '
                       f'label={quoteattr(str(name))} alpha="{a}"/>\n')
    renderer = (
        f'    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        + _MIN_MAX_ORIGIN +
        "      <colorPalette>\n" + "".join(entries) + "      </colorPalette>\n"
        '      <colorramp type="randomcolors" name="[source]"/>\n'
        "    </rasterrenderer>\n")
    return _qml_document(renderer)


def confidence_qml(vmin: float, vmax: float, band: int = 1) -> str:
    """QGIS style for a confidence raster: viridis over [vmin, vmax] with a legend saying what it is."""
    return _qml_document(confidence_renderer_xml(vmin, vmax, band))


# -- temp-then-rename -------------------------------------------------------------------------
def commit_file(tmp: str, final: str) -> None:
    """Rename a closed GeoTIFF and its GDAL .aux.xml over final; drop a stale final .aux.xml."""
    os.replace(tmp, final)
    if os.path.exists(tmp + ".aux.xml"):
        os.replace(tmp + ".aux.xml", final + ".aux.xml")
    else:
        remove_quietly(final + ".aux.xml")  # else GDAL would attach the old file's metadata to the new one


def discard_file(tmp: str) -> None:
    for p in (tmp, tmp + ".aux.xml"):
        remove_quietly(p)


class GeoTiffWriter:
    """Tiled DEFLATE GeoTIFF on `grid`, written window by window, committed atomically.

    Use as a context manager, or call open() / commit() / abort() explicitly.
    `dataset` is the open GDAL dataset, for descriptions and metadata.
    """

    def __init__(self, path: str | os.PathLike, grid: RasterGrid, band_count: int = 1,
                 data_type: int = gdal.GDT_Float32, nodata: float | None = None,
                 options: tuple[str, ...] = GTIFF_OPTIONS):
        self.path = os.path.abspath(str(path))
        self.grid = grid
        self.band_count = int(band_count)
        self.data_type = data_type
        self.nodata = nodata
        self.options = list(options)
        self.dataset: gdal.Dataset | None = None
        self.tmp_path: str | None = None
        self.committed = False

    # subclasses set colour tables, descriptions, ...
    def _setup(self, ds: gdal.Dataset) -> None:
        pass

    def _after_commit(self) -> None:
        pass

    def open(self) -> "GeoTiffWriter":
        if self.dataset is not None:
            return self
        check_output_path(self.path)
        g = self.grid
        self.tmp_path = partial_name(self.path, ".tif")
        try:
            ds = gdal.GetDriverByName("GTiff").Create(self.tmp_path, g.width, g.height,
                                                      self.band_count, self.data_type, self.options)
            self.dataset = ds
            ds.SetGeoTransform(g.geotransform)
            if g.crs_wkt:
                ds.SetProjection(g.crs_wkt)
            if self.nodata is not None:
                for i in range(self.band_count):
                    ds.GetRasterBand(i + 1).SetNoDataValue(float(self.nodata))
            self._setup(ds)
        except BaseException:
            self.abort()
            raise
        return self

    def _check_window(self, x0: int, y0: int, h: int, w: int) -> None:
        if self.dataset is None:
            raise ValueError(f"{self.path}: writer is not open")
        if x0 < 0 or y0 < 0 or x0 + w > self.grid.width or y0 + h > self.grid.height:
            raise ValueError(f"{os.path.basename(self.path)}: window x {x0}..{x0 + w}, "
                             f"y {y0}..{y0 + h} is outside the output "
                             f"({self.grid.width} x {self.grid.height} px)")

    def write_band(self, band: int, x0: int, y0: int, array: np.ndarray) -> None:
        """Write a 2-D array into band (1-based) at column x0, row y0."""
        # GDAL 3.6 writes garbage from zero-stride views (np.broadcast_to): make a real buffer.
        array = np.ascontiguousarray(array)
        if array.ndim != 2:
            raise ValueError(f"expected a 2-D window, got shape {array.shape}")
        self._check_window(int(x0), int(y0), *array.shape)
        gdal_band = self.dataset.GetRasterBand(band)
        try:
            gdal_band.WriteArray(array, int(x0), int(y0))
            return
        except RuntimeError as exc:
            error = self._write_error(exc)
            # GDAL's frames in the traceback keep the dataset open: drop them so abort() closes it
            exc.__traceback__ = None
        gdal_band = None
        self.abort()
        raise error

    def _write_error(self, exc: Exception) -> OSError:
        return OSError(f"could not write {self.path}: {exc} (is the disk full, or the file larger than "
                       f"the file system or a file-size limit allows?); nothing was left behind")

    def finish(self) -> None:
        """Flush and close the temporary file (raises if that fails; then nothing is left)."""
        if self.dataset is None:
            raise ValueError(f"{self.path}: writer is not open")
        try:
            self.dataset.FlushCache()
        except RuntimeError as exc:  # GDAL's write errors: disk full, I/O error
            error = self._write_error(exc)
            exc.__traceback__ = None  # its GDAL frames hold the dataset open
            self.abort()
            raise error from None
        errors = self._close_dataset()  # closing writes the last tiles, the header and the .aux.xml
        if errors:
            self.abort()
            raise self._write_error(errors[0])

    def publish(self) -> str:
        """Rename the finished temporary file over the final path and write the sidecars."""
        try:
            commit_file(self.tmp_path, self.path)
            self.committed = True
            self._after_commit()
        except BaseException:
            self.abort()
            raise
        return self.path

    def commit(self) -> str:
        """finish() then publish(); returns the final path."""
        self.finish()
        return self.publish()

    def _close_dataset(self) -> list:
        """Close the dataset; return the errors raised by its destructor (where Python could only
        print them: a dataset whose writes failed fails again when closed)."""
        errors = []
        hook, sys.unraisablehook = sys.unraisablehook, lambda u: errors.append(u.exc_value)
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            self.dataset = None
        finally:
            gdal.PopErrorHandler()
            sys.unraisablehook = hook
        return errors

    def abort(self) -> None:
        if self.dataset is not None:
            self._close_dataset()  # its errors: the partial file is deleted anyway
        if self.tmp_path and not self.committed:
            discard_file(self.tmp_path)

    def __enter__(self):
        return self.open()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def __del__(self):
        # A writer dropped without commit (e.g. a crashed task) must not leave its partial file.
        try:
            if self.dataset is not None:
                self.abort()
        except Exception:
            pass


class ClassRasterWriter(GeoTiffWriter):
    """Class map: Byte (UInt16 beyond 255 classes), 0 = unclassified/nodata, palette + names,
    and a QGIS paletted .qml style beside it."""

    def __init__(self, path, grid: RasterGrid, class_names, colours_hex=None, nodata: int = 0,
                 write_qml: bool = True):
        self.class_names = [str(n) for n in class_names]
        if not self.class_names:
            raise InputError("a class map needs at least one class name")
        if len(self.class_names) > MAX_CLASSES:
            raise InputError(f"{len(self.class_names)} classes do not fit a UInt16 class map")
        self.colours_hex = list(colours_hex) if colours_hex else None
        self.write_qml = write_qml
        dtype = gdal.GDT_Byte if len(self.class_names) <= 255 else gdal.GDT_UInt16
        super().__init__(path, grid, 1, dtype, nodata)

    def _setup(self, ds):
        apply_class_style(ds.GetRasterBand(1), self.class_names, self.colours_hex)
        ds.GetRasterBand(1).SetDescription("class")

    def write_window(self, x0: int, y0: int, array: np.ndarray) -> None:
        """Write class ids (h, w): 0 = unclassified, 1..N = class_names[k - 1]."""
        array = np.asarray(array)
        if array.dtype.kind not in "iub":
            if array.dtype.kind != "f" or not np.all(array == np.round(array)):
                raise InputError(f"class ids must be integers, got {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > len(self.class_names)):
            raise InputError(f"class ids must lie in 0..{len(self.class_names)}, "
                             f"got {array.min()}..{array.max()}")
        dtype = np.uint8 if self.data_type == gdal.GDT_Byte else np.uint16
        self.write_band(1, x0, y0, array.astype(dtype, copy=False))

    def _after_commit(self):
        if self.write_qml:
            write_text_atomic(qml_path_for(self.path), paletted_qml(self.class_names, self.colours_hex))


class FloatRasterWriter(GeoTiffWriter):
    """Float32 raster (e.g. confidence); NaN/inf and pixels outside `valid` become nodata."""

    def __init__(self, path, grid: RasterGrid, nodata: float = -9999.0, description=None,
                 band_count: int = 1, value_range: tuple[float, float] | str | None = None):
        descs = [description] if isinstance(description, str) or description is None else list(description)
        if description is not None and len(descs) != band_count:
            raise InputError(f"{len(descs)} descriptions for {band_count} bands")
        self.descriptions = descs
        # a (min, max) or "auto" (the values written) also writes a viridis .qml over it (confidence)
        self.value_range = value_range
        self._seen = [np.inf, -np.inf]
        super().__init__(path, grid, band_count, gdal.GDT_Float32, nodata)

    def _setup(self, ds):
        for i, d in enumerate(self.descriptions):
            if d:
                ds.GetRasterBand(i + 1).SetDescription(str(d))

    def write_window(self, x0: int, y0: int, array: np.ndarray, valid: np.ndarray | None = None) -> None:
        """array (h, w) or (bands, h, w); valid (h, w) bool marks pixels to keep."""
        array = np.array(array, dtype=np.float32)  # a copy: nodata is written into it
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[0] != self.band_count:
            raise ValueError(f"expected ({self.band_count}, h, w) or (h, w), got {array.shape}")
        bad = ~np.isfinite(array)
        if valid is not None:
            bad |= ~np.asarray(valid, dtype=bool)[None]
        if (~bad).any():
            good = array[~bad]
            self._seen = [min(self._seen[0], float(good.min())), max(self._seen[1], float(good.max()))]
        array[bad] = self.nodata
        for i in range(self.band_count):
            self.write_band(i + 1, x0, y0, array[i])

    def _after_commit(self):
        vrange = self.value_range
        if vrange == "auto":
            vrange = tuple(self._seen) if self._seen[0] < self._seen[1] else None
        if vrange is not None:
            write_text_atomic(qml_path_for(self.path), confidence_qml(*vrange))


def gdal_type_for(dtype) -> int:
    """GDAL type code for a numpy dtype (int8 -> Int16, bool -> Byte: GDAL 3.6 lacks Int8)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return gdal.GDT_Byte
    if dtype == np.int8:
        return gdal.GDT_Int16
    code = gdal_array.NumericTypeCodeToGDALTypeCode(dtype)
    if code is None:
        raise ValueError(f"no GDAL type for numpy {dtype}")
    return code
