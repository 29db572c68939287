"""The worker process: reads requests from stdin, runs them with the app layer, answers on stdout.

Runs in the interpreter that has torch (never QGIS's). Requests run one after another in the
main thread, so a persistent worker keeps its text encoder loaded between the dock's encodes;
a reader thread watches stdin for "cancel" while a request runs. The protocol owns the real
stdout: stray prints and C libraries' output go to stderr, which the client keeps for crash reports.
"""
from __future__ import annotations

import faulthandler
import os
import queue
import signal
import sys
import threading
import time
import traceback

from . import protocol

# tests only: "segv", "fork-segv", "exit" or "hang" after the first progress line
TEST_CRASH_ENV = "MMLGNET_WORKER_TEST_CRASH"


class PipeReporter:
    """A Reporter that writes protocol messages for one request."""

    def __init__(self, send, request_id: int, cancelled) -> None:
        """Args: send: writes one message; request_id: the request reported on; cancelled: () -> bool."""
        self._send, self.request_id, self._cancelled = send, request_id, cancelled
        self._crash = os.environ.get(TEST_CRASH_ENV, "")

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Send progress; in the crash test mode, die right after the first one."""
        self._send(protocol.progress(self.request_id, float(done), float(total), metrics))
        if self._crash == "fork-segv" and os.fork() == 0:  # a child holding the pipes outlives the worker
            time.sleep(20)
            os._exit(0)
        if self._crash in ("segv", "fork-segv"):
            os.kill(os.getpid(), signal.SIGSEGV)
        elif self._crash == "exit":
            os._exit(3)
        elif self._crash == "hang":  # ignores cancel: the client must terminate it
            time.sleep(3600)

    def log(self, message: str) -> None:
        """Send a log line."""
        self._send(protocol.log(self.request_id, message))

    def warning(self, message: str) -> None:
        """Send a warning."""
        self._send(protocol.warning(self.request_id, message))

    def is_cancelled(self) -> bool:
        """True once a cancel for this request (or the end of stdin) arrived."""
        return self._cancelled()


class Server:
    """Request loop over a pair of text streams."""

    def __init__(self, instream, outstream) -> None:
        """Args: instream: request lines; outstream: the protocol's output (line-buffered)."""
        self._in, self._out = instream, outstream
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._cancel_ids: set = set()  # cancels may arrive before their request starts
        self._eof = threading.Event()

    def send(self, message: dict) -> None:
        """Write one message (thread-safe)."""
        line = protocol.encode(message)
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def _read(self) -> None:
        """Stdin reader thread: requests go to the queue, cancels set the flag at once."""
        for line in self._in:
            if not line.strip():
                continue
            try:
                message = protocol.decode(line)
            except protocol.ProtocolError as exc:
                self.send(protocol.error(None, exc))
                continue
            if message["type"] == protocol.CANCEL:
                self._cancel_ids.add(message.get("id"))
            elif message["type"] == protocol.QUIT:
                break
            else:
                self._queue.put(message)
        # End of input: QGIS closed the pipe or died; stop what runs and leave.
        self._eof.set()
        self._queue.put(None)

    def serve(self) -> int:
        """Answer requests until "quit" or the end of stdin.

        Returns:
            The process exit code (0).
        """
        threading.Thread(target=self._read, name="mmlgnet-worker-stdin", daemon=True).start()
        self.send({"type": protocol.READY, "pid": os.getpid(), "python": sys.executable,
                   "version": sys.version.split()[0]})
        while True:
            message = self._queue.get()
            if message is None:
                return 0
            if message["type"] == protocol.REQUEST:
                self._handle(message.get("id"), message.get("request"), bool(message.get("describe")))
            else:
                self.send(protocol.error(message.get("id"), protocol.ProtocolError(
                    f"the worker takes requests, not {message['type']!r}")))

    def _handle(self, request_id, data, describe: bool = False) -> None:
        """Run one request and send its result or error; `describe`: log torch and device first."""
        reporter = PipeReporter(self.send, request_id,
                                lambda: self._eof.is_set() or request_id in self._cancel_ids)
        try:
            if describe:
                from .selfcheck import describe_line
                reporter.log(describe_line())
            result, result_type = run_request(data, reporter)
            self.send(protocol.result(request_id, result, result_type))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            self.send(protocol.error(request_id, exc, traceback.format_exc()))
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit
                raise
        finally:
            self._cancel_ids.discard(request_id)


def run_request(data: dict, reporter) -> tuple[dict | None, str | None]:
    """Run one request dict in this process.

    Args:
        data: a request's `to_dict()`, or {"kind": "selfcheck"}.
        reporter: where progress goes.

    Returns:
        (the result as a JSON-serialisable dict, its dataclass as 'module:Name' or None).
    """
    if isinstance(data, dict) and data.get("kind") == "selfcheck":
        from .selfcheck import selfcheck
        return selfcheck(reporter), None
    from ..app import run
    from ..app.requests import request_from_dict, result_to_dict
    result = run(request_from_dict(data), reporter)
    if result is None:
        return None, None
    return result_to_dict(result), f"{type(result).__module__}:{type(result).__qualname__}"


def _protocol_stream():
    """The real stdout for the protocol; fd 1 and sys.stdout then point at stderr."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mmlgnet_qgis.worker` (and the CLI's `worker` command).

    Args:
        argv: unused (the worker takes no options; requests come on stdin).

    Returns:
        The exit code.
    """
    started = time.perf_counter()
    out = _protocol_stream()
    faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault's trace lands in the crash report
    if os.environ.get("MMLGNET_ALLOW_TRITON") != "1":
        # triton is never used here (no torch.compile); keeping it out saves start-up time and
        # avoids its LLVM clashing with another one (see core.text_encoders.keep_triton_out).
        sys.modules.setdefault("triton", None)
    stdin = open(sys.stdin.fileno(), encoding="utf-8", closefd=False)
    print(f"mmlgnet worker {os.getpid()} ready in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return Server(stdin, out).serve()
