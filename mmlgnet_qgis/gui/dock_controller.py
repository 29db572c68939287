"""Wires the prompt dock into QGIS: panel + toolbar/menu action, and the project's prompt set.

The project is the single store the Processing algorithms read (processing.project_prompts), so
every valid change in the dock is written there, and opening or clearing a project reloads the
dock from it. `iface` may be None (tests, scripts): the dock then lives on its own.
"""
from __future__ import annotations

from qgis.core import Qgis, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from ..core.prompts import PromptError, load_prompt_set
from ..processing.project_prompts import read_project_prompts, write_project_prompts
from .dock_layout import fit_dock_width
from .hsi_layers import HsiLayerStyler
from .environment_row import EnvironmentRow
from .prompt_dock import PromptDock
from .resources import icon_path

MENU = "&MMLGNet"


class PromptDockController:
    def __init__(self, iface=None, project: QgsProject | None = None):
        self.iface = iface
        self.project = project or QgsProject.instance()
        self._loading = False  # True while the dock is filled from the project
        parent = iface.mainWindow() if iface is not None else None
        self.dock = PromptDock(parent)

        icon_file = icon_path()
        self.action = QAction(QIcon(str(icon_file)) if icon_file.is_file() else QIcon(),
                              "MMLGNet class prompts", parent)
        self.action.setObjectName("mmlgnetTogglePromptDock")
        self.action.setToolTip("Show or hide the MMLGNet class prompt editor")
        self.action.setCheckable(True)
        # QgsDockWidget keeps the action's check state and the dock's visibility in step.
        self.dock.setToggleVisibilityAction(self.action)

        # Which environment runs torch (never QGIS's process), and the way to install / repair it.
        self.environment_row = EnvironmentRow()
        self.dock.widget().layout().addWidget(self.environment_row)
        self.environment_row.install_button.clicked.connect(self.show_install_dialog)
        self.dock.encodingFinished.connect(self.environment_row.refresh)  # the dock worker's self-check
        self.install_action = QAction("Install / repair dependencies…", parent)
        self.install_action.setObjectName("mmlgnetInstallDependencies")
        self.install_action.triggered.connect(self.show_install_dialog)
        self.python_action = QAction("Python environment for MMLGNet…", parent)
        self.python_action.setObjectName("mmlgnetPythonEnvironment")
        self.python_action.triggered.connect(self.choose_python)
        self.install_dialog = None

        if iface is not None:
            # addDockWidget also lists the dock under View > Panels.
            iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            fit_dock_width(iface.mainWindow(), self.dock)  # the default side width cramped it
            iface.addToolBarIcon(self.action)
            iface.addPluginToMenu(MENU, self.action)
            iface.addPluginToMenu(MENU, self.install_action)
            iface.addPluginToMenu(MENU, self.python_action)

        self.dock.promptSetChanged.connect(self._store_in_project)
        self.hsi_styler = HsiLayerStyler(self.project)  # hyperspectral layers open in natural colour
        self.project.readProject.connect(self.load_from_project)
        self.project.cleared.connect(self.load_from_project)
        self.load_from_project()

    def load_from_project(self, *_args) -> None:
        """Show the project's prompt set (an empty table when it has none)."""
        text = read_project_prompts(self.project)
        prompt_set, error = None, None
        if text:
            try:
                prompt_set = load_prompt_set(text)
            except PromptError as exc:
                error = exc
        self._loading = True
        try:
            self.dock.set_prompt_set(prompt_set, notify=False)
        finally:
            self._loading = False
        if error is not None:
            self.dock.message_label.show_message(f"The project's prompt set is not usable: {error}",
                                                  Qgis.MessageLevel.Warning)
        else:
            self.dock.message_label.clear_message()

    def _store_in_project(self, json_text: str) -> None:
        if self._loading:
            return
        if json_text != (read_project_prompts(self.project) or ""):
            write_project_prompts(json_text, self.project)  # marks the project dirty, as it should

    def show_install_dialog(self, *_args):
        """Open Install / repair dependencies (non-modal); returns the dialog."""
        from .install_dialog import InstallDialog
        if self.install_dialog is None:
            parent = self.iface.mainWindow() if self.iface is not None else None
            self.install_dialog = InstallDialog(parent)
            self.install_dialog.installed.connect(self._environment_changed)
        self.install_dialog.show()
        self.install_dialog.raise_()
        return self.install_dialog

    def choose_python(self, *_args) -> None:
        """Pick the interpreter for the worker (the plugin setting)."""
        from .install_dialog import choose_python_setting
        if choose_python_setting(self.iface.mainWindow() if self.iface is not None else None):
            self._environment_changed()

    def _environment_changed(self) -> None:
        from ..worker import session
        session.shutdown()  # the next encode starts a worker in the new environment
        self.environment_row.refresh()

    def unload(self) -> None:
        for signal, slot in ((self.project.readProject, self.load_from_project),
                             (self.project.cleared, self.load_from_project),
                             (self.dock.promptSetChanged, self._store_in_project)):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        self.hsi_styler.unload()
        self.dock.shutdown()
        from ..worker import session
        session.shutdown()  # the dock's worker process
        if self.iface is not None:
            self.iface.removePluginMenu(MENU, self.install_action)
            self.iface.removePluginMenu(MENU, self.python_action)
            self.iface.removePluginMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.iface.removeDockWidget(self.dock)
        self.dock.close()
        self.dock.deleteLater()
        self.action.deleteLater()
