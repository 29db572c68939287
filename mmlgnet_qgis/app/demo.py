"""Use case: `make demo` — train on Trento, classify the whole scene, evaluate against the test labels.

Without benchmark data (a user's clone) it renders a small synthetic scene itself, and says so.
"""
from __future__ import annotations

from pathlib import Path

from ..core.reporter import Reporter, or_null
from ..core.scenes import SCENES
from . import classify, evaluate, train
from .requests import ClassifyRequest, DemoRequest, DemoResult, EvaluateRequest, TrainRequest


def _synthetic_scene(folder: Path, seed: int) -> dict:
    """The rendered scene as GeoTIFFs (the plugin's normal input), on Trento's nominal grid."""
    from osgeo import gdal

    from ..core.prompts import names_prompt_set
    from ..core.synthetic import CLASS_NAMES, COLOURS, render_scene
    from ..raster.grid import RasterGrid
    from ..raster.writer import ClassRasterWriter, GeoTiffWriter
    folder.mkdir(parents=True, exist_ok=True)
    hsi, lidar, _, train_ids, test_ids, _ = render_scene(seed=seed)
    trento = SCENES["trento"]
    grid = RasterGrid.north_up(hsi.shape[2], hsi.shape[1], trento.epsg, trento.origin, trento.pixel_size)
    paths = {}
    for name, arr in (("hsi", hsi), ("lidar", lidar)):
        paths[name] = str(folder / f"{name}.tif")
        with GeoTiffWriter(paths[name], grid, arr.shape[0], gdal.GDT_Float32) as w:
            for b in range(arr.shape[0]):
                w.write_band(b + 1, 0, 0, arr[b])
    for name, arr in (("train", train_ids), ("test", test_ids)):
        paths[name] = str(folder / f"{name}.tif")
        with ClassRasterWriter(paths[name], grid, CLASS_NAMES, COLOURS) as w:
            w.write_window(0, 0, arr)
    paths["prompts"] = str(folder / "prompts.json")
    Path(paths["prompts"]).write_text(names_prompt_set(list(CLASS_NAMES), list(COLOURS)).to_json())
    return paths


def run(req: DemoRequest, reporter: Reporter | None = None) -> DemoResult:
    """Train, classify, evaluate; outputs in req.out.

    Args:
        req: data folder (None: the rendered scene), output folder, epochs, device, seed.
        reporter: each step's progress and log.

    Returns:
        The demo's scores.
    """
    reporter = or_null(reporter)
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    trento = Path(req.data) / "trento" if req.data else None
    benchmark = trento is not None and (trento / "HSI.mat").is_file()
    if benchmark:
        reporter.log(f"demo: Trento from {trento} (semi-synthetic HSI over real labels and LiDAR)")
        files = {k: str(trento / f) for k, f in SCENES["trento"].files.items()}
        labelling = {"scene": "trento"}
    else:
        reporter.log(f"demo: no benchmark data{f' at {req.data}' if req.data else ''}; using a small synthetic "
                     f"scene rendered by mmlgnet_qgis (NOT a benchmark, accuracies mean nothing beyond 'it runs')")
        files = _synthetic_scene(out / "synthetic", req.seed)
        labelling = {"prompts": files["prompts"]}
    model = str(out / "model.safetensors")
    steps = [
        (train, TrainRequest(hsi=files["hsi"], lidar=files["lidar"], train_labels=files["train"], out=model,
                             epochs=req.epochs, seed=req.seed, device=req.device, **labelling)),
        (classify, ClassifyRequest(model=model, hsi=files["hsi"], lidar=files["lidar"], out=str(out / "classes.tif"),
                                   confidence=str(out / "confidence.tif"), device=req.device)),
        (evaluate, EvaluateRequest(classified=str(out / "classes.tif"), labels=files["test"], model=model,
                                   report=str(out / "report.json"), semi_synthetic=benchmark)),
    ]
    for use_case, step in steps:
        reporter.log(f"demo step: {step.kind}")
        result = use_case.run(step, reporter)
    reporter.log(f"demo done: OA {result.oa:.2f} %, AA {result.aa:.2f} %, kappa {result.kappa:.2f} % -> "
                 f"{result.report_html}")
    return DemoResult(oa=result.oa, aa=result.aa, kappa=result.kappa, report_html=result.report_html,
                      benchmark=benchmark)
