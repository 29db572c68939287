"""Where the shipped resources (ready prompt sets, the plugin icon) live.

In the repository they sit beside the package (resources/); the packaged plugin carries them
inside the plugin folder (mmlgnet_qgis/resources/), so look there first.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def resources_dir() -> Path:
    """Returns: the shipped resources folder: inside the plugin folder, else beside the package."""
    for candidate in (_PACKAGE / "resources", _PACKAGE.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return _PACKAGE.parent / "resources"
