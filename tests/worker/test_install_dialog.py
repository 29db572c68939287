"""Install / repair dependencies in the GUI: the dialog runs the installer as a task with a progress
bar and a log, a failure is shown (not raised into QGIS), and the dock's bottom row names the
environment. The installer itself is tested for real in test_installer.py; here it is a stand-in."""
import time

import pytest

pytest.importorskip("qgis.core")


@pytest.fixture(scope="module")
def qgis_app():
    from qgis_fixtures import start_qgis
    return start_qgis()


def _wait(task, seconds=30):
    from qgis.core import QgsApplication, QgsTask
    end = time.time() + seconds
    while task.status() not in (QgsTask.TaskStatus.Complete, QgsTask.TaskStatus.Terminated) and time.time() < end:
        QgsApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let finished() and the queued signals arrive
        QgsApplication.processEvents()


def fake_install(env_dir, variant=None, reporter=None):
    reporter.log(f"$ python -m venv --system-site-packages {env_dir}")
    reporter.progress(60, 100)
    reporter.log("Successfully installed torch-2.13.0")
    return {"python": "/fake/venv/bin/python", "selfcheck": {"line": "torch 2.13.0 · CPU only", "problems": []}}


def test_dialog_installs_with_progress_and_log(qgis_app, tmp_path):
    from mmlgnet_qgis.gui.install_dialog import InstallDialog
    from mmlgnet_qgis.worker import session
    dialog = InstallDialog(env_dir=tmp_path / "venv", install=fake_install)
    got = []
    dialog.installed.connect(lambda: got.append(True))
    assert dialog.variant_combo.currentData() in ("cpu", "cuda")
    _wait(dialog.start())
    assert "Successfully installed torch" in dialog.log_view.toPlainText()
    assert dialog.status_label.text() == "Ready: torch 2.13.0 · CPU only" and dialog.progress_bar.value() == 100
    assert got == [True] and session._checks["/fake/venv/bin/python"]["line"] == "torch 2.13.0 · CPU only"
    assert dialog.install_button.isEnabled()


def test_a_failed_install_is_shown_not_raised(qgis_app, tmp_path):
    from mmlgnet_qgis.core.errors import DependencyError
    from mmlgnet_qgis.gui.install_dialog import InstallDialog

    def broken(env_dir, variant=None, reporter=None):
        reporter.log("ERROR: No matching distribution found for torch==2.13.0")
        raise DependencyError("installing torch (cpu) failed:\n  ERROR: No matching distribution found")
    dialog = InstallDialog(env_dir=tmp_path / "venv", install=broken)
    _wait(dialog.start())
    assert dialog.status_label.text().startswith("Failed: installing torch (cpu) failed")
    assert "No matching distribution" in dialog.log_view.toPlainText()


def test_dock_shows_the_environment_and_offers_install(qgis_app, monkeypatch, tmp_path):
    from mmlgnet_qgis.gui.dock_controller import PromptDockController
    from mmlgnet_qgis.worker import environment
    monkeypatch.delenv(environment.ENV_VAR, raising=False)
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    monkeypatch.setattr(environment, "managed_env_dir", lambda base=None: tmp_path / "venv")
    controller = PromptDockController(None)
    try:
        row = controller.environment_row
        assert row.label.text() == "Environment: not set up: press Install / repair"
        assert "Install / repair dependencies" in row.label.toolTip()
        assert controller.install_action.text().startswith("Install / repair dependencies")
        dialog = controller.show_install_dialog()
        assert dialog.isVisible() and str(tmp_path / "venv") in dialog.env_dir.as_posix()
        dialog.close()
    finally:
        controller.unload()
