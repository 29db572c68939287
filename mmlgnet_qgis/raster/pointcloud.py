"""LAS/LAZ point clouds rasterised onto a raster grid (the HSI's), streamed chunk by chunk.

Products (one band each, in the order asked):
  dsm        highest first-return Z per cell (the surface the HSI sees)
  dtm        mean Z of ground points (class 2); cells without one are interpolated (inverse
             distance, GDAL FillNodata) from the ground around them, e.g. under roofs
  ndsm       dsm - dtm, clipped at 0 (object height above ground)
  intensity  mean intensity of all returns
  density    returns per square metre

Points are read `chunk_points` at a time; each chunk is reduced per cell into grid-sized
arrays, so peak memory is bounded by the grid, not by the cloud. Noise (classes 7, 18) and
withheld points are ignored. Cells with no point take the inverse-distance mean of cells
within `fill_radius` pixels; beyond that they are nodata. Only x/y are reprojected.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, gdal_array

from ..core.errors import InputError
from ..core.lidar_products import (DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, PRODUCTS, SUFFIXES,  # noqa: F401
                                    is_point_cloud, parse_products, split_sources)
from ..core.reporter import Reporter, check_cancelled, or_null
from .grid import RasterGrid, srs_from_wkt
from .pointcloud_crs import XYTransform, header_crs_wkt, horizontal_srs, srs_label, user_crs_wkt

gdal.UseExceptions()

NODATA = -9999.0
CHUNK_POINTS = 1_000_000
PRODUCTS_METADATA = "MMLGNET_LIDAR_PRODUCTS"  # GeoTIFF metadata key: comma-separated products
_GROUND = 2
_NOISE = (7, 18)  # ASPRS low and high noise
_METRES_PER_DEGREE = 111_320.0


def point_cloud_files(sources) -> list[str]:
    """The LAS/LAZ files named by paths and folders (a folder: its .las/.laz files, sorted).

    Args:
        sources: a path, 'a.laz;b.laz', or a list of paths (files or folders).

    Returns:
        Absolute file paths, without duplicates.

    Raises:
        InputError: a path is missing, not a .las/.laz file, or a folder without one.
    """
    sources = split_sources(sources)
    if not sources:
        raise InputError("no point cloud file was given")
    files: list[str] = []
    for src in sources:
        p = os.path.abspath(str(src))
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p) if n.lower().endswith(SUFFIXES))
            if not found:
                raise InputError(f"point cloud folder {p} holds no .las or .laz file")
            files += found
        elif not os.path.exists(p):
            raise InputError(f"point cloud file not found: {p}")
        elif not p.lower().endswith(SUFFIXES):
            raise InputError(f"{p} is not a point cloud: expected a .las or .laz file")
        else:
            files.append(p)
    return list(dict.fromkeys(files))


@dataclass
class RasteriseStats:
    """What rasterising read and produced."""

    products: list[str]
    files: list[str]
    points_read: int = 0
    points_on_grid: int = 0
    cells_with_points: int = 0
    cells_filled: int = 0          # empty cells that took their neighbours' value (dsm / first product)
    cells_nodata: int = 0          # cells left nodata in the first product
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # files that do not overlap the grid


def _bounds_text(b, label: str) -> str:
    return f"x {b[0]:.10g}..{b[2]:.10g}, y {b[1]:.10g}..{b[3]:.10g} ({label})"


class _Cells:
    """Grid-sized per-cell reductions: only those the asked products need."""

    def __init__(self, grid: RasterGrid, products: tuple[str, ...]):
        n = grid.width * grid.height
        self.count = np.zeros(n, np.int32)
        need_dsm = bool({"dsm", "ndsm"} & set(products))
        need_dtm = bool({"dtm", "ndsm"} & set(products))
        self.first_max = np.full(n, -np.inf, np.float32) if need_dsm else None
        self.ground_sum = np.zeros(n, np.float64) if need_dtm else None
        self.ground_count = np.zeros(n, np.int32) if need_dtm else None
        self.intensity_sum = np.zeros(n, np.float64) if "intensity" in products else None

    def add(self, idx, z, first, ground, intensity) -> None:
        """Fold one chunk's points (flat cell index, sorted) into the cells."""
        cells, counts = _runs(idx, np.ones(len(idx), np.int32), np.add)
        self.count[cells] += counts
        if self.intensity_sum is not None:
            cells, sums = _runs(idx, intensity.astype(np.float64), np.add)
            self.intensity_sum[cells] += sums
        if self.first_max is not None:
            cells, top = _runs(idx[first], z[first].astype(np.float32), np.maximum)
            self.first_max[cells] = np.maximum(self.first_max[cells], top)
        if self.ground_sum is not None:
            cells, sums = _runs(idx[ground], z[ground], np.add)
            self.ground_sum[cells] += sums
            self.ground_count[cells] += _runs(idx[ground], np.ones(int(ground.sum()), np.int32), np.add)[1]


def _starts(sorted_idx: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]]) if len(sorted_idx) else \
        np.zeros(0, np.intp)


def _runs(sorted_idx: np.ndarray, values: np.ndarray, ufunc) -> tuple[np.ndarray, np.ndarray]:
    """(distinct cells, ufunc over each cell's values) for values ordered by cell."""
    starts = _starts(sorted_idx)
    if not len(starts):
        return starts, values[:0]
    return sorted_idx[starts], ufunc.reduceat(values, starts)


def _fill(values: np.ndarray, radius: int) -> np.ndarray:
    """NaN cells take the inverse-distance mean of valid cells within radius pixels (GDAL), in place.

    `values` must be a C-contiguous float32 array the caller owns: GDAL fills it through a MEM
    dataset over its buffer, so no copy of the grid is made.
    """
    valid = np.isfinite(values)
    if radius <= 0 or valid.all() or not valid.any():
        return values
    ds = gdal_array.OpenArray(values)
    mask = gdal_array.OpenArray(valid.view(np.uint8))
    gdal.FillNodata(ds.GetRasterBand(1), mask.GetRasterBand(1), float(radius), 0)
    ds = mask = None  # flushed into `values`; cells out of reach keep their NaN
    return values


def _cell_area_m2(grid: RasterGrid) -> np.ndarray:
    """Area of one cell per row, in square metres (column vector, broadcasts over the row)."""
    px, py = grid.pixel_size
    srs = grid.srs()
    if srs is not None and srs.IsGeographic():  # degrees: shrink with the latitude of the row
        lat = grid.origin[1] - (np.arange(grid.height) + 0.5) * py
        area = px * py * _METRES_PER_DEGREE ** 2 * np.cos(np.radians(lat))
    else:
        unit = srs.GetLinearUnits() if srs is not None else 1.0
        area = np.full(grid.height, px * py * unit * unit)
    return area[:, None]


def _products(cells: _Cells, grid: RasterGrid, products, fill_radius: int, stats: RasteriseStats) -> np.ndarray:
    """(bands, h, w) float32, NaN = nodata; the accumulators are dropped as they are used."""
    shape = (grid.height, grid.width)
    count = cells.count.reshape(shape)
    has = count > 0
    # Cells a product may cover: those with a point, or within the fill radius of one.
    covered = np.isfinite(_fill(np.where(has, np.float32(1), np.float32(np.nan)), fill_radius))
    dsm = dtm = None
    if cells.first_max is not None:
        dsm = cells.first_max.reshape(shape)  # float32, -inf where no first return
        dsm[np.isneginf(dsm)] = np.nan
        dsm = _fill(dsm, fill_radius)
        cells.first_max = None
    if cells.ground_sum is not None:
        ground = cells.ground_count.reshape(shape)
        dtm = (cells.ground_sum.reshape(shape) / np.maximum(ground, 1)).astype(np.float32)
        dtm[ground == 0] = np.nan
        cells.ground_sum = cells.ground_count = None
        dtm = _fill(dtm, max(shape))  # the ground under roofs and canopies: from any distance
    bands = np.full((len(products),) + shape, np.nan, np.float32)
    for band, name in zip(bands, products):
        if name == "dsm":
            value = dsm
        elif name == "dtm":
            value = dtm
        elif name == "ndsm":
            value = np.maximum(dsm - dtm, np.float32(0))  # NaN stays NaN; < 0 is noise
        elif name == "intensity":
            value = (cells.intensity_sum.reshape(shape) / np.maximum(count, 1)).astype(np.float32)
            value[~has] = np.nan
            value = _fill(value, fill_radius)
        else:  # density: an empty covered cell has density 0
            value = (count / _cell_area_m2(grid)).astype(np.float32)
        np.copyto(band, value, where=covered)
    stats.cells_with_points = int(has.sum())
    stats.cells_nodata = int(np.isnan(bands[0]).sum())
    stats.cells_filled = int(count.size - stats.cells_with_points - stats.cells_nodata)
    return bands


@dataclass
class _Cloud:
    path: str
    reader: object
    transform: XYTransform
    crs: str


def _open_cloud(path: str, grid: RasterGrid, assume_wkt: str, reporter: Reporter) -> "_Cloud | _NoOverlap":
    """Open one file and check its CRS and extent; the reason when it misses the grid."""
    import laspy
    try:
        reader = laspy.open(path)
    except (laspy.LaspyException, OSError, ValueError) as exc:
        raise InputError(f"point cloud {path} cannot be read as LAS/LAZ: {exc}") from exc
    try:
        hdr = reader.header
        wkt = header_crs_wkt(hdr, path)
        grid_srs = srs_from_wkt(grid.crs_wkt)
        if grid_srs is None:
            raise InputError("the reference raster has no CRS, so point clouds cannot be placed on it")
        if not wkt and not assume_wkt:
            raise InputError(f"point cloud {path} states no CRS in its header (no WKT or GeoTIFF-key "
                             f"record); state the CRS of the cloud (e.g. EPSG:{grid_srs.GetAuthorityCode(None)})")
        src = horizontal_srs(wkt or assume_wkt)
        if wkt and assume_wkt and not src.IsSame(horizontal_srs(assume_wkt)):
            reporter.warning(f"{os.path.basename(path)}: header CRS {srs_label(src)} kept; the stated "
                             f"CRS {srs_label(horizontal_srs(assume_wkt))} applies to clouds without one")
        tr = XYTransform(src, grid_srs)
        native = (hdr.mins[0], hdr.mins[1], hdr.maxs[0], hdr.maxs[1])
        try:
            b = tr.bounds(*native)
        except RuntimeError as exc:
            raise InputError(f"point cloud {path}: its extent {_bounds_text(native, srs_label(src))} "
                             f"cannot be reprojected to {grid.crs_authority()} ({exc})") from exc
        g = grid.bounds
        if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
            where = _bounds_text(native, srs_label(src))
            if not tr.identity:
                where += f", i.e. {_bounds_text(b, grid.crs_authority())}"
            reader.close()
            return _NoOverlap(f"point cloud {path} does not overlap the raster grid: the cloud covers "
                              f"{where}; the grid covers {_bounds_text(g, grid.crs_authority())}")
        return _Cloud(path, reader, tr, srs_label(src))
    except BaseException:
        reader.close()
        raise


class _NoOverlap(str):
    """The message of a file that misses the grid (skipped among tiles, refused alone)."""


def _read_cloud(cloud: _Cloud, grid: RasterGrid, cells: _Cells, products, chunk_points: int,
                progress, reporter: Reporter) -> tuple[int, int, np.ndarray]:
    """Stream one file into the cells. Returns (points read, points on the grid, class histogram)."""
    x0, px, _, y0, _, gy = grid.geotransform
    need_ground = bool({"dtm", "ndsm"} & set(products))
    read = on_grid = 0
    classes = np.zeros(256, np.int64)
    for chunk in _chunks(cloud, chunk_points):
        check_cancelled(reporter)
        cls = np.asarray(chunk.classification).astype(np.int64)
        classes += np.bincount(cls, minlength=256)[:256]
        keep = ~np.isin(cls, _NOISE) & ~np.asarray(chunk.withheld).astype(bool)
        try:
            x, y = cloud.transform.points(np.asarray(chunk.x)[keep], np.asarray(chunk.y)[keep])
        except RuntimeError as exc:
            raise InputError(f"point cloud {cloud.path}: points cannot be reprojected from "
                             f"{cloud.crs} to {grid.crs_authority()} ({exc})") from exc
        col = np.floor((x - x0) / px).astype(np.int64)
        row = np.floor((y - y0) / gy).astype(np.int64)
        inside = (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
        idx = (row * grid.width + col)[inside]
        order = np.argsort(idx, kind="stable")
        sel = np.flatnonzero(keep)[inside][order]  # chunk positions of the points, by cell
        z = np.asarray(chunk.z)[sel]
        first = np.asarray(chunk.return_number)[sel] <= 1  # 0: files that leave it unset
        ground = cls[sel] == _GROUND if need_ground else None
        intensity = np.asarray(chunk.intensity)[sel] if cells.intensity_sum is not None else None
        cells.add(idx[order], z, first, ground, intensity)
        read += len(cls)
        on_grid += len(sel)
        progress(len(cls))
    return read, on_grid, classes


def _chunks(cloud: _Cloud, chunk_points: int):
    """The file's points, chunk_points at a time; a damaged or truncated file is an InputError."""
    import laspy
    chunks = cloud.reader.chunk_iterator(chunk_points)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (laspy.LaspyException, OSError, ValueError, RuntimeError) as exc:
            raise InputError(f"point cloud {cloud.path} is damaged or truncated: {exc}") from exc
        yield chunk


def _no_ground_error(path: str, classes: np.ndarray) -> InputError:
    present = ", ".join(str(c) for c in np.flatnonzero(classes)) or "none"
    return InputError(f"point cloud {path} has no ground point (ASPRS class 2), which the dtm and ndsm "
                      f"products need; classes present: {present}. Classify ground first (e.g. "
                      f"lasground, PDAL filters.smrf) or choose dsm / intensity / density")


def rasterise(sources, grid: RasterGrid, products=DEFAULT_PRODUCTS, fill_radius: int = DEFAULT_FILL_RADIUS,
              assume_crs: str | None = None, chunk_points: int = CHUNK_POINTS,
              reporter: Reporter | None = None) -> tuple[np.ndarray, RasteriseStats]:
    """Rasterise LAS/LAZ point clouds onto a grid.

    Args:
        sources: a .las/.laz path, a folder of tiles, or a list of them.
        grid: the target grid (north-up, with a CRS), e.g. the HSI's `grid_of(path)`.
        products: names from PRODUCTS, or 'ndsm,intensity'.
        fill_radius: empty cells take the inverse-distance mean of cells within this many pixels.
        assume_crs: CRS ('EPSG:32632', WKT) of files whose header states none.
        chunk_points: points read at a time.
        reporter: progress (points read of the total), log, cancel.

    Returns:
        (bands, height, width) float32 with NaN where nodata, and the statistics.

    Raises:
        InputError: a file is unreadable, states no CRS (and none was given), misses the grid,
            or lacks ground points when dtm / ndsm are asked.
        Cancelled: the reporter asked to stop.
    """
    reporter = or_null(reporter)
    t0 = time.perf_counter()
    products = parse_products(products)
    files = point_cloud_files(sources)
    if not grid.is_north_up:
        raise InputError(f"the reference grid is rotated or flipped ({grid.describe()}); "
                         f"point clouds are rasterised onto north-up grids only")
    if int(fill_radius) < 0:
        raise InputError(f"the fill radius must be 0 or more pixels, got {fill_radius}")
    assume_wkt = user_crs_wkt(assume_crs) if assume_crs else ""
    stats = RasteriseStats(list(products), files)
    clouds, missed = [], []
    try:
        for path in files:
            cloud = _open_cloud(path, grid, assume_wkt, reporter)
            if isinstance(cloud, _NoOverlap):
                missed.append(str(cloud))
            else:
                clouds.append(cloud)
        if not clouds:
            raise InputError(missed[0] if len(missed) == 1 else
                             f"none of the {len(missed)} point cloud files overlaps the raster grid:\n  "
                             + "\n  ".join(missed[:5]))
        for m in missed:
            reporter.log(f"skipped: {m}")
        stats.skipped = [m.split(" does not")[0][len("point cloud "):] for m in missed]
        total = sum(int(c.reader.header.point_count) for c in clouds)
        done = [0]

        def progress(n):
            done[0] += n
            reporter.progress(done[0], max(total, 1))
        cells = _Cells(grid, products)
        for cloud in clouds:
            read, on_grid, classes = _read_cloud(cloud, grid, cells, products, chunk_points, progress, reporter)
            if cells.ground_sum is not None and classes[_GROUND] == 0:
                raise _no_ground_error(cloud.path, classes)
            reporter.log(f"{os.path.basename(cloud.path)}: {read:,} points in {cloud.crs}, "
                         f"{on_grid:,} on the grid")
            stats.points_read += read
            stats.points_on_grid += on_grid
    finally:
        for c in clouds:
            c.reader.close()
    if stats.points_on_grid == 0:
        raise InputError(f"no point of {', '.join(files[:3])}{' …' if len(files) > 3 else ''} falls on the "
                         f"raster grid ({_bounds_text(grid.bounds, grid.crs_authority())})")
    if cells.ground_count is not None and not cells.ground_count.any():
        raise InputError(f"no ground point (class 2) of {', '.join(files[:3])} falls on the raster grid; "
                         f"the dtm and ndsm products need some")
    bands = _products(cells, grid, products, int(fill_radius), stats)
    stats.seconds = time.perf_counter() - t0
    return bands, stats


def rasterise_to_geotiff(sources, grid: RasterGrid, out: str | os.PathLike, products=DEFAULT_PRODUCTS,
                         fill_radius: int = DEFAULT_FILL_RADIUS, assume_crs: str | None = None,
                         chunk_points: int = CHUNK_POINTS, reporter: Reporter | None = None) -> RasteriseStats:
    """Rasterise point clouds onto a grid and write a float32 GeoTIFF, one band per product.

    Args:
        sources, grid, products, fill_radius, assume_crs, chunk_points, reporter: as `rasterise`.
        out: the GeoTIFF; written under a temporary name and renamed when complete.

    Returns:
        The statistics. Band descriptions are the product names, nodata is NODATA, and the
        metadata item MMLGNET_LIDAR_PRODUCTS lists the products.

    Raises:
        InputError, Cancelled: as `rasterise`; nothing is left behind.
        OSError: the output cannot be written.
    """
    from .writer import FloatRasterWriter, check_output_path
    check_output_path(out, "rasterised LiDAR")  # before minutes of reading
    bands, stats = rasterise(sources, grid, products, fill_radius, assume_crs, chunk_points, reporter)
    out_grid = RasterGrid(grid.width, grid.height, grid.geotransform, grid.crs_wkt, len(bands))
    with FloatRasterWriter(out, out_grid, nodata=NODATA, description=list(stats.products),
                           band_count=len(bands)) as writer:
        writer.dataset.SetMetadataItem(PRODUCTS_METADATA, ",".join(stats.products))
        for r0 in range(0, grid.height, 256):  # row blocks: the float32 copy stays small
            check_cancelled(reporter)
            writer.write_window(0, r0, bands[:, r0:r0 + 256])
    return stats
