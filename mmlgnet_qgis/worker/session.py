"""The QGIS session's view of the worker: the dock's persistent worker and the environment line.

Processing algorithms run each request in a fresh worker (memory is returned when it ends, and
batch runs can go side by side); the dock keeps one worker for the session so its text encoder
stays loaded between encodes. Standard library only; no torch, no qgis needed.
"""
from __future__ import annotations

import threading

from ..core.errors import DependencyError
from . import environment
from .client import WorkerProcess, run_in_worker

_lock = threading.Lock()
_dock_worker: WorkerProcess | None = None
_checks: dict[str, dict] = {}   # interpreter -> its self-check, once per session


def dock_worker() -> WorkerProcess:
    """Returns: the session's persistent worker (started on its first request)."""
    global _dock_worker
    with _lock:
        if _dock_worker is None:
            _dock_worker = WorkerProcess()
        return _dock_worker


def shutdown() -> None:
    """Stop the dock's worker (plugin unload, QGIS exit)."""
    global _dock_worker
    with _lock:
        worker, _dock_worker = _dock_worker, None
    if worker is not None:
        worker.close()


def remember_check(python: str, check: dict) -> None:
    """Keep a self-check result for the rest of the session."""
    _checks[python] = check


def environment_status() -> tuple[str, str]:
    """The worker's environment in two parts, without starting a worker.

    Returns:
        (short, detail): ('torch 2.13.0 · CPU only', 'managed environment, checked …'), or
        ('not set up', the way out), or ('not checked yet', '/path/python from MMLGNET_PYTHON').
    """
    try:
        python, source = environment.choose_python()
    except DependencyError as exc:
        return "not set up", str(exc)
    if python in _checks:
        return _checks[python]["line"], python
    if source == "managed":
        marker = environment.read_marker(environment.managed_env_dir()) or {}
        line = (marker.get("selfcheck") or {}).get("line", "checked")
        return line, f"managed environment, checked {marker.get('installed_at', '?')}"
    return "not checked yet", f"{python} from {'the plugin setting' if source == 'setting' else source}"


def environment_line() -> str:
    """Returns: environment_status() as one line, e.g. 'torch 2.13.0 · CPU only (managed environment, …)'."""
    short, detail = environment_status()
    return f"{short}: {detail}" if short == "not set up" else f"{short} ({detail})"


def run_for_processing(request, reporter):
    """Run a Processing algorithm's request in a fresh worker, its log headed by the environment.

    Args:
        request: the app request.
        reporter: the algorithm's feedback as a Reporter.

    Returns:
        The use case's result.
    """
    reporter.log(f"MMLGNet environment: {environment_line()}")
    return run_in_worker(request, reporter, describe=True)


def encode_in_dock_worker(request, reporter=None):
    """Run an encode request in the dock's worker; its first start also runs the self-check.

    Args:
        request: an EncodeRequest.
        reporter: progress and cancel.

    Returns:
        The EncodeResult.
    """
    worker = dock_worker()
    if not worker.alive:
        worker.start()
        remember_check(worker.python, worker.selfcheck())
    return worker.run(request, reporter)
