"""The GEMM cosine head and the optional ONNX Runtime backend give the eager network's labels."""
import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.folding import fold_batchnorm
from mmlgnet_qgis.core.inference import predict_tile
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify
from model_fixtures import small_model


def _tile(seed=0, h=37, w=29, p=9):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(7, h + p - 1, w + p - 1)).astype(np.float32),
            rng.normal(size=(2, h + p - 1, w + p - 1)).astype(np.float32))


def test_gemm_head_matches_the_einsum_head_with_and_without_confidence():
    model = small_model(k=6, seed=2)
    hsi, lidar = _tile()
    with torch.no_grad():
        cos = model.cosine_from_hidden(model.fused_hidden(torch.as_tensor(hsi)[None], torch.as_tensor(lidar)[None]))[0]
    ref_sim, ref_idx = cos.max(0)
    ids, sim = predict_tile(model, hsi, lidar)
    assert np.array_equal(ids, ref_idx.numpy() + 1) and np.abs(sim - ref_sim.numpy()).max() < 1e-5
    ids_only, none = predict_tile(model, hsi, lidar, with_similarity=False)
    assert none is None and np.array_equal(ids_only, ids)


def test_classify_without_confidence_gives_the_same_labels():
    model = small_model(k=6, seed=4)
    hsi, lidar = _tile(1, 50, 40, 1)
    norm = {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7, "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2}
    a, s = ArraySink(50, 40, np.uint16, 0), ArraySink(50, 40, np.float32, np.nan)
    b = ArraySink(50, 40, np.uint16, 0)
    classify(model, norm, ArraySource(hsi), ArraySource(lidar), a, s, tile=16, device="cpu")
    classify(model, norm, ArraySource(hsi), ArraySource(lidar), b, None, tile=16, device="cpu")
    assert np.array_equal(a.array, b.array) and np.isfinite(s.array).all()


def test_onnx_runtime_gives_the_torch_labels():
    pytest.importorskip("onnxruntime")
    from mmlgnet_qgis.core.onnx_runtime import OnnxTileModel
    model = small_model(k=6, seed=5)
    hsi, lidar = _tile(2)
    ids, sim = predict_tile(model, hsi, lidar)
    runner = OnnxTileModel(fold_batchnorm(model))
    o_ids, o_sim = runner.predict(hsi, lidar)
    assert np.array_equal(ids, o_ids) and np.abs(sim - o_sim).max() < 1e-5
    n_ids, none = runner.predict(hsi, lidar, with_similarity=False)
    assert none is None and np.array_equal(ids, n_ids)
    # the whole stream, other tile shapes (edges) through the same session
    norm = {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7, "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2}
    h2, l2 = _tile(3, 45, 31, 1)
    t, o = ArraySink(45, 31, np.uint16, 0), ArraySink(45, 31, np.uint16, 0)
    classify(model, norm, ArraySource(h2), ArraySource(l2), t, tile=20, device="cpu")
    stats = classify(model, norm, ArraySource(h2), ArraySource(l2), o, tile=20, device="cpu", runtime="onnx")
    assert np.array_equal(t.array, o.array) and stats["device"] == "cpu"
    assert model.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_int8_runtime_calibrates_on_the_input_and_keeps_most_labels():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = small_model(k=6, seed=6)
    hsi, lidar = _tile(4, 60, 50, 1)
    norm = {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7, "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2}
    t, q, s = ArraySink(60, 50, np.uint16, 0), ArraySink(60, 50, np.uint16, 0), ArraySink(60, 50, np.float32, np.nan)
    classify(model, norm, ArraySource(hsi), ArraySource(lidar), t, tile=32, device="cpu")
    classify(model, norm, ArraySource(hsi), ArraySource(lidar), q, s, tile=32, device="cpu", runtime="onnx-int8")
    assert (t.array == q.array).mean() > 0.8 and np.isfinite(s.array).all()
