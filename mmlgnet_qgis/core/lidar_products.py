"""Names of the rasters made from a LiDAR point cloud, and how to tell a point cloud input.

Standard library only: requests, the command line and Processing name products and spot
.las/.laz inputs without importing GDAL or laspy (raster.pointcloud does the work).
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from .errors import InputError

PRODUCTS = ("dsm", "dtm", "ndsm", "intensity", "density")
PRODUCT_HELP = {
    "dsm": "highest first-return Z per cell",
    "dtm": "ground (class 2) Z, interpolated where a cell has no ground point",
    "ndsm": "dsm - dtm: height above ground",
    "intensity": "mean intensity of all returns",
    "density": "returns per square metre",
}
# Land-cover default: height above ground separates trees / vineyards / roofs from ground
# wherever the terrain rises (a raw DSM mixes terrain with object height), and intensity
# (near-infrared reflectance of the laser) separates vegetation, asphalt and bare soil of one
# height. Both are per-cell means or maxima, robust to point density, unlike `density`.
DEFAULT_PRODUCTS = ("ndsm", "intensity")
DEFAULT_FILL_RADIUS = 2  # pixels: covers the gaps of a ~1 point / m2 cloud on a 1 m grid
SUFFIXES = (".las", ".laz")


def split_sources(spec: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Args: spec: a path, 'a.laz;b.laz', or a list. Returns: the paths (';' separates several)."""
    if isinstance(spec, (str, os.PathLike)):
        return [p.strip() for p in str(spec).split(";") if p.strip()]
    return [str(p) for p in spec]


def is_point_cloud(spec: str | os.PathLike | Iterable[str | os.PathLike]) -> bool:
    """Args: spec: as `split_sources`. Returns: True for .las/.laz files or folders holding some."""
    paths = split_sources(spec)
    if not paths:
        return False
    for p in paths:
        if os.path.isdir(p):
            if not any(n.lower().endswith(SUFFIXES) for n in os.listdir(p)):
                return False
        elif not p.lower().endswith(SUFFIXES):
            return False
    return True


def parse_products(products: str | Iterable[str] | None) -> tuple[str, ...]:
    """Args: products: 'ndsm,intensity' or a list of names (None: DEFAULT_PRODUCTS).

    Returns:
        The product names, in order, without duplicates.

    Raises:
        InputError: an unknown product name, or none.
    """
    if products is None:
        return DEFAULT_PRODUCTS
    names = products.split(",") if isinstance(products, str) else list(products)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in PRODUCTS]
    if unknown:
        raise InputError(f"unknown LiDAR product(s) {', '.join(unknown)}; known: {', '.join(PRODUCTS)}")
    if not names:
        raise InputError(f"no LiDAR product was asked for; choose from {', '.join(PRODUCTS)}")
    return tuple(dict.fromkeys(names))
