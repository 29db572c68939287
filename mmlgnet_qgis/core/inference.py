"""Whole-scene inference: the network runs as a convolution over halo-padded tiles.

Each tile is read with a halo of P//2 pixels (reflect-padded only at the scene's own edges),
so every pixel sees exactly the neighbourhood its own P x P patch would: no seams. The tile
loop lives in pipeline.py (`classify` for sources, `predict_scene` for arrays);
`predict_patches` is the per-pixel patch formulation, kept as the reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from .cosine_head import head_matrix, scores
from .model import MMLGNet
from .errors import InputError


@dataclass(frozen=True)
class Window:
    """A tile (y0, x0, h, w) and the in-bounds region read for it with its halo."""
    y0: int
    x0: int
    h: int
    w: int
    ry0: int
    rx0: int
    rh: int
    rw: int
    pad: tuple  # ((top, bottom), (left, right)) reflect padding beyond the scene's edges


Region = tuple[int, int, int, int]  # (x0, y0, w, h): a block of whole tiles of the scene's tile grid


def check_region(height: int, width: int, tile: int, region: Region) -> None:
    """Refuse a region that is not a block of whole tiles inside the scene.

    Blocks must start on the scene's tile grid: a tile of another size or origin would run the
    network on other shapes, and float results could differ in the last bit from a whole-scene run.

    Args:
        height: scene rows.
        width: scene columns.
        tile: tile side in pixels.
        region: (x0, y0, w, h).

    Raises:
        InputError: the region leaves the scene or does not start on the tile grid.
    """
    x0, y0, w, h = region
    if x0 < 0 or y0 < 0 or w < 1 or h < 1 or x0 + w > width or y0 + h > height:
        raise InputError(f"region x {x0}..{x0 + w}, y {y0}..{y0 + h} is outside the {width} x {height} scene")
    if x0 % tile or y0 % tile or ((x0 + w) % tile and x0 + w != width) or ((y0 + h) % tile and y0 + h != height):
        raise InputError(f"region x {x0}..{x0 + w}, y {y0}..{y0 + h} is not a block of whole {tile}-pixel tiles")


def tile_windows(height: int, width: int, tile: int, halo: int, region: Region | None = None) -> Iterator[Window]:
    """Cover a height x width scene with tiles, row by row, each with its halo.

    Args:
        height: scene rows.
        width: scene columns.
        tile: tile side in pixels (edge tiles are smaller).
        halo: context pixels read around each tile (P // 2).
        region: only the tiles of this block (x0, y0, w, h) of whole tiles; halos and reflection
            stay those of the whole scene, so a block's pixels equal a whole-scene run's.

    Yields:
        One Window per tile.

    Raises:
        InputError: tile < 1, or a region that is not a block of whole tiles.
    """
    if tile < 1:
        raise InputError(f"tile size must be >= 1, got {tile}")
    bx0, by0, bw, bh = region or (0, 0, width, height)
    if region is not None:
        check_region(height, width, tile, region)
    for y0 in range(by0, by0 + bh, tile):
        for x0 in range(bx0, bx0 + bw, tile):
            h, w = min(tile, height - y0), min(tile, width - x0)
            ry0, rx0 = max(0, y0 - halo), max(0, x0 - halo)
            ry1, rx1 = min(height, y0 + h + halo), min(width, x0 + w + halo)
            pad = ((ry0 - (y0 - halo), (y0 + h + halo) - ry1), (rx0 - (x0 - halo), (x0 + w + halo) - rx1))
            yield Window(y0, x0, h, w, ry0, rx0, ry1 - ry0, rx1 - rx0, pad)


def count_tiles(height: int, width: int, tile: int, region: Region | None = None) -> int:
    """Returns: how many windows `tile_windows` yields for this scene (or region) and tile size."""
    if region is not None:
        height, width = region[3], region[2]
    return -(-height // tile) * -(-width // tile)


def reflect_pad(chw: np.ndarray, pad: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Pad a (C, h, w) read with reflection beyond the scene edge (same as padding the scene)."""
    (t, b), (l, r) = pad
    if t == b == l == r == 0:
        return chw
    return np.pad(chw, ((0, 0), (t, b), (l, r)), mode="reflect")


@torch.no_grad()
def predict_tile(model: MMLGNet, hsi: np.ndarray | torch.Tensor, lidar: np.ndarray | torch.Tensor,
                 device: torch.device | str = "cpu", amp_dtype: torch.dtype | None = None,
                 with_similarity: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Halo-padded (C, h+P-1, w+P-1) inputs -> class ids (h, w) int64 (1..K) and winning cosine.

    Args:
        model: the network (eval mode; `pipeline.for_inference` folds and places it).
        hsi: (Bh, h+P-1, w+P-1) normalised HSI.
        lidar: (Bl, h+P-1, w+P-1) normalised LiDAR.
        device: where the network runs.
        amp_dtype: autocast dtype for the convolutions; None = float32.
        with_similarity: compute the winning cosine (else None: the labels need only e.t).

    Returns:
        (class ids (h, w) int64 1..K, winning cosine (h, w) float32 or None).
    """
    h_t = torch.as_tensor(hsi, dtype=torch.float32, device=device)[None]
    l_t = torch.as_tensor(lidar, dtype=torch.float32, device=device)[None]
    if h_t.device.type == "cpu":  # see pipeline.for_inference
        h_t = h_t.contiguous(memory_format=torch.channels_last)
        l_t = l_t.contiguous(memory_format=torch.channels_last)
    with torch.autocast(torch.device(device).type, dtype=amp_dtype or torch.bfloat16,
                        enabled=amp_dtype is not None):
        z = model.fused_hidden(h_t, l_t)
    # float32, outside autocast; one GEMM instead of cosine_from_hidden's einsums (cosine_head.py)
    idx, sim = scores(z, head_matrix(model, with_similarity), with_similarity)
    return (idx + 1).cpu().numpy(), None if sim is None else sim.cpu().numpy().astype(np.float32)


@torch.no_grad()
def predict_patches(model: MMLGNet, hsi: np.ndarray, lidar: np.ndarray, rows: np.ndarray,
                    cols: np.ndarray, batch: int = 1024,
                    device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel formulation: cut a P x P patch per pixel and push patches through."""
    from .training import gather_patches, pad_scene
    model = model.to(device).eval()
    p = model.cfg.patch_size
    hp, lp = pad_scene(hsi, p // 2, device), pad_scene(lidar, p // 2, device)
    ids, sims = [], []
    for s in range(0, len(rows), batch):
        r = torch.as_tensor(rows[s:s + batch], device=device)
        c = torch.as_tensor(cols[s:s + batch], device=device)
        emb = model(gather_patches(hp, r, c, p), gather_patches(lp, r, c, p))["embedding"][:, :, 0, 0]
        sim, idx = (emb @ model.class_embeddings.T).max(1)
        ids.append((idx + 1).cpu().numpy())
        sims.append(sim.cpu().numpy())
    return np.concatenate(ids), np.concatenate(sims).astype(np.float32)
