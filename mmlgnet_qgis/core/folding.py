"""Inference-only rewrites of a trained network that keep its outputs (to float rounding).

BatchNorm in eval mode is a per-channel affine map, so it folds into the convolution before
it: one pass over the activations fewer per layer, and the conv + GELU pair left behind is
what oneDNN fuses. Training never sees a folded model: it works on a copy.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution that computes bn(conv(x)) with bn's running statistics.

    Args:
        conv: the convolution (with or without bias).
        bn: the BatchNorm2d right after it.

    Returns:
        A new Conv2d with bias, on conv's device, in float32.
    """
    scale = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
    bias = conv.bias.float() if conv.bias is not None else torch.zeros_like(scale)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused = fused.to(conv.weight.device)
    fused.weight.copy_(conv.weight.float() * scale[:, None, None, None])
    fused.bias.copy_((bias - bn.running_mean.float()) * scale + bn.bias.float())
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of the model in eval mode with every Conv2d -> BatchNorm2d pair folded into one conv.

    Pairs are found inside nn.Sequential containers (how MMLGNet builds its conv blocks); the
    BatchNorm becomes nn.Identity, so indices, names and the forward code stay as they were.

    Args:
        model: a trained network (left untouched).

    Returns:
        The folded copy (eval mode; not for training: its BatchNorms are gone).
    """
    folded = copy.deepcopy(model).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq[i] = fold_conv_bn(conv, bn)
                seq[i + 1] = nn.Identity()
    return folded
