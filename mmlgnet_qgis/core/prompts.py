"""Prompt sets: per class a name, a colour and one or more prompts, plus templates.

JSON form (files in resources/prompts/, the dock, the `--prompts` option and model files):
{"templates": ["a hyperspectral image of {}"],
 "classes": [{"id": 1, "name": "Apple trees", "color": "#2e8b57",
              "prompts": ["an aerial hyperspectral view of apple trees"]}]}
A class embedding is the normalised mean of the embeddings of its prompts and of every
template applied to its name.

Prompt sets come from users, project files and model files, so parsing any input raises
only PromptError, with a message that names the class, key or value at fault.
"""
from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import PromptError

if TYPE_CHECKING:
    from .text_encoders import TextEncoder

DEFAULT_TEMPLATES = ("a hyperspectral image of {}", "an aerial hyperspectral and lidar view of {}")
DEFAULT_COLOUR = "#808080"
from .defaults import MAX_CLASSES  # noqa: E402 (class maps are UInt16 and 0 is nodata)
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")




def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _show(value: object) -> str:
    """A short description of a (possibly hostile) value for an error message."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, (list, tuple)):
        return "a JSON list"
    try:
        return _clip(repr(value))
    except ValueError:  # an int too long to print
        return type(value).__name__


def _text(value: object, what: str) -> str:
    """A str that can be written out as UTF-8 (JSON may hold lone surrogates)."""
    if not isinstance(value, str):
        raise PromptError(f"{what} must be text, got {_show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PromptError(f"{what} holds an invalid character at position {exc.start}") from None
    return value


def _check_class_count(n: int) -> None:
    if n > MAX_CLASSES:
        raise PromptError(f"prompt set has {n} classes; at most {MAX_CLASSES} fit a class map")


def _check_template(t: str) -> None:
    """Check that a template holds exactly one bare {}.

    No field name, conversion or format spec: '{:>999999999}' would allocate gigabytes in
    t.format(name).
    """
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(t) if name is not None]
    except ValueError as exc:  # a lone { or }
        raise PromptError(f'template "{_clip(t)}" is not valid ({exc}); write {{}} as the placeholder '
                          "for the class name") from None
    if not fields:
        raise PromptError(f'template "{_clip(t)}" has no {{}} placeholder for the class name')
    if fields != [("", "", None)]:
        raise PromptError(f'template "{_clip(t)}" must hold exactly one {{}} placeholder for the class '
                          "name and no other braces (write {{ and }} for literal braces)")


@dataclass
class ClassPrompt:
    """One class: its id in the class map (1..K), name, colour (#rrggbb[aa]) and own prompts."""

    id: int
    name: str
    color: str = DEFAULT_COLOUR
    prompts: list[str] = field(default_factory=list)


def _parse_class(i: int, item: object) -> ClassPrompt:
    """The i-th (1-based) entry of "classes"."""
    if not isinstance(item, dict):
        raise PromptError(f"class #{i} must be a JSON object, got {_show(item)}")
    name = item.get("name", "")
    if not isinstance(name, str):
        raise PromptError(f"class #{i} has a name that is not text: {_show(name)}")
    name = _text(name, f"class #{i}'s name").strip()
    if not name:
        raise PromptError(f"class #{i} has no name")
    cid = item.get("id", i)
    if type(cid) is not int:  # not bool, float or str
        raise PromptError(f'class #{i} "{_clip(name)}" has id {_show(cid)}; ids are whole numbers')
    color = item.get("color", DEFAULT_COLOUR)
    if not isinstance(color, str) or not _COLOUR.fullmatch(color):
        raise PromptError(f'class #{i} "{_clip(name)}" has colour {_show(color)}; write #rrggbb or #rrggbbaa')
    prompts = item.get("prompts", [])
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list):
        raise PromptError(f'class #{i} "{_clip(name)}" has prompts {_show(prompts)}; give a list of texts')
    prompts = [_text(p, f'class #{i} "{_clip(name)}" prompt {j + 1}') for j, p in enumerate(prompts)]
    return ClassPrompt(id=cid, name=name, color=color, prompts=prompts)


@dataclass
class PromptSet:
    """The classes and the templates applied to every class name."""

    classes: list[ClassPrompt]
    templates: list[str] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))

    @property
    def names(self) -> list[str]:
        """The class names, in class order."""
        return [c.name for c in self.classes]

    @property
    def colours(self) -> list[str]:
        """The class colours, in class order."""
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
        """Returns: the JSON form (see the module docstring)."""
        return {"templates": list(self.templates),
                "classes": [{"id": c.id, "name": c.name, "color": c.color,
                             "prompts": list(c.prompts)} for c in self.classes]}

    def to_json(self) -> str:
        """Returns: the JSON form as indented text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "PromptSet":
        """Parse and validate the JSON form.

        Raises:
            PromptError: any malformed value, named in the message.
        """
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise PromptError('prompt set must be a JSON object with a "classes" list')
        _check_class_count(len(data["classes"]))  # before the per-class work
        templates = data.get("templates", list(DEFAULT_TEMPLATES))
        if not isinstance(templates, list):
            raise PromptError(f'"templates" must be a list of texts, got {_show(templates)}')
        templates = [_text(t, f"template {j + 1}") for j, t in enumerate(templates)]
        classes = [_parse_class(i + 1, item) for i, item in enumerate(data["classes"])]
        ps = cls(classes=classes, templates=templates)
        ps.validate()
        return ps

    def validate(self) -> None:
        """Run the checks across classes (from_dict has checked each value's type).

        Raises:
            PromptError: no classes or too many, ids not 1..K in order, a repeated name, a bad
                template, or neither templates nor prompts.
        """
        if not self.classes:
            raise PromptError("prompt set has no classes")
        _check_class_count(len(self.classes))
        first = {}
        for c in self.classes:
            if c.id in first:
                raise PromptError(f"class id {c.id} is used twice")
            first[c.id] = c
        for i, c in enumerate(self.classes, 1):
            if c.id != i:
                raise PromptError(f"class ids must be 1..{len(self.classes)} in order (0 = nodata); "
                                  f'class #{i} "{_clip(c.name)}" has id {_show(c.id)}')
        seen = {}
        for c in self.classes:
            if c.name.lower() in seen:
                raise PromptError(f'class name "{_clip(c.name)}" is used by classes {seen[c.name.lower()]} and {c.id}')
            seen[c.name.lower()] = c.id
        for t in self.templates:
            _check_template(t)
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


def _read_text(path: Path) -> str:
    try:
        if not path.exists():
            raise PromptError(f"prompt file not found: {_clip(str(path), 200)}")
        if path.is_dir():
            raise PromptError(f"{path} is a folder, not a prompt file")
        raw = path.read_bytes()
    except OSError as exc:  # unreadable, a name too long, ...
        raise PromptError(f"cannot read prompt file {_clip(str(path), 200)}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"prompt file {path} is not UTF-8 text (byte {exc.start} "
                          f"is 0x{raw[exc.start]:02x})") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark
    if not text.strip():
        raise PromptError(f"prompt set is empty: {path}")
    return text


def is_inline_json(source: str) -> bool:
    """Whether a prompts value is JSON text (else it names a file)."""
    return str(source).lstrip().removeprefix("\ufeff").lstrip().startswith("{")


def load_prompt_set(source: str | Path) -> PromptSet:
    """From a JSON string or a path to a JSON file."""
    if isinstance(source, Path):
        text = _read_text(source)
    else:
        text = str(source).lstrip().removeprefix("\ufeff").lstrip()
        if not text.strip():
            raise PromptError("prompt set is empty")
        if not is_inline_json(text):
            text = _read_text(Path(str(source)))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptError(f"prompts are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError:
        raise PromptError("prompts are not valid JSON: nested too deeply") from None
    except ValueError as exc:  # a number of over 4300 digits
        raise PromptError(f"prompts are not valid JSON: {_clip(str(exc), 100)}") from None
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


def class_embeddings(prompt_set: PromptSet, encoder: TextEncoder) -> np.ndarray:
    """(K, D) float32, unit rows: mean of each class's normalised text embeddings."""
    per_class = prompt_set.texts_per_class()
    # one encode call for all classes: per-call overhead made 10,000 classes take minutes
    emb = np.asarray(encoder.encode([t for texts in per_class for t in texts]), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
    owner = np.repeat(np.arange(len(per_class)), [len(texts) for texts in per_class])
    sums = np.zeros((len(per_class), emb.shape[1]), np.float64)
    np.add.at(sums, owner, emb)
    means = sums / np.bincount(owner, minlength=len(per_class))[:, None]
    return (means / (np.linalg.norm(means, axis=1, keepdims=True) + 1e-12)).astype(np.float32)
