"""The real QGIS desktop under a virtual X screen (Xvfb; QGIS loads Mesa's GL driver, and with it
libLLVM, as on a user's desktop): the plugin zip's files installed in a fresh profile, torch importable
on QGIS's Python path (as when a user installed it there), the worker's interpreter from
MMLGNET_PYTHON. The dock's Encode, train and classify must work, QGIS must exit normally, and
QGIS's process must never have imported torch. `.ci/run` installs xvfb and Mesa."""
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from worker_support import PROMPTS

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 170


def _missing() -> str | None:
    for exe in ("qgis", "Xvfb"):
        if shutil.which(exe) is None:
            return f"{exe} is not installed (.ci/run installs qgis, xvfb and Mesa)"
    return None


@pytest.fixture
def display():
    """A fresh Xvfb display; stopped afterwards."""
    for number in range(140, 160):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(f"/tmp/.X11-unix/X{number}"):
            break
        time.sleep(0.1)
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def _install_plugin(home: Path) -> None:
    """The plugin zip's files (scripts/package.py's list) in a fresh profile's plugins folder, enabled.

    The files, not the zip: the zip also needs the plugin repository's checks to pass, which
    tests/plugin/test_publication.py tests on its own."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package
    finally:
        sys.path.pop(0)
    profile = home / ".local/share/QGIS/QGIS3/profiles/default"
    (profile / "QGIS").mkdir(parents=True)
    for src, arc in package.files_to_pack():
        target = profile / "python/plugins" / arc
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    (profile / "QGIS/QGIS3.ini").write_text("[PythonPlugins]\nmmlgnet_qgis=true\n[qgis]\nshowTips\\default=false\n"
                                            "checkVersion=false\n")


def _workers_of(out: Path) -> list[int]:
    """Worker processes started by this test's QGIS (found by the variable it passed on)."""
    mark = f"MMLGNET_DESKTOP_OUT={out}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"mmlgnet_qgis.worker" not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_desktop_encode_train_classify_and_exit(display, scene, tmp_path):
    home, out = tmp_path / "home", tmp_path / "out"
    out.mkdir()
    _install_plugin(home)
    (out / "inputs.json").write_text(json.dumps({"hsi": scene["hsi"], "lidar": scene["lidar"],
                                                 "labels": scene["labels"], "prompts": PROMPTS}))
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTHONHOME")}
    env.update(HOME=str(home), DISPLAY=display, XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
               MMLGNET_DESKTOP_OUT=str(out), MMLGNET_PYTHON=sys.executable, OMP_NUM_THREADS="1",
               # torch importable inside QGIS, as for a user who pip-installed it there: it must stay unused
               PYTHONPATH=sysconfig.get_paths()["purelib"])
    (tmp_path / "runtime").mkdir(mode=0o700)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["qgis", "--nologo", "--noversioncheck", "--code",
                             str(Path(__file__).with_name("desktop_script.py"))],
                            env=env, stdout=open(tmp_path / "qgis.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        code = proc.wait(LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = "timeout"
    seconds = time.perf_counter() - t0
    log = (tmp_path / "qgis.log").read_text(errors="replace")[-3000:]
    trace = (out / "faulthandler.txt").read_text(errors="replace")[-3000:] if (out / "faulthandler.txt").exists() else ""
    assert code == 0, f"QGIS ended with {code} after {seconds:.0f} s\n{log}\n{trace}"
    for _ in range(50):  # the dock's worker leaves with QGIS (unload, or the end of its stdin)
        if not _workers_of(out):
            break
        time.sleep(0.1)
    assert not _workers_of(out), "a worker outlived QGIS"
    result = json.loads((out / "result.json").read_text())
    assert result["errors"] == [], "\n".join(result["errors"])
    assert result["llvm_loaded"], "Mesa's libLLVM is not in QGIS's process: the test would prove nothing"
    assert result["heavy_modules_in_qgis"] == [], "QGIS's own process imported torch & co."
    assert result["dock_classes"] == 6 and result["encode_matrix"] == [6, 6]
    assert Path(result["train"]["MODEL"]).is_file() and Path(result["classify"]["OUTPUT"]).is_file()
    assert not [p for p in os.listdir(out) if "partial" in p]
    # the desktop's labels are the command line's
    from osgeo import gdal
    subprocess.run([sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", result["train"]["MODEL"], "--hsi",
                    scene["hsi"], "--lidar", scene["lidar"], "--out", str(tmp_path / "cli.tif"), "--device", "cpu"],
                   check=True, capture_output=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    desktop, cli = gdal.Open(result["classify"]["OUTPUT"]), gdal.Open(str(tmp_path / "cli.tif"))
    assert (desktop.ReadAsArray() == cli.ReadAsArray()).all()
    print(f"desktop: {seconds:.0f} s in all; {result['seconds']}")
