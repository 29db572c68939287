"""`train` on a GeoTIFF scene over the in-memory budget reads it by windows and learns what it learns whole."""
from pathlib import Path

import torch

import robustness_scene as rs
from mmlgnet_qgis import app
from mmlgnet_qgis.app.requests import TrainRequest
from mmlgnet_qgis.core import pipeline
from mmlgnet_qgis.core.model_file import load_model


def test_train_by_windows_gives_the_whole_scene_model(small_scene, tmp_path, monkeypatch):
    def train(name):
        out, log = tmp_path / f"{name}.safetensors", tmp_path / f"{name}.log"
        app.run(TrainRequest(hsi=small_scene["hsi"], lidar=small_scene["lidar"], train_labels=small_scene["labels"],
                             prompts=small_scene["prompts"], out=str(out), epochs=2, device="cpu", seed=1,
                             validation_fraction=0.2, threads=1, log_file=str(log), preset="standard",
                             patch_size=rs.TINY_MODEL["patch_size"],
                             **{k: v for k, v in rs.TINY_MODEL.items() if k != "patch_size"}))
        return load_model(out), Path(log).read_text()

    (whole, m_whole), log_whole = train("whole")
    monkeypatch.setattr(pipeline, "TRAIN_IN_MEMORY_BYTES", 0)  # every scene is "larger than memory"
    (windowed, m_windowed), log_windowed = train("windowed")
    assert "windowed training" not in log_whole and "windowed training" in log_windowed
    assert m_whole.normalisation == m_windowed.normalisation
    assert m_whole.training["labelled_pixels"] == m_windowed.training["labelled_pixels"]
    assert m_whole.training["validation_pixels"] == m_windowed.training["validation_pixels"] > 0
    assert m_whole.history["loss"] == m_windowed.history["loss"]
    for (name, a), b in zip(whole.state_dict().items(), windowed.state_dict().values()):
        assert torch.equal(a, b), name
