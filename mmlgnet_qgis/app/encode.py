"""Use case: encode a prompt set's classes with a text encoder (the dock's similarity view)."""
from __future__ import annotations

from ..core.prompts import class_embeddings, load_prompt_set
from ..core.reporter import Reporter, check_cancelled, or_null
from .requests import EncodeRequest, EncodeResult

BUILD_SHARE = 30.0  # percent of the progress bar spent building (loading) the encoder


def run(req: EncodeRequest, reporter: Reporter | None = None) -> EncodeResult:
    """One unit-length embedding per class (its prompts' embeddings averaged).

    Args:
        req: the prompt set (JSON) and the text encoder.
        reporter: progress (building the encoder, then encoding), cancel.

    Returns:
        Class names and embeddings.
    """
    from ..core.text_encoders import build_text_encoder
    reporter = or_null(reporter)
    prompt_set = load_prompt_set(req.prompts)
    reporter.progress(1, 100)
    encoder = build_text_encoder(req.text_encoder)  # cached: a persistent worker loads it once
    check_cancelled(reporter)
    reporter.progress(BUILD_SHARE, 100)
    embeddings = class_embeddings(prompt_set, encoder)  # one batch for all classes
    check_cancelled(reporter)  # a cancel pressed while encoding discards the result
    reporter.progress(100, 100)
    return EncodeResult(names=prompt_set.names, embeddings=embeddings.tolist())
