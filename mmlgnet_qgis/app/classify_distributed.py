"""Use case: classify one or many scenes on a Dask cluster, block by block, one GeoTIFF per scene.

Steps: check the outputs here; reach the cluster; probe each scene on a worker (paths, grids,
bands, the temporary folder); submit one task per block of whole tiles; collect the small results
as they complete (progress, cancel); assemble each scene's blocks into one styled GeoTIFF and
publish it atomically; remove the temporary folders whatever happens. Pixels equal a
single-process run's bit for bit: blocks are whole tiles of the same tile grid, read with the
scene's halo (core.pipeline.classify's region).
"""
from __future__ import annotations

import os
import pickle
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import WorkerError
from ..core.reporter import Reporter, check_cancelled, or_null
from .distributed_requests import DistributedClassifyRequest, DistributedClassifyResult
from .outputs import check_outputs
from .scene_list import Scene, scenes_of

if TYPE_CHECKING:
    from distributed import Client, Future

    from .dask_tasks import BlockTask

DEFAULT_TILE = 512  # core.pipeline.auto_tile_size's CPU tile: the same tile grid as a single-process run
POLL_S = 0.25


@dataclass
class _Run:
    """One scene in flight: its temporary folder, probe, tasks and their results."""

    scene: Scene
    folder: str
    info: dict = field(default_factory=dict)
    tasks: list[BlockTask] = field(default_factory=list)
    results: dict[int, dict] = field(default_factory=dict)


def blocks(width: int, height: int, tile: int, block_tiles: int) -> list[tuple[int, int, int, int]]:
    """Cover a scene with blocks of block_tiles x block_tiles whole tiles, row by row.

    Args:
        width: columns.
        height: rows.
        tile: tile side.
        block_tiles: tiles per block side.

    Returns:
        (x0, y0, w, h) of each block.
    """
    side = tile * max(1, block_tiles)
    return [(x0, y0, min(side, width - x0), min(side, height - y0))
            for y0 in range(0, height, side) for x0 in range(0, width, side)]


def _tasks(run: _Run, req: DistributedClassifyRequest, tile: int) -> list[BlockTask]:
    from .dask_tasks import BlockTask
    out = []
    for i, region in enumerate(blocks(run.info["width"], run.info["height"], tile, req.block_tiles)):
        base = os.path.join(run.folder, f"b{i:06d}")
        out.append(BlockTask(run.scene.hsi, run.scene.lidar, req.model, region, tile, base + "_classes.tif",
                             base + "_confidence.tif" if run.scene.confidence else None, req.device, req.amp,
                             req.threads))
    return out


def _collect(client: Client, futures: dict[Future, tuple[int, int]], runs: list[_Run],
             reporter: Reporter) -> int:
    """Wait for every block, reporting progress and honouring cancel; returns the bytes of the results."""
    from distributed import KilledWorker, as_completed
    completed, done_n, nbytes = as_completed(list(futures), loop=client.loop), 0, 0
    while done_n < len(futures):
        check_cancelled(reporter)
        done = completed.next_batch(block=False)
        if not done:
            time.sleep(POLL_S)  # polled, so that a cancel is seen while blocks run
            continue
        try:
            results = client.gather(done)  # a failed task raises its error here
        except KilledWorker as exc:  # Dask gave up after the block's workers died again and again
            raise WorkerError(f"a block's workers died repeatedly ({exc}); out of memory? lower --block-tiles or "
                              f"--tile, or give the workers more memory") from None
        for fut, res in zip(done, results):
            s, i = futures[fut]
            runs[s].results[i] = res
            nbytes += len(pickle.dumps(res))
        done_n += len(done)
        reporter.progress(done_n, len(futures))
    return nbytes


def _cancel(client: Client, futures: list[Future]) -> None:
    """Cancel the blocks; running ones finish and find their folder gone. Never masks the error at hand."""
    try:
        client.cancel(futures, force=True)
    except Exception:  # noqa: BLE001 (the scheduler may already be gone)
        pass


def _publish(run: _Run, reporter: Reporter) -> None:
    """Mosaic the scene's blocks into its outputs (styled); both complete before either is renamed into place."""
    from ..raster.assemble import assemble_classes, assemble_float, discard, mosaic_vrt, publish
    from ..raster.grid import RasterGrid
    info = run.info
    grid = RasterGrid(info["width"], info["height"], info["geotransform"], info["crs_wkt"])
    done = []
    try:
        vrt = mosaic_vrt(os.path.join(run.folder, "classes.vrt"), grid,
                         [(t.classes_path, *t.region) for t in run.tasks],
                         "Byte" if len(info["names"]) <= 255 else "UInt16", 0)
        done.append(assemble_classes(vrt, run.scene.out, info["names"], info["colours"]))
        if run.scene.confidence:
            lo = [r["lo"] for r in run.results.values() if r["lo"] is not None]
            hi = [r["hi"] for r in run.results.values() if r["hi"] is not None]
            vrange = (min(lo), max(hi)) if lo and min(lo) < max(hi) else None  # FloatRasterWriter's "auto"
            vrt = mosaic_vrt(os.path.join(run.folder, "confidence.vrt"), grid,
                             [(t.confidence_path, *t.region) for t in run.tasks], "Float32", -9999.0)
            done.append(assemble_float(vrt, run.scene.confidence, "cosine similarity of the winning prompt", vrange))
    except BaseException:
        discard(done)
        raise
    publish(done)
    reporter.log(f"{run.scene.hsi}: {len(run.tasks)} blocks -> {run.scene.out}")


def _check_nonempty(run: _Run) -> None:
    from ..core.errors import InputError
    if not any(r.get("valid_pixels") for r in run.results.values()):
        raise InputError(f"every pixel is nodata (or NaN / inf) in HSI ({run.scene.hsi}) or LiDAR "
                         f"({run.scene.lidar}): nothing to classify; check the layers' nodata values")


def run(req: DistributedClassifyRequest, reporter: Reporter | None = None) -> DistributedClassifyResult:
    """Classify every scene of the request on a Dask cluster.

    Args:
        req: model, scenes, outputs, cluster and how to run.
        reporter: progress per completed block, log, cancel.

    Returns:
        Outputs and run statistics.

    Raises:
        InputError: bad scenes or outputs, an unreachable scheduler, a path the workers cannot open.
        Cancelled: the reporter asked to stop (nothing is left behind).
    """
    from ..raster.assemble import remove_tree
    from .dask_cluster import cluster_client
    from .dask_tasks import classify_block, probe_scene, warm_up
    reporter = or_null(reporter)
    scenes = scenes_of(req)
    for s in scenes:
        check_outputs({"classified raster": s.out, "confidence raster": s.confidence}, {"HSI": s.hsi, "LiDAR": s.lidar})
    tile, token = req.tile or DEFAULT_TILE, secrets.token_hex(4)
    t0 = time.perf_counter()
    runs = [_Run(s, os.path.join(os.path.dirname(s.out), f".{os.path.basename(s.out)}.dask-{token}")) for s in scenes]
    futures: dict = {}
    try:
        with cluster_client(req.cluster, req.threads, req.gdal_cachemax, reporter) as client:
            try:
                for r in runs:
                    os.mkdir(r.folder)
                probes = [client.submit(probe_scene, r.scene.hsi, r.scene.lidar, req.model, r.folder, pure=False)
                          for r in runs]
                for r, info in zip(runs, client.gather(probes)):
                    r.info = info
                    r.tasks = _tasks(r, req, tile)
                client.run(warm_up, req.model)  # every worker present: model loaded once, before its first block
                sent = sum(len(pickle.dumps(t)) for r in runs for t in r.tasks)
                t_started = time.perf_counter()
                for s, r in enumerate(runs):
                    for i, task in enumerate(r.tasks):
                        fut = client.submit(classify_block, task, key=f"mmlgnet-block-{token}-{s}-{i}", pure=False)
                        futures[fut] = (s, i)
                reporter.log(f"{len(futures)} blocks of up to {req.block_tiles} x {req.block_tiles} tiles of {tile} "
                             f"px in {len(runs)} scene(s)")
                received = _collect(client, futures, runs, reporter)
                workers = len(client.scheduler_info().get("workers", {}))
            except BaseException:  # a cancel, Ctrl-C (KeyboardInterrupt), a failed task
                _cancel(client, list(futures))
                raise
        t_assemble = time.perf_counter()
        for r in runs:
            _check_nonempty(r)
            check_cancelled(reporter)
            _publish(r, reporter)
        t_end = time.perf_counter()
    finally:
        for r in runs:
            remove_tree(r.folder)
    results = [res for r in runs for res in r.results.values()]
    info = runs[0].info
    return DistributedClassifyResult(
        outputs=[r.scene.out for r in runs], confidences=[r.scene.confidence for r in runs], classes=info["names"],
        colours=info["colours"], pixels=sum(x["pixels"] for x in results),
        valid_pixels=sum(x["valid_pixels"] for x in results), blocks=len(results), workers=workers,
        seconds=t_end - t0, startup_seconds=t_started - t0, assemble_seconds=t_end - t_assemble,
        task_seconds=sum(x["seconds"] for x in results), classify_seconds=sum(x["classify_seconds"] for x in results),
        task_cpu_seconds=sum(x["cpu_seconds"] for x in results),
        scheduler_bytes=sent + received)
