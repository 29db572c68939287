"""Processing algorithms through the worker, in a headless QGIS: classify gives the CLI's labels;
a worker killed mid-classify or mid-train becomes a clear Processing error, leaves no partial
file, and QGIS's process goes on (the next algorithm runs)."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from worker_support import PROMPTS, leftovers

pytest.importorskip("qgis.core")


@pytest.fixture(scope="module")
def qgis_app():
    from qgis_fixtures import start_qgis
    return start_qgis()


def _workers() -> list[int]:
    """Process ids of this process's worker children."""
    me, found = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == me and b"mmlgnet_qgis.worker" in cmd:
            found.append(int(pid))
    return found


def _killing_feedback():
    """A feedback whose first progress signal SIGKILLs the worker (as the OOM killer would)."""
    from qgis.core import QgsProcessingFeedback
    feedback = QgsProcessingFeedback()
    state = {"killed": []}

    def kill(_progress):
        if not state["killed"]:
            state["killed"] = _workers()
            for pid in state["killed"]:
                os.kill(pid, signal.SIGKILL)
    feedback.progressChanged.connect(kill)
    return feedback, state


def test_classify_gives_the_clis_labels(qgis_app, scene, tmp_path):
    from osgeo import gdal
    from qgis_fixtures import run
    out = run("mmlgnet:classify", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": scene["model"],
                                   "DEVICE": 1, "THREADS": 1, "OUTPUT": str(tmp_path / "qgis.tif")})["OUTPUT"]
    subprocess.run([sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", scene["model"], "--hsi", scene["hsi"],
                    "--lidar", scene["lidar"], "--out", str(tmp_path / "cli.tif"), "--device", "cpu"],
                   check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    a, b = gdal.Open(out), gdal.Open(str(tmp_path / "cli.tif"))
    assert np.array_equal(a.ReadAsArray(), b.ReadAsArray())


def test_worker_killed_mid_classify_and_mid_train(qgis_app, scene, tmp_path):
    from qgis.core import QgsProcessingException
    from qgis_fixtures import run
    feedback, state = _killing_feedback()
    with pytest.raises(QgsProcessingException, match=r"(?s)died \(SIGKILL\) while running 'classify'.*QGIS is fine"):
        run("mmlgnet:classify", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": scene["model"], "DEVICE": 1,
                                 "THREADS": 1, "TILE_SIZE": 16, "OUTPUT": str(tmp_path / "classes.tif"),
                                 "CONFIDENCE": str(tmp_path / "confidence.tif")}, feedback=feedback)
    assert len(state["killed"]) == 1 and leftovers(tmp_path) == [] and os.listdir(tmp_path) == []

    feedback, state = _killing_feedback()
    with pytest.raises(QgsProcessingException, match=r"died \(SIGKILL\) while running 'train'"):
        run("mmlgnet:train", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "LABELS": scene["labels"],
                              "PROMPTS": PROMPTS, "EPOCHS": 50, "PATCH_SIZE": 7, "HSI_WIDTH": 8, "LIDAR_WIDTH": 4,
                              "FUSION_WIDTH": 16, "DEVICE": 1, "THREADS": 1,
                              "MODEL": str(tmp_path / "model.safetensors")}, feedback=feedback)
    assert len(state["killed"]) == 1 and os.listdir(tmp_path) == []
    # QGIS goes on: the next run works
    out = run("mmlgnet:classify", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": scene["model"],
                                   "DEVICE": 1, "THREADS": 1, "OUTPUT": str(tmp_path / "again.tif")})
    assert os.path.isfile(out["OUTPUT"])
