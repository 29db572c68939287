"""End to end on CPU (issue 17): `python -m mmlgnet_qgis classify` on a 2000 x 2000 x 63-band GeoTIFF.

    .venv/bin/python benchmarks/bench_classify_cpu.py --out benchmarks/results/inference_cpu_e2e.json \
        [--before /tmp/old-checkout] [--rounds 2]

Each configuration is one CLI process (the `make demo` model, no confidence raster: the CLI
default), configurations interleaved round by round; seconds are the classify log's own (tiles
read, computed, written) and the process's wall time. --before runs the same command from
another checkout (e.g. `git archive <commit>` of the code before issue 17) for the old default.
Agreement: share of pixels with the same class as the first configuration's output.
"""
from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from bench_accuracy import commit, machine  # noqa: E402
from bench_inference import write_synthetic_pair  # noqa: E402


def run_cli(root, model, paths, out, extra, threads):
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", str(model), "--hsi", paths["hsi"],
           "--lidar", paths["lidar"], "--out", out, "--threads", str(threads), *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError(f"{cmd} failed: {p.stderr[-2000:]}")
    m = re.search(r"in ([0-9.]+) s \(([0-9.]+) Mpix/s\)", p.stderr)
    return {"wall_s": wall, "classify_s": float(m.group(1))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/inference_cpu_e2e.json")
    ap.add_argument("--model", default=str(ROOT / "demo-out/model.safetensors"))
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--bands", type=int, default=63)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", default=None, help="a checkout of the code before the change (old default)")
    ap.add_argument("--configs", default="torch,torch --amp,onnx", help="comma-separated CLI extras")
    args = ap.parse_args()
    from osgeo import gdal
    configs = []
    if args.before:
        configs.append(("before: torch float32 (old default)", Path(args.before), []))
    for c in args.configs.split(","):
        words = c.split()
        extra = (["--runtime", words[0]] if words[0] != "torch" else []) + words[1:]
        configs.append((f"now: {c}", ROOT, extra))
    res = {name: [] for name, _, _ in configs}
    labels = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("MMLGNET_BENCH_TMP")) as tmp:
        paths = write_synthetic_pair(tmp, args.size, args.bands)
        for r in range(args.rounds):
            for i, (name, root, extra) in enumerate(configs):
                out = str(Path(tmp) / f"c{i}.tif")
                res[name].append(run_cli(root, args.model, paths, out, extra, args.threads))
                res[name][-1]["mpix_s"] = args.size ** 2 / 1e6 / res[name][-1]["classify_s"]  # log rounds to 0.01
                print(name, json.dumps(res[name][-1]), flush=True)
                if r == 0:
                    labels[name] = gdal.Open(out).ReadAsArray()
    first = configs[0][0]
    rows = [{"config": name, "mpix_s_median": float(np.median([x["mpix_s"] for x in res[name]])),
             "mpix_s_best": max(x["mpix_s"] for x in res[name]), "runs": res[name],
             "agreement_vs_first": float((labels[name] == labels[first]).mean())} for name, _, _ in configs]
    out = {"meta": {"command": " ".join(sys.argv), "commit": commit(), "machine": machine(),
                    "date": time.strftime("%Y-%m-%d %H:%M"), "size": args.size, "bands": args.bands,
                    "threads": args.threads, "load_average_at_end": os.getloadavg()}, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    for r in rows:
        print(r["config"], round(r["mpix_s_median"], 4), round(r["agreement_vs_first"], 5))


if __name__ == "__main__":
    main()
