"""The class table: id (1..N, read-only), name, colour (QgsColorButton), prompts (one per line).

One prompt per line in one cell keeps every prompt editable in place and needs no separator a
prompt could itself contain; the cell editor is multi-line (Enter adds a line, Tab or clicking
away commits).
"""
from __future__ import annotations

from qgis.gui import QgsColorButton
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPlainTextEdit,
                                 QStyledItemDelegate, QTableWidget, QTableWidgetItem, QWidget)

from ..core.prompts import ClassPrompt

COL_ID, COL_NAME, COL_COLOR, COL_PROMPTS = range(4)
HEADERS = ("ID", "Name", "Colour", "Prompts")

# Colours for new classes (tab10), so added classes are distinguishable on the map at once.
NEW_CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def prompts_to_cell(prompts: list[str]) -> str:
    return "\n".join(prompts)


def cell_to_prompts(text: str) -> list[str]:
    """Trailing blank lines (a stray Enter) are dropped; any other blank line stays an empty
    prompt so PromptSet.warnings() reports it, and a set with one round-trips."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _prompts_tooltip(text: str) -> str:
    return "\n".join(f"\u2022 {p or '(empty prompt)'}" for p in cell_to_prompts(text)) + \
        "\n(double-click or press F2 to edit; one prompt per line)"


class MultiLineDelegate(QStyledItemDelegate):
    def displayText(self, value, locale):  # noqa: N802 (Qt's name)
        # Bullets show where each prompt starts once long prompts wrap; editing shows raw lines.
        # Qt's item painter breaks lines at U+2028 (LINE SEPARATOR), not at "\n".
        return "\u2028".join(f"\u2022 {p or '(empty prompt)'}" for p in cell_to_prompts(str(value or "")))

    def createEditor(self, parent, option, index):  # noqa: N802 (Qt's name)
        editor = QPlainTextEdit(parent)
        editor.setTabChangesFocus(True)  # Tab commits, Enter starts a new prompt
        return editor

    def setEditorData(self, editor, index):  # noqa: N802
        editor.setPlainText(index.data(Qt.ItemDataRole.EditRole) or "")

    def setModelData(self, editor, model, index):  # noqa: N802
        model.setData(index, editor.toPlainText(), Qt.ItemDataRole.EditRole)

    def updateEditorGeometry(self, editor, option, index):  # noqa: N802
        rect = option.rect
        rect.setHeight(max(rect.height(), 5 * option.fontMetrics.height()))
        editor.setGeometry(rect)


class PromptTable(QTableWidget):
    """Holds the classes; `edited` fires on any user change (text or colour)."""

    edited = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(0, len(HEADERS), parent)
        self.setHorizontalHeaderLabels(HEADERS)
        self.verticalHeader().hide()
        # one line per prompt, elided ("…"; the tooltip has them whole): 6-11 classes fit a side dock
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        triggers = QAbstractItemView.EditTrigger
        self.setEditTriggers(triggers.DoubleClicked | triggers.EditKeyPressed | triggers.AnyKeyPressed)
        header = self.horizontalHeader()
        header.setHighlightSections(False)  # a bold header on selection would clip "Colour"
        header.setSectionResizeMode(COL_ID, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_COLOR, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(COL_PROMPTS, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(COL_NAME, 110)
        self.setColumnWidth(COL_COLOR, 68)
        self.setItemDelegateForColumn(COL_PROMPTS, MultiLineDelegate(self))
        self.horizontalHeaderItem(COL_PROMPTS).setToolTip(
            "One prompt per line; the class embedding averages all prompts and the templates.")
        self.itemChanged.connect(self._on_item_changed)
        # Wrapped prompts need taller rows whenever the prompts column gets narrower or wider;
        # deferred, because during the resize itself the rows still measure the old width.
        self._fit_rows_timer = QTimer(self)
        self._fit_rows_timer.setSingleShot(True)
        self._fit_rows_timer.setInterval(0)
        self._fit_rows_timer.timeout.connect(self.resizeRowsToContents)
        header.sectionResized.connect(lambda *_: self._fit_rows_timer.start())

    # --- content ---------------------------------------------------------------------------
    def set_classes(self, classes: list[ClassPrompt]) -> None:
        self.blockSignals(True)
        try:
            self.setRowCount(0)
            for c in classes:
                self._append_row(c)
            self._renumber()
        finally:
            self.blockSignals(False)
        self.resizeRowsToContents()

    def classes(self) -> list[ClassPrompt]:
        """The rows as they are (may be invalid: empty or repeated names)."""
        out = []
        for row in range(self.rowCount()):
            out.append(ClassPrompt(id=row + 1, name=self._text(row, COL_NAME).strip(),
                                   color=self.color_button(row).color().name(),
                                   prompts=cell_to_prompts(self._text(row, COL_PROMPTS))))
        return out

    def color_button(self, row: int) -> QgsColorButton:
        return self.cellWidget(row, COL_COLOR).findChild(QgsColorButton)

    def set_class_color(self, row: int, color: str | QColor) -> None:
        self.color_button(row).setColor(QColor(color))  # emits colorChanged -> edited

    def set_prompts(self, row: int, prompts: list[str]) -> None:
        self.item(row, COL_PROMPTS).setText(prompts_to_cell(prompts))

    def selected_rows(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        if not rows and self.currentRow() >= 0:
            rows = [self.currentRow()]
        return rows

    # --- helpers ---------------------------------------------------------------------------
    def _append_row(self, c: ClassPrompt) -> None:
        row = self.rowCount()
        self.insertRow(row)
        id_item = QTableWidgetItem()
        id_item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)  # ids follow the row order
        id_item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setItem(row, COL_ID, id_item)
        self.setItem(row, COL_NAME, QTableWidgetItem(c.name))
        swatch = QTableWidgetItem()
        swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        self.setItem(row, COL_COLOR, swatch)
        prompts = QTableWidgetItem(prompts_to_cell(c.prompts))
        prompts.setToolTip(_prompts_tooltip(prompts.text()))
        self.setItem(row, COL_PROMPTS, prompts)
        button = QgsColorButton(self, f"Colour of {c.name}")
        button.setAllowOpacity(False)
        button.setShowNoColor(False)
        button.setColor(QColor(c.color))
        button.setToolTip("Click to choose the class colour")
        button.setFixedHeight(24)
        button.colorChanged.connect(self.edited)
        # A holder centres the button, which would otherwise stretch to the row's full height.
        holder = QWidget(self)
        box = QHBoxLayout(holder)
        box.setContentsMargins(3, 0, 3, 0)
        box.addWidget(button)
        self.setCellWidget(row, COL_COLOR, holder)

    def _renumber(self) -> None:
        for row in range(self.rowCount()):
            self.item(row, COL_ID).setText(str(row + 1))

    def _text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return item.text() if item is not None else ""

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == COL_PROMPTS:
            blocked = self.blockSignals(True)  # a tooltip change is no edit
            item.setToolTip(_prompts_tooltip(item.text()))
            self.blockSignals(blocked)
            self.resizeRowToContents(item.row())
        self.edited.emit()
