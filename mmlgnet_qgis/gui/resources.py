"""The shipped resources the dock shows: ready prompt sets and the plugin icon."""
from __future__ import annotations

from pathlib import Path

from ..core.resources import resources_dir

# Display names for the shipped sets; other files show their stem in title case.
_READY_SET_LABELS = {"trento": "Trento", "muufl": "MUUFL"}


def ready_prompt_sets() -> dict[str, Path]:
    """{"Trento": .../trento.json, "MUUFL": .../muufl.json, ...} in a stable order."""
    folder = resources_dir() / "prompts"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return {_READY_SET_LABELS.get(p.stem.lower(), p.stem.replace("_", " ").title()): p for p in files}


def icon_path() -> Path:
    """The plugin icon (also the Processing provider's), used for the dock's toolbar button."""
    return resources_dir() / "icon.svg"
