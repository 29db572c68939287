"""Where a LAS/LAZ file's points lie: its CRS from the header, and x/y onto a raster grid's CRS.

LAS 1.4 (point formats 6-10) stores the CRS as an OGC WKT VLR; older files as GeoTIFF keys.
Both are read with GDAL's osr, so pyproj (which laspy's own `parse_crs` needs) is not required.
Heights are left as stored: only x/y are reprojected, the horizontal part of a compound CRS.
"""
from __future__ import annotations

import numpy as np
from osgeo import ogr, osr

from ..core.errors import InputError

ogr.UseExceptions()
osr.UseExceptions()

_PROJECTED_KEY, _GEOGRAPHIC_KEY = 3072, 2048  # ProjectedCSTypeGeoKey, GeographicTypeGeoKey
_USER_DEFINED = 32767
# One OGC MultiPoint WKB point: byte order, type, x, y (GDAL transforms it in C, no Python loop).
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
_WKB_HEADER = np.dtype([("order", "u1"), ("type", "<u4"), ("count", "<u4")])


def _vlrs(header) -> list:
    return list(header.vlrs) + list(getattr(header, "evlrs", None) or [])


def header_crs_wkt(header, path: str) -> str:
    """The CRS a LAS header states, as WKT.

    Args:
        header: a laspy LasHeader.
        path: the file, for messages.

    Returns:
        WKT of the CRS ("" when the header states none).

    Raises:
        InputError: the header's CRS cannot be read (malformed WKT, user-defined GeoTIFF keys).
    """
    from laspy.vlrs.known import GeoKeyDirectoryVlr, WktCoordinateSystemVlr
    for vlr in _vlrs(header):
        if isinstance(vlr, WktCoordinateSystemVlr) and vlr.string.strip():
            srs = osr.SpatialReference()
            try:
                srs.ImportFromWkt(vlr.string.strip())
            except RuntimeError as exc:
                raise InputError(f"point cloud {path}: its WKT CRS record cannot be read ({exc}): "
                                 f"{vlr.string[:80]!r}") from exc
            return srs.ExportToWkt()
    for vlr in _vlrs(header):
        if isinstance(vlr, GeoKeyDirectoryVlr):
            return _geokeys_wkt(vlr, path)
    return ""


def _geokeys_wkt(vlr, path: str) -> str:
    keys = {int(k.id): int(k.value_offset) for k in vlr.geo_keys}
    for key in (_PROJECTED_KEY, _GEOGRAPHIC_KEY):  # projected first: its datum is the geographic one
        code = keys.get(key)
        if code is None:
            continue
        if code == _USER_DEFINED or not 1024 <= code <= 32766:
            raise InputError(f"point cloud {path}: its GeoTIFF keys describe a user-defined CRS "
                             f"(key {key} = {code}), which cannot be read; state the CRS of the cloud")
        srs = osr.SpatialReference()
        try:
            srs.ImportFromEPSG(code)
        except RuntimeError as exc:
            raise InputError(f"point cloud {path}: its GeoTIFF keys name EPSG:{code}, "
                             f"which is not a known CRS ({exc})") from exc
        return srs.ExportToWkt()
    return ""


def horizontal_srs(wkt: str) -> osr.SpatialReference:
    """The horizontal part of a CRS, x = easting / longitude (OAMS_TRADITIONAL_GIS_ORDER)."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    if srs.IsCompound():
        srs.StripVertical()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def srs_label(srs: osr.SpatialReference) -> str:
    """'EPSG:32632' when the CRS has an authority code, else its name."""
    name, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{name}:{code}" if name and code else (srs.GetName() or "unnamed CRS")


def user_crs_wkt(text: str) -> str:
    """A CRS the user typed ('EPSG:32632', WKT, PROJ string) as WKT.

    Args:
        text: anything osr's SetFromUserInput reads.

    Returns:
        WKT.

    Raises:
        InputError: osr cannot read it.
    """
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(str(text))
    except RuntimeError as exc:
        raise InputError(f"the stated point-cloud CRS {text!r} is not a CRS GDAL knows ({exc})") from exc
    return srs.ExportToWkt()


class XYTransform:
    """x/y from one CRS to another; identity when both are the same."""

    def __init__(self, src: osr.SpatialReference, dst: osr.SpatialReference):
        """Args: src: the cloud's horizontal CRS; dst: the grid's."""
        self.identity = bool(src.IsSame(dst))
        self._ct = None if self.identity else osr.CoordinateTransformation(src, dst)

    def points(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Args: x, y: float64 arrays. Returns: (x, y) in the destination CRS."""
        if self.identity or len(x) == 0:
            return x, y
        n = len(x)
        pts = np.empty(n, _WKB_POINT)
        pts["order"], pts["type"], pts["x"], pts["y"] = 1, 1, x, y
        head = np.array([(1, 4, n)], _WKB_HEADER).tobytes()
        geom = ogr.CreateGeometryFromWkb(head + pts.tobytes())
        geom.Transform(self._ct)
        out = np.frombuffer(geom.ExportToWkb(ogr.wkbNDR), np.uint8)[_WKB_HEADER.itemsize:]
        out = np.frombuffer(out.tobytes(), _WKB_POINT)
        return out["x"].copy(), out["y"].copy()

    def bounds(self, xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[float, float, float, float]:
        """A box's bounding box in the destination CRS (edges densified: curved in the target)."""
        if self.identity:
            return xmin, ymin, xmax, ymax
        return tuple(self._ct.TransformBounds(xmin, ymin, xmax, ymax, 21))
