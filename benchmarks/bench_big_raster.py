"""Bounded memory: classify a synthetic 64-band raster larger than this machine's RAM.

    .venv/bin/python benchmarks/bench_big_raster.py --gb 30 --dir /path/with/space --out benchmarks/results/big_raster.md
Writes the HSI (uint16, tiled, pixel-interleaved) and a LiDAR tile by tile with GDAL, saves a
small randomly initialised model file (speed and memory do not depend on the weights; a narrow
network keeps a 2-core run in minutes), then runs the real command line under /usr/bin/time -v
and records its peak RSS. The rasters are deleted afterwards unless --keep.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_accuracy import commit, machine  # noqa: E402
from mmlgnet_qgis.core.model import MMLGNet, ModelConfig  # noqa: E402
from mmlgnet_qgis.core.model_file import save_model  # noqa: E402


def write_rasters(folder: Path, side: int, bands: int):
    from osgeo import gdal
    from mmlgnet_qgis.raster.grid import RasterGrid
    from mmlgnet_qgis.raster.writer import GeoTiffWriter
    grid = RasterGrid.north_up(side, side, 32632, (600000.0, 5100000.0), 1.0)
    opts = ("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "INTERLEAVE=PIXEL", "BIGTIFF=YES")
    rng = np.random.default_rng(0)
    base = (rng.random((bands, 256, side)) * 3000 + 500).astype(np.uint16)  # reused: writing speed matters
    paths = {"hsi": folder / "big_hsi.tif", "lidar": folder / "big_lidar.tif"}
    with GeoTiffWriter(paths["hsi"], grid, bands, gdal.GDT_UInt16, options=opts) as w:
        for y0 in range(0, side, 256):
            h = min(256, side - y0)
            block = np.roll(base[:, :h], y0 % 97, axis=2)
            w.dataset.WriteRaster(0, y0, side, h, block.tobytes(), buf_type=gdal.GDT_UInt16,
                                  band_list=list(range(1, bands + 1)))
            print(f"\rwriting HSI rows {y0 + h}/{side}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with GeoTiffWriter(paths["lidar"], grid, 1, gdal.GDT_Float32, options=opts) as w:
        for y0 in range(0, side, 256):
            h = min(256, side - y0)
            w.write_band(1, 0, y0, rng.random((h, side), dtype=np.float32) * 20)
    return paths


def write_model(path: Path, bands: int):
    torch.manual_seed(0)
    cfg = ModelConfig(hsi_bands=bands, lidar_bands=1, embed_dim=384, patch_size=7, hsi_width=8,
                      lidar_width=4, fusion_width=8)
    model = MMLGNet(cfg, torch.randn(6, 384)).eval()
    manifest = {"hsi_bands": bands, "lidar_bands": 1,
                "normalisation": {"hsi_mean": [2000.0] * bands, "hsi_std": [800.0] * bands,
                                  "lidar_mean": [10.0], "lidar_std": [6.0]},
                "classes": [{"id": i, "name": f"class {i}", "color": "#%02x%02x80" % (40 * i, 255 - 40 * i)}
                            for i in range(1, 7)],
                "text_encoder": {"kind": "none", "model": "random", "dim": 384}}
    save_model(path, model, manifest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=30.0, help="HSI size in GB (1e9 bytes)")
    ap.add_argument("--bands", type=int, default=64)
    ap.add_argument("--dir", default="/tmp/mmlgnet-big")
    ap.add_argument("--out", default="benchmarks/results/big_raster.md")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse rasters of the right size left by --keep")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    side = int(np.ceil(np.sqrt(args.gb * 1e9 / (2 * args.bands))))
    t = time.perf_counter()
    paths = {"hsi": folder / "big_hsi.tif", "lidar": folder / "big_lidar.tif"}
    if not (args.reuse and all(p.is_file() for p in paths.values())
            and paths["hsi"].stat().st_size >= side * side * args.bands * 2):
        paths = write_rasters(folder, side, args.bands)
    write_s = time.perf_counter() - t
    model = folder / "tiny.safetensors"
    write_model(model, args.bands)
    out = folder / "big_classes.tif"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", str(model),
           "--hsi", str(paths["hsi"]), "--lidar", str(paths["lidar"]), "--out", str(out), "--device", "cpu"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    run_s = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    res = {"command": " ".join(cmd[2:]), "commit": commit(), "machine": machine(), "side": side,
           "bands": args.bands, "hsi_bytes": paths["hsi"].stat().st_size, "write_seconds": write_s,
           "classify_seconds": run_s, "peak_rss_gib": rss_kb / 2**20, "mpix": side * side / 1e6,
           "classified_line": [l for l in proc.stderr.splitlines() if l.startswith("classified")][-1:]}
    Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1))
    Path(args.out).write_text(
        "# Larger-than-RAM raster\n\n"
        f"- command: `/usr/bin/time -v {res['command']}`\n- commit {res['commit']}, machine {res['machine']}\n\n"
        f"| HSI | pixels | classify s | Mpix/s | peak RSS |\n| --- | --- | --- | --- | --- |\n"
        f"| {side} x {side} x {args.bands} uint16, {res['hsi_bytes'] / 1e9:.1f} GB | {res['mpix']:.0f} M | "
        f"{run_s:.0f} | {res['mpix'] / run_s:.2f} | {res['peak_rss_gib']:.2f} GiB |\n\n"
        "Model: default architecture family at patch 7 and widths 8/4/8, random weights (memory and I/O, "
        "not accuracy, are measured). Machine RAM 24 GiB.\n")
    print(json.dumps(res, indent=1))
    if not args.keep:
        for p in (paths["hsi"], paths["lidar"], out):
            p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
