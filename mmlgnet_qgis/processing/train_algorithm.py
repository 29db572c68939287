"""mmlgnet:train — fit MMLGNet to labelled pixels and write a model file."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorLayer, QgsProject)

from ..core import defaults
from . import dependencies
from .algorithm_base import (DEVICES, SCENES, MMLGNetAlgorithm, optional_string,
                             processing_errors, progress_to, raster_path, threads_parameter, vector_path)
from .project_prompts import read_project_prompts

# the default loss first: enum index 0 is the default
LOSSES = [defaults.DEFAULT_LOSS] + [m for m in defaults.LOSS_MODES if m != defaults.DEFAULT_LOSS]
INT = QgsProcessingParameterNumber.Integer
# index 0 keeps the advanced width parameters (whose defaults are the standard widths) in charge
MODEL_SIZES = ["widths below (standard: 64/32/128)",
               "fast: 16/8/32 (~5x faster CPU inference, 3x faster training, ~0.3-0.8 point lower accuracy)"]


class TrainAlgorithm(MMLGNetAlgorithm):
    def name(self):
        return "train"

    def displayName(self):  # noqa: N802
        return self.tr("Train model")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Trains MMLGNet on labelled pixels: a hyperspectral (HSI) and a LiDAR raster on one pixel "
            "grid, and training labels given as a raster of class ids (0 = unlabelled) or as a vector "
            "layer with a class field of integer ids or of class names from the prompt set (rasterised "
            "onto the HSI grid, reprojected if needed).\n\n"
            "Each class is described by text prompts; pixel features are aligned to the prompts' "
            "embeddings from a frozen text encoder. Prompts: a JSON prompt set (text or file path); "
            "left empty, the project's prompt set (MMLGNet prompt dock) is used, else the chosen "
            "benchmark scene's set, else bare 'class N' names.\n\n"
            "HSI and LiDAR must share CRS, extent and pixel size unless 'Resample LiDAR onto the HSI "
            "grid' is ticked. Nodata / NaN pixels are never learnt from.\n\n"
            "Writes one .safetensors model file (weights + prompts, class colours, normalisation), "
            "optionally a text log and an HTML page with the training curves. FINAL_TRAIN_OA is the "
            "training-set overall accuracy (%) of the last epoch. Text encoders: 'minilm' (offline), "
            "'clip:MODEL:TAG' or 'clip:MODEL:/path/checkpoint.pt'.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("HSI", self.tr("Hyperspectral image (HSI)")))
        self.addParameter(QgsProcessingParameterRasterLayer("LIDAR", self.tr("LiDAR raster (1 or more bands)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "LABELS", self.tr("Training labels raster (class ids, 0 = none)"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "LABELS_VECTOR", self.tr("…or training labels as a vector layer"),
            [QgsProcessing.TypeVectorAnyGeometry], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "LABELS_FIELD", self.tr("Class field of the vector labels (integer ids or class names)"),
            parentLayerParameterName="LABELS_VECTOR", type=QgsProcessingParameterField.Any, optional=True))
        self.addParameter(QgsProcessingParameterString(
            "PROMPTS", self.tr("Prompt set (JSON text or path to a .json file; empty = project / scene)"),
            multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "SCENE", self.tr("Benchmark scene (class names and prompts when no prompt set is given)"),
            SCENES, defaultValue=0))
        self.addParameter(QgsProcessingParameterString("TEXT_ENCODER", self.tr("Text encoder"), "minilm"))
        self.addParameter(QgsProcessingParameterNumber("EPOCHS", self.tr("Epochs"), INT, defaults.EPOCHS, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            "PATCH_SIZE", self.tr("Patch size (odd, pixels)"), INT, defaults.PATCH_SIZE, minValue=7, maxValue=63))
        self.addParameter(QgsProcessingParameterEnum(
            "MODEL_SIZE", self.tr("Network size"), MODEL_SIZES, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("LOSS", self.tr("Contrastive loss"), LOSSES, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("SEED", self.tr("Random seed"), INT, 0, minValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESAMPLE", self.tr("Resample LiDAR onto the HSI grid"), defaultValue=False))
        for name, label, default, kind in (
                ("BATCH_SIZE", "Batch size", defaults.BATCH_SIZE, INT),
                ("LEARNING_RATE", "Learning rate", defaults.LEARNING_RATE, QgsProcessingParameterNumber.Double),
                ("HSI_WIDTH", "HSI branch width", defaults.HSI_WIDTH, INT),
                ("LIDAR_WIDTH", "LiDAR branch width", defaults.LIDAR_WIDTH, INT),
                ("FUSION_WIDTH", "Fusion width", defaults.FUSION_WIDTH, INT)):
            p = QgsProcessingParameterNumber(name, self.tr(label), kind, default, minValue=1e-6 if kind != INT else 2)
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(threads_parameter())
        self.addParameter(QgsProcessingParameterFileDestination(
            "MODEL", self.tr("Model file"), "MMLGNet model (*.safetensors)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "LOG", self.tr("Training log"), "Text files (*.txt)", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", self.tr("Training report (HTML with curves)"), "HTML files (*.html)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("FINAL_TRAIN_OA", self.tr("Final training OA (%)")))

    def prepare(self, parameters, context, feedback):
        # Runs on the main thread: read layers and the project here, not in processAlgorithm.
        self.hsi = raster_path(self, parameters, "HSI", context, "HSI")
        self.lidar = raster_path(self, parameters, "LIDAR", context, "LiDAR")
        self.labels_vector = vector_path(self, parameters, "LABELS_VECTOR", context)
        self.labels = None
        if self.labels_vector is None:
            if parameters.get("LABELS") is None:
                raise QgsProcessingException("give training labels: a raster of class ids (LABELS) or a "
                                             "vector layer (LABELS_VECTOR) with its class field (LABELS_FIELD)")
            self.labels = raster_path(self, parameters, "LABELS", context, "Training labels")
        project = context.project() or QgsProject.instance()
        self.project_prompts = read_project_prompts(project)

    def process(self, parameters, context, feedback):
        encoder = self.parameterAsString(parameters, "TEXT_ENCODER", context).strip() or "minilm"
        dependencies.require(text_encoder=encoder)
        from ..core.training import TrainConfig
        from ..inputs import wavelengths_of
        from ..raster.writer import write_text_atomic
        from ..workflows import (check_outputs, close_sources, curves_png_for, open_pair, prompt_file, torch_threads,
                                 train_to_file, training_inputs, write_training_page)
        out = self.parameterAsFileOutput(parameters, "MODEL", context)
        log_path = self.parameterAsFileOutput(parameters, "LOG", context) if parameters.get("LOG") else None
        report_path = self.parameterAsFileOutput(parameters, "REPORT", context) if parameters.get("REPORT") else None
        scene = SCENES[self.parameterAsEnum(parameters, "SCENE", context)]
        scene = None if scene == "none" else scene
        lines = []

        def log(msg):
            lines.append(msg)
            feedback.pushInfo(msg)

        prompts_text = optional_string(self, parameters, "PROMPTS", context)
        with processing_errors(out, log_path, report_path, report_path and curves_png_for(report_path)):
            check_outputs({"model file": out, "training log": log_path, "training report": report_path},
                          {"HSI": self.hsi, "LiDAR": self.lidar, "training labels": self.labels,
                           "vector labels": self.labels_vector,
                           "prompt file": prompt_file(prompts_text)})
            hsi, lidar = open_pair(self.hsi, self.lidar, self.parameterAsBool(parameters, "RESAMPLE", context), log)
            try:
                labels, prompts, _ = training_inputs(
                    hsi, self.labels, self.labels_vector, self.parameterAsString(parameters, "LABELS_FIELD", context),
                    prompts_text, self.project_prompts, scene, log)
                widths = {"patch_size": self.parameterAsInt(parameters, "PATCH_SIZE", context),
                          "hsi_width": self.parameterAsInt(parameters, "HSI_WIDTH", context),
                          "lidar_width": self.parameterAsInt(parameters, "LIDAR_WIDTH", context),
                          "fusion_width": self.parameterAsInt(parameters, "FUSION_WIDTH", context)}
                if self.parameterAsEnum(parameters, "MODEL_SIZE", context) == 1:
                    widths.update(defaults.PRESETS["fast"])
                cfg = TrainConfig(epochs=self.parameterAsInt(parameters, "EPOCHS", context),
                                  batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
                                  lr=self.parameterAsDouble(parameters, "LEARNING_RATE", context),
                                  loss=LOSSES[self.parameterAsEnum(parameters, "LOSS", context)],
                                  device=DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
                                  seed=self.parameterAsInt(parameters, "SEED", context), model=widths)
                log(f"{hsi.width} x {hsi.height} pixels, HSI {hsi.bands} bands, LiDAR {lidar.bands} band(s), "
                    f"{int((labels > 0).sum())} labelled pixels; device {cfg.device}")
                with torch_threads(self.parameterAsInt(parameters, "THREADS", context)):
                    manifest, history = train_to_file(hsi, lidar, labels, prompts, encoder, cfg, out, scene=scene,
                                                      wavelengths=wavelengths_of(self.hsi),
                                                      progress=progress_to(feedback, "epoch", log),
                                                      is_cancelled=feedback.isCanceled, log=log)
            finally:
                close_sources(hsi, lidar)
            oa = float(history["train_oa"][-1])
            log(f"model written to {out} ({history['seconds'][-1]:.1f} s, final training OA {oa:.2f} %)")
            if log_path:
                write_text_atomic(log_path, "\n".join(lines) + "\n")
            if report_path:
                write_training_page(history, manifest, report_path)
        results = {"MODEL": out, "FINAL_TRAIN_OA": oa}
        if log_path:
            results["LOG"] = log_path
        if report_path:
            results["REPORT"] = report_path
        return results
