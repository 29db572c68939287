"""Knowledge distillation: a smaller student learns a trained teacher's soft class scores.

The teacher classifies the whole training scene once (tiled inference, exact per pixel): its
scaled cosines to the prompts, or, for a teacher trained with a plain linear classifier and no
text, that classifier's logits; with several teachers the student learns the mean of their
softened distributions (the distilled preset's teachers: `defaults.TEACHER_HEADS`). Each
training step of the student then adds, to its usual loss on labelled pixels, the
temperature-scaled KL divergence from the teacher's class distribution on pixels drawn from
every valid pixel of the scene: unlabelled pixels are free supervision. The student takes the
teacher's prompts (their embeddings), text encoder and normalisation and always classifies by
prompt, so it is an ordinary model file; its manifest records `distilled_from`.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError
from .folding import fold_batchnorm
from .inference import reflect_pad, tile_windows
from .manifest import Manifest
from .model import MMLGNet
from .normalization import normalise
from .pipeline import WindowSource, check_same_size, named, read_whole
from .reporter import Reporter, or_null
from .training import TrainConfig, gather_patches, train_model


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the temperature-softened class distributions, times T^2.

    Args:
        student_logits: (N, K) the student's scaled cosines.
        teacher_logits: (N, K) the teacher's (a fixed target: no gradient flows into it).
        temperature: T; both logits are divided by it (T^2 keeps the gradient scale).

    Returns:
        The scalar loss (0 when the two agree).
    """
    t = float(temperature)
    target = F.log_softmax(teacher_logits.detach().float() / t, dim=1)
    return F.kl_div(F.log_softmax(student_logits.float() / t, dim=1), target, reduction="batchmean",
                    log_target=True) * t * t


@torch.no_grad()
def scene_logits(model: MMLGNet, hsi: np.ndarray, lidar: np.ndarray, valid: np.ndarray | None = None,
                 tile: int = 256, head: str = "text") -> np.ndarray:
    """A model's logits (scaled cosines, or a linear head's logits) for every pixel of in-memory normalised rasters.

    Tiled as classification is (halo-padded tiles, reflect padding only at the scene edge), so
    every pixel gets exactly what its own patch would give.

    Args:
        model: the network.
        hsi: (Bh, H, W) normalised HSI.
        lidar: (Bl, H, W) normalised LiDAR.
        valid: (H, W) bool; invalid pixels get NaN. None: all valid.
        tile: tile side in pixels.
        head: text: the scaled cosines to the class prompts; linear: the plain classifier's logits.

    Returns:
        (K, H, W) float32 logits.
    """
    net = fold_batchnorm(model).cpu()
    halo = net.cfg.patch_size // 2
    height, width = hsi.shape[1:]
    out = np.full((net.class_embeddings.shape[0], height, width), np.nan, np.float32)
    for win in tile_windows(height, width, tile, halo):
        sl = (slice(None), slice(win.ry0, win.ry0 + win.rh), slice(win.rx0, win.rx0 + win.rw))
        h = torch.as_tensor(reflect_pad(hsi[sl], win.pad), dtype=torch.float32)[None]
        l = torch.as_tensor(reflect_pad(lidar[sl], win.pad), dtype=torch.float32)[None]
        res = net(h, l, with_aux=head == "linear")
        out[:, win.y0:win.y0 + win.h, win.x0:win.x0 + win.w] = res["ce_logits" if head == "linear" else "logits"][0].numpy()
    if valid is not None:
        out[:, ~valid] = np.nan
    return out


class SceneDistillation:
    """Draws scene pixels and scores the model against the teacher's logits on them (a train_model step).

    Args:
        teacher_logits: (K, H, W) the teacher's logits, NaN at invalid pixels.
        hsi_pad: (Bh, H+P-1, W+P-1) padded normalised HSI on the training device.
        lidar_pad: the padded LiDAR, likewise.
        patch: P.
        cfg: teacher_weight, teacher_temperature, teacher_pixels.
        gen: the training's random generator (CPU).

    Raises:
        InputError: the logits are not (K, H, W) for this scene, or no pixel is valid.
    """

    def __init__(self, teacher_logits: np.ndarray, hsi_pad: torch.Tensor, lidar_pad: torch.Tensor, patch: int,
                 cfg: TrainConfig, gen: torch.Generator) -> None:
        shape = (hsi_pad.shape[1] - patch + 1, hsi_pad.shape[2] - patch + 1)
        if teacher_logits.ndim != 3 or teacher_logits.shape[1:] != shape:
            raise InputError(f"teacher logits of shape {teacher_logits.shape} do not cover the {shape} scene")
        if cfg.teacher_pixels < 2 or cfg.teacher_temperature <= 0:
            raise InputError(f"distillation needs >= 2 pixels per step and a temperature > 0, got "
                             f"{cfg.teacher_pixels} and {cfg.teacher_temperature}")
        rows, cols = np.nonzero(np.isfinite(teacher_logits).all(0))
        if rows.size == 0:
            raise InputError("the teacher's logits are NaN everywhere: no pixel to distil on")
        device = hsi_pad.device
        self.rows, self.cols = torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)
        self.targets = torch.as_tensor(np.ascontiguousarray(teacher_logits[:, rows, cols].T), device=device)
        self.hsi_pad, self.lidar_pad, self.patch, self.cfg, self.gen = hsi_pad, lidar_pad, patch, cfg, gen
        self.pixels = int(rows.size)

    def loss(self, model: MMLGNet, amp: bool = False) -> torch.Tensor:
        """The weighted KL to the teacher on cfg.teacher_pixels freshly drawn scene pixels."""
        idx = torch.randint(self.pixels, (self.cfg.teacher_pixels,), generator=self.gen).to(self.rows.device)
        r, c = self.rows[idx], self.cols[idx]
        hb = gather_patches(self.hsi_pad, r, c, self.patch)
        lb = gather_patches(self.lidar_pad, r, c, self.patch)
        with torch.autocast(self.rows.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(hb, lb)["logits"][:, :, 0, 0]
        return self.cfg.teacher_weight * distillation_loss(logits, self.targets[idx], self.cfg.teacher_temperature)


def ensemble_logits(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    """Logits whose temperature-softened distribution is the mean of the teachers' softened distributions.

    T * log(mean_i softmax(l_i / T)) over the class axis (0): `distillation_loss` at the same T then
    targets the averaged distribution, whatever each teacher's logit scale (cosine or linear).

    Args:
        logits: the teachers' (K, ...) logits, NaN where invalid.
        temperature: T > 0.

    Returns:
        float32 logits of the same shape (NaN where any teacher's are).
    """
    if len(logits) == 1:
        return logits[0]
    t = float(temperature)
    total = None   # one float32 running sum: a scene's logits can be large
    for lg in logits:
        p = torch.softmax(torch.as_tensor(lg, dtype=torch.float32) / t, dim=0)
        total = p if total is None else total.add_(p)
    return (t * torch.log(total.div_(len(logits)).clamp_min_(1e-30))).numpy()


def agreement(student_logits: np.ndarray, teacher_logits: np.ndarray, mask: np.ndarray) -> float | None:
    """Percent of the mask's pixels where the two models pick the same class (None: empty mask)."""
    if not mask.any():
        return None
    return 100.0 * float((student_logits[:, mask].argmax(0) == teacher_logits[:, mask].argmax(0)).mean())


def fit_student(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, teacher: MMLGNet,
                teacher_manifest: Manifest, cfg: TrainConfig, reporter: Reporter | None = None,
                source: dict | None = None, more_teachers: tuple = ()) -> tuple[MMLGNet, Manifest, dict]:
    """Train a student with the teacher's normalisation, class embeddings and logits (cf. pipeline.fit).

    Args:
        hsi: HSI window source (read whole: training scenes fit in memory).
        lidar: LiDAR window source on the same grid.
        labels: (H, W) class ids of the teacher's classes, 0 = unlabelled.
        teacher: the trained teacher.
        teacher_manifest: its manifest (normalisation, classes, prompts, text encoder).
        cfg: the student's training settings (cfg.model: its widths).
        reporter: progress per epoch, log, cancel.
        source: what identifies the teacher file (name, sha256), recorded in `distilled_from`.
        more_teachers: (model, head) pairs trained on the same normalisation and classes: the student
            learns the mean of all the teachers' softened class distributions (`ensemble_logits`).

    Returns:
        (student, its manifest, history).

    Raises:
        InputError: sizes or band counts differ from the teacher's, labels beyond its classes, no
            valid pixel.
    """
    reporter = or_null(reporter)
    tm = teacher_manifest
    check_same_size(hsi, lidar)
    if labels.shape != (hsi.height, hsi.width):
        raise InputError(f"training labels are {labels.shape[0]} x {labels.shape[1]} pixels, the "
                         f"{named(hsi, 'HSI')} is {hsi.height} x {hsi.width}")
    if (hsi.bands, lidar.bands) != (tm.hsi_bands, tm.lidar_bands):
        raise InputError(f"the teacher was trained on {tm.hsi_bands} HSI and {tm.lidar_bands} LiDAR band(s); "
                         f"{named(hsi, 'HSI')} has {hsi.bands} and {named(lidar, 'LiDAR')} {lidar.bands}")
    if cfg.head != "text":
        raise InputError("a distilled student classifies with the teacher's prompts: head must be 'text'")
    if int(labels.max(initial=0)) > len(tm.classes):
        raise InputError(f"training labels hold class id {int(labels.max())}, but the teacher knows "
                         f"{len(tm.classes)} classes")
    h_raw, h_ok = read_whole(hsi)
    l_raw, l_ok = read_whole(lidar)
    valid = h_ok & l_ok
    if not valid.any():
        raise InputError(f"every pixel is nodata (or NaN / inf) in {named(hsi, 'HSI')} or {named(lidar, 'LiDAR')}: "
                         f"nothing to distil on")
    norm = tm.normalisation
    h = normalise(h_raw, norm["hsi_mean"], norm["hsi_std"], valid, hsi.name)
    l = normalise(l_raw, norm["lidar_mean"], norm["lidar_std"], valid, lidar.name)
    del h_raw, l_raw
    labels = np.where(valid, labels, 0)
    t0 = time.perf_counter()
    teacher_head = tm.training.get("config", {}).get("head", "text")
    teachers = [(teacher, teacher_head), *more_teachers]
    target = ensemble_logits([scene_logits(net, h, l, valid, head=head) for net, head in teachers],
                             cfg.teacher_temperature)
    seconds_teacher = time.perf_counter() - t0
    reporter.log(f"teacher logits over {int(valid.sum())} valid pixels in {seconds_teacher:.1f} s")
    outcome: dict = {}
    emb = np.asarray(tm.class_embeddings, np.float32)   # the prompts' (a linear teacher holds none)
    model, history = train_model(h, l, labels, emb, cfg, reporter, outcome, teacher_logits=target)
    student = scene_logits(model, h, l, valid)
    agree = {"agreement_valid": agreement(student, target, valid),
             "agreement_unlabelled": agreement(student, target, valid & (labels == 0))}
    reporter.log(f"student agrees with the teacher on {agree['agreement_valid']:.2f} % of the scene's valid pixels")
    manifest = copy.deepcopy(tm)
    manifest.model = model.cfg.to_dict()
    manifest.class_embeddings = model.class_embeddings.numpy().tolist()
    manifest.history = history
    manifest.unknown_thresholds = outcome["unknown_thresholds"]
    manifest.training = {
        "config": cfg.to_dict(), "labelled_pixels": int((labels > 0).sum()),
        "validation_pixels": outcome["validation_pixels"], "best_epoch": outcome["best_epoch"],
        "unknown_calibration": {"on": outcome["calibrated_on"], "percentile": cfg.unknown_percentile},
        "seconds": history["seconds"][-1] + seconds_teacher, "final_loss": history["loss"][-1],
        "final_train_oa": history["train_oa"][-1]}
    manifest.distilled_from = {
        **(source or {}), "model": dict(tm.model), "head": "+".join(head for _, head in teachers), "weight": cfg.teacher_weight,
        "temperature": cfg.teacher_temperature, "pixels_per_step": cfg.teacher_pixels,
        "scene_pixels": int(valid.sum()), **agree}
    return model, manifest, history
