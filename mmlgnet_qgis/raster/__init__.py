"""GDAL raster I/O for MMLGNet: grids, windowed reading, safe GeoTIFF writing, .mat import,
vector label rasterisation. Imports core and osgeo, never qgis."""
from .grid import (GridMismatchError, RasterGrid, check_aligned, grid_differences, grid_of,
                   same_crs, same_grid)
from .mat_import import mat_to_geotiff, nominal_grid, scene_georef
from .reader import RasterSource, read_labels, resample_to_grid
from .vector_labels import rasterize_labels
from .writer import ClassRasterWriter, FloatRasterWriter, GeoTiffWriter, qml_path_for

__all__ = [
    "GridMismatchError", "RasterGrid", "check_aligned", "grid_differences", "grid_of", "same_crs",
    "same_grid", "mat_to_geotiff", "nominal_grid", "scene_georef",
    "RasterSource", "read_labels", "resample_to_grid", "rasterize_labels", "ClassRasterWriter",
    "FloatRasterWriter", "GeoTiffWriter", "qml_path_for",
]
