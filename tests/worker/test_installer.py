"""Install / repair dependencies for real: a managed venv created from scratch with the system's
Python and pip (pip reuses its cache / local wheels, ~1.5 min), its self-check, repair after a
failed install. The heaviest test of the worker suite; it runs in CI like the others."""
import os

import pytest
from worker_support import PROMPTS, Recorder

from mmlgnet_qgis.app.requests import EncodeRequest
from mmlgnet_qgis.core.errors import DependencyError
from mmlgnet_qgis.worker import environment, installer
from mmlgnet_qgis.worker.client import WorkerProcess


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    """(env folder, install record, reporter) of one install from scratch."""
    mp = pytest.MonkeyPatch()
    # as the Makefile: this machine's pip config adds a local CPU-only torch wheel, which beside
    # PyPI's torchvision (built for PyPI's torch) breaks `import torchvision`
    mp.setenv("PIP_FIND_LINKS", "/nonexistent")
    mp.setenv("OMP_NUM_THREADS", "1")
    env_dir = tmp_path_factory.mktemp("profile") / "mmlgnet" / "venv"
    rec = Recorder()
    try:
        record = installer.install(env_dir, reporter=rec)
        yield env_dir, record, rec
    finally:
        mp.undo()


def test_install_from_scratch_passes_the_self_check(managed, monkeypatch):
    env_dir, record, rec = managed
    check = record["selfcheck"]
    assert check["problems"] == [] and check["forward"] and check["text_encoder"].startswith("all-MiniLM")
    assert record["variant"] == installer.default_variant()
    assert record["requirements_sha256"] == environment.requirements_hash()
    assert rec.of("progress")[-1][1] == 100 and any("ready in" in e[1] for e in rec.of("log"))
    assert any(e[1].startswith("$ ") and " venv --system-site-packages " in e[1] for e in rec.of("log"))
    print(f"install from scratch: {record['seconds']} s {record['step_seconds']}, {check['line']}")
    # the worker now finds it by itself and runs with the venv's own packages only
    monkeypatch.delenv(environment.ENV_VAR, raising=False)
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    monkeypatch.setattr(environment, "managed_env_dir", lambda base=None: env_dir)
    assert environment.choose_python() == (str(environment.venv_python(env_dir)), "managed")
    with WorkerProcess() as worker:
        assert worker.run(EncodeRequest(prompts=PROMPTS)).names == ["Apple trees", "Buildings", "Roads"]
        assert worker.python == str(environment.venv_python(env_dir))


def test_a_failed_repair_leaves_the_env_unusable_until_the_next_one_passes(managed, tmp_path, monkeypatch):
    env_dir, _, _ = managed
    monkeypatch.setenv("PIP_FIND_LINKS", "/nonexistent")
    monkeypatch.delenv(environment.ENV_VAR, raising=False)  # conftest points workers at the test venv
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    monkeypatch.delenv(environment.ENV_VAR, raising=False)  # tests/conftest.py sets it for the others
    monkeypatch.setattr(environment, "setting_python", lambda: None)
    bad = tmp_path / "requirements.txt"
    bad.write_text((environment.requirements_file().read_text() + "\nmmlgnet-no-such-package==0.0.1\n"))
    with pytest.raises(DependencyError, match="(?s)installing requirements.txt failed:.*mmlgnet-no-such-package"):
        installer.install(env_dir, requirements=bad, reporter=Recorder())
    assert environment.read_marker(env_dir) is None
    with pytest.raises(DependencyError, match="not finished or failed its check"):
        environment.choose_python(env_dir)
    record = installer.install(env_dir, reporter=Recorder())  # repair: everything is already there
    assert record["selfcheck"]["problems"] == [] and environment.choose_python(env_dir)[1] == "managed"
    print(f"repair of an installed env: {record['seconds']} s {record['step_seconds']}")
    assert os.path.isfile(environment.venv_python(env_dir))
