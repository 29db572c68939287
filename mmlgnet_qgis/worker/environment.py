"""Which Python runs the worker: MMLGNET_PYTHON, else the plugin setting, else the managed venv.

Never QGIS's own interpreter: inside QGIS `sys.executable` is the qgis binary (or whatever
python3 is first on PATH), and torch inside QGIS's process is what crashes it. Standard library
only; QGIS is consulted only when importable.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..core.errors import DependencyError

ENV_VAR = "MMLGNET_PYTHON"
SETTING_KEY = "mmlgnet/python"
MARKER = "mmlgnet-env.json"        # written by the installer after the self-check passed
PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent  # the repo, or QGIS's plugins folder
INSTALL_HINT = ("Plugins > MMLGNet > Install / repair dependencies creates one (torch, the text encoders "
                "and the pinned packages, in a folder of its own), or set 'Python environment for "
                "MMLGNet' in the same menu to an interpreter that has them (e.g. a conda env), or set "
                "the environment variable MMLGNET_PYTHON.")


def requirements_file() -> Path:
    """Returns: the pinned requirements.txt shipped with the plugin (repo root or plugin folder)."""
    for candidate in (PACKAGE_PARENT / "mmlgnet_qgis" / "requirements.txt", PACKAGE_PARENT / "requirements.txt"):
        if candidate.is_file():
            return candidate
    return PACKAGE_PARENT / "requirements.txt"


def requirements_hash(path: str | os.PathLike | None = None) -> str:
    """Returns: sha256 of the pinned requirements (a changed pin means: check again)."""
    data = Path(path or requirements_file()).read_bytes()
    return hashlib.sha256(data).hexdigest()


def _qgis_settings_dir() -> Path | None:
    try:
        from qgis.core import QgsApplication
    except ImportError:
        return None
    folder = QgsApplication.qgisSettingsDirPath()
    return Path(folder) if folder else None


def managed_env_dir(base: str | os.PathLike | None = None) -> Path:
    """Where the installer puts the managed venv.

    Args:
        base: the QGIS profile folder (default: QgsApplication.qgisSettingsDirPath(), or
            ~/.local/share/mmlgnet outside QGIS).

    Returns:
        <profile>/mmlgnet/venv.
    """
    if base is None:
        base = _qgis_settings_dir() or Path.home() / ".local" / "share"
    return Path(base) / "mmlgnet" / "venv"


def venv_python(env_dir: str | os.PathLike) -> Path:
    """Returns: the interpreter inside a venv folder (bin/python, or Scripts\\python.exe)."""
    env_dir = Path(env_dir)
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def read_marker(env_dir: str | os.PathLike) -> dict | None:
    """Returns: the installer's record of a managed venv, or None when absent or unreadable."""
    try:
        return json.loads((Path(env_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def setting_python() -> str | None:
    """Returns: the plugin setting 'Python environment for MMLGNet', when QGIS is importable and it is set."""
    try:
        from qgis.core import QgsSettings
    except ImportError:
        return None
    value = QgsSettings().value(SETTING_KEY, "", type=str)
    return value.strip() or None


def _is_qgis(path: str) -> bool:
    """True for QGIS's own binary (sys.executable inside QGIS): it cannot run `-m`."""
    return os.path.basename(os.path.realpath(path)).lower().startswith("qgis")


def choose_python(env_dir: str | os.PathLike | None = None) -> tuple[str, str]:
    """The worker's interpreter and where the choice came from.

    Args:
        env_dir: the managed venv folder (default: managed_env_dir()).

    Returns:
        (path, source), source one of "MMLGNET_PYTHON", "setting", "managed".

    Raises:
        DependencyError: nothing is configured, the configured interpreter does not exist, or
            the managed venv is missing, unfinished or was installed for other pins.
    """
    for value, source in ((os.environ.get(ENV_VAR, "").strip(), ENV_VAR), (setting_python(), "setting")):
        if value:
            if not os.path.isfile(value):
                what = "the environment variable MMLGNET_PYTHON" if source == ENV_VAR else \
                    "the setting 'Python environment for MMLGNet'"
                raise DependencyError(f"{what} names {value}, which does not exist. {INSTALL_HINT}")
            if _is_qgis(value):
                raise DependencyError(f"{value} is QGIS itself, not a Python interpreter. {INSTALL_HINT}")
            return value, source
    env_dir = Path(env_dir) if env_dir else managed_env_dir()
    python = venv_python(env_dir)
    marker = read_marker(env_dir)
    if not python.is_file() or marker is None or marker.get("problems"):
        state = "does not exist" if not python.is_file() else "is not finished or failed its check"
        raise DependencyError(f"MMLGNet runs torch in a Python environment of its own, which {state} "
                              f"({env_dir}). {INSTALL_HINT}")
    if marker.get("requirements_sha256") != requirements_hash():
        from .installer import recheck  # the pins changed: check (never reinstall) at first use
        recheck(env_dir)
    return str(python), "managed"


def python_env(source: str) -> dict:
    """Extra environment variables for a worker whose interpreter came from `source`.

    The managed venv sees the system's site-packages (for GDAL's bindings), and with them the
    user's ~/.local, ahead of its own: a torch once installed with `pip install --user` would
    shadow the pinned one, so the user site is switched off there. A user-chosen interpreter
    keeps its user site (that may be where its torch lives).

    Args:
        source: choose_python()'s source.

    Returns:
        {name: value}.
    """
    return {"PYTHONNOUSERSITE": "1"} if source == "managed" else {}


def worker_python(env_dir: str | os.PathLike | None = None) -> str:
    """Returns: the worker's interpreter (see choose_python)."""
    return choose_python(env_dir)[0]
