"""Before an algorithm runs: is there a Python environment for the worker?

The packages (torch, the text encoders, scipy, matplotlib, laspy, ...) live in the worker's
interpreter, not in QGIS's: nothing here imports them. `require()` only checks that an
interpreter is configured (MMLGNET_PYTHON, the plugin setting, or the managed environment that
Plugins > MMLGNet > Install / repair dependencies creates); what that interpreter lacks, the
worker reports itself.
"""
from __future__ import annotations

from qgis.core import QgsProcessingException

from ..core.errors import DependencyError


def require(modules: dict[str, str] | None = None, text_encoder: str | None = None) -> None:
    """Raise a QgsProcessingException saying how to set up MMLGNet's environment when there is none.

    Args:
        modules: unused (kept for callers; the worker's environment holds every requirement).
        text_encoder: unused, likewise.

    Raises:
        QgsProcessingException: no usable interpreter; the message names the Install / repair action.
    """
    from ..worker.environment import choose_python
    try:
        choose_python()
    except DependencyError as exc:
        raise QgsProcessingException(str(exc)) from exc
