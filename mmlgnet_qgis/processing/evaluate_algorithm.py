"""mmlgnet:evaluate — accuracy of a classified raster against reference labels, as an HTML report."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingParameterVectorLayer)

from ..app.requests import EvaluateRequest
from ..core.defaults import SEMI_SYNTHETIC_NOTE as SEMI_SYNTHETIC
from . import dependencies
from .algorithm_base import SCENES, MMLGNetAlgorithm, optional_string, raster_path, run_request, vector_path


class EvaluateAlgorithm(MMLGNetAlgorithm):
    EXTRA_TAGS = ["evaluate", "accuracy", "confusion matrix", "kappa", "report"]
    # parameter -> request field (tests check that every field is reachable)
    FIELDS = {"CLASSIFIED": "classified", "REFERENCE": "labels", "REFERENCE_VECTOR": "label_vector",
              "REFERENCE_FIELD": "label_field", "MODEL": "model", "SCENE": "scene", "TITLE": "title",
              "SEMI_SYNTHETIC": "semi_synthetic", "REPORT": "report"}

    def name(self):
        return "evaluate"

    def displayName(self):  # noqa: N802
        return self.tr("Evaluate classification")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Scores a classified raster (class ids, 0 = nodata) against reference labels: a raster of "
            "class ids on the same grid (0 = unlabelled) or a vector layer with an integer class field, "
            "rasterised onto the classified grid.\n\n"
            "Writes an HTML report (overall / average accuracy, kappa, per-class accuracy, confusion "
            "matrix, map quick-look; with a model file also the training curves) and report.json "
            "beside it. OA, AA and KAPPA (%) are outputs a model can pass on. Labelled pixels that "
            "were left unclassified count as errors.\n\n"
            "Class names and colours come from the model file if given, else from the classified "
            "raster's embedded categories.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("CLASSIFIED", self.tr("Classified raster")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "REFERENCE", self.tr("Reference labels raster (class ids, 0 = unlabelled)"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "REFERENCE_VECTOR", self.tr("…or reference labels as a vector layer"),
            [QgsProcessing.SourceType.TypeVectorAnyGeometry], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "REFERENCE_FIELD", self.tr("Class field of the vector reference (integer ids or class names)"),
            parentLayerParameterName="REFERENCE_VECTOR", type=QgsProcessingParameterField.DataType.Any, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file (class names, colours, training curves)"),
            fileFilter="MMLGNet model (*.safetensors)", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "SCENE", self.tr("Benchmark scene (class names when no model file is given)"), SCENES, defaultValue=0))
        title = QgsProcessingParameterString("TITLE", self.tr("Report title"), optional=True)
        note = QgsProcessingParameterBoolean("SEMI_SYNTHETIC", self.tr(f"Label the report '{SEMI_SYNTHETIC}'"),
                                             defaultValue=False)
        for p in (title, note):
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", self.tr("Accuracy report"), "HTML files (*.html)"))
        self.addOutput(QgsProcessingOutputFile("REPORT_JSON", self.tr("Report JSON")))
        for key, label in (("OA", "Overall accuracy (%)"), ("AA", "Average accuracy (%)"), ("KAPPA", "Kappa (%)")):
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def prepare(self, parameters, context, feedback):
        self.classified = raster_path(self, parameters, "CLASSIFIED", context, "Classified raster")
        self.reference_vector = vector_path(self, parameters, "REFERENCE_VECTOR", context)
        self.reference = None
        if self.reference_vector is None:
            if parameters.get("REFERENCE") is None:
                raise QgsProcessingException("give reference labels: a raster (REFERENCE) or a vector layer "
                                             "(REFERENCE_VECTOR) with its class field (REFERENCE_FIELD)")
            self.reference = raster_path(self, parameters, "REFERENCE", context, "Reference labels")

    def process(self, parameters, context, feedback):
        dependencies.require()
        html_path = Path(self.parameterAsFileOutput(parameters, "REPORT", context)).with_suffix(".html")
        scene = SCENES[self.parameterAsEnum(parameters, "SCENE", context)]
        request = EvaluateRequest(
            classified=self.classified, report=str(html_path), labels=self.reference,
            label_vector=self.reference_vector,
            label_field=self.parameterAsString(parameters, "REFERENCE_FIELD", context) or None,
            model=self.parameterAsFile(parameters, "MODEL", context) or None,
            scene=None if scene == "none" else scene, title=optional_string(self, parameters, "TITLE", context),
            semi_synthetic=self.parameterAsBool(parameters, "SEMI_SYNTHETIC", context))
        result = run_request(request, feedback)
        return {"REPORT": result.report_html, "REPORT_JSON": result.report_json, "OA": result.oa, "AA": result.aa,
                "KAPPA": result.kappa}
