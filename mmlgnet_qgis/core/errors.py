"""The errors MMLGNet raises on purpose, under one base class.

Front ends catch `MMLGNetError` (and `OSError`: disk full, permission) and show one line; any
other exception is a bug and keeps its traceback. Input errors also subclass `ValueError`, so
callers that caught ValueError before keep working.
"""
from __future__ import annotations


class MMLGNetError(Exception):
    """Base of every error that explains a problem the user can fix."""


class InputError(MMLGNetError, ValueError):
    """A layer, band, file or value given by the user cannot be used; the message names it."""


class GridMismatchError(InputError):
    """Two rasters that must share one pixel grid do not; the message names both grids."""


class PromptError(InputError):
    """A prompt set (JSON text, file or dict) is malformed; the message names the class or key."""


class ModelFileError(InputError):
    """The model file is missing, not a model file, damaged, or from an unknown format version."""


class DependencyError(MMLGNetError):
    """A Python package the run needs cannot be imported in the interpreter doing the work."""


class WorkerError(MMLGNetError):
    """The worker process died (signal, out of memory) or broke its protocol."""


class Cancelled(MMLGNetError):
    """The user cancelled the run; outputs were removed."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
