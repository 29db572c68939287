"""Fixtures for the worker tests: real worker processes run with this interpreter (the venv's,
which has torch), a prompt set, and a small scene written with GDAL (trained in a worker)."""
import json
import os
import sys

import numpy as np
import pytest

PROMPTS = json.dumps({"templates": ["an aerial hyperspectral view of {}"],
                      "classes": [{"id": 1, "name": "Apple trees", "color": "#2e8b57"},
                                  {"id": 2, "name": "Buildings", "color": "#d62728"},
                                  {"id": 3, "name": "Roads", "color": "#7f7f7f"}]})


class Recorder:
    """A Reporter that records everything and can act on a progress line (kill, cancel)."""

    def __init__(self, on_progress=None):
        self.events, self.cancelled, self.on_progress = [], False, on_progress

    def progress(self, done, total, metrics=None):
        self.events.append(("progress", done, total, metrics))
        if self.on_progress:
            self.on_progress(self)

    def log(self, message):
        self.events.append(("log", message))

    def warning(self, message):
        self.events.append(("warning", message))

    def is_cancelled(self):
        return self.cancelled

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # 2 shared cores: workers must not each start a full thread pool
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def scene(tmp_path_factory):
    """A 96 x 128 GeoTIFF scene (6-band HSI, 1-band LiDAR, labels) and a tiny model trained on it
    through a worker: {'hsi', 'lidar', 'labels', 'model', 'folder'}."""
    import robustness_scene as rs
    from mmlgnet_qgis.app.requests import TrainRequest
    from mmlgnet_qgis.worker.client import run_in_worker
    folder = tmp_path_factory.mktemp("worker_scene")
    hsi, lidar, classes = rs.scene_arrays(height=96, width=128)
    s = {"folder": folder, "hsi": rs.write_tif(folder / "hsi.tif", hsi),
         "lidar": rs.write_tif(folder / "lidar.tif", lidar),
         "labels": rs.write_tif(folder / "labels.tif", rs.training_labels(classes), dtype=rs.gdal.GDT_Byte)}
    req = TrainRequest(hsi=s["hsi"], lidar=s["lidar"], train_labels=s["labels"], prompts=PROMPTS,
                       out=str(folder / "model.safetensors"), epochs=20, patch_size=7, hsi_width=8,
                       lidar_width=4, fusion_width=16, threads=1)
    env = {"OMP_NUM_THREADS": "1"}
    run_in_worker(req, python=sys.executable, env=env)
    s["model"] = req.out
    assert os.path.isfile(s["model"])
    s["classes"] = np.asarray(classes)
    return s


def leftovers(folder) -> list[str]:
    """Temporary files (core.atomic_files.partial_name) left in a folder."""
    return sorted(name for name in os.listdir(folder) if "partial" in name)


# Mesa's LLVM, which the QGIS desktop loads with its GL driver (the crash of the last round)
LLVM = "libLLVM-15.so.1"


def llvm_present() -> bool:
    """Whether Mesa's libLLVM can be loaded on this machine."""
    import ctypes
    try:
        ctypes.CDLL(LLVM)
    except OSError:
        return False
    return True
