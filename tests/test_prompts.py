"""Prompt sets: JSON round trip, validation, class embeddings, shipped scene sets."""
import json

import numpy as np
import pytest

from mmlgnet_qgis.core.prompts import (PromptError, class_embeddings, load_prompt_set, scene_prompt_set)
from mmlgnet_qgis.core.scenes import SCENES


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_shipped_scene_prompt_sets_match_the_benchmarks(scene):
    ps = scene_prompt_set(scene)
    assert ps.names == list(SCENES[scene].class_names)
    assert all(c.prompts for c in ps.classes) and not ps.warnings()


def test_json_round_trip_and_file_loading(tmp_path):
    ps = scene_prompt_set("trento")
    again = load_prompt_set(ps.to_json())
    assert again.to_dict() == ps.to_dict()
    f = tmp_path / "p.json"
    f.write_text(ps.to_json())
    assert load_prompt_set(str(f)).to_dict() == ps.to_dict()


@pytest.mark.parametrize("text, message", [
    ('{"classes": [', "not valid JSON"),
    ('{"classes": []}', "no classes"),
    ('{"classes": [{"id": 2, "name": "a"}]}', "ids must be 1..1"),
    ('{"classes": [{"id": 1, "name": "a"}, {"id": 2, "name": "A"}]}', 'name "A"'),
    ('{"templates": ["no placeholder"], "classes": [{"id": 1, "name": "a"}]}', "placeholder"),
    ('{"classes": [{"id": 1}]}', "class #1 has no name"),
])
def test_invalid_prompt_sets_are_refused_clearly(text, message):
    with pytest.raises(PromptError, match=message):
        load_prompt_set(text)


def test_empty_and_duplicate_prompts_warn():
    ps = load_prompt_set(json.dumps({"classes": [
        {"id": 1, "name": "a", "prompts": ["same", ""]}, {"id": 2, "name": "b", "prompts": ["Same"]}]}))
    warnings = " | ".join(ps.warnings())
    assert "empty prompt" in warnings and "used by classes 1 and 2" in warnings


def test_class_embeddings_average_prompts_and_templates(hash_encoder):
    ps = load_prompt_set(json.dumps({"templates": ["photo of {}"], "classes": [
        {"id": 1, "name": "a", "prompts": ["x", "y"]}, {"id": 2, "name": "b"}]}))
    emb = class_embeddings(ps, hash_encoder)
    assert emb.shape == (2, hash_encoder.dim)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-6)
    parts = hash_encoder.encode(["x", "y", "photo of a"]).mean(0)
    assert np.allclose(emb[0], parts / np.linalg.norm(parts), atol=1e-6)
    assert np.allclose(emb[1], hash_encoder.encode(["photo of b"])[0], atol=1e-6)
