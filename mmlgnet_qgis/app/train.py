"""Use case: train a model on labelled pixels and write a model file (+ log, + HTML page)."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..core import defaults
from ..core.atomic_files import write_text_atomic
from ..core.errors import InputError
from ..core.reporter import Reporter, or_null
from .hsi_bands import hsi_selection
from .labels import training_inputs
from .lidar_source import training_options
from .outputs import check_outputs, prompt_file, sibling
from .requests import TrainRequest, TrainResult
from .sources import opened_pair, wavelengths_of

if TYPE_CHECKING:
    import numpy as np

    from ..core.manifest import Manifest
    from ..core.prompts import PromptSet
    from ..core.training import TrainConfig
    from ..core.pipeline import WindowSource


class _Recorder:
    """Forwards to the user's reporter and keeps the log lines for the training log file."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter, self.lines = reporter, []

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        self.reporter.progress(done, total, metrics)
        if metrics:
            self.lines.append(f"epoch {done}/{total}  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))

    def log(self, message: str) -> None:
        self.lines.append(message)
        self.reporter.log(message)

    def warning(self, message: str) -> None:
        self.lines.append(f"warning: {message}")
        self.reporter.warning(message)

    def is_cancelled(self) -> bool:
        return self.reporter.is_cancelled()


def _validation_summary(history: dict, training: dict) -> dict:
    """The training page's validation lines (none without validation pixels)."""
    if not history.get("val_oa"):
        return {}
    out = {"Validation pixels": training.get("validation_pixels"),
           "Final validation OA": f"{history['val_oa'][-1]:.2f} %",
           "Best validation OA": f"{max(history['val_oa']):.2f} %"}
    if training.get("config", {}).get("early_stopping"):
        out["Kept epoch (early stopping)"] = training.get("best_epoch")
    return out


def _load_teacher(path: str, rec: _Recorder) -> tuple:
    """The teacher model and its manifest (ModelFileError names what is wrong with the file)."""
    from ..core.model_file import load_model
    teacher, manifest = load_model(path)
    rec.log(f"distillation: teacher {path} (widths {manifest.model.get('hsi_width')}/"
            f"{manifest.model.get('lidar_width')}/{manifest.model.get('fusion_width')}, {len(manifest.classes)} "
            f"classes); its prompts, text encoder ({manifest.encoder_name}) and normalisation are kept")
    return teacher, manifest


def _check_teacher_classes(manifest: Manifest, prompts: PromptSet, path: str) -> None:
    """Raises: InputError when the training prompt set's classes are not the teacher's."""
    names = [c.name for c in prompts.classes]
    if names != manifest.names:
        raise InputError(f"the teacher {path} knows the classes {', '.join(manifest.names)}; the training prompt "
                         f"set has {', '.join(names)}: a student learns its teacher's classes (give no prompts, "
                         f"or the teacher's)")


def _teacher_identity(path: str) -> dict:
    """The teacher file's name and SHA-256, recorded in the student's manifest."""
    import hashlib
    from pathlib import Path
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"teacher": Path(path).name, "sha256": digest.hexdigest()}


def model_settings(req: TrainRequest, preset: str | None = None) -> dict:
    """The ModelConfig overrides a request asks for: the preset's widths, then explicit ones.

    Args:
        req: the request.
        preset: another preset than the request's (the teacher of "distilled"); its widths are not
            overridden by the request's explicit ones, which are the student's.

    Returns:
        {patch_size, hsi_width, lidar_width, fusion_width, modalities}.
    """
    if req.preset not in defaults.PRESETS:
        raise InputError(f"preset must be one of {', '.join(defaults.PRESETS)}, got {req.preset!r}")
    widths = dict(defaults.PRESETS[preset or req.preset])
    if preset is None:
        widths.update({k: v for k, v in (("hsi_width", req.hsi_width), ("lidar_width", req.lidar_width),
                                          ("fusion_width", req.fusion_width)) if v})
    return {"patch_size": req.patch_size, **widths, "modalities": req.modalities}


def _fit_distilled(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, prompts: PromptSet,
                   req: TrainRequest, cfg: TrainConfig, wavelengths: list | None, rec: _Recorder) -> tuple:
    """The "distilled" preset: the standard network (once per teacher head), then the student learns from them.

    A scene too large to read whole trains the standard network alone (distillation reads every
    pixel), and says so.
    """
    from ..core.distill import fit_student
    from ..core.pipeline import fit, reads_whole
    from ..core.reporter import StageReporter
    from ..core.text_encoders import build_text_encoder
    standard_cfg = dataclasses.replace(cfg, model=model_settings(req, defaults.TEACHER_PRESET))
    encoder = build_text_encoder(req.text_encoder)
    if not reads_whole(hsi):
        rec.warning("the scene is too large to distil on (distillation reads every pixel): training the "
                    "standard network instead of the distilled one (--preset standard)")
        return fit(hsi, lidar, labels, prompts, encoder, standard_cfg, wavelengths=wavelengths, reporter=rec)
    heads = defaults.TEACHER_HEADS
    steps = len(heads) + 1
    teachers = []
    for i, head in enumerate(heads):
        what = "the prompt head" if head == "text" else f"a {head} classifier head and no text"
        rec.log(f"distilled preset, step {i + 1} of {steps}: a teacher, the standard network with {what}")
        net, man, _ = fit(hsi, lidar, labels, prompts, encoder, dataclasses.replace(standard_cfg, head=head),
                          wavelengths=wavelengths, reporter=StageReporter(rec, i, steps))
        teachers.append((net, man, head))
    rec.log(f"distilled preset, step {steps} of {steps}: the fast network learns the teachers' class scores on "
            f"every pixel and classifies by the prompts")
    (teacher, teacher_manifest, _), more = teachers[0], tuple((net, head) for net, _, head in teachers[1:])
    model, manifest, history = fit_student(hsi, lidar, labels, teacher, teacher_manifest, cfg,
                                           StageReporter(rec, steps - 1, steps), more_teachers=more,
                                           source={"teacher": f"the {defaults.TEACHER_PRESET} network trained in the "
                                                              f"same run"})
    manifest.training["seconds"] += sum(man.training["seconds"] for _, man, _ in teachers)   # the whole run
    return model, manifest, history


def run(req: TrainRequest, reporter: Reporter | None = None) -> TrainResult:
    """Train and write the model file; the log and HTML page too when asked.

    Args:
        req: what to train on and how.
        reporter: progress per epoch, log, cancel.

    Returns:
        The model file and final numbers.
    """
    from ..core.model_file import save_model
    from ..core.pipeline import fit
    from ..core.text_encoders import build_text_encoder
    from ..core.threads import torch_threads
    from ..core.training import TrainConfig
    rec = _Recorder(or_null(reporter))
    if bool(req.train_labels) == bool(req.label_vector):
        raise InputError("give training labels: a raster of class ids (--train-labels / LABELS) or a vector "
                         "layer and its class field (--label-vector + --label-field / LABELS_VECTOR + LABELS_FIELD)")
    curves = sibling(req.report_html, "_curves.png") if req.report_html else None
    check_outputs({"model file": req.out, "training log": req.log_file, "training report": req.report_html,
                   "training curves": curves},
                  {"HSI": req.hsi, "LiDAR": req.lidar, "training labels": req.train_labels,
                   "vector labels": req.label_vector, "prompt file": prompt_file(req.prompts),
                   "teacher model": req.teacher})
    cfg = TrainConfig(epochs=req.epochs, batch_size=req.batch_size, lr=req.lr, loss=req.loss,
                      distill_weight=req.distill_weight, ce_weight=req.ce_weight, device=req.device,
                      seed=req.seed, model=model_settings(req), validation_fraction=req.validation_fraction,
                      early_stopping=req.early_stopping)
    teacher = _load_teacher(req.teacher, rec) if req.teacher else None
    cloud = training_options(req.lidar, req.lidar_products, req.lidar_fill_radius, req.lidar_crs)
    select = hsi_selection(req.hsi, None, rec)
    with opened_pair(req.hsi, req.lidar, req.resample_lidar, rec, cloud, req.scene, select) as (hsi, lidar):
        # a student learns the teacher's classes: its prompt set unless others are given (checked below)
        own = req.prompts or (teacher[1].prompt_set.to_json() if teacher else None)
        labels, prompts = training_inputs(hsi, req.train_labels, req.label_vector, req.label_field, own,
                                          req.project_prompts, req.scene, rec)
        if teacher:
            _check_teacher_classes(teacher[1], prompts, req.teacher)
        rec.log(f"{hsi.width} x {hsi.height} pixels, HSI {hsi.bands} bands, LiDAR {lidar.bands} band(s), "
                f"{int((labels > 0).sum())} labelled pixels; device {cfg.device}")
        for w in prompts.warnings():
            rec.warning(w)
        with torch_threads(req.threads):
            if teacher:
                from ..core.distill import fit_student
                model, manifest, history = fit_student(hsi, lidar, labels, *teacher, cfg, rec,
                                                       source=_teacher_identity(req.teacher))
            elif req.preset == "distilled":
                model, manifest, history = _fit_distilled(hsi, lidar, labels, prompts, req, cfg,
                                                          wavelengths_of(req.hsi, select), rec)
            else:
                encoder = build_text_encoder(req.text_encoder)
                model, manifest, history = fit(hsi, lidar, labels, prompts, encoder, cfg,
                                               wavelengths=wavelengths_of(req.hsi, select), reporter=rec)
    manifest.scene = req.scene
    manifest.lidar_products = list(cloud.products) if cloud else None  # classify makes the same bands
    manifest.hsi_spectral = select.record()  # bands the bad-band list kept, reflectance scale, fwhm
    written = []
    try:
        try:
            save_model(req.out, model, manifest)
        except OSError:
            raise
        except Exception as exc:  # safetensors raises its own error type for I/O failures
            raise OSError(f"could not write the model file {req.out}: {exc} (is the disk full, or the file larger "
                          f"than a file-size limit allows?); nothing was left behind") from exc
        written.append(req.out)
        oa = float(history["train_oa"][-1])
        seconds = float(manifest.training["seconds"])   # a distilled run: both networks
        rec.log(f"model written to {req.out} ({seconds:.1f} s, final training OA {oa:.2f} %)")
        if req.report_html:
            from ..report import write_training_page
            written += [req.report_html, curves]
            write_training_page(history, {"Classes": ", ".join(manifest.names), "Text encoder": manifest.encoder_name,
                                          "Labelled pixels": manifest.training["labelled_pixels"],
                                          "Final loss": f"{history['loss'][-1]:.4f}",
                                          "Final training OA": f"{oa:.2f} %",
                                          "Seconds": f"{seconds:.1f}",
                                          **_validation_summary(history, manifest.training)},
                                cfg.to_dict(), req.report_html)
        if req.log_file:
            written.append(req.log_file)
            write_text_atomic(req.log_file, "\n".join(rec.lines) + "\n")
    except BaseException:
        from ..core.atomic_files import remove_quietly
        for path in written:
            remove_quietly(path)
        raise
    return TrainResult(model=req.out, classes=manifest.names, seconds=seconds,
                       final_train_oa=oa, log_file=req.log_file, report_html=req.report_html)
