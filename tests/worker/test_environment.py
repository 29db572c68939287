"""Which interpreter runs the worker: MMLGNET_PYTHON, the plugin setting, the managed venv, else a clear error."""
import json
import os
import sys

import pytest

from mmlgnet_qgis.core.errors import DependencyError
from mmlgnet_qgis.worker import environment, installer


@pytest.fixture(autouse=True)
def _no_user_choice(monkeypatch):
    monkeypatch.delenv(environment.ENV_VAR, raising=False)
    monkeypatch.setattr(environment, "setting_python", lambda: None)


def _fake_env(folder, problems=(), sha=None):
    """A managed-venv folder whose bin/python runs this interpreter, with the installer's record."""
    python = environment.venv_python(folder)
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    record = {"requirements_sha256": sha or environment.requirements_hash(), "problems": list(problems),
              "selfcheck": {"line": "torch 2.13.0 · CPU only"}}
    (folder / environment.MARKER).write_text(json.dumps(record))
    return str(python)


def test_environment_variable_comes_first(monkeypatch, tmp_path):
    monkeypatch.setenv(environment.ENV_VAR, sys.executable)
    monkeypatch.setattr(environment, "setting_python", lambda: "/somewhere/else/python")
    assert environment.choose_python(tmp_path) == (sys.executable, "MMLGNET_PYTHON")
    assert environment.python_env("MMLGNET_PYTHON") == {}


def test_the_setting_comes_before_the_managed_env(monkeypatch, tmp_path):
    _fake_env(tmp_path / "venv")
    monkeypatch.setattr(environment, "setting_python", lambda: sys.executable)
    assert environment.choose_python(tmp_path / "venv") == (sys.executable, "setting")


def test_missing_or_qgis_interpreters_are_refused_with_the_way_out(monkeypatch, tmp_path):
    monkeypatch.setenv(environment.ENV_VAR, str(tmp_path / "python-gone"))
    with pytest.raises(DependencyError, match="MMLGNET_PYTHON names .*does not exist.*Install / repair"):
        environment.choose_python(tmp_path)
    qgis = tmp_path / "qgis"
    qgis.write_text("")
    monkeypatch.setenv(environment.ENV_VAR, str(qgis))
    with pytest.raises(DependencyError, match="is QGIS itself"):
        environment.choose_python(tmp_path)


def test_nothing_installed_says_how_to_install(tmp_path):
    with pytest.raises(DependencyError, match="does not exist .*Install / repair dependencies"):
        environment.choose_python(tmp_path / "venv")


def test_managed_env_is_used_only_after_its_check_passed(tmp_path):
    python = _fake_env(tmp_path / "venv")
    assert environment.choose_python(tmp_path / "venv") == (python, "managed")
    assert environment.python_env("managed") == {"PYTHONNOUSERSITE": "1"}
    _fake_env(tmp_path / "bad", problems=["import torch failed"])
    with pytest.raises(DependencyError, match="not finished or failed its check"):
        environment.choose_python(tmp_path / "bad")
    os.remove(tmp_path / "venv" / environment.MARKER)
    with pytest.raises(DependencyError, match="not finished or failed its check"):
        environment.choose_python(tmp_path / "venv")


def test_changed_pins_are_rechecked_not_reinstalled(monkeypatch, tmp_path):
    env = tmp_path / "venv"
    _fake_env(env, sha="0" * 64)
    # this interpreter has the pinned packages: the record takes the new hash, nothing installs
    monkeypatch.setattr(installer, "_pip", lambda python: pytest.fail("recheck must not install"))
    assert environment.choose_python(env)[1] == "managed"
    assert environment.read_marker(env)["requirements_sha256"] == environment.requirements_hash()
    # a pin this interpreter does not have: repair is asked for, naming the package
    pins = tmp_path / "requirements.txt"
    pins.write_text("torch==9.9.9\nnumpy>=1\n")
    monkeypatch.setattr(environment, "requirements_file", lambda: pins)
    with pytest.raises(DependencyError, match=r"torch 2\.\S+ \(needs 9\.9\.9\).*Install / repair"):
        environment.choose_python(env)


def test_torch_build_choice_changes_the_pip_arguments(monkeypatch):
    monkeypatch.delenv(installer.TORCH_INDEX_ENV, raising=False)
    cpu, cuda = installer.torch_index_args("cpu"), installer.torch_index_args("cuda")
    assert cpu[0][:2] == ["--index-url", installer.CPU_INDEX] and cpu[-1] == []
    assert cuda == [[]]
    monkeypatch.setenv(installer.TORCH_INDEX_ENV, "https://mirror.example/whl")
    assert installer.torch_index_args("cpu") == [["--index-url", "https://mirror.example/whl"]]
    with pytest.raises(DependencyError):
        installer.torch_index_args("rocm")
    assert installer.default_variant() in ("cpu", "cuda")


def test_base_python_is_a_real_interpreter_not_qgis():
    python = installer.find_base_python()
    assert not os.path.basename(python).startswith("qgis")
    assert installer._python_version(python) >= installer.MIN_VERSION
