"""The robustness cases of the README's table "Bad input → behaviour", as data.

Each case builds its inputs from the small scene (robustness_scene.make_scene) and says what
must happen: an error whose message matches `error` (naming the layer, band or value), or
success checked by `check`. test_robustness.py runs every case through the command line and
through processing.run, and checks that a failed run leaves no output and no changed input.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from osgeo import gdal, ogr

import robustness_scene as rs
import spectral_fixtures as sf


@dataclass
class Case:
    id: str
    command: str                       # train | classify
    setup: Callable[[dict, Path], dict]  # (scene, tmp) -> run parameters (see test_robustness.run_*)
    error: str | None = None           # regex the error message must match; None = must succeed
    log: str | None = None             # regex the log must match (warnings of a successful run)
    check: Callable[[dict], None] | None = None  # on success: (parameters) -> asserts
    mode: str = "plain"                # plain | cancel | disk_full | read_only


def train_params(s, tmp, **over):
    p = {"hsi": s["hsi"], "lidar": s["lidar"], "labels": s["labels"], "prompts": s["prompts"],
         "out": str(tmp / "out" / "model.safetensors"), "device": "cpu", "text_encoder": "minilm"}
    p.update(over)
    return p


def classify_params(s, tmp, **over):
    p = {"hsi": s["hsi"], "lidar": s["lidar"], "model": s["model"], "out": str(tmp / "out" / "classes.tif"),
         "device": "cpu"}
    p.update(over)
    return p


def read(path):
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray(), ds


# -- inputs built per case --------------------------------------------------------------------------
def lidar_variant(s, tmp, name, **kw):
    _, lidar, _ = rs.scene_arrays()
    return rs.write_tif(tmp / name, lidar, **kw)


def hsi_with_bad_pixels(s, tmp):
    """NaN, +inf and the nodata value -9999 in three HSI pixels (bands 2, 4 and all)."""
    hsi, _, _ = rs.scene_arrays()
    hsi[1, 3, 4] = np.nan
    hsi[3, 10, 20] = np.inf
    hsi[:, 30, 40] = -9999
    return rs.write_tif(tmp / "hsi_bad.tif", hsi, nodata=-9999)


def expect_nodata_at(pixels):
    def check(p):
        classes, ds = read(p["out"])
        assert ds.GetRasterBand(1).GetNoDataValue() == 0
        for r, c in pixels:
            assert classes[r, c] == 0, f"pixel ({r}, {c}) should be nodata"
        mask = np.ones(classes.shape, bool)
        mask[tuple(np.array(pixels).T)] = False
        assert (classes[mask] > 0).all(), "every other pixel is classified"
        assert (classes[mask] == rs.class_map()[mask]).mean() > 0.8  # a sane map (measured 0.94)
    return check


def expect_sane_map(p):
    classes, _ = read(p["out"])
    assert (classes == rs.class_map()).mean() > 0.8  # the µm centres matched the model's nm ones


def expect_model(labelled_pixels=None, classes=3):
    def check(p):
        from mmlgnet_qgis.core.model_file import read_manifest
        man = read_manifest(p["out"])
        assert len(man.classes) == classes
        if labelled_pixels is not None:
            assert man.training["labelled_pixels"] == labelled_pixels
    return check


def labels_with(s, tmp, name, edit):
    labels = rs.training_labels(rs.class_map())
    labels = edit(labels)
    return rs.write_tif(tmp / name, labels, dtype=gdal.GDT_Byte)


def single_pixel_labels(labels):
    labels[labels == 3] = 0
    labels[5, 45] = 3
    return labels


def text(tmp, name, content: str | bytes) -> str:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def duplicate_ids(s, tmp):
    data = json.loads(rs.prompt_set_json())
    data["classes"][2]["id"] = 2
    return text(tmp, "dup_ids.json", json.dumps(data))


def duplicate_prompts(s, tmp):
    data = json.loads(rs.prompt_set_json())
    data["classes"][1]["prompts"] = list(data["classes"][0]["prompts"])
    return text(tmp, "dup_prompts.json", json.dumps(data))


def many_classes(n):
    names = [f"class {i}" for i in range(1, n + 1)]
    return json.dumps({"templates": [], "classes": [{"id": i, "name": n, "prompts": [f"land cover {n}"]}
                                                   for i, n in enumerate(names, start=1)]})


def expect_many_classes(n):
    def check(p):
        classes, ds = read(p["out"])
        band = ds.GetRasterBand(1)
        assert band.DataType == gdal.GDT_UInt16
        band.GetDescription()
        names = band.GetCategoryNames()
        assert len(names) == n + 1 and names[n] == f"class {n}"
        assert classes.max() <= n and (classes > 0).all()
    return check


def model_with_manifest(s, tmp, edit, name):
    from safetensors import safe_open
    from safetensors.numpy import save_file
    from mmlgnet_qgis.core.model_file import MANIFEST_KEY
    with safe_open(s["model"], framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        manifest = json.loads(f.metadata()[MANIFEST_KEY])
    edit(manifest)
    path = tmp / name
    save_file(tensors, str(path), metadata={MANIFEST_KEY: json.dumps(manifest)})
    return str(path)


def truncated_model(s, tmp):
    data = Path(s["model"]).read_bytes()
    return text(tmp, "truncated.safetensors", data[: len(data) * 2 // 3])


class _Touch:
    """Unpickling this runs Path.touch(marker): the proof that a loader executed code."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.touch, (self.marker,)


def evil_pickle(tmp, name) -> str:
    marker = tmp / "PWNED"
    payload = pickle.dumps({"state_dict": _Touch(marker)})
    pickle.loads(payload)  # the payload works: unpickled, it creates the marker ...
    assert marker.exists()
    marker.unlink()  # ... and the test then checks that loading the file does not
    return text(tmp, name, payload)


def vector_labels(s, tmp, name, polygons, field_type=ogr.OFTInteger):
    return rs.write_vector_labels(tmp / name, polygons, field_type=field_type)


def read_only_folder_out(s, tmp, filename):
    return str(tmp / "read_only" / filename)


CASES = [
    # -- grids and bands ----------------------------------------------------------------------------
    Case("crs_differs", "classify", lambda s, t: classify_params(
        s, t, lidar=lidar_variant(s, t, "lidar_utm33.tif", epsg=32633)),
        error=r"HSI .* and LiDAR .* not on the same pixel grid \(CRS EPSG:32632 vs EPSG:32633"),
    Case("extent_differs", "classify", lambda s, t: classify_params(
        s, t, lidar=lidar_variant(s, t, "lidar_shifted.tif", gt=rs.geotransform((600005.0, 5100000.0)))),
        error=r"not on the same pixel grid \(origin .* shifted 5 px right"),
    Case("pixel_size_differs", "classify", lambda s, t: classify_params(
        s, t, lidar=lidar_variant(s, t, "lidar_2m.tif", gt=rs.geotransform(pixel=2.0))),
        error=r"not on the same pixel grid \(pixel size 1 x 1 vs 2 x 2"),
    Case("rotated", "classify", lambda s, t: classify_params(
        s, t, lidar=lidar_variant(s, t, "lidar_rotated.tif", gt=rs.geotransform(rotation=0.1))),
        error=r"not on the same pixel grid \(rotation terms \(0, 0\) vs \(0.1, 0.1\) of the geotransform"),
    Case("grid_differs_in_training", "train", lambda s, t: train_params(
        s, t, lidar=lidar_variant(s, t, "lidar_utm33.tif", epsg=32633)),
        error=r"not on the same pixel grid \(CRS"),
    Case("hsi_band_count_differs", "classify", lambda s, t: classify_params(
        s, t, hsi=rs.write_tif(t / "hsi5.tif", rs.scene_arrays()[0][:5])),
        error=r"HSI .*hsi5.tif.* has 5 bands; the model was trained on 6"),
    Case("lidar_1_band_model_expects_2", "classify", lambda s, t: classify_params(s, t, model=s["model2"]),
        error=r"LiDAR .*lidar.tif.* has 1 band; the model was trained on 2"),
    Case("lidar_2_bands_model_expects_1", "classify", lambda s, t: classify_params(s, t, lidar=s["lidar2"]),
        error=r"LiDAR .*lidar2.tif.* has 2 bands; the model was trained on 1"),
    # -- nodata ---------------------------------------------------------------------------------------
    Case("nan_inf_nodata_in_hsi", "classify", lambda s, t: classify_params(s, t, hsi=hsi_with_bad_pixels(s, t)),
         check=expect_nodata_at([(3, 4), (10, 20), (30, 40)])),
    Case("nodata_in_lidar", "classify", lambda s, t: classify_params(s, t, lidar=rs.write_tif(
        t / "lidar_nodata.tif", np.where(np.arange(rs.WIDTH)[None, None] == 7, -1.0, rs.scene_arrays()[1]),
        nodata=-1.0)), check=expect_nodata_at([(r, 7) for r in range(rs.HEIGHT)])),
    Case("all_nodata_classify", "classify", lambda s, t: classify_params(s, t, hsi=rs.write_tif(
        t / "hsi_empty.tif", np.full((6, rs.HEIGHT, rs.WIDTH), -9999, np.float32), nodata=-9999)),
        error=r"every pixel is nodata .* in HSI .*hsi_empty.tif"),
    Case("all_nodata_train", "train", lambda s, t: train_params(s, t, lidar=rs.write_tif(
        t / "lidar_nan.tif", np.full((1, rs.HEIGHT, rs.WIDTH), np.nan, np.float32))),
        error=r"every pixel is nodata .*LiDAR .*lidar_nan.tif.*nothing to train on"),
    # -- training labels ------------------------------------------------------------------------------
    Case("label_id_missing_from_prompts", "train", lambda s, t: train_params(
        s, t, labels=labels_with(s, t, "labels_4.tif", lambda a: np.where(a == 3, 4, a))),
        error=r"class id\(s\) 4, beyond the 3 classes of the given prompts \(Apple trees, Buildings, Roads\)"),
    Case("no_labelled_pixel", "train", lambda s, t: train_params(
        s, t, labels=labels_with(s, t, "labels_0.tif", lambda a: a * 0)),
        error=r"labels_0.tif\) hold no labelled pixel"),
    Case("class_with_one_pixel", "train", lambda s, t: train_params(
        s, t, labels=labels_with(s, t, "labels_1px.tif", single_pixel_labels)),
        log=r"class 3 'Roads' has only 1 labelled pixel", check=expect_model(labelled_pixels=25)),
    Case("vector_labels_in_another_crs", "train", lambda s, t: train_params(
        s, t, labels=None, vector=vector_labels(s, t, "wgs84.gpkg", [(1, 2), (2, 20), (3, 38)]), field="class"),
        check=expect_model(labelled_pixels=3 * 16)),
    Case("vector_labels_text_class_field", "train", lambda s, t: train_params(
        s, t, labels=None, field="class", vector=vector_labels(
            s, t, "names.gpkg", [("apple trees", 2), ("Buildings", 20), ("ROADS", 38)], ogr.OFTString)),
        check=expect_model(labelled_pixels=3 * 16)),
    Case("vector_labels_unknown_class_name", "train", lambda s, t: train_params(
        s, t, labels=None, field="class", vector=vector_labels(
            s, t, "mango.gpkg", [("Apple trees", 2), ("Mango", 20)], ogr.OFTString)),
        error=r"field 'class' holds 'Mango' .*not one of the 3 class names: Apple trees, Buildings, Roads"),
    # -- prompt sets ----------------------------------------------------------------------------------
    Case("prompt_file_empty", "train", lambda s, t: train_params(s, t, prompts=text(t, "empty.json", "")),
         error=r"prompt set is empty"),
    Case("prompt_set_without_classes", "train", lambda s, t: train_params(
        s, t, prompts=text(t, "none.json", '{"classes": []}')), error=r"prompt set has no classes"),
    Case("prompt_duplicate_class_ids", "train", lambda s, t: train_params(s, t, prompts=duplicate_ids(s, t)),
         error=r"class id 2 is used twice"),
    Case("prompt_duplicate_prompts", "train", lambda s, t: train_params(s, t, prompts=duplicate_prompts(s, t)),
         log=r'warning: prompt "a photo of apple trees" is used by classes 1 and 2', check=expect_model()),
    Case("prompt_invalid_json", "train", lambda s, t: train_params(
        s, t, prompts=text(t, "broken.json", '{"classes": [{"id": 1, "name": "a",}]}')),
        error=r"not valid JSON: .* at line 1 column"),
    Case("prompt_not_utf8", "train", lambda s, t: train_params(
        s, t, prompts=text(t, "latin1.json", '{"classes": [{"id": 1, "name": "Pâturage"}]}'.encode("latin-1"))),
        error=r"latin1.json is not UTF-8 text"),
    Case("prompt_10000_classes", "classify", lambda s, t: classify_params(
        s, t, prompts=text(t, "many.json", many_classes(10_000))), check=expect_many_classes(10_000)),
    # -- model files ----------------------------------------------------------------------------------
    Case("model_truncated", "classify", lambda s, t: classify_params(s, t, model=truncated_model(s, t)),
         error=r"truncated.safetensors.*(damaged|truncated)"),
    Case("model_newer_format_version", "classify", lambda s, t: classify_params(s, t, model=model_with_manifest(
        s, t, lambda m: m.update(format_version=99), "v99.safetensors")),
        error=r"format version 99 is newer than this plugin reads"),
    Case("model_missing_keys", "classify", lambda s, t: classify_params(s, t, model=model_with_manifest(
        s, t, lambda m: m.pop("normalisation"), "no_norm.safetensors")),
        error=r"no_norm.safetensors.*lacks 'normalisation'"),
    Case("hsi_bands_at_other_wavelengths", "classify", lambda s, t: classify_params(s, t, hsi=rs.write_tif(
        t / "swir.tif", rs.scene_arrays()[0], wavelengths=[1000.0 + 100 * i for i in range(rs.HSI_BANDS)])),
        error=r"HSI \(.*swir.tif\) band 1 is centred at 1000 nm, but the model's band 1 was at 400 nm"),
    # -- spaceborne / airborne HSI metadata (ENVI headers, EnMAP METADATA.XML) ---------------------------
    Case("envi_wavelengths_in_micrometres", "classify", lambda s, t: classify_params(s, t, hsi=sf.small_scene_envi(
        t / "envi", "hsi_um.img", wavelength_units="Micrometers",
        wavelength="{" + ", ".join(f"{w / 1000:g}" for w in rs.WAVELENGTHS) + "}")),
        check=lambda p: expect_sane_map(p)),
    Case("bbl_drops_every_band", "classify", lambda s, t: classify_params(s, t, hsi=sf.small_scene_envi(
        t / "envi", "hsi_nobands.img", bbl="{0, 0, 0, 0, 0, 0}")),
        error=r"hsi_nobands\.img: the ENVI header's bad-band list \(bbl\) marks all 6 bands bad \(0\)"),
    Case("enmap_metadata_band_count_differs", "classify", lambda s, t: classify_params(
        s, t, hsi=sf.small_scene_enmap(t / "enmap", xml_bands=9)[0]),
        error=r"-METADATA\.XML describes 9 bands, but the spectral image .*-SPECTRAL_IMAGE\.TIF has 8"),
    Case("model_other_band_count", "classify", lambda s, t: classify_params(
        s, t, hsi=rs.write_tif(t / "hsi8.tif", rs.scene_arrays(hsi_bands=8)[0])),
        error=r"HSI .*hsi8.tif.* has 8 bands; the model was trained on 6"),
    Case("model_is_a_code_running_pickle", "classify", lambda s, t: classify_params(
        s, t, model=evil_pickle(t, "evil.safetensors")),
        error=r"evil.safetensors is not an MMLGNet model file"),
    Case("text_encoder_checkpoint_is_a_code_running_pickle", "train", lambda s, t: train_params(
        s, t, text_encoder=f"clip:ViT-B-32:{evil_pickle(t, 'evil_clip.pt')}"),
        error=r"checkpoint .*evil_clip.pt could not be loaded safely: .*refused \(no code from it was run\)"),
    # -- cancel, output folder, disk ------------------------------------------------------------------
    Case("cancel_training", "train", lambda s, t: train_params(s, t, epochs=5000), mode="cancel"),
    Case("cancel_classification", "classify", lambda s, t: classify_params(
        s, t, hsi=rs.write_tif(t / "hsi_big.tif", np.tile(rs.scene_arrays()[0], (1, 20, 20))),
        lidar=rs.write_tif(t / "lidar_big.tif", np.tile(rs.scene_arrays()[1], (1, 20, 20))), tile=16),
        mode="cancel"),
    Case("output_folder_not_writable", "classify", lambda s, t: classify_params(
        s, t, out=read_only_folder_out(s, t, "classes.tif")), error=r"folder is not writable: .*read_only",
        mode="read_only"),
    Case("model_folder_not_writable", "train", lambda s, t: train_params(
        s, t, out=read_only_folder_out(s, t, "model.safetensors")), error=r"folder is not writable: .*read_only",
        mode="read_only"),
    Case("disk_fills_while_classifying", "classify", lambda s, t: classify_params(
        s, t, hsi=rs.write_tif(t / "hsi_big.tif", np.tile(rs.scene_arrays()[0], (1, 8, 8))),
        lidar=rs.write_tif(t / "lidar_big.tif", np.tile(rs.scene_arrays()[1], (1, 8, 8))),
        confidence=str(t / "out" / "confidence.tif")),
        error=r"could not write .*(classes|confidence).tif.*disk full", mode="disk_full"),
    Case("disk_fills_while_saving_the_model", "train", lambda s, t: train_params(s, t),
         error=r"could not write the model file .*model.safetensors", mode="disk_full"),
    Case("output_is_the_hsi_input", "classify", lambda s, t: classify_params(s, t, out=s["hsi"]),
         error=r"the classified raster .*hsi.tif is the HSI input"),
    Case("model_output_is_the_labels_input", "train", lambda s, t: train_params(s, t, out=s["labels"]),
         error=r"the model file .*labels.tif is the training labels input"),
    Case("confidence_is_the_classified_output", "classify", lambda s, t: classify_params(
        s, t, confidence=str(t / "out" / "classes.tif")), error=r"are both .*classes.tif"),
    # -- device ---------------------------------------------------------------------------------------
    Case("cuda_without_a_gpu", "classify", lambda s, t: classify_params(s, t, device="cuda"),
         error=r"device 'cuda' was asked for, but torch sees no CUDA GPU"),
    Case("cuda_without_a_gpu_training", "train", lambda s, t: train_params(s, t, device="cuda"),
         error=r"device 'cuda' was asked for, but torch sees no CUDA GPU"),
]
