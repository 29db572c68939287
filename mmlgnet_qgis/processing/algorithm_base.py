"""Shared plumbing of the MMLGNet algorithms: layer paths, feedback adapters, error mapping.

QGIS's process never imports torch: every request runs in a worker process (mmlgnet_qgis.worker)
in the interpreter the plugin set up, reading the layers' files; layers that are not files are
written to temporary ones first (removed after the run).
"""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core import defaults

DEVICES = list(defaults.DEVICES)
RUNTIMES = list(defaults.RUNTIMES)
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
        from ..worker.qgis_layers import TempFiles
        self._prepare_error = None
        self.temp_files = TempFiles()  # copies of non-file layers for the worker, removed after the run
        try:
            self.prepare(parameters, context, feedback)
        except QgsProcessingException as exc:
            self._prepare_error = exc
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        with _temp_files(self):
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
    """File path of a raster-layer parameter (the worker reads GDAL rasters window by window); a
    layer that is not a GDAL source (virtual raster, PostGIS raster) is copied to a temporary GeoTIFF."""
    from ..worker.qgis_layers import raster_file
    layer = alg.parameterAsRasterLayer(parameters, name, context)
    if layer is None:
        raise QgsProcessingException(alg.invalidRasterError(parameters, name))
    return raster_file(layer, label, _temp_files(alg), context)


def vector_path(alg, parameters, name: str, context) -> str | None:
    """OGR source of a vector-layer parameter; other providers (memory, ...) go to a temp GeoPackage."""
    from ..worker.qgis_layers import vector_file
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        return None
    return vector_file(layer, _temp_files(alg), context)


def _temp_files(alg):
    """The algorithm's TempFiles (made by prepareAlgorithm; here too for direct callers)."""
    if getattr(alg, "temp_files", None) is None:
        from ..worker.qgis_layers import TempFiles
        alg.temp_files = TempFiles()
    return alg.temp_files


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
    """Run an app request for an algorithm in a worker process; errors become QgsProcessingException
    with one clear line. Outputs are written under temporary names and renamed when complete, so a
    failed or cancelled run, or a worker that died, leaves none."""
    from ..core.errors import Cancelled, MMLGNetError
    try:
        from ..worker.session import run_for_processing
        return run_for_processing(request, FeedbackReporter(feedback, label))
    except Cancelled as exc:
        raise QgsProcessingException("cancelled") from exc
    except (MMLGNetError, OSError) as exc:  # OSError: file not found, disk full, permission
        raise QgsProcessingException(str(exc)) from exc  # WorkerError, DependencyError: their own advice
    except Exception as exc:  # anything else is a bug: keep the traceback where the user sees it
        import traceback
        raise QgsProcessingException(f"this is a bug in mmlgnet-qgis ({type(exc).__name__}: {exc}); please "
                                     f"report it with this traceback:\n{traceback.format_exc()}") from exc
