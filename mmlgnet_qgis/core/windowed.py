"""Training data from scenes larger than memory: only the windows around the labelled pixels are read.

Labels are sparse (thousands of pixels on a scene of tens of GB). The labelled pixels are grouped
into cells of the label grid (`CELL` pixels square); each cell's bounding window, widened by the
patch half-width and reflect-padded at the scene's edges exactly as `training.pad_scene` pads a
whole scene, is read once and every labelled pixel's P x P patch is cut from it (a cell whose
bounding window would read more pixels than its patches do is read patch by patch instead).

The patches are laid side by side in a *patch grid*, a small scene whose slot i holds the i-th
labelled pixel's patch (row-major scene order) with its class at the slot's centre. `train_model`
then draws from it exactly the patches, in exactly the order, it draws from the whole scene.
Memory: P * P values per labelled pixel and band, plus one window at a time.

Band statistics come from a bounded sample of `SAMPLE_VALUES` values: every valid pixel when the
scene holds that few (the statistics then equal whole-scene `band_stats` bit for bit), else a
regular grid of small windows over the scene plus the labelled cells' bounding boxes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .inference import reflect_pad
from .normalization import band_stats
from .reporter import Reporter, check_cancelled

if TYPE_CHECKING:
    from .pipeline import WindowSource

CELL = 256                # side of the label-grid cells whose labelled pixels are read as one window
SAMPLE_VALUES = 1 << 24   # values (pixels x bands, HSI + LiDAR) behind the band statistics: 64 MB as float32
SAMPLE_WINDOW = 32        # side of the windows of the spatial sample


@dataclass
class PatchGrid:
    """The labelled pixels' patches side by side, raw (not yet normalised).

    Attributes:
        hsi: (Bh, R * P, C * P) float32 values; slot i = rows (i // C) * P.., columns (i % C) * P...
        lidar: (Bl, R * P, C * P) float32 values.
        valid: (R * P, C * P) bool: valid in both sources (reflect-padded like the values).
        labels: (R * P, C * P) class ids at the centres of the slots of valid labelled pixels, else 0.
        rows: (N,) scene rows of the labelled pixels whose centre is valid, row-major.
        cols: (N,) their scene columns.
        ids: (N,) their class ids.
        labelled: labelled pixels in the scene, valid or not.
        windows: windows read per source.
        pixels_read: scene pixels read per source.
    """

    hsi: np.ndarray
    lidar: np.ndarray
    valid: np.ndarray
    labels: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    ids: np.ndarray
    labelled: int
    windows: int
    pixels_read: int


def slot_shape(n: int) -> tuple[int, int]:
    """Returns: (slot rows, slot columns) of a near-square grid holding n >= 1 slots."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, -(-n // cols)), cols


def cell_groups(rows: np.ndarray, cols: np.ndarray, p: int, cell: int = CELL) -> list[np.ndarray]:
    """Group labelled pixels into the windows read for them.

    Args:
        rows: (N,) rows.
        cols: (N,) columns.
        p: patch size.
        cell: cell side.

    Returns:
        Index arrays into rows / cols, one per window: a cell's pixels when their bounding window
        (+ P - 1) reads no more pixels than their patches would one by one; else the cell is split
        into four, down to single pixels.
    """
    if rows.size == 0:
        return []
    groups: list[np.ndarray] = []
    _split(np.arange(rows.size), rows, cols, p, cell, groups)
    return groups


def _split(idx: np.ndarray, rows: np.ndarray, cols: np.ndarray, p: int, cell: int, out: list[np.ndarray]) -> None:
    """Append to `out` the windows of the pixels idx, in cells of side `cell` (halved while wasteful)."""
    r, c = rows[idx], cols[idx]
    key = (r // cell) * (int(c.max()) // cell + 1) + c // cell
    order = np.argsort(key, kind="stable")
    for part in np.split(idx[order], np.flatnonzero(np.diff(key[order])) + 1):
        area = (int(np.ptp(rows[part])) + p) * (int(np.ptp(cols[part])) + p)
        if area <= part.size * p * p or part.size == 1:
            out.append(part)
        elif cell > 1:
            _split(part, rows, cols, p, max(1, cell // 2), out)
        else:  # unreachable: a 1-pixel cell holds one pixel
            out.extend(part[i:i + 1] for i in range(part.size))


def read_padded(src: WindowSource, other: WindowSource, y0: int, x0: int, y1: int, x1: int,
                halo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Read rows y0..y1 - 1 and columns x0..x1 - 1 plus a halo from two sources on one grid.

    Beyond the scene's edges the values and the valid mask are reflect-padded, as the whole
    scene is padded for training; inside it the halo is read.

    Returns:
        (src values, other values, valid in both) each (., y1 - y0 + 2 halo, x1 - x0 + 2 halo), and
        the in-scene window read (ry0, rx0, rh, rw).
    """
    ry0, rx0 = max(0, y0 - halo), max(0, x0 - halo)
    ry1, rx1 = min(src.height, y1 + halo), min(src.width, x1 + halo)
    pad = ((ry0 - (y0 - halo), (y1 + halo) - ry1), (rx0 - (x0 - halo), (x1 + halo) - rx1))
    a, a_ok = src.read_window_with_mask(rx0, ry0, rx1 - rx0, ry1 - ry0)
    b, b_ok = other.read_window_with_mask(rx0, ry0, rx1 - rx0, ry1 - ry0)
    valid = a_ok & b_ok
    return (reflect_pad(a, pad), reflect_pad(b, pad), reflect_pad(valid[None], pad)[0],
            (ry0, rx0, ry1 - ry0, rx1 - rx0))


def patch_grid(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, p: int, cell: int = CELL,
               stats_budget: int = 0,
               reporter: Reporter | None = None) -> tuple[PatchGrid, list[tuple[np.ndarray, np.ndarray]]]:
    """Read the windows around the labelled pixels and lay their patches out in a patch grid.

    Args:
        hsi: HSI window source.
        lidar: LiDAR window source on the same grid.
        labels: (H, W) class ids, 0 = unlabelled (any integer dtype; only its nonzero pixels are used).
        p: patch size (odd).
        cell: side of the label-grid cells read as one window.
        stats_budget: at most this many pixels of the labelled windows' bounding boxes are kept
            for the band statistics (a regular stride over them); 0 = none.
        reporter: asked before each window whether to stop.

    Returns:
        (the patch grid, [(HSI (Bh, n), LiDAR (Bl, n)) valid pixels for the statistics]).

    Raises:
        Cancelled: the reporter asked to stop.
    """
    halo = p // 2
    rows, cols = np.nonzero(labels)
    n = rows.size
    groups = cell_groups(rows, cols, p, cell)
    stride = 1
    if stats_budget:
        boxes = sum((int(np.ptp(rows[g])) + 1) * (int(np.ptp(cols[g])) + 1) for g in groups)
        stride = max(1, -(-boxes // stats_budget))
    sr, sc = slot_shape(max(n, 1))
    g_h = np.zeros((hsi.bands, sr * p, sc * p), np.float32)
    g_l = np.zeros((lidar.bands, sr * p, sc * p), np.float32)
    g_ok = np.zeros((sr * p, sc * p), bool)
    centre_ok = np.zeros(n, bool)
    samples, seen, read = [], 0, 0
    for idx in groups:
        check_cancelled(reporter)
        r, c = rows[idx], cols[idx]
        y0, x0, y1, x1 = int(r.min()), int(c.min()), int(r.max()) + 1, int(c.max()) + 1
        h_win, l_win, ok_win, (_, _, rh, rw) = read_padded(hsi, lidar, y0, x0, y1, x1, halo)
        read += rh * rw
        for i, rr, cc in zip(idx, r - y0, c - x0):
            oy, ox = (i // sc) * p, (i % sc) * p
            g_h[:, oy:oy + p, ox:ox + p] = h_win[:, rr:rr + p, cc:cc + p]
            g_l[:, oy:oy + p, ox:ox + p] = l_win[:, rr:rr + p, cc:cc + p]
            g_ok[oy:oy + p, ox:ox + p] = ok_win[rr:rr + p, cc:cc + p]
            centre_ok[i] = ok_win[rr + halo, cc + halo]
        if stats_budget:  # the bounding box (without the halo), every stride-th pixel
            box = (slice(halo, halo + y1 - y0), slice(halo, halo + x1 - x0))
            take = (seen + np.arange((y1 - y0) * (x1 - x0))) % stride == 0
            seen += take.size
            take &= ok_win[box].reshape(-1)
            samples.append((h_win[(slice(None),) + box].reshape(hsi.bands, -1)[:, take],
                            l_win[(slice(None),) + box].reshape(lidar.bands, -1)[:, take]))
    g_lab = np.zeros(g_ok.shape, labels.dtype if n else np.int64)
    keep = np.flatnonzero(centre_ok)
    g_lab[(keep // sc) * p + halo, (keep % sc) * p + halo] = labels[rows[keep], cols[keep]]
    grid = PatchGrid(g_h, g_l, g_ok, g_lab, rows[keep], cols[keep], labels[rows[keep], cols[keep]],
                     labelled=n, windows=len(groups), pixels_read=read)
    return grid, samples


def scene_sample(hsi: WindowSource, lidar: WindowSource, max_pixels: int, window: int = SAMPLE_WINDOW,
                 reporter: Reporter | None = None) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool, int]:
    """Valid pixels for the band statistics: the whole scene if it has <= max_pixels, else a grid of windows.

    Args:
        hsi: HSI window source.
        lidar: LiDAR window source.
        max_pixels: the most pixels to read.
        window: side of the sample windows.
        reporter: asked before each window whether to stop.

    Returns:
        ([(HSI (Bh, n), LiDAR (Bl, n)) valid pixels per window read], whether that was the whole
        scene (row-major, so the statistics equal whole-scene ones), pixels read).

    Raises:
        Cancelled: the reporter asked to stop.
    """
    height, width = hsi.height, hsi.width
    out = []
    if height * width <= max_pixels:  # whole rows, in order
        step = max(1, max_pixels // max(1, width) // 4)
        for y0 in range(0, height, step):
            check_cancelled(reporter)
            h = min(step, height - y0)
            a, a_ok = hsi.read_window_with_mask(0, y0, width, h)
            b, b_ok = lidar.read_window_with_mask(0, y0, width, h)
            ok = (a_ok & b_ok).reshape(-1)
            out.append((a.reshape(a.shape[0], -1)[:, ok], b.reshape(b.shape[0], -1)[:, ok]))
        return out, True, height * width
    sy, sx = min(window, height), min(window, width)
    n_win = max(1, max_pixels // (sy * sx))
    gy = max(1, min(height // sy, round(math.sqrt(n_win * height / width))))
    gx = max(1, min(width // sx, n_win // gy))
    ys = np.clip(((np.arange(gy) + 0.5) * height / gy - sy / 2).astype(int), 0, height - sy)
    xs = np.clip(((np.arange(gx) + 0.5) * width / gx - sx / 2).astype(int), 0, width - sx)
    for y0 in ys:
        for x0 in xs:
            check_cancelled(reporter)
            a, a_ok = hsi.read_window_with_mask(int(x0), int(y0), sx, sy)
            b, b_ok = lidar.read_window_with_mask(int(x0), int(y0), sx, sy)
            ok = (a_ok & b_ok).reshape(-1)
            out.append((a.reshape(a.shape[0], -1)[:, ok], b.reshape(b.shape[0], -1)[:, ok]))
    return out, False, gy * gx * sy * sx


def sample_stats(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...] | None:
    """Returns: (hsi mean, hsi std, lidar mean, lidar std) over the sampled valid pixels; None if none."""
    if not parts or sum(a.shape[1] for a, _ in parts) == 0:
        return None
    h = np.concatenate([a for a, _ in parts], axis=1)
    h_mean, h_std = band_stats(h)
    del h
    l_mean, l_std = band_stats(np.concatenate([b for _, b in parts], axis=1))
    return h_mean, h_std, l_mean, l_std


def windowed_training_data(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, p: int,
                           sample_values: int | None = None,
                           cell: int = CELL,
                           reporter: Reporter | None = None) -> tuple[PatchGrid, tuple[np.ndarray, ...], dict]:
    """The patch grid of the labelled pixels and band statistics, reading windows only.

    Args:
        hsi: HSI window source.
        lidar: LiDAR window source on the same grid.
        labels: (H, W) class ids, 0 = unlabelled.
        p: patch size.
        sample_values: values (pixels x (HSI + LiDAR bands)) behind the statistics; None: SAMPLE_VALUES.
        cell: side of the label-grid cells read as one window.
        reporter: asked before each window whether to stop.

    Returns:
        (patch grid, (hsi mean, hsi std, lidar mean, lidar std), what was read: a dict for the log).

    Raises:
        InputError: every labelled pixel, or every pixel read, is nodata.
        Cancelled: the reporter asked to stop.
    """
    max_px = max(1, (sample_values or SAMPLE_VALUES) // (hsi.bands + lidar.bands))
    parts, whole, sampled = scene_sample(hsi, lidar, max_px if hsi.height * hsi.width <= max_px else max_px // 2,
                                         reporter=reporter)
    grid, boxes = patch_grid(hsi, lidar, labels, p, cell, stats_budget=0 if whole else max_px // 2,
                             reporter=reporter)
    stats = sample_stats(parts + boxes)
    if stats is None and (whole or not grid.rows.size):
        what = "every pixel is" if whole else f"every pixel read ({sampled} sampled and the labelled windows) is"
        raise InputError(f"{what} nodata (or NaN / inf) in {_named(hsi, 'HSI')} or {_named(lidar, 'LiDAR')}: "
                         f"nothing to train on")
    if grid.labelled and not grid.rows.size:
        raise InputError(f"all {grid.labelled} labelled pixels fall on nodata (or NaN / inf) in "
                         f"{_named(hsi, 'HSI')} or {_named(lidar, 'LiDAR')}")
    if stats is None:  # the sample missed every valid pixel: the patches' own
        stats = sample_stats([(grid.hsi[:, grid.valid], grid.lidar[:, grid.valid])])
    info = {"labelled": grid.labelled, "windows": grid.windows, "pixels_read": grid.pixels_read,
            "stats_pixels": sum(a.shape[1] for a, _ in parts + boxes), "stats_whole_scene": whole,
            "sampled_pixels": sampled, "grid_mb": (grid.hsi.nbytes + grid.lidar.nbytes) / 1e6}
    return grid, stats, info


def _named(src: WindowSource, label: str) -> str:
    from .pipeline import named
    return named(src, label)
