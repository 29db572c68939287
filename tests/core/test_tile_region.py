"""classify(region=...) gives a block's pixels exactly as the whole-scene run does: the halo reads
and edge reflection stay the scene's (the basis of the distributed run's bit-for-bit output)."""
import numpy as np
import pytest

from model_fixtures import manifest, small_model

from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.inference import tile_windows
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify


def test_blocks_of_tiles_stitch_into_the_whole_scene_bit_for_bit():
    rng = np.random.default_rng(0)
    hsi = rng.normal(size=(7, 45, 61)).astype(np.float32)
    lidar = rng.normal(size=(2, 45, 61)).astype(np.float32)
    hsi[:, 10:14, 40:61] = np.nan  # nodata reaching the edge
    model, norm = small_model(), manifest()["normalisation"]
    whole = ArraySink(45, 61, np.uint16, 0), ArraySink(45, 61, np.float32, np.nan)
    classify(model, norm, ArraySource(hsi), ArraySource(lidar), *whole, tile=16, device="cpu")
    parts = ArraySink(45, 61, np.uint16, 7), ArraySink(45, 61, np.float32, -1)
    for region in ((0, 0, 32, 32), (32, 0, 29, 32), (0, 32, 32, 13), (32, 32, 29, 13)):
        stats = classify(model, norm, ArraySource(hsi), ArraySource(lidar), *parts, tile=16, device="cpu",
                         region=region)
        assert stats["pixels"] == region[2] * region[3]
    assert np.array_equal(parts[0].array, whole[0].array)
    assert np.array_equal(parts[1].array, whole[1].array, equal_nan=True)


def test_a_region_off_the_tile_grid_is_refused():
    with pytest.raises(InputError, match="whole 16-pixel tiles"):
        list(tile_windows(45, 61, 16, 4, (8, 0, 16, 16)))
    with pytest.raises(InputError, match="outside"):
        list(tile_windows(45, 61, 16, 4, (48, 0, 16, 16)))
    assert len(list(tile_windows(45, 61, 16, 4, (48, 32, 13, 13)))) == 1
