"""The worker's wire format: one JSON object per line, in both directions.

QGIS -> worker: {"type": "request", "id": N, "request": {...}} (a request's `to_dict()`, or
{"kind": "selfcheck"}), {"type": "cancel", "id": N}, {"type": "quit"}.
Worker -> QGIS: "ready" once at start, then per request any number of "progress", "log",
"warning", and exactly one "result" or "error". Standard library only (QGIS side imports it).
"""
from __future__ import annotations

import builtins
import json
import math

from ..core import errors

REQUEST, CANCEL, QUIT = "request", "cancel", "quit"
READY, PROGRESS, LOG, WARNING, RESULT, ERROR = "ready", "progress", "log", "warning", "result", "error"
TYPES = {REQUEST, CANCEL, QUIT, READY, PROGRESS, LOG, WARNING, RESULT, ERROR}


class ProtocolError(errors.WorkerError):
    """A line that is not one of the protocol's messages."""


def _finite(value):
    """JSON has no NaN/inf: send them as None (a metric that could not be computed)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode(message: dict) -> str:
    """One message as one line.

    Args:
        message: a dict with a "type" from TYPES.

    Returns:
        The JSON text followed by a newline (no newline inside: json escapes them).
    """
    if message.get("type") not in TYPES:
        raise ProtocolError(f"unknown message type {message.get('type')!r}")
    return json.dumps(_finite(message), allow_nan=False, default=str) + "\n"


def decode(line: str | bytes) -> dict:
    """One line back into a message.

    Args:
        line: a line as read from the pipe.

    Returns:
        The message dict.

    Raises:
        ProtocolError: not JSON, not an object, or an unknown type.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"the worker sent a line that is not JSON: {line[:200]!r} ({exc.msg})") from None
    if not isinstance(message, dict) or message.get("type") not in TYPES:
        raise ProtocolError(f"the worker sent an unknown message: {line[:200]!r}")
    return message


def request(request_id: int, data: dict, describe: bool = False) -> dict:
    """Returns: a request message for a request's `to_dict()`; `describe`: log torch and device first."""
    return {"type": REQUEST, "id": request_id, "request": data, "describe": describe}


def progress(request_id: int, done: float, total: float, metrics: dict | None = None) -> dict:
    """Returns: a progress message (`done` of `total`, optional metrics)."""
    return {"type": PROGRESS, "id": request_id, "done": done, "total": total, "metrics": metrics}


def log(request_id: int, message: str) -> dict:
    """Returns: a log-line message."""
    return {"type": LOG, "id": request_id, "message": str(message)}


def warning(request_id: int, message: str) -> dict:
    """Returns: a warning message."""
    return {"type": WARNING, "id": request_id, "message": str(message)}


def result(request_id: int, data, result_type: str | None = None) -> dict:
    """Returns: the result message; `data` is the use case's result as a dict, `result_type` its
    dataclass as 'module:Name' (so the QGIS side rebuilds the same class)."""
    return {"type": RESULT, "id": request_id, "result": data, "result_type": result_type}


def error(request_id: int | None, exc: BaseException, tb: str | None = None) -> dict:
    """The error message for an exception raised by a request.

    Args:
        request_id: the failed request (None: the worker itself failed).
        exc: the exception.
        tb: the formatted traceback; kept only for bugs (not MMLGNetError or OSError), which
            the user cannot fix and a developer needs to see.

    Returns:
        {"type": "error", "error": class name, "message": text, "traceback": text or None}.
    """
    expected = isinstance(exc, (errors.MMLGNetError, OSError))
    return {"type": ERROR, "id": request_id, "error": type(exc).__name__, "message": str(exc),
            "errno": getattr(exc, "errno", None), "filename": getattr(exc, "filename", None),
            "traceback": None if expected else tb}


def exception_from(message: dict) -> BaseException:
    """Rebuild an error message as an exception the front ends already handle.

    MMLGNetError subclasses and OSError subclasses come back as themselves; anything else is a
    bug in the worker and comes back as WorkerError naming the original class.

    Args:
        message: an "error" message.

    Returns:
        The exception to raise.
    """
    name, text = message.get("error", "Exception"), message.get("message", "")
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.MMLGNetError):
        return cls(text)
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, OSError):
        if message.get("errno") is not None:
            return cls(message["errno"], _strerror(text), *([message["filename"]] if message.get("filename") else []))
        return cls(text)
    return errors.WorkerError(f"the worker failed with a bug: {name}: {text}"
                              + (" (traceback in the log)" if message.get("traceback") else ""))


def _strerror(text: str) -> str:
    """'[Errno 2] No such file or directory: x' -> 'No such file or directory'."""
    if text.startswith("[Errno"):
        text = text.split("] ", 1)[-1]
    return text.split(": '", 1)[0]
