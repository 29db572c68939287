"""Name and style the layers an algorithm loads: class rasters paletted with class names, HSI in
natural colour, confidence on a ramp (raster_styles), each named after its source and role.

QGIS applies a post-processor to a layer it loads on completion (toolbox, modeler, batch). The
.qml the writer leaves beside the GeoTIFF is tried first; a paletted renderer built from the class
names and colours is the fallback.
"""
from __future__ import annotations

import os

from qgis.core import (QgsPalettedRasterRenderer, QgsProcessingLayerPostProcessorInterface,
                       QgsRasterLayer)
from qgis.PyQt.QtGui import QColor


def paletted_renderer(layer: QgsRasterLayer, names, colours) -> QgsPalettedRasterRenderer:
    classes = [QgsPalettedRasterRenderer.Class(i, QColor(c), n)
               for i, (n, c) in enumerate(zip(names, colours), start=1)]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def style_class_layer(layer: QgsRasterLayer, qml: str | None, names=None, colours=None) -> None:
    ok = False
    if qml and os.path.isfile(qml):
        _, ok = layer.loadNamedStyle(qml)
    if (not ok or not isinstance(layer.renderer(), QgsPalettedRasterRenderer)) and names:
        layer.setRenderer(paletted_renderer(layer, names, colours or ["#808080"] * len(names)))
    layer.triggerRepaint()


class ClassStyleLoader(QgsProcessingLayerPostProcessorInterface):
    # SIP does not keep the Python object alive for QGIS: hold every loader until it has run.
    _alive: dict = {}

    def __init__(self, key: str, qml: str | None, names=None, colours=None, layer_name: str | None = None):
        super().__init__()
        self.key, self.qml, self.names, self.colours, self.layer_name = key, qml, names, colours, layer_name

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsRasterLayer):
            style_class_layer(layer, self.qml, self.names, self.colours)
            if self.layer_name:
                layer.setName(self.layer_name)
        ClassStyleLoader._alive.pop(self.key, None)


def style_on_load(context, output_path: str, qml: str | None, names=None, colours=None,
                  layer_name: str | None = None) -> bool:
    """Attach the loader to output_path's load-on-completion entry; False when QGIS won't load it
    (qgis_process, a plain processing.run)."""
    if context is None or not context.willLoadLayerOnCompletion(output_path):
        return False
    loader = ClassStyleLoader(output_path, qml, names, colours, layer_name)
    ClassStyleLoader._alive[output_path] = loader
    details = context.layerToLoadOnCompletionDetails(output_path)
    details.setPostProcessor(loader)
    if layer_name:
        details.name = layer_name
    return True


# -- names and styles of the layers the algorithms load --------------------------------------------
SEPARATOR = " · "
ROLE_CLASSES, ROLE_CONFIDENCE = "MMLGNet classes", "MMLGNet confidence"
KIND_LABELS = {"hsi": "HSI", "lidar": "LiDAR"}


def layer_name(source: str, role: str | None = None) -> str:
    """'trento HSI · MMLGNet classes': what the layer came from, then what it is."""
    return f"{source}{SEPARATOR}{role}" if role else source


def import_layer_name(mat: str, scene: str | None, kind: str) -> str:
    """'trento HSI', 'trento LiDAR', 'trento labels TRLabel' (QGIS named them all 'GeoTIFF')."""
    path = mat.split(".mat:")[0] + ".mat" if ".mat:" in mat else mat
    stem = os.path.splitext(os.path.basename(path))[0]
    what = KIND_LABELS.get(kind) or (f"labels {stem}" if kind == "labels" else stem)
    return f"{scene or os.path.basename(os.path.dirname(os.path.abspath(path))) or stem} {what}"


def style_import_output(context, mat: str, scene: str | None, kind: str, result) -> None:
    """Name the imported layer; an HSI cube also gets its natural-colour default style."""
    from .raster_styles import hsi_renderer, write_default_style
    qml = result.qml
    if not result.qml and kind in ("hsi", "auto"):  # auto: styled only when the bands' centres are known
        qml = write_default_style(result.out, hsi_renderer)
    labels = bool(result.qml)  # a scene's class names come with every kind; only labels are paletted
    style_on_load(context, result.out, qml, result.classes if labels else None, result.colours if labels else None,
                  layer_name=import_layer_name(mat, scene, kind))


def style_classify_outputs(context, hsi_name: str, result) -> None:
    """Name the class map and confidence after the HSI layer; the confidence gets a viridis ramp."""
    from ..raster.writer import qml_path_for
    from .raster_styles import confidence_renderer, write_default_style
    style_on_load(context, result.out, qml_path_for(result.out), result.classes, result.colours,
                  layer_name=layer_name(hsi_name, ROLE_CLASSES))
    if result.confidence:
        qml = write_default_style(result.confidence, confidence_renderer)
        style_on_load(context, result.confidence, qml, layer_name=layer_name(hsi_name, ROLE_CONFIDENCE))
