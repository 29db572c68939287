"""Tiled whole-scene inference equals per-pixel patch inference on a real Trento crop,
streamed through window sources (edges, tile sizes that do not divide the crop, nodata)."""
import numpy as np
import torch

from mmlgnet_qgis.core.inference import predict_patches
from mmlgnet_qgis.core.training import TrainConfig, train_model
from mmlgnet_qgis.core.normalization import band_stats, normalise
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify
from mmlgnet_qgis.core.scenes import as_bands_last, as_labels, load_mat_array, scene_paths


def test_streamed_tiles_match_patches_on_trento_crop(data_dir):
    p = scene_paths("trento", data_dir)
    hsi = np.moveaxis(as_bands_last(load_mat_array(str(p["hsi"]))), -1, 0)[:, 40:101, 250:333].astype(np.float32)
    lidar = np.moveaxis(as_bands_last(load_mat_array(str(p["lidar"]))), -1, 0)[:, 40:101, 250:333]
    hsi[:, 20:24, 30:37] = np.nan            # a nodata hole in the HSI only
    valid = np.isfinite(hsi).all(0)
    hm, hs = band_stats(hsi, valid)
    lm, ls = band_stats(lidar, valid)
    manifest = {"normalisation": {"hsi_mean": hm.tolist(), "hsi_std": hs.tolist(),
                                  "lidar_mean": lm.tolist(), "lidar_std": ls.tolist()}}
    # a few epochs on the crop's labels, so the model separates classes (no near-ties)
    labels = as_labels(load_mat_array(str(p["test"])))[40:101, 250:333] * valid
    cfg = TrainConfig(epochs=4, warmup_epochs=0, device="cpu", model={"patch_size": 11, "hsi_width": 16, "lidar_width": 8,
                                                     "fusion_width": 16})
    model, _ = train_model(normalise(hsi, hm, hs, valid), normalise(lidar, lm, ls, valid), labels,
                           torch.randn(6, 24, generator=torch.Generator().manual_seed(0)).numpy(), cfg)
    ids = ArraySink(61, 83, np.uint16, 0)
    sim = ArraySink(61, 83, np.float32, np.nan)
    stats = classify(model, manifest["normalisation"], ArraySource(hsi, "hsi"), ArraySource(lidar, "lidar"), ids, sim,
                     tile=27, device="cpu")
    assert stats["tiles"] == 12 and stats["valid_pixels"] == valid.sum()
    rows, cols = np.nonzero(valid)
    ref_ids, ref_sim = predict_patches(model, normalise(hsi, hm, hs, valid), normalise(lidar, lm, ls, valid),
                                       rows, cols)
    assert np.array_equal(ids.array[rows, cols], ref_ids)
    assert np.abs(sim.array[rows, cols] - ref_sim).max() < 1e-5
    assert (ids.array[~valid] == 0).all() and np.isnan(sim.array[~valid]).all()
    assert len(np.unique(ref_ids)) > 1, "a degenerate model would make the comparison vacuous"
