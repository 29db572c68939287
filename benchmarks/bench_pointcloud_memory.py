"""Peak memory and speed of rasterising a large LAZ: streamed in chunks, bounded by the grid.

Writes synthetic LAZ files of --points points each (LAS 1.4, point format 6, EPSG:32632, written in
chunks so this script stays small too) over a --size x --size m area, then runs the command line
`rasterise-lidar` (all five products, 1 m grid) under /usr/bin/time -v, once reading 1,000,000
points at a time and once 100,000, and reports peak RSS against the cloud's size.
    .venv/bin/python benchmarks/bench_pointcloud_memory.py --out benchmarks/results/pointcloud_memory.md
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mmlgnet_qgis.raster.grid import RasterGrid  # noqa: E402
from mmlgnet_qgis.raster.writer import FloatRasterWriter  # noqa: E402

ORIGIN = (664000.0, 5104000.0)


def write_cloud(path: Path, n: int, size: int, chunk: int = 2_000_000) -> None:
    """n points: terrain + buildings + noise, classes 1 / 2, intensity, one or two returns."""
    import laspy
    from laspy.vlrs.known import WktCoordinateSystemVlr
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([ORIGIN[0], ORIGIN[1] - size, 0.0])
    header.vlrs.append(WktCoordinateSystemVlr(srs.ExportToWkt()))
    header.global_encoding.wkt = True
    rng = np.random.default_rng(0)
    with laspy.open(str(path), mode="w", header=header) as w:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            pts = laspy.ScaleAwarePointRecord.zeros(k, header=header)
            x, y = rng.uniform(0, size, k), rng.uniform(0, size, k)
            roof = (np.sin(x / 37.0) > 0.6) & (np.cos(y / 23.0) > 0.5)
            pts.x, pts.y = ORIGIN[0] + x, ORIGIN[1] - y
            pts.z = 200 + 0.01 * x + np.where(roof, 9.0, 0.0) + rng.normal(0, 0.03, k)
            pts.classification = np.where(roof, 6, 2).astype(np.uint8)
            pts.return_number = np.ones(k, np.uint8)
            pts.number_of_returns = np.ones(k, np.uint8)
            pts.intensity = rng.integers(200, 3000, k).astype(np.uint16)
            w.write_points(pts)


def timed(args: list[str]) -> dict:
    """Run under /usr/bin/time -v; peak RSS (MiB) and wall seconds."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "mmlgnet_qgis", *args], cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return {"peak_rss_mib": round(rss / 1024, 1), "seconds": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, nargs="+", default=[3_000_000, 30_000_000],
                    help="cloud sizes: peak memory should not grow with them")
    ap.add_argument("--size", type=int, default=2000, help="side of the area and of the 1 m grid (m, px)")
    ap.add_argument("--work")
    ap.add_argument("--out", default="benchmarks/results/pointcloud_memory.md")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mmlgnet-pcmem-"))
    work.mkdir(parents=True, exist_ok=True)
    ref = work / "reference.tif"
    grid = RasterGrid.north_up(args.size, args.size, 32632, ORIGIN, 1.0)
    with FloatRasterWriter(ref, grid) as w:
        w.write_window(0, 0, np.zeros((args.size, args.size), np.float32))
    runs = []
    for n in args.points:
        laz = work / f"cloud_{n}.laz"
        if not laz.exists():
            write_cloud(laz, n, args.size)
        for chunk in (1_000_000, 100_000):
            out = work / f"lidar_{chunk}.tif"
            r = timed(["rasterise-lidar", "--point-clouds", str(laz), "--reference", str(ref), "--out", str(out),
                       "--products", "dsm,dtm,ndsm,intensity,density", "--chunk-points", str(chunk)])
            out.unlink()
            # what the arrays of the whole cloud would take (x, y, z float64 + class, returns, intensity)
            runs.append({"points": n, "laz_mib": round(laz.stat().st_size / 2 ** 20, 1), "chunk": chunk,
                         "whole_cloud_arrays_mib": round(n * (3 * 8 + 1 + 1 + 2) / 2 ** 20), **r})
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    result = {"commit": rev, "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu,
              "cores": os.cpu_count(), "grid": f"{args.size} x {args.size}", "runs": runs,
              "command": "benchmarks/bench_pointcloud_memory.py " + " ".join(sys.argv[1:])}
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Rasterising a large LAZ: peak memory and speed (synthetic cloud)", "",
        f"- command: `{result['command']}`, commit {rev}, {result['date']}",
        f"- machine: {cpu}, {os.cpu_count()} cores (shared)",
        "- clouds: LAS 1.4 point format 6, EPSG:32632, uniform over the grid; 'whole' = what their x, y, z, class, "
        "return and intensity arrays would take if read at once",
        f"- grid: {result['grid']} px of 1 m; products dsm, dtm, ndsm, intensity, density "
        f"(`python -m mmlgnet_qgis rasterise-lidar`, under `/usr/bin/time -v`)", "",
        "| points | LAZ MiB | whole MiB | points read at a time | peak RSS MiB | wall s | points / s |",
        "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        lines.append(f"| {r['points']:,} | {r['laz_mib']} | {r['whole_cloud_arrays_mib']:,} | {r['chunk']:,} | "
                     f"{r['peak_rss_mib']} | {r['seconds']} | {r['points'] / r['seconds']:,.0f} |")
    lines += ["", "Peak memory follows the grid and the chunk, not the cloud: the per-cell accumulators of a "
              f"{result['grid']} grid, the products and one chunk (plus Python, numpy, GDAL and laspy themselves).", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
