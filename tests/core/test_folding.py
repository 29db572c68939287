"""BatchNorm folded into the convolutions: same outputs, same labels, the trained model untouched."""
import numpy as np
import torch
from torch import nn

from mmlgnet_qgis.core.folding import fold_batchnorm
from mmlgnet_qgis.core.inference import predict_tile
from mmlgnet_qgis.core.pipeline import for_inference
from model_fixtures import small_model


def test_folded_model_gives_the_same_outputs_and_labels():
    model = small_model(k=6, p=9, seed=3)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    rng = np.random.default_rng(0)
    hsi = rng.normal(size=(7, 40 + 8, 33 + 8)).astype(np.float32)
    lidar = rng.normal(size=(2, 48, 41)).astype(np.float32)
    with torch.no_grad():
        a = model(torch.as_tensor(hsi)[None], torch.as_tensor(lidar)[None])
        b = folded(torch.as_tensor(hsi)[None], torch.as_tensor(lidar)[None])
    assert torch.allclose(a["embedding"], b["embedding"], atol=1e-5)
    assert torch.allclose(a["logits"], b["logits"], atol=1e-4)
    ids_a, sim_a = predict_tile(model, hsi, lidar)
    ids_b, sim_b = predict_tile(folded, hsi, lidar)
    assert np.array_equal(ids_a, ids_b) and np.abs(sim_a - sim_b).max() < 1e-5


def test_folding_leaves_the_training_model_as_it_was():
    model = small_model(seed=1).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inference = for_inference(model, torch.device("cpu"))
    assert inference is not model and model.training
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
