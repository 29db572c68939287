"""The prompt set of the current QGIS project: written by the dock, read by the algorithms."""
from __future__ import annotations

from qgis.core import QgsProject

SCOPE, KEY = "mmlgnet", "prompt_set"


def read_project_prompts(project: QgsProject | None = None) -> str | None:
    """The JSON prompt set saved in the project, or None."""
    project = project or QgsProject.instance()
    text, ok = project.readEntry(SCOPE, KEY, "")
    return text if ok and text.strip() else None


def write_project_prompts(json_text: str, project: QgsProject | None = None) -> None:
    project = project or QgsProject.instance()
    project.writeEntry(SCOPE, KEY, json_text)
