"""Bad point-cloud LiDAR through both front ends (command line and processing.run of train / classify):
a clear error naming the file and the value, nothing left behind, inputs unchanged."""
from __future__ import annotations

import hashlib
import re
import os

import numpy as np
import pytest
from las_fixtures import surface_points, wkt_of, write_las
from osgeo import gdal

from mmlgnet_qgis.cli import main

TINY = {"EPOCHS": 2, "PATCH_SIZE": 7, "HSI_WIDTH": 8, "LIDAR_WIDTH": 4, "FUSION_WIDTH": 16}


def _points(small_scene, **kw):
    ds = gdal.Open(small_scene["lidar"])
    dsm, gt = ds.GetRasterBand(1).ReadAsArray().astype(np.float64), ds.GetGeoTransform()
    ds = None
    return surface_points(dsm + 100.0, 100.0 + dsm.clip(max=1.0), gt, per_cell=2, seed=9, **kw)


def no_crs(s, tmp):
    return write_las(tmp / "nocrs.laz", _points(s)), r"nocrs\.laz states no CRS in its header"


def off_the_hsi(s, tmp):
    pts = _points(s)
    pts["x"] = pts["x"] + 3000.0
    return (write_las(tmp / "east.laz", pts, wkt_of(32632)),
            r"east\.laz does not overlap the raster grid: the cloud covers x 603000.*the grid covers x 600000\.\.600048")


def no_ground(s, tmp):
    pts = _points(s)
    pts["classification"] = np.where(pts["classification"] == 2, 1, pts["classification"]).astype(np.uint8)
    return write_las(tmp / "noground.laz", pts, wkt_of(32632)), r"noground\.laz has no ground point \(ASPRS class 2\)"


CASES = {"laz_without_crs": ("classify", no_crs), "laz_off_the_hsi": ("classify", off_the_hsi),
         "no_ground_class_for_ndsm": ("train", no_ground)}


def _digest(paths):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def _cli(command, s, cloud, out):
    args = [command, "--hsi", s["hsi"], "--lidar", cloud, "--out", out, "--device", "cpu", "--threads", "1"]
    if command == "train":
        args += ["--train-labels", s["labels"], "--prompts", s["prompts"], "--epochs", "2", "--patch-size", "7"]
    else:
        args += ["--model", s["model"], "--lidar-products", "ndsm"]
    return main(args)


def _processing(command, s, cloud, out):
    from qgis_fixtures import run, start_qgis
    start_qgis()
    params = {"HSI": s["hsi"], "LIDAR_POINT_CLOUDS": [cloud], "DEVICE": 1, "THREADS": 1}
    if command == "train":
        params.update(LABELS=s["labels"], PROMPTS=s["prompts"], MODEL=out, **TINY)
    else:
        params.update(MODEL=s["model"], OUTPUT=out, LIDAR_PRODUCTS=[2])
    run(f"mmlgnet:{command}", params)


@pytest.mark.parametrize("front_end", ["cli", "processing"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_point_cloud_is_refused_naming_the_file(small_scene, tmp_path, capsys, case, front_end):
    command, make = CASES[case]
    cloud, message = make(small_scene, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = str(out_dir / ("model.safetensors" if command == "train" else "classes.tif"))
    inputs = [cloud, small_scene["hsi"], small_scene["model"], small_scene["labels"]]
    before = _digest(inputs)
    if front_end == "cli":
        assert _cli(command, small_scene, cloud, out) == 2
        error = capsys.readouterr().err
    else:
        from qgis.core import QgsProcessingException
        with pytest.raises(QgsProcessingException) as info:
            _processing(command, small_scene, cloud, out)
        error = str(info.value)
    assert re.search(message, error), error
    assert os.listdir(out_dir) == [] and _digest(inputs) == before
