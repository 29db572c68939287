"""Every robustness case (robustness_cases.CASES) through the command line and through
processing.run: a clear error naming the layer, band or value (or the documented behaviour),
no output file or partial file left behind, and no input modified."""
from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import robustness_scene as rs
from qgis_fixtures import run as processing_run, start_qgis
from robustness_cases import CASES

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ["auto", "cpu", "cuda"]
FILE_SIZE_LIMIT = {"train": 4_000, "classify": 32_000}  # bytes: smaller than the outputs, larger than none


@pytest.fixture
def scene(small_scene):
    return small_scene


# -- the two front ends -------------------------------------------------------------------------------
def cli_args(command: str, p: dict) -> list[str]:
    args = [command, "--hsi", p["hsi"], "--lidar", p["lidar"], "--out", p["out"], "--device", p["device"],
            "--threads", "1"]
    if command == "train":
        args += ["--epochs", str(p.get("epochs", 2)), "--patch-size", "7", "--text-encoder", p["text_encoder"],
                 "--prompts", p["prompts"]]
        args += ["--label-vector", p["vector"], "--label-field", p["field"]] if p.get("vector") else \
            ["--train-labels", p["labels"]]
    else:
        args += ["--model", p["model"]]
        for key in ("prompts", "confidence", "tile"):
            if p.get(key):
                args += [f"--{key}", str(p[key])]
    return args


def processing_params(command: str, p: dict) -> dict:
    common = {"HSI": p["hsi"], "LIDAR": p["lidar"], "DEVICE": DEVICES.index(p["device"]), "THREADS": 1}
    if command == "train":
        common.update(MODEL=p["out"], EPOCHS=p.get("epochs", 2), PATCH_SIZE=7, HSI_WIDTH=8, LIDAR_WIDTH=4,
                      FUSION_WIDTH=16, TEXT_ENCODER=p["text_encoder"], PROMPTS=p["prompts"])
        if p.get("vector"):
            common.update(LABELS_VECTOR=p["vector"], LABELS_FIELD=p["field"])
        else:
            common.update(LABELS=p["labels"])
        return common
    common.update(MODEL=p["model"], OUTPUT=p["out"], TILE_SIZE=p.get("tile", 0))
    for key, name in (("prompts", "PROMPTS"), ("confidence", "CONFIDENCE")):
        if p.get(key):
            common[name] = p[key]
    return common


class Feedback:
    """A QgsProcessingFeedback that keeps the log and can cancel at the first progress report."""

    def __new__(cls, cancel_on_progress=False):
        from qgis.core import QgsProcessingFeedback

        class _Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.lines = []
                self.progressChanged.connect(self._progress)

            def _progress(self, value):
                if cancel_on_progress:
                    self.cancel()

            def pushInfo(self, text):  # noqa: N802
                self.lines.append(text)

            def pushWarning(self, text):  # noqa: N802
                self.lines.append(text)

            def reportError(self, text, fatalError=False):  # noqa: N802,N803
                self.lines.append(text)
        return _Feedback()


def run_cli(command, p, capsys):
    from mmlgnet_qgis import cli
    rc = cli.main(cli_args(command, p))
    err = capsys.readouterr().err
    return rc == 0, err, err


def run_processing(command, p, capsys):
    from qgis.core import QgsProcessingException
    start_qgis()
    feedback = Feedback()
    try:
        processing_run(f"mmlgnet:{command}", processing_params(command, p), feedback=feedback)
        return True, "", "\n".join(feedback.lines)
    except QgsProcessingException as exc:
        return False, str(exc), "\n".join(feedback.lines)


def cancel_cli(command, p):
    """SIGTERM once the run reports progress (a killed batch job)."""
    proc = subprocess.Popen([sys.executable, "-m", "mmlgnet_qgis", *cli_args(command, p)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    marker = "epoch" if command == "train" else "tile"
    buffer = ""
    while marker not in buffer:  # progress lines end in \r, not \n: read characters
        ch = proc.stderr.read(1)
        assert ch, f"the run ended before reporting progress: {buffer}"
        buffer += ch
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143


def cancel_processing(command, p):
    from qgis.core import QgsProcessingException
    start_qgis()
    with pytest.raises(QgsProcessingException, match="cancel"):
        processing_run(f"mmlgnet:{command}", processing_params(command, p), feedback=Feedback(True))


# -- conditions ----------------------------------------------------------------------------------------
@contextmanager
def file_size_limit(nbytes):
    """A 'disk' that fills mid-write: writes past nbytes fail with EFBIG (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


@contextmanager
def read_only_folder(folder: Path):
    """Permissions do not stop root, so as root mount a read-only tmpfs there."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("running as root without permission to mount a read-only tmpfs")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def digests(folders) -> dict:
    out = {}
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file() and "read_only" not in path.parts:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def leftovers(p: dict) -> list[str]:
    """Outputs (that are not inputs), their .qml styles and partial files still on disk."""
    inputs = {os.path.realpath(p[k]) for k in ("hsi", "lidar", "labels", "model") if p.get(k)}
    found = []
    for out in (p.get("out"), p.get("confidence")):
        if not out:
            continue
        for path in (Path(out), Path(out).with_suffix(".qml")):
            if path.exists() and os.path.realpath(path) not in inputs:
                found.append(str(path))
        if Path(out).parent.is_dir():
            found += [str(f) for f in Path(out).parent.iterdir() if ".partial" in f.name]
    return sorted(set(found))


@pytest.mark.parametrize("front", ["cli", "processing"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, front, scene, tmp_path, capsys):
    if "cuda" in case.id and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if "clip" in case.id:
        pytest.importorskip("open_clip")
    (tmp_path / "out").mkdir()
    p = case.setup(scene, tmp_path)
    before = digests([Path(scene["hsi"]).parent, tmp_path])
    if case.mode == "cancel":
        (cancel_cli if front == "cli" else cancel_processing)(case.command, p)
        ok, message, log = False, "cancelled", ""
    else:
        runner = run_cli if front == "cli" else run_processing
        if case.mode == "disk_full":
            with file_size_limit(FILE_SIZE_LIMIT[case.command]):
                ok, message, log = runner(case.command, p, capsys)
        elif case.mode == "read_only":
            with read_only_folder(tmp_path / "read_only"):
                ok, message, log = runner(case.command, p, capsys)
        else:
            ok, message, log = runner(case.command, p, capsys)

    if case.error is None and case.mode != "cancel":
        assert ok, f"expected success, got: {message}"
        if case.log:
            assert re.search(case.log, log), log
        if case.check:
            case.check(p)
        return
    assert not ok
    if case.error:
        assert re.search(case.error, message, re.S), message
        assert "Traceback" not in message
    assert leftovers(p) == [], "a failed run left files behind"
    assert digests([Path(scene["hsi"]).parent, tmp_path]) == before, "an input was modified"
    assert not (tmp_path / "PWNED").exists(), "loading a file ran code from it"


def test_every_case_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"`{c.id}`" not in readme]
    assert not missing, f"README's robustness table lacks {missing}"
