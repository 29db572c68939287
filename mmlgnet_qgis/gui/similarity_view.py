"""Heat map of the cosine between class embeddings, with the near-duplicate warning.

A QTableWidget with coloured cells rather than a matplotlib canvas: it renders the same
headless, needs no extra backend, and its cells can be read back by tests.
"""
from __future__ import annotations

import numpy as np
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QBrush, QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPixmap
from qgis.PyQt.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTableWidget,
                                 QTableWidgetItem, QVBoxLayout, QWidget)

from .dock_layout import fit_matrix_height
from .similarity import (NEAR_DUPLICATE_COSINE, _RAMP, heat_rgb, is_dark,
                         most_similar_pair, near_duplicate_pairs)

ROW_HEIGHT = 24  # compact: 11 classes (MUUFL) fit a side dock

WARNING_STYLE = "QLabel { background: #fde2e1; color: #8a1c14; border: 1px solid #e0a19c; padding: 4px; }"
OK_STYLE = "QLabel { color: #2f5d2f; padding: 4px; }"
STALE_STYLE = "QLabel { color: #7a5a00; padding: 2px 4px; font-style: italic; }"


class SimilarityView(QWidget):
    def __init__(self, parent=None, threshold: float = NEAR_DUPLICATE_COSINE):
        super().__init__(parent)
        self.threshold = threshold
        self.matrix: np.ndarray | None = None
        self.names: list[str] = []
        self.pairs: list[tuple[int, int, float]] = []

        self.table = QTableWidget(0, 0, self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        columns = self.table.horizontalHeader()
        # Narrowest column that still shows "0.00"; more classes than fit scroll sideways.
        columns.setMinimumSectionSize(QFontMetrics(self.table.font()).horizontalAdvance("0.00") + 10)
        # Near-duplicate cells are underlined, not bold, so they need no wider column.
        self._flag_font = QFont(self.table.font())
        self._flag_font.setUnderline(True)
        columns.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)

        self.legend = QLabel(self)
        self.legend.setPixmap(_legend_pixmap(160, 12))
        legend_row = QHBoxLayout()
        legend_row.addWidget(QLabel("cosine 0", self))
        legend_row.addWidget(self.legend)
        legend_row.addWidget(QLabel("1", self))
        legend_row.addStretch(1)

        self.stale_label = QLabel("Prompts changed since this was computed: press Encode to refresh.", self)
        self.stale_label.setStyleSheet(STALE_STYLE)
        self.stale_label.setWordWrap(True)
        self.stale_label.hide()

        self.warning_label = QLabel("Press Encode to compare the class embeddings.", self)
        self.warning_label.setWordWrap(True)
        self.warning_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(legend_row)
        layout.addWidget(self.stale_label)
        layout.addWidget(self.warning_label)

    def show_similarity(self, names: list[str], sim: np.ndarray) -> None:
        self.matrix, self.names = np.asarray(sim, dtype=np.float64), list(names)
        k = len(names)
        self.table.clear()
        self.table.setRowCount(k)
        self.table.setColumnCount(k)
        # Rows carry "id name", columns just the id, so K columns stay narrow.
        self.table.setVerticalHeaderLabels([f"{i + 1} {n}" for i, n in enumerate(names)])
        self.table.setHorizontalHeaderLabels([str(i + 1) for i in range(k)])
        for j, n in enumerate(names):
            self.table.horizontalHeaderItem(j).setToolTip(n)
        for i in range(k):
            for j in range(k):
                value = float(self.matrix[i, j])
                rgb = heat_rgb(value)
                item = QTableWidgetItem(f"{value:.2f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(QColor(*rgb)))
                item.setForeground(QBrush(QColor("white" if is_dark(rgb) else "black")))
                item.setToolTip(f"{names[i]} vs {names[j]}: cosine {value:.4f}")
                if i != j and value > self.threshold:
                    item.setFont(self._flag_font)
                self.table.setItem(i, j, item)
        fit_matrix_height(self.table, k)  # the last row is never cut off
        self.pairs = near_duplicate_pairs(self.matrix, self.threshold)
        self._update_warning()
        self.set_stale(False)

    def clear(self) -> None:
        self.matrix, self.names, self.pairs = None, [], []
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.warning_label.setStyleSheet("")
        self.warning_label.setText("Press Encode to compare the class embeddings.")
        self.stale_label.hide()

    def set_stale(self, stale: bool) -> None:
        self.stale_label.setVisible(bool(stale) and self.matrix is not None)

    @property
    def warning_text(self) -> str:
        """The label's text when it warns about near-duplicates, else ""."""
        return self.warning_label.text() if self.pairs else ""

    def _update_warning(self) -> None:
        if self.pairs:
            listed = "; ".join(f'"{self.names[i]}" and "{self.names[j]}" ({c:.2f})'
                               for i, j, c in self.pairs)
            self.warning_label.setStyleSheet(WARNING_STYLE)
            self.warning_label.setText(
                f"\u26a0 Near-duplicate classes (cosine > {self.threshold:.2f}): {listed}. "
                "Confusable prompts hurt the alignment: make their prompts more distinct.")
            return
        self.warning_label.setStyleSheet(OK_STYLE)
        top = most_similar_pair(self.matrix)
        if top is None:
            self.warning_label.setText("Only one class: nothing to compare.")
        else:
            i, j, c = top
            self.warning_label.setText(
                f"No near-duplicate classes. Most similar: \"{self.names[i]}\" and "
                f"\"{self.names[j]}\" ({c:.2f}, warning above {self.threshold:.2f}).")


def _legend_pixmap(width: int, height: int) -> QPixmap:
    pixmap = QPixmap(width, height)
    gradient = QLinearGradient(0, 0, width, 0)
    for stop, rgb in _RAMP:
        gradient.setColorAt(stop, QColor(*rgb))
    painter = QPainter(pixmap)
    painter.fillRect(0, 0, width, height, gradient)
    painter.end()
    return pixmap
