"""QGIS 4 / Qt6 readiness of the plugin's sources: what QGIS's migration script
(scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py, "the Qt6 migration guide") rewrites or warns about
must not be there, so the sources run unchanged on QGIS 3.22 (PyQt5) and QGIS 4 (PyQt6).

Enums are checked against the live QGIS 3.22 bindings: a `Class.Value` whose value is an enum
member must be written `Class.Enum.Value`, and every scoped form written must resolve here (3.22's
sip knows it), so a scoping that only QGIS 4 understands is caught too.
"""
from __future__ import annotations

import ast
import configparser
import enum
import re
from pathlib import Path

import pytest

from qgis_fixtures import qgis_app  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for p in (ROOT / "mmlgnet_qgis").rglob("*.py") if "__pycache__" not in p.parts)
# The migration script's renames of enum values Qt6 removed.
RENAMED_ENUMS = {("Qt", "MidButton"), ("Qt", "TextColorRole"), ("Qt", "BackgroundColorRole"),
                 ("QPainter", "HighQualityAntialiasing")}
REMOVED_NAMES = {"QRegExp": "use QRegularExpression", "resources_rc": "compiled resources are gone in Qt6",
                 "qApp": "use QApplication.instance()", "QDesktopWidget": "removed in Qt6"}


def _qgis_class(name: str):
    import qgis.core
    import qgis.gui
    from qgis.PyQt import QtCore, QtGui, QtWidgets
    for module in (qgis.core, qgis.gui, QtCore, QtGui, QtWidgets):
        obj = getattr(module, name, None)
        if isinstance(obj, type):
            return obj
    return None


def _is_enum_member(value) -> bool:
    # PyQt5 / sip 6 enums have the metaclass sip.enumtype; QGIS's newer ones are Python enums
    return type(type(value)).__name__ == "enumtype" or isinstance(value, enum.Enum)


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def problems_in(path: Path) -> list[str]:
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src, filename=str(path))
    rel = path.relative_to(ROOT) if ROOT in path.parents else path.name
    out = []
    parent = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    font_metrics = set()
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if re.match(r"(PyQt[456]|PySide\d|sip)(\.|$)", mod) or mod == "qgis.PyQt.Qt":
                out.append(f"{where} imports from {mod}: import through qgis.PyQt.QtCore / QtGui / QtWidgets")
            for alias in node.names:
                if alias.name in REMOVED_NAMES:
                    out.append(f"{where} imports {alias.name}: {REMOVED_NAMES[alias.name]}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if re.match(r"(PyQt[456]|PySide\d|sip)(\.|$)", alias.name):
                    out.append(f"{where} imports {alias.name}: import through qgis.PyQt")
        elif isinstance(node, ast.Name) and node.id in ("qApp", "QDesktopWidget"):
            out.append(f"{where} uses {node.id}: {REMOVED_NAMES[node.id]}")
        elif isinstance(node, ast.FunctionDef) and node.name == "exec_":
            out.append(f"{where} defines exec_: name it exec")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id in ("QFontMetrics", "QFontMetricsF"):
            font_metrics.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Call):
            out += _call_problems(node, where)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "activated" and isinstance(node.slice, ast.Name) and node.slice.id == "str":
            out.append(f"{where} activated[str] is gone in Qt6: use textActivated")
        if isinstance(node, ast.Attribute) and not isinstance(parent.get(node), ast.Attribute):
            out += _enum_problems(node, where)
            if node.attr == "width" and _is_font_metrics(node.value, font_metrics):
                out.append(f"{where} QFontMetrics.width() is gone in Qt6: use horizontalAdvance()")
    return out


def _is_font_metrics(node, names) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call):
        f = node.func
        return (isinstance(f, ast.Name) and f.id in ("QFontMetrics", "QFontMetricsF")) or \
            (isinstance(f, ast.Attribute) and f.attr == "fontMetrics")
    return False


def _call_problems(node: ast.Call, where: str) -> list[str]:
    out = []
    f = node.func
    if isinstance(f, ast.Attribute):
        if f.attr in ("exec_", "print_"):
            out.append(f"{where} calls {f.attr}(): PyQt6 has only {f.attr[:-1]}()")
        if f.attr == "addAction" and len(node.args) >= 4:
            out.append(f"{where} addAction with {len(node.args)} arguments: create the QAction, then add it")
        if f.attr == "desktop" and not node.args:
            out.append(f"{where} QApplication.desktop() is gone in Qt6: use screens()")
    if isinstance(f, ast.Name) and f.id == "QVariant" and (
            not node.args or (isinstance(node.args[0], ast.Attribute) and _dotted(node.args[0])[0] == "QVariant")):
        out.append(f"{where} a null QVariant: use qgis.core.NULL")
    if isinstance(f, ast.Name) and f.id == "QDateTime" and (
            len(node.args) == 8 or (len(node.args) == 1 and isinstance(node.args[0], ast.Call)
                                    and getattr(node.args[0].func, "id", "") == "QDate")):
        out.append(f"{where} QDateTime(...) form removed in Qt6: QDateTime(QDate(...), QTime(...))")
    return out


def _enum_problems(node: ast.Attribute, where: str) -> list[str]:
    parts = _dotted(node)
    if not parts or len(parts) < 2:
        return []
    cls = _qgis_class(parts[0])
    if cls is None:
        return []
    if (parts[0], parts[1]) in RENAMED_ENUMS:
        return [f"{where} {parts[0]}.{parts[1]} was removed in Qt6"]
    obj = cls
    for i, name in enumerate(parts[1:], start=1):
        if not hasattr(obj, name):
            if i == 1:
                return []  # a method or attribute the bindings add at run time; not an enum
            return [f"{where} {'.'.join(parts)} does not resolve in QGIS 3.22's bindings"]
        obj = getattr(obj, name)
    if len(parts) == 2 and _is_enum_member(obj):
        scope = type(obj).__name__
        return [f"{where} unscoped enum {parts[0]}.{parts[1]}: write {parts[0]}.{scope}.{parts[1]}"]
    return []


def test_sources_follow_the_qt6_migration_guide(qgis_app):
    found = [p for path in SOURCES for p in problems_in(path)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("snippet, word", [
    ("from PyQt5.QtCore import Qt", "imports from PyQt5.QtCore"),
    ("from qgis.PyQt.QtCore import Qt\nx = Qt.AlignLeft", "Qt.AlignmentFlag.AlignLeft"),
    ("from qgis.core import QgsProcessingParameterNumber\nt = QgsProcessingParameterNumber.Integer",
     "QgsProcessingParameterNumber.Type.Integer"),
    ("from qgis.PyQt.QtCore import Qt\nx = Qt.AlignmentFlag.NoSuchValue", "does not resolve"),
    ("dialog.exec_()", "exec_"),
    ("from qgis.PyQt.QtCore import QRegExp", "QRegularExpression"),
    ("from qgis.PyQt.QtCore import Qt\nb = Qt.MidButton", "removed in Qt6"),
    ("from qgis.PyQt.QtGui import QFontMetrics\nfm = QFontMetrics(f)\nw = fm.width('x')", "horizontalAdvance"),
    ("combo.activated[str].connect(f)", "textActivated"),
    ("from qgis.PyQt.QtCore import QVariant\nv = QVariant()", "NULL"),
])
def test_the_scan_catches_each_pattern(qgis_app, tmp_path, snippet, word):
    path = tmp_path / "probe.py"
    path.write_text(snippet + "\n")
    found = problems_in(path)
    assert any(word in p for p in found), found


def test_scoped_forms_are_unchanged_values(qgis_app):
    """The scoped spellings the sources use are the very same values in 3.22 (no behaviour change)."""
    from qgis.core import QgsProcessingParameterNumber
    from qgis.PyQt.QtCore import Qt
    assert QgsProcessingParameterNumber.Type.Integer == QgsProcessingParameterNumber.Integer
    assert Qt.AlignmentFlag.AlignCenter == Qt.AlignCenter
    assert (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable) == (Qt.ItemIsEnabled | Qt.ItemIsSelectable)


def test_metadata_declares_qgis_4_only_with_clean_sources(qgis_app):
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(ROOT / "mmlgnet_qgis" / "metadata.txt", encoding="utf-8")
    meta = cp["general"]
    assert "supportsQt6" not in meta  # deprecated by plugins.qgis.org since March 2026
    assert meta["qgisMinimumVersion"] == "3.22"  # the only QGIS this is tested on
    if meta.get("qgisMaximumVersion"):
        assert meta["qgisMaximumVersion"] == "4.99"
        assert [p for path in SOURCES for p in problems_in(path)] == []
