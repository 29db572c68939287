"""The committed graphical model tests/models/mmlgnet_chain.model3 (import -> train -> classify ->
evaluate), loaded from its file and run as QGIS runs models."""
from __future__ import annotations

import json
from pathlib import Path

from osgeo import gdal

from qgis_fixtures import qgis_app  # noqa: F401

MODEL3 = Path(__file__).resolve().parents[1] / "models" / "mmlgnet_chain.model3"


def test_model_chain_runs_end_to_end(qgis_app, data_dir, tmp_path):
    import processing
    from qgis.core import QgsProcessingModelAlgorithm, QgsProject
    from mmlgnet_qgis.processing.project_prompts import KEY, SCOPE
    QgsProject.instance().removeEntry(SCOPE, KEY)  # the scene's prompts, not a set another test left
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL3))
    assert [c.algorithmId() for c in sorted(model.childAlgorithms().values(), key=lambda c: c.childId())] == [
        "mmlgnet:classify", "mmlgnet:evaluate", "mmlgnet:importbenchmark", "mmlgnet:importbenchmark",
        "mmlgnet:importbenchmark", "mmlgnet:importbenchmark", "mmlgnet:train"]
    trento = data_dir / "trento"
    # inputs and outputs as scripts/make_example_model.py names them (fast network: a quick run)
    res = processing.run(model, {
        "hsi_mat": str(trento / "HSI.mat"), "lidar_mat": str(trento / "LiDAR.mat"),
        "training_labels_mat": str(trento / "Trento_TR_50_1.mat"), "test_labels_mat": str(trento / "TSLabel.mat"),
        "scene": 1, "epochs": 12, "network_size": 1, "device": 1, "threads": 1,
        "train:Model file": str(tmp_path / "model.safetensors"),
        "classify:Classified raster": str(tmp_path / "classes.tif"),
        "evaluate:Accuracy report": str(tmp_path / "report.html")})
    model_file = res["train:Model file"]
    assert model_file == str(tmp_path / "model.safetensors") and Path(model_file).is_file()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["oa"] > 90 and report["n_pixels"] == 29395  # semi-synthetic Trento HSI, 50 px/class
    assert Path(res["evaluate:Accuracy report"]).read_text().count("data:image/png") >= 3
    ds = gdal.Open(res["classify:Classified raster"])
    band = ds.GetRasterBand(1)
    band.GetDescription()
    assert band.GetCategoryNames()[1] == "Apple trees" and ds.GetProjection()
