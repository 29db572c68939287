"""ENVI headers as AVIRIS-NG / HyMap deliver them: wavelength units (nm, µm), fwhm, bbl (bad bands
dropped in training and classification, recorded in the model), data ignore value, reflectance
scale factor. Files are written by GDAL's ENVI driver, then their .hdr gets the keys of the ENVI
header format (NV5 "ENVI Header Files" documentation: wavelength, wavelength units, fwhm, bbl,
data ignore value, reflectance scale factor)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import gdal

import robustness_scene as rs
from spectral_fixtures import write_envi
from mmlgnet_qgis.cli import main
from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.model_file import read_manifest
from mmlgnet_qgis.raster.reader import RasterSource

TINY = ["--patch-size", "7", "--hsi-width", "8", "--lidar-width", "4", "--fusion-width", "16", "--epochs", "20",
        "--device", "cpu", "--threads", "1"]


def listing(values) -> str:
    return "{" + ", ".join(f"{v:g}" for v in values) + "}"


def test_wavelength_units_fwhm_and_data_ignore_value(tmp_path):
    cube = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    cube[:, 0, 0] = -32768
    for units, values, expect in (("Micrometers", [0.45, 0.55, 0.65], [450, 550, 650]),
                                  ("microns", [0.45, 0.55, 0.65], [450, 550, 650]),
                                  ("Nanometers", [450, 550, 650], [450, 550, 650]),
                                  (None, [0.45, 0.55, 2.2], [450, 550, 2200]),  # no units, < 30: µm
                                  (None, [450, 550, 650], [450, 550, 650])):
        header = {"wavelength": listing(values), "fwhm": listing([v / 45 for v in values]),
                  "data ignore value": -32768}
        if units:
            header["wavelength units"] = units
        path = write_envi(tmp_path / f"c_{units}_{values[0]}.img", cube, header)
        with RasterSource(path) as src:
            np.testing.assert_allclose(src.wavelengths(), expect)
            np.testing.assert_allclose(src.spectral().fwhm_nm, np.array(expect) / 45, rtol=1e-4)  # header: 6 digits
            assert src.grid.nodata == [-32768.0] * 3
            assert not src.read_window_with_mask(0, 0, 5, 4)[1][0, 0]  # data ignore value -> nodata
    index = write_envi(tmp_path / "index.img", cube, {"wavelength": "{1, 2, 3}", "wavelength units": "Index"})
    assert RasterSource(index).wavelengths() is None


@pytest.mark.parametrize("header,message", [
    ({"wavelength": "{1, 2, 3}", "wavelength units": "parsecs"}, r"bad\.img: wavelength units 'parsecs' are neither"),
    ({"wavelength": "{400, 500}"}, r"bad\.img: the ENVI header's 'wavelength' lists 2 values for 3 bands"),
    ({"bbl": "{0, 0, 0}"}, r"bad\.img: the ENVI header's bad-band list \(bbl\) marks all 3 bands bad \(0\)"),
    ({"bbl": "{1, x, 1}"}, r"bad\.img: the ENVI header's 'bbl' is not a list of numbers"),
    ({"reflectance scale factor": "-1"}, r"reflectance scale factor must be one positive number, got '-1'"),
])
def test_malformed_headers_are_refused_naming_the_file(tmp_path, header, message):
    path = write_envi(tmp_path / "bad.img", np.zeros((3, 4, 5), np.float32), header)
    with pytest.raises(InputError, match=message):
        RasterSource(path).spectral()


def test_bbl_band_subset_reads_only_good_bands(tmp_path):
    cube = np.stack([np.full((4, 5), float(b)) for b in range(4)]).astype(np.float32)
    cube[1] = np.nan  # a bad band full of NaN must not make every pixel invalid
    path = write_envi(tmp_path / "c.img", cube, {"bbl": "{1, 0, 1, 1}", "wavelength": "{400, 500, 600, 700}"})
    src = RasterSource(path, bands=src_bands(path))
    data, valid = src.read_window_with_mask(0, 0, 5, 4)
    assert src.bands == 3 and data[:, 0, 0].tolist() == [0, 2, 3] and valid.all()
    assert src.wavelengths() == [400, 600, 700]
    assert RasterSource(path, scale=0.5).read_window(0, 0, 1, 1)[:, 0, 0].tolist()[2:] == [1.0, 1.5]


def src_bands(path):
    with RasterSource(path) as s:
        return s.spectral().good_bands


# -- train and classify through the command line ---------------------------------------------------------
@pytest.fixture(scope="module")
def envi_scene(small_scene, tmp_path_factory):
    """The small scene's HSI as ENVI: 6 good bands in µm plus 2 bad bands (NaN, noise) dropped by bbl."""
    d = tmp_path_factory.mktemp("envi")
    hsi, _, _ = rs.scene_arrays()
    rng = np.random.default_rng(3)
    bad_nan = np.full(hsi.shape[1:], np.nan, np.float32)
    bad_noise = rng.normal(0, 1e4, hsi.shape[1:]).astype(np.float32)
    cube = np.concatenate([hsi[:3], bad_nan[None], hsi[3:], bad_noise[None]])
    wl_um = [w / 1000 for w in rs.WAVELENGTHS]
    header = {"wavelength units": "Micrometers", "wavelength": listing(wl_um[:3] + [0.75] + wl_um[3:] + [0.95]),
              "fwhm": listing([0.01] * 8), "bbl": "{1, 1, 1, 0, 1, 1, 1, 0}", "reflectance scale factor": "1"}
    scaled = {**header, "reflectance scale factor": "10000"}
    return {"hsi": write_envi(d / "hsi.img", cube, header),
            "hsi_x10000": write_envi(d / "hsi_x10000.img", np.nan_to_num(cube * 10000).astype(np.float32), scaled),
            "dir": d}


def test_bad_bands_are_dropped_in_training_recorded_and_dropped_again(small_scene, envi_scene, tmp_path, capsys):
    s = small_scene
    model = tmp_path / "envi.safetensors"
    assert main(["train", "--hsi", envi_scene["hsi"], "--lidar", s["lidar"], "--train-labels", s["labels"],
                 "--prompts", s["prompts"], "--out", str(model), *TINY]) == 0
    assert "the bad-band list (bbl) drops 2 of 8 bands: 4, 8" in capsys.readouterr().err
    man = read_manifest(model)
    assert man.hsi_bands == 6 and man.wavelengths_nm == pytest.approx(rs.WAVELENGTHS)
    assert man.hsi_spectral == {"source_bands": 8, "kept_bands": [0, 1, 2, 4, 5, 6], "reflectance_scale": 1.0,
                                "fwhm_nm": pytest.approx([10.0] * 6)}
    maps = {}
    for name, hsi in (("envi", envi_scene["hsi"]), ("geotiff", s["hsi"])):  # the GeoTIFF: 6 bands in nm
        out = tmp_path / f"{name}.tif"
        assert main(["classify", "--model", str(model), "--hsi", hsi, "--lidar", s["lidar"], "--out", str(out),
                     "--threads", "1"]) == 0
        maps[name] = gdal.Open(str(out)).ReadAsArray()
    assert (maps["envi"] == maps["geotiff"]).all() and (maps["envi"] == s["classes"]).mean() > 0.9
    # 8 bands, no list: the model's list applies
    plain = write_envi(tmp_path / "nolist.img", gdal.Open(envi_scene["hsi"]).ReadAsArray(), {})
    assert main(["classify", "--model", str(model), "--hsi", plain, "--lidar", s["lidar"],
                 "--out", str(tmp_path / "nolist.tif"), "--threads", "1"]) == 0
    assert "bands the model dropped at training are dropped (6 of 8 kept)" in capsys.readouterr().err
    # the same scene stored as reflectance x 10000: rescaled to the model's x 1
    out = tmp_path / "x10000.tif"
    assert main(["classify", "--model", str(model), "--hsi", envi_scene["hsi_x10000"], "--lidar", s["lidar"],
                 "--out", str(out), "--threads", "1"]) == 0
    assert "values multiplied by 0.0001" in capsys.readouterr().err
    assert (gdal.Open(str(out)).ReadAsArray() == maps["envi"]).mean() > 0.99


def test_bbl_dropping_every_band_is_refused(small_scene, envi_scene, tmp_path, capsys):
    s = small_scene
    bad = write_envi(tmp_path / "allbad.img", np.zeros((6, rs.HEIGHT, rs.WIDTH), np.float32),
                     {"bbl": "{0, 0, 0, 0, 0, 0}"})
    out = tmp_path / "out"
    out.mkdir()
    assert main(["train", "--hsi", bad, "--lidar", s["lidar"], "--train-labels", s["labels"],
                 "--prompts", s["prompts"], "--out", str(out / "m.safetensors"), *TINY]) == 2
    assert "allbad.img: the ENVI header's bad-band list (bbl) marks all 6 bands bad (0)" in capsys.readouterr().err
    assert os.listdir(out) == []
