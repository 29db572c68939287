"""Install / repair dependencies: the managed venv for the worker, checked before it is used.

Steps: find a real Python on the system (never QGIS's binary), `python -m venv
--system-site-packages` (so GDAL's bindings from the system packages stay visible), pip install
torch as a CPU or CUDA build, then the plugin's pinned requirements.txt, then the worker's
self-check. The venv is usable only once `mmlgnet-env.json` (written last, after the check
passed) records the requirements' hash; nothing installs at start-up, and a changed pin leads
to a re-check (`recheck`), never to a silent reinstall. Standard library only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core.errors import Cancelled, DependencyError
from ..core.reporter import NullReporter
from . import environment

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_INDEX_ENV = "MMLGNET_TORCH_INDEX"     # overrides the variant's index ("default": pip's own)
BASE_PYTHON_ENV = "MMLGNET_BASE_PYTHON"     # the interpreter that creates the venv
MIN_VERSION = (3, 9)
TORCH_PACKAGES = ("torch", "torchvision")   # pinned as a pair: torchvision is linked against one torch build


def gpu_present() -> bool:
    """Returns: True when `nvidia-smi -L` lists a GPU (then the CUDA build is the default)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def default_variant() -> str:
    """Returns: "cuda" when a GPU is present, else "cpu"."""
    return "cuda" if gpu_present() else "cpu"


def torch_index_args(variant: str) -> list[list[str]]:
    """pip index arguments for torch, in the order to try.

    CPU: PyTorch's CPU index (a 200 MB build instead of 2.5 GB of CUDA libraries), falling back
    to pip's default index when that is unreachable. CUDA: pip's default index (PyPI's Linux
    wheels are CUDA builds). MMLGNET_TORCH_INDEX replaces the first choice ("default": pip's).

    Args:
        variant: "cpu" or "cuda".

    Returns:
        Lists of pip arguments, first choice first.
    """
    if variant not in ("cpu", "cuda"):
        raise DependencyError(f"torch build must be 'cpu' or 'cuda', got {variant!r}")
    override = os.environ.get(TORCH_INDEX_ENV, "").strip()
    if override:
        return [[] if override == "default" else ["--index-url", override]]
    if variant == "cpu":  # short timeouts: a firewalled index must not hang the install for minutes
        return [["--index-url", CPU_INDEX, "--timeout", "20", "--retries", "1"], []]
    return [[]]


def _python_version(python: str) -> tuple[int, int] | None:
    """(major, minor) of an interpreter that has venv and ensurepip, else None."""
    try:
        out = subprocess.run([python, "-c", "import sys, venv, ensurepip; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    major, minor = (int(v) for v in out.stdout.split())
    return major, minor


def base_python_candidates() -> list[str]:
    """Interpreters that could create the venv, best first.

    QGIS's own Python's installation first (same version as QGIS, and on Linux the one whose
    system packages hold GDAL's bindings), then python3.x on PATH. Never the qgis binary.

    Returns:
        Paths, without duplicates.
    """
    found = []
    if os.environ.get(BASE_PYTHON_ENV):
        found.append(os.environ[BASE_PYTHON_ENV])
    major, minor = sys.version_info[:2]
    prefix = Path(sys.base_prefix)
    found += [str(prefix / "bin" / f"python{major}.{minor}"), str(prefix / "bin" / f"python{major}"),
              str(prefix / "python.exe"), str(prefix / "bin" / "python3")]
    for name in (f"python{major}.{minor}", "python3.12", "python3.11", "python3.10", "python3", "python"):
        path = shutil.which(name)
        if path:
            found.append(path)
    seen, out = set(), []
    for path in found:
        real = os.path.realpath(path)
        if os.path.isfile(path) and real not in seen and not environment._is_qgis(path):
            seen.add(real)
            out.append(path)
    return out


def find_base_python() -> str:
    """Returns: the first candidate with Python >= 3.9, venv and ensurepip.

    Raises:
        DependencyError: none found; says what to install.
    """
    for python in base_python_candidates():
        version = _python_version(python)
        if version and version >= MIN_VERSION:
            return python
    raise DependencyError("no Python 3.9+ with the venv module was found to create MMLGNet's environment. "
                          "On Debian/Ubuntu: sudo apt install python3-venv; or set MMLGNET_BASE_PYTHON, or "
                          "set 'Python environment for MMLGNet' to an interpreter that has torch.")


class _Steps:
    """Runs commands with their output streamed to the reporter as log lines; honours cancel."""

    def __init__(self, reporter, env: dict) -> None:
        self.reporter, self.env = reporter, env
        self.tail: list[str] = []
        self.seconds: dict = {}  # step -> seconds, for the record
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        """Record the time since the previous lap under `step`."""
        now = time.perf_counter()
        self.seconds[step] = round(now - self._last, 1)
        self._last = now

    def run(self, args: list[str], what: str) -> bool:
        """Run; True on exit code 0. The last output lines are kept for the error message."""
        self.reporter.log("$ " + " ".join(args))
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                text=True, errors="replace", creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        self.tail = []
        for line in proc.stdout:
            line = line.rstrip()
            if line and not line.startswith("WARNING: Location"):
                self.reporter.log(line)
                self.tail = (self.tail + [line])[-15:]
            if self.reporter.is_cancelled():
                proc.terminate()
                proc.wait()
                raise Cancelled(f"cancelled while {what}")
        return proc.wait() == 0

    def fail(self, what: str) -> DependencyError:
        """The error for a failed step: pip's ERROR lines, else its last lines."""
        errors = [line for line in self.tail if line.startswith("ERROR")]
        return DependencyError(f"{what} failed:\n  " + "\n  ".join(errors or self.tail[-10:]))


def _pip(python: str) -> list[str]:
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]


def install(env_dir: str | os.PathLike | None = None, variant: str | None = None, reporter=None,
            base_python: str | None = None, requirements: str | os.PathLike | None = None) -> dict:
    """Create (or repair) the managed venv, install the pinned packages and run the self-check.

    Args:
        env_dir: the venv folder (default: environment.managed_env_dir()).
        variant: "cpu" or "cuda" torch (default: default_variant()).
        reporter: progress (percent) and every command's output as log lines; cancel.
        base_python: the interpreter that creates the venv (default: find_base_python()).
        requirements: the pinned requirements file (default: the plugin's).

    Returns:
        The record written to mmlgnet-env.json: python, variant, requirements hash, self-check.

    Raises:
        DependencyError: a step failed (the message holds pip's last lines) or the self-check found problems.
        Cancelled: the user cancelled (the venv stays unusable until a later install completes).
    """
    reporter = reporter or NullReporter()
    env_dir = Path(env_dir) if env_dir else environment.managed_env_dir()
    requirements = Path(requirements) if requirements else environment.requirements_file()
    variant = variant or default_variant()
    started = time.perf_counter()
    (env_dir / environment.MARKER).unlink(missing_ok=True)  # unusable until the check passes again
    steps = _Steps(reporter, {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_NO_INPUT": "1"})

    python = str(environment.venv_python(env_dir))
    if not (os.path.isfile(python) and _python_version(python)):
        base_python = base_python or find_base_python()
        if env_dir.exists():
            reporter.log(f"{env_dir} is broken: creating it again")
            shutil.rmtree(env_dir)
        env_dir.parent.mkdir(parents=True, exist_ok=True)
        reporter.log(f"creating {env_dir} with {base_python}")
        if not steps.run([base_python, "-m", "venv", "--system-site-packages", str(env_dir)], "creating the venv"):
            raise steps.fail(f"creating the environment with {base_python}")
    steps.lap("venv")
    reporter.progress(10, 100)

    pins = _pins(requirements)
    torch_reqs = [pins.get(name, name) for name in TORCH_PACKAGES]
    for i, index in enumerate(torch_index_args(variant)):
        if i:
            reporter.warning(f"the {variant} torch index was unreachable or failed; trying pip's default index")
        if steps.run(_pip(python) + index + torch_reqs, f"installing torch ({variant})"):
            torch_index = index[1] if index else "pip's default index"
            break
    else:
        raise steps.fail(f"installing torch ({variant})")
    steps.lap("torch")
    reporter.progress(60, 100)

    if not steps.run(_pip(python) + ["-r", str(requirements)], "installing the pinned requirements"):
        raise steps.fail(f"installing {requirements.name}")
    steps.lap("requirements")
    reporter.progress(85, 100)

    check = run_selfcheck(python, reporter)
    steps.lap("selfcheck")
    if check.get("problems"):
        raise DependencyError(f"the environment was installed but its self-check failed: {'; '.join(check['problems'])}")
    record = {"python": python, "variant": variant, "torch_index": torch_index, "requirements": str(requirements),
              "requirements_sha256": environment.requirements_hash(requirements), "selfcheck": check,
              "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.perf_counter() - started, 1),
              "step_seconds": steps.seconds}
    _write_marker(env_dir, record)
    reporter.progress(100, 100)
    reporter.log(f"MMLGNet environment ready in {record['seconds']:.0f} s: {check['line']}")
    return record


def run_selfcheck(python: str, reporter=None) -> dict:
    """Run the self-check in a worker started with `python`.

    Args:
        python: the interpreter.
        reporter: log lines of the check.

    Returns:
        The self-check dict; a worker that cannot even start gives {"problems": [why], "line": ...}.
    """
    from ..core.errors import WorkerError
    from .client import WorkerProcess
    try:
        with WorkerProcess(python, env={"PYTHONNOUSERSITE": "1"}) as worker:
            return worker.selfcheck(reporter)
    except WorkerError as exc:
        first = str(exc).splitlines()[0]
        return {"python": python, "torch": None, "problems": [str(exc)], "line": f"worker does not start: {first}"}


def _pins(requirements: Path) -> dict:
    """{name: 'name==version'} of the exact pins in a requirements file."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            pins[line.split("==", 1)[0].strip().lower()] = line
    return pins


def _write_marker(env_dir: Path, record: dict) -> None:
    tmp = env_dir / (environment.MARKER + ".partial")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, env_dir / environment.MARKER)


_PROBE = """
import json, sys
from importlib.metadata import version, PackageNotFoundError
out = []
for name, want in json.loads(sys.argv[1]).items():
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want:
        out.append([name, have, want])
print(json.dumps(out))
"""


def recheck(env_dir: str | os.PathLike) -> dict:
    """The pins changed since the venv was installed: compare installed versions, never install.

    Args:
        env_dir: the managed venv.

    Returns:
        The updated record (the new hash) when every exact pin is installed.

    Raises:
        DependencyError: a pinned package is missing or at another version; says to repair.
    """
    env_dir = Path(env_dir)
    record = environment.read_marker(env_dir) or {}
    requirements = environment.requirements_file()
    wanted = {name: pin.split("==", 1)[1] for name, pin in _pins(requirements).items()}
    python = str(environment.venv_python(env_dir))
    out = subprocess.run([python, "-c", _PROBE, json.dumps(wanted)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONNOUSERSITE": "1"})
    if out.returncode != 0:
        raise DependencyError(f"cannot check MMLGNet's environment {env_dir}: {out.stderr.strip()[-300:]}. "
                              f"{environment.INSTALL_HINT}")
    wrong = json.loads(out.stdout)
    if wrong:
        listed = ", ".join(f"{n} {have or 'missing'} (needs {want})" for n, have, want in wrong)
        raise DependencyError(f"the plugin's pinned packages changed since its environment was installed: "
                              f"{listed}. Run Plugins > MMLGNet > Install / repair dependencies.")
    record["requirements_sha256"] = environment.requirements_hash(requirements)
    _write_marker(env_dir, record)
    return record
