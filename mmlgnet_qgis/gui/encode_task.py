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

from ..core.prompts import PromptSet, class_embeddings

BUILD_SHARE = 30.0  # percent of the progress bar spent building the encoder


class EncodeCanceled(Exception):
    pass


class _ReportingEncoder:
    """Wraps an encoder: class_embeddings calls encode() once per class, so each call is one
    step of progress and a chance to stop."""

    def __init__(self, encoder, steps: int, progress: Callable[[float], None] | None,
                 is_canceled: Callable[[], bool] | None):
        self._encoder, self._steps, self._done = encoder, max(steps, 1), 0
        self._progress, self._is_canceled = progress, is_canceled

    def encode(self, texts):
        if self._is_canceled and self._is_canceled():
            raise EncodeCanceled()
        out = self._encoder.encode(texts)
        self._done += 1
        if self._progress:
            self._progress(BUILD_SHARE + (100.0 - BUILD_SHARE) * self._done / self._steps)
        return out


def encode_prompt_set(prompt_set: PromptSet, spec, encoder=None,
                      progress: Callable[[float], None] | None = None,
                      is_canceled: Callable[[], bool] | None = None) -> np.ndarray:
    """(K, D) class embeddings; `encoder` overrides building one from `spec` (tests)."""
    if progress:
        progress(1.0)
    if encoder is None:
        from ..core.text_encoders import build_text_encoder  # imports torch: not at plugin load
        encoder = build_text_encoder(spec)
    if is_canceled and is_canceled():
        raise EncodeCanceled()
    if progress:
        progress(BUILD_SHARE)
    wrapped = _ReportingEncoder(encoder, len(prompt_set.classes), progress, is_canceled)
    return class_embeddings(prompt_set, wrapped)


class EncodeTask(QgsTask):
    """Emits `encoded(embeddings)` or `failed(message)` on the GUI thread when done."""

    encoded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, prompt_set: PromptSet, spec, encoder=None):
        super().__init__(f"MMLGNet: encode {len(prompt_set.classes)} class prompts ({spec})",
                         QgsTask.CanCancel)
        # A private copy: the user may keep editing the table while this runs.
        self.prompt_set = copy.deepcopy(prompt_set)
        self.spec, self._encoder = spec, encoder
        self.embeddings: np.ndarray | None = None
        self.error: str | None = None

    def run(self) -> bool:  # worker thread: no widgets here
        try:
            self.embeddings = encode_prompt_set(self.prompt_set, self.spec, self._encoder,
                                                progress=self.setProgress, is_canceled=self.isCanceled)
            return True
        except EncodeCanceled:
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
