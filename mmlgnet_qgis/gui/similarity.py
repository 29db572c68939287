"""Cosine similarity between class embeddings and the near-duplicate check (no widgets)."""
from __future__ import annotations

import numpy as np

# Above this cosine two class embeddings are nearly the same direction, so the pixel head can
# hardly tell the classes apart: the alignment loss pulls their pixels toward one target.
NEAR_DUPLICATE_COSINE = 0.95


def cosine_matrix(embeddings: np.ndarray) -> np.ndarray:
    """(K, K) cosine between rows; rows are re-normalised so any encoder output works."""
    emb = np.asarray(embeddings, dtype=np.float64)
    emb = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
    sim = np.clip(emb @ emb.T, -1.0, 1.0)
    np.fill_diagonal(sim, 1.0)  # exact ones, not 0.9999999
    return sim


def near_duplicate_pairs(sim: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE
                         ) -> list[tuple[int, int, float]]:
    """(i, j, cosine) for i < j with cosine > threshold, most similar first."""
    k = sim.shape[0]
    pairs = [(i, j, float(sim[i, j])) for i in range(k) for j in range(i + 1, k)
             if sim[i, j] > threshold]
    return sorted(pairs, key=lambda p: -p[2])


def most_similar_pair(sim: np.ndarray) -> tuple[int, int, float] | None:
    k = sim.shape[0]
    if k < 2:
        return None
    off = sim.copy()
    off[np.tril_indices(k)] = -np.inf
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    return int(i), int(j), float(sim[i, j])


# Yellow -> orange -> dark red (ColorBrewer YlOrRd stops): dark cells are the risky ones.
_RAMP = ((0.0, (255, 255, 204)), (0.4, (254, 217, 118)), (0.7, (253, 141, 60)),
         (0.9, (227, 26, 28)), (1.0, (128, 0, 38)))


def heat_rgb(value: float) -> tuple[int, int, int]:
    """Colour of a cosine in [0, 1] (negatives clip to 0)."""
    v = min(max(float(value), 0.0), 1.0)
    for (v0, c0), (v1, c1) in zip(_RAMP, _RAMP[1:]):
        if v <= v1:
            t = (v - v0) / (v1 - v0)
            return tuple(int(round(a + (b - a) * t)) for a, b in zip(c0, c1))
    return _RAMP[-1][1]


def is_dark(rgb: tuple[int, int, int]) -> bool:
    """Whether white text reads better than black on this background."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b < 140
