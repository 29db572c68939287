"""Use case: one array of a benchmark .mat file as a georeferenced, tiled GeoTIFF."""
from __future__ import annotations

import os

from ..core.errors import InputError
from ..core.reporter import Reporter, or_null
from ..core.scenes import SCENES
from .outputs import check_outputs
from .requests import ImportRequest, ImportResult


def georeference(req: ImportRequest) -> dict:
    """The scene's nominal grid, overridden by whatever the request gives.

    Args:
        req: the request.

    Returns:
        {epsg, origin_xy, pixel_size} for mat_to_geotiff.
    """
    from ..raster.mat_import import scene_georef
    ref = scene_georef(req.scene) if req.scene else {}
    x0, y0 = ref.get("origin_xy", (None, None))
    ref.update({k: v for k, v in (("epsg", req.epsg), ("pixel_size", req.pixel_size)) if v is not None})
    ref["origin_xy"] = (req.origin_x if req.origin_x is not None else x0,
                        req.origin_y if req.origin_y is not None else y0)
    missing = [k for k, v in (("CRS", ref.get("epsg")), ("ORIGIN_X", ref["origin_xy"][0]),
                              ("ORIGIN_Y", ref["origin_xy"][1]), ("PIXEL_SIZE", ref.get("pixel_size"))) if v is None]
    if missing:
        raise InputError(f"no georeference for {', '.join(missing)}: choose a benchmark scene "
                         f"or give CRS, ORIGIN_X, ORIGIN_Y and PIXEL_SIZE")
    if ref["pixel_size"] <= 0:
        raise InputError(f"pixel size must be > 0, got {ref['pixel_size']}")
    return ref


def run(req: ImportRequest, reporter: Reporter | None = None) -> ImportResult:
    """Write the GeoTIFF (+ .qml for labels with class names).

    Args:
        req: the .mat array, the georeference and the output.
        reporter: log.

    Returns:
        The output, its grid and its classes.
    """
    from ..raster.grid import grid_of
    from ..raster.mat_import import mat_to_geotiff
    from ..raster.writer import qml_path_for
    reporter = or_null(reporter)
    georef = georeference(req)
    check_outputs({"GeoTIFF": req.out}, {".mat file": req.mat})
    names = list(SCENES[req.scene].class_names) if req.scene else None
    colours = list(SCENES[req.scene].colours) if req.scene else None
    reporter.log(f"{req.mat} -> {req.out}: EPSG:{georef['epsg']}, origin {georef['origin_xy']}, "
                 f"pixel {georef['pixel_size']}")
    mat_to_geotiff(req.mat, req.out, kind=req.data_kind, class_names=names, colours_hex=colours, **georef)
    grid = grid_of(req.out).describe()
    reporter.log(f"written: {grid}")
    reporter.progress(1, 1)
    qml = qml_path_for(req.out)
    return ImportResult(out=req.out, grid=grid, qml=qml if os.path.isfile(qml) else None,
                        classes=names, colours=colours)
