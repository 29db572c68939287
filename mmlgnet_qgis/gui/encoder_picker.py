"""Text encoder choice: MiniLM (bundled, offline) or an open_clip model with a tag or checkpoint.

Produces the short spec strings build_text_encoder takes: "minilm", "clip:MODEL:TAG" or
"clip:MODEL:/path/to/checkpoint".
"""
from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QLabel, QLineEdit,
                                 QToolButton, QWidget)


MINILM, CLIP = "minilm", "clip"
DEFAULT_CLIP_MODEL = "ViT-B-32"


class EncoderPicker(QWidget):
    changed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.kind_combo = QComboBox(self)
        self.kind_combo.addItem("MiniLM (offline)", MINILM)
        self.kind_combo.addItem("CLIP (open_clip)", CLIP)
        self.model_edit = QLineEdit(DEFAULT_CLIP_MODEL, self)
        self.model_edit.setToolTip("open_clip model name, e.g. ViT-B-32 or ViT-B-32-quickgelu")
        self.weights_edit = QLineEdit(self)
        self.weights_edit.setPlaceholderText("pretrained tag (openai) or checkpoint path")
        self.weights_edit.setToolTip("An open_clip pretrained tag downloads weights (needs internet); "
                                     "a local checkpoint file works offline.")
        self.browse_button = QToolButton(self)
        self.browse_button.setText("\u2026")
        self.browse_button.setToolTip("Choose a local CLIP checkpoint")

        self.clip_label = QLabel("CLIP model / weights", self)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Text encoder", self), 0, 0)
        layout.addWidget(self.kind_combo, 0, 1, 1, 3)
        layout.addWidget(self.clip_label, 1, 0)
        layout.addWidget(self.model_edit, 1, 1)
        layout.addWidget(self.weights_edit, 1, 2)
        layout.addWidget(self.browse_button, 1, 3)
        layout.setColumnStretch(1, 1)
        layout.setColumnStretch(2, 2)

        self.kind_combo.currentIndexChanged.connect(self._update_visible)
        self.kind_combo.currentIndexChanged.connect(self.changed)
        self.model_edit.textChanged.connect(self.changed)
        self.weights_edit.textChanged.connect(self.changed)
        self.browse_button.clicked.connect(self._browse)
        self._update_visible()

    def spec(self) -> str:
        """The build_text_encoder spec; raises ValueError when CLIP lacks model or weights."""
        if self.kind_combo.currentData() == MINILM:
            return MINILM
        model, weights = self.model_edit.text().strip(), self.weights_edit.text().strip()
        if not model or not weights:
            raise ValueError("CLIP needs a model name and a pretrained tag or a checkpoint path")
        return f"clip:{model}:{weights}"

    def set_spec(self, spec) -> None:
        """Accepts a spec string or a text-encoder identity dict from a model manifest."""
        if isinstance(spec, dict):
            if spec.get("kind") == "open_clip":
                model = spec.get("model") or DEFAULT_CLIP_MODEL
                spec = f"clip:{model}:{spec.get('checkpoint') or spec.get('pretrained') or ''}"
            else:
                spec = str(spec.get("kind", MINILM))
        text = str(spec).strip()
        parts = text.split(":", 2)
        if parts[0].lower() in ("clip", "open_clip"):
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(CLIP))
            self.model_edit.setText(parts[1] if len(parts) > 1 else DEFAULT_CLIP_MODEL)
            self.weights_edit.setText(parts[2] if len(parts) > 2 else "")
        else:
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(MINILM))

    def _update_visible(self) -> None:
        # MiniLM needs no settings, so the CLIP fields only show when CLIP is chosen.
        clip = self.kind_combo.currentData() == CLIP
        for w in (self.clip_label, self.model_edit, self.weights_edit, self.browse_button):
            w.setVisible(clip)

    def _browse(self) -> None:
        from ..core.text_encoders import CHECKPOINT_SUFFIXES  # imports torch: not at plugin load
        pattern = " ".join(f"*{s}" for s in CHECKPOINT_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "CLIP checkpoint", "", f"Checkpoints ({pattern})")
        if path:
            self.weights_edit.setText(path)
