"""LiDAR given as LAS/LAZ point clouds: rasterised onto the HSI grid in memory for train / classify.

The model sees the products as LiDAR bands, so a model trained from a cloud records which
products (in order) and classify makes the same ones; a model trained on a LiDAR raster does
not know what its bands were, so classifying it with a cloud needs them named.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.errors import InputError
from ..core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, is_point_cloud, parse_products
from ..core.reporter import ForwardingReporter, Reporter

if TYPE_CHECKING:
    from ..core.pipeline import ArraySource, WindowSource


@dataclass
class CloudOptions:
    """How point clouds become LiDAR bands."""

    products: tuple[str, ...] = DEFAULT_PRODUCTS
    fill_radius: int = DEFAULT_FILL_RADIUS
    assume_crs: str | None = None


def training_options(lidar: str, products: str | Iterable[str] | None, fill_radius: int, assume_crs: str | None) -> CloudOptions | None:
    """Args: the request's LiDAR input and cloud settings (products None: DEFAULT_PRODUCTS).

    Returns:
        The options when LiDAR is a point cloud, else None (products are then ignored).
    """
    if not is_point_cloud(lidar):
        return None
    return CloudOptions(parse_products(products), int(fill_radius), assume_crs)


def classify_options(lidar: str, products: str | Iterable[str] | None, fill_radius: int, assume_crs: str | None,
                     model_products: Iterable[str] | None,
                     model_path: str, lidar_bands: int) -> CloudOptions | None:
    """The products a classification makes from a cloud: the model's, or those asked for.

    Args:
        lidar: the LiDAR input.
        products: the products asked for (None: the model's).
        fill_radius: cloud setting: empty cells further from a point (pixels) are nodata.
        assume_crs: cloud setting: the CRS of clouds whose header states none.
        model_products: the products the model was trained on (None: trained on a raster).
        model_path: named in messages.
        lidar_bands: the model's LiDAR band count.

    Returns:
        The options when LiDAR is a point cloud, else None.

    Raises:
        InputError: a raster-trained model without products, or products other than the model's.
    """
    if not is_point_cloud(lidar):
        return None
    asked = parse_products(products) if products else None
    if model_products:
        trained = tuple(model_products)
        if asked and asked != trained:
            raise InputError(f"the model {model_path} was trained on the LiDAR products {','.join(trained)}; "
                             f"--lidar-products {','.join(asked)} would give it other bands (leave it out to "
                             f"use the model's)")
        return CloudOptions(trained, int(fill_radius), assume_crs)
    if not asked:
        raise InputError(f"the model {model_path} was trained on a LiDAR raster ({lidar_bands} band(s)), so it "
                         f"does not know which point-cloud products make its bands; name them with "
                         f"--lidar-products (Processing: LiDAR products), e.g. 'dsm' for a DSM raster")
    return CloudOptions(asked, int(fill_radius), assume_crs)


def rasterised_source(spec: str, hsi: WindowSource, scene: str | None, options: CloudOptions,
                      reporter: Reporter) -> ArraySource:
    """The point clouds rasterised onto the HSI's grid, as an in-memory window source.

    Args:
        spec: .las/.laz files or folders ('a.laz;b.laz').
        hsi: the HSI source (a GDAL raster, or a benchmark .mat on its scene's nominal grid).
        scene: the benchmark scene, for .mat HSI.
        options: products, fill radius, CRS of clouds without one.
        reporter: progress, log, cancel.

    Returns:
        An ArraySource of the products (NaN = nodata).
    """
    from ..core.pipeline import ArraySource
    from ..raster.pointcloud import rasterise
    from .sources import output_grid
    grid = output_grid(hsi, scene)
    if not grid.crs_wkt:
        raise InputError(f"{getattr(hsi, 'name', 'HSI')} has no CRS (a .mat without a benchmark scene), so a "
                         f"point cloud cannot be placed on it; give the HSI as a georeferenced raster, or name the scene (--scene)")
    reporter.log(f"LiDAR point cloud(s) {spec} -> {', '.join(options.products)} on the HSI grid "
                 f"({grid.describe()})")
    bands, stats = rasterise(spec, grid, options.products, options.fill_radius, options.assume_crs,
                             reporter=_Quiet(reporter))
    reporter.log(f"LiDAR: {stats.points_on_grid:,} of {stats.points_read:,} points on the grid, "
                 f"{stats.cells_filled:,} cells filled, {stats.cells_nodata:,} nodata ({stats.seconds:.1f} s)")
    return ArraySource(bands, name=f"LiDAR ({spec}: {','.join(options.products)})")


class _Quiet(ForwardingReporter):
    """Logs and cancel pass through; the points-read progress would fight the caller's bar."""

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Dropped."""
