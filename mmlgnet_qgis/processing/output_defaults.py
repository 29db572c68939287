"""Default output paths for outputs a user keeps: a trained model must not default to a temporary
file that QGIS deletes on exit."""
from __future__ import annotations

from pathlib import Path

MODEL_NAME = "mmlgnet_model"


def default_model_path() -> str:
    """'<project folder or home>/mmlgnet_model.safetensors', numbered so no file is overwritten."""
    from qgis.core import QgsProject
    folder = Path(QgsProject.instance().homePath() or Path.home())
    path, n = folder / f"{MODEL_NAME}.safetensors", 2
    while path.exists():
        path, n = folder / f"{MODEL_NAME}_{n}.safetensors", n + 1
    return str(path)
