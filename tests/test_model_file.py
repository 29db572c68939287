"""Model file: round trip, no code execution, clear errors on damage."""
import json

import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.pipeline import predict_scene
from mmlgnet_qgis.core.model_file import MANIFEST_KEY, ModelFileError, load_model, read_manifest, save_model
from test_model import small_model


def manifest():
    return {"hsi_bands": 7, "lidar_bands": 2, "classes": [{"id": i, "name": f"c{i}", "color": "#123456"}
                                                          for i in range(1, 5)],
            "normalisation": {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7,
                              "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2},
            "text_encoder": {"kind": "hash", "model": "hash", "dim": 16}}


def test_round_trip_gives_identical_predictions(tmp_path):
    model = small_model()
    path = tmp_path / "m.safetensors"
    save_model(path, model, manifest())
    loaded, man = load_model(path)
    rng = np.random.default_rng(0)
    hsi, lidar = rng.normal(size=(7, 20, 17)).astype(np.float32), rng.normal(size=(2, 20, 17)).astype(np.float32)
    a_ids, a_sim = predict_scene(model, hsi, lidar, tile=8)
    b_ids, b_sim = predict_scene(loaded, hsi, lidar, tile=8)
    assert np.array_equal(a_ids, b_ids) and np.array_equal(a_sim, b_sim)
    assert man["format_version"] == 1 and man["model"]["patch_size"] == 9
    assert np.allclose(np.asarray(man["class_embeddings"]), model.class_embeddings.numpy(), atol=1e-6)
    assert [c["name"] for c in man["classes"]] == ["c1", "c2", "c3", "c4"]
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_file_holds_only_tensors_and_json(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, small_model(), manifest())
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    assert json.loads(header["__metadata__"][MANIFEST_KEY])["format"] == "mmlgnet-model"
    assert b"pickle" not in raw[:8 + header_len] and not raw.startswith(b"PK")


def test_damaged_truncated_and_foreign_files_give_clear_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, small_model(), manifest())
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated|damaged"):
        load_model(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ModelFileError, match="not an MMLGNet model file or is damaged"):
        load_model(garbage)
    from safetensors.torch import save_file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match="holds no MMLGNet manifest"):
        read_manifest(foreign)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_newer_format_version_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file
    path = tmp_path / "m.safetensors"
    save_model(path, small_model(), manifest())
    man = read_manifest(path)
    man["format_version"] = 99
    save_file(load_file(str(path)), str(path), metadata={MANIFEST_KEY: json.dumps(man)})
    with pytest.raises(ModelFileError, match="newer"):
        load_model(path)
