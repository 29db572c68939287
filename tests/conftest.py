import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Processing and the dock run torch in a worker process: here, this interpreter (the venv's)
os.environ.setdefault("MMLGNET_PYTHON", sys.executable)

from data_paths import ROOT, default_data_dir  # noqa: E402,F401


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = default_data_dir()
    if not (root / "trento" / "HSI.mat").is_file():
        pytest.skip(f"benchmark data not found at {root} (set MMLGNET_DATA to the folder holding trento/ and muufl/)")
    return root


@pytest.fixture(scope="session")
def minilm():
    from mmlgnet_qgis.core.text_encoders import MiniLMEncoder
    return MiniLMEncoder()


class HashEncoder:
    """Deterministic pseudo-random unit vectors per text: for tests that only need *some*
    fixed class embeddings and must not depend on a language model."""

    def __init__(self, dim=32):
        self.dim = dim

    def identity(self):
        return {"kind": "hash", "model": "hash", "pretrained": None, "checkpoint": None, "dim": self.dim}

    def encode(self, texts):
        out = []
        for t in texts:
            rng = np.random.default_rng(sum(ord(ch) * (i + 1) for i, ch in enumerate(t)))
            v = rng.normal(size=self.dim)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32)


@pytest.fixture
def hash_encoder():
    return HashEncoder()


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory):
    """The robustness tests' small georeferenced scene with two trained models (robustness_scene)."""
    import robustness_scene
    return robustness_scene.make_scene(tmp_path_factory.mktemp("small_scene"))
