"""The reproducer of the desktop crash, as a test: a QGIS process with Mesa's libLLVM loaded globally
and torch importable (the venv's site-packages on its path) runs classify and evaluate through
Processing, loads a model file's prompts in the dock and encodes them. It survives, and torch,
transformers, open_clip, triton (nor scipy or safetensors) never enter its sys.modules: everything heavy ran in workers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker_support import LLVM, llvm_present

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import ctypes, json, os, sys
ctypes.CDLL(os.environ["LLVM"], mode=ctypes.RTLD_GLOBAL)
sys.path.insert(0, os.environ["TESTS"])
from qgis_fixtures import run, start_qgis
start_qgis()
scene = json.loads(sys.argv[1])
out = sys.argv[2]
classified = run("mmlgnet:classify", {"HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": scene["model"],
                                      "DEVICE": 1, "THREADS": 1, "OUTPUT": out + "/classes.tif"})["OUTPUT"]
report = run("mmlgnet:evaluate", {"CLASSIFIED": classified, "REFERENCE": scene["labels"], "MODEL": scene["model"],
                                  "REPORT": out + "/report.html"})
from mmlgnet_qgis.gui.dock_controller import PromptDockController
controller = PromptDockController(None)
assert controller.dock.load_model_file(scene["model"])
sim = controller.dock.encode_now()
controller.unload()
heavy = sorted(m for m in ("torch", "transformers", "open_clip", "sentence_transformers", "triton", "scipy",
                            "safetensors")
               if sys.modules.get(m) is not None)
print(json.dumps({"oa": report["OA"], "sim": list(sim.shape), "heavy": heavy}))
"""


@pytest.mark.skipif(not llvm_present(), reason=f"{LLVM} is not installed (Mesa's LLVM)")
def test_qgis_beside_llvm_runs_everything_in_workers(scene, tmp_path):
    import site
    env = {**os.environ, "LLVM": LLVM, "TESTS": str(ROOT / "tests"), "QT_QPA_PLATFORM": "offscreen",
           "MMLGNET_PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *site.getsitepackages()])}
    scene_json = json.dumps({k: scene[k] for k in ("hsi", "lidar", "labels", "model")})
    proc = subprocess.run(["/usr/bin/python3", "-c", SCRIPT, scene_json, str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], "QGIS's process imported these"
    assert result["sim"] == [3, 3] and result["oa"] > 90
