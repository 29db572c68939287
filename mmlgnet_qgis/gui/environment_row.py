"""The dock's bottom line: which environment runs the worker ('torch 2.13.0 · CPU only') and the
Install / repair button. Reading it starts no worker (see worker.session.environment_line)."""
from __future__ import annotations

from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ..worker import session


class EnvironmentRow(QWidget):
    """A label with the environment line and an 'Install / repair…' button (wired by the controller)."""

    def __init__(self, parent=None):
        """Args: parent: the dock's content widget."""
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.install_button = QPushButton("Install / repair\u2026")
        self.install_button.setToolTip("Install or repair the Python environment in which MMLGNet runs torch")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 2, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.install_button)
        self.refresh()

    def refresh(self, *_args) -> str:
        """Re-read the environment line; returns it."""
        short, detail = session.environment_status()
        self.label.setText(f"Environment: {short}" + (": press Install / repair" if short == "not set up" else ""))
        self.label.setToolTip(detail)
        return f"{short} ({detail})"
