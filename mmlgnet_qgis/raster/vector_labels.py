"""Training labels drawn as vector features -> class-id raster on the HSI grid."""
from __future__ import annotations

import os

import numpy as np
from osgeo import gdal, ogr

from .grid import RasterGrid, crs_label, grid_of, same_crs
from ..core.errors import InputError

gdal.UseExceptions()
ogr.UseExceptions()

_INT_TYPES = (ogr.OFTInteger, ogr.OFTInteger64)


def split_layer_uri(uri: str) -> tuple[str, str | None, int | None]:
    """QGIS source 'file.gpkg|layername=roads' / '...|layerid=2' -> (path, name, id)."""
    parts = str(uri).split("|")
    name, layer_id = None, None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "layername":
            name = v
        elif k.strip().lower() == "layerid":
            layer_id = int(v)
    return parts[0], name, layer_id


def _pick_layer(ds, path: str, layer_name: str | None, layer_id: int | None):
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    if layer_name is not None:
        if layer_name not in names:
            raise InputError(f"{path}: no layer '{layer_name}'; layers: {', '.join(names)}")
        return ds.GetLayerByName(layer_name)
    if layer_id is not None:
        return ds.GetLayer(layer_id)
    if len(names) != 1:
        raise InputError(f"{path} holds {len(names)} layers ({', '.join(names)}); name one")
    return ds.GetLayer(0)


def _field_defn(layer, path: str, class_field: str):
    defn = layer.GetLayerDefn()
    fields = {defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i) for i in range(defn.GetFieldCount())}
    if class_field not in fields:
        raise InputError(f"{path} layer '{layer.GetName()}' has no field '{class_field}'; "
                         f"available fields: {', '.join(fields) or '(none)'}")
    return fields[class_field]


def _check_ids(layer, path: str, class_field: str, fractional_possible: bool) -> None:
    layer.ResetReading()
    for feat in layer:
        if not feat.IsFieldSetAndNotNull(class_field):
            continue
        v = feat.GetField(class_field)
        if fractional_possible and (not np.isfinite(v) or v != int(v)):
            raise InputError(f"{path} field '{class_field}' holds {v} (feature {feat.GetFID()}); "
                             f"class ids must be integers")
        if v < 0 or v > np.iinfo(np.int32).max:
            raise InputError(f"{path} field '{class_field}' holds {v} (feature {feat.GetFID()}); "
                             f"class ids must lie in 0..N (0 = unlabeled)")
    layer.ResetReading()


def _ids_from_names(layer, path: str, class_field: str, class_names) -> dict[int, int]:
    """Feature id -> class id for a text field holding class names (or ids written as text)."""
    if not class_names:
        raise InputError(f"{path} field '{class_field}' holds text; give the prompt set (or scene) whose "
                         f"class names it uses, or an integer class-id field")
    by_name = {str(n).strip().casefold(): k for k, n in enumerate(class_names, start=1)}
    out = {}
    layer.ResetReading()
    for feat in layer:
        if not feat.IsFieldSetAndNotNull(class_field):
            continue
        text = str(feat.GetField(class_field)).strip()
        if not text:
            continue
        k = by_name.get(text.casefold())
        if k is None and text.isdigit():
            k = int(text)
        if k is None or k > len(class_names):
            raise InputError(f"{path} field '{class_field}' holds '{text}' (feature {feat.GetFID()}), which "
                             f"is not one of the {len(class_names)} class names: {', '.join(map(str, class_names[:20]))}"
                             + (", ..." if len(class_names) > 20 else ""))
        out[feat.GetFID()] = k
    layer.ResetReading()
    return out


def rasterize_labels(vector_path: str | os.PathLike, class_field: str,
                     ref_grid: RasterGrid | str, layer_name: str | None = None,
                     all_touched: bool = False, class_names=None) -> np.ndarray:
    """Burn class_field of a vector layer onto ref_grid -> int64 (h, w), 0 = unlabeled.

    The field holds integer class ids, or text: class names (matched to class_names without
    regard to case) or ids written as text. Features are reprojected to the grid CRS when
    theirs differs; a layer without a CRS is taken to be in the grid CRS. Where features
    overlap, the later one wins.
    """
    grid = ref_grid if isinstance(ref_grid, RasterGrid) else grid_of(ref_grid)
    path, uri_name, uri_id = split_layer_uri(str(vector_path))
    try:
        src = gdal.OpenEx(path, gdal.OF_VECTOR | gdal.OF_READONLY)
    except RuntimeError as exc:
        raise FileNotFoundError(f"cannot open vector layer {path}: {exc}") from exc
    layer = _pick_layer(src, path, layer_name or uri_name, uri_id)
    ftype = _field_defn(layer, path, class_field).GetType()
    text_ids = None
    if ftype in (ogr.OFTString, ogr.OFTWideString):
        text_ids = _ids_from_names(layer, path, class_field, class_names)
    elif ftype in _INT_TYPES or ftype == ogr.OFTReal:  # integers saved as reals (shapefiles) are fine
        _check_ids(layer, path, class_field, fractional_possible=ftype == ogr.OFTReal)
    else:
        raise InputError(f"{path} field '{class_field}' is {ogr.GetFieldTypeName(ftype)}; the class field "
                         f"must hold integer class ids (1..N, 0 = unlabeled) or class names")
    n_features = layer.GetFeatureCount()

    srs = layer.GetSpatialRef()
    src_wkt = srs.ExportToWkt() if srs is not None else ""
    burn_ds, burn_layer, burn_field = src, layer.GetName(), class_field
    reproject = bool(src_wkt and grid.crs_wkt and not same_crs(src_wkt, grid.crs_wkt))
    if reproject or text_ids is not None:
        # An in-memory copy (reprojected, ids for names); the source stays untouched.
        burn_ds = gdal.VectorTranslate(
            "", src, format="Memory", layers=[layer.GetName()], selectFields=[class_field],
            dstSRS=grid.crs_wkt if reproject else None, reproject=reproject, layerName="labels",
            options=["-preserve_fid"])
        burn_layer = "labels"
        if text_ids is not None:
            burn_field = _add_id_field(burn_ds.GetLayerByName("labels"), text_ids)
    mem = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Int32)
    mem.SetGeoTransform(grid.geotransform)
    if grid.crs_wkt:
        mem.SetProjection(grid.crs_wkt)
    mem.GetRasterBand(1).Fill(0)
    gdal.Rasterize(mem, burn_ds, layers=[burn_layer], attribute=burn_field,
                   allTouched=bool(all_touched))
    out = mem.GetRasterBand(1).ReadAsArray().astype(np.int64)
    burn_ds = mem = None
    if n_features and not out.any():
        extent = layer.GetExtent()  # (xmin, xmax, ymin, ymax)
        raise InputError(
            f"{path}: no pixel labelled: the {n_features} feature(s) of layer '{layer.GetName()}' "
            f"(extent x {extent[0]:.6g}..{extent[1]:.6g}, y {extent[2]:.6g}..{extent[3]:.6g}, "
            f"{crs_label(src_wkt)}) do not cover the grid ({grid.describe()}) with a non-zero "
            f"'{class_field}'")
    return out


def _add_id_field(layer, ids_by_fid: dict[int, int]) -> str:
    """Write the class id of each feature into a new integer field; returns its name."""
    name = "mmlgnet_class_id"
    layer.CreateField(ogr.FieldDefn(name, ogr.OFTInteger))
    layer.ResetReading()
    for feat in layer:
        feat.SetField(name, ids_by_fid.get(feat.GetFID(), 0))
        layer.SetFeature(feat)
    layer.ResetReading()
    return name
