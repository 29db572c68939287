"""mmlgnet:classify — classify a scene tile by tile with a model file."""
from __future__ import annotations

from qgis.core import (QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ..app.requests import ClassifyRequest
from . import dependencies
from .algorithm_base import (DEVICES, RUNTIMES, MMLGNetAlgorithm, optional_string, raster_path, run_request,
                             threads_parameter)
from .layer_style import style_classify_outputs
from .lidar_parameters import CLOUD_FIELDS, add_cloud_parameters, cloud_fields, lidar_input


class ClassifyAlgorithm(MMLGNetAlgorithm):
    EXTRA_TAGS = ["classify", "predict", "inference", "map", "segmentation"]
    # parameter -> request field (tests check that every field is reachable)
    FIELDS = {"HSI": "hsi", "LIDAR": "lidar", "MODEL": "model", "PROMPTS": "prompts", "DEVICE": "device",
              "TILE_SIZE": "tile", "AMP": "amp", "RESAMPLE": "resample_lidar", "THREADS": "threads",
              "OUTPUT": "out", "CONFIDENCE": "confidence", "UNKNOWN_THRESHOLD": "unknown_threshold", "RUNTIME": "runtime", **CLOUD_FIELDS,
              "RESAMPLE_BANDS": "resample_bands"}
    BAND_RESAMPLING = ["none", "linear", "gaussian"]

    def name(self):
        return "classify"

    def displayName(self):  # noqa: N802
        return self.tr("Classify HSI + LiDAR")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Classifies every pixel of a hyperspectral (HSI) + LiDAR scene with an MMLGNet model file, "
            "reading the rasters tile by tile (any scene size, bounded memory).\n\n"
            "Output: a GeoTIFF of class ids (0 = nodata) with the classes' colours and names embedded "
            "and a .qml style beside it; it opens as a paletted layer. Optional: a float32 confidence "
            "raster (cosine similarity of the winning prompt).\n\n"
            "Prompts (optional) re-word or re-target the model: the JSON prompt set is re-encoded with "
            "the model's own text encoder. Pixels that are nodata or NaN in either input are nodata in "
            "the outputs. HSI and LiDAR must share CRS, extent and pixel size unless 'Resample LiDAR "
            "onto the HSI grid' is ticked. A cancelled run leaves no output file.\n\n"
            "LiDAR may instead be LAS / LAZ point cloud files, rasterised onto the HSI grid as the products the "
            "model was trained on; a model trained on a LiDAR raster needs the products named (e.g. dsm).\n\n"
            "An HSI from another sensor, or a band subset, is refused unless its bands are resampled to the "
            "model's band centres: linear in wavelength, or gaussian spectral responses when the scene states "
            "its band widths (FWHM). Bands the scene does not cover are refused by name.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("HSI", self.tr("Hyperspectral image (HSI)")))
        self.addParameter(QgsProcessingParameterRasterLayer("LIDAR", self.tr("LiDAR raster"), optional=True))
        add_cloud_parameters(self, trained=False)
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file"), fileFilter="MMLGNet model (*.safetensors)"))
        self.addParameter(QgsProcessingParameterString(
            "PROMPTS", self.tr("Prompt set override (JSON text or .json path; empty = the model's)"),
            multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "TILE_SIZE", self.tr("Tile size (pixels; 0 = automatic: 512 on CPU, from free memory on a GPU)"),
            QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=16384))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESAMPLE", self.tr("Resample LiDAR onto the HSI grid"), defaultValue=False))
        self.addParameter(QgsProcessingParameterEnum(
            "RESAMPLE_BANDS", self.tr("Resample the HSI bands to the model's band centres"),
            self.BAND_RESAMPLING, defaultValue=0))
        amp = QgsProcessingParameterBoolean(
            "AMP", self.tr("bf16 convolutions (faster on CUDA and on CPUs with AVX512-BF16; ~99.97 % identical "
                           "labels)"), defaultValue=False)
        amp.setFlags(amp.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(amp)
        runtime = QgsProcessingParameterEnum(
            "RUNTIME", self.tr("Inference engine (onnx: ONNX Runtime on the CPU, needs the onnxruntime package, "
                               "same labels, faster; onnx-int8: also the onnx package, int8 calibrated on the "
                               "input, fastest, ~99.7 % identical labels)"), RUNTIMES, defaultValue=0)
        runtime.setFlags(runtime.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(runtime)
        self.addParameter(QgsProcessingParameterString(
            "UNKNOWN_THRESHOLD", self.tr("Unknown threshold: none, auto (the model's per-class thresholds) or a "
                                         "cosine; pixels below it are 'unknown'"), defaultValue="none"))
        self.addParameter(threads_parameter())
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classified raster")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "CONFIDENCE", self.tr("Confidence raster"), optional=True, createByDefault=False))

    def prepare(self, parameters, context, feedback):
        self.hsi = raster_path(self, parameters, "HSI", context, "HSI")
        self.hsi_name = self.parameterAsRasterLayer(parameters, "HSI", context).name()  # names the outputs
        self.lidar = lidar_input(self, parameters, context)

    def process(self, parameters, context, feedback):
        dependencies.require()
        request = ClassifyRequest(
            model=self.parameterAsFile(parameters, "MODEL", context), hsi=self.hsi, lidar=self.lidar,
            out=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            confidence=self.parameterAsOutputLayer(parameters, "CONFIDENCE", context)
            if parameters.get("CONFIDENCE") else None,
            prompts=optional_string(self, parameters, "PROMPTS", context),
            tile=self.parameterAsInt(parameters, "TILE_SIZE", context),
            device=DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            amp=self.parameterAsBool(parameters, "AMP", context),
            threads=self.parameterAsInt(parameters, "THREADS", context),
            runtime=RUNTIMES[self.parameterAsEnum(parameters, "RUNTIME", context)],
            resample_lidar=self.parameterAsBool(parameters, "RESAMPLE", context),
            resample_bands=self.BAND_RESAMPLING[self.parameterAsEnum(parameters, "RESAMPLE_BANDS", context)],
            unknown_threshold=self.parameterAsString(parameters, "UNKNOWN_THRESHOLD", context).strip() or "none",
            **cloud_fields(self, parameters, context))
        result = run_request(request, feedback, "tile")
        style_classify_outputs(context, self.hsi_name, result)  # 'trento HSI · MMLGNet classes', viridis confidence
        outputs = {"OUTPUT": result.out}
        if result.confidence:
            outputs["CONFIDENCE"] = result.confidence
        return outputs
