"""Request and result of the rasterise_lidar use case (LAS/LAZ point clouds onto a raster grid).

torch-, GDAL- and QGIS-free like `requests`, which registers the kind.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field

from ..core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS
from .requests import Request


@dataclass
class RasteriseLidarRequest(Request):
    """Rasterise LAS/LAZ files (or folders of tiles) onto the grid of a reference raster."""

    kind: typing.ClassVar[str] = "rasterise_lidar"
    point_clouds: list[str]                    # .las / .laz files and folders of them
    reference: str                             # raster whose grid (CRS, extent, pixel size) is used
    out: str                                   # float32 GeoTIFF, one band per product
    products: list[str] = field(default_factory=lambda: list(DEFAULT_PRODUCTS))
    fill_radius: int = DEFAULT_FILL_RADIUS     # pixels; empty cells further from a point are nodata
    assume_crs: str | None = None              # CRS of clouds whose header states none
    chunk_points: int = 1_000_000              # points read at a time


@dataclass
class RasteriseLidarResult:
    """The GeoTIFF written and what went into it."""

    out: str
    products: list[str]
    grid: str
    files: list[str]
    skipped: list[str]                         # files that do not overlap the grid
    points_read: int
    points_on_grid: int
    cells_with_points: int
    cells_filled: int
    cells_nodata: int
    seconds: float
