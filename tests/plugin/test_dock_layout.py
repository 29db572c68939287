"""The prompt dock at a side-dock size: every similarity row visible for 6-11 classes, prompts
one line each, keyboard shortcuts and tooltips, opened wide once per profile."""
from __future__ import annotations

import numpy as np
import pytest

from qgis_fixtures import qgis_app  # noqa: F401


class Fake:
    """Hash-seeded unit vectors: class embeddings without a language model."""

    def encode(self, texts):
        out = np.random.default_rng(sum(map(ord, "".join(texts)))).normal(size=(len(texts), 16))
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def dock(qgis_app):
    from mmlgnet_qgis.gui.prompt_dock import PromptDock
    d = PromptDock()
    # the right dock area of a maximised QGIS: 536 x 850 on 1600 x 1000 (the README screenshot);
    # offscreen Qt uses a 12 pt font (20 px lines), the desktop 9 pt (15 px): 900 px here is stricter
    d.resize(536, 900)
    d.show()
    yield d
    d.shutdown()
    d.close()
    d.deleteLater()


def _settle(qgis_app):
    for _ in range(5):
        qgis_app.processEvents()


@pytest.mark.parametrize("scene, k", [("trento", 6), ("muufl", 11)])
def test_every_similarity_row_is_visible_in_a_side_dock(dock, qgis_app, scene, k):
    assert dock.load_ready_set(scene)
    assert dock.encode_now(encoder=Fake()) is not None
    _settle(qgis_app)
    table = dock.similarity_view.table
    assert table.rowCount() == k
    last = table.rowViewportPosition(k - 1) + table.rowHeight(k - 1)
    assert 0 <= table.rowViewportPosition(0) and last <= table.viewport().height(), (last, table.viewport().height())


def test_trento_classes_fit_the_table_one_line_per_prompt(dock, qgis_app):
    assert dock.load_ready_set("trento")
    assert dock.encode_now(encoder=Fake()) is not None
    _settle(qgis_app)
    table = dock.table
    assert not table.wordWrap()
    line = table.fontMetrics().lineSpacing()
    assert table.rowHeight(0) <= 2 * line + 12  # two prompts, two lines
    assert table.rowViewportPosition(5) + table.rowHeight(5) <= table.viewport().height()
    assert "apple trees" in table.item(0, 3).toolTip()  # the whole prompts


def test_keyboard_shortcuts(dock, qgis_app):
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest
    assert dock.load_ready_set("trento")
    dock.table.setFocus()
    dock.table.setCurrentCell(0, 1)
    _settle(qgis_app)
    QTest.keyClick(dock.table, Qt.Key.Key_Insert)
    assert len(dock.prompt_set().classes) == 7
    dock.table.setCurrentCell(6, 1)
    QTest.keyClick(dock.table, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert dock.prompt_set().classes[5].name.startswith("New class")
    QTest.keyClick(dock.table, Qt.Key.Key_Delete)
    assert [c.name for c in dock.prompt_set().classes][-1] == "Roads" and len(dock.prompt_set().classes) == 6
    assert dock.templates_edit.tabChangesFocus()


def test_controls_have_tooltips_naming_their_keys(dock):
    for name, key in (("add_button", "Ins"), ("remove_button", "Del"), ("up_button", "Up"),
                      ("down_button", "Down"), ("encode_button", "Return")):
        tip = getattr(dock, name).toolTip()
        assert tip and key in tip, (name, tip)
    for widget in (dock.cancel_button, dock.progress_bar, dock.table, dock.ready_combo, dock.import_button):
        assert widget.toolTip()


def test_dock_is_opened_wide_once_per_profile(qgis_app):
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QLabel, QMainWindow
    from mmlgnet_qgis.gui.dock_layout import DOCK_WIDTH, fit_dock_width
    from mmlgnet_qgis.gui.prompt_dock import PromptDock

    class Settings(dict):
        def value(self, key, default=None, type=None):  # noqa: A002 (QgsSettings' name)
            return self.get(key, default)

        def setValue(self, key, value):  # noqa: N802
            self[key] = value

    window = QMainWindow()
    window.setCentralWidget(QLabel("map"))
    window.resize(1600, 1000)
    dock = PromptDock(window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    settings = Settings()
    fit_dock_width(window, dock, settings)
    window.show()
    for _ in range(10):
        qgis_app.processEvents()
    assert dock.width() >= DOCK_WIDTH - 40 and settings
    window.resizeDocks([dock], [dock.minimumSizeHint().width()], Qt.Orientation.Horizontal)
    fit_dock_width(window, dock, settings)  # a second start: the user's width stays
    for _ in range(10):
        qgis_app.processEvents()
    assert dock.width() < DOCK_WIDTH - 20
    dock.shutdown()
    window.close()
