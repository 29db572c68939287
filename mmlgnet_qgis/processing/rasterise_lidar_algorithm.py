"""mmlgnet:rasteriselidar — LAS/LAZ point clouds onto a reference raster's grid.

QGIS 3.22 on Debian has no PDAL provider, so a point-cloud layer parameter cannot open .las /
.laz files; the clouds are taken as files (several) and / or a folder of tiles instead.
"""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingParameterCrs,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ..core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, PRODUCT_HELP, PRODUCTS
from . import dependencies
from .algorithm_base import MMLGNetAlgorithm, raster_path, run_request

POINT_CLOUD_PACKAGES = {"laspy": "laspy", "lazrs": "lazrs"}


class RasteriseLidarAlgorithm(MMLGNetAlgorithm):
    # parameter -> request field (tests check that every field is reachable)
    FIELDS = {"POINT_CLOUDS": "point_clouds", "FOLDER": "point_clouds", "REFERENCE": "reference",
              "PRODUCTS": "products", "FILL_RADIUS": "fill_radius", "ASSUME_CRS": "assume_crs", "OUTPUT": "out"}
    IMPLICIT = {"chunk_points": "1,000,000 points read at a time (memory is bounded by the grid)"}
    EXTRA_TAGS = ["point cloud", "las", "laz", "rasterise", "dsm", "dtm", "intensity"]

    def name(self):
        return "rasteriselidar"

    def displayName(self):  # noqa: N802
        return self.tr("Rasterise LiDAR point cloud onto a raster grid")

    def shortHelpString(self):  # noqa: N802
        products = "\n".join(f"  {p}: {PRODUCT_HELP[p]}" for p in PRODUCTS)
        return self.tr(
            "Rasterises LAS / LAZ point clouds (files, or a folder of tiles) onto the grid of a reference "
            "raster (e.g. the HSI): same CRS, extent and pixel size, one float32 band per product, so the "
            "result can be the LiDAR input of train and classify.\n\n"
            f"Products:\n{products}\n"
            f"Default: {' + '.join(DEFAULT_PRODUCTS)} (height above ground and laser reflectance, the usual "
            "land-cover choice).\n\n"
            "The CRS comes from each file's header (WKT or GeoTIFF keys) and is reprojected to the reference's; "
            "a file without one is refused unless 'CRS of clouds without one' is set. Noise (classes 7, 18) "
            "and withheld points are ignored. Empty cells take the mean of cells within the fill radius, "
            "else they are nodata. Points are read in chunks: memory depends on the grid, not the cloud. "
            "Tiles off the grid are skipped; a single file off the grid is refused.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "POINT_CLOUDS", self.tr("Point cloud files (.las, .laz)"), QgsProcessing.SourceType.TypeFile,
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "FOLDER", self.tr("...and / or a folder of .las / .laz tiles"),
            behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "REFERENCE", self.tr("Reference raster (its grid: CRS, extent, pixel size)")))
        self.addParameter(QgsProcessingParameterEnum(
            "PRODUCTS", self.tr("Products (one band each, in this order)"), list(PRODUCTS), allowMultiple=True,
            defaultValue=[PRODUCTS.index(p) for p in DEFAULT_PRODUCTS]))
        self.addParameter(QgsProcessingParameterNumber(
            "FILL_RADIUS", self.tr("Fill empty cells from neighbours within (pixels; 0 = no fill)"),
            QgsProcessingParameterNumber.Type.Integer, DEFAULT_FILL_RADIUS, minValue=0, maxValue=1000))
        self.addParameter(QgsProcessingParameterCrs(
            "ASSUME_CRS", self.tr("CRS of clouds without one in their header"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Rasterised LiDAR")))

    def prepare(self, parameters, context, feedback):
        self.reference = raster_path(self, parameters, "REFERENCE", context, "Reference raster")

    def process(self, parameters, context, feedback):
        dependencies.require(POINT_CLOUD_PACKAGES)
        from ..app.rasterise_requests import RasteriseLidarRequest
        clouds = [f for f in (self.parameterAsFileList(parameters, "POINT_CLOUDS", context)
                              if parameters.get("POINT_CLOUDS") else []) if f]
        folder = self.parameterAsFile(parameters, "FOLDER", context) if parameters.get("FOLDER") else ""
        if folder:
            clouds.append(folder)
        if not clouds:
            raise QgsProcessingException("give point cloud files, a folder of tiles, or both")
        crs = self.parameterAsCrs(parameters, "ASSUME_CRS", context) if parameters.get("ASSUME_CRS") else None
        request = RasteriseLidarRequest(
            point_clouds=clouds, reference=self.reference,
            out=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            products=[PRODUCTS[i] for i in self.parameterAsEnums(parameters, "PRODUCTS", context)],
            fill_radius=self.parameterAsInt(parameters, "FILL_RADIUS", context),
            assume_crs=crs.toWkt() if crs is not None and crs.isValid() else None)
        result = run_request(request, feedback, "points")
        # the worker rebuilds known result classes by name; a plain dict otherwise
        return {"OUTPUT": result["out"] if isinstance(result, dict) else result.out}
