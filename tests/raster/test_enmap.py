"""EnMAP L2A: the SPECTRAL_IMAGE.TIF with its METADATA.XML beside it (layout: tests/spectral_fixtures.py,
DLR's EnMAP L1B/L1C/L2A product specification EN-PCV-ICD-2009-2): band centres, FWHM, gain -> reflectance
scale, backgroundValue -> nodata, expectedChannelsList -> the bands read; a METADATA.XML describing another
band count is refused naming the file and both counts."""
from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import gdal

import robustness_scene as rs
from mmlgnet_qgis.app.hsi_bands import hsi_selection
from mmlgnet_qgis.cli import main
from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.reporter import or_null
from mmlgnet_qgis.raster.enmap import image_of, read_metadata
from mmlgnet_qgis.raster.reader import RasterSource
from spectral_fixtures import small_scene_enmap, write_enmap_l2a


def test_metadata_beside_the_tif_gives_centres_widths_scale_and_nodata(tmp_path):
    cube = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5) + 100
    cube[:, 1, 2] = -32768
    tif, xml = write_enmap_l2a(tmp_path, cube, [418.4, 424.0, 2445.5], [6.9, 7.1, 9.8])
    with RasterSource(tif) as src:
        info = src.spectral()
        assert src.wavelengths() == pytest.approx([418.4, 424.0, 2445.5])
        assert info.fwhm_nm == pytest.approx([6.9, 7.1, 9.8]) and info.scale == 10000.0
        assert src.grid.nodata == [-32768.0] * 3  # from backgroundValue: the TIF states none
        values, valid = src.read_window_with_mask(0, 0, 5, 4)
        assert not valid[1, 2] and valid.sum() == 19 and values[0, 0, 0] == 100
    meta = read_metadata(xml)
    assert meta.gains == [1e-4] * 3 and meta.offsets == [0.0] * 3 and meta.background == -32768


def test_hsi_given_as_the_metadata_xml_opens_the_spectral_image(tmp_path):
    tif, xml = write_enmap_l2a(tmp_path, np.ones((2, 3, 3), np.int16), [500.0, 600.0], [8.0, 8.0])
    assert image_of(xml) == tif
    with RasterSource(xml) as src:
        assert src.path == tif and src.band_count == 2 and src.wavelengths() == [500.0, 600.0]
    os.remove(tif)
    with pytest.raises(InputError, match=r"METADATA\.XML, but no .*-SPECTRAL_IMAGE\.TIF beside it"):
        image_of(xml)


def test_a_metadata_xml_with_another_band_count_is_refused_naming_the_file_and_both_counts(tmp_path):
    tif, xml = write_enmap_l2a(tmp_path, np.ones((3, 4, 5), np.int16), [500.0, 600.0, 700.0], [8.0] * 3,
                               xml_bands=5)
    with pytest.raises(InputError, match=rf"{os.path.basename(xml)} describes 5 bands, but the spectral image "
                                         rf".*SPECTRAL_IMAGE\.TIF has 3"):
        RasterSource(tif)


def test_expected_channels_list_drops_the_empty_bands(tmp_path):
    tif, _ = small_scene_enmap(tmp_path)
    sel = hsi_selection(tif, None, or_null(None))
    assert sel.bands == [0, 1, 2, 4, 5, 6] and sel.reflectance_scale == 10000.0 and sel.fwhm_nm == [12.0] * 6
    with RasterSource(tif, bands=sel.bands) as src:
        assert src.wavelengths() == rs.WAVELENGTHS
        assert src.read_window_with_mask(0, 0, rs.WIDTH, rs.HEIGHT)[1].all()  # empty bands do not mask pixels


def test_malformed_metadata_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "X-METADATA.XML"
    bad.write_text("<level_X><specific></specific></level_X>", encoding="utf-8")
    with pytest.raises(InputError, match=r"X-METADATA\.XML: no specific/bandCharacterisation"):
        read_metadata(str(bad))
    bad.write_text("<level_X><specific><bandCharacterisation><bandID number='1'><wavelengthCenterOfBand>abc"
                   "</wavelengthCenterOfBand></bandID></bandCharacterisation></specific></level_X>", encoding="utf-8")
    with pytest.raises(InputError, match=r"band 1's wavelengthCenterOfBand is not a number: 'abc'"):
        read_metadata(str(bad))


def test_classify_an_enmap_product_from_the_command_line(small_scene, tmp_path, capsys):
    tif, xml = small_scene_enmap(tmp_path / "product")
    out = tmp_path / "classes.tif"
    assert main(["classify", "--hsi", xml, "--lidar", small_scene["lidar"], "--model", small_scene["model"],
                 "--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "drops 2 of 8 bands: 4, 8" in err
    classes = gdal.Open(str(out)).ReadAsArray()
    assert (classes == rs.class_map()).mean() > 0.8


def test_train_on_an_enmap_product_records_the_bands_read(small_scene, tmp_path, capsys):
    from mmlgnet_qgis.core.model_file import read_manifest
    tif, _ = small_scene_enmap(tmp_path / "product")
    model = tmp_path / "enmap.safetensors"
    assert main(["train", "--hsi", tif, "--lidar", small_scene["lidar"], "--train-labels", small_scene["labels"],
                 "--prompts", small_scene["prompts"], "--out", str(model), "--epochs", "2", "--patch-size", "7",
                 "--hsi-width", "8", "--lidar-width", "4", "--fusion-width", "16", "--device", "cpu",
                 "--threads", "1"]) == 0
    man = read_manifest(str(model))
    assert man.hsi_spectral["kept_bands"] == [0, 1, 2, 4, 5, 6] and man.hsi_spectral["reflectance_scale"] == 10000
    assert man.hsi_spectral["fwhm_nm"] == [12.0] * 6 and man.wavelengths_nm == rs.WAVELENGTHS
