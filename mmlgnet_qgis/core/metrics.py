"""Accuracy of a classified map against a reference label map (numpy only).

Conventions shared by the whole project:
* class ids are 1..K; 0 in the reference means "unlabelled" and the pixel is ignored;
* 0 in the prediction means "nodata / unclassified": on a labelled pixel it is an error, kept
  apart as ``unclassified`` rather than as a (K+1)-th column of the confusion matrix.

How unclassified pixels enter the scores: they count in N and never as agreement, so they lower
OA, the accuracy of their reference class (hence AA) and the observed agreement p_o of kappa.
For kappa's chance agreement p_e they behave as an extra "unclassified" prediction that matches
no reference class: they add to the reference row totals but contribute nothing to p_e.
Without unclassified pixels this is exactly Cohen's kappa on the K x K matrix.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from .errors import InputError

# Pixels counted per bincount call: bounds the temporary int64 index array (~32 MiB) so a
# 20000 x 20000 map does not need gigabytes of scratch memory.
_CHUNK = 4_000_000


def _check_ids(name: str, values: np.ndarray, n_classes: int) -> None:
    """Raise unless every value is an integer in 0..n_classes; the error names a bad value."""
    if values.size == 0:
        return
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.bool_)):
        if not np.issubdtype(values.dtype, np.floating):
            raise InputError(f"{name}: class ids must be numeric, got dtype {values.dtype}")
        # Float label rasters (GDAL reads) are fine as long as they hold whole numbers.
        flat = values.reshape(-1)
        for start in range(0, flat.size, _CHUNK):  # chunked: no full-size temporaries
            part = flat[start:start + _CHUNK]
            bad = ~np.isfinite(part) | (part != np.round(part))
            if bad.any():
                raise InputError(f"{name}: class ids must be whole numbers, found {part[bad][0]!r}")
    lo, hi = values.min(), values.max()
    if lo < 0:
        raise InputError(f"{name}: class id {lo} out of range 0..{n_classes}")
    if hi > n_classes:
        raise InputError(f"{name}: class id {hi} out of range 0..{n_classes}")


def _validate(reference: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    pred = np.asarray(predicted)
    if ref.shape != pred.shape:
        raise InputError(f"reference shape {ref.shape} != predicted shape {pred.shape}")
    if int(n_classes) < 1:
        raise InputError(f"n_classes must be >= 1, got {n_classes}")
    _check_ids("reference", ref, n_classes)
    _check_ids("predicted", pred, n_classes)
    return ref.reshape(-1), pred.reshape(-1)


def _counts(reference: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int) -> np.ndarray:
    """(K, K+1) int64 counts: row r-1 = reference class r, column p = predicted id p (0..K).

    Column 0 holds the unclassified pixels of each reference class.
    """
    k = int(n_classes)
    ref, pred = _validate(reference, predicted, k)
    counts = np.zeros(k * (k + 1), dtype=np.int64)
    for start in range(0, ref.size, _CHUNK):
        r = ref[start:start + _CHUNK].astype(np.int64)
        p = pred[start:start + _CHUNK].astype(np.int64)
        keep = r > 0
        idx = (r[keep] - 1) * (k + 1) + p[keep]
        counts += np.bincount(idx, minlength=k * (k + 1))
    return counts.reshape(k, k + 1)


def confusion_matrix(reference: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int) -> np.ndarray:
    """K x K int64 matrix: rows = reference class 1..K, columns = predicted class 1..K.

    Only pixels with reference > 0 count. Labelled pixels predicted 0 appear in no column
    (see ``accuracy_report``'s ``unclassified``), so a row may sum to less than its support.

    Raises:
        InputError: the maps differ in shape, n_classes < 1, or an id is outside 0..n_classes.
    """
    return _counts(reference, predicted, n_classes)[:, 1:].copy()


def _kappa(counts: np.ndarray) -> float:
    """Cohen's kappa (fraction) from (K, K+1) counts whose column 0 = unclassified."""
    n = counts.sum()
    conf = counts[:, 1:]
    p_o = np.trace(conf) / n
    # Row totals include unclassified; the unclassified "column" has no matching row -> no p_e.
    p_e = float(np.dot(counts.sum(axis=1), conf.sum(axis=0))) / float(n) ** 2
    if p_e >= 1.0:
        # Single class everywhere: kappa is 0/0; agreement is then necessarily perfect.
        return 1.0
    return float((p_o - p_e) / (1.0 - p_e))


def accuracy_report(reference: npt.ArrayLike, predicted: npt.ArrayLike, class_names: Sequence[str]) -> dict:
    """OA / AA / kappa (percent), per-class accuracy and the confusion matrix.

    AA averages only the classes that have reference pixels.

    Args:
        reference: class ids 1..K, 0 = unlabelled (ignored).
        predicted: class ids 0..K of the same shape, 0 = unclassified.
        class_names: the K class names, in id order.

    Returns:
        A JSON-ready dict: ``oa``, ``aa``, ``kappa`` (floats, percent), ``per_class`` (list of
        {"id", "name", "accuracy" (percent, None when the class has no reference pixels),
        "support"}), ``confusion`` (K x K list of lists, see ``confusion_matrix``), ``n_pixels``
        (labelled pixels scored) and ``unclassified`` (labelled pixels predicted 0).

    Raises:
        InputError: as ``confusion_matrix``.
    """
    names = [str(n) for n in class_names]
    k = len(names)
    counts = _counts(reference, predicted, k)
    n = int(counts.sum())
    if n == 0:
        raise InputError("reference has no labelled pixels (all 0): nothing to score")
    conf = counts[:, 1:]
    support = counts.sum(axis=1)  # includes unclassified: they are errors of that class
    correct = np.diag(conf)

    per_class = []
    accs = []
    for i, name in enumerate(names):
        s = int(support[i])
        acc = 100.0 * float(correct[i]) / s if s else None
        if acc is not None:
            accs.append(acc)
        per_class.append({"id": i + 1, "name": name, "accuracy": acc, "support": s})

    return {
        "oa": 100.0 * float(correct.sum()) / n,
        "aa": float(np.mean(accs)),
        "kappa": 100.0 * _kappa(counts),
        "per_class": per_class,
        "confusion": conf.tolist(),
        "n_pixels": n,
        "unclassified": int(counts[:, 0].sum()),
    }
