"""The session's worker: the dock's encodes share one process (encoder loaded once, self-check on its
first start); a Processing run's log starts with the environment and the worker's torch and device."""
import sys

from worker_support import PROMPTS, Recorder

from mmlgnet_qgis.app.requests import EncodeRequest
from mmlgnet_qgis.worker import environment, session


def test_dock_encodes_share_one_worker_and_its_self_check(monkeypatch):
    monkeypatch.setenv(environment.ENV_VAR, sys.executable)
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    session._checks.pop(sys.executable, None)
    assert session.environment_status() == ("not checked yet", f"{sys.executable} from MMLGNET_PYTHON")
    try:
        a = session.encode_in_dock_worker(EncodeRequest(prompts=PROMPTS))
        pid = session.dock_worker().pid
        b = session.encode_in_dock_worker(EncodeRequest(prompts=PROMPTS))
        assert session.dock_worker().pid == pid and a.embeddings == b.embeddings
        line = session.environment_line()
        assert line.startswith("torch ") and sys.executable in line
    finally:
        worker = session.dock_worker()
        session.shutdown()
    assert not worker.alive


def test_processing_log_starts_with_the_environment_and_the_workers_torch(monkeypatch):
    monkeypatch.setenv(environment.ENV_VAR, sys.executable)
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    rec = Recorder()
    session.run_for_processing(EncodeRequest(prompts=PROMPTS), rec)
    logs = [e[1] for e in rec.of("log")]
    assert logs[0].startswith("MMLGNet environment: ")
    assert logs[1].startswith("MMLGNet worker: torch ") and f"({sys.executable})" in logs[1]


def test_not_set_up_is_said_without_starting_anything(monkeypatch, tmp_path):
    monkeypatch.delenv(environment.ENV_VAR, raising=False)
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    monkeypatch.setattr(environment, "managed_env_dir", lambda base=None: tmp_path / "venv")
    assert session.environment_line().startswith("not set up: ") and "Install / repair" in session.environment_line()
