"""Outputs are written under a temporary name beside the target and renamed when complete.

A crash, a cancel or a full disk therefore never leaves a half-written file under the name
the user asked for, and an existing file of that name stays as it was until the new one is
whole. Standard library only: core, raster and the report writer all use it.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def partial_name(path: str | os.PathLike, ext: str | None = None) -> str:
    """'.<name>.partial-<random><ext>' in the target's folder (same file system: rename is atomic)."""
    d, base = os.path.split(os.path.abspath(str(path)))
    ext = os.path.splitext(base)[1] if ext is None else ext
    return os.path.join(d, f".{base}.partial-{secrets.token_hex(4)}{ext}")


def remove_quietly(path: str | os.PathLike) -> None:
    """Delete a file; one that is already gone is not an error."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def new_file_mode() -> int:
    """0o666 less the umask: the mode open() gives a new file.

    The umask is read without changing it where Linux reports it, as os.umask() is process-wide
    and not thread-safe.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success rename it over `path`, else delete it."""
    tmp = partial_name(path)
    try:
        yield tmp
        # some writers (safetensors) create 0600: shared models must get the umask's mode
        if os.path.exists(tmp):
            os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text to `path` through `atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def check_output_path(path: str | os.PathLike, label: str = "output") -> Path:
    """Refuse early (before minutes of work) an output that cannot be written.

    Args:
        path: the output file.
        label: what it is, for messages.

    Returns:
        `path` as a Path.

    Raises:
        InputError: the path is a folder.
        FileNotFoundError: its folder does not exist.
        PermissionError: its folder is not writable (also on a read-only file system).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{label} {path} is a folder; give a file name")
    if not folder.is_dir():
        raise FileNotFoundError(f"{label} folder does not exist: {folder}")
    # access() also reports a read-only file system, where even root cannot write
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{label} folder is not writable: {folder}")
    return path


def refuse_overwriting_inputs(outputs: dict, inputs: dict) -> None:
    """Refuse an output that is an input or another output: writing it would destroy that file.

    Args:
        outputs: {label: path} of the outputs; empty paths are skipped.
        inputs: {label: path} of the inputs; 'file.mat:key' and 'file.gpkg|layername=x' name the file.

    Raises:
        InputError: an output names an input's or another output's file.
    """
    def key(p: str | os.PathLike) -> str:  # 'scene.mat:key' and QGIS's 'file.gpkg|layername=x' name the file before the suffix
        from .scenes import split_mat_spec
        return os.path.realpath(split_mat_spec(str(p).split("|")[0])[0])
    ins = {key(p): label for label, p in inputs.items() if p}
    seen: dict = {}
    for label, p in outputs.items():
        if not p:
            continue
        if key(p) in ins:
            raise InputError(f"the {label} {p} is the {ins[key(p)]} input; "
                             f"choose another output file name (inputs are never overwritten)")
        if key(p) in seen:
            raise InputError(f"the {label} and the {seen[key(p)]} are both {p}; give them different names")
        seen[key(p)] = label
