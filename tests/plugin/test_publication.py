"""Publication on plugins.qgis.org: the built zip passes the repository's upload checks
(scripts/repository_checks.py), each check catches the fault it is for, the About box renders as
written, and the dependencies' licences go with the GPL."""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from repository_checks import check_zip, read_metadata  # noqa: E402
from qgis_fixtures import qgis_app  # noqa: E402,F401


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "mmlgnet_qgis.zip"


def test_built_zip_passes_the_repository_checks(built_zip):
    assert check_zip(built_zip) == []
    assert built_zip.stat().st_size < 25_000_000
    with zipfile.ZipFile(built_zip) as zf:
        names = zf.namelist()
        meta = read_metadata(zf, "mmlgnet_qgis")
    assert "mmlgnet_qgis/LICENSE" in names
    assert not [n for n in names if n.endswith((".png", ".pyc")) or "__pycache__" in n]
    assert meta["qgisMinimumVersion"] == "3.22" and meta["author"] == "mmlgnet-qgis developers"
    assert meta["repository"] in meta["tracker"] and meta["repository"] in meta["homepage"]


def _rezip(src: Path, dst: Path, edit_meta=None, drop=(), add=()) -> Path:
    """A copy of the built zip with one fault put in."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename.endswith("metadata.txt") and edit_meta:
                data = edit_meta(data.decode()).encode()
            zout.writestr(item, data)
        for name, data in add:
            zout.writestr(name, data)
    return dst


FAULTS = {  # name: (how to put it in, a word the problem must say)
    "no_license": (dict(drop=("mmlgnet_qgis/LICENSE",)), "LICENSE"),
    "pyc": (dict(add=(("mmlgnet_qgis/core/__pycache__/x.cpython-311.pyc", b"x"),)), ".pyc"),
    "screenshot": (dict(add=(("mmlgnet_qgis/resources/screenshots/a.png", b"x"),)), "screenshots"),
    "placeholder_email": (dict(edit_meta=lambda m: re.sub(r"email=.*", "email=x@users.noreply.github.com", m)),
                          "email"),
    "html_in_about": (dict(edit_meta=lambda m: m.replace("the plugin's requirements.txt", "<plugin folder>/requirements.txt")),
                      "HTML tag"),
    "lowercase_key": (dict(edit_meta=lambda m: m.replace("qgisMinimumVersion", "qgisminimumversion")),
                      "qgisMinimumVersion"),
    "no_tracker": (dict(edit_meta=lambda m: re.sub(r"tracker=.*\n", "", m)), "tracker"),
    "placeholder_repo": (dict(edit_meta=lambda m: re.sub(r"repository=.*", "repository=http://repo", m)),
                         "repository"),
    "dependency_unnamed": (dict(edit_meta=lambda m: m.replace("laspy and lazrs", "more")), "laspy"),
    "no_changelog_entry": (dict(edit_meta=lambda m: re.sub(r"version=.*", "version=9.9.9", m)), "changelog"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_check_catches_its_fault(built_zip, tmp_path, fault):
    how, word = FAULTS[fault]
    problems = check_zip(_rezip(built_zip, tmp_path / "bad.zip", **how))
    assert any(word in p for p in problems), problems


def test_oversized_zip_is_refused(built_zip, tmp_path):
    import os
    blob = os.urandom(25_100_000)  # random bytes do not compress
    problems = check_zip(_rezip(built_zip, tmp_path / "big.zip", add=(("mmlgnet_qgis/big.bin", blob),)))
    assert any("limit" in p for p in problems)


def test_about_box_renders_as_written(qgis_app):
    """The Plugin Manager shows about as rich text: what the user reads must be what was written."""
    from qgis.PyQt.QtGui import QTextDocument
    with zipfile.ZipFile(_zip_of_metadata()) as zf:
        about = read_metadata(zf, "mmlgnet_qgis")["about"]
    doc = QTextDocument()
    doc.setHtml(about)
    assert " ".join(doc.toPlainText().split()) == " ".join(about.split())
    assert "Install / repair dependencies" in doc.toPlainText() and "requirements.txt" in doc.toPlainText()


def _zip_of_metadata() -> Path:
    """metadata.txt alone in a zip, so read_metadata parses it exactly as for the package."""
    import tempfile
    path = Path(tempfile.mkdtemp()) / "m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(ROOT / "mmlgnet_qgis" / "metadata.txt", "mmlgnet_qgis/metadata.txt")
    return path


# Licences that may be combined with GPL-2.0-or-later code (Apache-2.0 through GPL-3).
GPL_COMPATIBLE = ("MIT", "BSD", "Apache", "PSF", "Python Software Foundation", "BSL-1.0", "ISC",
                  "License agreement for matplotlib")


def test_dependencies_licences_go_with_the_gpl():
    names = re.findall(r"^([A-Za-z0-9_.-]+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert "torch" in names and "laspy" in names
    for name in names:
        try:
            meta = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} from requirements.txt is not installed")
        text = " ".join([meta.get("License-Expression") or "", meta.get("License") or "",
                         *[c for c in meta.get_all("Classifier") or [] if c.startswith("License")]])
        assert any(k in text for k in GPL_COMPATIBLE), f"{name}: {text[:200]!r}"
        assert "AGPL" not in text and "GPL-3.0-only" not in text
        assert name in (ROOT / "LICENSE").read_text(), f"LICENSE does not list {name}'s licence"
