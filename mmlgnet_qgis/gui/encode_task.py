"""Encoding a prompt set off the GUI thread: a QgsTask around core.prompts.class_embeddings.

Building an encoder (loading MiniLM or a CLIP text tower) and encoding take seconds, so the
dock runs this through QgsApplication.taskManager() and QGIS stays responsive.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..core.errors import Cancelled
from ..core.prompts import PromptSet
from ..core.reporter import NullReporter, Reporter, check_cancelled


class TaskReporter(NullReporter):
    """A QgsTask's progress bar and cancel button as the app layer's Reporter."""

    def __init__(self, progress: Callable[[float], None] | None, is_canceled: Callable[[], bool] | None):
        self._progress, self._is_canceled = progress, is_canceled

    def progress(self, done, total, metrics=None):
        if self._progress:
            self._progress(100.0 * done / max(total, 1e-9))

    def is_cancelled(self) -> bool:
        return bool(self._is_canceled and self._is_canceled())


def encode_prompt_set(prompt_set: PromptSet, spec, encoder=None, reporter: Reporter | None = None) -> np.ndarray:
    """(K, D) class embeddings through the app's encode use case; `encoder` (an object with
    .encode) replaces building one from `spec` (tests)."""
    reporter = reporter or NullReporter()
    if encoder is None:  # in the session's worker process: torch never loads into QGIS's
        from ..app.requests import EncodeRequest
        from ..worker.session import encode_in_dock_worker
        result = encode_in_dock_worker(EncodeRequest(prompts=prompt_set.to_json(), text_encoder=spec), reporter)
        return np.asarray(result.embeddings, np.float32)
    from ..app.encode import BUILD_SHARE
    from ..core.prompts import class_embeddings
    check_cancelled(reporter)
    reporter.progress(BUILD_SHARE, 100)
    embeddings = class_embeddings(prompt_set, encoder)
    check_cancelled(reporter)  # a cancel pressed while encoding discards the result
    reporter.progress(100, 100)
    return embeddings


class EncodeTask(QgsTask):
    """Emits `encoded(embeddings)` or `failed(message)` on the GUI thread when done."""

    encoded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, prompt_set: PromptSet, spec, encoder=None):
        super().__init__(f"MMLGNet: encode {len(prompt_set.classes)} class prompts ({spec})",
                         QgsTask.Flag.CanCancel)
        # A private copy: the user may keep editing the table while this runs.
        self.prompt_set = copy.deepcopy(prompt_set)
        self.spec, self._encoder = spec, encoder
        self.embeddings: np.ndarray | None = None
        self.error: str | None = None

    def run(self) -> bool:  # worker thread: no widgets here
        try:
            self.embeddings = encode_prompt_set(self.prompt_set, self.spec, self._encoder,
                                                TaskReporter(self.setProgress, self.isCanceled))
            return True
        except Cancelled:
            return False
        except Exception as exc:  # report any encoder failure in the dock instead of crashing
            self.error = str(exc) or type(exc).__name__
            return False

    def finished(self, ok: bool) -> None:  # GUI thread
        if ok:
            self.encoded.emit(self.embeddings)
        elif self.isCanceled():
            self.failed.emit("Encoding cancelled.")
        else:
            self.failed.emit(f"Encoding failed: {self.error}")
