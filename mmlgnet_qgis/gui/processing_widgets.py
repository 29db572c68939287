"""Widgets the Processing dialogs use for MMLGNet parameters (through the parameter's
'widget_wrapper' metadata; imported only when a dialog opens, never at plugin load).

TextEncoderWrapper: the train dialog's text encoder as a list of the known encoders, still
editable for another open_clip model or a local checkpoint; a bare text field left users
guessing the spec syntax.
"""
from __future__ import annotations

from processing.gui.wrappers import WidgetWrapper  # QGIS's Processing plugin
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox

# (spec build_text_encoder takes, what the list shows)
KNOWN_ENCODERS = (
    ("minilm", "MiniLM (offline, bundled)"),
    ("clip:ViT-B-32:openai", "CLIP ViT-B/32, OpenAI weights (downloads once)"),
    ("clip:ViT-B-16:openai", "CLIP ViT-B/16, OpenAI weights (downloads once)"),
)
CUSTOM_HINT = "or type clip:MODEL:TAG or clip:MODEL:/path/to/checkpoint.pt"


class TextEncoderWrapper(WidgetWrapper):
    def createWidget(self, **kwargs):  # noqa: N802 (QGIS's name)
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for spec, label in KNOWN_ENCODERS:
            combo.addItem(label, spec)
            combo.setItemData(combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole)
        combo.lineEdit().setPlaceholderText(CUSTOM_HINT)
        combo.setToolTip("Pick a known text encoder, " + CUSTOM_HINT)
        return combo

    def setValue(self, value):  # noqa: N802
        spec = str(value or KNOWN_ENCODERS[0][0]).strip()
        index = self.widget.findData(spec)
        if index >= 0:
            self.widget.setCurrentIndex(index)
        else:
            self.widget.setEditText(spec)

    def value(self):
        text = self.widget.currentText().strip()
        index = self.widget.findText(text)  # a listed label stands for its spec; typed text is the spec
        return self.widget.itemData(index) if index >= 0 else text
