"""`make demo`: train on Trento, classify the whole scene, write GeoTIFF + accuracy report.

Without ../shared/data (a user's clone) it renders a small synthetic scene itself, and says so.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .core.scenes import default_data_dir


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_demo(data: str | None, out: str, epochs: int = 60, device: str = "auto", seed: int = 0) -> int:
    from .cli import main as cli
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(data) if data else default_data_dir()
    trento = root / "trento"
    common = ["--device", device]
    if (trento / "HSI.mat").is_file():
        _say(f"demo: Trento from {trento} (semi-synthetic HSI over real labels and LiDAR)")
        hsi, lidar = str(trento / "HSI.mat"), str(trento / "LiDAR.mat")
        train, test = str(trento / "TRLabel.mat"), str(trento / "TSLabel.mat")
        scene_args, eval_args = ["--scene", "trento"], ["--semi-synthetic"]
    else:
        _say(f"demo: no benchmark data at {root}; using a small synthetic scene rendered by "
             f"mmlgnet_qgis (NOT a benchmark, accuracies mean nothing beyond 'it runs')")
        hsi, lidar, train, test, prompts = _write_synthetic(out_dir / "synthetic", seed)
        scene_args, eval_args = ["--prompts", prompts], []
    model = str(out_dir / "model.safetensors")
    steps = [
        ["train", "--hsi", hsi, "--lidar", lidar, "--train-labels", train, "--out", model,
         "--epochs", str(epochs), "--seed", str(seed), *scene_args, *common],
        ["classify", "--model", model, "--hsi", hsi, "--lidar", lidar, "--out", str(out_dir / "classes.tif"),
         "--confidence", str(out_dir / "confidence.tif"), *common],
        ["evaluate", "--classified", str(out_dir / "classes.tif"), "--labels", test, "--model", model,
         "--report", str(out_dir / "report.json"), *eval_args],
    ]
    for step in steps:
        _say("$ python -m mmlgnet_qgis " + " ".join(step))
        rc = cli(step)
        if rc:
            return rc
    report = json.loads((out_dir / "report.json").read_text())
    _say(f"demo done: OA {report['oa']:.2f} %, AA {report['aa']:.2f} %, kappa {report['kappa']:.2f} % -> "
         f"{out_dir}/report.html")
    return 0


def _write_synthetic(folder: Path, seed: int):
    """Write the synthetic scene as GeoTIFFs (the plugin's normal input)."""
    from .core.prompts import names_prompt_set
    from .core.synthetic import CLASS_NAMES, COLOURS, render_scene
    from .raster.grid import RasterGrid
    from .raster.writer import ClassRasterWriter, GeoTiffWriter
    from osgeo import gdal
    folder.mkdir(parents=True, exist_ok=True)
    hsi, lidar, labels, train, test, _ = render_scene(seed=seed)
    grid = RasterGrid.north_up(hsi.shape[2], hsi.shape[1], 32632, (664000.0, 5104000.0), 1.0)
    paths = {}
    for name, arr in (("hsi", hsi), ("lidar", lidar)):
        paths[name] = str(folder / f"{name}.tif")
        with GeoTiffWriter(paths[name], grid, arr.shape[0], gdal.GDT_Float32) as w:
            for b in range(arr.shape[0]):
                w.write_band(b + 1, 0, 0, arr[b])
    for name, arr in (("train", train), ("test", test)):
        paths[name] = str(folder / f"{name}.tif")
        with ClassRasterWriter(paths[name], grid, CLASS_NAMES, COLOURS) as w:
            w.write_window(0, 0, arr)
    prompts = folder / "prompts.json"
    prompts.write_text(names_prompt_set(list(CLASS_NAMES), list(COLOURS)).to_json())
    return paths["hsi"], paths["lidar"], paths["train"], paths["test"], str(prompts)
