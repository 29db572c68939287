"""The four mmlgnet:* algorithms end to end through processing.run on Trento GeoTIFFs.

Accuracies are on the semi-synthetic Trento HSI over real labels and LiDAR (see the data README),
with a deliberately small model (FAST_TRAINING) so the module stays quick on 2 CPU cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from qgis_fixtures import CPU, FAST_TRAINING, qgis_app, run, trained_model, trento_tifs  # noqa: F401
from mmlgnet_qgis.core.defaults import TEACHER_HEADS

TRENTO = ["Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"]
TRENTO_COLOURS = ["#2e8b57", "#d62728", "#c8a165", "#0b5d1e", "#9acd32", "#7f7f7f"]
MIN_OA = 90.0  # measured 97.8 % (seed 0); a broken pipeline lands far below


def categories(path):
    ds = gdal.Open(str(path))  # keep the dataset alive while its band is used (GDAL segfaults otherwise)
    band = ds.GetRasterBand(1)
    band.GetDescription()  # GDAL loads the .aux.xml (category names) lazily
    table = band.GetColorTable()
    colours = ["#{:02x}{:02x}{:02x}".format(*table.GetColorEntry(k)[:3]) for k in range(1, 7)]
    return band.GetCategoryNames()[1:], colours, band.GetNoDataValue()


def read(path):
    return gdal.Open(str(path)).ReadAsArray()


def partials(folder):
    return [p.name for p in Path(folder).iterdir() if ".partial" in p.name]


class CancelAfter:
    """Builds a QgsProcessingFeedback whose isCanceled() turns True after n calls."""

    def __new__(cls, n):
        from qgis.core import QgsProcessingFeedback

        class _Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.calls = 0

            def isCanceled(self):  # noqa: N802
                self.calls += 1
                return self.calls > n
        return _Feedback()


def test_provider_registers_its_documented_algorithms(qgis_app):
    from qgis.core import QgsApplication
    provider = QgsApplication.processingRegistry().providerById("mmlgnet")
    assert provider is not None and provider.name() == "MMLGNet"
    assert Path(provider.svgIconPath()).is_file() and not provider.icon().isNull()
    ids = sorted(a.id() for a in provider.algorithms())
    assert ids == ["mmlgnet:classify", "mmlgnet:classifydask", "mmlgnet:evaluate", "mmlgnet:importbenchmark",
                   "mmlgnet:rasteriselidar", "mmlgnet:train"]
    for alg in provider.algorithms():
        assert len(alg.shortHelpString()) > 200, alg.id()


def test_import_benchmark_georeferences_the_scene(trento_tifs, data_dir, tmp_path):
    from qgis.core import QgsProcessingException
    from mmlgnet_qgis.raster.grid import grid_of
    g = grid_of(trento_tifs["hsi"])
    assert (g.width, g.height, g.band_count) == (600, 166, 63)
    assert g.crs_authority() == "EPSG:32632" and g.origin == (664000.0, 5104000.0) and g.pixel_size == (1.0, 1.0)
    names, colours, nodata = categories(trento_tifs["train"])
    assert names == TRENTO and colours == TRENTO_COLOURS and nodata == 0
    assert Path(trento_tifs["train"]).with_suffix(".qml").is_file()
    assert np.count_nonzero(read(trento_tifs["train"])) == 300
    # explicit values override the scene's nominal grid
    res = run("mmlgnet:importbenchmark", {"INPUT": str(data_dir / "trento" / "LiDAR.mat"), "KEY": "LiDAR",
                                          "SCENE": 1, "CRS": "EPSG:32633", "ORIGIN_X": 10, "ORIGIN_Y": 2000,
                                          "PIXEL_SIZE": 2.5, "OUTPUT": str(tmp_path / "l.tif")})
    g = grid_of(res["OUTPUT"])
    assert g.crs_authority() == "EPSG:32633" and g.origin == (10.0, 2000.0) and g.pixel_size == (2.5, 2.5)
    with pytest.raises(QgsProcessingException, match="choose a benchmark scene"):
        run("mmlgnet:importbenchmark", {"INPUT": str(data_dir / "trento" / "LiDAR.mat"),
                                        "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()


def test_train_writes_model_log_and_report(trained_model):
    from mmlgnet_qgis.core.model_file import read_manifest
    path, res = trained_model
    man = read_manifest(path)
    assert man.names == TRENTO and man.patch_size == 7
    assert man.training["labelled_pixels"] == 300 and man.hsi_bands == 63
    assert res["MODEL"] == path and res["FINAL_TRAIN_OA"] > 90
    log = Path(res["LOG"]).read_text()
    # the default preset trains the teachers, then the student: 12 epochs each on one progress scale
    steps = len(TEACHER_HEADS) + 1
    assert f"epoch {12 * steps}/{12 * steps}" in log
    assert log.index(f"step 1 of {steps}") < log.index(f"step {steps} of {steps}")
    assert "data:image/png;base64" in Path(res["REPORT"]).read_text()


def test_classify_opens_paletted_and_evaluates_accurately(trained_model, trento_tifs, tmp_path):
    import processing
    from qgis.core import QgsPalettedRasterRenderer, QgsProject
    model, _ = trained_model
    out, conf = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    res = processing.runAndLoadResults("mmlgnet:classify", {
        "HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model, **CPU,
        "OUTPUT": str(out), "CONFIDENCE": str(conf)})
    assert res["OUTPUT"] == str(out)
    names, colours, nodata = categories(out)
    assert names == TRENTO and colours == TRENTO_COLOURS and nodata == 0
    assert out.with_suffix(".qml").is_file()
    sim = read(conf)
    assert sim.dtype == np.float32 and np.all((sim > -1.0001) & (sim < 1.0001))
    # the project layer QGIS loaded on completion is paletted with the class names
    layers = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source() == str(out)]
    assert len(layers) == 1
    renderer = layers[0].renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.label for c in renderer.classes()] == TRENTO
    assert [c.color.name() for c in renderer.classes()] == TRENTO_COLOURS
    QgsProject.instance().removeAllMapLayers()

    ev = run("mmlgnet:evaluate", {"CLASSIFIED": str(out), "REFERENCE": trento_tifs["test"], "MODEL": model,
                                  "SEMI_SYNTHETIC": True, "REPORT": str(tmp_path / "report.html")})
    assert ev["OA"] > MIN_OA and ev["AA"] > 85 and ev["KAPPA"] > 85
    report = json.loads(Path(ev["REPORT_JSON"]).read_text())
    assert report["n_pixels"] == 29395 and abs(report["oa"] - ev["OA"]) < 1e-9
    pred, test = read(out), read(trento_tifs["test"])
    assert abs(100 * np.mean(pred[test > 0] == test[test > 0]) - ev["OA"]) < 1e-9
    assert "Training curves" in Path(ev["REPORT"]).read_text()


def test_nodata_and_nan_pixels_stay_nodata(trained_model, trento_tifs, tmp_path):
    model, _ = trained_model
    hsi = str(tmp_path / "hsi_holes.tif")
    gdal.Translate(hsi, trento_tifs["hsi"], outputType=gdal.GDT_Float32, noData=-1)
    ds = gdal.Open(hsi, gdal.GA_Update)
    ds.GetRasterBand(5).WriteArray(np.full((20, 30), np.nan, np.float32), 100, 40)   # NaN block
    ds.GetRasterBand(9).WriteArray(np.full((10, 10), -1, np.float32), 400, 120)      # nodata block
    ds = None
    res = run("mmlgnet:classify", {"HSI": hsi, "LIDAR": trento_tifs["lidar"], "MODEL": model, **CPU,
                                   "TILE_SIZE": 128, "OUTPUT": str(tmp_path / "c.tif")})
    c = read(res["OUTPUT"])
    holes = np.zeros_like(c, bool)
    holes[40:60, 100:130] = holes[120:130, 400:410] = True
    assert np.all(c[holes] == 0) and np.all(c[~holes] > 0)


def test_grid_mismatch_names_both_grids_unless_resampled(trained_model, trento_tifs, tmp_path):
    from qgis.core import QgsProcessingException
    model, _ = trained_model
    shifted = str(tmp_path / "lidar_shifted.tif")
    gdal.Translate(shifted, trento_tifs["lidar"], outputBounds=[664005, 5104000, 664605, 5103834])
    params = {"HSI": trento_tifs["hsi"], "LIDAR": shifted, "MODEL": model, **CPU,
              "OUTPUT": str(tmp_path / "c.tif")}
    with pytest.raises(QgsProcessingException) as err:
        run("mmlgnet:classify", params)
    msg = str(err.value)
    assert "not on the same pixel grid" in msg and "origin (664000, 5104000)" in msg and "origin (664005, 5104000)" in msg
    assert "HSI" in msg and "LiDAR" in msg and not (tmp_path / "c.tif").exists()
    c = read(run("mmlgnet:classify", dict(params, RESAMPLE=True))["OUTPUT"])
    assert np.all(c[:, :5] == 0) and np.count_nonzero(c[:, 5:]) == c[:, 5:].size  # uncovered edge = nodata


def test_cancelled_runs_leave_no_output(trained_model, trento_tifs, tmp_path):
    from qgis.core import QgsProcessingException
    model, _ = trained_model
    out, conf = tmp_path / "c.tif", tmp_path / "conf.tif"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run("mmlgnet:classify", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                 **CPU, "TILE_SIZE": 64, "OUTPUT": str(out), "CONFIDENCE": str(conf)},
            feedback=CancelAfter(3))
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run("mmlgnet:train", dict(FAST_TRAINING, HSI=trento_tifs["hsi"], LIDAR=trento_tifs["lidar"],
                                  LABELS=trento_tifs["train"], SCENE=1, MODEL=str(tmp_path / "m.safetensors"),
                                  LOG=str(tmp_path / "log.txt"), REPORT=str(tmp_path / "r.html")),
            feedback=CancelAfter(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def labels_as_points(tif, path, epsg=4326):
    """One point per labelled pixel centre, reprojected to `epsg`, class id in field 'cls'."""
    ds = gdal.Open(tif)
    gt, arr = ds.GetGeoTransform(), ds.ReadAsArray()
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromWkt(ds.GetProjection())
    dst.ImportFromEPSG(epsg)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    tr = osr.CoordinateTransformation(src, dst)
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = out.CreateLayer("labels", dst, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("cls", ogr.OFTInteger))
    for r, c in zip(*np.nonzero(arr)):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("cls", int(arr[r, c]))
        x, y, _ = tr.TransformPoint(gt[0] + (c + 0.5) * gt[1], gt[3] + (r + 0.5) * gt[5])
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        layer.CreateFeature(f)
    out = None
    return str(path)


def test_vector_labels_and_project_prompts(trained_model, trento_tifs, tmp_path):
    from qgis.core import QgsProject
    from mmlgnet_qgis.core.model_file import read_manifest
    from mmlgnet_qgis.core.prompts import names_prompt_set
    from mmlgnet_qgis.processing.project_prompts import write_project_prompts
    model, _ = trained_model
    gpkg = labels_as_points(trento_tifs["train"], tmp_path / "labels.gpkg")  # in EPSG:4326: reprojected back
    own = ["orchard", "roofs", "bare soil", "forest", "vines", "asphalt"]
    write_project_prompts(names_prompt_set(own).to_json())
    try:
        res = run("mmlgnet:train", dict(FAST_TRAINING, EPOCHS=1, HSI=trento_tifs["hsi"], LIDAR=trento_tifs["lidar"],
                                        LABELS_VECTOR=gpkg, LABELS_FIELD="cls", SCENE=1,
                                        MODEL=str(tmp_path / "v.safetensors")))
    finally:
        QgsProject.instance().clear()
    man = read_manifest(res["MODEL"])
    assert man.names == own  # the project's prompt set beats the scene's
    assert man.training["labelled_pixels"] == 300  # every point landed on its own pixel
    # the same points as the reference of evaluate: the trained model scores its training pixels
    c = run("mmlgnet:classify", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                 **CPU, "OUTPUT": str(tmp_path / "c.tif")})["OUTPUT"]
    ev = run("mmlgnet:evaluate", {"CLASSIFIED": c, "REFERENCE_VECTOR": gpkg, "REFERENCE_FIELD": "cls",
                                  "REPORT": str(tmp_path / "r.html")})
    assert ev["OA"] > 95 and json.loads(Path(ev["REPORT_JSON"]).read_text())["n_pixels"] == 300
    # a layer that is not a file (memory provider, e.g. a model's intermediate) works the same
    from qgis.core import QgsFeatureRequest, QgsVectorLayer
    memory = QgsVectorLayer(gpkg, "labels").materialize(QgsFeatureRequest())
    assert memory.providerType() == "memory"
    ev2 = run("mmlgnet:evaluate", {"CLASSIFIED": c, "REFERENCE_VECTOR": memory, "REFERENCE_FIELD": "cls",
                                   "REPORT": str(tmp_path / "r2.html")})
    assert ev2["OA"] == ev["OA"]


def test_batch_classify_two_scenes(trained_model, trento_tifs, tmp_path):
    """As BatchAlgorithmDialog.runAlgorithm does it: one algorithm, a fresh context per row, a
    multi-step feedback, outputs loaded into the project through handleAlgorithmResults."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from processing.tools import dataobjects
    from qgis.core import (QgsApplication, QgsPalettedRasterRenderer, QgsProcessingFeedback,
                           QgsProcessingMultiStepFeedback, QgsProcessingOutputLayerDefinition, QgsProject)
    model, _ = trained_model
    hsi2 = str(tmp_path / "hsi_float.tif")
    gdal.Translate(hsi2, trento_tifs["hsi"], outputType=gdal.GDT_Float32)
    outputs = [str(tmp_path / f"row{i}.tif") for i in range(2)]
    rows = [{"HSI": h, "LIDAR": trento_tifs["lidar"], "MODEL": model, **CPU,
             "OUTPUT": QgsProcessingOutputLayerDefinition(o, QgsProject.instance())}
            for h, o in zip((trento_tifs["hsi"], hsi2), outputs)]
    alg = QgsApplication.processingRegistry().createAlgorithmById("mmlgnet:classify")
    feedback = QgsProcessingFeedback()
    multi = QgsProcessingMultiStepFeedback(len(rows), feedback)
    try:
        for i, params in enumerate(rows):
            multi.setCurrentStep(i)
            params = alg.preprocessParameters(params)
            context = dataobjects.createContext(feedback)
            results, ok = alg.run(params, context, multi)
            assert ok and results["OUTPUT"] == outputs[i]
            handleAlgorithmResults(alg, context, multi, False, params)
        loaded = {lyr.source(): lyr for lyr in QgsProject.instance().mapLayers().values()}
        assert all(isinstance(loaded[o].renderer(), QgsPalettedRasterRenderer) for o in outputs)
        assert np.array_equal(read(outputs[0]), read(outputs[1]))  # same pixels, same classes
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_errors_are_processing_exceptions(trained_model, trento_tifs, tmp_path):
    from qgis.core import QgsProcessingException
    model, _ = trained_model
    with pytest.raises(QgsProcessingException, match="give training labels"):
        run("mmlgnet:train", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"],
                              "MODEL": str(tmp_path / "m.safetensors")})
    with pytest.raises(QgsProcessingException, match=r"has 1 band; the model was trained on 63"):  # LiDAR given as HSI
        run("mmlgnet:classify", {"HSI": trento_tifs["lidar"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                 "OUTPUT": str(tmp_path / "c.tif")})
    with pytest.raises(QgsProcessingException, match="prompts are not valid JSON"):
        run("mmlgnet:classify", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                 "PROMPTS": "{not json", "OUTPUT": str(tmp_path / "c.tif")})
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(QgsProcessingException, match="no CUDA GPU"):
            run("mmlgnet:classify", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                     "DEVICE": 2, "OUTPUT": str(tmp_path / "c.tif")})
    assert list(tmp_path.iterdir()) == []
