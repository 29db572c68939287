"""Prompt sets: JSON round trip, validation, class embeddings, shipped scene sets."""
import json
import re

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
    ("", "prompt set is empty"),
    (" \n\t", "prompt set is empty"),
    ('{"classes": 5}', 'JSON object with a "classes" list'),
    ('{"classes": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}', "class id 1 is used twice"),
    ('{"classes": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": "a", "name": "c"}]}',
     "class #3 \"c\" has id 'a'"),
    ('{"classes": [{"id": 1.5, "name": "a"}]}', "class #1 \"a\" has id 1.5"),
    ('{"classes": [{"id": true, "name": "a"}]}', "class #1 \"a\" has id True"),
    ('{"classes": [{"id": null, "name": "a"}]}', "class #1 \"a\" has id None"),
    ('{"classes": [{"id": [1], "name": "a"}]}', "class #1 \"a\" has id a JSON list"),
    ('{"classes": [{"id": 1, "name": 5}]}', "class #1 has a name that is not text: 5"),
    ('{"classes": [{"id": 1, "name": "  "}]}', "class #1 has no name"),
    ('{"classes": ["a"]}', "class #1 must be a JSON object"),
    ('{"classes": [{"id": 1, "name": "a", "color": "red"}]}', "class #1 \"a\" has colour 'red'"),
    ('{"classes": [{"id": 1, "name": "a", "color": "#12345"}]}', "has colour '#12345'"),
    ('{"classes": [{"id": 1, "name": "a", "color": null}]}', "has colour None"),
    ('{"classes": [{"id": 1, "name": "a", "prompts": 5}]}', "class #1 \"a\" has prompts 5"),
    ('{"classes": [{"id": 1, "name": "a", "prompts": ["x", 2]}]}', "class #1 \"a\" prompt 2 must be text"),
    ('{"classes": [{"id": 1, "name": "\\ud800"}]}', "class #1's name holds an invalid character"),
    ('{"templates": "x {}", "classes": [{"id": 1, "name": "a"}]}', '"templates" must be a list'),
    ('{"templates": [1], "classes": [{"id": 1, "name": "a"}]}', "template 1 must be text"),
    ('{"templates": ["{x}"], "classes": [{"id": 1, "name": "a"}]}', "exactly one {} placeholder"),
    ('{"templates": ["{0} {1}"], "classes": [{"id": 1, "name": "a"}]}', "exactly one {} placeholder"),
    ('{"templates": ["{} and {}"], "classes": [{"id": 1, "name": "a"}]}', "exactly one {} placeholder"),
    ('{"templates": ["{:>999999999}"], "classes": [{"id": 1, "name": "a"}]}', "exactly one {} placeholder"),
    ('{"templates": ["{!r}"], "classes": [{"id": 1, "name": "a"}]}', "exactly one {} placeholder"),
    ('{"templates": ["a {} {"], "classes": [{"id": 1, "name": "a"}]}', 'template "a {} {" is not valid'),
    ('{"templates": [], "classes": [{"id": 1, "name": "a"}]}', "neither templates nor prompts"),
    ('{"classes": ' + "[" * 100_000, "not valid JSON: nested too deeply"),
    ('{"classes": [{"id": 1' + "0" * 5000 + "}]}", "not valid JSON"),
    ("/no/such/prompts.json", "prompt file not found"),
])
def test_invalid_prompt_sets_are_refused_clearly(text, message):
    with pytest.raises(PromptError, match=re.escape(message) if "{" in message else message):
        load_prompt_set(text)


def test_colours_templates_and_ids_that_are_accepted():
    ps = load_prompt_set(json.dumps({"templates": ["{{literal}} {}"], "classes": [
        {"name": " a "}, {"id": 2, "name": "b", "color": "#AbCdEf80", "prompts": "one prompt"}]}))
    assert [c.id for c in ps.classes] == [1, 2] and ps.names == ["a", "b"]
    assert ps.colours == ["#808080", "#AbCdEf80"] and ps.classes[1].prompts == ["one prompt"]
    assert ps.texts_per_class()[0] == ["{literal} a"]


def test_prompt_files_bytes_bom_folders_and_empty_files(tmp_path):
    good = scene_prompt_set("trento").to_json().encode()
    f = tmp_path / "p.json"
    f.write_bytes(b"\xef\xbb\xbf" + good)  # a byte order mark, as Windows editors write
    assert load_prompt_set(f).names == scene_prompt_set("trento").names
    f.write_bytes(good[:20] + b"\xe9" + good[21:])  # Latin-1 e-acute
    for source in (f, str(f)):
        with pytest.raises(PromptError, match=f"prompt file {re.escape(str(f))} is not UTF-8 text \\(byte 20 "):
            load_prompt_set(source)
    for raw in (b"", b"  \n", b"\xef\xbb\xbf\n"):
        f.write_bytes(raw)
        with pytest.raises(PromptError, match="prompt set is empty"):
            load_prompt_set(f)
    with pytest.raises(PromptError, match="is a folder"):
        load_prompt_set(tmp_path)
    with pytest.raises(PromptError, match="cannot read prompt file"):
        load_prompt_set("x" * 5000)  # a name too long for the file system


def test_class_count_limit():
    # no wall-clock bound here: timings on shared CI cores are noise (speed lives in benchmarks)
    def many(n):
        return json.dumps({"classes": [{"id": i, "name": f"c{i}", "prompts": [f"p{i}"]} for i in range(1, n + 1)]})
    assert len(load_prompt_set(many(10_000)).classes) == 10_000
    with pytest.raises(PromptError, match="65536 classes; at most 65535"):
        load_prompt_set(many(65_536))


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
