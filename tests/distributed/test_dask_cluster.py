"""A real `dask scheduler` and two `dask worker` processes on loopback, started and stopped here:
several scenes in one call, a worker SIGKILLed mid-run, cancel, and the errors users meet."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dask_support import ROOT, TILE, assert_same_raster, free_port, render, single_process
from test_local_cluster import leftovers

from mmlgnet_qgis import app
from mmlgnet_qgis.app.distributed_requests import DistributedClassifyRequest
from mmlgnet_qgis.core.errors import Cancelled, InputError


class Reporter:
    """Counts progress; `on_progress(done)` runs at each report; cancels when told to."""

    def __init__(self, on_progress=None):
        self.done, self.lines, self.cancel, self.on_progress = [], [], False, on_progress

    def progress(self, done, total, metrics=None):
        self.done.append((done, total))
        if self.on_progress:
            self.on_progress(done)

    def log(self, message):
        self.lines.append(message)

    def warning(self, message):
        self.lines.append(message)

    def is_cancelled(self):
        return self.cancel


def request(scene, cluster, **kw):
    kw.setdefault("hsi", [scene["hsi"]])
    kw.setdefault("lidar", [scene["lidar"]])
    return DistributedClassifyRequest(model=scene["model"], cluster=cluster, tile=TILE, device="cpu", **kw)


def test_several_scenes_in_one_command(scene, reference, dask_cluster, tmp_path):
    second = scene["second"]
    cmd = [sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", scene["model"],
           "--hsi", scene["hsi"], second["hsi"], "--lidar", scene["lidar"], second["lidar"],
           "--out-dir", str(tmp_path), "--with-confidence", "--cluster", dask_cluster["address"],
           "--tile", str(TILE), "--block-tiles", "2", "--device", "cpu"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert_same_raster(str(tmp_path / "hsi0_classes.tif"), reference["out"])
    assert_same_raster(str(tmp_path / "hsi0_confidence.tif"), reference["confidence"])
    assert_same_raster(str(tmp_path / "hsi1_classes.tif"), reference["out2"])
    assert_same_raster(str(tmp_path / "hsi1_confidence.tif"), reference["confidence2"])
    assert leftovers(tmp_path) == []


def test_scene_list_csv_and_one_model_load_per_worker(scene, reference, dask_cluster, tmp_path):
    from distributed import Client
    csv = tmp_path / "scenes.csv"
    csv.write_text(f"hsi,lidar,out\n{scene['hsi']},{scene['lidar']},a.tif\n"
                   f"{scene['second']['hsi']},{scene['second']['lidar']},b.tif\n")
    result = app.run(request(scene, dask_cluster["address"], hsi=[], lidar=[], scenes=str(csv), block_tiles=1))
    assert result.outputs == [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")] and result.blocks == 35 + 15
    assert_same_raster(str(tmp_path / "a.tif"), reference["out"])
    assert_same_raster(str(tmp_path / "b.tif"), reference["out2"])
    with Client(dask_cluster["address"], set_as_default=False) as client:
        loads = client.run(lambda: __import__("mmlgnet_qgis.app.dask_tasks", fromlist=["x"]).MODEL_LOADS[0])
        cache = client.run(lambda: os.environ.get("GDAL_CACHEMAX"))
    assert set(loads.values()) == {1}, loads  # once per worker process, not once per task
    assert set(cache.values()) == {"256"}


def test_a_worker_killed_mid_run_gives_the_same_output(scene, dask_cluster, tmp_path):
    from distributed import Client
    big = render(tmp_path / "in", seed=2, height=160, width=208)
    ref, _ = single_process(scene, big["hsi"], big["lidar"], tmp_path / "ref.tif")
    killed = []
    with Client(dask_cluster["address"], set_as_default=False) as client:
        def kill(done):
            if killed:
                return
            busy = [a for a, keys in client.processing().items() if keys]
            assert busy and done < 130, "nothing left to reschedule: the test would prove nothing"
            killed.extend(client.run(os.getpid, workers=busy[:1]).values())
            os.kill(killed[0], signal.SIGKILL)  # the nanny starts a new worker; the scheduler reruns its tasks

        out = tmp_path / "out" / "classes.tif"
        out.parent.mkdir()
        result = app.run(request(scene, dask_cluster["address"], hsi=[big["hsi"]], lidar=[big["lidar"]],
                                 out=str(out), block_tiles=1), Reporter(kill))
        client.wait_for_workers(2, timeout=60)
        assert killed and killed[0] not in client.run(os.getpid).values()
    assert result.blocks == 10 * 13
    assert_same_raster(str(out), ref)
    assert leftovers(out.parent) == []


def test_cancel_leaves_nothing(scene, dask_cluster, tmp_path):
    rep = Reporter()
    rep.on_progress = lambda done: setattr(rep, "cancel", True)
    out = tmp_path / "classes.tif"
    with pytest.raises(Cancelled):
        app.run(request(scene, dask_cluster["address"], out=str(out), confidence=str(tmp_path / "c.tif"),
                        block_tiles=1), rep)
    time.sleep(1.0)  # tasks still running when cancelled find their folder gone
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_path_the_workers_cannot_see_is_named(scene, dask_cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(scene["folder"])  # here 'hsi0.tif' exists; in the workers' folder it does not
    with pytest.raises(InputError, match=r"workers cannot open the HSI hsi0\.tif"):
        app.run(request(scene, dask_cluster["address"], hsi=["hsi0.tif"], out=str(tmp_path / "x.tif")))
    assert leftovers(tmp_path) == []


def test_an_unreachable_scheduler_is_named(scene, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=f"cannot reach the Dask scheduler at {address}"):
        app.run(request(scene, address, out=str(tmp_path / "x.tif")))
    assert time.perf_counter() - t0 < 20 and leftovers(tmp_path) == []
