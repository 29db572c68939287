"""A small synthetic HSI + LiDAR scene rendered from scratch, for clones without benchmark data.

Not a benchmark: blocky fields of five cover types with analytic spectra, heights and noise,
enough to exercise training, classification and reporting end to end.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES = ("Trees", "Grass", "Soil", "Roofs", "Asphalt")
COLOURS = ("#0b5d1e", "#9acd32", "#c8a165", "#d62728", "#7f7f7f")
HEIGHTS = (12.0, 0.2, 0.0, 8.0, 0.0)   # metres above ground


def _spectrum(kind: int, wl: np.ndarray) -> np.ndarray:
    red_edge = 1 / (1 + np.exp(-(wl - 715) / 12))
    if kind in (0, 1):   # vegetation: green bump, red edge; trees darker than grass
        base = 0.05 + 0.04 * np.exp(-((wl - 550) / 30) ** 2) + (0.35 if kind == 0 else 0.45) * red_edge
        return base * (0.8 if kind == 0 else 1.0)
    if kind == 2:        # soil: smooth rise
        return 0.10 + 0.25 * (wl - wl.min()) / np.ptp(wl)
    if kind == 3:        # roofs: bright, flat, slight red
        return 0.30 + 0.05 * np.exp(-((wl - 650) / 80) ** 2)
    return 0.08 + 0.02 * (wl - wl.min()) / np.ptp(wl)   # asphalt: dark, flat


def render_scene(height: int = 96, width: int = 128, bands: int = 32,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render a small seeded scene of five classes in 16-pixel blocks.

    Returns:
        hsi (bands, H, W) float32, lidar (1, H, W) float32, labels (H, W) 1..5, train and test
        labels (H, W; 0 elsewhere) and the band centres (nm).
    """
    rng = np.random.default_rng(seed)
    wl = np.linspace(400, 1000, bands)
    block = 16
    grid = rng.integers(0, len(CLASS_NAMES), size=(-(-height // block), -(-width // block)))
    labels = np.kron(grid, np.ones((block, block), int))[:height, :width] + 1
    spectra = np.stack([_spectrum(k, wl) for k in range(len(CLASS_NAMES))])
    hsi = spectra[labels - 1].transpose(2, 0, 1)
    hsi = hsi * rng.normal(1.0, 0.08, size=(1, height, width)) + rng.normal(0, 0.01, hsi.shape)
    lidar = np.asarray(HEIGHTS)[labels - 1][None] + rng.normal(0, 0.5, (1, height, width))
    split = rng.random((height, width))
    train = np.where(split < 0.04, labels, 0)
    test = np.where(split >= 0.04, labels, 0)
    return (hsi.astype(np.float32), lidar.astype(np.float32), labels, train, test, wl)
