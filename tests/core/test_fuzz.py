"""Hostile inputs: the prompt-set and model-file parsers let nothing escape but PromptError /
ModelFileError, whatever the text, bytes or JSON (hypothesis, 1,000 cases per test)."""
import atexit
import copy
import json
import pathlib
import pickle
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mmlgnet_qgis.core.model_file import (MANIFEST_KEY, ModelFileError, load_model, read_manifest,
                                          read_manifest_dict, save_model)
from mmlgnet_qgis.core.prompts import PromptError, PromptSet, load_prompt_set, scene_prompt_set
from model_fixtures import small_model
from model_fixtures import manifest as small_manifest

FUZZ = settings(max_examples=1000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
WORK = Path(tempfile.mkdtemp(prefix="mmlgnet-fuzz-"))  # hypothesis re-runs a test: no tmp_path
atexit.register(shutil.rmtree, WORK, True)

# -- JSON values --------------------------------------------------------------------------------
KEYS = ["classes", "templates", "id", "name", "color", "prompts"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-3, 70000)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["NaN", "{}", "{x}", "{", "#aabbcc", "#12345", "", " ", "\ud800", 10 ** 300]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6),
                    max_leaves=25)
HOSTILE = JSON | st.sampled_from([10 ** 12, -1, 0, 2 ** 63, 4097, 65536, 1e308, -0.0, "NaN", "Infinity",
                                  [[[[[]]]]], {"dim": 10 ** 9}, [0.5] * 17, [[1.0] * 16] * 3])


def paths(value, prefix=()):
    """Every path into a JSON value (dict keys, list indexes), the root included."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from paths(v, prefix + (k,))


def mutate(value, data, times, skip=lambda path: False):
    """`value` (JSON) with `times` random values deleted or replaced by hostile ones."""
    value = json.loads(json.dumps(value))
    targets = [p for p in paths(value) if not skip(p)]
    rnd = data.draw(st.randoms(use_true_random=True))  # uniform picks (hypothesis favours the first)
    for _ in range(times):
        where = rnd.choice(targets)
        if not where:
            return copy.deepcopy(data.draw(HOSTILE))
        try:
            parent = value
            for k in where[:-1]:
                parent = parent[k]
            if rnd.random() < 0.3:
                del parent[where[-1]]
            else:
                parent[where[-1]] = copy.deepcopy(data.draw(HOSTILE))  # sampled values are shared
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed the path
            pass
    return value


TEXT = st.text(max_size=8) | st.sampled_from(["x", "X", "", " ", "{}", "\ud800"])
TEMPLATES = st.lists(st.sampled_from(["a {} b", "{}", "{{}} {}", "{x}", "{0} {1}", "{:>99999}", "{!r}",
                                      "{} {}", "}"]) | TEXT, max_size=3)
COLOUR = st.from_regex(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", fullmatch=True)
# Plausible prompt sets (1..6 classes, ids in order), for mutate() to damage.
PROMPT_SET = st.builds(
    lambda classes, templates: {"classes": [dict(c, id=i) for i, c in enumerate(classes, 1)],
                                **({} if templates is None else {"templates": templates})},
    st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "B", "b"]) | st.text(min_size=1, max_size=8)},
                                   optional={"color": COLOUR, "prompts": st.lists(TEXT, max_size=3) | TEXT}),
             min_size=1, max_size=6),
    st.none() | TEMPLATES)


def check_prompt_set(load):
    """load() returns a usable prompt set or raises PromptError; nothing else."""
    try:
        ps = load()
    except PromptError:
        return
    ps.validate()
    ps.warnings()
    assert all(texts for texts in ps.texts_per_class())
    assert PromptSet.from_dict(json.loads(ps.to_json())).to_dict() == ps.to_dict()
    ps.to_json().encode("utf-8")


@FUZZ
@given(st.data())
def test_fuzz_prompt_set_json_values(data):
    value = data.draw(JSON) if data.draw(st.integers(0, 4)) == 4 else \
        mutate(data.draw(PROMPT_SET), data, data.draw(st.integers(0, 2)))
    check_prompt_set(lambda: PromptSet.from_dict(value))
    check_prompt_set(lambda: load_prompt_set(json.dumps(value, ensure_ascii=False)))


VALID_PROMPTS = scene_prompt_set("trento").to_json()


@FUZZ
@given(st.text(max_size=200), st.integers(0, len(VALID_PROMPTS)), st.integers(0, 40))
def test_fuzz_prompt_set_text(junk, at, cut):
    check_prompt_set(lambda: load_prompt_set("{" + junk))
    # a valid set with junk spliced in: reaches the checks past the JSON parser
    check_prompt_set(lambda: load_prompt_set(VALID_PROMPTS[:at] + junk + VALID_PROMPTS[at + cut:]))


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda b, at: VALID_PROMPTS.encode()[:at] + b + VALID_PROMPTS.encode()[at:],
                                           st.binary(max_size=4), st.integers(0, len(VALID_PROMPTS))))
def test_fuzz_prompt_set_file_bytes(raw):
    path = WORK / "prompts.json"
    path.write_bytes(raw)
    check_prompt_set(lambda: load_prompt_set(path))
    check_prompt_set(lambda: load_prompt_set(str(path)))


# -- model files --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def valid_model():
    """(bytes, manifest, tensors) of one small saved model."""
    path = WORK / "valid.safetensors"
    save_model(path, small_model(), small_manifest())
    return path.read_bytes(), read_manifest_dict(path), load_file(str(path))


def check_model_file(path):
    """read_manifest and load_model succeed (and the model predicts) or raise ModelFileError.
    The loaders turn any exception into ModelFileError as a last resort; one caused by anything
    but the file format's own parsers would be a gap in the checks, so it fails the test."""
    try:
        read_manifest(path)
        model, man = load_model(path)
    except ModelFileError as exc:
        cause = exc.__cause__
        assert cause is None or isinstance(cause, (SafetensorError, json.JSONDecodeError, RecursionError)), \
            f"{type(cause).__name__} reached the last-resort handler: {exc}"
        return
    p = model.cfg.patch_size
    with torch.no_grad():
        out = model(torch.randn(1, man.hsi_bands, p, p), torch.randn(1, man.lidar_bands, p, p))
    assert out["logits"].shape == (1, len(man.classes), 1, 1)


@FUZZ
@given(st.data())
def test_fuzz_manifest(data):
    _, man, tensors = valid_model()
    # one element per numeric list is enough (else most picks would land in the embeddings)
    man = mutate(man, data, data.draw(st.integers(1, 3)),
                 skip=lambda p: len(p) >= 2 and p[0] in ("class_embeddings", "normalisation")
                 and isinstance(p[-1], int) and p[-1] > 0)
    path = WORK / "manifest.safetensors"
    save_file(tensors, str(path), metadata={MANIFEST_KEY: json.dumps(man)})
    check_model_file(path)


@FUZZ
@given(st.data())
def test_fuzz_model_file_bytes(data):
    raw, _, _ = valid_model()
    header_end = 8 + int.from_bytes(raw[:8], "little")
    rnd = data.draw(st.randoms(use_true_random=True))
    if rnd.random() < 0.1:
        damaged = data.draw(st.binary(max_size=300))
    else:
        damaged = bytearray(raw)
        for _ in range(rnd.randint(0, 4)):  # mostly in the header
            byte = rnd.randrange(32, 127) if rnd.random() < 0.7 else rnd.randrange(256)  # the header is text
            damaged[rnd.randrange(header_end if rnd.random() < 0.8 else len(raw))] = byte
        if rnd.random() < 0.3:
            damaged = damaged[:rnd.randrange(len(raw))]
    path = WORK / "bytes.safetensors"
    path.write_bytes(bytes(damaged))
    check_model_file(path)


class Evil:
    """A pickle that creates a file when it is loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_pickles_are_never_loaded(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Evil(proof)))
    assert proof.exists(), "the payload does not work, so the test below would prove nothing"
    marker = tmp_path / "pwned"
    evil_pickle = pickle.dumps(Evil(marker))
    torch.save({"weights": Evil(marker)}, tmp_path / "evil.pt")
    evil_zip = (tmp_path / "evil.pt").read_bytes()
    for name, raw in (("evil.safetensors", evil_pickle), ("evil.pt", evil_pickle),
                      ("evil2.safetensors", evil_zip), ("evil2.pt", evil_zip)):
        path = tmp_path / name
        path.write_bytes(raw)
        for load in (read_manifest, load_model):
            with pytest.raises(ModelFileError, match="not an MMLGNet model file or is damaged"):
                load(path)
    assert not marker.exists()
