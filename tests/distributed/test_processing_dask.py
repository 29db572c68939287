"""mmlgnet:classifydask through processing.run (the request runs in the plugin's worker process)
against the real dask scheduler: the single-process output, styled and named after the HSI layer."""
from __future__ import annotations

from dask_support import TILE, assert_same_raster
from qgis_fixtures import CPU, qgis_app, run  # noqa: F401 (fixture)
from test_local_cluster import leftovers


def test_processing_classifies_on_the_cluster(qgis_app, scene, reference, dask_cluster, tmp_path):
    out, conf = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    result = run("mmlgnet:classifydask", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": scene["model"],
                                          "SCHEDULER": dask_cluster["address"], "TILE_SIZE": TILE, "BLOCK_TILES": 2,
                                          "OUTPUT": str(out), "CONFIDENCE": str(conf), **CPU})
    assert result["OUTPUT"] == str(out) and result["CONFIDENCE"] == str(conf)
    assert_same_raster(str(out), reference["out"], qml=False)  # Processing restyles (viridis confidence)
    assert_same_raster(str(conf), reference["confidence"], qml=False)
    assert leftovers(tmp_path) == []
