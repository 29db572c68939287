"""The request of classification on a Dask cluster: one or many scenes, one output each.

Kept apart from `ClassifyRequest` (one scene, in process): the fields that name a cluster, a list
of scenes and an output folder mean nothing there.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field

from .requests import Request

LOCAL = "local"  # "local" / "local:N": a LocalCluster of N worker processes in this machine


@dataclass
class DistributedClassifyRequest(Request):
    """Classify scenes on a Dask cluster, block by block; one class GeoTIFF (+ confidence) per scene."""

    kind: typing.ClassVar[str] = "classify_distributed"
    model: str                                 # a path every worker can open
    hsi: list[str] = field(default_factory=list)   # GDAL rasters the workers can open (shared FS, /vsis3/...)
    lidar: list[str] = field(default_factory=list)  # pairwise with hsi
    scenes: str | None = None                  # ...or a CSV: hsi,lidar[,out[,confidence]] per line
    out: str | None = None                     # one scene: its class GeoTIFF
    confidence: str | None = None              # one scene: its confidence GeoTIFF
    out_dir: str | None = None                 # several scenes: <hsi name>_classes.tif here
    with_confidence: bool = False              # with out_dir: also <hsi name>_confidence.tif
    cluster: str = LOCAL                       # local, local:N, or a scheduler address tcp://host:port
    tile: int = 0                              # 0 = 512
    block_tiles: int = 4                       # a task classifies block_tiles x block_tiles tiles
    device: str = "auto"                       # on the workers
    amp: bool = False
    threads: int = 1                           # torch threads per worker process
    gdal_cachemax: int = 256                   # MB of GDAL block cache per worker process


@dataclass
class DistributedClassifyResult:
    """The outputs of every scene and what the run cost."""

    outputs: list[str]
    confidences: list[str | None]
    classes: list[str]
    colours: list[str]
    pixels: int
    valid_pixels: int
    blocks: int
    workers: int
    seconds: float                             # the whole call: cluster start, probe, blocks, assembly
    startup_seconds: float                     # reaching / starting the cluster and probing the scenes
    assemble_seconds: float                    # VRT -> one GeoTIFF per output, on this machine
    task_seconds: float                        # summed time inside the tasks (open, read, network, write)
    classify_seconds: float                    # ...of which core.pipeline.classify (read, network, write tiles)
    task_cpu_seconds: float                    # CPU time of the worker processes during the tasks
    scheduler_bytes: int                       # pickled task arguments and results: what crossed the scheduler
