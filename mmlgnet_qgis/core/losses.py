"""Pixel-text alignment losses.

logits: (N, K) scaled cosine between N pixel embeddings and K class-prompt embeddings.
pixel->text: each pixel picks its prompt among the K prompts (softmax over classes).
text->pixel: each prompt picks its pixels among the batch (softmax over pixels; a class has
several positives, so the loss averages their log-probabilities, as in SupCon).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .defaults import LOSS_MODES
from .errors import InputError


def pixel_to_text(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of each pixel over the K classes (labels 0..K-1), with label smoothing."""
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


def text_to_pixel(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per class present in the batch, the mean negative log-probability of its pixels; averaged."""
    log_p = F.log_softmax(logits, dim=0)                        # over pixels, per class
    onehot = F.one_hot(labels, logits.shape[1]).to(log_p.dtype)
    count = onehot.sum(0)
    present = count > 0
    per_class = -(log_p * onehot).sum(0)[present] / count[present]
    return per_class.mean()


def contrastive_loss(logits: torch.Tensor, labels: torch.Tensor, mode: str = "symmetric",
                     smoothing: float = 0.0) -> torch.Tensor:
    """The alignment loss of one batch.

    Args:
        logits: (N, K) scaled cosines.
        labels: (N,) class indices 0..K-1.
        mode: pixel2text, text2pixel or symmetric (their mean).
        smoothing: label smoothing of the pixel->text term.

    Returns:
        The scalar loss.

    Raises:
        InputError: an unknown mode.
    """
    if mode == "pixel2text":
        return pixel_to_text(logits, labels, smoothing)
    if mode == "text2pixel":
        return text_to_pixel(logits, labels)
    if mode == "symmetric":
        return 0.5 * (pixel_to_text(logits, labels, smoothing) + text_to_pixel(logits, labels))
    raise InputError(f"loss must be one of {LOSS_MODES}, got {mode!r}")


def self_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float = 2.0) -> torch.Tensor:
    """KL(teacher || student) with the final prediction as a soft, detached target (SDHSI)."""
    t = temperature
    target = F.softmax(teacher_logits.detach() / t, dim=1)
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), target, reduction="batchmean") * t * t
