"""Tile size and thread count on CPU (issue 17): Mpix/s of the default engine and of ONNX Runtime.

    .venv/bin/python benchmarks/bench_tile_threads.py --out benchmarks/results/inference_cpu_tiles.json

The `make demo` model, no confidence (the CLI default), one random halo-padded tile per size;
every (engine, tile, threads) combination runs once per round, rounds interleaved; medians.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_accuracy import commit, machine  # noqa: E402
from mmlgnet_qgis.core.folding import fold_batchnorm  # noqa: E402
from mmlgnet_qgis.core.inference import predict_tile  # noqa: E402
from mmlgnet_qgis.core.model_file import load_model  # noqa: E402
from mmlgnet_qgis.core.onnx_runtime import OnnxTileModel  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/inference_cpu_tiles.json")
    ap.add_argument("--model", default="demo-out/model.safetensors")
    ap.add_argument("--tiles", default="256,512,1024")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    model, _ = load_model(args.model)
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)
    p, rng = model.cfg.patch_size, np.random.default_rng(0)
    tiles, threads = [int(t) for t in args.tiles.split(",")], [int(t) for t in args.threads.split(",")]
    data = {t: (rng.normal(size=(model.cfg.hsi_bands, t + p - 1, t + p - 1)).astype(np.float32),
                rng.normal(size=(model.cfg.lidar_bands, t + p - 1, t + p - 1)).astype(np.float32)) for t in tiles}
    ort = {n: OnnxTileModel(folded, threads=n) for n in threads}
    engines = {"torch (default)": lambda n, h, l: predict_tile(folded, h, l, with_similarity=False),
               "onnx": lambda n, h, l: ort[n].predict(h, l, with_similarity=False)}
    combos = [(e, t, n) for e in engines for t in tiles for n in threads]
    for e, t, n in combos:  # warm-up: sessions, oneDNN primitives for each shape
        torch.set_num_threads(n)
        engines[e](n, data[t][0][:, :64, :64], data[t][1][:, :64, :64])
        engines[e](n, *data[t])
    times = {c: [] for c in combos}
    for _ in range(args.rounds):
        for e, t, n in combos:
            torch.set_num_threads(n)
            s = time.perf_counter()
            engines[e](n, *data[t])
            times[(e, t, n)].append(time.perf_counter() - s)
            print(e, t, n, round(times[(e, t, n)][-1], 2), flush=True)
    rows = [{"engine": e, "tile": t, "threads": n, "mpix_s_median": t * t / float(np.median(times[(e, t, n)])) / 1e6,
             "seconds": times[(e, t, n)]} for e, t, n in combos]
    out = {"meta": {"command": " ".join(sys.argv), "commit": commit(), "machine": machine(),
                    "date": time.strftime("%Y-%m-%d %H:%M")}, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    for r in rows:
        print(r["engine"], r["tile"], r["threads"], round(r["mpix_s_median"], 4))


if __name__ == "__main__":
    main()
