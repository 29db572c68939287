"""LAS/LAZ point clouds rasterised onto a raster grid (mmlgnet_qgis.raster.pointcloud).

The synthetic tests need nothing outside the repository; the Trento tests sample the real
LiDAR raster of ../shared/data as a cloud and skip without it.
"""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from las_fixtures import reproject, surface_points, wkt_of, write_las
from osgeo import gdal

from mmlgnet_qgis.core.errors import Cancelled, InputError
from mmlgnet_qgis.raster.grid import RasterGrid, grid_of
from mmlgnet_qgis.raster.pointcloud import (DEFAULT_PRODUCTS, NODATA, PRODUCTS, PRODUCTS_METADATA, parse_products,
                                            rasterise, rasterise_to_geotiff)

ALL = PRODUCTS
ORIGIN = (664000.0, 5104000.0)


@pytest.fixture(scope="module")
def scene():
    """A 40 x 30 m tilted terrain with a 8 m building and 3 m trees, as a grid and a cloud."""
    grid = RasterGrid.north_up(40, 30, 32632, ORIGIN, 1.0)
    yy, xx = np.mgrid[0:30, 0:40]
    terrain = 200.0 + 0.1 * xx + 0.05 * yy
    objects = np.zeros((30, 40))
    objects[5:12, 5:15] = 8.0
    objects[20:25, 25:35] = 3.0
    pts = surface_points(terrain + objects, terrain, grid.geotransform, seed=1)
    return grid, terrain, objects, pts


def _listing(folder):
    return sorted(os.listdir(folder))


def test_products_recover_the_surface(tmp_path, scene):
    grid, terrain, objects, pts = scene
    bands, stats = rasterise(write_las(tmp_path / "c.las", pts, wkt_of(32632)), grid, ALL)
    dsm, dtm, ndsm, intensity, density = bands
    assert np.isfinite(bands).all()
    # max of 3 first returns with 2 cm noise; the class-7 points 50 m up are ignored
    assert np.abs(dsm - (terrain + objects)).max() < 0.1
    # under the building no ground return: interpolated from the terrain around it (a plane)
    assert np.abs(dtm - terrain).max() < 0.25
    assert (ndsm >= 0).all() and np.abs(ndsm - objects).max() < 0.3
    assert np.median(intensity[objects == 0]) > np.median(intensity[objects > 0])  # ground 1100, else ~1000
    # 3 first returns per m2, plus last returns under ~30 % of the objects' points
    assert (density[objects == 0] == 3).all() and density[objects > 0].mean() > 3.5
    assert stats.points_on_grid == stats.points_read - 20 and stats.cells_with_points == 1200


def test_chunked_reading_equals_whole_reading(tmp_path, scene):
    grid, _, _, pts = scene
    laz = write_las(tmp_path / "c.laz", pts, wkt_of(32632), chunk=1000)  # LAZ written in pieces
    whole, _ = rasterise(laz, grid, ALL, chunk_points=10 ** 7)
    chunked, _ = rasterise(laz, grid, ALL, chunk_points=997)
    las, _ = rasterise(write_las(tmp_path / "c.las", pts, wkt_of(32632)), grid, ALL, chunk_points=1234)
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_array_equal(whole, las)


@pytest.mark.parametrize("epsg,scale", [(4326, 1e-8), (32633, 0.001)])
def test_reprojected_cloud_lands_on_the_same_cells(tmp_path, scene, epsg, scale):
    grid, _, _, pts = scene
    ref, _ = rasterise(write_las(tmp_path / "utm32.las", pts, wkt_of(32632)), grid, ALL)
    moved = write_las(tmp_path / f"in{epsg}.laz", reproject(pts, 32632, epsg), wkt_of(epsg), scale=scale)
    got, _ = rasterise(moved, grid, ALL)
    # coordinates stored to ~1 mm: a point 2 cm inside its cell stays in it
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_geotiff_keys_crs_of_a_las_1_2_file(tmp_path, scene):
    grid, _, _, pts = scene
    ref, _ = rasterise(write_las(tmp_path / "wkt.las", pts, wkt_of(32632)), grid, ALL)
    old = write_las(tmp_path / "keys.las", pts, geokey_epsg=32632, version="1.2", point_format=1)
    got, _ = rasterise(old, grid, ALL)
    np.testing.assert_array_equal(got, ref)


def test_folder_of_tiles_equals_one_file_and_skips_tiles_off_the_grid(tmp_path, scene):
    grid, _, _, pts = scene
    ref, _ = rasterise(write_las(tmp_path / "one.las", pts, wkt_of(32632)), grid, ALL)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    west = pts["x"] < ORIGIN[0] + 20
    north = pts["y"] > ORIGIN[1] - 15
    for name, m in {"a": west & north, "b": west & ~north, "c": ~west & north, "d": ~west & ~north}.items():
        write_las(tiles / f"{name}.laz", {k: v[m] for k, v in pts.items()}, wkt_of(32632))
    far = {k: v[:100] for k, v in pts.items()}
    far["x"] = far["x"] + 10_000.0
    write_las(tiles / "far.las", far, wkt_of(32632))
    logs = []

    class Log:
        progress = warning = staticmethod(lambda *a, **k: None)
        log = staticmethod(logs.append)
        is_cancelled = staticmethod(lambda: False)
    got, stats = rasterise(tiles, grid, ALL, reporter=Log())
    np.testing.assert_allclose(got, ref, rtol=1e-6)  # sums in another order: float rounding only
    assert stats.skipped == [str(tiles / "far.las")] and any("far.las" in m for m in logs)


def test_fill_radius_fills_small_gaps_and_leaves_large_ones_nodata(tmp_path, scene):
    grid, terrain, objects, pts = scene
    col = np.floor(pts["x"] - ORIGIN[0])
    row = np.floor(ORIGIN[1] - pts["y"])
    gap = ((col == 30) & (row == 3)) | ((col >= 0) & (col < 10) & (row >= 20) & (row < 30))
    holed = write_las(tmp_path / "holed.las", {k: v[~gap] for k, v in pts.items()}, wkt_of(32632))
    bands, stats = rasterise(holed, grid, ("dsm", "density"), fill_radius=2)
    dsm, density = bands
    assert abs(dsm[3, 30] - (terrain + objects)[3, 30]) < 0.2 and density[3, 30] == 0
    assert np.isfinite(dsm[20:30, 8:10]).all()                       # within 2 px of points
    assert np.isnan(dsm[22:30, 0:7]).all() and np.isnan(density[22:30, 0:7]).all()  # too far
    none, _ = rasterise(holed, grid, ("dsm",), fill_radius=0)
    assert np.isnan(none[0][3, 30]) and stats.cells_nodata == np.isnan(dsm).sum()


def test_geotiff_output_bands_nodata_and_grid(tmp_path, scene):
    grid, _, _, pts = scene
    cloud = write_las(tmp_path / "c.laz", pts, wkt_of(32632))
    out = tmp_path / "lidar.tif"
    rasterise_to_geotiff(cloud, grid, out, DEFAULT_PRODUCTS)
    ds = gdal.Open(str(out))
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == list(DEFAULT_PRODUCTS)
    assert ds.GetRasterBand(1).GetNoDataValue() == NODATA
    assert ds.GetMetadataItem(PRODUCTS_METADATA) == ",".join(DEFAULT_PRODUCTS)
    assert ds.GetGeoTransform() == grid.geotransform and grid_of(out).crs_authority() == "EPSG:32632"
    ds = None
    assert _listing(tmp_path) == ["c.laz", "lidar.tif"]


def test_memory_is_bounded_by_the_grid_not_the_cloud(tmp_path):
    grid = RasterGrid.north_up(20, 20, 32632, ORIGIN, 1.0)
    flat = np.full((20, 20), 200.0)
    pts = surface_points(flat, flat, grid.geotransform, per_cell=1000, noise_points=0)  # 400,000 points
    cloud = write_las(tmp_path / "dense.las", pts, wkt_of(32632))
    tracemalloc.start()
    try:
        rasterise(cloud, grid, ALL, chunk_points=10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4e6, f"peak {peak / 1e6:.1f} MB: the 400,000-point cloud (~11 MB of records) was held whole"


# -- refused inputs: a clear message naming the file and the value, nothing left behind --------------
def _refused(tmp_path, sources, grid, match, **kw):
    out = tmp_path / "out" / "lidar.tif"
    out.parent.mkdir(exist_ok=True)
    before = _listing(tmp_path)
    with pytest.raises(InputError, match=match):
        rasterise_to_geotiff(sources, grid, out, **kw)
    assert _listing(tmp_path) == before and _listing(out.parent) == []


def test_cloud_without_crs_is_refused_unless_one_is_stated(tmp_path, scene):
    grid, _, _, pts = scene
    bare = write_las(tmp_path / "bare.laz", pts)
    _refused(tmp_path, bare, grid, r"bare\.laz states no CRS .*EPSG:32632", products=ALL)
    ref, _ = rasterise(write_las(tmp_path / "crs.laz", pts, wkt_of(32632)), grid, ALL)
    got, _ = rasterise(bare, grid, ALL, assume_crs="EPSG:32632")
    np.testing.assert_array_equal(got, ref)


def test_cloud_off_the_grid_is_refused_naming_both_extents(tmp_path, scene):
    grid, _, _, pts = scene
    far = write_las(tmp_path / "far.laz", {**pts, "x": pts["x"] + 5000.0}, wkt_of(32632))
    _refused(tmp_path, far, grid, r"far\.laz does not overlap the raster grid: the cloud covers x 669000"
             r".*\(EPSG:32632\); the grid covers x 664000\.\.664040, y 5103970\.\.5104000 \(EPSG:32632\)")
    other = write_las(tmp_path / "utm33.laz", pts, wkt_of(32633))  # right numbers, wrong zone
    _refused(tmp_path, other, grid, r"utm33\.laz does not overlap .*\(EPSG:32633\), i\.e\. x .*\(EPSG:32632\)")


def test_cloud_without_ground_is_refused_for_dtm_and_ndsm(tmp_path, scene):
    grid, _, _, pts = scene
    no_ground = {**pts, "classification": np.where(pts["classification"] == 2, 1, pts["classification"])
                 .astype(np.uint8)}
    cloud = write_las(tmp_path / "noground.laz", no_ground, wkt_of(32632))
    for products in (("ndsm", "intensity"), ("dtm",)):
        _refused(tmp_path, cloud, grid, r"noground\.laz has no ground point \(ASPRS class 2\).*classes present: 1, 7",
                 products=products)
    bands, _ = rasterise(cloud, grid, ("dsm", "intensity"))  # no ground needed
    assert np.isfinite(bands).all()


def test_unreadable_missing_and_unknown_inputs_are_refused(tmp_path, scene):
    grid, _, _, pts = scene
    junk = tmp_path / "junk.las"
    junk.write_bytes(b"not a point cloud at all" * 10)
    _refused(tmp_path, junk, grid, r"junk\.las cannot be read as LAS/LAZ")
    _refused(tmp_path, tmp_path / "missing.laz", grid, r"point cloud file not found: .*missing\.laz")
    _refused(tmp_path, tmp_path / "notes.txt", grid, r"not found|not a point cloud")
    (tmp_path / "empty_dir").mkdir()
    _refused(tmp_path, tmp_path / "empty_dir", grid, r"empty_dir holds no \.las or \.laz file")
    cloud = write_las(tmp_path / "ok.laz", pts, wkt_of(32632))
    _refused(tmp_path, cloud, grid, r"unknown LiDAR product\(s\) chm; known: dsm, dtm", products="ndsm,chm")
    _refused(tmp_path, cloud, grid, r"stated point-cloud CRS 'EPSG:999999'", assume_crs="EPSG:999999")


def test_cancel_leaves_nothing(tmp_path, scene):
    grid, _, _, pts = scene
    cloud = write_las(tmp_path / "c.laz", pts, wkt_of(32632))

    class CancelAfterFirstChunk:
        calls = 0

        def progress(self, done, total, metrics=None):
            self.calls += 1

        log = warning = staticmethod(lambda m: None)

        def is_cancelled(self):
            return self.calls > 0
    with pytest.raises(Cancelled):
        rasterise_to_geotiff(cloud, grid, tmp_path / "lidar.tif", chunk_points=500, reporter=CancelAfterFirstChunk())
    assert _listing(tmp_path) == ["c.laz"]


def test_parse_products():
    assert parse_products(None) == DEFAULT_PRODUCTS == ("ndsm", "intensity")
    assert parse_products(" DSM, intensity,dsm ") == ("dsm", "intensity")
    with pytest.raises(InputError, match="no LiDAR product"):
        parse_products(",")


# -- the real Trento LiDAR raster sampled as a cloud ---------------------------------------------------
@pytest.fixture(scope="module")
def trento(data_dir):
    from mmlgnet_qgis.core.scenes import load_mat_array
    from mmlgnet_qgis.raster.mat_import import nominal_grid
    dsm = np.asarray(load_mat_array(str(data_dir / "trento" / "LiDAR.mat")), np.float64)
    grid = nominal_grid("trento")
    yy, xx = np.mgrid[0:dsm.shape[0], 0:dsm.shape[1]]
    terrain = 180.0 + 0.05 * xx + 3.0 * np.sin(yy / 40.0)  # synthetic terrain under the real heights
    pts = surface_points(dsm + terrain, terrain + dsm.clip(max=0.25), grid.geotransform, per_cell=2, seed=3)
    return grid, dsm, terrain, pts


def test_trento_dsm_and_ndsm_recover_the_raster(tmp_path, trento):
    grid, dsm, terrain, pts = trento
    cloud = write_las(tmp_path / "trento.laz", pts, wkt_of(32632))
    (got_dsm, got_ndsm), stats = rasterise(cloud, grid, ("dsm", "ndsm"), chunk_points=50_000)
    err = np.abs(got_dsm - (dsm + terrain))
    assert np.isfinite(got_dsm).all() and np.percentile(err, 99) < 0.06 and err.max() < 0.15
    assert (got_ndsm >= 0).all()
    # ground = cells below 0.3 m; under objects the terrain is interpolated
    ndsm_err = np.abs(got_ndsm - dsm)[dsm > 2.0]
    assert np.median(ndsm_err) < 0.3, np.percentile(ndsm_err, [50, 90, 99])
    assert stats.points_read == len(pts["x"])


def test_trento_cloud_in_another_crs_lands_on_the_same_cells(tmp_path, trento):
    grid, _, _, pts = trento
    ref, _ = rasterise(write_las(tmp_path / "utm32.laz", pts, wkt_of(32632)), grid, ("dsm", "intensity"))
    got, _ = rasterise(write_las(tmp_path / "wgs84.laz", reproject(pts, 32632, 4326), wkt_of(4326), scale=1e-8),
                       grid, ("dsm", "intensity"))
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_truncated_laz_is_refused_naming_the_file(tmp_path, scene):
    grid, _, _, pts = scene
    cloud = write_las(tmp_path / "whole.laz", pts, wkt_of(32632))
    data = open(cloud, "rb").read()
    cut = tmp_path / "cut.laz"
    cut.write_bytes(data[:len(data) * 2 // 3])
    _refused(tmp_path, cut, grid, r"cut\.laz (is damaged or truncated|cannot be read as LAS/LAZ)", chunk_points=500)
