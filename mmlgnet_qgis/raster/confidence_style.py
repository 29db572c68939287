"""The confidence raster's default style, written as a .qml beside it by every front end.

A perceptual ramp (viridis) over the values written, with a continuous legend that says what the
value is. The CLI and the Dask client write it as text (no QGIS needed); inside QGIS the
Processing algorithms build the same renderer with QGIS's classes (processing/raster_styles.py).
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

CONFIDENCE_MEANING = "cosine of the winning prompt"
# matplotlib's viridis at 0, 1/4, 1/2, 3/4, 1: perceptually uniform, readable in grey and by the colour-blind
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _rgba(hex_colour: str) -> str:
    return ",".join(str(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5)) + ",255"


def legend_labels(vmin: float, vmax: float) -> tuple[str, str]:
    """(minimum, maximum) legend labels of the confidence ramp."""
    return f"{vmin:.2f} (low: unsure)", f"{vmax:.2f} {CONFIDENCE_MEANING} (high: sure)"


def confidence_renderer_xml(vmin: float, vmax: float, band: int = 1) -> str:
    """QGIS 3.22 singlebandpseudocolor renderer (viridis, interpolated) over [vmin, vmax]."""
    if not vmax > vmin:
        vmax = vmin + 1e-6
    stops = ":".join(f"{i / 4:g};{_rgba(c)}" for i, c in enumerate(VIRIDIS[1:-1], 1))
    items = "".join(
        f'          <item value="{vmin + i / 4 * (vmax - vmin)!r}" label="{vmin + i / 4 * (vmax - vmin):.2f}" '
        f'alpha="255" color="{c}"/>\n' for i, c in enumerate(VIRIDIS))
    low, high = legend_labels(vmin, vmax)
    ramp_props = (("color1", _rgba(VIRIDIS[0])), ("color2", _rgba(VIRIDIS[-1])), ("discrete", "0"),
                  ("rampType", "gradient"), ("stops", stops))
    return (
        f'    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" '
        f'nodataColor="" classificationMin="{vmin!r}" classificationMax="{vmax!r}">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin>\n        <limits>None</limits>\n        <extent>WholeRaster</extent>\n"
        "        <statAccuracy>Estimated</statAccuracy>\n"
        "        <cumulativeCutLower>0.02</cumulativeCutLower>\n"
        "        <cumulativeCutUpper>0.98</cumulativeCutUpper>\n"
        "        <stdDevFactor>2</stdDevFactor>\n      </minMaxOrigin>\n"
        "      <rastershader>\n"
        f'        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        f'labelPrecision="2" minimumValue="{vmin!r}" maximumValue="{vmax!r}">\n'
        '          <colorramp name="[source]" type="gradient">\n'
        + "".join(f'            <prop k="{k}" v="{v}"/>\n' for k, v in ramp_props) +
        "          </colorramp>\n"
        + items +
        f'          <rampLegendSettings minimumLabel={quoteattr(low)} maximumLabel={quoteattr(high)} '
        'prefix="" suffix="" direction="0" orientation="2" useContinuousLegend="1"/>\n'
        "        </colorrampshader>\n"
        "      </rastershader>\n"
        "    </rasterrenderer>\n")
