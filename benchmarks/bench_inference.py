"""Inference speed: per-pixel patches vs whole-scene convolution, and GeoTIFF -> GeoTIFF throughput.

    .venv/bin/python benchmarks/bench_inference.py --out benchmarks/results/inference.md [--size 2048]
Speed does not depend on the weights, so the model is randomly initialised at the default
architecture (patch 15, MiniLM's 384-d space, 6 classes). Both ratios are measured in one run.
On a bare GPU box (torch + numpy only: no GDAL, no scipy) it still runs: the end-to-end stream
reads .npy memmaps instead of GeoTIFFs, and the bf16 check on Trento is skipped with the reason.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_accuracy import commit, machine  # noqa: E402
from mmlgnet_qgis.core.defaults import PRESETS  # noqa: E402
from mmlgnet_qgis.core.inference import predict_patches  # noqa: E402
from mmlgnet_qgis.core.model import MMLGNet, ModelConfig  # noqa: E402
from mmlgnet_qgis.core.pipeline import classify, predict_scene  # noqa: E402


WIDTHS: dict = {}  # the --preset's widths, set once by main()


def make_model(bands, lidar_bands, device):
    torch.manual_seed(0)
    cfg = ModelConfig(hsi_bands=bands, lidar_bands=lidar_bands, embed_dim=384, **WIDTHS)
    return MMLGNet(cfg, torch.randn(6, 384)).eval().to(device), cfg


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def patch_vs_scene(device, height, width, bands, sample):
    """Same model, same random scene: pixels/s of both formulations."""
    rng = np.random.default_rng(0)
    hsi = rng.normal(size=(bands, height, width)).astype(np.float32)
    lidar = rng.normal(size=(1, height, width)).astype(np.float32)
    model, _ = make_model(bands, 1, device)
    predict_scene(model, hsi[:, :64, :64], lidar[:, :64, :64], tile=64, device=device)  # warm-up
    sync(device)
    t = time.perf_counter()
    predict_scene(model, hsi, lidar, tile=512 if device.type == "cpu" else 2048, device=device)
    sync(device)
    scene_s = time.perf_counter() - t
    idx = rng.choice(height * width, size=min(sample, height * width), replace=False)
    rows, cols = np.divmod(idx, width)
    t = time.perf_counter()
    predict_patches(model, hsi, lidar, rows, cols, batch=512 if device.type == "cpu" else 8192, device=device)
    sync(device)
    patch_s = time.perf_counter() - t
    scene_rate, patch_rate = height * width / scene_s, len(rows) / patch_s
    return {"device": str(device), "scene_pixels": height * width, "scene_seconds": scene_s,
            "scene_px_per_s": scene_rate, "patch_pixels": len(rows), "patch_seconds": patch_s,
            "patch_px_per_s": patch_rate, "speedup": scene_rate / patch_rate}


def write_synthetic_pair(folder, size, bands):
    """A size x size, `bands`-band uint16 HSI and a float32 LiDAR, tiled, written tile by tile."""
    from mmlgnet_qgis.raster.grid import RasterGrid
    from mmlgnet_qgis.raster.writer import GeoTiffWriter
    from osgeo import gdal
    grid = RasterGrid.north_up(size, size, 32632, (600000.0, 5100000.0), 1.0)
    rng = np.random.default_rng(0)
    paths = {}
    for name, nb, dtype, gdt in (("hsi", bands, np.uint16, gdal.GDT_UInt16), ("lidar", 1, np.float32, gdal.GDT_Float32)):
        paths[name] = str(Path(folder) / f"{name}.tif")
        opts = ("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "INTERLEAVE=PIXEL", "BIGTIFF=IF_SAFER")
        with GeoTiffWriter(paths[name], grid, nb, gdt, options=opts) as w:
            for y0 in range(0, size, 512):
                h = min(512, size - y0)
                block = (rng.random((nb, h, size)) * 3000 + 500).astype(dtype)
                for b in range(nb):
                    w.write_band(b + 1, 0, y0, block[b])
    return paths


def gdal_available() -> bool:
    try:
        import osgeo.gdal  # noqa: F401
        return True
    except ImportError:
        return False


def _stream(device, bands, hsi, lidar, sink, amp, io, input_paths, write_s):
    """classify() a source pair into a sink with the benchmark model; run statistics."""
    model, _ = make_model(bands, 1, device)
    norm = {"hsi_mean": [2000.0] * bands, "hsi_std": [800.0] * bands, "lidar_mean": [2000.0], "lidar_std": [800.0]}
    stats = classify(model, norm, hsi, lidar, sink, device=str(device), amp=amp)
    stats.update(amp=amp, io=io, mpix_per_s=stats["pixels"] / 1e6 / stats["seconds"], synthetic_write_seconds=write_s,
                 input_gb=sum(os.path.getsize(p) for p in input_paths) / 1e9)
    return stats


def end_to_end_npy(device, size, bands, folder, amp=False):
    """The same stream without GDAL (a bare GPU box): uint16 .npy memmaps in, memory out."""
    from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource
    hsi_path, lidar_path = Path(folder) / "hsi.npy", Path(folder) / "lidar.npy"
    t = time.perf_counter()
    if not hsi_path.is_file():
        rng = np.random.default_rng(0)
        hsi = np.lib.format.open_memmap(hsi_path, "w+", np.uint16, (bands, size, size))
        for y0 in range(0, size, 512):
            hsi[:, y0:y0 + 512] = rng.random((bands, min(512, size - y0), size)) * 3000 + 500
        hsi.flush()
        np.save(lidar_path, (rng.random((1, size, size)) * 3000 + 500).astype(np.float32))
    write_s = time.perf_counter() - t
    hsi = ArraySource(np.load(hsi_path, mmap_mode="r"), "hsi")
    lidar = ArraySource(np.load(lidar_path, mmap_mode="r"), "lidar")
    return _stream(device, bands, hsi, lidar, ArraySink(size, size, np.uint16, 0), amp, "npy memmap -> memory",
                   (hsi_path, lidar_path), write_s)


def end_to_end(device, size, bands, folder, amp=False):
    if not gdal_available():
        return end_to_end_npy(device, size, bands, folder, amp)
    from mmlgnet_qgis.raster.reader import RasterSource
    from mmlgnet_qgis.raster.writer import ClassRasterWriter
    t = time.perf_counter()
    paths = {"hsi": str(Path(folder) / "hsi.tif"), "lidar": str(Path(folder) / "lidar.tif")}
    if not Path(paths["hsi"]).is_file():  # the bf16 run reuses the float32 run's input
        paths = write_synthetic_pair(folder, size, bands)
    write_s = time.perf_counter() - t
    hsi, lidar = RasterSource(paths["hsi"], "hsi"), RasterSource(paths["lidar"], "lidar")
    with ClassRasterWriter(str(Path(folder) / "classes.tif"), hsi.grid, [f"c{i}" for i in range(1, 7)]) as writer:
        return _stream(device, bands, hsi, lidar, writer, amp, "GeoTIFF -> GeoTIFF", paths.values(), write_s)


def amp_agreement(model_path, data, device):
    """Fraction of identical labels, bf16 autocast vs float32, with a trained model on Trento."""
    from bench_accuracy import load_scene
    from mmlgnet_qgis.core.model_file import load_model
    from mmlgnet_qgis.core.normalization import normalise
    model, man = load_model(model_path)
    hsi, lidar, _, _ = load_scene("trento", data)
    n = man.normalisation
    h = normalise(hsi.array, n["hsi_mean"], n["hsi_std"])
    l = normalise(lidar.array, n["lidar_mean"], n["lidar_std"])
    ids32, sim32 = predict_scene(model, h, l, tile=512, device=device)
    t = time.perf_counter()
    ids16, sim16 = predict_scene(model, h, l, tile=512, device=device, amp_dtype=torch.bfloat16)
    return {"device": str(device), "identical_labels": float((ids32 == ids16).mean()),
            "max_abs_cosine_diff": float(np.abs(sim32 - sim16).max()), "bf16_seconds": time.perf_counter() - t}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/inference.md")
    ap.add_argument("--size", type=int, default=2048, help="side of the synthetic end-to-end raster")
    ap.add_argument("--bands", type=int, default=64)
    ap.add_argument("--sample", type=int, default=4096, help="pixels for the per-pixel patch timing on CPU")
    ap.add_argument("--model", default="demo-out/model.safetensors", help="trained Trento model for the bf16 check")
    ap.add_argument("--data", default=None)
    ap.add_argument("--preset", default="standard", choices=sorted(PRESETS), help="network widths")
    args = ap.parse_args()
    WIDTHS.update(PRESETS[args.preset])
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results = {"meta": {"command": " ".join(sys.argv), "commit": commit(), "machine": machine(),
                        "date": time.strftime("%Y-%m-%d %H:%M")}, "runs": []}
    for dev in devices:
        sample = args.sample if dev.type == "cpu" else 166 * 600
        r = {"patch_vs_scene": patch_vs_scene(dev, 166, 600, 63, sample)}
        print(json.dumps(r), flush=True)
        with tempfile.TemporaryDirectory(dir=os.environ.get("MMLGNET_BENCH_TMP")) as tmp:
            r["end_to_end"] = end_to_end(dev, args.size, args.bands, tmp)
            print(json.dumps(r["end_to_end"]), flush=True)
            r["end_to_end_bf16"] = end_to_end(dev, args.size, args.bands, tmp, amp=True)
            print(json.dumps(r["end_to_end_bf16"]), flush=True)
        if Path(args.model).is_file():
            try:
                r["amp"] = amp_agreement(args.model, args.data, dev)
                print(json.dumps(r["amp"]), flush=True)
            except (ImportError, FileNotFoundError) as exc:  # no scipy / no Trento data on this machine
                print(f"bf16 agreement skipped: {exc}", flush=True)
        results["runs"].append(r)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))
    results["meta"]["preset"] = args.preset
    lines = ["# Inference benchmark", "", f"- command: `{results['meta']['command']}`",
             f"- model: default architecture, {args.preset} widths {PRESETS[args.preset]}, random weights",
             f"- commit {results['meta']['commit']}, {results['meta']['date']}", f"- machine: {results['meta']['machine']}", "",
             "| device | precision | whole-scene px/s | per-pixel patches px/s | speed-up | end to end | Mpix/s | read s | normalise s | compute s | write s | total s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["runs"]:
        p = r["patch_vs_scene"]
        for key, precision in (("end_to_end", "float32"), ("end_to_end_bf16", "bf16 (`--amp`)")):
            e = r[key]
            head = (f"| {p['scene_px_per_s']:.0f} | {p['patch_px_per_s']:.0f} | {p['speedup']:.1f}x" if key == "end_to_end"
                    else "| | |")
            lines.append(f"| {p['device']} | {precision} {head} | {e['io']} | {e['mpix_per_s']:.3f} | {e['read_seconds']:.1f} | "
                         f"{e['normalise_seconds']:.1f} | {e['compute_seconds']:.1f} | {e['write_seconds']:.1f} | "
                         f"{e['seconds']:.1f} |")
    for r in results["runs"]:
        if "amp" in r:
            a = r["amp"]
            lines.append(f"\nbf16 autocast vs float32 on {a['device']} (trained Trento model, whole scene): "
                         f"{100 * a['identical_labels']:.3f} % identical labels, max |cosine difference| "
                         f"{a['max_abs_cosine_diff']:.4f}.")
    lines += ["", f"Whole-scene: Trento-sized random scene (166 x 600, 63 bands); per-pixel: {args.sample} random "
              "pixels on CPU (all pixels on GPU), same model. End to end: synthetic "
              f"{args.size} x {args.size} x {args.bands}-band uint16 HSI + LiDAR -> classified map (tiled GeoTIFFs "
              "where GDAL is installed, else .npy memmaps in and memory out); "
              "read and normalise run in the reader thread, overlapped with compute and write."]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
