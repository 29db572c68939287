"""Headless QGIS for the Processing tests, shared by the test_processing*.py modules.

One QgsApplication per process (reused when another test module made it first). exitQgis() is
never called: QGIS 3.22 can segfault in it at interpreter exit. The Trento GeoTIFFs and the
small trained model are cached at module level, so each is made once per pytest run even when
several test modules import these fixtures.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROCESSING_PLUGINS = "/usr/share/qgis/python/plugins"
# One torch thread: on 2 shared cores, 2 OpenMP threads ran training 20-40x slower (spinning).
CPU = {"DEVICE": 1, "THREADS": 1}
# Small and quick (a few seconds), still > 90 % OA on Trento's test pixels.
FAST_TRAINING = dict(CPU, EPOCHS=12, PATCH_SIZE=7, HSI_WIDTH=16, LIDAR_WIDTH=8, FUSION_WIDTH=32, SEED=0)
_STATE: dict = {}


def start_qgis():
    """QgsApplication + Processing + the MMLGNet provider, once per process."""
    if "app" in _STATE:
        return _STATE["app"]
    from qgis.core import QgsApplication
    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], True)  # GUI-enabled (offscreen): other test modules may need widgets
        QgsApplication.setPrefixPath("/usr", True)
        app.initQgis()
    if PROCESSING_PLUGINS not in sys.path:
        sys.path.append(PROCESSING_PLUGINS)
    from processing.core.Processing import Processing
    Processing.initialize()
    from mmlgnet_qgis.processing.provider import MMLGNetProvider
    registry = QgsApplication.processingRegistry()
    if registry.providerById("mmlgnet") is None:
        _STATE["provider"] = MMLGNetProvider()  # keep a Python reference alive
        registry.addProvider(_STATE["provider"])
    _STATE["app"] = app
    return app


def run(alg_id: str, params: dict, feedback=None, context=None) -> dict:
    import processing
    return processing.run(alg_id, params, feedback=feedback, context=context)


@pytest.fixture(scope="session")
def qgis_app():
    return start_qgis()


@pytest.fixture(scope="session")
def trento_tifs(qgis_app, data_dir, tmp_path_factory):
    """Trento HSI, LiDAR, 50-per-class training labels and test labels as GeoTIFFs, made by
    mmlgnet:importbenchmark on the scene's nominal grid."""
    if "tifs" not in _STATE:
        out = tmp_path_factory.mktemp("trento_tifs")
        tifs = {}
        for part, mat in (("hsi", "HSI.mat"), ("lidar", "LiDAR.mat"), ("train", "Trento_TR_50_1.mat"),
                          ("test", "TSLabel.mat")):
            kind = 3 if part in ("train", "test") else 0
            res = run("mmlgnet:importbenchmark", {"INPUT": str(data_dir / "trento" / mat), "KIND": kind,
                                                  "SCENE": 1, "OUTPUT": str(out / f"{part}.tif")})
            tifs[part] = res["OUTPUT"]
        _STATE["tifs"] = tifs
    return _STATE["tifs"]


@pytest.fixture(scope="session")
def trained_model(trento_tifs, tmp_path_factory):
    """mmlgnet:train on the GeoTIFFs (raster labels, Trento prompts): (model path, results)."""
    if "model" not in _STATE:
        out = tmp_path_factory.mktemp("model")
        params = dict(FAST_TRAINING, HSI=trento_tifs["hsi"], LIDAR=trento_tifs["lidar"], LABELS=trento_tifs["train"],
                      PROMPTS=str(ROOT / "resources" / "prompts" / "trento.json"),
                      MODEL=str(out / "trento.safetensors"), LOG=str(out / "train.txt"),
                      REPORT=str(out / "train.html"))
        _STATE["model"] = (str(out / "trento.safetensors"), run("mmlgnet:train", params))
    return _STATE["model"]
