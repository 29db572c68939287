"""scripts/package.py's zip installs into a fresh QGIS profile and loads through qgis.utils, with and
without torch. QGIS runs in subprocesses: each needs its own QgsApplication, and the package must
be imported from the profile, not from this checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALGS = ["mmlgnet:classify", "mmlgnet:classifydask", "mmlgnet:evaluate", "mmlgnet:importbenchmark", "mmlgnet:rasteriselidar", "mmlgnet:train"]

# Runs in a clean interpreter (cwd = tmp, no PYTHONPATH): argv = plugins folder, work folder, "block-torch"?
LOAD_PLUGIN = r'''
import importlib.abc, json, os, sys
plugins, work, block = sys.argv[1], sys.argv[2], sys.argv[3] == "block-torch"
if block:  # torch looks uninstalled: every import of it fails as a missing module would
    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, BlockTorch())
from qgis.core import QgsApplication, QgsProcessingException
app = QgsApplication([], False)
app.initQgis()
sys.path.append("/usr/share/qgis/python/plugins")
from processing.core.Processing import Processing
Processing.initialize()
import qgis.utils
sys.path.insert(0, plugins)
qgis.utils.plugin_paths = [plugins]
qgis.utils.updateAvailablePlugins()
out = {"available": "mmlgnet_qgis" in qgis.utils.available_plugins,
       "name": qgis.utils.pluginMetadata("mmlgnet_qgis", "name"),
       "processing": qgis.utils.pluginMetadata("mmlgnet_qgis", "hasProcessingProvider"),
       "loaded": qgis.utils.loadPlugin("mmlgnet_qgis"),
       "started": qgis.utils.startProcessingPlugin("mmlgnet_qgis")}
import mmlgnet_qgis
from mmlgnet_qgis.core.prompts import scene_prompt_set
from mmlgnet_qgis.core.resources import resources_dir
from mmlgnet_qgis.processing.algorithm_base import icon_path
out["file"] = mmlgnet_qgis.__file__
out["resources"] = str(resources_dir())
out["icon"] = os.path.isfile(icon_path())
out["trento_prompts"] = [c.prompts for c in scene_prompt_set("trento").classes]
out["algs"] = sorted(a.id() for a in QgsApplication.processingRegistry().algorithms() if a.provider().id() == "mmlgnet")
if block:
    try:  # what initGui imports: the prompt dock must not need torch either
        import mmlgnet_qgis.gui.dock_controller  # noqa: F401
        out["gui_import_error"] = None
    except ImportError as exc:
        out["gui_import_error"] = repr(exc)
    import numpy as np
    from osgeo import gdal, osr
    srs = osr.SpatialReference(); srs.ImportFromEPSG(32632)
    for name, bands in (("hsi", 4), ("lidar", 1)):
        ds = gdal.GetDriverByName("GTiff").Create(os.path.join(work, name + ".tif"), 8, 8, bands, gdal.GDT_Float32)
        ds.SetGeoTransform((0, 1, 0, 8, 0, -1)); ds.SetProjection(srs.ExportToWkt())
        ds.WriteArray(np.ones((bands, 8, 8), np.float32)) if bands > 1 else ds.GetRasterBand(1).WriteArray(np.ones((8, 8), np.float32))
        ds = None
    import processing
    try:
        processing.run("mmlgnet:classify", {"HSI": os.path.join(work, "hsi.tif"), "LIDAR": os.path.join(work, "lidar.tif"),
                                            "MODEL": os.path.join(work, "missing.safetensors"),
                                            "OUTPUT": os.path.join(work, "c.tif")})
        out["error"] = None
    except QgsProcessingException as exc:
        out["error"] = str(exc)
    out["torch_imported"] = "torch" in sys.modules
    out["output_written"] = os.path.exists(os.path.join(work, "c.tif"))
qgis.utils.unloadPlugin("mmlgnet_qgis")
out["unloaded_provider_gone"] = QgsApplication.processingRegistry().providerById("mmlgnet") is None
print("RESULT " + json.dumps(out))
sys.stdout.flush()
os._exit(0)  # skip interpreter teardown: QGIS 3.22 may segfault in exitQgis / at exit
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The zip from `python scripts/package.py --out DIR`, unpacked into <profile>/python/plugins."""
    tmp = tmp_path_factory.mktemp("package")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--out", str(tmp / "dist")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    zpath = tmp / "dist" / "mmlgnet_qgis.zip"
    plugins = tmp / "profile" / "python" / "plugins"
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        zf.extractall(plugins)
    return zpath, names, plugins


def load_in_qgis(plugins: Path, work: Path, block_torch: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QGIS_PLUGINPATH")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    if block_torch:  # a fresh user: no worker interpreter configured, no managed venv, own settings
        env.pop("MMLGNET_PYTHON", None)
        env["HOME"] = str(work)
    proc = subprocess.run([sys.executable, "-c", LOAD_PLUGIN, str(plugins), str(work),
                           "block-torch" if block_torch else "-"],
                          capture_output=True, text=True, timeout=180, cwd=work, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_zip_layout(installed):
    _, names, _ = installed
    assert {n.split("/")[0] for n in names} == {"mmlgnet_qgis"}
    for need in ("mmlgnet_qgis/__init__.py", "mmlgnet_qgis/metadata.txt", "mmlgnet_qgis/resources/icon.svg",
                 "mmlgnet_qgis/resources/prompts/trento.json", "mmlgnet_qgis/resources/prompts/muufl.json",
                 "mmlgnet_qgis/requirements.txt", "mmlgnet_qgis/processing/provider.py", "mmlgnet_qgis/LICENSE"):
        assert need in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n]
    assert not [n for n in names if n.startswith("mmlgnet_qgis/tests")]


def test_installed_plugin_loads_and_registers_algorithms(installed, tmp_path):
    _, _, plugins = installed
    out = load_in_qgis(plugins, tmp_path, block_torch=False)
    assert out["available"] and out["name"] == "MMLGNet" and out["processing"] == "yes"
    assert out["loaded"] and out["started"] and out["algs"] == ALGS
    assert out["file"].startswith(str(plugins))  # the installed copy, not the checkout
    assert out["resources"] == str(plugins / "mmlgnet_qgis" / "resources") and out["icon"]
    assert any(out["trento_prompts"])  # the shipped prompts, not bare names
    assert out["unloaded_provider_gone"]


def test_without_torch_the_plugin_loads_and_algorithms_explain_the_install(installed, tmp_path):
    _, _, plugins = installed
    out = load_in_qgis(plugins, tmp_path, block_torch=True)
    assert out["loaded"] and out["started"] and out["algs"] == ALGS
    assert out["gui_import_error"] is None
    assert not out["torch_imported"] and not out["output_written"]
    msg = out["error"]  # torch runs in a worker interpreter: the message says how to get one
    assert msg and "Install / repair" in msg and "MMLGNET_PYTHON" in msg
