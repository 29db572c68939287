"""Tile streaming: out-of-memory fallback, reader-thread prefetch, errors from the reader."""
import numpy as np
import pytest
import torch

from mmlgnet_qgis.core import pipeline
from mmlgnet_qgis.core.inference import predict_tile
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify
from model_fixtures import small_model

NORM = {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7, "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2}


def test_out_of_memory_splits_the_tile_and_gives_the_same_result(monkeypatch):
    model = small_model()
    rng = np.random.default_rng(0)
    h = rng.normal(size=(7, 40 + 8, 30 + 8)).astype(np.float32)
    l = rng.normal(size=(2, 48, 38)).astype(np.float32)
    whole = predict_tile(model, h, l)
    calls = []

    def small_memory(model, h, l, dev, amp, with_similarity=True):  # a "GPU" that only fits 20 x 20 outputs
        calls.append(h.shape)
        if (h.shape[1] - 8) * (h.shape[2] - 8) > 400:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return predict_tile(model, h, l, dev, amp, with_similarity)

    monkeypatch.setattr(pipeline, "predict_tile", small_memory)
    ids, sim = pipeline._predict_safe(model, h, l, "cpu", None, 4)
    assert len(calls) > 3
    assert np.array_equal(ids, whole[0]) and np.allclose(sim, whole[1], atol=1e-6)


class FailingSource(ArraySource):
    def read_window(self, x0, y0, w, h):
        if y0 > 10:
            raise OSError(f"{self.name}: read error at row {y0}")
        return super().read_window(x0, y0, w, h)


def test_reader_thread_errors_reach_the_caller():
    model = small_model()
    hsi = FailingSource(np.zeros((7, 40, 40), np.float32), "broken.tif")
    lidar = ArraySource(np.zeros((2, 40, 40), np.float32), "lidar")
    with pytest.raises(OSError, match="broken.tif: read error"):
        classify(model, NORM, hsi, lidar, ArraySink(40, 40, np.uint16, 0), tile=8)


def test_prefetch_and_plain_loops_agree():
    model = small_model()
    rng = np.random.default_rng(2)
    hsi = ArraySource(rng.normal(size=(7, 45, 33)).astype(np.float32))
    lidar = ArraySource(rng.normal(size=(2, 45, 33)).astype(np.float32))
    a, b = ArraySink(45, 33, np.uint16, 0), ArraySink(45, 33, np.uint16, 0)
    classify(model, NORM, hsi, lidar, a, tile=10, prefetch=True)
    classify(model, NORM, hsi, lidar, b, tile=10, prefetch=False)
    assert np.array_equal(a.array, b.array) and (a.array > 0).all()
