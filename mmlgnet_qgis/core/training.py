"""Training: seeded, device-side patch sampling, progress and cancel through callbacks."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import defaults
from .losses import LOSS_MODES, contrastive_loss, self_distillation
from .model import MMLGNet, ModelConfig
from .errors import InputError
from .validation import HEADS, UNKNOWN_PERCENTILE, blocked_split, calibrate_thresholds, patch_scores
from .reporter import Reporter, check_cancelled, or_null




@dataclass
class TrainConfig:
    """Training settings, stored in the manifest (`to_dict`); `model` overrides ModelConfig fields."""

    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LEARNING_RATE
    weight_decay: float = 1e-4
    warmup_epochs: int = 3
    loss: str = defaults.DEFAULT_LOSS
    label_smoothing: float = 0.1
    ce_weight: float = defaults.CE_WEIGHT
    distill_weight: float = defaults.DISTILL_WEIGHT
    distill_temperature: float = 2.0
    augment: bool = True             # random flips / transposes (the 8 dihedral views)
    seed: int = 0
    device: str = "auto"
    amp: bool = True                 # bf16 autocast on CUDA only
    model: dict = field(default_factory=dict)   # overrides of ModelConfig widths etc.
    head: str = "text"               # text (prompt embeddings), random (unit prototypes), linear (no text)
    validation_fraction: float = 0.0  # held-out labelled pixels per class, in blocks of 2 x patch
    early_stopping: bool = False     # keep the best validation epoch's weights
    unknown_percentile: float = UNKNOWN_PERCENTILE  # open-set thresholds, per class
    # knowledge distillation (core/distill.py), used only when train_model gets teacher logits
    teacher_weight: float = defaults.TEACHER_WEIGHT            # weight of the KL to the teacher
    teacher_temperature: float = defaults.TEACHER_TEMPERATURE  # softens both distributions
    teacher_pixels: int = defaults.TEACHER_PIXELS              # scene pixels per step (labelled or not)

    def __post_init__(self) -> None:
        """Raises: InputError for an unknown loss or head, epochs < 1, or early stopping without validation."""
        if self.loss not in LOSS_MODES:
            raise InputError(f"loss must be one of {LOSS_MODES}, got {self.loss!r}")
        if self.head not in HEADS:
            raise InputError(f"head must be one of {HEADS}, got {self.head!r}")
        if not 0 <= self.validation_fraction < 1:
            raise InputError(f"validation fraction must be in [0, 1), got {self.validation_fraction}")
        if self.early_stopping and self.validation_fraction == 0:
            raise InputError("early stopping needs validation pixels: give a validation fraction > 0")
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")

    def to_dict(self) -> dict:
        """Returns: the settings as a JSON-ready dict."""
        return asdict(self)


def resolve_device(name: str = "auto") -> torch.device:
    """Turn auto / cpu / cuda[:N] into a torch device (auto: CUDA when torch sees a GPU).

    Raises:
        InputError: an unknown name, or cuda without a CUDA GPU.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for, but torch sees no CUDA GPU (use auto or cpu)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def pad_scene(array: np.ndarray | torch.Tensor, halo: int, device: torch.device | str) -> torch.Tensor:
    """(C, H, W) -> (C, H+2h, W+2h) reflect-padded tensor on the device (scene-edge patches)."""
    t = torch.as_tensor(array, dtype=torch.float32, device=device)
    return F.pad(t[None], (halo, halo, halo, halo), mode="reflect")[0]


def gather_patches(padded: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, p: int) -> torch.Tensor:
    """(C, H+P-1, W+P-1) padded scene, centre rows/cols (N,) -> (N, C, P, P); no Python loop."""
    off = torch.arange(p, device=padded.device)
    r = (rows[:, None] + off)[:, :, None]     # padded coords: centre + halo - halo + off
    c = (cols[:, None] + off)[:, None, :]
    return padded[:, r, c].permute(1, 0, 2, 3)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-sample random horizontal flip, vertical flip and transpose (all 8 dihedral views)."""
    n = x.shape[0]
    for op in (lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.transpose(-1, -2)):
        m = (torch.rand(n, generator=gen, device="cpu") < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(m, op(x), x)
    return x


def train_model(hsi: np.ndarray, lidar: np.ndarray, labels: np.ndarray, class_embeddings: np.ndarray,
                cfg: TrainConfig, reporter: Reporter | None = None,
                outcome: dict | None = None, teacher_logits: np.ndarray | None = None,
                held: np.ndarray | None = None) -> tuple[MMLGNet, dict]:
    """Train a model on normalised rasters.

    Args:
        hsi: (Bh, H, W) normalised HSI.
        lidar: (Bl, H, W) normalised LiDAR.
        labels: (H, W) class ids, 0 = unlabelled.
        class_embeddings: (K, D) unit-length class prompt embeddings.
        cfg: training settings.
        reporter: progress per epoch (with loss, train_oa, lr; val_oa with validation), log, cancel.
        outcome: filled with what is not a per-epoch curve: unknown_thresholds (per class, None for
            the linear head), calibrated_on (validation / training), validation_pixels, best_epoch.
        teacher_logits: (K, H, W) a teacher's logits, NaN at invalid pixels: each step then adds
            cfg.teacher_weight x KL(teacher || model) on cfg.teacher_pixels pixels drawn from the
            whole scene, labelled or not (knowledge distillation, core/distill.py).
        held: (N,) bool, one per labelled pixel in `np.nonzero(labels)` order: the validation pixels,
            chosen by the caller (a windowed fit splits on the scene's grid, not on its patch grid);
            None: `blocked_split` of `labels` with cfg.validation_fraction.

    Returns:
        (model in eval mode on CPU, history dict of per-epoch lists).

    Raises:
        Cancelled: the reporter asked to stop.
    """
    reporter = or_null(reporter)
    log = reporter.log
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    k = class_embeddings.shape[0]
    if labels.shape != hsi.shape[1:] or labels.shape != lidar.shape[1:]:
        raise InputError(f"labels {labels.shape}, HSI {hsi.shape[1:]} and LiDAR {lidar.shape[1:]} differ in size")
    rows_np, cols_np = np.nonzero(labels)
    if rows_np.size == 0:
        raise InputError("the training labels hold no labelled pixel (all 0)")
    y_np = labels[rows_np, cols_np].astype(np.int64) - 1
    if y_np.max() >= k:
        raise InputError(f"training labels hold class id {y_np.max() + 1}, but the prompt set has only {k} classes")

    mcfg = ModelConfig(hsi_bands=hsi.shape[0], lidar_bands=lidar.shape[0],
                       embed_dim=class_embeddings.shape[1], **cfg.model)
    p, halo = mcfg.patch_size, mcfg.patch_size // 2
    if cfg.head != "text":  # the no-language ablations: fixed random unit prototypes (numpy: torch's seed untouched)
        proto = np.random.default_rng(cfg.seed + 104729).standard_normal(class_embeddings.shape)
        class_embeddings = (proto / np.linalg.norm(proto, axis=1, keepdims=True)).astype(np.float32)
    model = MMLGNet(mcfg, torch.as_tensor(class_embeddings))
    if mcfg.hsi_reduce and model.use_hsi:  # PCA of the normalised pixels (invalid ones are 0 = the mean)
        model.init_hsi_reduce(torch.as_tensor(hsi), seed=cfg.seed)
    model = model.to(device)
    hsi_pad, lidar_pad = pad_scene(hsi, halo, device), pad_scene(lidar, halo, device)
    if held is None:
        held = blocked_split(labels, cfg.validation_fraction, 2 * p, cfg.seed)[rows_np, cols_np]
    if held.any():
        log(f"validation: {int(held.sum())} labelled pixels held out in blocks of {2 * p} px")
        if held.all() or np.unique(y_np[~held]).size < np.unique(y_np).size:
            raise InputError("the validation split left a class without training pixels; lower the validation fraction")
    v_rows, v_cols = (torch.as_tensor(a[held], device=device) for a in (rows_np, cols_np))
    v_y = y_np[held]
    rows_np, cols_np, y_np = rows_np[~held], cols_np[~held], y_np[~held]
    rows = torch.as_tensor(rows_np, device=device)
    cols = torch.as_tensor(cols_np, device=device)
    y = torch.as_tensor(y_np, device=device)
    n = y.shape[0]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:  # linear warm-up, then cosine decay to 1 %
        if step < warm:
            return (step + 1) / warm
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    amp = cfg.amp and device.type == "cuda"
    distill = None
    if teacher_logits is not None:
        from .distill import SceneDistillation
        distill = SceneDistillation(teacher_logits, hsi_pad, lidar_pad, p, cfg, gen)
        log(f"distillation: {distill.pixels} scene pixels, {cfg.teacher_pixels} per step, "
            f"weight {cfg.teacher_weight}, temperature {cfg.teacher_temperature}")
    history = {"epoch": [], "loss": [], "train_oa": [], "lr": [], "seconds": []}
    if held.any():
        history["val_oa"] = []
    best = (-1.0, 0, None)   # (validation OA, epoch, weights)
    log(f"training on {device}: {n} labelled pixels, {k} classes, patch {p}, {cfg.epochs} epochs")
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        # accumulated on the device: a .item() per step would stall a GPU every batch
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for s in range(steps_per_epoch):
            check_cancelled(reporter)
            idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            if idx.numel() < 2:
                continue  # BatchNorm needs two samples
            hb = gather_patches(hsi_pad, rows[idx], cols[idx], p)
            lb = gather_patches(lidar_pad, rows[idx], cols[idx], p)
            if cfg.augment:
                both = _augment(torch.cat([hb, lb], 1), gen)
                hb, lb = both[:, :hb.shape[1]], both[:, hb.shape[1]:]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(hb, lb, with_aux=True)
            loss, logits = _total_loss(out, y[idx], cfg)
            if distill is not None:
                loss = loss + distill.loss(model, amp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach().double() * idx.numel()
            correct += (logits.argmax(1) == y[idx]).sum()
        metrics = {"loss": float(loss_sum) / n, "train_oa": 100.0 * int(correct) / n, "lr": sched.get_last_lr()[0]}
        if held.any():
            scores = patch_scores(model, hsi_pad, lidar_pad, v_rows, v_cols, cfg.head)
            metrics["val_oa"] = 100.0 * float((scores.argmax(1).numpy() == v_y).mean())
            if metrics["val_oa"] > best[0]:
                best = (metrics["val_oa"], epoch, copy.deepcopy(model.state_dict()) if cfg.early_stopping else None)
        history["epoch"].append(epoch)
        for key, val in metrics.items():
            history[key].append(val)
        history["seconds"].append(time.perf_counter() - t0)
        reporter.progress(epoch, cfg.epochs, metrics)
    if cfg.early_stopping:
        model.load_state_dict(best[2])
        log(f"early stopping: kept epoch {best[1]} (validation OA {best[0]:.2f} %)")
    if outcome is not None:
        outcome.update(_calibrate(model, hsi_pad, lidar_pad, (v_rows, v_cols, v_y), (rows, cols, y_np), cfg))
        outcome.update(validation_pixels=int(held.sum()), best_epoch=best[1] if held.any() else None)
    model.eval()
    return model.cpu(), history


def _calibrate(model: MMLGNet, hsi_pad: torch.Tensor, lidar_pad: torch.Tensor, val: tuple, train: tuple,
               cfg: TrainConfig) -> dict:
    """Open-set thresholds from held-out pixels (training pixels when none: optimistic, so stricter)."""
    if cfg.head == "linear":
        return {"unknown_thresholds": None, "calibrated_on": None}
    on = "validation" if len(val[2]) else "training"
    r, c, yy = val if len(val[2]) else train
    cos = patch_scores(model, hsi_pad, lidar_pad, r, c, cfg.head).numpy()
    return {"unknown_thresholds": calibrate_thresholds(cos, yy, cfg.unknown_percentile), "calibrated_on": on}


def _total_loss(out: dict, y: torch.Tensor, cfg: TrainConfig):
    if cfg.head == "linear":  # plain classifier + cross-entropy: no prompts in the loss
        logits = out["ce_logits"][:, :, 0, 0]
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    else:
        logits = out["logits"][:, :, 0, 0]
        loss = contrastive_loss(logits, y, cfg.loss, cfg.label_smoothing)
    if cfg.ce_weight > 0:
        loss = loss + cfg.ce_weight * F.cross_entropy(out["ce_logits"][:, :, 0, 0], y,
                                                      label_smoothing=cfg.label_smoothing)
    if cfg.distill_weight > 0:
        for key in ("hsi_logits", "lidar_logits"):
            if key in out:
                aux = out[key][:, :, 0, 0]
                # the earlier head learns the labels and the final prediction's soft targets
                loss = loss + cfg.distill_weight * (
                    F.cross_entropy(aux, y) + self_distillation(aux, logits, cfg.distill_temperature))
    return loss, logits
