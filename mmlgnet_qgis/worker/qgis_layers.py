"""QGIS layers as files the worker can open: it runs in another process and reads with GDAL/OGR.

A GDAL or OGR layer passes its source through (a file, or a GDAL connection string the worker's
GDAL opens too). Anything else (a virtual raster from the raster calculator, a memory layer, a
PostGIS raster, a delimited-text or WFS vector) is written to a temporary GeoTIFF / GeoPackage
first, which `TempFiles` removes when the run ends. QGIS side only.
"""
from __future__ import annotations

import os

from qgis.core import (QgsProcessingException, QgsProcessingUtils, QgsRasterDataProvider, QgsRasterFileWriter,
                       QgsRasterLayer, QgsRasterPipe, QgsVectorFileWriter, QgsVectorLayer)

PASS_THROUGH_RASTER = {"gdal"}
PASS_THROUGH_VECTOR = {"ogr"}


class TempFiles:
    """Temporary copies made for one run; removed on exit, whatever happened (with sidecars)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def new(self, name: str, ext: str) -> str:
        """Returns: a fresh path in Processing's temporary folder, remembered for removal."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "layer"
        path = QgsProcessingUtils.generateTempFilename(f"mmlgnet_{safe}{ext}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.paths.append(path)
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for path in self.paths:
            for p in (path, path + ".aux.xml", path + "-wal", path + "-shm"):
                try:
                    os.remove(p)
                except OSError:
                    pass


def raster_file(layer: QgsRasterLayer, label: str, temp: TempFiles, context=None, feedback=None) -> str:
    """A path or GDAL source the worker can read for a raster layer.

    Args:
        layer: the layer.
        label: what it is, for messages ("HSI").
        temp: where temporary copies are remembered.
        context: the Processing context (transform context); optional.
        feedback: progress of the copy; optional.

    Returns:
        The layer's GDAL source, or a temporary GeoTIFF with its pixels.

    Raises:
        QgsProcessingException: a layer without a pixel grid of its own (WMS, XYZ) or a failed copy.
    """
    if layer.providerType() in PASS_THROUGH_RASTER:
        return layer.source()
    provider: QgsRasterDataProvider = layer.dataProvider()
    if not provider.capabilities() & QgsRasterDataProvider.Capability.Size or provider.xSize() <= 0:
        raise QgsProcessingException(
            f"{label} '{layer.name()}' is a {layer.providerType()} layer without a pixel grid of its own; "
            f"save it as a GeoTIFF at the resolution you want (Raster > Conversion > Translate) and use that")
    path = temp.new(layer.name(), ".tif")
    if feedback is not None:
        feedback.pushInfo(f"{label} '{layer.name()}' is a {layer.providerType()} layer: writing it to {path} "
                          f"for the worker ({provider.xSize()} x {provider.ySize()} px, {provider.bandCount()} bands)")
    pipe = QgsRasterPipe()
    if not pipe.set(provider.clone()):
        raise QgsProcessingException(f"cannot read {label} '{layer.name()}'")
    writer = QgsRasterFileWriter(path)
    writer.setOutputFormat("GTiff")
    writer.setCreateOptions(["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"])
    transform = context.transformContext() if context is not None else layer.transformContext()
    error = writer.writeRaster(pipe, provider.xSize(), provider.ySize(), provider.extent(), provider.crs(),
                               transform, feedback)
    if error != QgsRasterFileWriter.WriterError.NoError:
        raise QgsProcessingException(f"could not write {label} '{layer.name()}' to {path} (error {int(error)})")
    return path


def vector_file(layer: QgsVectorLayer, temp: TempFiles, context=None) -> str:
    """An OGR source the worker can read for a vector layer (memory layers etc. go to a GeoPackage).

    Args:
        layer: the layer.
        temp: where temporary copies are remembered.
        context: the Processing context; optional.

    Returns:
        The layer's OGR source, or a temporary GeoPackage with its features.

    Raises:
        QgsProcessingException: the copy failed.
    """
    if layer.providerType() in PASS_THROUGH_VECTOR:
        return layer.source()
    path = temp.new(layer.name(), ".gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    transform = context.transformContext() if context is not None else layer.transformContext()
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, transform, options)
    if error[0] != QgsVectorFileWriter.WriterError.NoError:
        raise QgsProcessingException(f"could not copy '{layer.name()}' to a GeoPackage: {error[1]}")
    return path
