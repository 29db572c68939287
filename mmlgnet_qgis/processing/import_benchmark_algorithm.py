"""mmlgnet:importbenchmark — a benchmark .mat array as a georeferenced GeoTIFF."""
from __future__ import annotations

from qgis.core import (QgsProcessingException, QgsProcessingParameterCrs,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..app.requests import ImportRequest
from . import dependencies
from .algorithm_base import SCENES, MMLGNetAlgorithm, optional_string, run_request
from .layer_style import style_import_output

KINDS = ["auto", "hsi", "lidar", "labels"]
DOUBLE = QgsProcessingParameterNumber.Type.Double


class ImportBenchmarkAlgorithm(MMLGNetAlgorithm):
    EXTRA_TAGS = ["import", "mat", "matlab", "benchmark", "trento", "muufl", "geotiff"]
    # parameter -> request field (tests check that every field is reachable); INPUT + KEY make `mat`
    FIELDS = {"INPUT": "mat", "KEY": "mat", "KIND": "data_kind", "SCENE": "scene", "CRS": "epsg",
              "ORIGIN_X": "origin_x", "ORIGIN_Y": "origin_y", "PIXEL_SIZE": "pixel_size", "OUTPUT": "out"}

    def name(self):
        return "importbenchmark"

    def displayName(self):  # noqa: N802
        return self.tr("Import benchmark .mat as GeoTIFF")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Converts one array of a benchmark .mat file (e.g. Trento or MUUFL: HSI.mat, LiDAR.mat, "
            "TRLabel.mat) into a tiled GeoTIFF that QGIS and the other MMLGNet algorithms read.\n\n"
            "The benchmark files carry no georeference, so one is attached: choose a benchmark scene "
            "for its nominal grid (trento: EPSG:32632, top-left 664000, 5104000, 1 m; muufl: "
            "EPSG:32616, top-left 334000, 3365000, 1 m), or give CRS, origin (top-left corner) and "
            "pixel size; values you give override the scene's.\n\n"
            "Variable key: the array's name in the file (empty = the usual names: HSI, LiDAR, TRLabel, "
            "gt, ...). Kind 'auto' treats 2-D integer arrays as labels. Labels become class ids with "
            "nodata 0 and, with a scene, class names and colours (paletted). Image cubes keep their "
            "data type, one band per slice, with wavelengths as band descriptions when the file has them.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile("INPUT", self.tr("Benchmark .mat file"), extension="mat"))
        self.addParameter(QgsProcessingParameterString("KEY", self.tr("Variable key"), optional=True))
        self.addParameter(QgsProcessingParameterEnum("KIND", self.tr("Kind"), KINDS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            "SCENE", self.tr("Benchmark scene (nominal grid, class names)"), SCENES, defaultValue=0))
        self.addParameter(QgsProcessingParameterCrs("CRS", self.tr("CRS"), optional=True))
        self.addParameter(QgsProcessingParameterNumber("ORIGIN_X", self.tr("Origin x (left edge)"), DOUBLE, optional=True))
        self.addParameter(QgsProcessingParameterNumber("ORIGIN_Y", self.tr("Origin y (top edge)"), DOUBLE, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "PIXEL_SIZE", self.tr("Pixel size (CRS units)"), DOUBLE, optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("GeoTIFF")))

    def _epsg(self, parameters, context) -> int | None:
        if not parameters.get("CRS"):
            return None
        crs = self.parameterAsCrs(parameters, "CRS", context)
        if not crs.isValid():
            return None
        if not crs.authid().upper().startswith("EPSG:"):
            raise QgsProcessingException(f"the CRS must have an EPSG code, got {crs.authid() or crs.description()}")
        return int(crs.authid().split(":")[1])

    def process(self, parameters, context, feedback):
        dependencies.require({"scipy": "scipy"})  # reads .mat files; torch is not needed here
        scene = SCENES[self.parameterAsEnum(parameters, "SCENE", context)]
        key = optional_string(self, parameters, "KEY", context)
        mat = self.parameterAsFile(parameters, "INPUT", context)

        def number(name):
            return self.parameterAsDouble(parameters, name, context) if parameters.get(name) is not None else None

        request = ImportRequest(
            mat=f"{mat}:{key.strip()}" if key else mat, out=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            data_kind=KINDS[self.parameterAsEnum(parameters, "KIND", context)],
            scene=None if scene == "none" else scene, epsg=self._epsg(parameters, context),
            origin_x=number("ORIGIN_X"), origin_y=number("ORIGIN_Y"), pixel_size=number("PIXEL_SIZE"))
        result = run_request(request, feedback)
        # 'trento HSI' in natural colour, labels paletted with class names
        style_import_output(context, mat, request.scene, request.data_kind, result)
        return {"OUTPUT": result.out}
