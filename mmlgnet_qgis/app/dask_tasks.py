"""What runs on a Dask worker: its setup, the per-process model cache, the input probe, one block.

Tasks carry paths and pixel windows only; each worker opens the rasters itself (GDAL handles do
not pickle) and writes its block to its own GeoTIFF in the run's temporary folder, so no raster
array crosses the scheduler. Imported on the workers by name: mmlgnet_qgis must be importable there.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from ..core.errors import InputError

if TYPE_CHECKING:
    from distributed import Worker

    from ..core.manifest import Manifest
    from ..core.model import MMLGNet

_MODELS: dict[tuple, tuple] = {}
_LOCK = threading.Lock()
MODEL_LOADS = [0]  # loads in this process (tests: once per worker, not once per task)


class WorkerSetup(WorkerPlugin):
    """Per worker process: GDAL's block cache and torch's threads.

    N workers with GDAL's default cache (5 % of RAM each) on one machine is the classic
    out-of-memory trap; threads default to 1 because Dask runs one task per worker thread.

    Args:
        threads: torch CPU threads.
        gdal_cachemax: GDAL block cache in MB.
    """

    name = "mmlgnet-setup"

    def __init__(self, threads: int, gdal_cachemax: int) -> None:
        self.threads, self.gdal_cachemax = int(threads), int(gdal_cachemax)

    def setup(self, worker: Worker) -> None:
        """Apply the settings in the worker process.

        Args:
            worker: the Dask worker.
        """
        apply_settings(self.threads, self.gdal_cachemax)


def apply_settings(threads: int, gdal_cachemax: int) -> None:
    """Set GDAL's cache (MB) and torch's threads in this process.

    Args:
        threads: torch CPU threads (0 leaves torch's default).
        gdal_cachemax: MB.
    """
    os.environ["GDAL_CACHEMAX"] = str(gdal_cachemax)
    from osgeo import gdal
    gdal.SetCacheMax(gdal_cachemax * 1024 * 1024)
    if threads:
        import torch
        torch.set_num_threads(threads)


def cached_model(path: str) -> tuple[MMLGNet, Manifest]:
    """The model file loaded once per process, reloaded when the file changes (path, mtime, size).

    Args:
        path: the model file, as the workers see it.

    Returns:
        (model, manifest).
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    with _LOCK:
        if key not in _MODELS:
            from ..core.model_file import load_model
            _MODELS.clear()  # one model at a time: a run's scenes share it
            _MODELS[key] = load_model(path)
            MODEL_LOADS[0] += 1
        return _MODELS[key]


def _seen_by_worker(path: str, label: str) -> None:
    """Raises: InputError naming the path when this worker cannot open it."""
    from distributed import get_worker
    try:
        where = get_worker().address
    except ValueError:
        where = "this process"
    from ..raster.grid import open_raster
    try:
        if label == "model file":
            os.stat(path)
        else:
            open_raster(path)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"the workers cannot open the {label} {path} (worker {where}: {exc}); every worker "
                         f"must see the same paths: a shared file system, or /vsis3/, /vsicurl/ ...") from None


def probe_scene(hsi: str, lidar: str, model: str, folder: str) -> dict:
    """Check a scene on a worker before any block is submitted: paths, grids, bands, temp folder.

    Args:
        hsi: the HSI raster.
        lidar: the LiDAR raster.
        model: the model file.
        folder: the run's temporary folder beside the output.

    Returns:
        {width, height, geotransform, crs_wkt, names, colours}.

    Raises:
        InputError: a path this worker cannot open, grids that differ, band counts the model was
            not trained on, or a temporary folder the worker cannot write.
    """
    for path, label in ((model, "model file"), (hsi, "HSI"), (lidar, "LiDAR")):
        _seen_by_worker(path, label)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the workers cannot write the temporary folder {folder} beside the output: the output "
                         f"folder must be on a file system the workers share")
    from ..raster.grid import check_aligned
    from ..raster.reader import RasterSource
    _, manifest = cached_model(model)
    with RasterSource(hsi, name=f"HSI ({hsi})") as h, RasterSource(lidar, name=f"LiDAR ({lidar})") as li:
        check_aligned(h.grid, li.grid, h.name, li.name)
        for src, n, label in ((h, manifest.hsi_bands, "HSI"), (li, manifest.lidar_bands, "LiDAR")):
            if src.grid.band_count != n:
                raise InputError(f"{src.name} has {src.grid.band_count} bands; the model was trained on {n}")
        g = h.grid
        return {"width": g.width, "height": g.height, "geotransform": list(g.geotransform), "crs_wkt": g.crs_wkt,
                "names": list(manifest.names), "colours": list(manifest.colours)}


def warm_up(model: str) -> int:
    """Load the model in this worker before its first block.

    torch's import and the file's read then count as start-up, not as the first task's time.

    Args:
        model: the model file.

    Returns:
        This process's id.

    Raises:
        InputError: this worker cannot see the model file.
    """
    _seen_by_worker(model, "model file")
    cached_model(model)
    return os.getpid()


@dataclass(frozen=True)
class BlockTask:
    """One task: a block of whole tiles of one scene, and where its GeoTIFFs go."""

    hsi: str
    lidar: str
    model: str
    region: tuple[int, int, int, int]      # (x0, y0, w, h) in scene pixels
    tile: int
    classes_path: str                      # in the run's temporary folder
    confidence_path: str | None
    device: str = "auto"
    amp: bool = False
    threads: int = 1


class _Offset:
    """A sink taking scene coordinates, writing into a block-sized writer."""

    def __init__(self, writer: object, x0: int, y0: int) -> None:
        self.writer, self.x0, self.y0 = writer, x0, y0

    def write_window(self, x0: int, y0: int, block: object) -> None:
        self.writer.write_window(x0 - self.x0, y0 - self.y0, block)


def classify_block(task: BlockTask) -> dict:
    """Classify one block and write it to its own GeoTIFF(s), renamed into place when complete.

    A task run twice (its worker died after writing) writes the same pixels again.

    Args:
        task: the block.

    Returns:
        {valid_pixels, pixels, seconds, classify_seconds, cpu_seconds (this process's), lo, hi (confidence range written, or None), pid}.
    """
    from ..core.pipeline import classify
    from ..core.threads import torch_threads
    from ..raster.grid import RasterGrid
    from ..raster.reader import RasterSource
    from ..raster.writer import ClassRasterWriter, FloatRasterWriter
    t0, c0 = time.perf_counter(), time.process_time()
    folder = os.path.dirname(task.classes_path)
    if not os.path.isdir(folder):  # a cancelled run removed it: write nothing
        raise FileNotFoundError(f"the run's temporary folder {folder} is gone (cancelled?)")
    model, manifest = cached_model(task.model)
    x0, y0, w, h = task.region
    with RasterSource(task.hsi, name=f"HSI ({task.hsi})") as hsi, \
            RasterSource(task.lidar, name=f"LiDAR ({task.lidar})") as lidar:
        gt = hsi.grid.geotransform
        grid = RasterGrid(w, h, (gt[0] + x0 * gt[1] + y0 * gt[2], gt[1], gt[2], gt[3] + x0 * gt[4] + y0 * gt[5],
                                 gt[4], gt[5]), hsi.grid.crs_wkt)
        writers = [ClassRasterWriter(task.classes_path, grid, manifest.names, manifest.colours, write_qml=False)]
        if task.confidence_path:
            writers.append(FloatRasterWriter(task.confidence_path, grid))
        try:
            for wr in writers:
                wr.open()
            with torch_threads(task.threads):
                stats = classify(model, manifest.normalisation, hsi, lidar, _Offset(writers[0], x0, y0),
                                 _Offset(writers[1], x0, y0) if task.confidence_path else None, tile=task.tile,
                                 device=task.device, amp=task.amp, prefetch=False, region=task.region)
            for wr in writers:
                wr.commit()
        except BaseException:
            for wr in writers:
                wr.abort()
            raise
    seen = writers[1]._seen if task.confidence_path else [None, None]
    lo, hi = (seen if seen[0] is not None and seen[0] <= seen[1] else (None, None))
    return {"valid_pixels": int(stats["valid_pixels"]), "pixels": w * h, "seconds": time.perf_counter() - t0,
            "classify_seconds": float(stats["seconds"]), "cpu_seconds": time.process_time() - c0,
            "lo": lo, "hi": hi, "pid": os.getpid()}
