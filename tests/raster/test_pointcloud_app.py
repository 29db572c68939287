"""The rasterise_lidar use case (app layer) and its Processing algorithm, on a small synthetic cloud."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
from pathlib import Path

import numpy as np
import pytest
from las_fixtures import surface_points, wkt_of, write_las
from osgeo import gdal

from mmlgnet_qgis.app.rasterise_requests import RasteriseLidarRequest
from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.raster.grid import RasterGrid
from mmlgnet_qgis.raster.writer import FloatRasterWriter

ORIGIN = (664000.0, 5104000.0)


@pytest.fixture
def inputs(tmp_path):
    """A 1-band reference raster (20 x 10 m) and a LAZ cloud over it with a 5 m box."""
    grid = RasterGrid.north_up(20, 10, 32632, ORIGIN, 1.0)
    ref = tmp_path / "hsi.tif"
    with FloatRasterWriter(ref, grid) as w:
        w.write_window(0, 0, np.zeros((10, 20), np.float32))
    terrain = np.full((10, 20), 100.0)
    objects = np.zeros((10, 20))
    objects[2:6, 3:9] = 5.0
    cloud = write_las(tmp_path / "cloud.laz", surface_points(terrain + objects, terrain, grid.geotransform),
                      wkt_of(32632))
    return str(ref), cloud, objects


def test_request_round_trips_through_json():
    req = RasteriseLidarRequest(point_clouds=["a.laz", "tiles/"], reference="hsi.tif", out="l.tif",
                                products=["dsm", "density"], assume_crs="EPSG:32632")
    back = RasteriseLidarRequest.from_dict(json.loads(req.to_json()))
    assert back == req and req.to_dict()["kind"] == "rasterise_lidar"
    assert RasteriseLidarRequest(["a.laz"], "r.tif", "o.tif").products == ["ndsm", "intensity"]
    with pytest.raises(InputError, match="'fill_radius' must be a whole number"):
        RasteriseLidarRequest.from_dict({"point_clouds": ["a.laz"], "reference": "r", "out": "o", "fill_radius": 1.5})


def test_use_case_writes_the_products_on_the_reference_grid(tmp_path, inputs):
    from mmlgnet_qgis.app.rasterise_lidar import run
    ref, cloud, objects = inputs
    result = run(RasteriseLidarRequest([cloud], ref, str(tmp_path / "lidar.tif")))
    assert result.products == ["ndsm", "intensity"] and result.cells_nodata == 0
    ndsm = gdal.Open(result.out).ReadAsArray()[0]
    assert np.abs(ndsm - objects).max() < 0.2
    assert "EPSG:32632" in result.grid and result.points_on_grid == result.points_read - 20


def test_use_case_refuses_overwriting_an_input_and_a_missing_reference(tmp_path, inputs):
    from mmlgnet_qgis.app.rasterise_lidar import run
    ref, cloud, _ = inputs
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="is the reference raster input"):
        run(RasteriseLidarRequest([cloud], ref, ref))
    with pytest.raises(InputError, match="reference raster .*nothere.tif cannot be opened"):
        run(RasteriseLidarRequest([cloud], str(tmp_path / "nothere.tif"), str(tmp_path / "out.tif")))
    assert sorted(os.listdir(tmp_path)) == before


# -- mmlgnet:rasteriselidar through processing.run ------------------------------------------------
@pytest.fixture(scope="module")
def qgis():
    from qgis_fixtures import start_qgis
    return start_qgis()


def test_processing_algorithm_rasterises_files_and_a_folder(tmp_path, inputs, qgis):
    from qgis_fixtures import run as processing_run
    ref, cloud, objects = inputs
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    os.replace(cloud, tiles / "cloud.laz")
    out = tmp_path / "lidar.tif"
    res = processing_run("mmlgnet:rasteriselidar", {"FOLDER": str(tiles), "REFERENCE": ref, "PRODUCTS": [0, 4],
                                                    "FILL_RADIUS": 1, "OUTPUT": str(out)})
    ds = gdal.Open(res["OUTPUT"])
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(2)] == ["dsm", "density"]
    assert np.abs(ds.GetRasterBand(1).ReadAsArray() - (100 + objects)).max() < 0.1
    ds = None
    bare = write_las(tmp_path / "bare.las", surface_points(100 + objects, np.full_like(objects, 100.0),
                                                          (ORIGIN[0], 1, 0, ORIGIN[1], 0, -1)))
    res = processing_run("mmlgnet:rasteriselidar", {"POINT_CLOUDS": [bare], "REFERENCE": ref, "PRODUCTS": [2],
                                                    "ASSUME_CRS": "EPSG:32632", "OUTPUT": str(tmp_path / "n.tif")})
    assert np.abs(gdal.Open(res["OUTPUT"]).ReadAsArray() - objects).max() < 0.2


def test_processing_algorithm_refuses_a_cloud_without_crs(tmp_path, inputs, qgis):
    from qgis.core import QgsProcessingException
    from qgis_fixtures import run as processing_run
    ref, _, objects = inputs
    bare = write_las(tmp_path / "bare.las", surface_points(100 + objects, np.full_like(objects, 100.0),
                                                          (ORIGIN[0], 1, 0, ORIGIN[1], 0, -1)))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(QgsProcessingException, match=r"bare\.las states no CRS"):
        processing_run("mmlgnet:rasteriselidar", {"POINT_CLOUDS": [bare], "REFERENCE": ref,
                                                  "OUTPUT": str(tmp_path / "out.tif")})
    with pytest.raises(QgsProcessingException, match="give point cloud files, a folder of tiles, or both"):
        processing_run("mmlgnet:rasteriselidar", {"REFERENCE": ref, "OUTPUT": str(tmp_path / "out.tif")})
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(shutil.which("qgis_process.bin") is None, reason="qgis_process not installed (Debian package 'qgis')")
def test_qgis_process_takes_several_clouds_and_products(tmp_path, inputs):
    """`qgis_process run mmlgnet:rasteriselidar -- POINT_CLOUDS=a.laz POINT_CLOUDS=b.laz PRODUCTS=0,4 ...`"""
    ref, cloud, objects = inputs
    other = write_las(tmp_path / "raised.laz", surface_points(101 + objects, np.full_like(objects, 101.0),
                                                              (ORIGIN[0], 1, 0, ORIGIN[1], 0, -1), seed=4),
                      wkt_of(32632))
    home, plugins = tmp_path / "home", tmp_path / "plugins"
    home.mkdir()
    plugins.mkdir()
    (plugins / "mmlgnet_qgis").symlink_to(Path(__file__).resolve().parents[2] / "mmlgnet_qgis", target_is_directory=True)
    env = dict(os.environ, HOME=str(home), QGIS_PLUGINPATH=str(plugins), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(site.getsitepackages()))
    env.pop("XDG_DATA_HOME", None)
    qgis_process = shutil.which("qgis_process.bin")
    subprocess.run([qgis_process, "plugins", "enable", "mmlgnet_qgis"], env=env, cwd=home, capture_output=True,
                   timeout=300, check=True)
    out = tmp_path / "lidar.tif"
    proc = subprocess.run([qgis_process, "run", "mmlgnet:rasteriselidar", "--", f"POINT_CLOUDS={cloud}",
                           f"POINT_CLOUDS={other}", f"REFERENCE={ref}", "PRODUCTS=0,4", f"OUTPUT={out}"],
                          env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ds = gdal.Open(str(out))
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(2)] == ["dsm", "density"]
    assert np.abs(ds.GetRasterBand(1).ReadAsArray() - (101 + objects)).max() < 0.1  # the higher cloud's surface
