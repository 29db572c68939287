"""Outputs written through the temporary-file mechanism (core.atomic_files) get the mode the
user's umask gives any new file; safetensors alone would leave a model file 0600, unreadable to
colleagues on a shared drive."""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest

from mmlgnet_qgis.core.atomic_files import atomic_path, new_file_mode, write_text_atomic


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_safetensors_model_file_follows_the_umask(tmp_path, mask, expected):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    with umask(mask):
        assert new_file_mode() == expected
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, tmp)
        write_text_atomic(tmp_path / "report.json", "{}")
    assert mode(tmp_path / "model.safetensors") == expected
    assert mode(tmp_path / "report.json") == expected


def test_trained_model_files_get_the_umask_mode(small_scene):
    """The model files train writes (core.model_file.save_model) in the shared small scene."""
    for key in ("model", "model2"):
        assert mode(small_scene[key]) == new_file_mode(), oct(mode(small_scene[key]))
