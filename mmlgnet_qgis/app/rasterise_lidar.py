"""Use case: LAS/LAZ point clouds rasterised onto a reference raster's grid as a GeoTIFF."""
from __future__ import annotations

from ..core.errors import InputError
from ..core.reporter import Reporter, or_null
from .outputs import check_outputs
from .rasterise_requests import RasteriseLidarRequest, RasteriseLidarResult


def run(req: RasteriseLidarRequest, reporter: Reporter | None = None) -> RasteriseLidarResult:
    """Write one float32 band per product on the reference raster's grid.

    Args:
        req: the point clouds, the reference raster, the products and the output.
        reporter: progress (points read), log, cancel.

    Returns:
        The output and the counts of points and cells.

    Raises:
        InputError: see raster.pointcloud.rasterise; nothing is left behind.
        Cancelled: the reporter asked to stop; nothing is left behind.
    """
    from ..raster.grid import grid_of
    from ..raster.pointcloud import parse_products, point_cloud_files, rasterise_to_geotiff
    reporter = or_null(reporter)
    files = point_cloud_files(req.point_clouds)
    products = parse_products(req.products)
    check_outputs({"rasterised LiDAR": req.out},
                  {"reference raster": req.reference, **{f"point cloud {f}": f for f in files}})
    try:
        grid = grid_of(req.reference)
    except FileNotFoundError as exc:
        raise InputError(f"reference raster {req.reference} cannot be opened: {exc}") from exc
    reporter.log(f"{len(files)} point cloud file(s) -> {', '.join(products)} on {grid.describe()}")
    stats = rasterise_to_geotiff(files, grid, req.out, products, req.fill_radius, req.assume_crs,
                                 req.chunk_points, reporter)
    reporter.log(f"{stats.points_on_grid:,} of {stats.points_read:,} points on the grid; "
                 f"{stats.cells_with_points:,} cells with points, {stats.cells_filled:,} filled from "
                 f"neighbours, {stats.cells_nodata:,} nodata; {stats.seconds:.1f} s")
    if stats.cells_nodata:
        reporter.warning(f"{stats.cells_nodata:,} of {grid.width * grid.height:,} cells have no point within "
                         f"{req.fill_radius} px and are nodata (pixels that are nodata in LiDAR are not classified)")
    return RasteriseLidarResult(out=req.out, products=list(stats.products), grid=grid.describe(),
                                files=files, skipped=stats.skipped, points_read=stats.points_read,
                                points_on_grid=stats.points_on_grid, cells_with_points=stats.cells_with_points,
                                cells_filled=stats.cells_filled, cells_nodata=stats.cells_nodata,
                                seconds=round(stats.seconds, 3))
