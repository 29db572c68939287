"""Open set and validation: blocked splits, early stopping, thresholds in the model file, unknown pixels."""
import json

import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.errors import InputError, ModelFileError
from mmlgnet_qgis.core.manifest import Manifest
from mmlgnet_qgis.core.model_file import load_model, read_manifest, save_model
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify, fit
from mmlgnet_qgis.core.prompts import names_prompt_set
from mmlgnet_qgis.core.reporter import NullReporter
from mmlgnet_qgis.core.training import TrainConfig, train_model
from mmlgnet_qgis.core.validation import apply_unknown, blocked_split, calibrate_thresholds

TINY = {"patch_size": 7, "hsi_width": 8, "lidar_width": 4, "fusion_width": 8}


def four_class_scene(seed=0, size=48):
    """Blocks of four classes; class 4 is spectrally and in height unlike the others."""
    rng = np.random.default_rng(seed)
    grid = rng.permutation(np.resize(np.arange(1, 5), 36)).reshape(6, 6)
    labels = np.kron(grid, np.ones((size // 6, size // 6), int))
    means = np.array([[0, 0, 0, 0, 0], [1.5, 0, 0, 0, 0], [0, 1.5, 0, 0, 0], [-2, -2, 3, 3, -2]], np.float32)
    hsi = (means[labels - 1].transpose(2, 0, 1) + rng.normal(0, 0.3, (5, size, size))).astype(np.float32)
    lidar = (np.array([0.0, 1.0, 2.0, -3.0])[labels - 1][None] + rng.normal(0, 0.3, (1, size, size))).astype(np.float32)
    train = np.where(rng.random((size, size)) < 0.3, labels, 0)
    return hsi, lidar, labels, train


def test_validation_blocks_are_whole_and_never_touch_training_blocks():
    _, _, labels, train = four_class_scene()
    val = blocked_split(train, 0.25, 6, seed=3)
    assert val.any() and not (val & (train == 0)).any()
    blocks = (np.arange(48)[:, None] // 6) * 100 + np.arange(48)[None, :] // 6
    val_blocks, train_blocks = set(blocks[val]), set(blocks[(train > 0) & ~val])
    assert not val_blocks & train_blocks          # each block is wholly one or the other
    for c in range(1, 5):                          # every class keeps training pixels; roughly the share asked
        n = (train == c).sum()
        assert 0 < (val & (train == c)).sum() < n
    assert 0.15 < val.sum() / (train > 0).sum() < 0.5
    assert not blocked_split(train, 0.0, 6).any()
    with pytest.raises(InputError, match="fraction"):
        blocked_split(train, 1.0, 6)


def _train(train, epochs=6, **kw):
    hsi, lidar, _, _ = four_class_scene()
    emb = torch.randn(4, 16, generator=torch.Generator().manual_seed(0)).numpy()
    cfg = TrainConfig(epochs=epochs, seed=0, device="cpu", model=TINY, warmup_epochs=1, **kw)
    outcome = {}
    model, hist = train_model(hsi, lidar, train, emb, cfg, outcome=outcome)
    return model, hist, outcome


def test_validation_oa_per_epoch_and_early_stopping_restores_the_best_epoch(monkeypatch):
    _, _, _, train = four_class_scene()
    seen = {}
    model, hist, outcome = _train(train, validation_fraction=0.25, early_stopping=True)
    assert len(hist["val_oa"]) == 6 and outcome["validation_pixels"] > 0
    best = int(np.argmax(hist["val_oa"])) + 1      # the first best epoch
    assert outcome["best_epoch"] == best
    # the same run, recording each epoch's weights: the model returned is the best epoch's
    import mmlgnet_qgis.core.training as training
    real = training.patch_scores

    def spy(model, *a, **k):
        seen[len(seen) + 1] = {n: t.clone() for n, t in model.state_dict().items()}
        return real(model, *a, **k)
    monkeypatch.setattr(training, "patch_scores", spy)
    again, _, _ = _train(train, validation_fraction=0.25, early_stopping=True)
    assert all(torch.equal(again.state_dict()[n], seen[best][n]) for n in seen[best])
    assert all(torch.equal(again.state_dict()[n], model.state_dict()[n]) for n in seen[best])
    with pytest.raises(InputError, match="early stopping"):
        TrainConfig(early_stopping=True)


def test_default_training_is_the_old_path_bit_for_bit():
    # weights of the code before validation / heads existed (commit 96d847c), same scene and settings
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(1, 4, (4, 4)), 6, 0), 6, 1)
    hsi = rng.normal(size=(5, 24, 24)).astype(np.float32) + labels[None] * 0.7
    lidar = (labels[None] * 2.0 + rng.normal(size=(1, 24, 24))).astype(np.float32)
    train = np.where(rng.random((24, 24)) < 0.3, labels, 0)
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=3, seed=0, device="cpu", model=TINY)
    model, hist = train_model(hsi, lidar, train, np.eye(3, 8, dtype=np.float32), cfg)
    sd = model.state_dict()
    sums = [float(sd[k].double().abs().sum()) for k in ("hsi_encoder.0.0.weight", "fusion.1.0.weight",
                                                        "projection.3.weight", "logit_scale")]
    assert np.allclose(sums, [8.972536, 32.798512, 15.140923, 2.649361], rtol=0, atol=2e-6)
    # float32 losses summed per epoch: another CPU's kernels may round ~1e-7 apart (seen in CI);
    # any change to the training path moves them by far more
    assert np.allclose(hist["loss"], [20.48281142165541, 19.518952747962995, 17.80591706856669], rtol=1e-6)


def test_a_class_absent_from_training_is_mostly_unknown(hash_encoder):
    hsi, lidar, labels, train = four_class_scene()
    known = np.where(train == 4, 0, train)                  # class 4 never seen, nor prompted
    cfg = TrainConfig(epochs=12, seed=0, device="cpu", model=TINY, warmup_epochs=1, validation_fraction=0.25)
    model, manifest, _ = fit(ArraySource(hsi), ArraySource(lidar), known, names_prompt_set(["a", "b", "c"]),
                             hash_encoder, cfg)
    thr = np.asarray(manifest.unknown_thresholds)
    assert thr.shape == (3,) and manifest.training["unknown_calibration"]["on"] == "validation"
    ids = ArraySink(48, 48, np.uint16, 0)
    classify(model, manifest.normalisation, ArraySource(hsi), ArraySource(lidar), ids, tile=20, device="cpu",
             unknown=thr)
    unseen = labels == 4
    assert (ids.array[unseen] == 4).mean() > 0.6              # mostly 'unknown' (id K + 1)
    assert (ids.array[~unseen] == 4).mean() < 0.15            # the known classes mostly keep their class
    plain = ArraySink(48, 48, np.uint16, 0)
    sim = ArraySink(48, 48, np.float32, np.nan)
    classify(model, manifest.normalisation, ArraySource(hsi), ArraySource(lidar), plain, sim, tile=48, device="cpu")
    assert np.array_equal(ids.array, apply_unknown(plain.array, sim.array, thr))   # tiling changes nothing
    assert (plain.array <= 3).all()


def test_thresholds_calibrate_per_class():
    cos = np.array([[0.9, 0.1], [0.7, 0.2], [0.8, 0.3], [0.2, 0.6], [0.6, 0.5]])
    y = np.array([0, 0, 0, 1, 1])
    thr = calibrate_thresholds(cos, y, percentile=0)
    assert thr == [0.7, 0.6]     # class 1's misclassified pixel is left out of its own threshold
    ids = np.array([[1, 2, 0]], np.uint16)
    assert apply_unknown(ids, np.array([[0.65, 0.61, np.nan]]), np.array(thr)).tolist() == [[3, 2, 0]]


def _saved(tmp_path, thresholds):
    from tests.model_fixtures import manifest, small_model
    model = small_model()
    data = manifest()
    data["unknown_thresholds"] = thresholds
    path = tmp_path / "m.safetensors"
    save_model(path, model, data)
    return path


def test_manifest_round_trips_thresholds_and_refuses_damaged_ones(tmp_path):
    path = _saved(tmp_path, [0.1, 0.2, -0.3, 0.4])
    assert read_manifest(path).unknown_thresholds == [0.1, 0.2, -0.3, 0.4]
    _, man = load_model(path)
    assert Manifest.from_dict(json.loads(json.dumps(man.to_dict()))).unknown_thresholds == [0.1, 0.2, -0.3, 0.4]
    assert man.with_prompts(names_prompt_set(["x", "y"])).unknown_thresholds is None   # other classes
    for bad in ([0.1, 0.2], [0.1, 0.2, "x", 0.4], [0.1, 0.2, 0.3, 7.0], "0.5", [0.1, 0.2, 0.3, float("nan")]):
        with pytest.raises(ModelFileError, match="unknown_thresholds"):
            read_manifest(_saved(tmp_path, bad))


def test_validation_metrics_reach_progress():
    _, _, _, train = four_class_scene()
    seen = []

    class Seen(NullReporter):
        def progress(self, e, n, m=None):
            seen.append(sorted(m))
    hsi, lidar, _, _ = four_class_scene()
    train_model(hsi, lidar, train, np.eye(4, 8, dtype=np.float32),
                TrainConfig(epochs=2, device="cpu", model=TINY, validation_fraction=0.2), Seen())
    assert seen[-1] == ["loss", "lr", "train_oa", "val_oa"]
