"""mmlgnet:classifydask — classify on a Dask cluster (a scheduler's address, or a local one)."""
from __future__ import annotations

from types import SimpleNamespace

from qgis.core import (QgsProcessingException, QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..app.distributed_requests import LOCAL, DistributedClassifyRequest
from . import dependencies
from .algorithm_base import DEVICES, MMLGNetAlgorithm, optional_string, raster_path, run_request, threads_parameter
from .layer_style import style_classify_outputs


def _advanced(p):
    p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    return p


class DistributedClassifyAlgorithm(MMLGNetAlgorithm):
    EXTRA_TAGS = ["classify", "dask", "cluster", "distributed", "parallel", "mosaic", "batch"]
    # parameter -> request field (tests check that every field is reachable)
    FIELDS = {"HSI": "hsi", "LIDAR": "lidar", "SCENES": "scenes", "MODEL": "model", "SCHEDULER": "cluster",
              "WORKERS": "cluster", "DEVICE": "device", "TILE_SIZE": "tile", "BLOCK_TILES": "block_tiles",
              "AMP": "amp", "THREADS": "threads", "GDAL_CACHEMAX": "gdal_cachemax", "OUTPUT": "out",
              "CONFIDENCE": "confidence", "OUTPUT_FOLDER": "out_dir", "WITH_CONFIDENCE": "with_confidence"}

    def name(self):
        return "classifydask"

    def displayName(self):  # noqa: N802
        return self.tr("Classify on a Dask cluster")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Classifies HSI + LiDAR scenes on a Dask cluster: each task classifies a block of tiles and writes "
            "it beside the output; the blocks are then joined into one tiled GeoTIFF (colour table, class "
            "names, .qml), identical to 'Classify HSI + LiDAR'.\n\n"
            "Scheduler address: tcp://host:8786 of a running cluster (dask-jobqueue on SLURM / PBS, "
            "Kubernetes, ...); empty = a local cluster of worker processes on this machine. Every worker must "
            "see the same paths: the rasters, the model file and the output folder (a shared file system, "
            "or /vsis3/, /vsicurl/ rasters).\n\n"
            "One scene: HSI, LiDAR, classified raster (batch mode runs one scene per row). Many scenes in one "
            "cluster run: a CSV of hsi,lidar[,out[,confidence]] lines and an output folder. GDAL rasters only "
            "(no point clouds, no resampling, no prompt override: prepare those first).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("HSI", self.tr("Hyperspectral image (HSI)"),
                                                            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer("LIDAR", self.tr("LiDAR raster"), optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "SCENES", self.tr("…or a CSV of scenes (hsi,lidar[,out[,confidence]] per line)"), optional=True,
            fileFilter="CSV (*.csv *.txt)"))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file"), fileFilter="MMLGNet model (*.safetensors)"))
        self.addParameter(QgsProcessingParameterString(
            "SCHEDULER", self.tr("Dask scheduler address (tcp://host:8786; empty = local worker processes)"),
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "WORKERS", self.tr("Local worker processes (0 = one per CPU core; without a scheduler address)"),
            QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=1024))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device (on the workers)"), DEVICES,
                                                     defaultValue=0))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "TILE_SIZE", self.tr("Tile size (pixels; 0 = 512)"), QgsProcessingParameterNumber.Type.Integer, 0,
            minValue=0, maxValue=16384)))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "BLOCK_TILES", self.tr("Tiles per task side (a task classifies N x N tiles)"),
            QgsProcessingParameterNumber.Type.Integer, 4, minValue=1, maxValue=256)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            "AMP", self.tr("bf16 convolutions (faster on CUDA and on CPUs with AVX512-BF16)"), defaultValue=False)))
        self.addParameter(threads_parameter())
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "GDAL_CACHEMAX", self.tr("GDAL block cache per worker process (MB)"),
            QgsProcessingParameterNumber.Type.Integer, 256, minValue=16, maxValue=65536)))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Classified raster (one scene)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "CONFIDENCE", self.tr("Confidence raster (one scene)"), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder (scenes of the CSV without an output of their own)"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterBoolean(
            "WITH_CONFIDENCE", self.tr("Also a confidence raster per scene of the CSV"), defaultValue=False))

    def prepare(self, parameters, context, feedback):
        self.scenes = optional_string(self, parameters, "SCENES", context)
        self.hsi, self.lidar, self.hsi_name = [], [], ""
        if parameters.get("HSI") not in (None, ""):
            self.hsi = [raster_path(self, parameters, "HSI", context, "HSI")]
            self.hsi_name = self.parameterAsRasterLayer(parameters, "HSI", context).name()
            if parameters.get("LIDAR") in (None, ""):
                raise QgsProcessingException("give the LiDAR raster of the HSI")
            self.lidar = [raster_path(self, parameters, "LIDAR", context, "LiDAR")]
        if not self.hsi and not self.scenes:
            raise QgsProcessingException("give an HSI and a LiDAR raster, or a CSV of scenes")

    def process(self, parameters, context, feedback):
        dependencies.require()
        address = optional_string(self, parameters, "SCHEDULER", context)
        workers = self.parameterAsInt(parameters, "WORKERS", context)
        one = bool(self.hsi) and not self.scenes
        out_dir = (self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
                   if parameters.get("OUTPUT_FOLDER") else None)
        request = DistributedClassifyRequest(
            model=self.parameterAsFile(parameters, "MODEL", context), hsi=self.hsi, lidar=self.lidar,
            scenes=self.scenes, cluster=address.strip() if address else (f"{LOCAL}:{workers}" if workers else LOCAL),
            out=self.parameterAsOutputLayer(parameters, "OUTPUT", context) if one else None,
            confidence=self.parameterAsOutputLayer(parameters, "CONFIDENCE", context)
            if one and parameters.get("CONFIDENCE") else None,
            out_dir=out_dir or None, with_confidence=self.parameterAsBool(parameters, "WITH_CONFIDENCE", context),
            tile=self.parameterAsInt(parameters, "TILE_SIZE", context),
            block_tiles=self.parameterAsInt(parameters, "BLOCK_TILES", context),
            device=DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            amp=self.parameterAsBool(parameters, "AMP", context),
            threads=self.parameterAsInt(parameters, "THREADS", context) or 1,
            gdal_cachemax=self.parameterAsInt(parameters, "GDAL_CACHEMAX", context))
        result = run_request(request, feedback, "block")
        get = result.get if isinstance(result, dict) else lambda k: getattr(result, k)  # the worker may send a dict
        if one:
            style_classify_outputs(context, self.hsi_name, SimpleNamespace(
                out=get("outputs")[0], confidence=get("confidences")[0], classes=get("classes"),
                colours=get("colours")))
        outputs = {"OUTPUT": get("outputs")[0] if one else None, "OUTPUT_FOLDER": out_dir}
        if one and get("confidences")[0]:
            outputs["CONFIDENCE"] = get("confidences")[0]
        return outputs
