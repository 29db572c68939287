"""Assemble block GeoTIFFs (one per distributed task) into one styled GeoTIFF, published atomically.

A VRT places each block at its integer pixel offset (written by hand: offsets derived from
geotransforms could land a hair off a pixel); gdal.Translate copies it into one tiled DEFLATE
GeoTIFF under a temporary name; the colour table, class names, description and .qml are those of
the single-process writers (`writer.py`); then the file is renamed over the final path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from xml.sax.saxutils import escape

from osgeo import gdal

from .grid import RasterGrid
from .writer import (GTIFF_OPTIONS, apply_class_style, commit_file, discard_file, confidence_qml, paletted_qml,
                     partial_name, qml_path_for, write_text_atomic)

gdal.UseExceptions()

Block = tuple[str, int, int, int, int]  # (path, x0, y0, w, h)


def mosaic_vrt(path: str, grid: RasterGrid, blocks: list[Block], data_type: str, nodata: float) -> str:
    """Write a one-band VRT that places each block file at its pixel offset.

    Args:
        path: the .vrt to write.
        grid: the whole scene's grid.
        blocks: (file, x0, y0, w, h) of each block.
        data_type: GDAL type name, e.g. 'Byte' or 'Float32'.
        nodata: the band's nodata value.

    Returns:
        path.
    """
    sources = "".join(
        f'    <SimpleSource><SourceFilename relativeToVRT="0">{escape(f)}</SourceFilename>'
        f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
        f'<DstRect xOff="{x0}" yOff="{y0}" xSize="{w}" ySize="{h}"/></SimpleSource>\n'
        for f, x0, y0, w, h in blocks)
    gt = ", ".join(repr(float(v)) for v in grid.geotransform)  # repr: exact round trip
    srs = f"  <SRS>{escape(grid.crs_wkt)}</SRS>\n" if grid.crs_wkt else ""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">\n{srs}'
                f"  <GeoTransform>{gt}</GeoTransform>\n"
                f'  <VRTRasterBand dataType="{data_type}" band="1">\n'
                f"    <NoDataValue>{nodata!r}</NoDataValue>\n{sources}  </VRTRasterBand>\n</VRTDataset>\n")
    return path


def _translate(vrt: str, final: str) -> str:
    """VRT -> a tiled DEFLATE GeoTIFF under a temporary name beside `final`; returns that name."""
    tmp = partial_name(final, ".tif")
    try:
        gdal.Translate(tmp, vrt, format="GTiff", creationOptions=[*GTIFF_OPTIONS, "NUM_THREADS=ALL_CPUS"])
    except BaseException:
        discard_file(tmp)
        raise
    return tmp


@dataclass
class Assembled:
    """A finished GeoTIFF under its temporary name, waiting to be renamed over `final` (+ its .qml)."""

    tmp: str
    final: str
    qml: str | None


def assemble_classes(vrt: str, final: str, class_names: list[str], colours: list[str] | None) -> Assembled:
    """The class map under a temporary name: colour table, class names, band description.

    Args:
        vrt: the mosaic of class blocks.
        final: the output path.
        class_names: names of classes 1..N.
        colours: their '#rrggbb' colours.

    Returns:
        The file to publish.
    """
    tmp = _translate(vrt, final)
    try:
        ds = gdal.Open(tmp, gdal.GA_Update)
        band = ds.GetRasterBand(1)
        apply_class_style(band, class_names, colours)
        band.SetDescription("class")
        band = ds = None  # closing writes the header and the .aux.xml
    except BaseException:
        discard_file(tmp)
        raise
    return Assembled(tmp, final, paletted_qml(class_names, colours))


def assemble_float(vrt: str, final: str, description: str, value_range: tuple[float, float] | None) -> Assembled:
    """A float32 raster (confidence) under a temporary name, with its band description.

    Args:
        vrt: the mosaic of float blocks.
        final: the output path.
        description: the band's description.
        value_range: (min, max) of the values written for its viridis .qml, or None (no .qml).

    Returns:
        The file to publish.
    """
    tmp = _translate(vrt, final)
    try:
        ds = gdal.Open(tmp, gdal.GA_Update)
        ds.GetRasterBand(1).SetDescription(description)
        ds = None
    except BaseException:
        discard_file(tmp)
        raise
    return Assembled(tmp, final, confidence_qml(*value_range) if value_range is not None else None)


def publish(files: list[Assembled]) -> None:
    """Rename every finished file over its final path and write its .qml (all are complete first).

    Args:
        files: what `assemble_*` made.
    """
    for f in files:
        commit_file(f.tmp, f.final)
        if f.qml is not None:
            write_text_atomic(qml_path_for(f.final), f.qml)


def discard(files: list[Assembled]) -> None:
    """Delete finished files that will not be published.

    Args:
        files: what `assemble_*` made.
    """
    for f in files:
        discard_file(f.tmp)


def remove_tree(folder: str) -> None:
    """Delete a temporary folder and everything in it; one that is already gone is no error.

    Args:
        folder: the folder.
    """
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    if os.path.isdir(folder):  # a straggling task wrote a file while it was being removed
        shutil.rmtree(folder, ignore_errors=True)
