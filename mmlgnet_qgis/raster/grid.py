"""Raster grids: size, geotransform and CRS of a layer, and the checks that two layers line up.

MMLGNet classifies pixel by pixel, so the HSI and LiDAR layers must share one grid exactly:
same CRS, same size, same origin and pixel size. Anything else is refused with a message
that says what differs, instead of being silently resampled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from osgeo import gdal, osr
from ..core.errors import GridMismatchError, InputError

gdal.UseExceptions()
osr.UseExceptions()




@dataclass
class RasterGrid:
    width: int
    height: int
    geotransform: tuple
    crs_wkt: str = ""
    band_count: int = 1
    nodata: list = field(default_factory=list)  # one entry per band, None where unset
    dtype: str = "Float32"  # GDAL data type name

    def __post_init__(self):
        self.width = int(self.width)
        self.height = int(self.height)
        self.geotransform = tuple(float(v) for v in self.geotransform)
        if len(self.geotransform) != 6:
            raise InputError(f"a geotransform has 6 numbers, got {self.geotransform}")
        self.crs_wkt = self.crs_wkt or ""
        self.nodata = list(self.nodata) if self.nodata else [None] * int(self.band_count)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds: gdal.Dataset) -> "RasterGrid":
        nodata = [ds.GetRasterBand(i + 1).GetNoDataValue() for i in range(ds.RasterCount)]
        dtype = (gdal.GetDataTypeName(ds.GetRasterBand(1).DataType)
                 if ds.RasterCount else "Byte")
        return cls(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(),
                   ds.GetProjection() or "", ds.RasterCount, nodata, dtype)

    @classmethod
    def north_up(cls, width: int, height: int, epsg: int | None, origin_xy: tuple[float, float],
                 pixel_size: float, band_count: int = 1, dtype: str = "Float32") -> "RasterGrid":
        """Grid with top-left corner origin_xy and square pixels (geotransform x0, ps, 0, y0, 0, -ps)."""
        x0, y0 = origin_xy
        ps = float(pixel_size)
        return cls(width, height, (x0, ps, 0.0, y0, 0.0, -ps), epsg_wkt(epsg) if epsg else "",
                   band_count, [None] * band_count, dtype)

    # -- derived values -----------------------------------------------------------------------
    @property
    def pixel_size(self) -> tuple[float, float]:
        return abs(self.geotransform[1]), abs(self.geotransform[5])

    @property
    def origin(self) -> tuple[float, float]:
        return self.geotransform[0], self.geotransform[3]

    @property
    def is_north_up(self) -> bool:
        gt = self.geotransform
        return gt[2] == 0.0 and gt[4] == 0.0 and gt[1] > 0 and gt[5] < 0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outer pixel edges (north-up grids)."""
        gt = self.geotransform
        xs = (gt[0], gt[0] + self.width * gt[1] + self.height * gt[2])
        ys = (gt[3], gt[3] + self.width * gt[4] + self.height * gt[5])
        return min(xs), min(ys), max(xs), max(ys)

    def srs(self) -> osr.SpatialReference | None:
        return srs_from_wkt(self.crs_wkt)

    def crs_authority(self) -> str:
        """'EPSG:32632' when the CRS has an authority code, else its name, else 'no CRS'."""
        return crs_label(self.crs_wkt)

    def describe(self) -> str:
        px, py = self.pixel_size
        x0, y0 = self.origin
        units = ""
        srs = self.srs()
        if srs is not None:
            units = " " + ("deg" if srs.IsGeographic() else (srs.GetLinearUnitsName() or "").lower()
                           .replace("metre", "m").replace("meter", "m"))
        rot = "" if self.geotransform[2] == 0 and self.geotransform[4] == 0 else ", rotated"
        return (f"{self.width} x {self.height} px, {self.band_count} band(s) {self.dtype}, "
                f"pixel {_num(px)} x {_num(py)}{units}, origin ({_num(x0)}, {_num(y0)}){rot}, "
                f"{self.crs_authority()}")


def _num(v: float) -> str:
    return f"{v:.10g}"


def epsg_wkt(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(int(epsg))
    return srs.ExportToWkt()


def srs_from_wkt(wkt: str) -> osr.SpatialReference | None:
    if not wkt:
        return None
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    # x = easting/longitude everywhere in this package, whatever the authority's axis order.
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def crs_label(wkt: str) -> str:
    srs = srs_from_wkt(wkt)
    if srs is None:
        return "no CRS"
    name, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    if name and code:
        return f"{name}:{code}"
    try:  # WKT without AUTHORITY nodes (e.g. from some .prj files): ask PROJ to identify it
        srs.AutoIdentifyEPSG()
        if srs.GetAuthorityCode(None):
            return f"{srs.GetAuthorityName(None)}:{srs.GetAuthorityCode(None)}"
    except RuntimeError:
        pass
    return srs.GetName() or "unnamed CRS"


def same_crs(wkt_a: str, wkt_b: str) -> bool:
    a, b = srs_from_wkt(wkt_a), srs_from_wkt(wkt_b)
    if a is None or b is None:
        return a is None and b is None
    return bool(a.IsSame(b))


def grid_of(path: str | os.PathLike) -> RasterGrid:
    ds = open_raster(path)
    try:
        return RasterGrid.from_dataset(ds)
    finally:
        ds = None


def open_raster(path: str | os.PathLike, update: bool = False) -> gdal.Dataset:
    flags = gdal.OF_RASTER | (gdal.OF_UPDATE if update else gdal.OF_READONLY)
    try:
        return gdal.OpenEx(str(path), flags)
    except RuntimeError as exc:
        raise FileNotFoundError(f"cannot open raster {path}: {exc}") from exc


def grid_differences(a: RasterGrid, b: RasterGrid, tol: float = 1e-3) -> list[str]:
    """What differs between two grids, in words (empty when they match).

    tol is relative to the pixel size: origins and pixel sizes may differ by tol pixels
    (float noise from reprojection tools) and still count as the same grid.
    """
    diffs = []
    if not same_crs(a.crs_wkt, b.crs_wkt):
        diffs.append(f"CRS {a.crs_authority()} vs {b.crs_authority()}")
    if (a.width, a.height) != (b.width, b.height):
        diffs.append(f"size {a.width} x {a.height} vs {b.width} x {b.height} px")
    scale = max(min(a.pixel_size), min(b.pixel_size), 1e-12)
    ga, gb = a.geotransform, b.geotransform
    if any(abs(ga[i] - gb[i]) > tol * scale for i in (1, 5)):
        diffs.append(f"pixel size {_num(ga[1])} x {_num(-ga[5])} vs {_num(gb[1])} x {_num(-gb[5])}")
    if any(abs(ga[i] - gb[i]) > tol * scale for i in (2, 4)):
        diffs.append(f"rotation terms ({_num(ga[2])}, {_num(ga[4])}) vs ({_num(gb[2])}, {_num(gb[4])}) "
                     f"of the geotransform")
    if any(abs(ga[i] - gb[i]) > tol * scale for i in (0, 3)):
        text = f"origin ({_num(ga[0])}, {_num(ga[3])}) vs ({_num(gb[0])}, {_num(gb[3])})"
        if same_crs(a.crs_wkt, b.crs_wkt):  # a shift in pixels only means something in one CRS
            dx = (gb[0] - ga[0]) / max(a.pixel_size[0], 1e-12) + 0.0
            dy = (ga[3] - gb[3]) / max(a.pixel_size[1], 1e-12) + 0.0
            text += f", shifted {dx:.3g} px right and {dy:.3g} px down"
        diffs.append(text)
    return diffs


def same_grid(a: RasterGrid, b: RasterGrid, tol: float = 1e-3) -> bool:
    return not grid_differences(a, b, tol)


def check_aligned(hsi_grid: RasterGrid | str, lidar_grid: RasterGrid | str,
                  hsi_name: str = "HSI", lidar_name: str = "LiDAR", tol: float = 1e-3) -> None:
    """Raise GridMismatchError unless both layers share one pixel grid."""
    a = hsi_grid if isinstance(hsi_grid, RasterGrid) else grid_of(hsi_grid)
    b = lidar_grid if isinstance(lidar_grid, RasterGrid) else grid_of(lidar_grid)
    diffs = grid_differences(a, b, tol)
    if diffs:
        raise GridMismatchError(
            f"{hsi_name} and {lidar_name} are not on the same pixel grid ({'; '.join(diffs)}).\n"
            f"  {hsi_name}: {a.describe()}\n"
            f"  {lidar_name}: {b.describe()}\n"
            f"Tick the \"resample LiDAR onto the HSI grid\" option to warp {lidar_name} onto the "
            f"{hsi_name} grid (bilinear), or align the layers beforehand "
            f"(Raster > Align Rasters, or GDAL Warp with the {hsi_name} extent and resolution).")
