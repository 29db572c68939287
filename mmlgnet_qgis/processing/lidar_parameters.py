"""LiDAR as a raster layer or as LAS/LAZ point cloud files: the parameters train and classify share.

QGIS 3.22 on Debian has no PDAL provider, so point clouds are taken as files, not as layers.
"""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingParameterCrs,
                       QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber)

from ..core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, PRODUCTS
from .algorithm_base import raster_path

# parameter -> request field (LIDAR_POINT_CLOUDS fills `lidar` when given)
CLOUD_FIELDS = {"LIDAR_POINT_CLOUDS": "lidar", "LIDAR_PRODUCTS": "lidar_products",
                "LIDAR_FILL_RADIUS": "lidar_fill_radius", "LIDAR_CRS": "lidar_crs"}


def add_cloud_parameters(alg, trained: bool) -> None:  # noqa: ANN001
    """Add the point-cloud parameters after the LiDAR raster one.

    Args:
        alg: the algorithm (train or classify).
        trained: True for train (products default to DEFAULT_PRODUCTS); classify defaults to the model's.
    """
    alg.addParameter(QgsProcessingParameterMultipleLayers(
        "LIDAR_POINT_CLOUDS", alg.tr("…or LiDAR point cloud files (.las / .laz, rasterised onto the HSI grid)"),
        QgsProcessing.SourceType.TypeFile, optional=True))
    default = [PRODUCTS.index(p) for p in DEFAULT_PRODUCTS] if trained else None
    label = ("LiDAR products made from the point clouds" if trained else
             "LiDAR products made from the point clouds (empty = the model's; a model trained on a raster needs them)")
    alg.addParameter(QgsProcessingParameterEnum("LIDAR_PRODUCTS", alg.tr(label), list(PRODUCTS), allowMultiple=True,
                                                defaultValue=default, optional=True))
    radius = QgsProcessingParameterNumber(
        "LIDAR_FILL_RADIUS", alg.tr("Point clouds: fill empty cells from neighbours within (pixels)"),
        QgsProcessingParameterNumber.Type.Integer, DEFAULT_FILL_RADIUS, minValue=0, maxValue=1000)
    crs = QgsProcessingParameterCrs("LIDAR_CRS", alg.tr("Point clouds: CRS of files without one"), optional=True)
    for p in (radius, crs):
        p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        alg.addParameter(p)


def lidar_input(alg, parameters: dict, context) -> str:  # noqa: ANN001
    """The LiDAR input: the raster layer's file, or the point cloud files joined by ';'.

    Raises:
        QgsProcessingException: neither or both given.
    """
    clouds = [f for f in (alg.parameterAsFileList(parameters, "LIDAR_POINT_CLOUDS", context)
                          if parameters.get("LIDAR_POINT_CLOUDS") else []) if f]
    has_raster = parameters.get("LIDAR") not in (None, "")
    if clouds and has_raster:
        raise QgsProcessingException("give a LiDAR raster (LIDAR) or LiDAR point cloud files (LIDAR_POINT_CLOUDS), "
                                     "not both")
    if clouds:
        return ";".join(clouds)
    if not has_raster:
        raise QgsProcessingException("give a LiDAR raster (LIDAR) or LiDAR point cloud files (LIDAR_POINT_CLOUDS)")
    return raster_path(alg, parameters, "LIDAR", context, "LiDAR")


def cloud_fields(alg, parameters: dict, context) -> dict:  # noqa: ANN001
    """Returns: lidar_products, lidar_fill_radius and lidar_crs for the request."""
    chosen = alg.parameterAsEnums(parameters, "LIDAR_PRODUCTS", context) if parameters.get("LIDAR_PRODUCTS") \
        not in (None, "", []) else []
    crs = alg.parameterAsCrs(parameters, "LIDAR_CRS", context) if parameters.get("LIDAR_CRS") else None
    return {"lidar_products": [PRODUCTS[i] for i in chosen] or None,
            "lidar_fill_radius": alg.parameterAsInt(parameters, "LIDAR_FILL_RADIUS", context),
            "lidar_crs": crs.toWkt() if crs is not None and crs.isValid() else None}
