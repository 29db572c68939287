"""Real text encoders: the bundled MiniLM and open_clip ViT-B-32 loaded from local checkpoints.

ViT-B-32 is used as is (no smaller stand-in): on this 2-core machine saving two random
checkpoints and loading three encoders from them took ~27 s in all (~35 s for the file), well under the 40 s budget.
"""
import json

import numpy as np
import pytest

from mmlgnet_qgis.core import text_encoders as te


def _cos(a, b):
    return float(np.dot(a, b))  # rows are unit-norm, so the dot product is the cosine


@pytest.fixture(scope="module")
def minilm():
    return te.MiniLMEncoder()


@pytest.fixture(scope="module")
def clip_ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    return (te.save_random_clip_checkpoint("ViT-B-32", d / "seed0.pt", seed=0),
            te.save_random_clip_checkpoint("ViT-B-32", d / "seed1.pt", seed=1))


@pytest.fixture(scope="module")
def clip0(clip_ckpts):
    return te.OpenClipEncoder("ViT-B-32", checkpoint=clip_ckpts[0])


PROMPTS = ["apple trees", "an orchard of apple trees", "asphalt road", "buildings"]


def _check_unit_rows(emb, n, dim):
    assert emb.shape == (n, dim)
    assert emb.dtype == np.float32
    assert np.all(np.isfinite(emb))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


# --- MiniLM -----------------------------------------------------------------------------------

def test_minilm_shape_norm_and_determinism(minilm):
    assert minilm.dim == 384
    a = minilm.encode(PROMPTS)
    _check_unit_rows(a, len(PROMPTS), 384)
    np.testing.assert_array_equal(a, minilm.encode(PROMPTS))
    # Rows do not depend on what else is in the batch beyond float noise.
    np.testing.assert_allclose(minilm.encode(PROMPTS[:1])[0], a[0], atol=1e-5)


def test_minilm_is_semantically_sensible(minilm):
    e = minilm.encode(PROMPTS)
    assert _cos(e[0], e[1]) > _cos(e[0], e[2]) + 0.2
    assert _cos(e[0], e[1]) > _cos(e[0], e[3])


def test_minilm_is_frozen(minilm):
    params = list(minilm._model.parameters())
    assert params and not any(p.requires_grad for p in params)
    assert not minilm._model.training


def test_encode_input_checks(minilm):
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        minilm.encode("apple trees")


# --- open_clip --------------------------------------------------------------------------------

def test_clip_checkpoint_loads_and_encodes(clip0, clip_ckpts):
    assert clip0.dim == 512
    e = clip0.encode(PROMPTS)
    _check_unit_rows(e, len(PROMPTS), 512)
    assert not np.allclose(e[0], e[2])  # different prompts, different rows
    assert clip0._model.visual is None  # image tower freed
    assert not any(p.requires_grad for p in clip0._model.parameters())
    ident = clip0.identity()
    assert ident == {"kind": "open_clip", "model": "ViT-B-32", "pretrained": None,
                     "checkpoint": str(clip_ckpts[0].resolve()), "dim": 512}
    json.dumps(ident)


def test_clip_weights_really_come_from_the_file(clip0, clip_ckpts):
    # A second, independent load of the same file (rebuilt from the stored identity, as a model
    # file would be) gives the same embeddings...
    te.clear_text_encoder_cache()
    same = te.build_text_encoder(json.loads(json.dumps(clip0.identity())))
    assert same is not clip0 and same.identity() == clip0.identity()
    np.testing.assert_array_equal(same.encode(PROMPTS), clip0.encode(PROMPTS))
    # ...the short string form names the same encoder, so the cache serves it...
    assert te.build_text_encoder(f"clip:ViT-B-32:{clip_ckpts[0]}") is same
    te.clear_text_encoder_cache()
    del same
    # ...and a checkpoint from another seed gives different embeddings.
    other = te.OpenClipEncoder("ViT-B-32", checkpoint=clip_ckpts[1])
    diff = np.abs(other.encode(PROMPTS) - clip0.encode(PROMPTS)).max()
    assert diff > 1e-2


def test_clip_errors(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        te.OpenClipEncoder("ViT-B-32", checkpoint=missing)
    with pytest.raises(ValueError, match="pretrained.*checkpoint"):
        te.OpenClipEncoder("ViT-B-32")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        te.OpenClipEncoder("Not-A-Model", checkpoint=missing)
    with pytest.raises(ValueError, match="unknown pretrained tag"):
        te.OpenClipEncoder("ViT-B-32", pretrained="no-such-tag")


# --- build_text_encoder -----------------------------------------------------------------------

def test_build_minilm_round_trip_and_cache(minilm):
    te.clear_text_encoder_cache()
    enc = te.build_text_encoder("minilm")
    assert enc.identity() == minilm.identity()
    assert te.build_text_encoder(json.loads(json.dumps(enc.identity()))) is enc  # cached
    np.testing.assert_allclose(enc.encode(PROMPTS), minilm.encode(PROMPTS), atol=1e-6)


def test_parse_specs():
    assert te._parse_spec("clip:ViT-B-32:openai") == {
        "kind": "open_clip", "model": "ViT-B-32", "pretrained": "openai", "checkpoint": None}
    for path in ("ckpt.pt", "w.safetensors", "models/clip", r"C:\models\clip.bin"):
        spec = te._parse_spec(f"clip:ViT-B-32:{path}")
        assert spec["checkpoint"] == path and spec["pretrained"] is None
    assert te._parse_spec("MiniLM")["kind"] == "minilm"


@pytest.mark.parametrize("bad", ["bert", "clip:ViT-B-32", "clip::openai", "",
                                 {"kind": "word2vec"}, {"kind": "minilm", "model": "bert"}, 42])
def test_unknown_specs_are_rejected(bad):
    with pytest.raises(ValueError):
        te.build_text_encoder(bad)


def test_dim_mismatch_is_rejected(minilm):
    spec = dict(minilm.identity(), dim=512)
    with pytest.raises(ValueError, match="384"):
        te.build_text_encoder(spec)
