"""Build the installable QGIS plugin zip: dist/mmlgnet_qgis.zip holding one folder mmlgnet_qgis/.

Inside the folder: the Python package (with metadata.txt), resources/ (icon, icons, ready prompt
sets, example graphical model: looked up inside the plugin folder first, see
core.resources.resources_dir), requirements.txt (the install command the algorithms show points
at it), LICENSE and README. No __pycache__, no hidden or partial files, no screenshots (the plugin
never shows them; metadata's homepage points at the README that does). The built zip must pass
scripts/repository_checks.py (plugins.qgis.org's upload checks). Usage: python scripts/package.py --out dist
"""
from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from repository_checks import check_zip  # noqa: E402
PLUGIN = "mmlgnet_qgis"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", "screenshots"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}
REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                     "repository", "tracker", "hasProcessingProvider", "tags", "icon", "experimental")


def wanted(path: Path) -> bool:
    parts = path.parts
    return (not any(p in SKIP_DIRS or p.startswith(".") for p in parts)
            and path.suffix not in SKIP_SUFFIXES and ".partial" not in path.name)


def files_to_pack() -> list[tuple[Path, str]]:
    """(source file, name inside the zip), sorted for a reproducible archive."""
    out = []
    pkg = ROOT / PLUGIN
    for f in sorted(pkg.rglob("*")):
        rel = f.relative_to(pkg)
        if f.is_file() and wanted(rel):
            out.append((f, f"{PLUGIN}/{rel.as_posix()}"))
    res = ROOT / "resources"
    for f in sorted(res.rglob("*")):
        rel = f.relative_to(res)
        if f.is_file() and wanted(rel):
            out.append((f, f"{PLUGIN}/resources/{rel.as_posix()}"))
    for name in ("requirements.txt", "LICENSE", "README.md"):  # all three must exist
        out.append((ROOT / name, f"{PLUGIN}/{name}"))
    return out


def check_metadata() -> str:
    """metadata.txt has every field the plugin repository needs, its version = __version__,
    and its icon exists (in resources/, packed beside it)."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # case-sensitive keys, as the plugin repository reads them
    cp.read(ROOT / PLUGIN / "metadata.txt", encoding="utf-8")
    meta = cp["general"] if cp.has_section("general") else {}
    missing = [k for k in REQUIRED_METADATA if not meta.get(k)]
    if missing:
        raise SystemExit(f"metadata.txt lacks {', '.join(missing)}")
    init = (ROOT / PLUGIN / "__init__.py").read_text(encoding="utf-8")
    version = re.search(r'__version__\s*=\s*"([^"]+)"', init).group(1)
    if meta["version"] != version:
        raise SystemExit(f"metadata.txt version {meta['version']} != {PLUGIN}.__version__ {version}")
    icon = meta["icon"]
    if not (ROOT / icon).is_file():  # icon=resources/icon.svg -> repo resources/, zip <plugin>/resources/
        raise SystemExit(f"metadata.txt icon {icon} not found at {ROOT / icon}")
    return version


def build(out_dir: Path) -> Path:
    version = check_metadata()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PLUGIN}.zip"
    tmp = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for src, arc in files_to_pack():
            zf.write(src, arc)
    problems = check_zip(tmp)
    if problems:
        tmp.unlink()
        raise SystemExit("the plugin repository would refuse the zip:\n  " + "\n  ".join(problems))
    tmp.replace(target)
    print(f"{target} ({PLUGIN} {version}, {target.stat().st_size // 1024} KiB)")
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dist", help="output folder (default dist)")
    args = ap.parse_args(argv)
    build(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
