"""The typed manifest of a model file: what a model knows besides its weights.

Checked by `model_file.validate_manifest` (the one validator) before one is built from a dict;
readers use attributes, never string keys. torch-free: the prompt dock reads manifests in QGIS.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

from .prompts import PromptSet


class ClassInfo(NamedTuple):
    """One class of a model: id (1..K), name and '#rrggbb' colour."""

    id: int
    name: str
    color: str


def _lidar_products(data: dict, path: str) -> list | None:
    """The point-cloud products that made the LiDAR bands, checked (None: a LiDAR raster)."""
    from .errors import ModelFileError
    from .lidar_products import PRODUCTS
    products = data.get("lidar_products")
    if products is not None and (not isinstance(products, list) or len(products) != data["lidar_bands"]
                                 or not all(isinstance(p, str) and p in PRODUCTS for p in products)):
        raise ModelFileError(f"{path}: 'lidar_products' must list {data['lidar_bands']} of {', '.join(PRODUCTS)}, "
                             f"got {str(products)[:60]}")
    return products


def _hsi_spectral(data: dict, path: str) -> dict | None:
    """What training kept of the HSI's header (app.hsi_bands), checked (None: nothing recorded)."""
    from .errors import ModelFileError
    spec = data.get("hsi_spectral")
    if spec is None:
        return None

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: 'hsi_spectral' {what}, got {str(spec)[:80]}")
    if not isinstance(spec, dict) or not isinstance(spec.get("source_bands"), int):
        raise bad("must be a JSON object with 'source_bands'")
    kept = spec.get("kept_bands")
    if kept is not None and (not isinstance(kept, list) or len(kept) != data["hsi_bands"]
                             or not all(isinstance(b, int) and 0 <= b < spec["source_bands"] for b in kept)):
        raise bad(f"'kept_bands' must list {data['hsi_bands']} band indices below 'source_bands'")
    scale = spec.get("reflectance_scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0):
        raise bad("'reflectance_scale' must be a positive number")
    fwhm = spec.get("fwhm_nm")
    if fwhm is not None and (not isinstance(fwhm, list) or len(fwhm) != data["hsi_bands"]
                             or not all(type(v) in (int, float) for v in fwhm)):
        raise bad(f"'fwhm_nm' must list {data['hsi_bands']} numbers")
    return spec


def _distilled_from(data: dict, path: str) -> dict | None:
    """The teacher a distilled model learnt from (core/distill.py), checked (None: not distilled)."""
    from .errors import ModelFileError
    src = data.get("distilled_from")
    if src is None:
        return None
    if not isinstance(src, dict) or not isinstance(src.get("model", {}), dict):
        raise ModelFileError(f"{path}: 'distilled_from' must be a JSON object (with the teacher's 'model'), "
                             f"got {str(src)[:80]}")
    for key in ("weight", "temperature", "agreement_valid", "agreement_unlabelled"):
        v = src.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ModelFileError(f"{path}: 'distilled_from.{key}' must be a number, got {str(v)[:40]}")
    return src


@dataclass
class Manifest:
    """Everything in a model file but the weights."""

    hsi_bands: int
    lidar_bands: int
    model: dict                                  # ModelConfig fields
    classes: list[ClassInfo]
    text_encoder: dict                           # the encoder's identity (kind, model, dim, ...)
    class_embeddings: list[list[float]] | None = None
    normalisation: dict | None = None            # hsi_mean, hsi_std, lidar_mean, lidar_std
    prompts: PromptSet | None = None
    wavelengths_nm: list | None = None           # band centres; None entries for unknown bands
    lidar_products: list | None = None           # LiDAR bands made from a point cloud ('ndsm', ...); None: a raster
    hsi_spectral: dict | None = None             # bands kept by the HSI's bad-band list, reflectance scale, fwhm
    scene: str | None = None
    training: dict = field(default_factory=dict)  # settings and final numbers
    history: dict | None = None                  # per-epoch curves
    unknown_thresholds: list[float] | None = None  # per class: a winning cosine below it is "unknown"
    distilled_from: dict | None = None           # the teacher of a distilled student (core/distill.py)
    extra: dict = field(default_factory=dict)    # keys this version does not know, kept as they are

    KNOWN = ("hsi_bands", "lidar_bands", "model", "classes", "text_encoder", "class_embeddings",
             "normalisation", "prompts", "wavelengths_nm", "lidar_products", "hsi_spectral", "scene", "training", "history", "patch_size", "unknown_thresholds",
             "distilled_from",
             "format", "format_version")

    @classmethod
    def from_dict(cls, data: dict, path: str = "manifest", for_prediction: bool = False) -> Manifest:
        """Validate and build.

        Args:
            data: the manifest's JSON object.
            path: named in error messages.
            for_prediction: also require what prediction needs (normalisation, embeddings).

        Returns:
            The manifest.

        Raises:
            ModelFileError: a key is missing or malformed; the message names it.
        """
        from .model_file import validate_manifest
        validate_manifest(data, path, for_prediction=for_prediction)
        return cls(hsi_bands=data["hsi_bands"], lidar_bands=data["lidar_bands"], model=dict(data["model"]),
                   classes=[ClassInfo(c["id"], c["name"], c["color"]) for c in data["classes"]],
                   text_encoder=dict(data["text_encoder"]), class_embeddings=data.get("class_embeddings"),
                   normalisation=data.get("normalisation"),
                   prompts=PromptSet.from_dict(data["prompts"]) if data.get("prompts") else None,
                   wavelengths_nm=data.get("wavelengths_nm"), lidar_products=_lidar_products(data, path),
                   hsi_spectral=_hsi_spectral(data, path),
                   scene=data.get("scene"),
                   training=data.get("training") or {}, history=data.get("history"),
                   unknown_thresholds=data.get("unknown_thresholds"),
                   distilled_from=_distilled_from(data, path),
                   extra={k: v for k, v in data.items() if k not in cls.KNOWN})

    def to_dict(self) -> dict:
        """Returns: the JSON object stored in the model file (without format keys)."""
        out = {**copy.deepcopy(self.extra), "hsi_bands": self.hsi_bands, "lidar_bands": self.lidar_bands,
               "model": dict(self.model), "classes": [c._asdict() for c in self.classes],
               "text_encoder": dict(self.text_encoder), "patch_size": self.patch_size,
               "wavelengths_nm": self.wavelengths_nm, "scene": self.scene, "training": self.training,
               "history": self.history}
        for key in ("class_embeddings", "normalisation", "lidar_products", "hsi_spectral", "unknown_thresholds",
                    "distilled_from"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.prompts is not None:
            out["prompts"] = self.prompts.to_dict()
        return out

    @property
    def patch_size(self) -> int:
        """The network's patch size (pixels)."""
        from .defaults import PATCH_SIZE
        return self.model.get("patch_size", PATCH_SIZE)

    @property
    def names(self) -> list[str]:
        """Class names, in id order."""
        return [c.name for c in self.classes]

    @property
    def colours(self) -> list[str]:
        """Class colours ('#rrggbb'), in id order."""
        return [c.color for c in self.classes]

    @property
    def encoder_name(self) -> str:
        """The text encoder's model name, for messages."""
        return str(self.text_encoder.get("model", self.text_encoder.get("kind", "?")))

    @property
    def prompt_set(self) -> PromptSet:
        """The prompts the model was trained (or re-targeted) with; bare names for older files."""
        if self.prompts is not None:
            return self.prompts
        return PromptSet.from_dict({"classes": [c._asdict() for c in self.classes]})

    def with_prompts(self, prompt_set: PromptSet, embeddings: list[list[float]] | None = None) -> Manifest:
        """A copy whose classes and prompts come from `prompt_set` (re-worded or re-targeted).

        Args:
            prompt_set: the new classes and prompts.
            embeddings: their class embeddings, if known.

        Returns:
            The new manifest.
        """
        new = copy.deepcopy(self)
        if len(prompt_set.classes) != len(self.classes):
            new.unknown_thresholds = None  # calibrated for other classes
        new.classes = [ClassInfo(c.id, c.name, c.color) for c in prompt_set.classes]
        new.prompts = prompt_set
        if embeddings is not None:
            new.class_embeddings = embeddings
        return new
