"""Shared plumbing of the MMLGNet algorithms: layer paths, feedback adapters, error mapping.

Heavy imports (torch, core.training, GDAL writers) happen inside processAlgorithm only, after
dependencies.require(), so the plugin loads and lists its algorithms without torch.
"""
from __future__ import annotations

import os
from pathlib import Path

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingFeedback,
                       QgsProcessingUtils, QgsVectorFileWriter)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core import defaults

DEVICES = list(defaults.DEVICES)
SCENES = ["none", *defaults.SCENE_NAMES]


def plugin_metadata(key: str) -> str:
    """A value of the plugin's metadata.txt (one place for the repository address)."""
    import configparser
    cp = configparser.ConfigParser()
    cp.read(Path(__file__).resolve().parents[1] / "metadata.txt", encoding="utf-8")
    return cp.get("general", key, fallback="")


def icon_path() -> str:
    from ..core.resources import resources_dir
    return str(resources_dir() / "icon.svg")


class MMLGNetAlgorithm(QgsProcessingAlgorithm):
    """Base: one group, search tags, the plugin icon, a fresh instance per run."""

    # The toolbox search matches tags and group names: "hyperspectral" or "land cover" must find us.
    TAGS = ["hyperspectral", "hsi", "lidar", "classification", "land cover", "land use", "clip",
            "language", "text prompts", "vision-language", "multimodal", "deep learning", "remote sensing",
            "mmlgnet"]
    EXTRA_TAGS: list[str] = []  # an algorithm's own words (train, accuracy, ...)

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("MMLGNet", text)

    def createInstance(self):  # noqa: N802 (QGIS names)
        return type(self)()

    def tags(self):
        return [self.tr(t) for t in self.TAGS + self.EXTRA_TAGS]

    def group(self):
        return self.tr("Hyperspectral + LiDAR classification")

    def groupId(self):  # noqa: N802
        return "hsilidar"

    def icon(self):
        return QIcon(icon_path())

    def helpUrl(self):  # noqa: N802
        return plugin_metadata("repository")

    # prepareAlgorithm runs on the main thread (layers, project), processAlgorithm maybe not.
    # An error raised in prepareAlgorithm reaches processing.run / qgis_process only as "There
    # were errors executing the algorithm", so it is kept and raised from processAlgorithm.
    def prepare(self, parameters, context, feedback):
        pass

    def process(self, parameters, context, feedback) -> dict:
        raise NotImplementedError

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802
        self._prepare_error = None
        try:
            self.prepare(parameters, context, feedback)
        except QgsProcessingException as exc:
            self._prepare_error = exc
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        if self._prepare_error is not None:
            raise self._prepare_error
        return self.process(parameters, context, feedback_or_default(feedback))


def threads_parameter():
    from qgis.core import QgsProcessingParameterDefinition, QgsProcessingParameterNumber
    p = QgsProcessingParameterNumber(
        "THREADS", "CPU threads for torch (0 = torch's default; fewer can be faster on a busy machine)",
        QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=256)
    p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    return p


# -- parameters -> paths --------------------------------------------------------------------------
def raster_path(alg, parameters, name: str, context, label: str) -> str:
    """File path of a raster-layer parameter; the algorithms read GDAL rasters window by window."""
    layer = alg.parameterAsRasterLayer(parameters, name, context)
    if layer is None:
        raise QgsProcessingException(alg.invalidRasterError(parameters, name))
    if layer.providerType() != "gdal":
        raise QgsProcessingException(f"{label} '{layer.name()}' is a {layer.providerType()} layer; "
                                     f"MMLGNet reads GDAL rasters (GeoTIFF, ...): save it as a GeoTIFF first")
    return layer.source()


def vector_path(alg, parameters, name: str, context) -> str | None:
    """OGR source of a vector-layer parameter; other providers (memory, ...) go to a temp GeoPackage."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        return None
    if layer.providerType() == "ogr":
        return layer.source()
    path = os.path.join(QgsProcessingUtils.tempFolder(), f"labels_{id(layer)}.gpkg")
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, context.transformContext(), opts)
    if err[0] != QgsVectorFileWriter.WriterError.NoError:
        raise QgsProcessingException(f"could not copy '{layer.name()}' to a GeoPackage: {err[1]}")
    return path


def optional_string(alg, parameters, name: str, context) -> str | None:
    text = alg.parameterAsString(parameters, name, context) if parameters.get(name) is not None else ""
    return text if text and text.strip() else None


# -- running a request -----------------------------------------------------------------------------
def feedback_or_default(feedback):
    return feedback if feedback is not None else QgsProcessingFeedback()


class FeedbackReporter:
    """The app layer's Reporter over a QgsProcessingFeedback."""

    def __init__(self, feedback, label: str = ""):
        self.feedback, self.label = feedback, label

    def progress(self, done, total, metrics=None):
        self.feedback.setProgress(100.0 * done / max(total, 1e-9))
        if metrics:
            self.feedback.pushInfo(f"{self.label} {done:g}/{total:g}  "
                                   + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))

    def log(self, message):
        self.feedback.pushInfo(message)

    def warning(self, message):
        self.feedback.pushWarning(f"warning: {message}")

    def is_cancelled(self):
        return self.feedback.isCanceled()


def run_request(request, feedback, label: str = ""):
    """Run an app request for an algorithm; errors become QgsProcessingException with one clear line.
    Outputs are written under temporary names and renamed when complete, so a failed or cancelled run
    leaves none."""
    from ..core.errors import Cancelled, MMLGNetError
    try:
        from .. import app
        return app.run(request, FeedbackReporter(feedback, label))
    except Cancelled as exc:
        raise QgsProcessingException("cancelled") from exc
    except (MMLGNetError, OSError) as exc:  # OSError: file not found, disk full, permission
        raise QgsProcessingException(str(exc)) from exc
    except ImportError as exc:  # e.g. the text encoder package of a model's prompts
        from .dependencies import install_message
        raise QgsProcessingException(install_message([exc.name or str(exc)])) from exc
    except Exception as exc:  # anything else is a bug: keep the traceback where the user sees it
        import traceback
        raise QgsProcessingException(f"this is a bug in mmlgnet-qgis ({type(exc).__name__}: {exc}); please "
                                     f"report it with this traceback:\n{traceback.format_exc()}") from exc
