"""Windowed training (core/windowed.py): the scene is never read whole, yet the patches are the same.

A scene larger than `fit`'s in-memory budget is read only around its labelled pixels. These tests
force that path (in_memory_bytes=0) on small scenes and compare it with whole-scene training.
"""
import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.normalization import band_stats, normalise
from mmlgnet_qgis.core.pipeline import ArraySource, fit
from mmlgnet_qgis.core.prompts import names_prompt_set
from mmlgnet_qgis.core.training import TrainConfig, gather_patches, pad_scene
from mmlgnet_qgis.core.validation import blocked_split, blocked_split_pixels
from mmlgnet_qgis.core import windowed
from mmlgnet_qgis.core.windowed import cell_groups, patch_grid, windowed_training_data

TINY = {"patch_size": 7, "hsi_width": 8, "lidar_width": 4, "fusion_width": 8}
NODATA = -9999.0


class CountingSource(ArraySource):
    """An ArraySource that records its reads and refuses any window larger than `max_pixels`."""

    def __init__(self, chw, name, nodata=None, max_pixels=None):
        super().__init__(chw, name, nodata)
        self.reads, self.max_pixels = [], max_pixels
        self.forbid_whole = max_pixels is not None

    def read_window_with_mask(self, x0, y0, w, h):
        assert 0 <= x0 and 0 <= y0 and x0 + w <= self.width and y0 + h <= self.height, (x0, y0, w, h)
        if self.forbid_whole and (w, h) == (self.width, self.height):
            raise AssertionError(f"{self.name}: the whole scene was read")
        if self.max_pixels is not None and w * h > self.max_pixels:
            raise AssertionError(f"{self.name}: a {w} x {h} window is larger than {self.max_pixels} pixels")
        self.reads.append((x0, y0, w, h))
        return super().read_window_with_mask(x0, y0, w, h)

    @property
    def pixels_read(self):
        return sum(w * h for _, _, w, h in self.reads)


def scene(height=40, width=50, bands=4, seed=0):
    """Values with NaN and nodata pixels, and labels on every edge and corner, some on nodata."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.repeat(rng.integers(1, 4, (height // 8 + 1, width // 8 + 1)), 8, 0), 8, 1)[:height, :width]
    hsi = (rng.normal(size=(bands, height, width)) * 50 + 300 + truth[None] * 40).astype(np.float32)
    lidar = (truth[None] * 2.0 + rng.normal(size=(1, height, width))).astype(np.float32)
    hsi[:, 5, 7] = np.nan
    hsi[2, 0, 10] = NODATA
    lidar[0, height - 1, 3] = NODATA
    hsi[:, 12:15, 20:24] = NODATA
    labels = np.where(rng.random((height, width)) < 0.15, truth, 0).astype(np.uint8)
    for r, c in ((0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1), (0, 10), (height - 1, 3),
                 (5, 7), (13, 21), (1, 2), (height - 2, width - 3), (20, 0), (20, width - 1)):
        labels[r, c] = truth[r, c]
    return hsi, lidar, labels


def sources(hsi, lidar, **kw):
    return CountingSource(hsi, "hsi", NODATA, **kw), CountingSource(lidar, "lidar", NODATA, **kw)


def whole_scene_patches(hsi, lidar, labels, p, mean, std, l_mean, l_std):
    """What whole-scene training draws: normalise, reflect-pad the scene, cut at the valid labelled pixels."""
    h_src, l_src = ArraySource(hsi, "h", NODATA), ArraySource(lidar, "l", NODATA)
    h_raw, h_ok = h_src.read_window_with_mask(0, 0, h_src.width, h_src.height)
    l_raw, l_ok = l_src.read_window_with_mask(0, 0, l_src.width, l_src.height)
    valid = h_ok & l_ok
    rows, cols = np.nonzero(np.where(valid, labels, 0))
    r, c = torch.as_tensor(rows), torch.as_tensor(cols)
    hp = gather_patches(pad_scene(normalise(h_raw, mean, std, valid), p // 2, "cpu"), r, c, p)
    lp = gather_patches(pad_scene(normalise(l_raw, l_mean, l_std, valid), p // 2, "cpu"), r, c, p)
    return rows, cols, hp.numpy(), lp.numpy()


@pytest.mark.parametrize("cell", [8, 16, 256])
def test_patches_from_windows_equal_patches_from_the_whole_scene(cell):
    hsi, lidar, labels = scene()
    p = 7
    h_src, l_src = sources(hsi, lidar)
    grid, _ = patch_grid(h_src, l_src, labels, p, cell)
    mean, std = np.float32([290, 300, 310, 320]), np.float32([40, 50, 60, 70])
    l_mean, l_std = np.float32([4.0]), np.float32([2.0])
    rows, cols, want_h, want_l = whole_scene_patches(hsi, lidar, labels, p, mean, std, l_mean, l_std)
    assert np.array_equal(grid.rows, rows) and np.array_equal(grid.cols, cols)
    assert np.array_equal(grid.ids, labels[rows, cols])
    # the patch grid, normalised, handed to the same gather: slot order = row-major scene order
    g_h = pad_scene(normalise(grid.hsi, mean, std, grid.valid), p // 2, "cpu")
    g_l = pad_scene(normalise(grid.lidar, l_mean, l_std, grid.valid), p // 2, "cpu")
    g_rows, g_cols = np.nonzero(grid.labels)
    assert np.array_equal(grid.labels[g_rows, g_cols], labels[rows, cols])
    got_h = gather_patches(g_h, torch.as_tensor(g_rows), torch.as_tensor(g_cols), p).numpy()
    got_l = gather_patches(g_l, torch.as_tensor(g_rows), torch.as_tensor(g_cols), p).numpy()
    assert got_h.tobytes() == want_h.tobytes() and got_l.tobytes() == want_l.tobytes()
    # labelled pixels on NaN / nodata (in either source) are not among the training pixels
    for r, c in ((5, 7), (0, 10), (39, 3), (13, 21)):
        assert labels[r, c] and not ((grid.rows == r) & (grid.cols == c)).any()
    assert grid.labelled == int((labels > 0).sum())


def test_sparse_cells_are_read_pixel_by_pixel_and_dense_ones_as_one_window():
    rows = np.array([0, 1, 1, 2, 200, 250])
    cols = np.array([0, 0, 1, 2, 10, 240])
    groups = cell_groups(rows, cols, 7, 256)
    # one 256-cell, but a 257 x 247 box for 6 patches: split into quadrants, down to the four neighbours'
    # 9 x 9 window and a window for each of the two others
    assert sorted(sorted(g.tolist()) for g in groups) == [[0, 1, 2, 3], [4], [5]]


@pytest.mark.parametrize("validation_fraction", [0.0, 0.3])
def test_windowed_fit_equals_whole_scene_fit_bit_for_bit(hash_encoder, validation_fraction):
    hsi, lidar, labels = scene()
    runs = []
    for budget in (1 << 30, 0):
        h_src, l_src = sources(hsi, lidar)
        log = []
        rep = type("R", (), {"log": lambda s, m: log.append(m), "progress": lambda s, *a, **k: None,
                             "warning": lambda s, m: None, "is_cancelled": lambda s: False})()
        cfg = TrainConfig(epochs=2, seed=3, device="cpu", model=TINY, validation_fraction=validation_fraction)
        runs.append(fit(h_src, l_src, labels, names_prompt_set(["a", "b", "c"]), hash_encoder, cfg,
                        reporter=rep, in_memory_bytes=budget) + (log, h_src))
    (a, ma, ha, log_a, src_a), (b, mb, hb, log_b, src_b) = runs
    assert not any("windowed" in m for m in log_a) and any("windowed" in m for m in log_b)
    assert ma.normalisation == mb.normalisation
    for key in ("loss", "train_oa", "lr") + (("val_oa",) if validation_fraction else ()):
        assert ha[key] == hb[key], key
    assert ma.unknown_thresholds == mb.unknown_thresholds
    assert {k: v for k, v in ma.training.items() if k != "seconds"} == \
        {k: v for k, v in mb.training.items() if k != "seconds"}
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def test_sampled_statistics_are_close_to_whole_scene_ones():
    rng = np.random.default_rng(5)
    height, width = 300, 260
    yy, xx = np.mgrid[:height, :width]
    hsi = np.stack([1000 + 3 * yy + rng.normal(0, 40, (height, width)),
                    500 + 2 * xx + rng.normal(0, 20, (height, width)),
                    rng.gamma(2.0, 100.0, (height, width))]).astype(np.float32)
    lidar = (5 + 0.01 * (xx + yy) + rng.normal(0, 1, (height, width)))[None].astype(np.float32)
    hsi[:, :40, :40] = NODATA
    labels = np.zeros((height, width), np.uint8)
    labels[rng.integers(0, height, 60), rng.integers(0, width, 60)] = 1
    h_src, l_src = sources(hsi, lidar)
    grid, (h_mean, h_std, l_mean, l_std), info = windowed_training_data(h_src, l_src, labels, 7,
                                                                        sample_values=4 * 40_000)
    assert not info["stats_whole_scene"] and info["stats_pixels"] <= 40_000
    assert h_src.pixels_read < 0.3 * height * width  # a sample, not the scene
    valid = ~np.any(hsi == NODATA, axis=0)
    want_mean, want_std = band_stats(hsi, valid)
    want_lm, want_ls = band_stats(lidar, valid)
    assert np.all(np.abs(h_mean - want_mean) < 0.05 * want_std), (h_mean, want_mean)
    assert np.all(np.abs(h_std / want_std - 1) < 0.05), (h_std, want_std)
    assert abs(l_mean[0] - want_lm[0]) < 0.05 * want_ls[0] and abs(l_std[0] / want_ls[0] - 1) < 0.05


def test_small_scene_statistics_equal_whole_scene_ones_bit_for_bit():
    hsi, lidar, labels = scene()
    h_src, l_src = sources(hsi, lidar)
    _, (h_mean, h_std, l_mean, l_std), info = windowed_training_data(h_src, l_src, labels, 7)
    assert info["stats_whole_scene"]
    h_raw, h_ok = ArraySource(hsi, nodata=NODATA).read_window_with_mask(0, 0, 50, 40)
    l_raw, l_ok = ArraySource(lidar, nodata=NODATA).read_window_with_mask(0, 0, 50, 40)
    want = band_stats(h_raw, h_ok & l_ok) + band_stats(l_raw, h_ok & l_ok)
    for got, exp in zip((h_mean, h_std, l_mean, l_std), want):
        assert got.tobytes() == exp.tobytes()


def test_windowed_fit_never_reads_the_whole_scene_and_reads_little(hash_encoder, monkeypatch):
    monkeypatch.setattr(windowed, "SAMPLE_VALUES", 4 * 20_000)  # this scene's 630,000 pixels are "large"
    rng = np.random.default_rng(2)
    height, width = 700, 900
    hsi = rng.normal(300, 30, (3, height, width)).astype(np.float32)
    lidar = rng.normal(5, 1, (1, height, width)).astype(np.float32)
    labels = np.zeros((height, width), np.uint16)
    for k, (r, c) in enumerate([(50, 60), (400, 700), (690, 10), (300, 450)]):  # four blobs of labels
        labels[r:r + 6, c:c + 5] = k % 3 + 1
    labels[rng.integers(0, height, 20), rng.integers(0, width, 20)] = 2  # and scattered ones
    p = TINY["patch_size"]
    h_src, l_src = sources(hsi, lidar, max_pixels=64 * 64)
    cfg = TrainConfig(epochs=1, seed=0, device="cpu", model=TINY)
    _, manifest, _ = fit(h_src, l_src, labels, names_prompt_set(["a", "b", "c"]), hash_encoder, cfg,
                         in_memory_bytes=0)
    assert manifest.training["labelled_pixels"] == int((labels > 0).sum())
    # the sample (half of the statistics' pixels), then at most one patch's pixels per labelled pixel
    assert h_src.pixels_read <= 10_000 + int((labels > 0).sum()) * p * p, h_src.pixels_read
    assert h_src.pixels_read < 0.1 * height * width


def test_labelled_pixels_all_on_nodata_are_refused_as_in_whole_scene_training(hash_encoder):
    hsi, lidar, _ = scene()
    labels = np.zeros(hsi.shape[1:], np.uint8)
    labels[13, 21] = labels[5, 7] = 1
    cfg = TrainConfig(epochs=1, device="cpu", model=TINY)
    messages = []
    for budget in (1 << 30, 0):
        with pytest.raises(InputError, match="all 2 labelled pixels fall on nodata") as err:
            fit(*sources(hsi, lidar), labels, names_prompt_set(["a"]), hash_encoder, cfg, in_memory_bytes=budget)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    hsi[:] = NODATA
    with pytest.raises(InputError, match="every pixel is nodata"):
        fit(*sources(hsi, lidar), labels, names_prompt_set(["a"]), hash_encoder, cfg, in_memory_bytes=0)


def test_blocked_split_from_pixels_equals_the_dense_split():
    rng = np.random.default_rng(1)
    for _ in range(40):
        height, width = rng.integers(5, 60, 2)
        labels = np.where(rng.random((height, width)) < rng.random(), rng.integers(1, 5, (height, width)), 0)
        fraction, block, seed = rng.choice([0.0, 0.1, 0.4]), int(rng.integers(1, 10)), int(rng.integers(0, 4))
        rows, cols = np.nonzero(labels)
        dense = blocked_split(labels, fraction, block, seed)
        assert np.array_equal(blocked_split_pixels(rows, cols, labels[rows, cols], width, fraction, block, seed),
                              dense[rows, cols])


def test_cancel_while_reading_windows(hash_encoder, monkeypatch):
    from mmlgnet_qgis.core.errors import Cancelled
    monkeypatch.setattr(windowed, "SAMPLE_VALUES", 4 * 20_000)  # a sample of 9 windows, then the labelled ones
    rng = np.random.default_rng(2)
    hsi = rng.normal(300, 30, (3, 300, 400)).astype(np.float32)
    lidar = rng.normal(5, 1, (1, 300, 400)).astype(np.float32)
    labels = np.zeros((300, 400), np.uint8)
    labels[rng.integers(0, 300, 30), rng.integers(0, 400, 30)] = 1
    h_src, l_src = sources(hsi, lidar)

    class CancelAfterTwelveReads:
        def log(self, message):
            pass

        def progress(self, *args, **kwargs):
            pass

        def warning(self, message):
            pass

        def is_cancelled(self):
            return len(h_src.reads) >= 12

    with pytest.raises(Cancelled):
        fit(h_src, l_src, labels, names_prompt_set(["a"]), hash_encoder,
            TrainConfig(epochs=1, device="cpu", model=TINY), reporter=CancelAfterTwelveReads(), in_memory_bytes=0)
    assert len(h_src.reads) == 12  # stopped among the labelled windows, before the next one
