"""mmlgnet:evaluate — accuracy of a classified raster against reference labels, as an HTML report."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingParameterVectorLayer)

from . import dependencies
from .algorithm_base import MMLGNetAlgorithm, optional_string, processing_errors, raster_path, vector_path

SEMI_SYNTHETIC = "semi-synthetic HSI over real labels and LiDAR"


class EvaluateAlgorithm(MMLGNetAlgorithm):
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
            [QgsProcessing.TypeVectorAnyGeometry], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "REFERENCE_FIELD", self.tr("Class id field of the vector reference"),
            parentLayerParameterName="REFERENCE_VECTOR", type=QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file (class names, colours, training curves)"),
            fileFilter="MMLGNet model (*.safetensors)", optional=True))
        title = QgsProcessingParameterString("TITLE", self.tr("Report title"), optional=True)
        note = QgsProcessingParameterBoolean("SEMI_SYNTHETIC", self.tr(f"Label the report '{SEMI_SYNTHETIC}'"),
                                             defaultValue=False)
        for p in (title, note):
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
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
        from ..inputs import read_labels
        from ..raster.reader import RasterSource
        from ..report import format_report_text
        from ..workflows import check_outputs, class_info, evaluate_to_report, training_labels
        html_path = Path(self.parameterAsFileOutput(parameters, "REPORT", context))
        if html_path.suffix.lower() != ".html":
            html_path = html_path.with_suffix(".html")
        json_path = html_path.with_suffix(".json")
        stem = str(html_path.with_suffix(""))
        model = self.parameterAsFile(parameters, "MODEL", context) or None
        pictures = {f"{k} picture": f"{stem}_{k}.png" for k in ("confusion", "curves", "map")}
        with processing_errors(str(html_path), str(json_path), *pictures.values()):
            check_outputs({"report": str(html_path), "report JSON": str(json_path), **pictures},
                          {"classified raster": self.classified, "reference labels": self.reference,
                           "reference vector": self.reference_vector, "model file": model})
            predicted = read_labels(self.classified)
            src = RasterSource(self.classified, name="classified")
            try:
                reference = training_labels(self.reference, src, self.reference_vector,
                                            self.parameterAsString(parameters, "REFERENCE_FIELD", context))
            finally:
                src.close()
            n = int(max(predicted.max(initial=0), reference.max(initial=0)))
            names, colours, history = class_info(model, None, self.classified, n)
            note = SEMI_SYNTHETIC if self.parameterAsBool(parameters, "SEMI_SYNTHETIC", context) else None
            report, paths = evaluate_to_report(
                predicted, reference, names, colours, json_path, history=history,
                title=optional_string(self, parameters, "TITLE", context) or Path(self.classified).name,
                extra={"classified": self.classified, "labels": self.reference or self.reference_vector, "note": note})
        feedback.pushInfo(format_report_text(report))
        return {"REPORT": paths["html"], "REPORT_JSON": paths["json"], "OA": report["oa"], "AA": report["aa"],
                "KAPPA": report["kappa"]}
