"""Open class rasters as paletted layers with class names when an algorithm's output is loaded.

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
