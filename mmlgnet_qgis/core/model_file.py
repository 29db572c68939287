"""Model file: one safetensors file whose header metadata holds the JSON manifest.

Weights are plain tensors and the manifest is JSON, so loading never executes code.
Reading the manifest needs no torch (the prompt dock does it in a QGIS without torch).
The manifest: format version, band counts, wavelengths, normalisation, patch size, classes
(ids, names, colours), prompts and templates, text-encoder identity, class embeddings,
training settings and history summary.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import MMLGNet

FORMAT = "mmlgnet-model"
FORMAT_VERSION = 1
MANIFEST_KEY = "mmlgnet_manifest"


class ModelFileError(ValueError):
    """The file is missing, not a model file, damaged, or from an unknown format version."""


def save_model(path: str | os.PathLike, model: MMLGNet, manifest: dict) -> None:
    """Write atomically: a temporary file beside the target, renamed when complete."""
    from safetensors.torch import save_file
    path = Path(path)
    full = dict(manifest)
    full.update({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.cfg.to_dict(),
                 "class_embeddings": model.class_embeddings.cpu().numpy().tolist()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
               if k != "class_embeddings"}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={MANIFEST_KEY: json.dumps(full)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: str | os.PathLike) -> dict:
    """Only the JSON manifest (cheap: reads the header)."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise ModelFileError(f"{path} is not an MMLGNet model file or is damaged ({exc})") from exc
    if MANIFEST_KEY not in meta:
        raise ModelFileError(f"{path} is a safetensors file but holds no MMLGNet manifest")
    try:
        manifest = json.loads(meta[MANIFEST_KEY])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: the manifest is damaged ({exc.msg})") from exc
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: unknown format {manifest.get('format')!r}")
    if int(manifest.get("format_version", -1)) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {manifest['format_version']} is newer than this "
                             f"plugin reads ({FORMAT_VERSION}); update mmlgnet-qgis")
    return manifest


def load_model(path: str | os.PathLike) -> tuple[MMLGNet, dict]:
    import torch
    from safetensors.torch import load_file

    from .model import MMLGNet, ModelConfig
    manifest = read_manifest(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: the weights are damaged or truncated ({exc})") from exc
    emb = torch.tensor(np.asarray(manifest["class_embeddings"], np.float32))
    try:
        model = MMLGNet(ModelConfig(**manifest["model"]), emb)
        tensors["class_embeddings"] = emb  # exactly as saved (already unit rows)
        model.load_state_dict(tensors, strict=True)
    except (RuntimeError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{path}: weights do not match the manifest's architecture ({exc})") from exc
    model.eval()
    return model, manifest
