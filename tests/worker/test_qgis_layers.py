"""Layers the worker cannot open by themselves (a virtual raster, a memory layer) become temporary
files for the run and are removed afterwards; GDAL / OGR layers pass through untouched."""
import os

import numpy as np
import pytest

qgis_core = pytest.importorskip("qgis.core")


@pytest.fixture(scope="module")
def qgis_app():
    from qgis_fixtures import start_qgis
    return start_qgis()


def test_virtual_raster_and_memory_vector_become_temporary_files(qgis_app, scene):
    from osgeo import gdal
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsRasterLayer, QgsVectorLayer

    from mmlgnet_qgis.worker.qgis_layers import TempFiles, raster_file, vector_file
    hsi = QgsRasterLayer(scene["hsi"], "hsi")
    assert hsi.isValid()
    e = hsi.extent()
    uri = (f"?crs={hsi.crs().authid()}&extent={e.xMinimum()},{e.yMinimum()},{e.xMaximum()},{e.yMaximum()}"
           f"&width={hsi.width()}&height={hsi.height()}&formula=%22hsi@2%22%20*%202"
           f"&hsi:uri={scene['hsi']}&hsi:provider=gdal")
    virtual = QgsRasterLayer(uri, "twice band 2", "virtualraster")
    assert virtual.isValid(), virtual.error().summary()
    memory = QgsVectorLayer(f"Polygon?crs={hsi.crs().authid()}&field=cls:integer", "areas", "memory")
    f = QgsFeature(memory.fields())
    f.setGeometry(QgsGeometry.fromPolygonXY([[QgsPointXY(e.xMinimum(), e.yMinimum()),
                                              QgsPointXY(e.xMinimum() + 5, e.yMinimum()),
                                              QgsPointXY(e.xMinimum() + 5, e.yMinimum() + 5)]]))
    f["cls"] = 2
    memory.dataProvider().addFeatures([f])

    with TempFiles() as temp:
        assert raster_file(hsi, "HSI", temp) == scene["hsi"]  # a GDAL file passes through
        path = raster_file(virtual, "LiDAR", temp)
        ds = gdal.Open(path)
        src = gdal.Open(scene["hsi"])  # kept: a band outlives no dataset in GDAL's Python bindings
        expected = src.GetRasterBand(2).ReadAsArray() * 2
        assert (ds.RasterXSize, ds.RasterYSize) == (hsi.width(), hsi.height())
        assert np.allclose(ds.GetRasterBand(1).ReadAsArray(), expected, rtol=1e-6)
        assert ds.GetGeoTransform() == src.GetGeoTransform()
        ds = src = None
        gpkg = vector_file(memory, temp)
        from osgeo import ogr
        assert ogr.Open(gpkg).GetLayer(0).GetFeatureCount() == 1
        made = list(temp.paths)
    assert made and not any(os.path.exists(p) for p in made)


def test_a_layer_without_a_grid_is_refused_with_the_way_out(qgis_app):
    from qgis.core import QgsProcessingException, QgsRasterLayer

    from mmlgnet_qgis.worker.qgis_layers import TempFiles, raster_file
    wms = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=19&zmin=0",
                         "tiles", "wms")
    with TempFiles() as temp, pytest.raises(QgsProcessingException, match="without a pixel grid.*GeoTIFF"):
        raster_file(wms, "HSI", temp)
