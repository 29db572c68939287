"""Hyperspectral rasters a user adds (Add Raster Layer, drag and drop) open in natural colour.

QGIS shows any many-band raster as bands 1 / 2 / 3: all blue for a 400-1000 nm cube. A GDAL
raster with at least MIN_BANDS bands whose band centres are known, still on that default, gets the
natural-colour renderer (processing.raster_styles); any other styling is left alone.
"""
from __future__ import annotations

from qgis.core import QgsMultiBandColorRenderer, QgsRasterLayer

MIN_BANDS = 10  # fewer bands: a colour photo or a multispectral image whose 1/2/3 may be meant


def style_if_hyperspectral(layer) -> bool:
    """Natural colour for a hyperspectral layer still shown as bands 1/2/3; True when restyled."""
    if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal" or layer.bandCount() < MIN_BANDS:
        return False
    renderer = layer.renderer()
    if not isinstance(renderer, QgsMultiBandColorRenderer) or \
            (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) != (1, 2, 3):
        return False
    from ..processing.raster_styles import hsi_renderer
    try:
        natural = hsi_renderer(layer)
    except (OSError, ValueError, RuntimeError):  # unreadable metadata: keep QGIS's default
        return False
    if natural is None:
        return False
    layer.setRenderer(natural)
    layer.triggerRepaint()
    return True


class HsiLayerStyler:
    """Watches a project's added layers while the plugin is loaded."""

    def __init__(self, project):
        self.project = project
        project.layersAdded.connect(self._added)

    def _added(self, layers) -> None:
        for layer in layers:
            style_if_hyperspectral(layer)

    def unload(self) -> None:
        try:
            self.project.layersAdded.disconnect(self._added)
        except (TypeError, RuntimeError):
            pass
