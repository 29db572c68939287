"""The cosine head at inference as one matrix product over a tile's pixels.

`MMLGNet.cosine_from_hidden` writes the head as einsums, which on CPU transpose the
channels-last hidden features into batched products and then multiply element-wise in a
mismatched layout: ~30 % of a tile's time. Here the (pixels, F) features meet one (F, K+F+1)
matrix [T W | W'W | W'b] in a single GEMM; without a confidence output only the K class
columns are needed (the arg-max of e.t / |e| is the arg-max of e.t: |e| is the same for every class).
"""
from __future__ import annotations

import torch

from .model import MMLGNet


def head_matrix(model: MMLGNet, with_similarity: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The head's constants for `scores`, in float32 on the model's device.

    Args:
        model: the network (its projection's last 1x1 conv and class embeddings).
        with_similarity: include the columns |e|^2 needs.

    Returns:
        (M, t.b per class, b.b): M is (F, K) or (F, K+F+1).
    """
    last = model.projection[-1]
    w = last.weight[:, :, 0, 0].float()         # (D, F)
    b = last.bias.float()                       # (D,)
    t = model.class_embeddings.float()          # (K, D)
    cols = [(t @ w).T]
    if with_similarity:
        cols += [w.T @ w, (w.T @ b)[:, None]]
    return torch.cat(cols, 1).contiguous(), t @ b, b @ b


def scores(z: torch.Tensor, head: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
           with_similarity: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Class index and winning cosine of each pixel of one tile's hidden features.

    Args:
        z: (1, F, h, w) hidden features (any dtype; any memory format).
        head: `head_matrix(model, with_similarity)`.
        with_similarity: also return the winning cosine.

    Returns:
        ((h, w) int64 index 0..K-1, (h, w) float32 cosine or None).
    """
    m, tb, bb = head
    h, w = z.shape[2:]
    zm = z[0].permute(1, 2, 0).reshape(h * w, -1).float()   # a view for channels-last z
    out = zm @ m
    k = tb.shape[0]
    dots = out[:, :k] + tb
    if not with_similarity:
        return dots.argmax(1).view(h, w), None
    f = zm.shape[1]
    sq = (zm * out[:, k:k + f]).sum(1) + 2 * out[:, k + f] + bb
    sim, idx = (dots / sq.clamp_min(1e-24).sqrt()[:, None]).max(1)
    return idx.view(h, w), sim.view(h, w)
