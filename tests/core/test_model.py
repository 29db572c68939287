"""Network shapes, losses and the exactness of tiled whole-scene inference."""
import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.inference import predict_patches, tile_windows
from mmlgnet_qgis.core.pipeline import predict_scene
from mmlgnet_qgis.core.losses import contrastive_loss, pixel_to_text, self_distillation, text_to_pixel
from mmlgnet_qgis.core.model import ModelConfig
from model_fixtures import small_model


@pytest.mark.parametrize("modalities", ["both", "hsi", "lidar"])
def test_patch_and_tile_shapes(modalities):
    model = small_model(modalities=modalities)
    out = model(torch.randn(5, 7, 9, 9), torch.randn(5, 2, 9, 9), with_aux=True)
    assert out["embedding"].shape == (5, 16, 1, 1)
    assert out["logits"].shape == (5, 4, 1, 1)
    assert torch.allclose(out["embedding"].norm(dim=1), torch.ones(5, 1, 1), atol=1e-5)
    tile = model(torch.randn(1, 7, 20 + 8, 13 + 8), torch.randn(1, 2, 28, 21))
    assert tile["embedding"].shape == (1, 16, 20, 13)


def test_patch_size_must_be_odd_and_large_enough():
    with pytest.raises(ValueError, match="odd"):
        ModelConfig(hsi_bands=3, lidar_bands=1, embed_dim=8, patch_size=10)
    with pytest.raises(ValueError, match=">= 7"):
        ModelConfig(hsi_bands=3, lidar_bands=1, embed_dim=8, patch_size=5)


def test_losses_directions_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(12, 3, requires_grad=True)
    y = torch.tensor([0, 1, 2] * 4)
    p2t, t2p = pixel_to_text(logits, y), text_to_pixel(logits, y)
    sym = contrastive_loss(logits, y, "symmetric")
    assert torch.isclose(sym, 0.5 * (p2t + t2p))
    # text->pixel is pixel->text on the transposed problem when every class has one pixel
    sq = torch.randn(3, 3)
    assert torch.isclose(text_to_pixel(sq, torch.arange(3)), pixel_to_text(sq.T, torch.arange(3)))
    sym.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # raising the true class's logit lowers both directions
    better = logits.detach().clone()
    better[torch.arange(12), y] += 3.0
    assert pixel_to_text(better, y) < p2t and text_to_pixel(better, y) < t2p
    with pytest.raises(ValueError, match="loss must be one of"):
        contrastive_loss(logits, y, "sideways")


def test_self_distillation_zero_when_student_equals_teacher():
    t = torch.randn(6, 4)
    assert self_distillation(t.clone(), t).abs() < 1e-6
    assert self_distillation(torch.randn(6, 4), t) > 0


def test_tile_windows_cover_scene_once():
    cover = np.zeros((37, 23), int)
    for w in tile_windows(37, 23, 10, 4):
        cover[w.y0:w.y0 + w.h, w.x0:w.x0 + w.w] += 1
        assert w.rh + sum(w.pad[0]) == w.h + 8 and w.rw + sum(w.pad[1]) == w.w + 8
    assert (cover == 1).all()


@pytest.mark.parametrize("tile", [7, 16, 1000])
def test_tiled_inference_equals_per_pixel_patches(tile):
    """Whole-scene convolution gives every pixel exactly what its own patch gives,
    with tiles that do not divide the raster, at the edges and around nodata."""
    rng = np.random.default_rng(1)
    model = small_model()
    hsi = rng.normal(size=(7, 33, 25)).astype(np.float32)
    lidar = rng.normal(size=(2, 33, 25)).astype(np.float32)
    valid = np.ones((33, 25), bool)
    valid[10:13, 4:9] = False          # a nodata hole: zeros there, as normalise() sets
    hsi[:, ~valid] = 0
    lidar[:, ~valid] = 0
    ids, sim = predict_scene(model, hsi, lidar, valid, tile=tile)
    rows, cols = np.nonzero(valid)
    ref_ids, ref_sim = predict_patches(model, hsi, lidar, rows, cols)
    assert np.array_equal(ids[rows, cols], ref_ids)
    assert np.max(np.abs(sim[rows, cols] - ref_sim)) < 1e-5
    assert (ids[~valid] == 0).all() and np.isnan(sim[~valid]).all()
