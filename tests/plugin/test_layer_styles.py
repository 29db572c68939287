"""Layers as a user meets them: a hyperspectral cube opens in natural colour (bands nearest
640 / 550 / 460 nm, 2-98 % cumulative cut), the confidence raster on a viridis ramp whose legend
says it is the cosine of the winning prompt, and layers are named after source and role."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, osr

from qgis_fixtures import qgis_app  # noqa: F401

WAVELENGTHS = [400 + 50 * i for i in range(12)]  # 400 .. 950 nm


def write_tif(path, array, wavelengths=None):
    bands = array.shape[0]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1], bands, gdal.GDT_Float32)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetGeoTransform((600000, 1, 0, 5000000, 0, -1))
    ds.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(array[b])
        if wavelengths:
            band.SetMetadataItem("WAVELENGTH", str(wavelengths[b]))
            band.SetMetadataItem("WAVELENGTH_UNITS", "nm")
    ds = None
    return str(path)


def test_natural_colour_bands():
    from mmlgnet_qgis.processing.raster_styles import natural_colour_bands
    assert natural_colour_bands(WAVELENGTHS) == (6, 4, 2)  # 650, 550, 450 nm
    trento = list(np.linspace(402.89, 989.09, 63))
    r, g, b = natural_colour_bands(trento)
    assert abs(trento[r - 1] - 640) < 5 and abs(trento[g - 1] - 550) < 5 and abs(trento[b - 1] - 460) < 5
    assert natural_colour_bands([1000 + 100 * i for i in range(6)]) is None  # SWIR sees no colour
    assert natural_colour_bands(None) is None and natural_colour_bands([550.0]) is None


def test_hsi_opens_in_natural_colour_with_cumulative_cut(qgis_app, tmp_path):
    from qgis.core import QgsMultiBandColorRenderer, QgsRasterLayer
    from mmlgnet_qgis.processing.raster_styles import hsi_renderer, write_default_style
    rng = np.random.default_rng(0)
    cube = rng.gamma(2.0, 100.0, size=(12, 64, 64)).astype(np.float32)
    path = write_tif(tmp_path / "hsi.tif", cube, WAVELENGTHS)
    assert write_default_style(path, hsi_renderer) == str(tmp_path / "hsi.qml")
    layer = QgsRasterLayer(path, "hsi", "gdal")  # as the user opens it: the .qml is its default style
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (6, 4, 2)
    ce = renderer.redContrastEnhancement()
    lo, hi = np.percentile(cube[5], [2, 98])
    assert ce.minimumValue() == pytest.approx(lo, rel=0.1) and ce.maximumValue() == pytest.approx(hi, rel=0.1)


def test_cube_without_band_centres_keeps_qgis_default(qgis_app, tmp_path):
    from mmlgnet_qgis.processing.raster_styles import hsi_renderer, write_default_style
    path = write_tif(tmp_path / "cube.tif", np.ones((5, 8, 8), np.float32))
    assert write_default_style(path, hsi_renderer) is None and not (tmp_path / "cube.qml").exists()


def test_confidence_on_a_viridis_ramp_with_a_legend_that_says_what_it_is(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer, QgsSingleBandPseudoColorRenderer
    from mmlgnet_qgis.processing.raster_styles import confidence_renderer, write_default_style
    values = np.linspace(0.2, 0.9, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    path = write_tif(tmp_path / "confidence.tif", values)
    assert write_default_style(path, confidence_renderer)
    layer = QgsRasterLayer(path, "confidence", "gdal")  # kept: the renderer belongs to it
    renderer = layer.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    shader = renderer.shader().rasterShaderFunction()
    items = shader.colorRampItemList()
    assert items[0].color.name() == "#440154" and items[-1].color.name() == "#fde725"
    assert items[0].value == pytest.approx(0.2, abs=0.01) and items[-1].value == pytest.approx(0.9, abs=0.01)
    legend = shader.legendSettings()
    assert "cosine of the winning prompt" in legend.maximumLabel() and legend.maximumLabel().startswith("0.90")


def test_layer_names():
    from mmlgnet_qgis.processing.layer_style import ROLE_CLASSES, ROLE_CONFIDENCE, import_layer_name, layer_name
    assert import_layer_name("/data/trento/HSI.mat", "trento", "hsi") == "trento HSI"
    assert import_layer_name("/data/trento/LiDAR.mat", "trento", "lidar") == "trento LiDAR"
    assert import_layer_name("/data/trento/TRLabel.mat:TRLabel", "trento", "labels") == "trento labels TRLabel"
    assert import_layer_name("/data/muufl/HSI.mat", None, "auto") == "muufl HSI"
    assert layer_name("trento HSI", ROLE_CLASSES) == "trento HSI · MMLGNet classes"
    assert layer_name("trento HSI", ROLE_CONFIDENCE) == "trento HSI · MMLGNet confidence"


def _loaded(name_part: str):
    from qgis.core import QgsProject
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if name_part in lyr.name()]


def test_imported_hsi_is_named_after_scene_and_opens_in_natural_colour(qgis_app, tmp_path):
    """mmlgnet:importbenchmark run from the toolbox (results loaded into the project)."""
    import processing
    import scipy.io
    from qgis.core import QgsMultiBandColorRenderer, QgsProject
    folder = tmp_path / "trento"
    folder.mkdir()
    cube = np.random.default_rng(1).gamma(2.0, 100.0, size=(20, 24, 12)).astype(np.float32)
    scipy.io.savemat(folder / "HSI.mat", {"HSI": cube, "wavelengths_nm": np.array(WAVELENGTHS, float)})
    processing.runAndLoadResults("mmlgnet:importbenchmark", {  # the scene also brings class names
        "INPUT": str(folder / "HSI.mat"), "KIND": 1, "SCENE": 1, "OUTPUT": str(tmp_path / "hsi.tif")})
    layers = _loaded("trento HSI")
    try:
        assert [lyr.name() for lyr in layers] == ["trento HSI"]
        renderer = layers[0].renderer()
        assert isinstance(renderer, QgsMultiBandColorRenderer)
        assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (6, 4, 2)
    finally:
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in layers])


def test_classify_results_are_named_after_the_hsi_layer_and_styled(qgis_app, small_scene, tmp_path):
    """mmlgnet:classify from the toolbox: 'trento HSI · MMLGNet classes' (paletted) and
    '… · MMLGNet confidence' (viridis, legend naming the cosine), not 'Classified raster'."""
    import processing
    from qgis.core import (QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer,
                           QgsSingleBandPseudoColorRenderer)
    hsi = QgsRasterLayer(small_scene["hsi"], "trento HSI", "gdal")
    QgsProject.instance().addMapLayer(hsi)
    try:
        processing.runAndLoadResults("mmlgnet:classify", {
            "HSI": hsi.id(), "LIDAR": small_scene["lidar"], "MODEL": small_scene["model"], "DEVICE": 1,
            "THREADS": 1, "OUTPUT": str(tmp_path / "classes.tif"), "CONFIDENCE": str(tmp_path / "conf.tif")})
        classes = _loaded("trento HSI · MMLGNet classes")
        confidence = _loaded("trento HSI · MMLGNet confidence")
        assert len(classes) == 1 and len(confidence) == 1
        assert isinstance(classes[0].renderer(), QgsPalettedRasterRenderer)
        renderer = confidence[0].renderer()
        assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
        shader = renderer.shader().rasterShaderFunction()
        assert "cosine of the winning prompt" in shader.legendSettings().maximumLabel()
        assert "singlebandpseudocolor" in (tmp_path / "conf.qml").read_text()  # opens so anywhere
    finally:
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in _loaded("trento HSI")])


def test_a_hyperspectral_layer_the_user_adds_opens_in_natural_colour(qgis_app, tmp_path):
    """Add Raster Layer / drag and drop of a cube with band centres: not bands 1/2/3."""
    from qgis.core import QgsMultiBandColorRenderer, QgsProject, QgsRasterLayer
    from mmlgnet_qgis.gui.hsi_layers import HsiLayerStyler
    rng = np.random.default_rng(2)
    cube = write_tif(tmp_path / "cube.tif", rng.gamma(2.0, 100.0, size=(12, 32, 32)).astype(np.float32), WAVELENGTHS)
    unknown = write_tif(tmp_path / "unknown.tif", rng.gamma(2.0, 100.0, size=(12, 32, 32)).astype(np.float32))
    styler = HsiLayerStyler(QgsProject.instance())
    layers = [QgsRasterLayer(cube, "cube", "gdal"), QgsRasterLayer(unknown, "unknown", "gdal")]
    try:
        QgsProject.instance().addMapLayers(layers)
        bands = [(r.redBand(), r.greenBand(), r.blueBand()) for r in (lyr.renderer() for lyr in layers)]
        assert isinstance(layers[0].renderer(), QgsMultiBandColorRenderer)
        assert bands == [(6, 4, 2), (1, 2, 3)]  # without band centres QGIS's default stays
    finally:
        styler.unload()
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in layers])
