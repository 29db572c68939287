"""Classification on Dask: one process vs a LocalCluster of 1 and 2 worker processes, in one run.

    .venv/bin/python benchmarks/bench_distributed.py --out benchmarks/results/distributed.md [--size 1024]

Speed does not depend on the weights, so the model is randomly initialised at the default
architecture (standard widths, patch 15, 384-d, 6 classes) and saved as a model file; the raster is
a synthetic uint16 HSI + float32 LiDAR GeoTIFF. Reports wall time, speed-up and efficiency over
the single process, the per-task overhead (time inside tasks but outside the network, and worker
time not spent in tasks), the bytes of task arguments and results through the scheduler, and the
assembly rate; checks that every run's labels equal the single process's. Then the per-worker
(1 thread) rate at 224 bands, for the on-paper sizing of a 100,000 x 100,000 x 224 mosaic.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_accuracy import commit, machine  # noqa: E402
from bench_inference import write_synthetic_pair  # noqa: E402

CLASSES = 6


def model_file(path: Path, bands: int) -> str:
    """A random default-architecture model saved as a model file (what the workers load)."""
    from mmlgnet_qgis.core.manifest import ClassInfo, Manifest
    from mmlgnet_qgis.core.model import MMLGNet, ModelConfig
    from mmlgnet_qgis.core.model_file import save_model
    torch.manual_seed(0)
    cfg = ModelConfig(hsi_bands=bands, lidar_bands=1, embed_dim=384)
    model = MMLGNet(cfg, torch.nn.functional.normalize(torch.randn(CLASSES, 384), dim=1)).eval()
    manifest = Manifest(hsi_bands=bands, lidar_bands=1, model=cfg.to_dict(),
                        classes=[ClassInfo(i, f"class {i}", "#336699") for i in range(1, CLASSES + 1)],
                        text_encoder={"kind": "minilm", "model": "random", "dim": 384},
                        class_embeddings=model.class_embeddings.numpy().tolist(),
                        normalisation={"hsi_mean": [2000.0] * bands, "hsi_std": [800.0] * bands,
                                       "lidar_mean": [2000.0], "lidar_std": [800.0]})
    save_model(path, model, manifest)
    return str(path)


def pixels_of(path: str | Path) -> np.ndarray:
    """Band 1: labels, or confidence with its nodata."""
    from osgeo import gdal
    ds = gdal.Open(str(path))  # kept alive while its band is read (else GDAL crashes)
    return ds.GetRasterBand(1).ReadAsArray()


def confidence_of(out: Path) -> Path:
    return out.with_name(out.stem + "_confidence.tif")


def single(model: str, paths: dict, out: Path, threads: int) -> dict:
    from mmlgnet_qgis import app
    from mmlgnet_qgis.app.requests import ClassifyRequest
    t, c = time.perf_counter(), time.process_time()
    res = app.run(ClassifyRequest(model=model, hsi=paths["hsi"], lidar=paths["lidar"], out=str(out), device="cpu",
                                  confidence=str(confidence_of(out)), threads=threads))
    return {"config": f"single process, {threads} torch thread(s)", "seconds": time.perf_counter() - t,
            "cpu_seconds": time.process_time() - c, "pixels": res.pixels, "out": str(out)}


def distributed(model: str, paths: dict, out: Path, workers: int, block_tiles: int) -> dict:
    from mmlgnet_qgis import app
    from mmlgnet_qgis.app.distributed_requests import DistributedClassifyRequest
    t = time.perf_counter()
    r = app.run(DistributedClassifyRequest(model=model, hsi=[paths["hsi"]], lidar=[paths["lidar"]], out=str(out),
                                           confidence=str(confidence_of(out)), cluster=f"local:{workers}",
                                           device="cpu", block_tiles=block_tiles))
    wall = time.perf_counter() - t
    compute = r.seconds - r.startup_seconds - r.assemble_seconds  # first block submitted -> last one back
    return {"config": f"LocalCluster, {workers} worker(s) x 1 thread", "seconds": wall, "pixels": r.pixels,
            "out": str(out), "workers": r.workers, "blocks": r.blocks, "startup_seconds": r.startup_seconds,
            "compute_seconds": compute, "assemble_seconds": r.assemble_seconds, "task_seconds": r.task_seconds,
            "classify_seconds": r.classify_seconds, "cpu_seconds": r.task_cpu_seconds,
            "scheduler_bytes": r.scheduler_bytes,
            "in_task_overhead_ms": 1000 * (r.task_seconds - r.classify_seconds) / r.blocks,
            "idle_per_task_ms": 1000 * max(0.0, workers * compute - r.task_seconds) / r.blocks}


def worker_rate(folder: Path, bands: int, size: int) -> dict:
    """Mpix/s of one process with one torch thread (a Dask worker's setting) at `bands` bands."""
    folder.mkdir()
    paths = write_synthetic_pair(folder, size, bands)
    model = model_file(folder / "model.safetensors", bands)
    torch.set_num_threads(1)
    res = single(model, paths, folder / "classes.tif", 1)
    return {"bands": bands, "pixels": res["pixels"], "seconds": res["seconds"], "cpu_seconds": res["cpu_seconds"],
            "mpix_per_s": res["pixels"] / 1e6 / res["seconds"],
            "mpix_per_cpu_s": res["pixels"] / 1e6 / res["cpu_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/distributed.md")
    ap.add_argument("--size", type=int, default=1024, help="side of the synthetic raster")
    ap.add_argument("--bands", type=int, default=63, help="HSI bands (63: Trento's)")
    ap.add_argument("--block-tiles", type=int, default=1, help="tiles of 512 per task side")
    ap.add_argument("--rate-size", type=int, default=512, help="side of the 224-band raster for the worker rate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_dask_") as tmp:
        folder = Path(tmp)
        paths = write_synthetic_pair(folder, args.size, args.bands)
        model = model_file(folder / "model.safetensors", args.bands)
        runs = [single(model, paths, folder / "single2.tif", 2), single(model, paths, folder / "single1.tif", 1)]
        for n in (1, 2):
            runs.append(distributed(model, paths, folder / f"dask{n}.tif", n, args.block_tiles))
        # torch's thread count changes the float sums (oneDNN splits reductions by thread): confidence is
        # compared bit for bit with the single process of the workers' thread count (1), and in value with 2
        ref = pixels_of(runs[0]["out"])
        conf2, conf1 = (pixels_of(confidence_of(Path(r["out"]))) for r in runs[:2])
        for r in runs:
            out = r.pop("out")
            conf = pixels_of(confidence_of(Path(out)))
            r["identical_labels"] = bool(np.array_equal(pixels_of(out), ref))
            r["identical_confidence_vs_1_thread"] = conf.tobytes() == conf1.tobytes()
            r["max_confidence_diff_vs_2_threads"] = float(np.abs(conf - conf2).max())
            r["speedup_vs_single_2_threads"] = runs[0]["seconds"] / r["seconds"]
            r["speedup_vs_single_1_thread"] = runs[1]["seconds"] / r["seconds"]
            r["mpix_per_s"] = r["pixels"] / 1e6 / r["seconds"]
            r["mpix_per_cpu_s"] = r["pixels"] / 1e6 / r["cpu_seconds"]  # robust to other processes on the cores
        rate = worker_rate(folder / "rate", 224, args.rate_size) if args.rate_size else None
    data = {"machine": machine(), "commit": commit(), "size": args.size, "bands": args.bands,
            "block_tiles": args.block_tiles, "runs": runs, "worker_rate_224": rate,
            "command": " ".join(["benchmarks/bench_distributed.py", *sys.argv[1:]])}
    Path(args.out).with_suffix(".json").write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
