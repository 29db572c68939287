"""The train dialog as a user opens it from the toolbox: network size 'standard' by default, the
text encoder a list of known encoders that still takes a typed spec, and the model file a real
path (not a temporary file QGIS deletes on exit)."""
from __future__ import annotations

import os

import pytest

from qgis_fixtures import qgis_app  # noqa: F401


@pytest.fixture
def train_dialog(qgis_app):
    from qgis.core import QgsApplication
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    alg = QgsApplication.processingRegistry().createAlgorithmById("mmlgnet:train")
    dialog = AlgorithmDialog(alg)
    yield dialog
    dialog.close()
    dialog.deleteLater()


def test_text_encoder_is_a_list_with_a_custom_entry(train_dialog):
    from mmlgnet_qgis.gui.processing_widgets import KNOWN_ENCODERS, TextEncoderWrapper
    wrapper = train_dialog.mainWidget().wrappers["TEXT_ENCODER"]
    assert isinstance(wrapper, TextEncoderWrapper)
    combo = wrapper.widget
    assert combo.isEditable() and combo.count() == len(KNOWN_ENCODERS)
    assert wrapper.value() == "minilm"  # the default, shown as "MiniLM (offline, bundled)"
    combo.setCurrentIndex(1)
    assert wrapper.value() == "clip:ViT-B-32:openai"
    combo.setEditText("clip:ViT-B-32:/models/clip.pt")
    assert wrapper.value() == "clip:ViT-B-32:/models/clip.pt"
    wrapper.setValue("clip:ViT-B-16:openai")
    assert combo.currentIndex() == 2


def test_model_file_defaults_to_a_file_that_is_kept(train_dialog):
    value = train_dialog.mainWidget().wrappers["MODEL"].parameterValue()
    assert value != "TEMPORARY_OUTPUT" and str(value).endswith(".safetensors")
    assert not os.path.exists(str(value))  # never an existing model to overwrite


def test_network_size_defaults_to_distilled(train_dialog):
    wrapper = train_dialog.mainWidget().wrappers["MODEL_SIZE"]
    assert wrapper.parameterValue() == 2
    assert wrapper.parameterDefinition().options()[2].startswith("distilled")
    assert wrapper.parameterDefinition().options()[0].startswith("standard")  # indices kept for saved models


def test_default_model_path_never_overwrites(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsProject
    from mmlgnet_qgis.processing.output_defaults import default_model_path
    monkeypatch.setattr(QgsProject.instance(), "homePath", lambda: str(tmp_path))
    assert default_model_path() == str(tmp_path / "mmlgnet_model.safetensors")
    (tmp_path / "mmlgnet_model.safetensors").write_bytes(b"x")
    assert default_model_path() == str(tmp_path / "mmlgnet_model_2.safetensors")
