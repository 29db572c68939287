"""mmlgnet:classify — classify a scene tile by tile with a model file."""
from __future__ import annotations

from qgis.core import (QgsProcessingParameterBoolean, QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from . import dependencies
from .algorithm_base import (DEVICES, MMLGNetAlgorithm, optional_string,
                             processing_errors, progress_to, raster_path, threads_parameter)
from .layer_style import style_on_load


class ClassifyAlgorithm(MMLGNetAlgorithm):
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
            "onto the HSI grid' is ticked. A cancelled run leaves no output file.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("HSI", self.tr("Hyperspectral image (HSI)")))
        self.addParameter(QgsProcessingParameterRasterLayer("LIDAR", self.tr("LiDAR raster")))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file"), fileFilter="MMLGNet model (*.safetensors)"))
        self.addParameter(QgsProcessingParameterString(
            "PROMPTS", self.tr("Prompt set override (JSON text or .json path; empty = the model's)"),
            multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "TILE_SIZE", self.tr("Tile size (pixels; 0 = automatic: 512 on CPU, from free memory on a GPU)"),
            QgsProcessingParameterNumber.Integer, 0, minValue=0, maxValue=16384))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESAMPLE", self.tr("Resample LiDAR onto the HSI grid"), defaultValue=False))
        self.addParameter(threads_parameter())
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classified raster")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "CONFIDENCE", self.tr("Confidence raster"), optional=True, createByDefault=False))

    def prepare(self, parameters, context, feedback):
        self.hsi = raster_path(self, parameters, "HSI", context, "HSI")
        self.lidar = raster_path(self, parameters, "LIDAR", context, "LiDAR")

    def process(self, parameters, context, feedback):
        dependencies.require()
        from ..raster.writer import qml_path_for
        from ..workflows import (check_outputs, check_wavelengths, classify_to_geotiff, close_sources,
                                 load_model_with_prompts, open_pair, prompt_file, torch_threads)
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        conf = self.parameterAsOutputLayer(parameters, "CONFIDENCE", context) if parameters.get("CONFIDENCE") else None
        device = DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]
        tile = self.parameterAsInt(parameters, "TILE_SIZE", context) or None
        model_path = self.parameterAsFile(parameters, "MODEL", context)
        prompts = optional_string(self, parameters, "PROMPTS", context)
        with processing_errors(out, qml_path_for(out), conf, conf and qml_path_for(conf)):
            check_outputs({"classified raster": out, "confidence raster": conf},
                          {"HSI": self.hsi, "LiDAR": self.lidar, "model file": model_path,
                           "prompt file": prompt_file(prompts)})
            model, manifest = load_model_with_prompts(model_path, prompts)
            names = [c["name"] for c in manifest["classes"]]
            colours = [c["color"] for c in manifest["classes"]]
            feedback.pushInfo(f"model: {len(names)} classes ({', '.join(names)}), "
                              f"patch {model.cfg.patch_size}, text encoder {manifest['text_encoder'].get('model')}")
            hsi, lidar = open_pair(self.hsi, self.lidar, self.parameterAsBool(parameters, "RESAMPLE", context),
                                   feedback.pushInfo)
            try:
                check_wavelengths(manifest, self.hsi, feedback.pushInfo)
                with torch_threads(self.parameterAsInt(parameters, "THREADS", context)):
                    stats = classify_to_geotiff(model, manifest, hsi, lidar, out, conf, tile=tile, device=device,
                                                progress=progress_to(feedback), is_cancelled=feedback.isCanceled,
                                                log=feedback.pushInfo)
            finally:
                close_sources(hsi, lidar)
        feedback.pushInfo(f"classified {stats['valid_pixels']} of {stats['pixels']} pixels in {stats['tiles']} "
                          f"tiles on {stats['device']} in {stats['seconds']:.1f} s")
        style_on_load(context, out, qml_path_for(out), names, colours)
        results = {"OUTPUT": out}
        if conf:
            results["CONFIDENCE"] = conf
        return results
