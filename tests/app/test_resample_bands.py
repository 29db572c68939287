"""--resample-bands / RESAMPLE_BANDS: a scene with other band centres than the model's (a band subset, a
PRISMA .he5) is refused without it (the message suggests it) and classified with it."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

import robustness_scene as rs
from mmlgnet_qgis.cli import main

SUBSET = [0, 2, 3, 5]  # 400, 600, 700, 900 nm of the model's 400-900 nm


def _subset_scene(tmp_path):
    hsi, _, _ = rs.scene_arrays()
    return rs.write_tif(tmp_path / "hsi_subset.tif", hsi[SUBSET], wavelengths=[rs.WAVELENGTHS[b] for b in SUBSET])


def _classify(s, hsi, out, *extra, lidar=None):
    return main(["classify", "--hsi", hsi, "--lidar", lidar or s["lidar"], "--model", s["model"], "--out", str(out),
                 "--device", "cpu", "--threads", "1", *extra])


def test_a_band_subset_is_refused_without_resampling_and_classified_with_it(small_scene, tmp_path, capsys):
    hsi = _subset_scene(tmp_path)
    out = tmp_path / "out" / "classes.tif"
    out.parent.mkdir()
    assert _classify(small_scene, hsi, out) == 2
    err = capsys.readouterr().err
    assert "has 4 bands at 400-900 nm; the model was trained on 6 bands at 400-900 nm" in err
    assert "--resample-bands linear" in err and list(out.parent.iterdir()) == []
    for method in ("linear", "gaussian"):  # gaussian: no FWHM in a GeoTIFF's metadata -> linear, logged
        assert _classify(small_scene, hsi, out, "--resample-bands", method) == 0
        err = capsys.readouterr().err
        assert "HSI bands resampled (linear): 4 bands at 400-900 nm -> the model's 6 at 400-900 nm" in err
        if method == "gaussian":
            assert "states no band widths (FWHM): bands resampled linearly" in err
        classes = gdal.Open(str(out)).ReadAsArray()
        assert classes.min() >= 1 and classes.shape == (rs.HEIGHT, rs.WIDTH)


def test_model_bands_outside_the_scene_are_refused_by_number_and_wavelength(small_scene, tmp_path, capsys):
    hsi, _, _ = rs.scene_arrays()
    path = rs.write_tif(tmp_path / "hsi_short.tif", hsi[:4], wavelengths=rs.WAVELENGTHS[:4])  # 400-700 nm
    out = tmp_path / "classes.tif"
    assert _classify(small_scene, path, out, "--resample-bands", "linear") == 2
    err = capsys.readouterr().err
    assert "covers 400-700 nm; the model's band 5 at 800 nm, band 6 at 900 nm lie outside it" in err
    assert not out.exists()


def test_processing_parameter_resamples_the_bands(small_scene, tmp_path):
    from qgis_fixtures import run, start_qgis
    start_qgis()
    out = str(tmp_path / "classes.tif")
    run("mmlgnet:classify", {"HSI": _subset_scene(tmp_path), "LIDAR": small_scene["lidar"], "MODEL": small_scene["model"],
                             "OUTPUT": out, "DEVICE": 1, "THREADS": 1, "RESAMPLE_BANDS": 1})
    assert gdal.Open(out).ReadAsArray().min() >= 1


def _prisma_product(tmp_path):
    """A .he5 whose VNIR holds the model's 6 bands among others (DN scaled 1:1), a SWIR cube, and the LiDAR
    on the product's 30 m grid."""
    pytest.importorskip("h5py")
    from spectral_fixtures import PRISMA_ORIGIN, write_prisma_l2d
    hsi, lidar, _ = rs.scene_arrays()
    vnir_nm = [950.0, 900.0, 850.0, 800.0, 700.0, 600.0, 500.0, 450.0, 400.0]  # decreasing, as in the products
    at = {w: b for b, w in enumerate(rs.WAVELENGTHS)}
    vnir = np.stack([hsi[at[w]] if w in at else (hsi[at[w - 50]] + hsi[at[w + 50]]) / 2 for w in vnir_nm[1:]])
    vnir = np.concatenate([vnir[:1], vnir])  # 950 nm: a copy of 900, outside the model's range anyway
    swir = np.full((3, rs.HEIGHT, rs.WIDTH), 500.0)
    path = write_prisma_l2d(tmp_path / "PRS_L2D_STD_20200101_0001.he5", np.round(vnir).transpose(1, 0, 2),
                            swir.transpose(1, 0, 2), vnir_nm, [2200.0, 1600.0, 1000.0], [10.0] * 9, [10.0] * 3,
                            scale=((0.0, 65535.0), (0.0, 65535.0)))
    return path, rs.write_tif(tmp_path / "lidar_30m.tif", lidar, gt=rs.geotransform(PRISMA_ORIGIN, 30.0))


def _reference_map(small_scene, tmp_path):
    ref = tmp_path / "reference.tif"
    assert _classify(small_scene, small_scene["hsi"], ref) == 0
    return gdal.Open(str(ref)).ReadAsArray()


def test_a_prisma_product_classified_with_the_models_bands(small_scene, tmp_path, capsys):
    """Linearly resampled to the model's bands, the .he5 classifies like the model's own scene."""
    path, lidar_30m = _prisma_product(tmp_path)
    out = tmp_path / "prisma_classes.tif"
    assert _classify(small_scene, path, out, "--resample-bands", "gaussian", lidar=lidar_30m) == 0
    err = capsys.readouterr().err  # the model records no FWHM: its 100 nm band spacing stands in, a wide response
    assert "HSI bands resampled (gaussian): 12 bands at 400-2200 nm -> the model's 6" in err
    assert "its band spacing stands in" in err
    assert _classify(small_scene, path, out, "--resample-bands", "linear", lidar=lidar_30m) == 0
    assert (gdal.Open(str(out)).ReadAsArray() == _reference_map(small_scene, tmp_path)).mean() > 0.95


def test_a_prisma_cube_layer_in_processing_stands_for_its_product(small_scene, tmp_path):
    """QGIS adds a .he5 as one cube (a GDAL subdataset string): the whole product is read."""
    from qgis_fixtures import run, start_qgis
    path, lidar_30m = _prisma_product(tmp_path)
    start_qgis()
    out = str(tmp_path / "classes.tif")
    from qgis.core import QgsRasterLayer
    layer = QgsRasterLayer(f'HDF5:"{path}"://HDFEOS/SWATHS/PRS_L2D_HCO/Data_Fields/VNIR_Cube', "VNIR_Cube", "gdal")
    assert layer.isValid()
    run("mmlgnet:classify", {"HSI": layer,
                             "LIDAR": lidar_30m, "MODEL": small_scene["model"], "OUTPUT": out, "DEVICE": 1,
                             "THREADS": 1, "RESAMPLE_BANDS": 1})
    assert (gdal.Open(out).ReadAsArray() == _reference_map(small_scene, tmp_path)).mean() > 0.95
