"""Held-out validation pixels (spatially blocked), their scores, and open-set thresholds.

Validation pixels come in whole square blocks of 2 x patch size: a validation pixel's patch then
mostly sees other validation pixels, not the training pixels a random split would put beside it.
"""
from __future__ import annotations

import numpy as np
import torch

from .errors import InputError

HEADS = ("text", "random", "linear")
UNKNOWN_PERCENTILE = 5.0   # of each class's own winning cosine on held-out pixels


def blocked_split(labels: np.ndarray, fraction: float, block: int, seed: int = 0) -> np.ndarray:
    """Choose validation pixels as whole blocks, about `fraction` of each class.

    Classes are served rarest first; a block is taken whole (every class in it) and never when it
    would leave some class without a training pixel.

    Args:
        labels: (H, W) class ids, 0 = unlabelled.
        fraction: share of each class's labelled pixels to hold out, in [0, 1).
        block: block side in pixels.
        seed: seeds the block order (numpy; torch's generator is left alone).

    Returns:
        (H, W) bool mask of validation pixels (a subset of the labelled ones).

    Raises:
        InputError: fraction outside [0, 1) or block < 1.
    """
    rows, cols = np.nonzero(labels > 0)
    val = np.zeros(labels.shape, bool)
    val[rows, cols] = blocked_split_pixels(rows, cols, labels[rows, cols], labels.shape[1], fraction, block, seed)
    return val


def blocked_split_pixels(rows: np.ndarray, cols: np.ndarray, ids: np.ndarray, width: int, fraction: float,
                         block: int, seed: int = 0) -> np.ndarray:
    """`blocked_split` from the labelled pixels alone (scene coordinates), for scenes too large to hold.

    Args:
        rows: (N,) rows of the labelled pixels.
        cols: (N,) their columns.
        ids: (N,) their class ids (> 0).
        width: the scene's columns (block numbering follows the scene grid).
        fraction: share of each class's labelled pixels to hold out, in [0, 1).
        block: block side in pixels.
        seed: seeds the block order.

    Returns:
        (N,) bool: True for the validation pixels; the same pixels `blocked_split` chooses.

    Raises:
        InputError: fraction outside [0, 1) or block < 1.
    """
    if not 0 <= fraction < 1:
        raise InputError(f"validation fraction must be in [0, 1), got {fraction}")
    if block < 1:
        raise InputError(f"validation block must be >= 1 pixel, got {block}")
    if fraction == 0:
        return np.zeros(len(ids), bool)
    blocks = (np.asarray(rows, np.int64) // block) * (width // block + 1) + np.asarray(cols, np.int64) // block
    classes = list(np.unique(ids))
    total = {c: int((ids == c).sum()) for c in classes}
    left = dict(total)          # training pixels still left per class
    held = dict.fromkeys(classes, 0)
    taken: set[int] = set()
    rng = np.random.default_rng(seed)
    for c in sorted(classes, key=lambda c: total[c]):
        cand = np.unique(blocks[ids == c])
        for b in rng.permutation(cand):
            if held[c] >= fraction * total[c]:
                break
            if b in taken:
                continue
            inside = ids[blocks == b]
            counts = {k: int((inside == k).sum()) for k in np.unique(inside)}
            if any(left[k] - n < 1 for k, n in counts.items()):
                continue
            taken.add(int(b))
            for k, n in counts.items():
                left[k] -= n
                held[k] += n
    return np.isin(blocks, list(taken))


@torch.no_grad()
def patch_scores(model: torch.nn.Module, hsi_pad: torch.Tensor, lidar_pad: torch.Tensor, rows: torch.Tensor,
                 cols: torch.Tensor, head: str = "text", batch: int = 512) -> torch.Tensor:
    """Class scores of pixels, each from its own patch, in eval mode (the caller restores train mode).

    Args:
        model: the network.
        hsi_pad: (C, H+P-1, W+P-1) padded scene (training.pad_scene).
        lidar_pad: the same for LiDAR.
        rows: (N,) centre rows.
        cols: (N,) centre columns.
        head: text / random: cosines to the class embeddings; linear: the classifier's logits.
        batch: patches per forward pass.

    Returns:
        (N, K) float32 scores on the CPU.
    """
    from .training import gather_patches
    model.eval()
    p = model.cfg.patch_size
    out = []
    for s in range(0, rows.shape[0], batch):
        r, c = rows[s:s + batch], cols[s:s + batch]
        res = model(gather_patches(hsi_pad, r, c, p), gather_patches(lidar_pad, r, c, p), with_aux=head == "linear")
        if head == "linear":
            out.append(res["ce_logits"][:, :, 0, 0].float().cpu())
        else:
            out.append((res["embedding"][:, :, 0, 0] @ model.class_embeddings.T).float().cpu())
    k = model.class_embeddings.shape[0]
    return torch.cat(out) if out else torch.zeros((0, k))


def calibrate_thresholds(cosines: np.ndarray, y: np.ndarray, percentile: float = UNKNOWN_PERCENTILE) -> list[float]:
    """Per-class open-set thresholds: a low percentile of each class's own winning cosine.

    Uses the pixels of class c that c rightly wins; a class with none falls back to its pixels'
    cosine to c, a class with no pixel at all to the percentile over every pixel's winning cosine.

    Args:
        cosines: (N, K) cosines of held-out pixels to the K classes.
        y: (N,) their classes, 0..K-1.
        percentile: 0..100.

    Returns:
        K thresholds (a pixel that class c wins below thresholds[c] is unknown).
    """
    k = cosines.shape[1]
    win = cosines.argmax(1) if len(y) else np.zeros(0, int)
    everyone = float(np.percentile(cosines.max(1), percentile)) if len(y) else -1.0
    out = []
    for c in range(k):
        own = cosines[(y == c) & (win == c), c]
        own = own if own.size else cosines[y == c, c]
        out.append(float(np.percentile(own, percentile)) if own.size else everyone)
    return out


def apply_unknown(ids: np.ndarray, sim: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class ids with pixels whose winning cosine is below their class's threshold set to K + 1.

    Args:
        ids: (h, w) class ids, 0 = nodata, 1..K.
        sim: (h, w) winning cosines.
        thresholds: (K,) per-class thresholds.

    Returns:
        The new ids (0 stays 0).
    """
    k = thresholds.shape[0]
    thr = np.concatenate([[-np.inf], thresholds])[np.clip(ids, 0, k)]
    return np.where((ids > 0) & (sim < thr), k + 1, ids).astype(ids.dtype)
