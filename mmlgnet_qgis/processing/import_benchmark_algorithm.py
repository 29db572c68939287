"""mmlgnet:importbenchmark — a benchmark .mat array as a georeferenced GeoTIFF."""
from __future__ import annotations

import os

from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessingException, QgsProcessingParameterCrs,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from . import dependencies
from .algorithm_base import SCENES, MMLGNetAlgorithm, optional_string, processing_errors
from .layer_style import style_on_load

KINDS = ["auto", "hsi", "lidar", "labels"]
DOUBLE = QgsProcessingParameterNumber.Double


class ImportBenchmarkAlgorithm(MMLGNetAlgorithm):
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

    def _georef(self, parameters, context, scene):
        """Scene defaults, overridden by whatever the user gave."""
        from ..raster.mat_import import scene_georef
        ref = scene_georef(scene) if scene else {}
        crs = self.parameterAsCrs(parameters, "CRS", context) if parameters.get("CRS") else QgsCoordinateReferenceSystem()
        if crs.isValid():
            epsg = crs.authid()
            if not epsg.upper().startswith("EPSG:"):
                raise QgsProcessingException(f"the CRS must have an EPSG code, got {crs.authid() or crs.description()}")
            ref["epsg"] = int(epsg.split(":")[1])
        x0, y0 = ref.get("origin_xy", (None, None))
        if parameters.get("ORIGIN_X") is not None:
            x0 = self.parameterAsDouble(parameters, "ORIGIN_X", context)
        if parameters.get("ORIGIN_Y") is not None:
            y0 = self.parameterAsDouble(parameters, "ORIGIN_Y", context)
        if parameters.get("PIXEL_SIZE") is not None:
            ref["pixel_size"] = self.parameterAsDouble(parameters, "PIXEL_SIZE", context)
        ref["origin_xy"] = (x0, y0)
        missing = [k for k, v in (("CRS", ref.get("epsg")), ("ORIGIN_X", x0), ("ORIGIN_Y", y0),
                                  ("PIXEL_SIZE", ref.get("pixel_size"))) if v is None]
        if missing:
            raise QgsProcessingException(f"no georeference for {', '.join(missing)}: choose a benchmark scene "
                                         f"or give CRS, ORIGIN_X, ORIGIN_Y and PIXEL_SIZE")
        if ref["pixel_size"] <= 0:
            raise QgsProcessingException(f"pixel size must be > 0, got {ref['pixel_size']}")
        return ref

    def process(self, parameters, context, feedback):
        dependencies.require({"scipy": "scipy"})  # reads .mat files; torch is not needed here
        from ..core.scenes import SCENES as SCENE_INFO
        from ..raster.mat_import import mat_to_geotiff
        from ..raster.writer import qml_path_for
        scene = SCENES[self.parameterAsEnum(parameters, "SCENE", context)]
        scene = None if scene == "none" else scene
        georef = self._georef(parameters, context, scene)
        mat = self.parameterAsFile(parameters, "INPUT", context)
        key = optional_string(self, parameters, "KEY", context)
        spec = f"{mat}:{key.strip()}" if key else mat
        kind = KINDS[self.parameterAsEnum(parameters, "KIND", context)]
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        names = list(SCENE_INFO[scene].class_names) if scene else None
        colours = list(SCENE_INFO[scene].colours) if scene else None
        feedback.pushInfo(f"{spec} -> {out}: EPSG:{georef['epsg']}, origin {georef['origin_xy']}, "
                          f"pixel {georef['pixel_size']}")
        with processing_errors(out, qml_path_for(out)):
            mat_to_geotiff(spec, out, kind=kind, class_names=names, colours_hex=colours, **georef)
        from ..raster.grid import grid_of
        feedback.pushInfo(f"written: {grid_of(out).describe()}")
        if os.path.isfile(qml_path_for(out)):  # labels with class names: open them paletted
            style_on_load(context, out, qml_path_for(out), names, colours)
        feedback.setProgress(100)
        return {"OUTPUT": out}
