"""QGIS's side of the worker: start it, send requests, stream its messages into a Reporter.

Standard library only: nothing here imports torch, so QGIS's process never loads it (and never
crashes on it). Plain subprocess + threads, so it works the same in the desktop, in Processing's
background threads and headless. A worker that dies becomes a WorkerError naming the signal,
the last lines it wrote and what to try; the outputs it was writing are removed.
"""
from __future__ import annotations

import collections
import dataclasses
import glob
import importlib
import itertools
import os
import queue
import signal
import subprocess
import threading
import time

from ..core.errors import Cancelled, WorkerError
from . import protocol

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT_FIELDS = ("out", "confidence", "report", "log_file", "report_html")
START_TIMEOUT_S = 120.0   # a cold start imports numpy/GDAL only; torch loads with the first request
TAIL_LINES = 20

_HINTS = {
    "SIGKILL": "This is usually the system's out-of-memory killer: close other programs, use a smaller "
               "tile size or the 'fast' network size, or train on fewer pixels.",
    "SIGSEGV": "A native library (torch, CUDA, GDAL) crashed. Try device 'cpu', then Plugins > MMLGNet > "
               "Install / repair dependencies.",
    "SIGABRT": "A native library (torch, CUDA, GDAL) aborted. Try device 'cpu', then Plugins > MMLGNet > "
               "Install / repair dependencies.",
    "SIGBUS": "Memory-mapped data became unreadable (a file changed or a disk filled up); check free "
              "disk space and the input files.",
}


def worker_env(base: dict | None = None) -> dict:
    """The environment the worker starts with.

    QGIS's own PYTHONHOME / PYTHONPATH belong to QGIS's interpreter and would break another
    one (a conda env, the managed venv), so they are replaced by the plugin's folder only.

    Args:
        base: the environment to start from (default: this process's).

    Returns:
        The environment dict.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)
    env["PYTHONPATH"] = PACKAGE_PARENT
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def output_paths(request: dict) -> list[str]:
    """Returns: the output files a request dict names (for removing what a dead worker left)."""
    return [request[k] for k in OUTPUT_FIELDS if isinstance(request.get(k), str) and request.get(k)]


def remove_partials(paths: list[str], since: float) -> list[str]:
    """Remove the temporary files (core.atomic_files.partial_name) written for these outputs.

    Args:
        paths: the request's output paths.
        since: time.time() when the request started; older partial files belong to someone else.

    Returns:
        The files removed.
    """
    removed = []
    for path in paths:
        folder, base = os.path.split(os.path.abspath(path))
        stem = os.path.splitext(base)[0]
        # '.classes.tif.partial-ab12cd34.tif', its .aux.xml, '.classes.qml.partial-…', report PNGs
        for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}*partial-*")):
            try:
                if os.path.getmtime(tmp) >= since - 2:
                    os.remove(tmp)
                    removed.append(tmp)
            except OSError:
                pass
    return removed


def _signal_name(returncode: int) -> str:
    """'SIGKILL' for -9; 'exit code 3' for 3."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def _result_object(data, result_type: str | None):
    """The use case's result dataclass rebuilt from its dict (the dict itself when no class is named).

    Only classes of the app layer's request modules (app.requests, app.*_requests: torch-free)
    are rebuilt; nested dataclasses stay dicts.
    """
    if not isinstance(data, dict) or not result_type or ":" not in result_type:
        return data
    module_name, name = result_type.split(":", 1)
    if not (module_name.startswith(f"{__package__.rsplit('.', 1)[0]}.app.") and module_name.endswith("requests")):
        return data
    try:
        cls = getattr(importlib.import_module(module_name), name)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
    except (ImportError, AttributeError, TypeError):
        return data


class WorkerProcess:
    """One worker process that answers requests one at a time; restarts itself when it died.

    The dock keeps one alive for the session (the text encoder stays loaded between encodes);
    Processing algorithms use a fresh one per run (`run_in_worker`).
    """

    def __init__(self, python: str | None = None, env: dict | None = None, cancel_grace_s: float = 5.0,
                 kill_grace_s: float = 3.0) -> None:
        """Args:
            python: the interpreter (default: environment.worker_python()).
            env: extra environment variables for the worker.
            cancel_grace_s: how long a cancelled request may take to stop before SIGTERM.
            kill_grace_s: how long after SIGTERM before SIGKILL.
        """
        self.python = python
        self.extra_env = dict(env or {})
        self.cancel_grace_s, self.kill_grace_s = cancel_grace_s, kill_grace_s
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._messages: queue.Queue = queue.Queue()
        self._stderr: collections.deque = collections.deque(maxlen=200)

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before start)."""
        return self.proc.pid if self.proc is not None else None

    def start(self) -> float:
        """Start the process and wait for its "ready" line.

        Returns:
            Seconds from launch to ready.

        Raises:
            DependencyError: no interpreter is configured (see environment.worker_python).
            WorkerError: the interpreter could not start the worker; the message holds its output.
        """
        if self.python is None:
            from .environment import choose_python, python_env
            self.python, source = choose_python()
            self.extra_env = {**python_env(source), **self.extra_env}
        if self.proc is not None:
            self.close(timeout=0)  # a worker that died: release its pipes before the new one
        started = time.perf_counter()
        self._messages, self._stderr = queue.Queue(), collections.deque(maxlen=200)
        env = worker_env()
        env.update(self.extra_env)
        try:
            self.proc = subprocess.Popen(
                [self.python, "-m", "mmlgnet_qgis.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=env, cwd=os.path.expanduser("~"),
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except OSError as exc:
            raise WorkerError(f"cannot start the MMLGNet worker with {self.python}: {exc}. Set the Python "
                              f"environment in Plugins > MMLGNet, or run Install / repair dependencies.") from exc
        self._readers = [threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True),
                         threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True)]
        for reader in self._readers:
            reader.start()
        message = self._next(time.perf_counter() + START_TIMEOUT_S)
        if message is None or message.get("type") != protocol.READY:
            how = self._how_it_ended()
            self.close(timeout=0)
            raise WorkerError(f"the MMLGNet worker did not start with {self.python} "
                              f"({how}).\n{self._tail()}\nRun Install / repair dependencies, "
                              f"or choose another Python environment in Plugins > MMLGNet.")
        self.start_seconds = time.perf_counter() - started
        return self.start_seconds

    def run(self, request, reporter=None, describe: bool = False):
        """Run one request in the worker and stream its messages into `reporter`.

        Args:
            request: an app request (with `to_dict()`), or its dict; {"kind": "selfcheck"} too.
            reporter: progress / log / warning / is_cancelled (None: nowhere, never cancelled).
            describe: the worker logs its torch version, device and interpreter first.

        Returns:
            The use case's result dataclass (a dict for selfcheck).

        Raises:
            Cancelled: the user cancelled (outputs removed).
            WorkerError: the worker died; the message names the signal and its last lines.
            MMLGNetError / OSError: what the use case raised, as the same class.
        """
        data = request.to_dict() if hasattr(request, "to_dict") else dict(request)
        with self._lock:
            if not self.alive:
                self.start()
            request_id = next(self._ids)
            started_at = time.time()
            self._logs: collections.deque = collections.deque(maxlen=TAIL_LINES)
            try:
                self._send(protocol.request(request_id, data, describe))
                return self._wait(request_id, data, reporter)
            except BaseException:
                if not self.alive:
                    remove_partials(output_paths(data), started_at)
                raise

    def selfcheck(self, reporter=None) -> dict:
        """Returns: the worker's self-check (see worker.selfcheck.selfcheck)."""
        return self.run({"kind": "selfcheck"}, reporter)

    def close(self, timeout: float = 5.0) -> None:
        """Ask the worker to quit, then terminate / kill it if it does not."""
        if self.proc is None:
            return
        if self.alive:
            self._send({"type": protocol.QUIT})
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._reap(kill=False)
        self._reap(kill=True)
        pipes = [self.proc.stdin]
        for reader, pipe in zip(getattr(self, "_readers", []), (self.proc.stdout, self.proc.stderr)):
            reader.join(1.0)  # the pipes hit end-of-file once the process is gone...
            if not reader.is_alive():  # ...unless a child it forked holds them: then the reader
                pipes.append(pipe)     # closes nothing under its own feet and ends with the child
        for pipe in pipes:
            try:
                pipe.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(protocol.encode(message).encode("utf-8"))
            self.proc.stdin.flush()
        except (OSError, ValueError):  # ValueError: our end is already closed
            pass  # the worker is gone; the reader thread reports how it ended

    def _read_stdout(self, proc) -> None:
        for raw in proc.stdout:
            try:
                self._messages.put(protocol.decode(raw))
            except protocol.ProtocolError:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip())
        self._messages.put(None)  # end of stream: the worker exited

    def _read_stderr(self, proc) -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            # progress bars redraw with \r: keep the last state only
            self._stderr.append(line.rsplit("\r", 1)[-1])

    def _next(self, deadline: float):
        """The next message, None at end of stream or at the deadline."""
        try:
            return self._messages.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            return None

    def _wait(self, request_id: int, data: dict, reporter):
        cancel_at = term_at = exited_at = None
        while True:
            if reporter is not None and cancel_at is None and reporter.is_cancelled():
                cancel_at = time.perf_counter()
                self._send({"type": protocol.CANCEL, "id": request_id})
            now = time.perf_counter()
            if cancel_at is not None and term_at is None and now - cancel_at > self.cancel_grace_s:
                term_at = now
                self._reap(kill=False)  # SIGTERM: it did not stop by itself
            if term_at is not None and now - term_at > self.kill_grace_s:
                self._reap(kill=True)
            try:
                message = self._messages.get(timeout=0.1)
            except queue.Empty:
                # A child the worker forked may hold the pipe open after the worker died: then no
                # end-of-file comes, so a worker gone quiet for 2 s counts as ended.
                exited_at = exited_at or (time.perf_counter() if self.proc.poll() is not None else None)
                if exited_at is None or time.perf_counter() - exited_at < 2.0:
                    continue
                message = None
            if message is None:
                self.proc.wait()
                if cancel_at is not None:
                    raise Cancelled("cancelled (the worker was stopped)")
                raise self._death_error(data)
            if message.get("id") != request_id:
                continue  # a late line of an earlier, cancelled request
            kind = message["type"]
            if kind == protocol.RESULT:
                return _result_object(message.get("result"), message.get("result_type"))
            if kind == protocol.ERROR:
                if message.get("traceback") and reporter is not None:
                    reporter.log(message["traceback"])
                raise protocol.exception_from(message)
            self._dispatch(message, reporter)

    def _dispatch(self, message: dict, reporter) -> None:
        kind = message["type"]
        if kind in (protocol.LOG, protocol.WARNING):
            self._logs.append(message.get("message", ""))
        if reporter is None:
            return
        if kind == protocol.PROGRESS:
            reporter.progress(message.get("done", 0.0), message.get("total", 1.0), message.get("metrics"))
        elif kind == protocol.LOG:
            reporter.log(message.get("message", ""))
        elif kind == protocol.WARNING:
            reporter.warning(message.get("message", ""))

    def _reap(self, kill: bool) -> None:
        if self.alive:
            try:
                self.proc.kill() if kill else self.proc.terminate()
            except OSError:
                pass
        if kill and self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def _how_it_ended(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        return "still running" if code is None else _signal_name(code)

    def _tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()][-TAIL_LINES:]
        return "Last lines of the worker:\n  " + "\n  ".join(lines) if lines else "The worker wrote nothing."

    def _death_error(self, data: dict) -> WorkerError:
        how = _signal_name(self.proc.returncode)
        logs = list(getattr(self, "_logs", []))
        log_part = ("Last log lines:\n  " + "\n  ".join(logs) + "\n") if logs else ""
        hint = _HINTS.get(how, "See the lines above; run Install / repair dependencies if it repeats.")
        error = WorkerError(f"The MMLGNet worker process died ({how}) while running "
                            f"'{data.get('kind', '?')}'; QGIS is fine and no output was written. {hint}\n"
                            f"{log_part}{self._tail()}")
        error.signal_name, error.returncode = how, self.proc.returncode
        return error


def run_in_worker(request, reporter=None, python: str | None = None, env: dict | None = None,
                  describe: bool = False):
    """Run one request in a fresh worker process that exits afterwards.

    Args:
        request: an app request or its dict.
        reporter: progress, log, cancel.
        python: the interpreter (default: environment.worker_python()).
        env: extra environment variables.
        describe: the worker logs its torch version, device and interpreter first.

    Returns:
        The use case's result.
    """
    with WorkerProcess(python, env) as worker:
        return worker.run(request, reporter, describe)
