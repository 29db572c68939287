"""A small georeferenced HSI + LiDAR scene, its labels, prompts and trained models, made with
GDAL and the real training code (MiniLM prompts) for the robustness tests: seconds, no shared data.

Three classes in vertical stripes with their own spectra and heights; EPSG:32632, 1 m pixels.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()

EPSG = 32632
ORIGIN = (600000.0, 5100000.0)
HEIGHT, WIDTH, HSI_BANDS = 40, 48, 6
NAMES = ["Apple trees", "Buildings", "Roads"]
COLOURS = ["#2e8b57", "#d62728", "#7f7f7f"]
TINY_MODEL = {"patch_size": 7, "hsi_width": 8, "lidar_width": 4, "fusion_width": 16}


def geotransform(origin=ORIGIN, pixel=1.0, rotation=0.0):
    return (origin[0], pixel, rotation, origin[1], rotation, -pixel)


WAVELENGTHS = [400.0 + 100 * i for i in range(HSI_BANDS)]


def write_tif(path, array, gt=None, epsg=EPSG, nodata=None, dtype=gdal.GDT_Float32, wavelengths=None) -> str:
    """(B, H, W) or (H, W) array -> GeoTIFF; wavelengths (nm) as GDAL band metadata."""
    array = np.asarray(array)
    array = array[None] if array.ndim == 2 else array
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1], array.shape[0], dtype)
    ds.SetGeoTransform(gt or geotransform())
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(array):
        if nodata is not None:
            ds.GetRasterBand(i + 1).SetNoDataValue(nodata)
        if wavelengths is not None:
            ds.GetRasterBand(i + 1).SetMetadataItem("WAVELENGTH", f"{wavelengths[i]:g}")
            ds.GetRasterBand(i + 1).SetMetadataItem("WAVELENGTH_UNITS", "nm")
        ds.GetRasterBand(i + 1).WriteArray(band)
    ds = None
    return str(path)


def class_map(height=HEIGHT, width=WIDTH) -> np.ndarray:
    """Class 1..3 in vertical stripes."""
    return np.repeat(np.minimum(np.arange(width) * 3 // width, 2)[None], height, 0) + 1


def scene_arrays(seed=0, height=HEIGHT, width=WIDTH, hsi_bands=HSI_BANDS, lidar_bands=1):
    rng = np.random.default_rng(seed)
    classes = class_map(height, width)
    spectra = rng.uniform(100, 1000, size=(3, hsi_bands))
    hsi = spectra[classes - 1].transpose(2, 0, 1) + rng.normal(0, 20, (hsi_bands, height, width))
    heights = np.array([4.0, 12.0, 0.5])
    lidar = heights[classes - 1][None] + rng.normal(0, 0.3, (lidar_bands, height, width))
    return hsi.astype(np.float32), lidar.astype(np.float32), classes


def training_labels(classes: np.ndarray, per_class=12, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros_like(classes, dtype=np.uint8)
    for k in (1, 2, 3):
        rows, cols = np.nonzero(classes == k)
        pick = rng.choice(rows.size, per_class, replace=False)
        labels[rows[pick], cols[pick]] = k
    return labels


def prompt_set_json(names=NAMES, colours=COLOURS) -> str:
    return json.dumps({"templates": ["an aerial hyperspectral view of {}"],
                       "classes": [{"id": i + 1, "name": n, "color": c, "prompts": [f"a photo of {n.lower()}"]}
                                   for i, (n, c) in enumerate(zip(names, colours))]})


def write_vector_labels(path, classes_per_polygon, epsg=4326, field_type=ogr.OFTInteger, field="class"):
    """One small square polygon per (value, column) inside the stripes, in another CRS."""
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(epsg)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    src = osr.SpatialReference()
    src.ImportFromEPSG(EPSG)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_dst = osr.CoordinateTransformation(src, dst)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("labels", dst, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn(field, field_type))
    for value, col in classes_per_polygon:
        x0, y0 = ORIGIN[0] + col, ORIGIN[1] - 10
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y0), (x0 + 4, y0), (x0 + 4, y0 - 4), (x0, y0 - 4), (x0, y0)):
            ring.AddPoint_2D(*to_dst.TransformPoint(x, y)[:2])
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        feat = ogr.Feature(layer.GetLayerDefn())
        feat.SetField(field, value)
        feat.SetGeometry(poly)
        layer.CreateFeature(feat)
    ds = None
    return str(path)


def train_tiny(hsi_path, lidar_path, labels_path, prompts_json, out) -> str:
    """A real model (MiniLM prompts) trained in a second or two."""
    from mmlgnet_qgis import app
    from mmlgnet_qgis.app.requests import TrainRequest
    app.run(TrainRequest(hsi=str(hsi_path), lidar=str(lidar_path), train_labels=str(labels_path), prompts=prompts_json,
                         out=str(out), epochs=20, device="cpu", patch_size=TINY_MODEL.get("patch_size", 15),
                         **{k: v for k, v in TINY_MODEL.items() if k != "patch_size"}))
    return str(out)


def make_scene(folder: Path) -> dict:
    """Inputs every case starts from: {'hsi', 'lidar', 'lidar2', 'labels', 'prompts', 'model', 'model2'}."""
    folder.mkdir(parents=True, exist_ok=True)
    hsi, lidar, classes = scene_arrays()
    _, lidar2, _ = scene_arrays(lidar_bands=2)
    s = {"hsi": write_tif(folder / "hsi.tif", hsi, wavelengths=WAVELENGTHS), "lidar": write_tif(folder / "lidar.tif", lidar),
         "lidar2": write_tif(folder / "lidar2.tif", lidar2),
         "labels": write_tif(folder / "labels.tif", training_labels(classes), dtype=gdal.GDT_Byte),
         "prompts": str(folder / "prompts.json"), "classes": classes}
    Path(s["prompts"]).write_text(prompt_set_json(), encoding="utf-8")
    s["model"] = train_tiny(s["hsi"], s["lidar"], s["labels"], s["prompts"], folder / "model.safetensors")
    s["model2"] = train_tiny(s["hsi"], s["lidar2"], s["labels"], s["prompts"], folder / "model_lidar2.safetensors")
    return s
