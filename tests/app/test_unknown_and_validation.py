"""classify --unknown-threshold (GeoTIFF names, colour, metadata, .qml) and train --validation-fraction
(log, report, model file) through the app layer on the small georeferenced scene."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

import robustness_scene as rs
from mmlgnet_qgis import app
from mmlgnet_qgis.app.classify import UNKNOWN_METADATA
from mmlgnet_qgis.app.requests import ClassifyRequest, TrainRequest
from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.model_file import read_manifest


def _ids(path):
    ds = gdal.Open(path)   # kept alive while its band is read (GDAL's Python bindings segfault otherwise)
    return ds.GetRasterBand(1).ReadAsArray()


def _classify(scene, out, threshold):
    return app.run(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"], out=str(out),
                                   device="cpu", unknown_threshold=threshold))


def test_unknown_threshold_writes_an_unknown_class(small_scene, tmp_path):
    k = len(rs.NAMES)
    res = _classify(small_scene, tmp_path / "auto.tif", "auto")
    assert res.classes == [*rs.NAMES, "unknown"] and res.colours[-1] == "#808080"
    ds = gdal.Open(res.out)
    band = ds.GetRasterBand(1)
    band.GetDescription()  # GTiff loads the .aux.xml lazily; GetCategoryNames alone does not
    assert band.GetCategoryNames()[k + 1] == "unknown"
    assert band.GetColorTable().GetColorEntry(k + 1)[:3] == (128, 128, 128)
    assert ds.GetMetadataItem(UNKNOWN_METADATA).startswith(f"auto: id {k + 1} =")
    assert "unknown" in (tmp_path / "auto.qml").read_text()
    ids = band.ReadAsArray()
    assert ids.max() <= k + 1 and (ids == k + 1).mean() < 0.5     # calibrated: the known stripes stay known
    strict = _ids(_classify(small_scene, tmp_path / "strict.tif", "1").out)
    assert (strict == k + 1).all()                                 # no cosine exceeds 1
    plain = gdal.Open(_classify(small_scene, tmp_path / "none.tif", "none").out)
    plain_ids = plain.GetRasterBand(1).ReadAsArray()
    assert plain.GetMetadataItem(UNKNOWN_METADATA) is None and plain_ids.max() <= k
    known = ids <= k
    assert np.array_equal(ids[known], plain_ids[known])


@pytest.mark.parametrize("bad", ["sometimes", "1.5"])
def test_a_bad_threshold_is_refused_before_reading(small_scene, tmp_path, bad):
    with pytest.raises(InputError, match="unknown threshold"):
        _classify(small_scene, tmp_path / "x.tif", bad)
    assert not (tmp_path / "x.tif").exists()


def test_auto_needs_calibrated_thresholds(small_scene, tmp_path):
    prompts = rs.prompt_set_json(["a", "b"], ["#000000", "#ffffff"])   # re-targeted to other classes
    with pytest.raises(InputError, match="no calibrated thresholds"):
        app.run(ClassifyRequest(model=small_scene["model"], hsi=small_scene["hsi"], lidar=small_scene["lidar"],
                                out=str(tmp_path / "x.tif"), prompts=prompts, unknown_threshold="auto"))


def test_validation_reaches_the_log_the_report_and_the_model_file(tmp_path):
    hsi, lidar, classes = rs.scene_arrays()
    paths = {"hsi": rs.write_tif(tmp_path / "h.tif", hsi), "lidar": rs.write_tif(tmp_path / "l.tif", lidar),
             "labels": rs.write_tif(tmp_path / "y.tif", rs.training_labels(classes, per_class=60), dtype=gdal.GDT_Byte)}
    (tmp_path / "p.json").write_text(rs.prompt_set_json())
    res = app.run(TrainRequest(hsi=paths["hsi"], lidar=paths["lidar"], train_labels=paths["labels"],
                               prompts=str(tmp_path / "p.json"), out=str(tmp_path / "m.safetensors"), epochs=4,
                               device="cpu", patch_size=7, hsi_width=8, lidar_width=4, fusion_width=16,
                               validation_fraction=0.3, early_stopping=True, log_file=str(tmp_path / "log.txt"),
                               report_html=str(tmp_path / "r.html")))
    man = read_manifest(res.model)
    assert len(man.history["val_oa"]) == 4 and man.training["validation_pixels"] > 0
    assert man.training["best_epoch"] in range(1, 5) and man.training["config"]["early_stopping"]
    assert man.training["unknown_calibration"]["on"] == "validation" and len(man.unknown_thresholds) == 3
    log = (tmp_path / "log.txt").read_text()
    assert "val_oa" in log and "early stopping: kept epoch" in log
    assert "Best validation OA" in (tmp_path / "r.html").read_text()


def test_evaluate_scores_unknown_pixels_as_unclassified(small_scene, tmp_path):
    from mmlgnet_qgis.app.requests import EvaluateRequest
    out = _classify(small_scene, tmp_path / "strict.tif", "1").out      # every pixel unknown
    ref = rs.write_tif(tmp_path / "ref.tif", small_scene["classes"], dtype=gdal.GDT_Byte)
    res = app.run(EvaluateRequest(classified=out, labels=ref, model=small_scene["model"],
                                  report=str(tmp_path / "r.json")))
    assert res.oa == 0.0
