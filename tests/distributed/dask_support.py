"""Fixtures of the Dask tests: a rendered scene with nodata and uneven tiles, a tiny trained model,
the single-process reference output, and a real `dask scheduler` + `dask worker` pair on loopback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robustness_scene import scene_arrays, train_tiny, training_labels, write_tif, prompt_set_json, WAVELENGTHS

from osgeo import gdal

ROOT = Path(__file__).resolve().parents[2]
HEIGHT, WIDTH, TILE = 75, 101, 16   # 5 x 7 tiles, the last row and column partial


def render(folder: Path, seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> dict:
    """HSI with a nodata value (a hole and a strip on the right edge), LiDAR with a NaN hole."""
    hsi, lidar, _ = scene_arrays(seed=seed, height=height, width=width)
    hsi[:, 20:27, 30:44] = -9999.0
    hsi[:, 50:60, width - 5:] = -9999.0
    lidar[:, 5:9, 3:12] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    return {"hsi": write_tif(folder / f"hsi{seed}.tif", hsi, nodata=-9999.0, wavelengths=WAVELENGTHS),
            "lidar": write_tif(folder / f"lidar{seed}.tif", lidar)}


@pytest.fixture(scope="session")
def scene(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("dask_scene")
    hsi, lidar, classes = scene_arrays()  # the 40 x 48 training scene: same spectra as render()
    h = write_tif(folder / "train_hsi.tif", hsi, wavelengths=WAVELENGTHS)
    li = write_tif(folder / "train_lidar.tif", lidar)
    labels = write_tif(folder / "labels.tif", training_labels(classes), dtype=gdal.GDT_Byte)
    model = train_tiny(h, li, labels, prompt_set_json(), folder / "model.safetensors")
    s = {"folder": folder, "model": model, **render(folder)}
    s["second"] = render(folder, seed=1, height=40, width=70)
    return s


def single_process(scene: dict, hsi: str, lidar: str, out: Path) -> tuple[str, str]:
    """The reference: ClassifyRequest in this process, same tile size and torch threads as the workers
    (oneDNN's float sums depend on the thread count: labels agree anyway, confidence only bit for bit)."""
    from mmlgnet_qgis import app
    from mmlgnet_qgis.app.requests import ClassifyRequest
    conf = out.with_name(out.stem + "_conf.tif")
    app.run(ClassifyRequest(model=scene["model"], hsi=hsi, lidar=lidar, out=str(out), confidence=str(conf),
                            tile=TILE, device="cpu", threads=1))
    return str(out), str(conf)


def read(path: str) -> tuple[np.ndarray, dict]:
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    ct = band.GetColorTable()
    meta = {"nodata": band.GetNoDataValue(), "names": band.GetCategoryNames(), "gt": ds.GetGeoTransform(),
            "crs": ds.GetProjection(), "type": band.DataType, "desc": band.GetDescription(),
            "colours": [ct.GetColorEntry(i) for i in range(ct.GetCount())] if ct else None,
            "block": band.GetBlockSize(), "compress": ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE")}
    return band.ReadAsArray(), meta


def assert_same_raster(a: str, b: str, qml: bool = True) -> None:
    """Pixels bit for bit (NaN-aware), nodata, colour table, class names, grid, type, tiling; the .qml
    unless QGIS restyled one of them (Processing writes its own)."""
    xa, ma = read(a)
    xb, mb = read(b)
    assert xa.dtype == xb.dtype and xa.shape == xb.shape
    assert np.array_equal(xa.view(np.uint8), xb.view(np.uint8)), f"{a} and {b} differ in pixels"
    assert ma == mb
    qa, qb = Path(a).with_suffix(".qml"), Path(b).with_suffix(".qml")
    assert qa.is_file() == qb.is_file()
    if qml and qa.is_file():
        assert qa.read_text() == qb.read_text()


@pytest.fixture(scope="session")
def reference(scene, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("reference")
    out, conf = single_process(scene, scene["hsi"], scene["lidar"], folder / "classes.tif")
    out2, conf2 = single_process(scene, scene["second"]["hsi"], scene["second"]["lidar"], folder / "second.tif")
    return {"out": out, "confidence": conf, "out2": out2, "confidence2": conf2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes (one thread, a nanny each) on loopback.

    The workers run in another folder than the tests, so a relative path is one they cannot see.
    """
    from distributed import Client
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cwd = tmp_path_factory.mktemp("worker_cwd")
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0",
                               "--no-show"], cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        time.sleep(1.0)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=90)
        yield {"address": address, "cwd": cwd}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
