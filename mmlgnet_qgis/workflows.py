"""Train / classify / evaluate steps shared by the command line and the Processing algorithms.

Both front ends call these functions, so a GeoTIFF classified from qgis_process, the toolbox
or `python -m mmlgnet_qgis` comes out of the same code. torch and GDAL are imported inside the
functions: importing this module stays cheap (QGIS imports it when the plugin loads).
"""
from __future__ import annotations

import base64
import html
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np



@contextmanager
def torch_threads(n: int | None):
    """Use n CPU threads for torch inside the block, then restore (n = 0/None: leave as is).

    On a busy machine fewer threads than cores can be many times faster: OpenMP workers spin
    at barriers while other processes hold the cores."""
    import torch
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- prompts ------------------------------------------------------------------------------------
def choose_prompt_set(prompts: str | None = None, project_json: str | None = None,
                      scene: str | None = None, n_classes: int | None = None):
    """First of: explicit prompts (JSON or file), the QGIS project's set, the scene's set,
    bare 'class N' names. Returns (PromptSet, where it came from)."""
    from .core.prompts import load_prompt_set, names_prompt_set, scene_prompt_set
    if prompts and prompts.strip():
        return load_prompt_set(prompts.strip()), "the given prompts"
    if project_json and project_json.strip():
        return load_prompt_set(project_json), "the project's prompt set"
    if scene:
        return scene_prompt_set(scene), f"the {scene} prompt set"
    if n_classes:
        return names_prompt_set([f"class {i}" for i in range(1, n_classes + 1)]), "bare class names"
    raise ValueError("no class names: give a prompt set (JSON) or a benchmark scene")


def prompt_file(prompts: str | None) -> str | None:
    """The file a prompts value names, or None for inline JSON (or nothing)."""
    return prompts.strip() if prompts and prompts.strip() and not prompts.lstrip().startswith("{") else None


# -- inputs -------------------------------------------------------------------------------------
def open_pair(hsi_spec: str, lidar_spec: str, resample: bool = False, log=None):
    """HSI and LiDAR window sources on one pixel grid.

    GDAL rasters must share CRS, extent and pixel size (GridMismatchError names both grids)
    unless resample is set: then LiDAR is warped onto the HSI grid on the fly (bilinear VRT).
    """
    from .inputs import open_image
    log = log or (lambda m: None)
    hsi = open_image(hsi_spec, "HSI")
    lidar = open_image(lidar_spec, "LiDAR")
    hg, lg = getattr(hsi, "grid", None), getattr(lidar, "grid", None)
    if hg is not None and lg is not None:
        from .raster.grid import check_aligned, same_grid
        if resample and not same_grid(hg, lg):
            from .raster.reader import RasterSource, resample_to_grid
            lidar.close()
            vrt = resample_to_grid(lidar_spec, hg, "bilinear")
            lidar = RasterSource(vrt, name=f"LiDAR ({lidar_spec}, resampled onto the HSI grid)")
            log(f"LiDAR resampled (bilinear) onto the HSI grid: {hg.describe()}")
        check_aligned(hg, lidar.grid, hsi.name, lidar.name)
        log(f"HSI grid: {hg.describe()}")
    return hsi, lidar


def close_sources(*sources) -> None:
    for s in sources:
        close = getattr(s, "close", None)
        if close:
            close()


def training_labels(spec: str | None, like, vector: str | None = None, field: str | None = None,
                    class_names=None) -> np.ndarray:
    """Class ids (0 = none) on the HSI's grid: a label raster/.mat, or a vector layer's field
    (integer ids, or class names matched to class_names) rasterised (and reprojected) onto that grid."""
    if vector:
        if not field:
            raise ValueError("a vector label layer needs the name of its class field")
        if getattr(like, "grid", None) is None:
            raise ValueError("vector labels need a georeferenced HSI raster to rasterise onto")
        from .raster.vector_labels import rasterize_labels
        return rasterize_labels(vector, field, like.grid, class_names=class_names)
    if not spec:
        raise ValueError("give training labels: a raster of class ids or a vector layer and field")
    from .inputs import read_labels
    return read_labels(spec, like=like)


def training_inputs(hsi, labels_spec=None, vector=None, field=None, prompts=None, project_json=None,
                    scene=None, log=None):
    """Labels and the prompt set naming their classes, checked together. Returns
    (labels, prompt set, where the prompts came from)."""
    log = log or (lambda m: None)
    named = bool((prompts and prompts.strip()) or (project_json and project_json.strip()) or scene)
    prompt_set = source = None
    if named:  # first, so a vector field of class names can be matched to the classes
        prompt_set, source = choose_prompt_set(prompts, project_json, scene)
    labels = training_labels(labels_spec, hsi, vector, field, prompt_set.names if prompt_set else None)
    where = vector or labels_spec
    if not labels.any():
        raise ValueError(f"the training labels ({where}) hold no labelled pixel: every value is 0 or nodata")
    if labels.min() < 0:
        raise ValueError(f"the training labels ({where}) hold class id {int(labels.min())}; ids are 1..N, 0 = none")
    if prompt_set is None:
        prompt_set, source = choose_prompt_set(n_classes=int(labels.max()))
    log(f"classes from {source}: {', '.join(prompt_set.names[:20])}{' ...' if len(prompt_set.names) > 20 else ''}")
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    if ids.max() > len(prompt_set.classes):
        missing = [int(i) for i in ids if i > len(prompt_set.classes)]
        raise ValueError(f"the training labels ({where}) hold class id(s) {', '.join(map(str, missing[:10]))}, "
                         f"beyond the {len(prompt_set.classes)} classes of {source} "
                         f"({', '.join(prompt_set.names[:10])}{', ...' if len(prompt_set.names) > 10 else ''})")
    for k, n in zip(ids, counts):
        if n < 5:
            log(f"warning: class {k} '{prompt_set.names[k - 1]}' has only {n} labelled pixel(s); "
                f"its accuracy will be unreliable")
    unlabelled = sorted(set(range(1, len(prompt_set.classes) + 1)) - set(int(i) for i in ids))
    if unlabelled:
        log(f"warning: no labelled pixel for class(es) {', '.join(map(str, unlabelled[:20]))}: the model "
            f"learns them from their prompts alone")
    return labels, prompt_set, source


def check_outputs(outputs: dict, inputs: dict) -> None:
    """Before any work: each output's folder exists and is writable, and no output is an input.
    outputs and inputs are {label: path}; None paths are skipped."""
    from .core.atomic_files import check_output_path, refuse_overwriting_inputs
    refuse_overwriting_inputs(outputs, inputs)
    for label, path in outputs.items():
        if path:
            check_output_path(path, label)


# -- train --------------------------------------------------------------------------------------
def train_to_file(hsi, lidar, labels, prompt_set, text_encoder: str, cfg, out: str | Path,
                  scene: str | None = None, wavelengths=None, progress=None, is_cancelled=None, log=None):
    """fit() then save the model file (written atomically). Returns (manifest, history).
    Callers run check_outputs() first, so an unwritable path fails before training."""
    from .core.model_file import save_model
    from .core.pipeline import fit
    from .core.text_encoders import build_text_encoder
    log = log or (lambda m: None)
    for w in prompt_set.warnings():
        log(f"warning: {w}")
    encoder = build_text_encoder(text_encoder)
    model, manifest, history = fit(hsi, lidar, labels, prompt_set, encoder, cfg, wavelengths=wavelengths,
                                   progress=progress, is_cancelled=is_cancelled, log=log)
    manifest["scene"] = scene
    manifest["history"] = history
    try:
        save_model(out, model, manifest)
    except Exception as exc:  # safetensors raises its own error type for I/O failures
        raise OSError(f"could not write the model file {out}: {exc} (is the disk full, or the file larger "
                      f"than a file-size limit allows?); nothing was left behind") from exc
    return manifest, history


def curves_png_for(html_path: str | Path) -> str:
    p = Path(html_path)
    return str(p.with_name(p.stem + "_curves.png"))


def write_training_page(history: dict, manifest: dict, html_path: str | Path) -> str:
    """A small self-contained HTML page: settings, final numbers and the training curves."""
    from .core.atomic_files import write_text_atomic
    from .report import render_curves_png
    html_path = Path(html_path)
    png = render_curves_png(history, curves_png_for(html_path), "Training")
    img = ""
    if png:
        img = f'<img alt="training curves" src="data:image/png;base64,{base64.b64encode(Path(png).read_bytes()).decode()}">'
    tr = manifest.get("training", {})
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                   for k, v in tr.get("config", {}).items())
    classes = ", ".join(html.escape(c["name"]) for c in manifest.get("classes", []))
    write_text_atomic(html_path,
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>MMLGNet training</title></head><body>"
        f"<h1>MMLGNet training</h1><p>Classes: {classes}<br>Text encoder: "
        f"{html.escape(str(manifest.get('text_encoder', {}).get('model')))}<br>"
        f"Labelled pixels: {tr.get('labelled_pixels')}; final loss {tr.get('final_loss', float('nan')):.4f}; "
        f"final training OA {tr.get('final_train_oa', float('nan')):.2f} %; "
        f"{tr.get('seconds', float('nan')):.1f} s</p>{img}<h2>Settings</h2><table>{rows}</table>"
        "</body></html>")
    return str(html_path)


# -- classify -----------------------------------------------------------------------------------
def load_model_with_prompts(model_path: str, prompts: str | None = None):
    """Model + manifest; with prompts, re-encoded with the model's own text encoder (retarget)."""
    from .core.model_file import load_model
    from .core.pipeline import retarget
    model, manifest = load_model(model_path)
    if prompts and prompts.strip():
        from .core.prompts import load_prompt_set
        from .core.text_encoders import build_text_encoder
        manifest = retarget(model, manifest, load_prompt_set(prompts.strip()),
                            build_text_encoder(manifest["text_encoder"]))
    return model, manifest


def check_wavelengths(manifest: dict, hsi_spec: str, log=None) -> None:
    """Refuse an HSI whose bands sit elsewhere in the spectrum than the model's (another sensor,
    or bands in another order): same band count, different meaning. Needs both band lists."""
    from .inputs import wavelengths_of
    trained = manifest.get("wavelengths_nm")
    if not trained:
        return
    here = wavelengths_of(hsi_spec)
    if not here or len(here) != len(trained):
        return  # unknown here, or a band-count mismatch that classify() names
    trained = np.array([np.nan if v is None else v for v in trained], float)  # None: a band without a centre
    here = np.asarray(here, float)
    spacing = np.median(np.abs(np.diff(trained))) if trained.size > 1 else 10.0
    off = np.abs(trained - here)
    worst = int(np.nanargmax(off)) if np.isfinite(off).any() else 0
    if off[worst] > max(0.5 * spacing, 1.0):
        raise ValueError(f"HSI ({hsi_spec}) band {worst + 1} is centred at {here[worst]:g} nm, but the model's "
                         f"band {worst + 1} was at {trained[worst]:g} nm: another sensor or band order. "
                         f"Train a model on this sensor, or reorder / resample the bands")
    if log and off.max() > 0:
        log(f"HSI band centres within {off.max():.3g} nm of the model's")


def output_grid(hsi, manifest: dict):
    """The HSI's own grid; for .mat inputs the scene's nominal grid (or a bare pixel grid)."""
    from .core.scenes import SCENES
    from .raster.grid import RasterGrid
    from .raster.mat_import import nominal_grid
    if getattr(hsi, "grid", None) is not None:
        return hsi.grid
    scene = SCENES.get(manifest.get("scene") or "")
    if scene and (hsi.height, hsi.width) == scene.shape:
        return nominal_grid(scene.name)
    return RasterGrid.north_up(hsi.width, hsi.height, None, (0.0, float(hsi.height)), 1.0)


def classify_to_geotiff(model, manifest: dict, hsi, lidar, out: str | Path, confidence: str | Path | None = None,
                        tile: int | None = None, device: str = "auto", progress=None,
                        is_cancelled: Callable[[], bool] | None = None, log=None, amp: bool = False) -> dict:
    """Stream tiles into a paletted class GeoTIFF (+ .qml) and an optional float32 confidence
    raster. Both are written under temporary names and renamed when complete, so an error or
    a cancel leaves neither behind. Callers run check_outputs() first, with the input specs."""
    from .core.pipeline import classify
    from .raster.writer import ClassRasterWriter, FloatRasterWriter
    names = [c["name"] for c in manifest["classes"]]
    colours = [c["color"] for c in manifest["classes"]]
    grid = output_grid(hsi, manifest)
    writers = [ClassRasterWriter(str(out), grid, names, colours)]
    if confidence:
        writers.append(FloatRasterWriter(str(confidence), grid, description="cosine similarity of the winning prompt",
                                         value_range="auto"))  # grey .qml over the values written
    try:
        for w in writers:
            w.open()
        stats = classify(model, manifest, hsi, lidar, writers[0], writers[1] if confidence else None, tile=tile,
                         device=device, progress=progress, is_cancelled=is_cancelled, log=log, amp=amp)
        for w in writers:  # both complete before either appears under its name
            w.finish()
        for w in writers:
            w.publish()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return stats


# -- evaluate -----------------------------------------------------------------------------------
def raster_classes(path: str) -> tuple[list[str], list[str]] | None:
    """Class names and colours embedded in a class GeoTIFF (category names + colour table)."""
    from osgeo import gdal
    try:
        ds = gdal.Open(str(path))
    except RuntimeError:
        return None
    band = ds.GetRasterBand(1)
    band.GetDescription()  # loads the .aux.xml, where GDAL keeps category names
    names, table = band.GetCategoryNames(), band.GetColorTable()
    if not names or len(names) < 2:
        return None
    names = [str(n) for n in names[1:]]  # entry 0 = unclassified
    colours = []
    for k in range(1, len(names) + 1):
        rgba = table.GetColorEntry(k) if table is not None and k < table.GetCount() else (128, 128, 128, 255)
        colours.append("#{:02x}{:02x}{:02x}".format(*rgba[:3]))
    return names, colours


def class_info(model_path: str | None = None, scene: str | None = None, classified: str | None = None,
               n_classes: int = 1):
    """Class names, colours and training history: from a model file, a benchmark scene, the
    classified raster's own categories, or generic names."""
    if model_path:
        from .core.model_file import read_manifest
        man = read_manifest(model_path)
        return [c["name"] for c in man["classes"]], [c["color"] for c in man["classes"]], man.get("history")
    if scene:
        from .core.scenes import SCENES
        sc = SCENES[scene]
        return list(sc.class_names), list(sc.colours), None
    embedded = raster_classes(classified) if classified and not str(classified).lower().endswith((".npy", ".mat")) else None
    if embedded and len(embedded[0]) >= n_classes:
        return embedded[0], embedded[1], None
    from .core.prompts import names_prompt_set
    ps = names_prompt_set([f"class {i}" for i in range(1, n_classes + 1)])
    return ps.names, ps.colours, None


def evaluate_to_report(predicted: np.ndarray, reference: np.ndarray, names, colours, report_json: str | Path,
                       history: dict | None = None, title: str = "", extra: dict | None = None):
    """accuracy_report + write_report (json, html and PNGs beside it). Returns (report, paths)."""
    from .core.metrics import accuracy_report
    from .report import write_report
    if predicted.shape != reference.shape:
        raise ValueError(f"the classified map is {predicted.shape[0]} x {predicted.shape[1]} pixels, "
                         f"the reference labels {reference.shape[0]} x {reference.shape[1]}")
    top = int(max(predicted.max(initial=0), reference.max(initial=0)))
    if top > len(names):
        raise ValueError(f"class id {top} appears in the maps, but only {len(names)} class names are known "
                         f"({', '.join(names)}); give the model file")
    report = accuracy_report(reference, predicted, names)
    report.update(extra or {})
    paths = write_report(report, report_json, names, colours, history=history, class_map=predicted, title=title)
    return report, paths
