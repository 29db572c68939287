"""mmlgnet:classify from the qgis_process command line gives the same map as processing.run.

qgis_process finds the plugin through QGIS_PLUGINPATH (a folder holding a link mmlgnet_qgis ->
this checkout's package), in a fresh profile (HOME in tmp) where `qgis_process plugins enable
mmlgnet_qgis` switches it on; PYTHONPATH adds the venv's site-packages so torch imports.
Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which 3.22's qgis_process
rejects, so the real binary qgis_process.bin is preferred. Needs the Debian package `qgis`.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from qgis_fixtures import CPU, ROOT, qgis_app, run, trained_model, trento_tifs  # noqa: F401

QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
pytestmark = pytest.mark.skipif(QGIS_PROCESS is None, reason="qgis_process not installed (Debian package 'qgis')")


def qgis_process(args, home: Path, plugins: Path, timeout=300):
    env = dict(os.environ, HOME=str(home), QGIS_PLUGINPATH=str(plugins), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(site.getsitepackages()))
    env.pop("XDG_DATA_HOME", None)  # the profile must come from the fresh HOME
    return subprocess.run([QGIS_PROCESS, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=home)


def test_qgis_process_classify_matches_processing_run(trained_model, trento_tifs, tmp_path):
    model, _ = trained_model
    home, plugins = tmp_path / "home", tmp_path / "plugins"
    home.mkdir()
    plugins.mkdir()
    (plugins / "mmlgnet_qgis").symlink_to(ROOT / "mmlgnet_qgis", target_is_directory=True)
    enable = qgis_process(["plugins", "enable", "mmlgnet_qgis"], home, plugins)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    out = tmp_path / "cli.tif"
    proc = qgis_process(["--json", "run", "mmlgnet:classify", "--", f"HSI={trento_tifs['hsi']}",
                         f"LIDAR={trento_tifs['lidar']}", f"MODEL={model}", f"OUTPUT={out}",
                         f"DEVICE={CPU['DEVICE']}", f"THREADS={CPU['THREADS']}"], home, plugins)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["results"]["OUTPUT"] == str(out)
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    band.GetDescription()
    assert band.GetCategoryNames()[1:3] == ["Apple trees", "Buildings"] and out.with_suffix(".qml").is_file()
    here = run("mmlgnet:classify", {"HSI": trento_tifs["hsi"], "LIDAR": trento_tifs["lidar"], "MODEL": model,
                                    **CPU, "OUTPUT": str(tmp_path / "here.tif")})["OUTPUT"]
    assert np.array_equal(band.ReadAsArray(), gdal.Open(here).ReadAsArray())
