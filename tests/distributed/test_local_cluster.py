"""A LocalCluster of 2 worker processes classifies like one process, bit for bit."""
from __future__ import annotations

from pathlib import Path

from dask_support import TILE, assert_same_raster

from mmlgnet_qgis import app
from mmlgnet_qgis.app.distributed_requests import DistributedClassifyRequest


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".dask-" in p.name or ".partial-" in p.name)


def test_local_cluster_of_two_equals_single_process(scene, reference, tmp_path):
    out, conf = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    logs = []

    class Log:
        def progress(self, done, total, metrics=None):
            logs.append((done, total))

        def log(self, message):
            logs.append(message)

        def warning(self, message):
            logs.append(message)

        def is_cancelled(self):
            return False

    result = app.run(DistributedClassifyRequest(model=scene["model"], hsi=[scene["hsi"]], lidar=[scene["lidar"]],
                                                out=str(out), confidence=str(conf), cluster="local:2", tile=TILE,
                                                block_tiles=2, device="cpu"), Log())
    assert result.workers == 2 and result.blocks == 12  # 3 x 4 blocks of 2 x 2 tiles
    assert_same_raster(str(out), reference["out"])
    assert_same_raster(str(conf), reference["confidence"])
    assert (12, 12) in logs and leftovers(tmp_path) == []
    assert result.scheduler_bytes < 100_000  # paths and windows, never rasters
