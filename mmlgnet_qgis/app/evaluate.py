"""Use case: score a classified raster against reference labels; write report JSON + HTML + PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import defaults
from ..core.errors import InputError
from ..core.reporter import Reporter, or_null
from .labels import labels_on_grid
from .outputs import check_outputs
from .requests import EvaluateRequest, EvaluateResult
from .sources import is_mat, read_labels

PICTURES = ("confusion", "curves", "map")


def class_info(model_path: str | None, scene: str | None, classified: str | None,
               n_classes: int) -> tuple[list[str], list[str], dict | None]:
    """Class names, colours and training history.

    From a model file, else a benchmark scene, else the classified raster's own categories,
    else generic names.

    Args:
        model_path: a model file, or None.
        scene: a benchmark scene, or None.
        classified: the classified raster (its embedded category names).
        n_classes: how many classes the maps hold at least.

    Returns:
        (names, colours, history or None).
    """
    if model_path:
        from ..core.model_file import read_manifest
        man = read_manifest(model_path)
        return man.names, man.colours, man.history
    if scene:
        from ..core.scenes import SCENES
        return list(SCENES[scene].class_names), list(SCENES[scene].colours), None
    if classified and not classified.lower().endswith(".npy") and not is_mat(classified):
        from ..raster.reader import raster_classes
        embedded = raster_classes(classified)
        if embedded and len(embedded[0]) >= n_classes:
            return embedded[0], embedded[1], None
    from ..core.prompts import names_prompt_set
    ps = names_prompt_set([f"class {i}" for i in range(1, n_classes + 1)])
    return ps.names, ps.colours, None


def _reference(req: EvaluateRequest) -> np.ndarray:
    """Reference labels on the classified raster's grid (checked when it is a GDAL raster)."""
    if req.classified.lower().endswith(".npy") or is_mat(req.classified):
        return labels_on_grid(req.labels, None, req.label_vector, req.label_field)
    from ..raster.reader import RasterSource
    with RasterSource(req.classified, name=f"classified raster ({req.classified})") as like:
        return labels_on_grid(req.labels, like, req.label_vector, req.label_field)


def run(req: EvaluateRequest, reporter: Reporter | None = None) -> EvaluateResult:
    """Score and write the report.

    Args:
        req: classified map, reference labels, report path and labelling.
        reporter: log.

    Returns:
        OA / AA / kappa and the report's paths.
    """
    from ..core.metrics import accuracy_report
    from ..report import format_report_text, write_report
    reporter = or_null(reporter)
    stem = Path(req.report).with_suffix("")
    json_path, html_path = f"{stem}.json", f"{stem}.html"
    if bool(req.labels) == bool(req.label_vector):
        raise InputError("give reference labels: a raster of class ids or a vector layer and its class field")
    check_outputs({"report": json_path, "HTML report": html_path,
                   **{f"{k} picture": f"{stem}_{k}.png" for k in PICTURES}},
                  {"classified raster": req.classified, "reference labels": req.labels,
                   "reference vector": req.label_vector, "model file": req.model})
    predicted = read_labels(req.classified)
    reference = _reference(req)
    if predicted.shape != reference.shape:
        raise InputError(f"the classified map is {predicted.shape[0]} x {predicted.shape[1]} pixels, "
                         f"the reference labels {reference.shape[0]} x {reference.shape[1]}")
    top = int(max(predicted.max(initial=0), reference.max(initial=0)))
    names, colours, history = class_info(req.model, req.scene, req.classified, top)
    if top == len(names) + 1 and reference.max(initial=0) < top:  # classify --unknown-threshold's id K + 1
        reporter.log(f"{int((predicted == top).sum())} pixels of the map are 'unknown' (id {top}): scored as unclassified")
        predicted, top = np.where(predicted == top, 0, predicted), len(names)
    if top > len(names):
        raise InputError(f"class id {top} appears in the maps, but only {len(names)} class names are known "
                         f"({', '.join(names)}); give the model file")
    report = accuracy_report(reference, predicted, names)
    report.update({"classified": req.classified, "labels": req.labels or req.label_vector,
                   "scene": req.scene, "model": req.model,
                   "note": defaults.SEMI_SYNTHETIC_NOTE if req.semi_synthetic else None})
    # no title: report.default_title names the scene, model and date, not the file
    paths = write_report(report, json_path, names, colours, history=history, class_map=predicted,
                         title=req.title or "")
    text = format_report_text(report)
    reporter.log(text)
    return EvaluateResult(report_json=paths["json"], report_html=paths["html"], oa=float(report["oa"]),
                          aa=float(report["aa"]), kappa=float(report["kappa"]), text=text)
