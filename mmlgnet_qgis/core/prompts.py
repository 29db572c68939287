"""Prompt sets: per class a name, a colour and one or more prompts, plus templates.

JSON form (files in resources/prompts/, the dock, the `--prompts` option and model files):
{"templates": ["a hyperspectral image of {}"],
 "classes": [{"id": 1, "name": "Apple trees", "color": "#2e8b57",
              "prompts": ["an aerial hyperspectral view of apple trees"]}]}
A class embedding is the normalised mean of the embeddings of its prompts and of every
template applied to its name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_TEMPLATES = ("a hyperspectral image of {}", "an aerial hyperspectral and lidar view of {}")


class PromptError(ValueError):
    """A prompt set that cannot be used; the message names the class or value."""


@dataclass
class ClassPrompt:
    id: int
    name: str
    color: str = "#808080"
    prompts: list[str] = field(default_factory=list)


@dataclass
class PromptSet:
    classes: list[ClassPrompt]
    templates: list[str] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def colours(self) -> list[str]:
        return [c.color for c in self.classes]

    def texts_per_class(self) -> list[list[str]]:
        """Every text whose embedding is averaged into each class embedding."""
        out = []
        for c in self.classes:
            texts = [p.strip() for p in c.prompts if p.strip()]
            texts += [t.format(c.name) for t in self.templates]
            out.append(texts or [c.name])
        return out

    def to_dict(self) -> dict:
        return {"templates": list(self.templates),
                "classes": [{"id": c.id, "name": c.name, "color": c.color,
                             "prompts": list(c.prompts)} for c in self.classes]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "PromptSet":
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise PromptError('prompt set must be a JSON object with a "classes" list')
        templates = data.get("templates", list(DEFAULT_TEMPLATES))
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            raise PromptError('"templates" must be a list of strings')
        for t in templates:
            if "{}" not in t:
                raise PromptError(f'template "{t}" has no {{}} placeholder for the class name')
        classes = []
        for i, item in enumerate(data["classes"]):
            if not isinstance(item, dict) or not str(item.get("name", "")).strip():
                raise PromptError(f"class #{i + 1} has no name")
            prompts = item.get("prompts", [])
            if isinstance(prompts, str):
                prompts = [prompts]
            classes.append(ClassPrompt(id=int(item.get("id", i + 1)), name=str(item["name"]).strip(),
                                       color=str(item.get("color", "#808080")),
                                       prompts=[str(p) for p in prompts]))
        ps = cls(classes=classes, templates=list(templates))
        ps.validate()
        return ps

    def validate(self) -> None:
        if not self.classes:
            raise PromptError("prompt set has no classes")
        ids = [c.id for c in self.classes]
        if ids != list(range(1, len(ids) + 1)):
            raise PromptError(f"class ids must be 1..{len(ids)} in order (0 = nodata), got {ids}")
        seen = {}
        for c in self.classes:
            if c.name.lower() in seen:
                raise PromptError(f'class name "{c.name}" is used by classes {seen[c.name.lower()]} and {c.id}')
            seen[c.name.lower()] = c.id
        if not self.templates and not any(c.prompts for c in self.classes):
            raise PromptError("prompt set has neither templates nor prompts")

    def warnings(self) -> list[str]:
        """Problems that still allow training: empty or repeated prompts."""
        out, seen = [], {}
        for c in self.classes:
            for p in c.prompts:
                if not p.strip():
                    out.append(f'class {c.id} "{c.name}" has an empty prompt')
                elif p.strip().lower() in seen:
                    out.append(f'prompt "{p.strip()}" is used by classes {seen[p.strip().lower()]} and {c.id}')
                else:
                    seen[p.strip().lower()] = c.id
        return out


def load_prompt_set(source: str | Path) -> PromptSet:
    """From a JSON string or a path to a JSON file."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise PromptError(f"prompt file not found: {path}")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptError(f"prompts are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return PromptSet.from_dict(data)


def scene_prompt_set(scene: str) -> PromptSet:
    """The ready prompt set shipped for a benchmark scene (resources/prompts/<scene>.json)."""
    from .resources import resources_dir
    path = resources_dir() / "prompts" / f"{scene}.json"
    if path.is_file():
        return load_prompt_set(path)
    from .scenes import SCENES
    sc = SCENES[scene]
    return PromptSet([ClassPrompt(i + 1, n, c, []) for i, (n, c) in
                      enumerate(zip(sc.class_names, sc.colours))])


def names_prompt_set(names: list[str], colours: list[str] | None = None) -> PromptSet:
    """Bare class names with the default templates (for scenes without a prompt file)."""
    colours = colours or [f"#{(37 * i) % 256:02x}{(91 * i) % 256:02x}{(163 * i) % 256:02x}"
                          for i in range(1, len(names) + 1)]
    return PromptSet([ClassPrompt(i + 1, n, colours[i], []) for i, n in enumerate(names)])


def class_embeddings(prompt_set: PromptSet, encoder) -> np.ndarray:
    """(K, D) float32, unit rows: mean of each class's normalised text embeddings."""
    rows = []
    for texts in prompt_set.texts_per_class():
        emb = np.asarray(encoder.encode(texts), dtype=np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        mean = emb.mean(axis=0)
        rows.append(mean / (np.linalg.norm(mean) + 1e-12))
    return np.stack(rows).astype(np.float32)
