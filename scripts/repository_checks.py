"""The checks plugins.qgis.org runs on an uploaded zip (its plugins/validator.py, re-stated here:
that service cannot be reached from a build machine), plus this project's own publication rules.

check_zip(path) returns a list of problems, empty when the zip would be accepted.
Not checked: whether tracker / repository / homepage answer over the network.
Usage: python scripts/repository_checks.py dist/mmlgnet_qgis.zip
"""
from __future__ import annotations

import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_BYTES = 25_000_000  # the repository's upload limit (25 MB, decimal)
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
            "tracker", "repository")
URL_KEYS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
FORBIDDEN_DIRS = ("__MACOSX", ".git", "__pycache__")
# Our rules: values a template or an unfinished metadata.txt leaves behind.
PLACEHOLDERS = re.compile(r"noreply|example\.(com|org)|your[ _-]?name|\btodo\b|fixme|changeme|xxx",
                          re.IGNORECASE)
HTML_TAG = re.compile(r"<[A-Za-z/!][^>]*>")  # the Plugin Manager renders about as rich text


def read_metadata(zf: zipfile.ZipFile, package: str) -> dict[str, str]:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # the repository reads keys case-sensitively: qgisminimumversion is missing
    cp.read_string(zf.read(f"{package}/metadata.txt").decode("utf-8"))
    return dict(cp["general"]) if cp.has_section("general") else {}


def repository_problems(path: Path) -> tuple[list[str], str | None, dict]:
    """What plugins.qgis.org refuses. Returns (problems, package folder, metadata)."""
    problems: list[str] = []
    if path.stat().st_size > MAX_BYTES:
        problems.append(f"zip is {path.stat().st_size} bytes, over the {MAX_BYTES} limit")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return [f"{path} is not a zip"], None, {}
    with zf:
        names = zf.namelist()
        for n in names:
            if ".." in n or n.startswith("/"):
                problems.append(f"path information in {n}")
            if ".pyc" in n:
                problems.append(f".pyc file {n}")
            if any(d in n.split("/") for d in FORBIDDEN_DIRS):
                problems.append(f"forbidden folder in {n}")
        bad = zf.testzip()
        if bad:
            problems.append(f"bad zip entry (CRC) {bad}")
        tops = {n.split("/")[0] for n in names}
        if not names or "/" not in names[0]:
            return problems + ["no plugin folder inside the zip"], None, {}
        package = names[0].split("/")[0]
        if len(tops) > 1:
            problems.append(f"several top-level folders: {sorted(tops)}")
        if not re.match(r"^[a-z_][a-z0-9_]*$", package) or not re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", package):
            problems.append(f"top-level folder {package!r} is not a PEP 8 package name")
        for need in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{package}/{need}" not in names:
                problems.append(f"Cannot find {need} in the plugin package")
        if f"{package}/metadata.txt" not in names:
            return problems, package, {}
        try:
            meta = read_metadata(zf, package)
        except (UnicodeDecodeError, configparser.Error) as exc:
            return problems + [f"metadata.txt does not parse: {exc}"], package, {}
        if not meta:
            return problems + ["metadata.txt has no [general] section"], package, {}
        missing = [k for k in REQUIRED if not meta.get(k, "").strip()]
        if missing:
            problems.append(f"metadata.txt lacks {', '.join(missing)}")
        for key, placeholder in URL_KEYS.items():
            url = meta.get(key)
            if url is None and key == "homepage":
                continue
            parsed = urlparse(url or "")
            if url == placeholder or not (parsed.scheme and parsed.netloc):
                problems.append(f"{key} is not a valid URL: {url!r}")
        if "/" in meta.get("author", ""):
            problems.append("author contains a slash")
    return problems, package, meta


def project_problems(path: Path, package: str, meta: dict) -> list[str]:
    """This project's publication rules on top of the repository's."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        license_text = zf.read(f"{package}/LICENSE").decode("utf-8") if f"{package}/LICENSE" in names else ""
        requirements = (zf.read(f"{package}/requirements.txt").decode("utf-8")
                        if f"{package}/requirements.txt" in names else "")
    if "GNU GENERAL PUBLIC LICENSE" not in license_text or "any later version" not in license_text:
        problems.append("LICENSE is not the GPL (version 2 or later), QGIS's licence")
    for key in ("name", "description", "about", "author", "email", "changelog"):
        if PLACEHOLDERS.search(meta.get(key, "")) or not meta.get(key, "").strip():
            problems.append(f"metadata {key} is empty or a placeholder: {meta.get(key, '')[:80]!r}")
    for key in ("about", "description", "changelog"):
        tag = HTML_TAG.search(meta.get(key, ""))
        if tag:
            problems.append(f"metadata {key} holds {tag.group(0)!r}, which QGIS renders as an HTML tag")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", meta.get("email", "")):
        problems.append(f"email {meta.get('email')!r} is not an address")
    if meta.get("version", "") not in meta.get("changelog", ""):
        problems.append("changelog has no entry for this version")
    if f"{package}/{meta.get('icon', '')}" not in names:
        problems.append(f"icon {meta.get('icon')!r} is not in the zip")
    pip_names = re.findall(r"^([A-Za-z0-9_.-]+)", requirements, re.MULTILINE)
    unnamed = [n for n in pip_names if n.lower() not in meta.get("about", "").lower()]
    if unnamed:
        problems.append(f"about does not name the external dependencies {unnamed}")
    low, high = meta.get("qgisMinimumVersion", "0"), meta.get("qgisMaximumVersion")
    if high and _version(high) < _version(low):
        problems.append(f"qgisMaximumVersion {high} is below qgisMinimumVersion {low}")
    packed_images = [n for n in names if "/screenshots/" in n]
    if packed_images:
        problems.append(f"screenshots packed (reference them from the metadata instead): {packed_images}")
    return problems


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def check_zip(path: str | Path) -> list[str]:
    path = Path(path)
    problems, package, meta = repository_problems(path)
    if package and meta:
        problems += project_problems(path, package, meta)
    return problems


if __name__ == "__main__":
    found = check_zip(sys.argv[1])
    print("\n".join(found) or "the plugin repository's checks pass")
    sys.exit(1 if found else 0)
