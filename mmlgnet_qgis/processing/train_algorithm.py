"""mmlgnet:train — fit MMLGNet to labelled pixels and write a model file."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorLayer, QgsProject)

from ..app.requests import TrainRequest
from ..core import defaults
from . import dependencies
from .algorithm_base import (DEVICES, SCENES, MMLGNetAlgorithm, optional_string, raster_path, run_request,
                             threads_parameter, vector_path)
from .lidar_parameters import CLOUD_FIELDS, add_cloud_parameters, cloud_fields, lidar_input
from .output_defaults import default_model_path
from .project_prompts import read_project_prompts

TEXT_ENCODER_WIDGET = "mmlgnet_qgis.gui.processing_widgets.TextEncoderWrapper"

# the default loss first: enum index 0 is the default
LOSSES = [defaults.DEFAULT_LOSS] + [m for m in defaults.LOSS_MODES if m != defaults.DEFAULT_LOSS]
INT = QgsProcessingParameterNumber.Type.Integer
DOUBLE = QgsProcessingParameterNumber.Type.Double
# appended, never reordered: saved models and batch files store the index
PRESETS = ["standard", "fast", "distilled"]
# short: the combo box's width is its longest option's (the README explains the presets)
MODEL_SIZES = ["standard: widths 64/32/128",
               "fast: 16/8/32, ~5x faster, ~0.5 point lower OA",
               "distilled: fast, taught by standard (~4x faster)"]
MODALITIES = list(defaults.MODALITIES)


class TrainAlgorithm(MMLGNetAlgorithm):
    EXTRA_TAGS = ["train", "training", "fit", "model", "labels", "supervised"]
    # parameter -> request field (tests check that every field is reachable); project_prompts comes
    # from the project's prompt set (the dock), not from a parameter
    FIELDS = {"HSI": "hsi", "LIDAR": "lidar", "MODEL": "out", "LABELS": "train_labels",
              "LABELS_VECTOR": "label_vector", "LABELS_FIELD": "label_field", "PROMPTS": "prompts",
              "SCENE": "scene", "TEXT_ENCODER": "text_encoder", "EPOCHS": "epochs", "BATCH_SIZE": "batch_size",
              "LEARNING_RATE": "lr", "MODEL_SIZE": "preset", "HSI_WIDTH": "hsi_width", "LIDAR_WIDTH": "lidar_width",
              "FUSION_WIDTH": "fusion_width", "PATCH_SIZE": "patch_size", "MODALITIES": "modalities",
              "LOSS": "loss", "DISTILL_WEIGHT": "distill_weight", "CE_WEIGHT": "ce_weight", "DEVICE": "device",
              "SEED": "seed", "THREADS": "threads", "RESAMPLE": "resample_lidar", "LOG": "log_file",
              "REPORT": "report_html", "VALIDATION_FRACTION": "validation_fraction",
              "EARLY_STOPPING": "early_stopping", "TEACHER": "teacher", **CLOUD_FIELDS}
    IMPLICIT = {"project_prompts": "the project's prompt set (MMLGNet prompt dock)"}

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
            "LiDAR may instead be LAS / LAZ point cloud files: they are rasterised onto the HSI grid as the "
            "chosen products (default nDSM + intensity), which the model file records so classify makes the "
            "same bands.\n\n"
            "Network size: 'distilled' (default) first trains the standard network twice, with the prompt "
            "head and with a plain classifier (the teachers, not written), then the fast one learns their "
            "mean class scores on every pixel of the scene and classifies by the prompts: about the "
            "teachers' accuracy, ~4x faster classification on CPU, ~3x the training time (a scene over "
            "1 GiB of HSI trains the standard network instead). 'standard' and 'fast' train one network.\n\n"
            "Writes one .safetensors model file (weights + prompts, class colours, normalisation), "
            "optionally a text log and an HTML page with the training curves. FINAL_TRAIN_OA is the "
            "training-set overall accuracy (%) of the last epoch. Text encoders: 'minilm' (offline), "
            "'clip:MODEL:TAG' or 'clip:MODEL:/path/checkpoint.pt'.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("HSI", self.tr("Hyperspectral image (HSI)")))
        self.addParameter(QgsProcessingParameterRasterLayer("LIDAR", self.tr("LiDAR raster (1 or more bands)"),
                                                            optional=True))
        add_cloud_parameters(self, trained=True)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "LABELS", self.tr("Training labels raster (class ids, 0 = none)"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "LABELS_VECTOR", self.tr("…or training labels as a vector layer"),
            [QgsProcessing.SourceType.TypeVectorAnyGeometry], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "LABELS_FIELD", self.tr("Class field of the vector labels (integer ids or class names)"),
            parentLayerParameterName="LABELS_VECTOR", type=QgsProcessingParameterField.DataType.Any, optional=True))
        self.addParameter(QgsProcessingParameterString(
            "PROMPTS", self.tr("Prompt set (JSON text or path to a .json file; empty = project / scene)"),
            multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "SCENE", self.tr("Benchmark scene (class names and prompts when no prompt set is given)"),
            SCENES, defaultValue=0))
        encoder = QgsProcessingParameterString("TEXT_ENCODER", self.tr("Text encoder"), "minilm")
        encoder.setMetadata({"widget_wrapper": {"class": TEXT_ENCODER_WIDGET}})  # known encoders + custom
        self.addParameter(encoder)
        self.addParameter(QgsProcessingParameterNumber("EPOCHS", self.tr("Epochs"), INT, defaults.EPOCHS, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            "PATCH_SIZE", self.tr("Patch size (odd, pixels)"), INT, defaults.PATCH_SIZE, minValue=7, maxValue=63))
        self.addParameter(QgsProcessingParameterEnum(
            "MODEL_SIZE", self.tr("Network size"), MODEL_SIZES, defaultValue=PRESETS.index(defaults.DEFAULT_PRESET)))
        self.addParameter(QgsProcessingParameterEnum("LOSS", self.tr("Contrastive loss"), LOSSES, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("SEED", self.tr("Random seed"), INT, 0, minValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESAMPLE", self.tr("Resample LiDAR onto the HSI grid"), defaultValue=False))
        for name, label, default, kind, low in (
                ("BATCH_SIZE", "Batch size", defaults.BATCH_SIZE, INT, 2),
                ("LEARNING_RATE", "Learning rate", defaults.LEARNING_RATE, DOUBLE, 1e-6),
                ("HSI_WIDTH", "HSI branch width (0 = the network size's)", 0, INT, 0),
                ("LIDAR_WIDTH", "LiDAR branch width (0 = the network size's)", 0, INT, 0),
                ("FUSION_WIDTH", "Fusion width (0 = the network size's)", 0, INT, 0),
                ("DISTILL_WEIGHT", "Self-distillation weight (0 = off)", defaults.DISTILL_WEIGHT, DOUBLE, 0.0),
                ("CE_WEIGHT", "Auxiliary cross-entropy weight", defaults.CE_WEIGHT, DOUBLE, 0.0),
                ("VALIDATION_FRACTION", "Validation fraction (labelled pixels held out per class, in spatial "
                 "blocks; 0 = none)", 0.0, DOUBLE, 0.0)):
            p = QgsProcessingParameterNumber(name, self.tr(label), kind, default, minValue=low)
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        p = QgsProcessingParameterBoolean("EARLY_STOPPING", self.tr("Early stopping: keep the best validation "
                                                                    "epoch (needs a validation fraction)"),
                                          defaultValue=False)
        p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(p)
        p = QgsProcessingParameterFile(
            "TEACHER", self.tr("Teacher model (knowledge distillation: this network, e.g. 'fast', also learns the "
                               "teacher's class scores on every pixel; its prompts are kept)"),
            fileFilter="MMLGNet model (*.safetensors)", optional=True)
        p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(p)
        p = QgsProcessingParameterEnum("MODALITIES", self.tr("Modalities"), MODALITIES, defaultValue=0)
        p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(p)
        self.addParameter(threads_parameter())
        self.addParameter(QgsProcessingParameterFileDestination(
            "MODEL", self.tr("Model file"), "MMLGNet model (*.safetensors)",
            default_model_path()))  # the file training is for: never a temporary one by default
        self.addParameter(QgsProcessingParameterFileDestination(
            "LOG", self.tr("Training log"), "Text files (*.txt)", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", self.tr("Training report (HTML with curves)"), "HTML files (*.html)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("FINAL_TRAIN_OA", self.tr("Final training OA (%)")))

    def prepare(self, parameters, context, feedback):
        # Runs on the main thread: read layers and the project here, not in processAlgorithm.
        self.hsi = raster_path(self, parameters, "HSI", context, "HSI")
        self.lidar = lidar_input(self, parameters, context)
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
        encoder = self.parameterAsString(parameters, "TEXT_ENCODER", context).strip() or defaults.TEXT_ENCODER
        dependencies.require(text_encoder=encoder)
        scene = SCENES[self.parameterAsEnum(parameters, "SCENE", context)]
        number = {"INT": self.parameterAsInt, "DOUBLE": self.parameterAsDouble}

        def value(name, kind="INT"):
            return number[kind](parameters, name, context)

        request = TrainRequest(
            hsi=self.hsi, lidar=self.lidar, out=self.parameterAsFileOutput(parameters, "MODEL", context),
            train_labels=self.labels, label_vector=self.labels_vector,
            label_field=self.parameterAsString(parameters, "LABELS_FIELD", context) or None,
            prompts=optional_string(self, parameters, "PROMPTS", context), project_prompts=self.project_prompts,
            scene=None if scene == "none" else scene, text_encoder=encoder, epochs=value("EPOCHS"),
            batch_size=value("BATCH_SIZE"), lr=value("LEARNING_RATE", "DOUBLE"),
            preset=PRESETS[self.parameterAsEnum(parameters, "MODEL_SIZE", context)],
            hsi_width=value("HSI_WIDTH") or None, lidar_width=value("LIDAR_WIDTH") or None,
            fusion_width=value("FUSION_WIDTH") or None, patch_size=value("PATCH_SIZE"),
            modalities=MODALITIES[self.parameterAsEnum(parameters, "MODALITIES", context)],
            loss=LOSSES[self.parameterAsEnum(parameters, "LOSS", context)],
            distill_weight=value("DISTILL_WEIGHT", "DOUBLE"), ce_weight=value("CE_WEIGHT", "DOUBLE"),
            device=DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)], seed=value("SEED"),
            threads=value("THREADS"), resample_lidar=self.parameterAsBool(parameters, "RESAMPLE", context),
            log_file=self.parameterAsFileOutput(parameters, "LOG", context) if parameters.get("LOG") else None,
            report_html=self.parameterAsFileOutput(parameters, "REPORT", context) if parameters.get("REPORT") else None,
            validation_fraction=value("VALIDATION_FRACTION", "DOUBLE"),
            early_stopping=self.parameterAsBool(parameters, "EARLY_STOPPING", context),
            teacher=self.parameterAsFile(parameters, "TEACHER", context) or None,
            **cloud_fields(self, parameters, context))
        result = run_request(request, feedback, "epoch")
        outputs = {"MODEL": result.model, "FINAL_TRAIN_OA": result.final_train_oa}
        if result.log_file:
            outputs["LOG"] = result.log_file
        if result.report_html:
            outputs["REPORT"] = result.report_html
        return outputs
