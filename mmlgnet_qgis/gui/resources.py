"""Where the shipped resources (ready prompt sets, the plugin icon) live.

In the repository they sit beside the package (resources/); a packaged plugin may carry them
inside the plugin folder (mmlgnet_qgis/resources/), so look there first.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]

# Display names for the shipped sets; other files show their stem in title case.
_READY_SET_LABELS = {"trento": "Trento", "muufl": "MUUFL"}


def resources_dir() -> Path:
    for candidate in (_PACKAGE / "resources", _PACKAGE.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return _PACKAGE.parent / "resources"


def ready_prompt_sets() -> dict[str, Path]:
    """{"Trento": .../trento.json, "MUUFL": .../muufl.json, ...} in a stable order."""
    folder = resources_dir() / "prompts"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return {_READY_SET_LABELS.get(p.stem.lower(), p.stem.replace("_", " ").title()): p for p in files}


def icon_path() -> Path:
    """The plugin icon (also the Processing provider's), used for the dock's toolbar button."""
    return resources_dir() / "icon.svg"
