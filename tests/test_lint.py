"""The package passes ruff (ruff.toml): docstrings and annotations on core/ and app/, pyflakes everywhere."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"  # the venv's, pinned in requirements-dev.txt


@pytest.mark.skipif(not RUFF.is_file(), reason=f"ruff is not installed beside {sys.executable} "
                                               "(pip install -r requirements-dev.txt)")
def test_ruff_check_passes():
    proc = subprocess.run([str(RUFF), "check", "--no-cache", "mmlgnet_qgis"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"ruff check mmlgnet_qgis failed:\n{proc.stdout}{proc.stderr}"
