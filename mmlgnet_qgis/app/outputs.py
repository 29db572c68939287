"""Checks on a run's outputs before any work, so minutes of training never end in 'cannot write'."""
from __future__ import annotations

from ..core.atomic_files import check_output_path, refuse_overwriting_inputs


def check_outputs(outputs: dict, inputs: dict) -> None:
    """Each output's folder exists and is writable, and no output is an input or another output.

    Args:
        outputs: {label: path}; None paths are skipped.
        inputs: {label: path}; None paths are skipped.
    """
    refuse_overwriting_inputs(outputs, inputs)
    for label, path in outputs.items():
        if path:
            check_output_path(path, label)


def prompt_file(prompts: str | None) -> str | None:
    """Returns: the file a prompts value names, or None for inline JSON (or nothing)."""
    from ..core.prompts import is_inline_json
    return prompts.strip() if prompts and prompts.strip() and not is_inline_json(prompts) else None


def sibling(path: str, suffix: str) -> str:
    """Returns: `path` with its extension replaced by `suffix` ('.json', '_curves.png', ...)."""
    from pathlib import Path
    p = Path(path)
    return str(p.with_name(p.stem + suffix))
