"""What the worker process costs: start-up, time to the first tile / first epoch, the dock's encodes.

    .venv/bin/python benchmarks/bench_worker.py --out benchmarks/results/worker.md [--repeats 3]

Every clock starts when the process is launched (what a user waits for after pressing Run).
"worker" runs the request through mmlgnet_qgis.worker (as QGIS does); "in-process" runs the same
request with app.run in a fresh interpreter (as the command line does), for comparison. The
scene is Trento-sized (600 x 166 px, 63 HSI bands + 1 LiDAR band, 819 labelled pixels, random
values: speed does not depend on them), the network the standard preset, 1 torch thread.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mmlgnet_qgis.app.requests import ClassifyRequest, EncodeRequest, TrainRequest  # noqa: E402
from mmlgnet_qgis.worker.client import WorkerProcess  # noqa: E402

ENV = {"OMP_NUM_THREADS": "1"}
PROMPTS = (ROOT / "resources" / "prompts" / "trento.json").read_text(encoding="utf-8")

IN_PROCESS = """
import json, sys, time
t0 = float(sys.argv[2])
from mmlgnet_qgis import app
from mmlgnet_qgis.app.requests import request_from_dict
class R:
    first = None
    def progress(self, done, total, metrics=None):
        if self.first is None:
            self.first = time.time() - t0
    def log(self, m): pass
    def warning(self, m): pass
    def is_cancelled(self): return False
r = R()
app.run(request_from_dict(json.loads(sys.argv[1])), r)
print(json.dumps({"first": r.first, "total": time.time() - t0}))
"""


def write_scene(folder: Path) -> dict:
    """Trento-sized random GeoTIFFs."""
    from osgeo import gdal, osr
    gdal.UseExceptions()
    rng = np.random.default_rng(0)
    h, w = 166, 600
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)

    def tif(name, array, dtype):
        ds = gdal.GetDriverByName("GTiff").Create(str(folder / name), w, h, array.shape[0], dtype)
        ds.SetGeoTransform((600000, 1, 0, 5100000, 0, -1))
        ds.SetProjection(srs.ExportToWkt())
        for i, band in enumerate(array):
            ds.GetRasterBand(i + 1).WriteArray(band)
        ds = None
        return str(folder / name)
    labels = np.zeros((1, h, w), np.uint8)
    idx = rng.choice(h * w, 819, replace=False)
    labels.flat[idx] = rng.integers(1, 7, 819)
    return {"hsi": tif("hsi.tif", rng.uniform(0, 1000, (63, h, w)).astype(np.float32), gdal.GDT_Float32),
            "lidar": tif("lidar.tif", rng.uniform(0, 30, (1, h, w)).astype(np.float32), gdal.GDT_Float32),
            "labels": tif("labels.tif", labels, gdal.GDT_Byte)}


class FirstProgress:
    """A Reporter that notes when the first progress line arrived."""

    def __init__(self, t0: float) -> None:
        self.t0, self.first = t0, None

    def progress(self, done, total, metrics=None):
        if self.first is None:
            self.first = time.perf_counter() - self.t0

    def log(self, message):
        pass

    def warning(self, message):
        pass

    def is_cancelled(self):
        return False


def in_worker(python: str, request) -> dict:
    t0 = time.perf_counter()
    worker = WorkerProcess(python, env=ENV)
    ready = worker.start()
    rec = FirstProgress(t0)
    worker.run(request, rec)
    total = time.perf_counter() - t0
    worker.close()
    return {"ready": ready, "first": rec.first, "total": total}


def in_process(python: str, request) -> dict:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([python, "-c", IN_PROCESS, json.dumps(request.to_dict()), repr(time.time())],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "worker.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="the worker's interpreter")
    args = parser.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scene = write_scene(Path(tmp))
        model = str(Path(tmp) / "model.safetensors")
        train = TrainRequest(hsi=scene["hsi"], lidar=scene["lidar"], train_labels=scene["labels"], prompts=PROMPTS,
                             out=model, epochs=1, device="cpu", threads=1)
        classify = ClassifyRequest(model=model, hsi=scene["hsi"], lidar=scene["lidar"],
                                   out=str(Path(tmp) / "classes.tif"), device="cpu", threads=1)
        for name, request in (("train, 1 epoch", train), ("classify, 2 tiles of 512", classify)):
            runs_w, runs_p = [], []
            for _ in range(args.repeats):  # alternated: a busy machine slows both alike
                runs_w.append(in_worker(args.python, request))
                runs_p.append(in_process(args.python, request))
            rows[name] = {"worker_ready": median(runs_w, "ready"), "worker_first": median(runs_w, "first"),
                          "worker_total": median(runs_w, "total"), "inprocess_first": median(runs_p, "first"),
                          "inprocess_total": median(runs_p, "total")}
            print(name, rows[name], flush=True)
        encodes = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with WorkerProcess(args.python, env=ENV) as worker:
                worker.start()
                check = worker.selfcheck()  # what the dock's first start does
                worker.run(EncodeRequest(prompts=PROMPTS))
                first = time.perf_counter() - t0
                t1 = time.perf_counter()
                worker.run(EncodeRequest(prompts=PROMPTS.replace("apple", "Apple")))
                encodes.append({"first": first, "next": time.perf_counter() - t1})
        rows["dock encode (Trento set, MiniLM)"] = {"first": median(encodes, "first"), "next": median(encodes, "next")}
        print(rows["dock encode (Trento set, MiniLM)"], flush=True)
    write(Path(args.out), rows, check, args.repeats)
    return 0


def write(path: Path, rows: dict, check: dict, repeats: int) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = ["# Worker process cost", "",
             f"`benchmarks/bench_worker.py --repeats {repeats}` (median of {repeats}), commit {commit}, "
             f"{os.cpu_count()} CPU cores (shared: load average {os.getloadavg()[1]:.1f} over the run's last "
             f"5 minutes), {check['line']}, Python {check['python_version']}. Clocks start when the "
             "process is launched. Trento-sized random rasters (600 x 166 px, 63 + 1 bands, 819 labelled pixels), "
             "standard network, 1 torch thread.", "",
             "| request | worker ready | worker: first progress | worker: done | in-process (fresh python): "
             "first progress | in-process: done |", "| --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        if "worker_ready" in r:
            lines.append(f"| {name} | {r['worker_ready']:.2f} s | {r['worker_first']:.2f} s | {r['worker_total']:.2f} s "
                         f"| {r['inprocess_first']:.2f} s | {r['inprocess_total']:.2f} s |")
    enc = rows["dock encode (Trento set, MiniLM)"]
    lines += ["", f"Dock encode in the session's persistent worker: first encode {enc['first']:.2f} s (start, "
              f"self-check, MiniLM load, encode), later encodes {enc['next'] * 1000:.0f} ms.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps({"rows": rows, "check": check, "commit": commit}, indent=1),
                                         encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
