"""Size, keyboard access and tooltips of the prompt dock, kept apart from its behaviour.

At QGIS's default side-dock width the dock showed 4 of 6 classes and cut the similarity matrix's
last row; it now opens wider, shows one line per prompt (the table, prompt_table), the matrix
always shows every row up to FIT_CLASSES classes (MUUFL has 11), and everything is reachable
from the keyboard.
"""
from __future__ import annotations

from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QKeySequence
from qgis.PyQt.QtWidgets import QShortcut, QSplitter, QWidget

DOCK_WIDTH = 560  # px: ID, name, colour and most of a prompt's line; the 6-11 similarity columns
FIT_CLASSES = 11  # the matrix grows to show this many rows without scrolling
SIZED_KEY = "MMLGNet/promptDockSized"
ROW_HEADER_WIDTH = 100  # px of "id name" before the matrix's cells

# button -> (shortcut, tooltip); the table's keys work while the table (not a cell editor) has focus
TABLE_KEYS = {"add_button": ("Insert", "Add a class at the end"),
              "remove_button": ("Delete", "Remove the selected classes (later ids move up)"),
              "up_button": ("Ctrl+Up", "Move the selected class up (its id goes down by one)"),
              "down_button": ("Ctrl+Down", "Move the selected class down (its id goes up by one)")}
ENCODE_KEY = "Ctrl+Return"


def fit_dock_width(main_window, dock, settings=None) -> None:
    """Give the docked dock room for its table and matrix, once per profile: later a user's own
    width wins. Deferred to the event loop: before the window is shown resizeDocks has no effect."""
    from qgis.core import QgsSettings
    settings = QgsSettings() if settings is None else settings
    if settings.value(SIZED_KEY, False, type=bool):
        return

    def resize():
        if dock.isVisible() and not dock.isFloating() and not settings.value(SIZED_KEY, False, type=bool):
            main_window.resizeDocks([dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
            settings.setValue(SIZED_KEY, True)
    # at plugin load the main window is not shown yet: size when the dock first shows
    dock.visibilityChanged.connect(lambda visible: visible and QTimer.singleShot(0, resize))
    QTimer.singleShot(0, resize)


def fit_matrix_height(table, rows: int) -> None:
    """Let the matrix ask for every row up to FIT_CLASSES, so a splitter never cuts the last one;
    long class names are elided in the row header (full name in the tooltip) so columns fit."""
    table.verticalHeader().setMaximumWidth(ROW_HEADER_WIDTH)
    table.verticalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)
    for i in range(rows):
        item = table.verticalHeaderItem(i)
        if item is not None:
            item.setToolTip(item.text())
    shown = min(max(rows, 1), FIT_CLASSES)
    height = (table.horizontalHeader().sizeHint().height() + shown * table.verticalHeader().defaultSectionSize()
              + 2 * table.frameWidth() + 2)
    if rows > 6:  # many columns may still scroll sideways: keep the bar off the last row
        height += table.horizontalScrollBar().sizeHint().height()
    table.setMinimumHeight(height)
    splitter = table.parent()
    while splitter is not None and not isinstance(splitter, QSplitter):
        splitter = splitter.parent()
    if splitter is not None:
        QTimer.singleShot(0, lambda: _rest_to_the_editor(splitter))


def _rest_to_the_editor(splitter) -> None:
    """Stacked (narrow dock): the similarity pane gets what it needs, the class table the rest."""
    if splitter.orientation() != Qt.Orientation.Vertical or splitter.count() != 2:
        return
    checker = splitter.widget(1)
    need = checker.minimumSizeHint().height() + checker.fontMetrics().lineSpacing()  # a wrapped warning
    total = sum(splitter.sizes())
    if total > need:
        splitter.setSizes([total - need, need])


def _shortcut(key: str, parent: QWidget, slot, context) -> QShortcut:
    shortcut = QShortcut(QKeySequence(key), parent)
    shortcut.setContext(context)
    shortcut.activated.connect(slot)
    return shortcut


def polish(dock) -> None:
    """Shortcuts (named in the tooltips), Tab leaving multi-line fields, a reading tab order,
    and a two-line templates box (room for the class table in a side dock)."""
    line = dock.templates_edit.fontMetrics().lineSpacing()
    dock.templates_edit.setFixedHeight(2 * line + 16)  # two lines with no scroll bar
    dock.templates_edit.setTabChangesFocus(True)  # Tab would otherwise type a tab into the templates
    for name, (key, tip) in TABLE_KEYS.items():
        button = getattr(dock, name)
        _shortcut(key, dock.table, button.click, Qt.ShortcutContext.WidgetShortcut)
        button.setToolTip(f"{tip} ({QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)})")
    _shortcut(ENCODE_KEY, dock.widget(), dock.encode_button.click, Qt.ShortcutContext.WidgetWithChildrenShortcut)
    dock.encode_button.setToolTip("Embed every class's prompts in the background and compare the classes "
                                  f"({QKeySequence(ENCODE_KEY).toString(QKeySequence.SequenceFormat.NativeText)})")
    dock.cancel_button.setToolTip("Stop encoding; the last similarity matrix stays")
    dock.progress_bar.setToolTip("Encoding progress")
    dock.table.setToolTip("Classes: double-click or start typing to edit a name or the prompts "
                          "(one per line); Insert adds, Delete removes, Ctrl+Up / Ctrl+Down reorder")
    dock.similarity_view.table.setToolTip("Cosine similarity between the classes' embeddings; "
                                          "near-duplicates (above the threshold) are underlined")
    for widget, name in ((dock.table, "Classes"), (dock.templates_edit, "Templates"),
                         (dock.similarity_view.table, "Cosine similarity between classes")):
        widget.setAccessibleName(name)
    order = [dock.ready_combo, dock.import_button, dock.export_button, dock.model_button, dock.add_button,
             dock.remove_button, dock.up_button, dock.down_button, dock.table, dock.templates_edit,
             *dock.encoder_picker.findChildren(QWidget), dock.encode_button, dock.cancel_button]
    # not the combo boxes' popups (windows of their own) nor labels
    order = [w for w in order if not w.isWindow() and w.window() is dock.table.window()
             and w.focusPolicy() != Qt.FocusPolicy.NoFocus]
    for first, second in zip(order, order[1:]):
        QWidget.setTabOrder(first, second)
