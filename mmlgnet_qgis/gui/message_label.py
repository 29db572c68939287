"""A coloured one-line message area inside the dock (like QgsMessageBar, but no timers or
modal details, so tests can read it and headless screenshots show it)."""
from __future__ import annotations

from qgis.core import Qgis
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel

_STYLES = {
    Qgis.MessageLevel.Info: "background: #e3eefa; color: #1b3d63; border: 1px solid #a9c4e4;",
    Qgis.MessageLevel.Success: "background: #e4f4e1; color: #20501b; border: 1px solid #a6d39d;",
    Qgis.MessageLevel.Warning: "background: #fff4d1; color: #6b4e00; border: 1px solid #e4c96b;",
    Qgis.MessageLevel.Critical: "background: #fde2e1; color: #8a1c14; border: 1px solid #e0a19c;",
}


class MessageLabel(QLabel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.level = Qgis.MessageLevel.Info
        self.hide()

    def show_message(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        if not text:
            self.clear_message()
            return
        self.level = level
        self.setStyleSheet(f"QLabel {{ {_STYLES.get(level, _STYLES[Qgis.MessageLevel.Info])} padding: 4px; }}")
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        self.setText("")
        self.hide()
