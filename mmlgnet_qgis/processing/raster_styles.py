"""Renderers for what the algorithms write, saved as the GeoTIFF's default style (.qml beside it),
so the layer opens styled wherever it is opened (toolbox, drag and drop, qgis_process output):

- a hyperspectral image in natural colour: the bands nearest 640 / 550 / 460 nm, each stretched
  over its 2-98 % cumulative cut (bands 1/2/3 of a 60-band cube are all blue);
- the confidence raster on a perceptual ramp (viridis) whose legend says what the value is.
"""
from __future__ import annotations

import os

from qgis.core import (QgsColorRampLegendNodeSettings, QgsColorRampShader, QgsContrastEnhancement,
                       QgsGradientColorRamp, QgsGradientStop, QgsMultiBandColorRenderer, QgsRasterBandStats,
                       QgsRasterLayer, QgsRasterMinMaxOrigin, QgsRasterShader, QgsRectangle,
                       QgsSingleBandPseudoColorRenderer)
from qgis.PyQt.QtGui import QColor

from ..raster.confidence_style import VIRIDIS, legend_labels

NATURAL_COLOUR_NM = (640.0, 550.0, 460.0)  # red, green, blue
MAX_BAND_DISTANCE_NM = 60.0  # farther than this, the sensor does not see that colour
CUMULATIVE_CUT = (0.02, 0.98)
SAMPLE_PIXELS = 250_000  # statistics from a sample: a 30 GB cube must not be read to style it


def natural_colour_bands(wavelengths_nm) -> tuple[int, int, int] | None:
    """1-based bands nearest 640 / 550 / 460 nm, or None when unknown or not covered."""
    if not wavelengths_nm or len(wavelengths_nm) < 3:
        return None
    picks = []
    for target in NATURAL_COLOUR_NM:
        i = min(range(len(wavelengths_nm)), key=lambda k: abs(wavelengths_nm[k] - target))
        if abs(wavelengths_nm[i] - target) > MAX_BAND_DISTANCE_NM:
            return None
        picks.append(i + 1)
    return tuple(picks)


def _stretch(provider, band: int) -> QgsContrastEnhancement:
    low, high = provider.cumulativeCut(band, *CUMULATIVE_CUT, QgsRectangle(), SAMPLE_PIXELS)
    ce = QgsContrastEnhancement(provider.dataType(band))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    ce.setMinimumValue(low)
    ce.setMaximumValue(high)
    return ce


def natural_colour_renderer(layer: QgsRasterLayer, wavelengths_nm) -> QgsMultiBandColorRenderer | None:
    bands = natural_colour_bands(wavelengths_nm)
    if bands is None:
        return None
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    renderer.setRedContrastEnhancement(_stretch(provider, bands[0]))
    renderer.setGreenContrastEnhancement(_stretch(provider, bands[1]))
    renderer.setBlueContrastEnhancement(_stretch(provider, bands[2]))
    origin = QgsRasterMinMaxOrigin()  # the style panel then shows (and re-applies) the same cut
    origin.setLimits(QgsRasterMinMaxOrigin.Limits.CumulativeCut)
    origin.setCumulativeCutLower(CUMULATIVE_CUT[0])
    origin.setCumulativeCutUpper(CUMULATIVE_CUT[1])
    renderer.setMinMaxOrigin(origin)
    return renderer


def confidence_renderer(layer: QgsRasterLayer) -> QgsSingleBandPseudoColorRenderer:
    stats = layer.dataProvider().bandStatistics(
        1, QgsRasterBandStats.Stats.Min | QgsRasterBandStats.Stats.Max, QgsRectangle(), SAMPLE_PIXELS)
    vmin, vmax = stats.minimumValue, stats.maximumValue
    if not vmax > vmin:
        vmax = vmin + 1e-6
    ramp = QgsGradientColorRamp(QColor(VIRIDIS[0]), QColor(VIRIDIS[-1]), False,
                                [QgsGradientStop(i / 4, QColor(c)) for i, c in enumerate(VIRIDIS[1:-1], 1)])
    shader = QgsColorRampShader(vmin, vmax, ramp, QgsColorRampShader.Type.Interpolated)
    shader.setColorRampItemList([QgsColorRampShader.ColorRampItem(vmin + i / 4 * (vmax - vmin), QColor(c),
                                                                  f"{vmin + i / 4 * (vmax - vmin):.2f}")
                                 for i, c in enumerate(VIRIDIS)])
    legend = QgsColorRampLegendNodeSettings()
    legend.setUseContinuousLegend(True)
    low, high = legend_labels(vmin, vmax)
    legend.setMinimumLabel(low)
    legend.setMaximumLabel(high)
    shader.setLegendSettings(legend)
    raster_shader = QgsRasterShader(vmin, vmax)
    raster_shader.setRasterShaderFunction(shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(vmin)
    renderer.setClassificationMax(vmax)
    return renderer


def hsi_renderer(layer: QgsRasterLayer) -> QgsMultiBandColorRenderer | None:
    """Natural colour from the band centres GDAL reports (WAVELENGTH metadata, ENVI headers)."""
    from ..raster.reader import RasterSource
    with RasterSource(layer.source()) as src:
        wavelengths = src.wavelengths()
    return natural_colour_renderer(layer, wavelengths)


def write_default_style(path: str, make_renderer) -> str | None:
    """Style the GeoTIFF at `path` with make_renderer(layer) and save it as '<path stem>.qml'
    (QGIS's default style for that file). Returns the .qml, or None when there is no style to give."""
    options = QgsRasterLayer.LayerOptions(False)  # loadDefaultStyle=False: not the writer's grey .qml
    layer = QgsRasterLayer(path, os.path.basename(path), "gdal", options)
    if not layer.isValid():
        return None
    renderer = make_renderer(layer)
    if renderer is None:
        return None
    layer.setRenderer(renderer)
    qml = os.path.splitext(path)[0] + ".qml"
    _, ok = layer.saveNamedStyle(qml)
    return qml if ok else None
