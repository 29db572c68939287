"""mmlgnet_qgis.raster on real GDAL: grids, windows, masks, resampling, writers, .mat import,
vector labels. Files go to tmp_path; benchmark data is used from MMLGNET_DATA when present."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from data_paths import default_data_dir
from mmlgnet_qgis.core.scenes import SCENES, load_mat_array
from mmlgnet_qgis.raster.confidence_style import VIRIDIS
from mmlgnet_qgis.raster import (ClassRasterWriter, FloatRasterWriter, GridMismatchError, RasterGrid,
                                 RasterSource, check_aligned, grid_of, mat_to_geotiff, nominal_grid,
                                 qml_path_for, rasterize_labels, read_labels, resample_to_grid,
                                 same_grid, scene_georef)

gdal.UseExceptions()
ogr.UseExceptions()

ORIGIN = (664000.0, 5104000.0)
DATA = Path(default_data_dir())


def make_tif(path, array, origin=ORIGIN, pixel=1.0, epsg=32632, nodata=None, tiled=True):
    """Write (bands, h, w) or (h, w) as a GeoTIFF with GDAL itself (the reference to compare with)."""
    array = np.ascontiguousarray(array)  # GDAL 3.6 mis-writes zero-stride views
    if array.ndim == 2:
        array = array[None]
    from osgeo import gdal_array
    gtype = gdal_array.NumericTypeCodeToGDALTypeCode(array.dtype)
    opts = ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128"] if tiled else []
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1],
                                              array.shape[0], gtype, opts)
    ds.SetGeoTransform((origin[0], pixel, 0.0, origin[1], 0.0, -pixel))
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(array):
        b = ds.GetRasterBand(i + 1)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        b.WriteArray(band)
    ds = None
    return str(path)


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if ".partial-" in p.name)


# -- grids ------------------------------------------------------------------------------------
def test_grid_of_and_describe(tmp_path):
    p = make_tif(tmp_path / "a.tif", np.zeros((3, 20, 30), np.int16), nodata=-1)
    g = grid_of(p)
    assert (g.width, g.height, g.band_count, g.dtype) == (30, 20, 3, "Int16")
    assert g.geotransform == (664000.0, 1.0, 0.0, 5104000.0, 0.0, -1.0)
    assert g.nodata == [-1.0, -1.0, -1.0]
    d = g.describe()
    assert "30 x 20 px" in d and "EPSG:32632" in d and "664000" in d and "pixel 1 x 1 m" in d


def test_same_grid_tolerance_and_mismatch_messages():
    a = RasterGrid.north_up(30, 20, 32632, ORIGIN, 1.0)
    assert same_grid(a, RasterGrid.north_up(30, 20, 32632, (ORIGIN[0] + 1e-6, ORIGIN[1]), 1.0))
    half = RasterGrid.north_up(30, 20, 32632, (ORIGIN[0] + 0.5, ORIGIN[1]), 1.0)
    assert not same_grid(a, half)
    check_aligned(a, RasterGrid.north_up(30, 20, 32632, ORIGIN, 1.0))  # no error

    with pytest.raises(GridMismatchError) as err:
        check_aligned(a, half, "hsi.tif", "dsm.tif")
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "hsi.tif" in msg and "dsm.tif" in msg and "origin" in msg
    assert "664000.5" in msg and "resample LiDAR onto the HSI grid" in msg

    other = RasterGrid.north_up(31, 20, 32633, ORIGIN, 2.0)
    msg = str(pytest.raises(GridMismatchError, check_aligned, a, other).value)
    assert "EPSG:32632" in msg and "EPSG:32633" in msg and "size" in msg and "pixel size" in msg
    assert "HSI" in msg and "LiDAR" in msg


def test_check_aligned_accepts_paths(tmp_path):
    a = make_tif(tmp_path / "hsi.tif", np.zeros((4, 5), np.float32))
    b = make_tif(tmp_path / "lidar.tif", np.zeros((4, 5), np.float32), epsg=32633)
    with pytest.raises(GridMismatchError, match="EPSG:32633"):
        check_aligned(a, b)


# -- reading ----------------------------------------------------------------------------------
def test_windows_reassemble_full_array(tmp_path):
    rng = np.random.default_rng(0)
    full = rng.integers(-500, 500, size=(3, 200, 300)).astype(np.int16)
    src = RasterSource(make_tif(tmp_path / "cube.tif", full), name="HSI cube")
    out = np.zeros(full.shape, np.float32)
    for y0 in range(0, 200, 70):       # windows that straddle the 128 px tiles
        for x0 in range(0, 300, 90):
            h, w = min(70, 200 - y0), min(90, 300 - x0)
            win = src.read_window(x0, y0, w, h)
            assert win.dtype == np.float32 and win.shape == (3, h, w)
            out[:, y0:y0 + h, x0:x0 + w] = win
    np.testing.assert_array_equal(out, full.astype(np.float32))
    for bad in [(-1, 0, 5, 5), (296, 0, 5, 5), (0, 196, 5, 5), (0, 0, 0, 5)]:
        with pytest.raises(ValueError, match="HSI cube"):
            src.read_window(*bad)
    src.close()


def test_valid_mask_nodata_nan_inf(tmp_path):
    data = np.ones((3, 6, 7), np.float32)
    data[0, 1, 1] = -9999      # nodata in band 1
    data[1, 2, 3] = np.nan     # NaN in band 2
    data[2, 4, 5] = np.inf     # inf in band 3
    src = RasterSource(make_tif(tmp_path / "f.tif", data, nodata=-9999))
    mask = src.valid_mask_window(0, 0, 7, 6)
    expected = np.ones((6, 7), bool)
    expected[1, 1] = expected[2, 3] = expected[4, 5] = False
    np.testing.assert_array_equal(mask, expected)
    arr, mask2 = src.read_window_with_mask(1, 1, 5, 4)
    np.testing.assert_array_equal(mask2, expected[1:5, 1:6])
    assert arr.shape == (3, 4, 5)

    # Integer nodata is compared in the band's own type.
    u = np.full((1, 4, 4), 1000, np.uint16)
    u[0, 0, 0] = 65535
    m = RasterSource(make_tif(tmp_path / "u.tif", u, nodata=65535)).valid_mask_window(0, 0, 4, 4)
    assert m.sum() == 15 and not m[0, 0]


def test_resample_vrt_is_aligned_and_interpolates(tmp_path):
    # Source: value = easting of the pixel centre, 0.5 px off the reference grid, 2x finer.
    ref = RasterGrid.north_up(45, 30, 32632, ORIGIN, 1.0)
    cols = np.arange(90)
    x_centres = ORIGIN[0] - 5.25 + (cols + 0.5) * 0.5
    ramp = np.broadcast_to(x_centres - ORIGIN[0], (70, 90)).astype(np.float32)
    src_path = make_tif(tmp_path / "lidar.tif", ramp, origin=(ORIGIN[0] - 5.25, ORIGIN[1] + 3.0),
                        pixel=0.5)
    with pytest.raises(GridMismatchError):
        check_aligned(ref, grid_of(src_path))
    vrt = resample_to_grid(src_path, ref)
    assert vrt.endswith(".vrt") and os.path.isfile(vrt)
    g = grid_of(vrt)
    assert g.geotransform == ref.geotransform and (g.width, g.height) == (45, 30)
    check_aligned(ref, g)  # same CRS too
    src = RasterSource(vrt)
    arr, valid = src.read_window_with_mask(0, 0, 45, 30)
    # Source covers x in [-5.25, 39.75): beyond it the VRT gives nodata (NaN: source has none).
    assert valid[:, :39].all() and not valid[:, 40:].any() and np.isnan(arr[0, :, 40:]).all()
    want = np.arange(40) + 0.5
    np.testing.assert_allclose(arr[0, :, :39], np.broadcast_to(want[:39], (30, 39)), atol=1e-4)

    # A source in another CRS is reprojected onto the exact same grid.
    wgs = make_tif(tmp_path / "wgs.tif", np.ones((50, 60), np.float32), origin=(8.9, 46.1),
                   pixel=0.001, epsg=4326)
    ref2 = RasterGrid.north_up(40, 30, 32632, (500000.0, 5100000.0), 1.0)
    g2 = grid_of(resample_to_grid(wgs, ref2, resampling="nearest"))
    assert g2.geotransform == ref2.geotransform and same_grid(g2, ref2, tol=1e-9)


def test_read_labels(tmp_path):
    lab = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    p = make_tif(tmp_path / "lab.tif", lab, nodata=255)
    out = read_labels(p)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 0, 1]])
    with pytest.raises(GridMismatchError, match="labels"):
        read_labels(p, ref_grid=RasterGrid.north_up(3, 3, 32632, ORIGIN, 1.0))
    frac = make_tif(tmp_path / "frac.tif", np.array([[0.0, 1.5]], np.float32))
    with pytest.raises(ValueError, match="not integer-valued"):
        read_labels(frac)
    whole = make_tif(tmp_path / "whole.tif", np.array([[0.0, 2.0]], np.float32))
    np.testing.assert_array_equal(read_labels(whole), [[0, 2]])


# -- writing ----------------------------------------------------------------------------------
NAMES = ["Apple trees", "Buildings & <roofs>", "Ground"]
COLOURS = ["#2e8b57", "#d62728", "#c8a165"]


def test_class_writer_tiled_deflate_palette_names_qml(tmp_path):
    grid = RasterGrid.north_up(300, 200, 32632, ORIGIN, 1.0)
    out = tmp_path / "classes.tif"
    truth = np.random.default_rng(1).integers(0, 4, size=(200, 300))
    with ClassRasterWriter(out, grid, NAMES, COLOURS) as w:
        assert leftovers(tmp_path)  # writing goes to the partial file...
        assert not out.exists()     # ...and the final path appears only on commit
        for y0 in range(0, 200, 128):
            for x0 in range(0, 300, 128):
                w.write_window(x0, y0, truth[y0:y0 + 128, x0:x0 + 128])
        with pytest.raises(ValueError, match="0..3"):
            w.write_window(0, 0, np.full((2, 2), 4))
    assert leftovers(tmp_path) == []

    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 0
    assert band.GetBlockSize() == [256, 256]
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert ds.GetGeoTransform() == grid.geotransform and "32632" in ds.GetProjection()
    ct = band.GetColorTable()
    assert ct.GetColorEntry(0)[3] == 0
    assert ct.GetColorEntry(1) == (0x2e, 0x8b, 0x57, 255) and ct.GetColorEntry(3) == (0xc8, 0xa1, 0x65, 255)
    band.GetDescription()  # GTiff loads the .aux.xml lazily; GetCategoryNames alone does not
    assert band.GetCategoryNames() == ["unclassified"] + NAMES
    np.testing.assert_array_equal(band.ReadAsArray(), truth)
    ds = None

    qml = ET.parse(qml_path_for(out)).getroot()
    renderer = qml.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = [(e.get("value"), e.get("color"), e.get("label"), e.get("alpha"))
               for e in renderer.iter("paletteEntry")]
    assert entries == [(str(k + 1), c, n, "255") for k, (n, c) in enumerate(zip(NAMES, COLOURS))]


def test_class_writer_uint16_beyond_255_classes(tmp_path):
    grid = RasterGrid.north_up(8, 4, 32632, ORIGIN, 1.0)
    names = [f"c{i}" for i in range(300)]
    with ClassRasterWriter(tmp_path / "many.tif", grid, names, None) as w:
        w.write_window(0, 0, np.broadcast_to(np.arange(8) + 293, (4, 8)))  # zero-stride view
    ds = gdal.Open(str(tmp_path / "many.tif"))  # keep ds alive: GDAL 3.6 bands don't hold it
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_UInt16
    np.testing.assert_array_equal(band.ReadAsArray(), np.broadcast_to(np.arange(8) + 293, (4, 8)))


class Cancelled(Exception):
    pass


@pytest.mark.parametrize("exc", [Cancelled, KeyboardInterrupt])
def test_writer_failure_leaves_nothing_and_keeps_existing(tmp_path, exc):
    grid = RasterGrid.north_up(300, 200, 32632, ORIGIN, 1.0)
    out = tmp_path / "result.tif"
    with pytest.raises(exc):
        with ClassRasterWriter(out, grid, NAMES, COLOURS) as w:
            w.write_window(0, 0, np.ones((200, 300), np.uint8))
            raise exc()
    assert sorted(os.listdir(tmp_path)) == []

    # An existing result survives a failed rewrite, byte for byte, with its sidecars.
    with ClassRasterWriter(out, grid, NAMES, COLOURS) as w:
        w.write_window(0, 0, np.ones((200, 300), np.uint8))
    before = {p: Path(tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    assert set(before) == {"result.tif", "result.tif.aux.xml", "result.qml"}
    with pytest.raises(exc):
        with ClassRasterWriter(out, grid, ["x"], None) as w:
            w.write_window(0, 0, np.zeros((200, 300), np.uint8))
            raise exc()
    assert {p: Path(tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before

    # Float writer too.
    with pytest.raises(exc):
        with FloatRasterWriter(tmp_path / "conf.tif", grid) as w:
            raise exc()
    assert sorted(os.listdir(tmp_path)) == sorted(before)


def test_float_writer(tmp_path):
    grid = RasterGrid.north_up(5, 4, 32632, ORIGIN, 1.0)
    vals = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    vals[0, 0] = np.nan
    valid = np.ones((4, 5), bool)
    valid[3, 4] = False
    with FloatRasterWriter(tmp_path / "conf.tif", grid, description="confidence",
                           value_range=(0.0, 1.0)) as w:
        w.write_window(0, 0, vals, valid=valid)
    ds = gdal.Open(str(tmp_path / "conf.tif"))
    b = ds.GetRasterBand(1)
    assert b.DataType == gdal.GDT_Float32 and b.GetNoDataValue() == -9999
    assert b.GetDescription() == "confidence"
    got = b.ReadAsArray()
    assert got[0, 0] == -9999 and got[3, 4] == -9999
    np.testing.assert_array_equal(got[1:3], vals[1:3])
    root = ET.parse(tmp_path / "conf.qml").getroot()
    assert root.find("pipe/rasterrenderer").get("type") == "singlebandpseudocolor"
    # "auto": stretched over the values actually written (nodata, NaN and invalid pixels left out)
    with FloatRasterWriter(tmp_path / "auto.tif", grid, value_range="auto") as w:
        w.write_window(0, 0, vals * 0.5 + 0.2, valid=valid)
    shader = ET.parse(tmp_path / "auto.qml").getroot().find("pipe/rasterrenderer/rastershader/colorrampshader")
    lo, hi = float(shader.get("minimumValue")), float(shader.get("maximumValue"))
    expected = (vals * 0.5 + 0.2)[valid & np.isfinite(vals)]
    assert lo == pytest.approx(expected.min()) and hi == pytest.approx(expected.max())


QGIS_CHECK = r"""
import json, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False); app.initQgis()
out = {}
for path in sys.argv[1:]:
    lay = QgsRasterLayer(path, "x")   # picks up <name>.qml as its default style
    r = lay.renderer()
    info = {"valid": lay.isValid(), "type": r.type()}
    if r.type() == "paletted":
        info["classes"] = [[c.value, c.label, c.color.name()] for c in r.classes()]
    else:  # the confidence: a viridis ramp whose legend says what the value is
        shader = r.shader().rasterShaderFunction()
        info["range"] = [shader.minimumValue(), shader.maximumValue()]
        info["ramp"] = [[i.value, i.color.name()] for i in shader.colorRampItemList()]
        legend = shader.legendSettings()
        info["legend"] = [legend.minimumLabel(), legend.maximumLabel()]
    out[path] = info
print(json.dumps(out), flush=True)
import os; os._exit(0)  # QGIS 3.22 may segfault in exitQgis() when run headless
"""


def test_qml_styles_load_in_qgis(tmp_path):
    """The .qml files are read by QGIS itself (in a subprocess: one QgsApplication per process)."""
    probe = subprocess.run([sys.executable, "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("QGIS Python bindings (qgis.core) are not importable")
    grid = RasterGrid.north_up(8, 4, 32632, ORIGIN, 1.0)
    with ClassRasterWriter(tmp_path / "cls.tif", grid, NAMES, COLOURS) as w:
        w.write_window(0, 0, np.ones((4, 8), np.uint8))
    with FloatRasterWriter(tmp_path / "conf.tif", grid, value_range=(0.0, 1.0)) as w:
        w.write_window(0, 0, np.full((4, 8), 0.3))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-c", QGIS_CHECK, str(tmp_path / "cls.tif"),
                          str(tmp_path / "conf.tif")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    cls, conf = got[str(tmp_path / "cls.tif")], got[str(tmp_path / "conf.tif")]
    assert cls["valid"] and cls["type"] == "paletted"
    assert cls["classes"] == [[k + 1, n, c] for k, (n, c) in enumerate(zip(NAMES, COLOURS))]
    assert conf["valid"] and conf["type"] == "singlebandpseudocolor" and conf["range"] == [0.0, 1.0]
    assert conf["ramp"] == [[k / 4, c] for k, c in enumerate(VIRIDIS)]
    assert conf["legend"] == ["0.00 (low: unsure)", "1.00 cosine of the winning prompt (high: sure)"]


# -- .mat import ------------------------------------------------------------------------------
def test_mat_to_geotiff_synthetic_cube(tmp_path):
    from scipy.io import savemat
    rng = np.random.default_rng(2)
    cube = rng.integers(0, 10000, size=(9, 7, 4)).astype(np.uint16)
    labels = rng.integers(0, 3, size=(9, 7)).astype(np.uint8)
    savemat(tmp_path / "s.mat", {"HSI": cube, "wavelengths_nm": np.array([[402.89, 500, 600, 989.09]],
                                                                           np.float32), "gt": labels})
    out = mat_to_geotiff(f"{tmp_path / 's.mat'}:HSI", tmp_path / "hsi.tif", 32632, ORIGIN, 2.0)
    ds = gdal.Open(out)
    assert ds.RasterCount == 4 and ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
    assert ds.GetGeoTransform() == (ORIGIN[0], 2.0, 0.0, ORIGIN[1], 0.0, -2.0)
    np.testing.assert_array_equal(ds.ReadAsArray(), np.moveaxis(cube, 2, 0))
    b1 = ds.GetRasterBand(1)
    assert b1.GetDescription() == "band 1 (402.9 nm)" and b1.GetMetadataItem("WAVELENGTH") == "402.89"
    assert ds.GetMetadata("IMAGE_STRUCTURE")["INTERLEAVE"] == "PIXEL"

    lab = mat_to_geotiff(f"{tmp_path / 's.mat'}:gt", tmp_path / "gt.tif", 32632, ORIGIN, 2.0,
                         class_names=["a", "b"], colours_hex=["#ff0000", "#00ff00"])
    lds = gdal.Open(lab)
    lb = lds.GetRasterBand(1)
    assert lb.DataType == gdal.GDT_Byte and lb.GetNoDataValue() == 0
    assert lb.GetColorTable().GetColorEntry(2) == (0, 255, 0, 255)
    np.testing.assert_array_equal(read_labels(lab), labels)
    assert os.path.isfile(tmp_path / "gt.qml") and leftovers(tmp_path) == []


needs_trento = pytest.mark.skipif(
    not (DATA / "trento" / "TRLabel.mat").is_file(),
    reason=f"Trento benchmark files not found under {DATA} (set MMLGNET_DATA)")


@needs_trento
def test_mat_to_geotiff_trento(tmp_path):
    t = SCENES["trento"]
    geo = scene_georef("trento")
    lab = mat_to_geotiff(str(DATA / "trento" / "TRLabel.mat"), tmp_path / "tr.tif", **geo,
                         class_names=t.class_names, colours_hex=t.colours)
    lidar = mat_to_geotiff(str(DATA / "trento" / "LiDAR.mat"), tmp_path / "lidar.tif", **geo)
    grid = grid_of(lab)
    assert grid.geotransform == (664000.0, 1.0, 0.0, 5104000.0, 0.0, -1.0)
    assert grid.crs_authority() == "EPSG:32632" and (grid.width, grid.height) == (600, 166)
    assert same_grid(grid, nominal_grid("trento", shape=(166, 600)))
    check_aligned(grid_of(lab), grid_of(lidar), "labels", "LiDAR")
    np.testing.assert_array_equal(read_labels(lab), load_mat_array(str(DATA / "trento" / "TRLabel.mat")))
    ds = gdal.Open(lidar)
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    np.testing.assert_array_equal(ds.ReadAsArray(), load_mat_array(str(DATA / "trento" / "LiDAR.mat")))
    lds = gdal.Open(lab)
    b = lds.GetRasterBand(1)
    b.GetDescription()
    assert b.GetCategoryNames() == ["unclassified", *t.class_names]


@pytest.mark.skipif(not (DATA / "trento" / "HSI.mat").is_file(), reason=f"no Trento HSI.mat under {DATA}")
def test_mat_to_geotiff_trento_hsi_windows(tmp_path):
    hsi_mat = str(DATA / "trento" / "HSI.mat")
    out = mat_to_geotiff(hsi_mat, tmp_path / "hsi.tif", **scene_georef("trento"))
    cube = load_mat_array(hsi_mat)
    src = RasterSource(out)
    assert src.grid.band_count == 63 and src.grid.dtype == "UInt16"
    assert src.band_descriptions()[0] == "band 1 (402.9 nm)"
    np.testing.assert_array_equal(src.read_window(100, 20, 64, 50),
                                  np.moveaxis(cube[20:70, 100:164], 2, 0).astype(np.float32))


# -- vector labels ----------------------------------------------------------------------------
def _utm_to_wgs84():
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(utm, wgs), wgs


def make_gpkg(path, polygons, srs, fields=(("class", ogr.OFTInteger),), layer="labels"):
    """polygons: list of (corner list in layer CRS, {field: value})."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer(layer, srs, ogr.wkbPolygon)
    for name, ftype in fields:
        lyr.CreateField(ogr.FieldDefn(name, ftype))
    for corners, attrs in polygons:
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in list(corners) + [corners[0]]:
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(poly)
        for k, v in attrs.items():
            f.SetField(k, v)
        lyr.CreateFeature(f)
    ds = None
    return str(path)


def test_rasterize_labels_reprojects_from_wgs84(tmp_path):
    ps = 10.0
    grid = RasterGrid.north_up(60, 40, 32632, ORIGIN, ps)

    def rect(c0, c1, r0, r1):
        # Pixel-space rectangle -> UTM corners -> lon/lat. Edges sit a quarter pixel off the
        # pixel centres, so which centres fall inside is unambiguous after the round trip.
        return [(ORIGIN[0] + c * ps, ORIGIN[1] - r * ps) for c, r in
                ((c0, r0), (c1, r0), (c1, r1), (c0, r1))]

    to_wgs, wgs = _utm_to_wgs84()
    polys = [(rect(5.25, 15.75, 3.25, 9.75), 2), (rect(30.25, 34.75, 20.25, 37.75), 5)]
    features = [([to_wgs.TransformPoint(x, y)[:2] for x, y in corners],
                 {"class": cls, "name": f"p{cls}"}) for corners, cls in polys]
    gpkg = make_gpkg(tmp_path / "labels.gpkg", features, wgs,
                     fields=(("class", ogr.OFTInteger), ("name", ogr.OFTString), ("area", ogr.OFTReal)))
    assert 11.0 < features[0][0][0][0] < 12.0  # really lon/lat (Trento is ~11 E, 46 N)

    out = rasterize_labels(gpkg, "class", grid)
    expected = np.zeros((40, 60), np.int64)
    expected[3:10, 5:16] = 2    # centres c + 0.5 in (5.25, 15.75) -> columns 5..15
    expected[20:38, 30:35] = 5
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)

    # QGIS-style source URI, and the grid taken from a raster path.
    ref = make_tif(tmp_path / "ref.tif", np.zeros((40, 60), np.float32), pixel=ps)
    np.testing.assert_array_equal(rasterize_labels(gpkg + "|layername=labels", "class", ref), expected)

    with pytest.raises(ValueError) as err:
        rasterize_labels(gpkg, "klass", grid)
    assert "'klass'" in str(err.value) and "class, name, area" in str(err.value)
    with pytest.raises(ValueError, match="integer"):
        rasterize_labels(gpkg, "name", grid)


def test_rasterize_labels_same_crs_and_real_field(tmp_path):
    grid = RasterGrid.north_up(20, 10, 32632, ORIGIN, 1.0)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    sq = [(ORIGIN[0] + 2.2, ORIGIN[1] - 1.2), (ORIGIN[0] + 4.8, ORIGIN[1] - 1.2),
          (ORIGIN[0] + 4.8, ORIGIN[1] - 3.8), (ORIGIN[0] + 2.2, ORIGIN[1] - 3.8)]
    ok = make_gpkg(tmp_path / "ok.gpkg", [(sq, {"cls": 3.0})], utm, fields=(("cls", ogr.OFTReal),))
    out = rasterize_labels(ok, "cls", grid)
    assert out.sum() == 3 * 9 and (out[1:4, 2:5] == 3).all()
    bad = make_gpkg(tmp_path / "bad.gpkg", [(sq, {"cls": 1.5})], utm, fields=(("cls", ogr.OFTReal),))
    with pytest.raises(ValueError, match="integers"):
        rasterize_labels(bad, "cls", grid)
    far = [(x + 1e5, y) for x, y in sq]
    off = make_gpkg(tmp_path / "off.gpkg", [(far, {"cls": 1.0})], utm, fields=(("cls", ogr.OFTReal),))
    with pytest.raises(ValueError, match="no pixel labelled"):
        rasterize_labels(off, "cls", grid)


def test_wavelengths_from_band_metadata_and_envi_header(tmp_path):
    from mmlgnet_qgis.app.sources import wavelengths_of
    from mmlgnet_qgis.raster.reader import RasterSource
    path = str(tmp_path / "w.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 4, 3, 3, gdal.GDT_Float32)
    for i, um in enumerate((0.45, 0.55, 0.65)):
        ds.GetRasterBand(i + 1).SetMetadataItem("WAVELENGTH", str(um))
        ds.GetRasterBand(i + 1).SetMetadataItem("WAVELENGTH_UNITS", "Micrometers")
    ds = None
    assert np.allclose(wavelengths_of(path), [450, 550, 650])
    envi = str(tmp_path / "envi.tif")
    ds = gdal.GetDriverByName("GTiff").Create(envi, 4, 3, 2, gdal.GDT_Float32)
    ds.SetMetadataItem("wavelength", "{ 500.5, 600 }", "ENVI")
    ds = None
    with RasterSource(envi) as src:
        assert src.wavelengths() == [500.5, 600.0]
    partial = str(tmp_path / "partial.tif")
    ds = gdal.GetDriverByName("GTiff").Create(partial, 4, 3, 2, gdal.GDT_Float32)
    ds.GetRasterBand(1).SetMetadataItem("WAVELENGTH", "500")
    ds = None
    assert wavelengths_of(partial) is None  # one band without a centre: unknown, not guessed
