"""Model file: one safetensors file whose header metadata holds the JSON manifest.

Weights are plain tensors and the manifest is JSON, so loading never executes code.
Reading the manifest needs no torch (the prompt dock does it in a QGIS without torch).
The manifest: format version, band counts, wavelengths, normalisation, patch size, classes
(ids, names, colours), prompts and templates, text-encoder identity, class embeddings,
training settings and history summary.

Model files may be damaged or hostile: read_manifest and load_model raise only
ModelFileError, whose message names the key or tensor at fault, and check every size
before allocating anything.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .atomic_files import atomic_path
from .defaults import MODALITIES, PATCH_SIZE
from .prompts import MAX_CLASSES, PromptSet, _show
from .errors import InputError, ModelFileError, PromptError
from .manifest import Manifest

if TYPE_CHECKING:
    from .model import MMLGNet

FORMAT = "mmlgnet-model"
FORMAT_VERSION = 1
MANIFEST_KEY = "mmlgnet_manifest"
MAX_BANDS = 4096
MAX_WIDTH = 4096
# ModelConfig's fields (model.py needs torch, read_manifest must not): (lowest, highest) for
# the whole numbers; test_model_file checks that the names match ModelConfig.
MODEL_INTS = {"hsi_bands": (0, MAX_BANDS), "lidar_bands": (0, MAX_BANDS), "embed_dim": (1, MAX_WIDTH),
              "patch_size": (7, 127), "hsi_width": (1, MAX_WIDTH), "lidar_width": (1, MAX_WIDTH),
              "fusion_width": (1, MAX_WIDTH), "hsi_reduce": (0, MAX_BANDS)}
MODEL_REQUIRED = ("hsi_bands", "lidar_bands", "embed_dim")
MODEL_FIELDS = (*MODEL_INTS, "dropout", "modalities")




def save_model(path: str | os.PathLike, model: MMLGNet, manifest: Manifest | dict) -> None:
    """Write atomically: a temporary file beside the target, renamed when complete.

    Args:
        path: the .safetensors file.
        model: the network; its config and class embeddings go into the manifest.
        manifest: the manifest (a dict is accepted for tests of damaged files).

    Raises:
        InputError: a linear-head network (it classifies without the prompts, so it only teaches).
    """
    from safetensors.torch import save_file
    path = Path(path)
    full = manifest.to_dict() if isinstance(manifest, Manifest) else dict(manifest)
    if full.get("training", {}).get("config", {}).get("head", "text") != "text":
        raise InputError(f"not writing {path}: a network trained without prompts (head "
                         f"{full['training']['config']['head']!r}) cannot classify by prompt; it only teaches a student")
    full.update({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.cfg.to_dict(),
                 "class_embeddings": model.class_embeddings.cpu().numpy().tolist()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
               if k != "class_embeddings"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={MANIFEST_KEY: json.dumps(full)})


@contextmanager
def _model_file_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Whatever a damaged file makes a library raise becomes a ModelFileError."""
    try:
        yield
    except (ModelFileError, MemoryError):
        raise
    except Exception as exc:  # safetensors' own errors, json, torch, numbers out of range...
        detail = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise ModelFileError(f"{path} {what} ({type(exc).__name__}: {detail})") from exc


def _whole(value: object, what: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:  # bool is not a count
        raise InputError(f"{what} must be a whole number in {lo}..{hi}, got {_show(value)}")
    return value


def _numbers(value: object, what: str, n: int, positive: bool = False) -> None:
    """A list of n numbers that are finite in float32 (bool is not a number)."""
    if not isinstance(value, list) or len(value) != n:
        raise InputError(f"{what} must be a list of {n} numbers, got {_show(value)}"
                         + (f" of {len(value)}" if isinstance(value, list) else ""))
    for v in value:
        if type(v) not in (int, float) or not abs(v) < 3e38 or (positive and not v > 0):
            raise InputError(f"{what} holds {_show(v)}; it needs finite numbers" + (" > 0" if positive else ""))


def _check_model_config(cfg: object, hsi: int, lidar: int) -> None:
    if not isinstance(cfg, dict):
        raise InputError(f"'model' must be a JSON object, got {_show(cfg)}")
    unknown = next((k for k in cfg if k not in MODEL_FIELDS), None)
    if unknown is not None:
        raise InputError(f"'model' has an unknown setting {_show(unknown)}")
    missing = next((k for k in MODEL_REQUIRED if k not in cfg), None)
    if missing:
        raise InputError(f"the manifest lacks 'model.{missing}'")
    for key, (lo, hi) in MODEL_INTS.items():
        if key in cfg:
            _whole(cfg[key], f"'model.{key}'", lo, hi)
    if cfg.get("patch_size", 7) % 2 == 0:
        raise InputError(f"'model.patch_size' must be odd, got {cfg['patch_size']}")
    dropout = cfg.get("dropout", 0.0)
    if type(dropout) not in (int, float) or not 0 <= dropout < 1:
        raise InputError(f"'model.dropout' must be a number in [0, 1), got {_show(dropout)}")
    modalities = cfg.get("modalities", "both")
    if modalities not in MODALITIES:
        raise InputError(f"'model.modalities' must be one of {MODALITIES}, got {_show(modalities)}")
    for key, n, unused in (("hsi_bands", hsi, "lidar"), ("lidar_bands", lidar, "hsi")):
        if cfg[key] != n:
            raise InputError(f"'model.{key}' is {cfg[key]} but '{key}' is {n}")
        if n == 0 and modalities != unused:
            raise InputError(f"'{key}' is 0 but the model uses that modality")


def validate_manifest(manifest: dict, path: str | os.PathLike, for_prediction: bool = False) -> None:
    """Check every key a reader uses: type and size.

    Args:
        manifest: the parsed manifest.
        path: the model file, named in messages.
        for_prediction: also require what prediction needs (load_model): the normalisation, and
            class embeddings of the text encoder's dimension (the prompt dock reads older or
            partial manifests that lack them).

    Raises:
        ModelFileError: the manifest is not a JSON object or fails a check (the message names the path).
    """
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path}: the manifest is damaged (not a JSON object)")
    try:
        _validate(manifest, for_prediction)
    except ValueError as exc:  # _validate's messages, without the path
        raise ModelFileError(f"{path}: {exc}") from None


def _validate(manifest: dict, for_prediction: bool) -> None:
    def need(key: str):
        if key not in manifest:
            raise InputError(f"the manifest lacks '{key}'")
        return manifest[key]

    hsi = _whole(need("hsi_bands"), "'hsi_bands'", 0, MAX_BANDS)
    lidar = _whole(need("lidar_bands"), "'lidar_bands'", 0, MAX_BANDS)
    cfg = need("model")
    _check_model_config(cfg, hsi, lidar)

    classes = need("classes")
    if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES:
        raise InputError(f"'classes' must be a list of 1..{MAX_CLASSES} classes, got {_show(classes)}")
    for i, c in enumerate(classes, 1):
        lacking = next((k for k in ("id", "name", "color") if not isinstance(c, dict) or k not in c), None)
        if lacking:
            raise InputError(f"class #{i} in 'classes' lacks '{lacking}'")
    try:
        PromptSet.from_dict({"classes": classes})
    except PromptError as exc:
        raise InputError(f"'classes': {exc}") from None

    emb, dim = need("class_embeddings"), cfg["embed_dim"]
    if not isinstance(emb, list) or len(emb) != len(classes):
        raise InputError(f"'class_embeddings' must hold one row per class ({len(classes)}), got {_show(emb)}"
                         + (f" of {len(emb)}" if isinstance(emb, list) else ""))
    for i, row in enumerate(emb, 1):
        _numbers(row, f"'class_embeddings' row {i}", dim)

    encoder = need("text_encoder")
    if not isinstance(encoder, dict):
        raise InputError(f"'text_encoder' must be a JSON object, got {_show(encoder)}")
    if "dim" in encoder:
        _whole(encoder["dim"], "'text_encoder.dim'", 1, 1 << 20)
        if for_prediction and encoder["dim"] != dim:
            raise InputError(f"'text_encoder.dim' is {encoder['dim']} but the class embeddings have {dim}")

    if for_prediction or "normalisation" in manifest:
        norm = need("normalisation")
        if not isinstance(norm, dict):
            raise InputError(f"'normalisation' must be a JSON object, got {_show(norm)}")
        for key, n in (("hsi", hsi), ("lidar", lidar)):
            _numbers(norm.get(f"{key}_mean"), f"'normalisation.{key}_mean'", n)
            _numbers(norm.get(f"{key}_std"), f"'normalisation.{key}_std'", n, positive=True)

    if manifest.get("prompts"):  # the dock's test: older files have none
        try:
            prompts = PromptSet.from_dict(manifest["prompts"])
        except PromptError as exc:
            raise InputError(f"'prompts': {exc}") from None
        if len(prompts.classes) != len(classes):
            raise InputError(f"'prompts' has {len(prompts.classes)} classes, 'classes' has {len(classes)}")
    if "patch_size" in manifest and manifest["patch_size"] != cfg.get("patch_size", PATCH_SIZE):
        raise InputError(f"'patch_size' is {_show(manifest['patch_size'])} but 'model.patch_size' is "
                         f"{cfg.get('patch_size', PATCH_SIZE)}")
    wavelengths = manifest.get("wavelengths_nm")  # may hold NaN for unknown bands
    if wavelengths is not None and (not isinstance(wavelengths, list)
                                    or not all(type(v) in (int, float) for v in wavelengths)):
        raise InputError(f"'wavelengths_nm' must be a list of numbers, got {_show(wavelengths)}")
    thresholds = manifest.get("unknown_thresholds")
    if thresholds is not None:
        _numbers(thresholds, "'unknown_thresholds'", len(classes))
        if not all(-1 <= v <= 1 for v in thresholds):
            raise InputError(f"'unknown_thresholds' must hold cosines in -1..1, got {_show(thresholds)}")
    for key, kind in (("scene", str), ("training", dict), ("history", dict)):
        if manifest.get(key) is not None and not isinstance(manifest[key], kind):
            raise InputError(f"'{key}' must be {'text' if kind is str else 'a JSON object'}, "
                             f"got {_show(manifest[key])}")


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Only the manifest (cheap: reads the header, no torch), checked.

    Args:
        path: the model file.

    Returns:
        The typed manifest.

    Raises:
        ModelFileError: missing, foreign, damaged or newer file; the message names the key.
    """
    return Manifest.from_dict(read_manifest_dict(path), str(path))


def _header_metadata(path: Path) -> dict:
    """A safetensors file's __metadata__, read with the standard library.

    QGIS's process reads a model's prompts (the dock's Model… button) without the safetensors
    package, which lives in the worker's environment. Checks what safe_open checks: the header
    fits the file and every tensor's bytes lie inside it.

    Raises:
        ModelFileError: not a safetensors file, or a damaged one.
    """
    def damaged(why: str) -> ModelFileError:
        return ModelFileError(f"{path} is not an MMLGNet model file or is damaged ({why})")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise damaged("too short for a safetensors header")
        n = int.from_bytes(head, "little")
        if n > min(size - 8, 100_000_000):
            raise damaged(f"header length {n} does not fit the file's {size} bytes")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise damaged(f"the header is not UTF-8 text: {exc.reason}") from None
    if not isinstance(header, dict):
        raise damaged("the header is not a JSON object")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(v) is int for v in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= size - 8 - n):
            raise damaged(f"tensor {_show(name)} lies outside the file: truncated?")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise damaged("__metadata__ is not a JSON object of texts")
    return meta


def read_manifest_dict(path: str | os.PathLike) -> dict:
    """The manifest's JSON object, checked (for tools that rewrite model files)."""
    path = Path(path)
    with _model_file_errors(path, "is not an MMLGNet model file or is damaged"):
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
        meta = _header_metadata(path)
        if MANIFEST_KEY not in meta:
            raise ModelFileError(f"{path} is a safetensors file but holds no MMLGNet manifest")
        try:
            manifest = json.loads(meta[MANIFEST_KEY])
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: the manifest is damaged ({exc.msg})") from exc
        if not isinstance(manifest, dict):
            raise ModelFileError(f"{path}: the manifest is damaged (not a JSON object)")
        if manifest.get("format") != FORMAT:
            raise ModelFileError(f"{path}: unknown format {_show(manifest.get('format'))}")
        version = manifest.get("format_version")
        if type(version) is not int or version < 1:
            raise ModelFileError(f"{path}: 'format_version' must be a whole number >= 1, got {_show(version)}")
        if version > FORMAT_VERSION:
            raise ModelFileError(f"{path}: format version {version} is newer than this "
                                 f"plugin reads ({FORMAT_VERSION}); update mmlgnet-qgis")
        validate_manifest(manifest, path)
    return manifest


def load_model(path: str | os.PathLike) -> tuple[MMLGNet, Manifest]:
    """The network and its manifest; every shape is checked before anything is allocated.

    Args:
        path: the model file.

    Returns:
        (model in eval mode on CPU, manifest).

    Raises:
        ModelFileError: the file cannot give a working model; the message names the key or tensor.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .model import MMLGNet, ModelConfig
    path = Path(path)
    raw = read_manifest_dict(path)
    with _model_file_errors(path, "holds weights that are damaged or truncated"):
        manifest = Manifest.from_dict(raw, str(path), for_prediction=True)
        cfg = ModelConfig(**manifest.model)
        emb = torch.tensor(np.asarray(manifest.class_embeddings, np.float32))
        # Compare shapes with a model on the meta device (no memory) before allocating one.
        # The (small) embeddings stay on the CPU: F.normalize of a meta tensor goes through
        # torch._refs, which imports torch._dynamo and triton (segfaults beside Mesa's libLLVM).
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in MMLGNet(cfg, emb).state_dict().items()
                        if k != "class_embeddings"}
        with safe_open(str(path), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        for k in sorted(expected.keys() | found.keys()):
            if k not in found:
                raise ModelFileError(f"{path}: the weights lack tensor '{k}'")
            if k not in expected:
                raise ModelFileError(f"{path}: the weights hold an unexpected tensor {_show(k)}")
            if found[k] != expected[k]:
                raise ModelFileError(f"{path}: tensor '{k}' has shape {list(found[k])}; the manifest's "
                                     f"architecture needs {list(expected[k])}")
        tensors = load_file(str(path))
        model = MMLGNet(cfg, emb)
        tensors["class_embeddings"] = emb  # exactly as saved (already unit rows)
        model.load_state_dict(tensors, strict=True)
    model.eval()
    return model, manifest
