"""Point clouds as the LiDAR input of train and classify, through the command line (small scene)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from las_fixtures import surface_points, wkt_of, write_las
from osgeo import gdal

from mmlgnet_qgis.cli import main
from mmlgnet_qgis.core.model_file import read_manifest

TINY = ["--patch-size", "7", "--hsi-width", "8", "--lidar-width", "4", "--fusion-width", "16", "--epochs", "20",
        "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def cloud(small_scene, tmp_path_factory):
    """The small scene's LiDAR raster as a LAZ cloud on 100 m terrain, in EPSG:32632."""
    ds = gdal.Open(small_scene["lidar"])
    dsm, gt = ds.GetRasterBand(1).ReadAsArray().astype(np.float64), ds.GetGeoTransform()
    ds = None
    terrain = np.full_like(dsm, 100.0)
    pts = surface_points(dsm + terrain, terrain + dsm.clip(max=1.0), gt, per_cell=2, seed=5,
                         intensity=np.where(dsm > 8, 400.0, 1500.0))
    return write_las(tmp_path_factory.mktemp("cloud") / "scene.laz", pts, wkt_of(32632))


def _map(path):
    return gdal.Open(str(path)).ReadAsArray()


def test_model_trained_from_a_cloud_records_its_products_and_classify_reuses_them(small_scene, cloud, tmp_path,
                                                                                  capsys):
    s = small_scene
    model = tmp_path / "cloud_model.safetensors"
    assert main(["train", "--hsi", s["hsi"], "--lidar", cloud, "--train-labels", s["labels"], "--prompts", s["prompts"],
                 "--out", str(model), *TINY]) == 0
    man = read_manifest(model)
    assert man.lidar_products == ["ndsm", "intensity"] and man.lidar_bands == 2
    out = tmp_path / "classes.tif"
    assert main(["classify", "--model", str(model), "--hsi", s["hsi"], "--lidar", cloud, "--out", str(out),
                 "--threads", "1"]) == 0
    assert (_map(out) == s["classes"]).mean() > 0.9
    # other products than the model's: refused, nothing written
    refused = tmp_path / "refused.tif"
    assert main(["classify", "--model", str(model), "--hsi", s["hsi"], "--lidar", cloud, "--lidar-products", "dsm",
                 "--out", str(refused)]) == 2
    assert "trained on the LiDAR products ndsm,intensity; --lidar-products dsm" in capsys.readouterr().err
    assert not refused.exists() and not [p for p in os.listdir(tmp_path) if ".partial" in p]


def test_raster_trained_model_with_a_cloud_needs_lidar_products(small_scene, cloud, tmp_path, capsys):
    s = small_scene
    refused = tmp_path / "refused.tif"
    assert main(["classify", "--model", s["model"], "--hsi", s["hsi"], "--lidar", cloud, "--out", str(refused)]) == 2
    err = capsys.readouterr().err
    assert "trained on a LiDAR raster (1 band(s))" in err and "--lidar-products" in err and not refused.exists()
    from_raster, from_cloud = tmp_path / "raster.tif", tmp_path / "cloud.tif"
    assert main(["classify", "--model", s["model"], "--hsi", s["hsi"], "--lidar", s["lidar"],
                 "--out", str(from_raster), "--threads", "1"]) == 0
    # the cloud stands on 100 m of terrain: ndsm gives back the raster's heights above ground
    assert main(["classify", "--model", s["model"], "--hsi", s["hsi"], "--lidar", cloud, "--lidar-products", "ndsm",
                 "--out", str(from_cloud), "--threads", "1"]) == 0
    assert (_map(from_cloud) == _map(from_raster)).mean() > 0.95


def test_rasterise_lidar_command(small_scene, cloud, tmp_path):
    out = tmp_path / "lidar.tif"
    assert main(["rasterise-lidar", "--point-clouds", cloud, "--reference", small_scene["hsi"], "--out", str(out),
                 "--products", "dsm,density"]) == 0
    ds = gdal.Open(str(out))
    assert ds.RasterCount == 2 and ds.GetRasterBand(2).GetDescription() == "density"
    assert (ds.RasterXSize, ds.RasterYSize) == (48, 40)


def test_manifest_refuses_malformed_lidar_products(small_scene):
    from mmlgnet_qgis.core.errors import ModelFileError
    from mmlgnet_qgis.core.manifest import Manifest
    from mmlgnet_qgis.core.model_file import read_manifest_dict
    data = read_manifest_dict(small_scene["model"])
    assert Manifest.from_dict(data).lidar_products is None  # raster-trained: nothing recorded
    for bad in (["ndsm", "intensity"], ["chm"], "dsm"):
        with pytest.raises(ModelFileError, match=r"'lidar_products' must list 1 of dsm, dtm"):
            Manifest.from_dict({**data, "lidar_products": bad}, "m.safetensors")


def test_processing_classify_and_train_take_point_cloud_files(small_scene, cloud, tmp_path):
    from qgis.core import QgsProcessingException
    from qgis_fixtures import run, start_qgis
    start_qgis()
    s = small_scene
    base = {"HSI": s["hsi"], "MODEL": s["model"], "DEVICE": 1, "THREADS": 1}
    with pytest.raises(QgsProcessingException, match="trained on a LiDAR raster"):
        run("mmlgnet:classify", {**base, "LIDAR_POINT_CLOUDS": [cloud], "OUTPUT": str(tmp_path / "a.tif")})
    with pytest.raises(QgsProcessingException, match=r"LiDAR raster \(LIDAR\) or LiDAR point cloud files .*not both"):
        run("mmlgnet:classify", {**base, "LIDAR": s["lidar"], "LIDAR_POINT_CLOUDS": [cloud],
                                 "OUTPUT": str(tmp_path / "b.tif")})
    with pytest.raises(QgsProcessingException, match=r"give a LiDAR raster \(LIDAR\) or LiDAR point cloud files"):
        run("mmlgnet:classify", {**base, "OUTPUT": str(tmp_path / "c.tif")})
    assert os.listdir(tmp_path) == []
    res = run("mmlgnet:classify", {**base, "LIDAR_POINT_CLOUDS": [cloud], "LIDAR_PRODUCTS": [2],
                                   "OUTPUT": str(tmp_path / "ndsm.tif")})
    assert (_map(res["OUTPUT"]) == s["classes"]).mean() > 0.9  # the tiny model: ~94 % with the raster too
    model = tmp_path / "cloud.safetensors"
    run("mmlgnet:train", {"HSI": s["hsi"], "LIDAR_POINT_CLOUDS": [cloud], "LABELS": s["labels"],
                          "PROMPTS": s["prompts"], "MODEL": str(model), "EPOCHS": 5, "PATCH_SIZE": 7, "HSI_WIDTH": 8,
                          "LIDAR_WIDTH": 4, "FUSION_WIDTH": 16, "DEVICE": 1, "THREADS": 1, "LIDAR_PRODUCTS": [0, 3]})
    assert read_manifest(model).lidar_products == ["dsm", "intensity"]
