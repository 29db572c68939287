"""Install / repair dependencies: the dialog around worker.installer, and the interpreter setting.

The install runs as a QgsTask (QGIS stays usable; the task manager shows it too) and streams
pip's output into the dialog's log. Nothing here imports torch.
"""
from __future__ import annotations

from qgis.core import QgsApplication, QgsSettings, QgsTask
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit,
                                 QProgressBar, QPushButton, QVBoxLayout)

from ..core.errors import Cancelled
from ..worker import environment, installer, session

VARIANTS = [("cpu", "CPU build (about 1 GB; runs everywhere)"), ("cuda", "CUDA build (NVIDIA GPU; about 5 GB)")]


class _TaskReporter:
    """The installer's Reporter over an InstallTask (called from the task's thread)."""

    def __init__(self, task: InstallTask) -> None:
        self.task = task

    def progress(self, done, total, metrics=None):
        self.task.setProgress(100.0 * done / max(total, 1e-9))

    def log(self, message):
        self.task.line.emit(str(message))

    def warning(self, message):
        self.task.line.emit(f"warning: {message}")

    def is_cancelled(self):
        return self.task.isCanceled()


class InstallTask(QgsTask):
    """Runs installer.install; `line(str)` per log line, `done(ok, message)` at the end (GUI thread)."""

    line = pyqtSignal(str)
    done = pyqtSignal(bool, str)

    def __init__(self, variant: str, env_dir=None, install=None):
        """Args: variant: "cpu" or "cuda"; env_dir: the venv folder (default: the managed one);
        install: replaces installer.install (tests)."""
        super().__init__(f"MMLGNet: install dependencies ({variant})", QgsTask.Flag.CanCancel)
        self.variant, self.env_dir = variant, env_dir
        self._install = install or installer.install
        self.record: dict | None = None
        self.error = ""

    def run(self) -> bool:  # task thread: no widgets here
        try:
            self.record = self._install(self.env_dir, variant=self.variant, reporter=_TaskReporter(self))
            return True
        except Cancelled:
            self.error = "cancelled"
            return False
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never raised into QGIS
            self.error = str(exc) or type(exc).__name__
            return False

    def finished(self, ok: bool) -> None:  # GUI thread
        if ok and self.record:
            session.remember_check(self.record["python"], self.record["selfcheck"])
            self.done.emit(True, f"Ready: {self.record['selfcheck']['line']}")
        else:
            self.done.emit(False, "Cancelled." if self.isCanceled() else f"Failed: {self.error}")


class InstallDialog(QDialog):
    """Choose CPU or CUDA torch, install with a progress bar and a log; `installed` on success."""

    installed = pyqtSignal()

    def __init__(self, parent=None, env_dir=None, install=None):
        """Args: parent: the main window; env_dir, install: see InstallTask (tests)."""
        super().__init__(parent)
        self.setWindowTitle("MMLGNet: install / repair dependencies")
        self.env_dir = env_dir or environment.managed_env_dir()
        self._install = install
        self.task: InstallTask | None = None
        self.variant_combo = QComboBox()
        for key, label in VARIANTS:
            self.variant_combo.addItem(label, key)
        self.variant_combo.setCurrentIndex(1 if installer.gpu_present() else 0)  # nvidia-smi decides the default
        intro = QLabel(f"MMLGNet runs torch in a Python environment of its own, outside QGIS's process, "
                       f"so a crash there never takes QGIS down. It goes to:\n{self.env_dir}\n"
                       f"Now: {session.environment_line()}")
        intro.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.install_button = QPushButton("Install")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.python_button = QPushButton("Use another Python\u2026")
        self.python_button.setToolTip("An interpreter that already has torch (e.g. a conda environment)")
        close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.python_button, self.install_button, self.cancel_button, close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.variant_combo)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self.resize(720, 480)
        self.install_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.python_button.clicked.connect(lambda: choose_python_setting(self) and self.installed.emit())
        close_button.clicked.connect(self.close)

    def start(self) -> InstallTask:
        """Queue the install task with the chosen build; returns it."""
        self.task = InstallTask(self.variant_combo.currentData(), self.env_dir, self._install)
        self.task.line.connect(self.log_view.appendPlainText)
        self.task.progressChanged.connect(lambda p: self.progress_bar.setValue(int(p)))
        self.task.done.connect(self._done)
        self.install_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status_label.setText("Installing\u2026")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def cancel(self) -> None:
        """Ask the running install to stop (pip is terminated)."""
        if self.task is not None:
            self.task.cancel()

    def _done(self, ok: bool, message: str) -> None:
        self.install_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status_label.setText(message)
        if ok:
            self.progress_bar.setValue(100)
            self.installed.emit()


def choose_python_setting(parent=None) -> bool:
    """Ask for an interpreter and store it as 'Python environment for MMLGNet' (QgsSettings).

    Args:
        parent: the dialog's parent.

    Returns:
        True when a new interpreter was chosen.
    """
    current = QgsSettings().value(environment.SETTING_KEY, "", type=str)
    path, _ = QFileDialog.getOpenFileName(parent, "Python environment for MMLGNet (its python executable)",
                                          current or "")
    if not path:
        return False
    QgsSettings().setValue(environment.SETTING_KEY, path)
    return True
