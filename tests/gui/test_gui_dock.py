"""The prompt dock with real QGIS widgets under offscreen Qt (no mocks).

QgsApplication is created once per process and never exitQgis()'d: QGIS 3.22 can segfault
there at interpreter exit.
"""
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import Qgis, QgsApplication, QgsProject  # noqa: E402
from qgis.PyQt.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from qgis.PyQt.QtWidgets import QLineEdit, QPlainTextEdit  # noqa: E402
from qgis.PyQt.QtTest import QTest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
_APP = []  # keeps the application object alive for the whole session


@pytest.fixture(scope="session")
def qgis_app():
    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], True)  # GUI-enabled: the dock needs widgets
        QgsApplication.setPrefixPath("/usr", True)  # as tests/qgis_fixtures.py, whichever runs first
        app.initQgis()
    _APP.append(app)
    return app


@pytest.fixture(scope="module")
def minilm_cached():
    """Warm build_text_encoder's cache once, so the dock's "minilm" spec reuses it."""
    from mmlgnet_qgis.core.text_encoders import build_text_encoder
    return build_text_encoder("minilm")


@pytest.fixture
def controller(qgis_app):
    from mmlgnet_qgis.gui.dock_controller import PromptDockController
    QgsProject.instance().clear()
    ctl = PromptDockController(None)
    yield ctl
    ctl.unload()
    QgsProject.instance().clear()
    qgis_app.processEvents()


@pytest.fixture
def dock(controller):
    return controller.dock


def project_set():
    from mmlgnet_qgis.processing.project_prompts import read_project_prompts
    text = read_project_prompts()
    return json.loads(text) if text else None


def wait_for(signal, timeout_ms):
    """Run the event loop until `signal` fires; returns its arguments or None on timeout."""
    got, loop = [], QEventLoop()

    def done(*args):
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec_()
    signal.disconnect(done)
    return got[0] if got else None


# --- editing -------------------------------------------------------------------------------
def test_editing_cells_changes_the_prompt_set_and_the_project(dock, qgis_app):
    from mmlgnet_qgis.gui.prompt_table import COL_NAME, COL_PROMPTS
    assert dock.load_ready_set("Trento")
    assert project_set()["classes"][0]["name"] == "Apple trees"

    dock.table.item(0, COL_NAME).setText("Apple orchard")
    assert dock.prompt_set().classes[0].name == "Apple orchard"
    assert project_set()["classes"][0]["name"] == "Apple orchard"

    # Keyboard: open the multi-line prompt editor, type two prompts, Tab commits.
    dock.table.setCurrentCell(1, COL_PROMPTS)
    dock.table.editItem(dock.table.item(1, COL_PROMPTS))
    editor = dock.table.viewport().findChild(QPlainTextEdit)
    assert editor is not None
    editor.selectAll()
    QTest.keyClicks(editor, "red tiled roofs")
    QTest.keyClick(editor, Qt.Key_Return)
    QTest.keyClicks(editor, "flat concrete roofs")
    QTest.keyClick(editor, Qt.Key_Tab)
    qgis_app.processEvents()
    assert dock.prompt_set().classes[1].prompts == ["red tiled roofs", "flat concrete roofs"]
    assert project_set()["classes"][1]["prompts"] == ["red tiled roofs", "flat concrete roofs"]

    # Keyboard on a one-line cell (the name), Enter commits.
    dock.table.setCurrentCell(2, COL_NAME)
    dock.table.editItem(dock.table.item(2, COL_NAME))
    line = dock.table.viewport().findChild(QLineEdit)
    line.selectAll()
    QTest.keyClicks(line, "Bare soil")
    QTest.keyClick(line, Qt.Key_Return)
    qgis_app.processEvents()  # the delegate commits on Return through a queued call
    assert dock.prompt_set().classes[2].name == "Bare soil"

    dock.table.set_class_color(3, "#123456")
    assert dock.prompt_set().classes[3].color == "#123456"
    assert project_set()["classes"][3]["color"] == "#123456"


def test_add_remove_and_move_classes_renumber_ids(dock, qgis_app):
    from mmlgnet_qgis.gui.prompt_table import COL_ID
    dock.load_ready_set("trento")
    row = dock.add_class("Water", "#1e90ff", ["dark open water"])
    ps = dock.prompt_set()
    assert row == 6 and [c.id for c in ps.classes] == list(range(1, 8)) and ps.classes[6].name == "Water"

    assert dock.move_class(-1, row=6) == 5
    assert [c.name for c in dock.prompt_set().classes][5:] == ["Water", "Roads"]
    assert dock.table.item(5, COL_ID).text() == "6"

    dock.remove_classes([0])
    ps = dock.prompt_set()
    assert [c.id for c in ps.classes] == list(range(1, 7))
    assert ps.classes[0].name == "Buildings" and ps.classes[4].name == "Water"
    assert [c["name"] for c in project_set()["classes"]] == [c.name for c in ps.classes]

    QTest.mouseClick(dock.add_button, Qt.LeftButton)  # the button path: a unique default name
    ps = dock.prompt_set()
    assert len(ps.classes) == 7 and ps.classes[-1].name == "New class" and ps.classes[-1].id == 7
    dock.table.selectRow(6)
    QTest.mouseClick(dock.remove_button, Qt.LeftButton)
    assert len(dock.prompt_set().classes) == 6


# --- project, files ------------------------------------------------------------------------
def test_prompt_set_is_saved_in_and_restored_from_the_project(dock, tmp_path, qgis_app):
    project = QgsProject.instance()
    dock.load_ready_set("muufl")
    dock.table.set_prompts(0, ["tall broadleaf tree crowns", "shade trees along streets"])
    dock.templates_edit.setPlainText("a hyperspectral image of {}")
    expected = dock.prompt_set().to_dict()

    path = tmp_path / "scene.qgz"
    assert project.write(str(path))
    project.clear()
    assert dock.table.rowCount() == 0  # the cleared project has no prompts

    assert project.read(str(path))
    assert dock.prompt_set().to_dict() == expected
    assert not project.isDirty(), "restoring the dock must not write back into the project"


def test_json_export_then_import_gives_an_identical_set(dock, tmp_path):
    from mmlgnet_qgis.core.prompts import load_prompt_set
    dock.load_ready_set("MUUFL")
    dock.table.set_class_color(2, "#abcdef")
    before = dock.prompt_set().to_dict()
    out = tmp_path / "muufl_edit.json"
    assert dock.export_json(out)
    assert load_prompt_set(str(out)).to_dict() == before

    dock.set_prompt_set(None)
    assert dock.import_json(out)
    assert dock.prompt_set().to_dict() == before
    assert dock.message_label.level == Qgis.Success


def test_invalid_json_import_shows_a_clear_message_and_keeps_the_set(dock, tmp_path):
    dock.load_ready_set("trento")
    bad = tmp_path / "broken.json"
    bad.write_text('{"classes": [{"id": 1, "name": "Roads",, }]}', encoding="utf-8")
    assert not dock.import_json(bad)
    label = dock.message_label
    assert not label.isHidden() and label.level == Qgis.Critical
    assert "broken.json" in label.text() and "not valid JSON" in label.text() and "line 1" in label.text()
    assert len(dock.prompt_set().classes) == 6  # unchanged

    no_slot = tmp_path / "no_placeholder.json"
    no_slot.write_text(json.dumps({"templates": ["a photo"], "classes": [{"id": 1, "name": "A"}]}))
    assert not dock.import_json(no_slot)
    assert "no {} placeholder" in label.text()


def test_empty_and_duplicate_prompts_are_warned_about(dock):
    dock.load_ready_set("trento")
    status = dock.status_label
    assert status.level == Qgis.Info

    dock.table.set_prompts(0, ["apple trees", "", "orchard rows"])
    assert not status.isHidden() and status.level == Qgis.Warning
    assert 'class 1 "Apple trees" has an empty prompt' in status.text()

    dock.table.set_prompts(0, ["apple trees"])
    dock.table.set_prompts(1, ["Apple trees"])
    assert 'prompt "Apple trees" is used by classes 1 and 2' in status.text()

    # An unusable set is reported and not written to the project.
    dock.templates_edit.setPlainText("no placeholder here")
    assert status.level == Qgis.Critical and "placeholder" in status.text()
    assert project_set()["templates"] != ["no placeholder here"]


def test_model_file_prompts_and_encoder_are_loaded(dock, tmp_path):
    from mmlgnet_qgis.core.model_file import save_model
    from mmlgnet_qgis.core.prompts import scene_prompt_set
    from model_fixtures import small_model

    prompts = scene_prompt_set("trento")
    manifest = {"hsi_bands": 7, "lidar_bands": 2, "prompts": prompts.to_dict(),
                "classes": [{"id": c.id, "name": c.name, "color": c.color} for c in prompts.classes],
                "text_encoder": {"kind": "open_clip", "model": "ViT-B-32", "pretrained": None,
                                 "checkpoint": "/models/clip.pt", "dim": 512}}
    path = tmp_path / "trento.safetensors"
    save_model(path, small_model(k=6), manifest)
    assert dock.load_model_file(path)
    assert dock.prompt_set().to_dict() == prompts.to_dict()
    assert dock.encoder_picker.spec() == "clip:ViT-B-32:/models/clip.pt"
    assert not dock.encoder_picker.weights_edit.isHidden()

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    assert not dock.load_model_file(junk)
    assert dock.message_label.level == Qgis.Critical and "junk.safetensors" in dock.message_label.text()


class MainWindowIface:
    """The part of QgisInterface the controller uses, backed by a real QMainWindow and toolbar
    (QGIS's own iface needs the desktop app)."""

    def __init__(self):
        from qgis.PyQt.QtWidgets import QMainWindow, QMenu
        self.window = QMainWindow()
        self.toolbar = self.window.addToolBar("Plugins")
        self.menus = {}
        self._menu_cls = QMenu

    def mainWindow(self):  # noqa: N802
        return self.window

    def addDockWidget(self, area, dock):  # noqa: N802
        self.window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.window.removeDockWidget(dock)

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar.removeAction(action)

    def addPluginToMenu(self, name, action):  # noqa: N802
        self.menus.setdefault(name, self._menu_cls(name)).addAction(action)

    def removePluginMenu(self, name, action):  # noqa: N802
        self.menus[name].removeAction(action)


def test_controller_docks_into_a_main_window_and_unloads_cleanly(qgis_app):
    from mmlgnet_qgis.gui.dock_controller import MENU, PromptDockController
    iface = MainWindowIface()
    ctl = PromptDockController(iface)
    try:
        assert iface.window.dockWidgetArea(ctl.dock) == Qt.RightDockWidgetArea
        assert ctl.action in iface.toolbar.actions() and ctl.action in iface.menus[MENU].actions()
        # View > Panels in QGIS lists the main window's dock toggle actions, as createPopupMenu does.
        panels = [a.text() for a in iface.window.createPopupMenu().actions()]
        assert ctl.dock.windowTitle() in panels
        assert not ctl.action.icon().isNull()
    finally:
        ctl.unload()
    assert ctl.action not in iface.toolbar.actions() and ctl.action not in iface.menus[MENU].actions()
    assert iface.window.dockWidgetArea(ctl.dock) == Qt.NoDockWidgetArea


def test_toggle_action_shows_and_hides_the_dock(controller, qgis_app):
    controller.dock.show()
    qgis_app.processEvents()
    assert controller.action.isChecked()
    controller.action.trigger()
    qgis_app.processEvents()
    assert not controller.dock.isVisible() and not controller.action.isChecked()


# --- encoding ------------------------------------------------------------------------------
def test_minilm_similarity_and_near_duplicate_warning(dock, minilm_cached):
    dock.load_ready_set("trento")
    sim = dock.encode_now()
    assert sim.shape == (6, 6)
    assert np.allclose(np.diag(sim), 1.0) and np.allclose(sim, sim.T, atol=1e-6)
    assert dock.similarity_view.table.rowCount() == 6
    assert dock.similarity_view.warning_text == ""

    dock.table.set_prompts(1, ["Apple trees"])
    assert not dock.similarity_view.stale_label.isHidden()  # the heat map is now out of date

    # Identical prompts and no templates: classes 1 and 2 get the same embedding.
    dock.table.set_prompts(0, ["an orchard of apple trees"])
    dock.table.set_prompts(1, ["an orchard of apple trees"])
    dock.templates_edit.setPlainText("")
    sim = dock.encode_now()
    assert sim[0, 1] > 0.95
    warning = dock.similarity_view.warning_label
    assert not warning.isHidden()
    assert '"Apple trees" and "Buildings"' in warning.text() and "Near-duplicate" in warning.text()
    assert dock.similarity_view.stale_label.isHidden()


def test_encoding_runs_as_a_task_off_the_gui_thread(dock, minilm_cached, qgis_app):
    threads = []

    class RecordingEncoder:  # the real MiniLM, noting which thread calls it
        def encode(self, texts):
            threads.append(threading.get_ident())
            return minilm_cached.encode(texts)

    dock.load_ready_set("trento")
    task = dock.start_encoding(encoder=RecordingEncoder())
    assert task is not None and dock.is_encoding and not dock.encode_button.isEnabled()
    assert QgsApplication.taskManager().count() >= 1
    result = wait_for(dock.encodingFinished, 60000)
    assert result is not None, "the encoding task did not finish within 60 s"
    sim = result[0]
    assert sim.shape == (6, 6) and np.allclose(np.diag(sim), 1.0)
    assert threads and threading.get_ident() not in threads
    assert not dock.is_encoding and dock.encode_button.isEnabled()
    assert dock.progress_bar.value() == 100


def test_clip_without_weights_or_with_a_missing_checkpoint_is_reported(dock, tmp_path):
    dock.load_ready_set("trento")
    picker = dock.encoder_picker
    picker.set_spec("clip:ViT-B-32:")
    assert dock.start_encoding() is None
    assert "Cannot encode" in dock.message_label.text() and "checkpoint" in dock.message_label.text()

    missing = tmp_path / "nowhere" / "clip.pt"
    picker.weights_edit.setText(str(missing))
    assert picker.spec() == f"clip:ViT-B-32:{missing}"
    assert dock.encode_now() is None
    assert dock.message_label.level == Qgis.Critical
    assert "checkpoint not found" in dock.message_label.text()

    picker.set_spec({"kind": "minilm"})
    assert picker.spec() == "minilm" and picker.weights_edit.isHidden()


def test_encoding_task_can_be_cancelled(dock, qgis_app):
    class SlowEncoder:
        def encode(self, texts):
            time.sleep(0.2)
            return np.eye(len(texts), 8, dtype=np.float32)

    dock.load_ready_set("muufl")
    assert dock.start_encoding(encoder=SlowEncoder()) is not None
    dock.cancel_encoding()
    deadline = time.time() + 20
    while dock.is_encoding and time.time() < deadline:
        qgis_app.processEvents()
        time.sleep(0.02)
    assert not dock.is_encoding
    assert "cancelled" in dock.message_label.text() and dock.similarity is None


def test_screenshot_of_the_trento_dock(dock, minilm_cached, qgis_app):
    dock.load_ready_set("trento")
    dock.resize(1000, 700)
    dock.show()
    qgis_app.processEvents()
    assert dock.encode_now() is not None
    for _ in range(3):  # let deferred row fitting and layouts settle before grabbing
        qgis_app.processEvents()
    image = dock.grab()
    assert (image.width(), image.height()) == (1000, 700)
    outs = [REPO / "tests" / "_artifacts" / "prompt_dock_trento.png"]
    if os.environ.get("MMLGNET_UPDATE_SCREENSHOTS"):  # the committed copy changes only on purpose
        outs.append(REPO / "resources" / "screenshots" / "prompt_dock_trento.png")
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(out))
        assert out.stat().st_size > 20_000
