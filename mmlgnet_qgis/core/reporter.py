"""One way for long work to report progress, log lines and warnings, and to learn of a cancel.

Core and app functions take a `Reporter`; front ends implement it (terminal, QGIS feedback,
the worker's JSON-lines pipe). torch-free.
"""
from __future__ import annotations

from typing import Protocol, TextIO, runtime_checkable

from .errors import Cancelled


@runtime_checkable
class Reporter(Protocol):
    """What long-running work talks to."""

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Step `done` of `total` finished; `metrics` (name -> number) describe it, e.g. loss."""

    def log(self, message: str) -> None:
        """An informational line for the user's log."""

    def warning(self, message: str) -> None:
        """A line the user should read: the run goes on, but something is off."""

    def is_cancelled(self) -> bool:
        """True once the user asked to stop."""


class NullReporter:
    """Reports nowhere and is never cancelled (library use, tests, benchmarks)."""

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Ignore progress."""

    def log(self, message: str) -> None:
        """Ignore log lines."""

    def warning(self, message: str) -> None:
        """Ignore warnings."""

    def is_cancelled(self) -> bool:
        """Never cancelled."""
        return False


def or_null(reporter: Reporter | None) -> Reporter:
    """The reporter itself, or a NullReporter for None."""
    return reporter if reporter is not None else NullReporter()


def check_cancelled(reporter: Reporter | None) -> None:
    """Raise Cancelled if the user asked to stop.

    Raises:
        Cancelled: reporter.is_cancelled() is true.
    """
    if reporter is not None and reporter.is_cancelled():
        raise Cancelled()


class ForwardingReporter:
    """Passes everything to an inner reporter; subclasses change what progress means.

    Args:
        inner: the reporter to forward to.
    """

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Forward."""
        self.inner.progress(done, total, metrics)

    def log(self, message: str) -> None:
        """Forward."""
        self.inner.log(message)

    def warning(self, message: str) -> None:
        """Forward."""
        self.inner.warning(message)

    def is_cancelled(self) -> bool:
        """Forward."""
        return self.inner.is_cancelled()


class StageReporter(ForwardingReporter):
    """One stage of several equal ones: progress k/n of stage s (0-based) of S is reported as s*n + k of S*n.

    Args:
        inner: the reporter of the whole run.
        stage: this stage, 0-based.
        stages: how many stages the run has.
    """

    def __init__(self, inner: Reporter, stage: int, stages: int) -> None:
        super().__init__(inner)
        self.stage, self.stages = stage, stages

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Forward as a share of the whole run."""
        self.inner.progress(self.stage * total + done, self.stages * total, metrics)


class TerminalReporter:
    """The command line's reporter: one self-overwriting progress line and log lines on stderr."""

    def __init__(self, label: str = "", stream: TextIO | None = None) -> None:
        """Args: label: word before the progress counter (epoch, tile); stream: default sys.stderr."""
        import sys
        import time
        self.label, self.stream, self._t0, self._open = label, stream or sys.stderr, time.perf_counter(), False

    def progress(self, done: float, total: float, metrics: dict | None = None) -> None:
        """Redraw the progress line."""
        import time
        extra = "" if not metrics else "  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self.stream.write(f"\r{self.label} {done:g}/{total:g} [{int(100 * done / max(total, 1e-9)):3d}%] "
                          f"{time.perf_counter() - self._t0:.0f}s{extra}   ")
        self._open = done < total
        if not self._open:
            self.stream.write("\n")
        self.stream.flush()

    def log(self, message: str) -> None:
        """Print a line (below an unfinished progress line)."""
        if self._open:
            self.stream.write("\n")
            self._open = False
        print(message, file=self.stream, flush=True)

    def warning(self, message: str) -> None:
        """Print 'warning: ...'."""
        self.log(f"warning: {message}")

    def is_cancelled(self) -> bool:
        """Ctrl-C and SIGTERM interrupt the process instead."""
        return False
