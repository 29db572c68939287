"""Model file: round trip, no code execution, clear errors on damage."""
import json
import re

import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.pipeline import predict_scene
from mmlgnet_qgis.core.model_file import (MANIFEST_KEY, ModelFileError, load_model, read_manifest,
                                          read_manifest_dict, save_model)
from model_fixtures import manifest, small_model


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
    assert read_manifest_dict(path)["format_version"] == 1 and man.model["patch_size"] == 9
    assert np.allclose(np.asarray(man.class_embeddings), model.class_embeddings.numpy(), atol=1e-6)
    assert man.names == ["c1", "c2", "c3", "c4"]
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
    man = read_manifest_dict(path)
    man["format_version"] = 99
    save_file(load_file(str(path)), str(path), metadata={MANIFEST_KEY: json.dumps(man)})
    with pytest.raises(ModelFileError, match="newer"):
        load_model(path)


def rewrite(path, change):
    """The model file at `path` with change(manifest) applied to its manifest (and the same tensors)."""
    from safetensors.torch import load_file, save_file
    man, tensors = read_manifest_dict(path), load_file(str(path))
    change(man)
    save_file(tensors, str(path), metadata={MANIFEST_KEY: json.dumps(man)})


def saved(tmp_path, model=None, man=None):
    path = tmp_path / "m.safetensors"
    save_model(path, model or small_model(), man or manifest())
    return path


def test_manifest_lacking_a_key_names_it(tmp_path):
    for key in ("hsi_bands", "lidar_bands", "model", "classes", "class_embeddings", "text_encoder"):
        path = saved(tmp_path)
        rewrite(path, lambda m: m.pop(key))
        with pytest.raises(ModelFileError, match=f"the manifest lacks '{key}'"):
            read_manifest(path)
    # the prompt dock reads partial manifests; prediction needs the normalisation
    path = saved(tmp_path)
    rewrite(path, lambda m: m.pop("normalisation"))
    assert read_manifest(path).classes
    with pytest.raises(ModelFileError, match="the manifest lacks 'normalisation'"):
        load_model(path)
    rewrite(path, lambda m: m["model"].pop("embed_dim"))
    with pytest.raises(ModelFileError, match="the manifest lacks 'model.embed_dim'"):
        read_manifest(path)


def _set(keys, value):
    def change(m):
        *parents, last = keys
        for k in parents:
            m = m[k]
        m[last] = value
    return change


@pytest.mark.parametrize("keys, value, message", [
    (["format_version"], "1", "'format_version' must be a whole number >= 1, got '1'"),
    (["format_version"], True, "'format_version' must be a whole number >= 1, got True"),
    (["hsi_bands"], True, "'hsi_bands' must be a whole number in 0..4096, got True"),
    (["hsi_bands"], 8, "'model.hsi_bands' is 7 but 'hsi_bands' is 8"),
    (["lidar_bands"], 0, "'model.lidar_bands' is 2 but 'lidar_bands' is 0"),
    (["model", "hsi_width"], 10 ** 9, "'model.hsi_width' must be a whole number in 1..4096, got 1000000000"),
    (["model", "patch_size"], 8, "'model.patch_size' must be odd"),
    (["model", "patch_size"], 5, "'model.patch_size' must be a whole number in 7..127"),
    (["model", "dropout"], "0.1", "'model.dropout' must be a number in [0, 1)"),
    (["model", "modalities"], "radar", "'model.modalities' must be one of"),
    (["model", "layers"], 1000, "'model' has an unknown setting 'layers'"),
    (["model"], [], "'model' must be a JSON object"),
    (["classes"], [], "'classes' must be a list of 1..65535 classes"),
    (["classes", 1], {"id": 2, "name": "c2"}, "class #2 in 'classes' lacks 'color'"),
    (["classes", 1, "id"], 5, "'classes': class ids must be 1..4 in order"),
    (["classes", 1, "color"], "blue", "'classes': class #2 \"c2\" has colour 'blue'"),
    (["class_embeddings"], [[0.5] * 16] * 3, "'class_embeddings' must hold one row per class (4), got a JSON list of 3"),
    (["class_embeddings", 2], [0.5] * 15, "'class_embeddings' row 3 must be a list of 16 numbers"),
    (["class_embeddings", 0, 3], "NaN", "'class_embeddings' row 1 holds 'NaN'; it needs finite numbers"),
    (["class_embeddings", 0, 3], float("inf"), "'class_embeddings' row 1 holds inf"),
    (["class_embeddings", 0, 3], 10 ** 400, "'class_embeddings' row 1 holds 1000000"),
    (["normalisation", "hsi_std", 2], 0.0, "'normalisation.hsi_std' holds 0.0; it needs finite numbers > 0"),
    (["normalisation", "lidar_mean"], [0.0], "'normalisation.lidar_mean' must be a list of 2 numbers"),
    (["normalisation"], "z-scores", "'normalisation' must be a JSON object"),
    (["text_encoder"], "hash", "'text_encoder' must be a JSON object"),
    (["text_encoder", "dim"], -1, "'text_encoder.dim' must be a whole number"),
    (["prompts"], {"classes": [{"id": 1, "name": "a"}]}, "'prompts' has 1 classes, 'classes' has 4"),
    (["prompts"], {"classes": "a"}, "'prompts': prompt set must be a JSON object"),
    (["patch_size"], 15, "'patch_size' is 15 but 'model.patch_size' is 9"),
    (["scene"], ["trento"], "'scene' must be text"),
    (["history"], [1, 2], "'history' must be a JSON object"),
    (["wavelengths_nm"], ["400nm"], "'wavelengths_nm' must be a list of numbers"),
])
def test_damaged_manifest_values_are_named(tmp_path, keys, value, message):
    path = saved(tmp_path)
    rewrite(path, _set(keys, value))
    with pytest.raises(ModelFileError, match=re.escape(f"{path}: {message}")):
        read_manifest(path)
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model(path)


def test_band_count_zero_only_for_an_unused_modality(tmp_path):
    path = saved(tmp_path)
    rewrite(path, lambda m: (m.update(lidar_bands=0), m["model"].update(lidar_bands=0)))
    with pytest.raises(ModelFileError, match="'lidar_bands' is 0 but the model uses that modality"):
        read_manifest(path)


def test_manifest_that_is_not_an_object_or_json(tmp_path):
    from safetensors.torch import load_file, save_file
    path = saved(tmp_path)
    tensors = load_file(str(path))
    for text, message in (("[1, 2]", "not a JSON object"), ("{", "the manifest is damaged"),
                          ("[" * 100_000, "nested too deeply")):
        save_file(tensors, str(path), metadata={MANIFEST_KEY: text})
        with pytest.raises(ModelFileError, match=message):
            load_model(path)


def test_text_encoder_dimension_must_match_for_prediction(tmp_path):
    path = saved(tmp_path)
    rewrite(path, _set(["text_encoder", "dim"], 512))
    read_manifest(path)  # the dock only needs the prompts
    with pytest.raises(ModelFileError, match="'text_encoder.dim' is 512 but the class embeddings have 16"):
        load_model(path)


def test_tensor_shapes_are_checked_before_the_model_is_built(tmp_path):
    from safetensors.torch import load_file, save_file
    path = saved(tmp_path)
    rewrite(path, _set(["model", "hsi_width"], 9))
    with pytest.raises(ModelFileError, match=r"tensor 'fusion.0.0.weight' has shape \[12, 12, 1, 1\]; the "
                                             r"manifest's architecture needs \[12, 13, 1, 1\]"):
        load_model(path)
    for change, message in ((lambda t: t.pop("fusion.0.0.weight"), "the weights lack tensor 'fusion.0.0.weight'"),
                            (lambda t: t.update(extra=torch.zeros(3)), "the weights hold an unexpected tensor 'extra'")):
        path = saved(tmp_path)
        man, tensors = read_manifest_dict(path), load_file(str(path))
        change(tensors)
        save_file(tensors, str(path), metadata={MANIFEST_KEY: json.dumps(man)})
        with pytest.raises(ModelFileError, match=message):
            load_model(path)


def test_hsi_only_model_without_lidar_bands(tmp_path):
    from mmlgnet_qgis.core.model import MMLGNet, ModelConfig
    torch.manual_seed(0)
    cfg = ModelConfig(hsi_bands=7, lidar_bands=0, embed_dim=16, patch_size=9, hsi_width=8, lidar_width=4,
                      fusion_width=12, modalities="hsi")
    man = manifest()
    man.update(lidar_bands=0)
    man["normalisation"].update(lidar_mean=[], lidar_std=[])
    path = saved(tmp_path, MMLGNet(cfg, torch.randn(4, 16)).eval(), man)
    model, _ = load_model(path)
    assert model(torch.randn(1, 7, 9, 9), torch.randn(1, 0, 9, 9))["logits"].shape == (1, 4, 1, 1)


def test_model_settings_match_model_config():
    import dataclasses

    from mmlgnet_qgis.core import model_file
    from mmlgnet_qgis.core.model import MODALITIES, ModelConfig
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    assert set(model_file.MODEL_FIELDS) == set(fields) and model_file.MODALITIES == MODALITIES
    assert set(model_file.MODEL_REQUIRED) == {n for n, f in fields.items() if f.default is dataclasses.MISSING}
    for name, (lo, hi) in model_file.MODEL_INTS.items():
        assert fields[name].default is dataclasses.MISSING or lo <= fields[name].default <= hi


def test_read_manifest_needs_no_torch(tmp_path):
    import subprocess
    import sys
    path = saved(tmp_path)
    code = ("import sys; from mmlgnet_qgis.core.model_file import read_manifest; "
            f"read_manifest({str(path)!r}); assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
