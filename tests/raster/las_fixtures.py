"""Real LAS 1.4 / LAZ files for the point-cloud tests, written with laspy.

`surface_points` samples a raster surface as a cloud: first returns on the surface with
noise, ground returns (class 2) on a terrain, some last returns under objects, noise points.
"""
from __future__ import annotations

import numpy as np
from osgeo import osr

from mmlgnet_qgis.raster.pointcloud_crs import XYTransform


def wkt_of(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def write_las(path, pts: dict, crs_wkt: str | None = None, geokey_epsg: int | None = None,
              version: str = "1.4", point_format: int = 6, scale: float = 0.001, chunk: int | None = None) -> str:
    """Write points {'x','y','z','classification','return_number','number_of_returns','intensity'}.

    A .laz suffix compresses with lazrs. crs_wkt goes into an OGC WKT VLR (LAS 1.4's way);
    geokey_epsg into GeoTIFF keys (older files). chunk: write in pieces (streaming writer).
    """
    import laspy
    from laspy.vlrs.known import GeoKeyDirectoryVlr, WktCoordinateSystemVlr
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([scale, scale, 0.001])  # scale: x/y (1e-7 for degrees)
    header.offsets = np.array([np.floor(pts["x"].min()), np.floor(pts["y"].min()), 0.0])
    if crs_wkt:
        header.vlrs.append(WktCoordinateSystemVlr(crs_wkt))
        header.global_encoding.wkt = True
    if geokey_epsg:
        vlr = GeoKeyDirectoryVlr()
        vlr.geo_keys_header.key_directory_version = 1
        vlr.geo_keys_header.key_revision = 1
        vlr.geo_keys_header.number_of_keys = 2
        model, proj = type(vlr.geo_keys[0])(), type(vlr.geo_keys[0])()
        model.id, model.count, model.value_offset = 1024, 1, 1  # GTModelTypeGeoKey: projected
        proj.id, proj.count, proj.value_offset = 3072, 1, geokey_epsg
        vlr.geo_keys = [model, proj]
        header.vlrs.append(vlr)
    n = len(pts["x"])
    las = laspy.LasData(header)
    las.x, las.y, las.z = pts["x"], pts["y"], pts["z"]
    for name in ("classification", "return_number", "number_of_returns", "intensity"):
        if name in pts:
            setattr(las, name, pts[name])
    if chunk is None:
        las.write(str(path))
    else:
        with laspy.open(str(path), mode="w", header=las.header) as w:
            for i in range(0, n, chunk):
                w.write_points(las.points[i:i + chunk])
    return str(path)


def surface_points(dsm: np.ndarray, terrain: np.ndarray, geotransform, per_cell: int = 3, seed: int = 0,
                   z_noise: float = 0.02, ground_below: float = 0.3, intensity: np.ndarray | None = None,
                   under_fraction: float = 0.3, noise_points: int = 20) -> dict:
    """A cloud over a raster surface (row 0 = north).

    Each cell gets `per_cell` first returns at dsm + noise, at random places inside the cell;
    those where dsm - terrain < ground_below are ground (class 2), the rest class 1. A fraction
    of the object cells get a last return (class 2) on the terrain. `noise_points` class-7
    points float 50 m above the surface (they must not reach the dsm).
    """
    rng = np.random.default_rng(seed)
    h, w = dsm.shape
    x0, px, _, y0, _, gy = geotransform
    rows, cols = np.divmod(np.repeat(np.arange(h * w), per_cell), w)
    x = x0 + (cols + rng.uniform(0.02, 0.98, len(cols))) * px
    y = y0 + (rows + rng.uniform(0.02, 0.98, len(rows))) * gy
    surf = dsm[rows, cols].astype(np.float64)
    ground_z = terrain[rows, cols].astype(np.float64)
    z = surf + rng.normal(0, z_noise, len(surf))
    is_ground = (surf - ground_z) < ground_below
    cls = np.where(is_ground, 2, 1).astype(np.uint8)
    inten = (intensity[rows, cols] if intensity is not None else 1000 + 100 * is_ground).astype(np.float64)
    inten = np.clip(inten + rng.normal(0, 5, len(inten)), 0, 65535).astype(np.uint16)
    ret = np.ones(len(x), np.uint8)
    nret = np.ones(len(x), np.uint8)
    under = (~is_ground) & (rng.random(len(x)) < under_fraction)
    nret[under] = 2
    k = int(under.sum())
    ux, uy = x[under], y[under]
    uz = ground_z[under] + rng.normal(0, z_noise, k)
    noise = rng.integers(0, len(x), noise_points)
    return {
        "x": np.r_[x, ux, x[noise]], "y": np.r_[y, uy, y[noise]],
        "z": np.r_[z, uz, surf[noise] + 50.0],
        "classification": np.r_[cls, np.full(k, 2, np.uint8), np.full(noise_points, 7, np.uint8)],
        "return_number": np.r_[ret, np.full(k, 2, np.uint8), np.ones(noise_points, np.uint8)],
        "number_of_returns": np.r_[nret, np.full(k, 2, np.uint8), np.ones(noise_points, np.uint8)],
        "intensity": np.r_[inten, np.full(k, 300, np.uint16), np.full(noise_points, 9, np.uint16)],
    }


def reproject(pts: dict, src_epsg: int, dst_epsg: int) -> dict:
    """The same points with x/y in another CRS."""
    from mmlgnet_qgis.raster.pointcloud_crs import horizontal_srs
    tr = XYTransform(horizontal_srs(wkt_of(src_epsg)), horizontal_srs(wkt_of(dst_epsg)))
    x, y = tr.points(pts["x"], pts["y"])
    return {**pts, "x": x, "y": y}
