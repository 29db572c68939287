"""Runs inside the real QGIS desktop (`qgis --code desktop_script.py`), driven by test_desktop.py.

Loads the Trento prompt set in the MMLGNet dock and presses Encode, then runs train (a few epochs)
and classify through processing.run, writes $MMLGNET_DESKTOP_OUT/result.json and quits QGIS the
way a user does (File > Exit). Whatever fails is recorded in result.json; a crash leaves none.
"""
import faulthandler
import json
import os
import sys
import time
import traceback

import qgis.utils
from qgis.core import QgsProject
from qgis.PyQt.QtCore import QTimer

OUT = os.environ["MMLGNET_DESKTOP_OUT"]
faulthandler.enable(file=open(os.path.join(OUT, "faulthandler.txt"), "w"), all_threads=True)
INPUTS = json.load(open(os.path.join(OUT, "inputs.json")))
HEAVY = ("torch", "transformers", "open_clip", "sentence_transformers", "triton")
result = {"errors": [], "seconds": {}}
started = time.perf_counter()
_keep = []  # timers and connections that must outlive this module's code


def later(ms, fn):
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: guarded(fn))
    timer.start(ms)
    _keep.append(timer)


def guarded(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - recorded for the test, then quit
        result["errors"].append(traceback.format_exc())
        finish()


def finish():
    if result.get("finished"):
        return
    result["finished"] = True
    # sys.modules["triton"] = None is how the plugin blocks triton: only real modules count
    result["heavy_modules_in_qgis"] = sorted(m for m in HEAVY if sys.modules.get(m) is not None)
    with open("/proc/self/maps") as maps:  # Mesa's GL driver brought the system's libLLVM in
        result["llvm_loaded"] = "libLLVM" in maps.read()
    result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    path = os.path.join(OUT, "result.json")
    with open(path + ".partial", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".partial", path)
    QgsProject.instance().setDirty(False)  # no "save the project?" question on exit
    later(200, qgis.utils.iface.actionExit().trigger)


def start():
    plugin = qgis.utils.plugins["mmlgnet_qgis"]
    dock = plugin.dock.dock
    dock.show()
    assert dock.load_ready_set("trento"), "the Trento prompt set did not load"
    result["dock_classes"] = len(dock.prompt_set().classes)
    t0 = time.perf_counter()

    def encoded(sim):
        result["encode_matrix"] = list(getattr(sim, "shape", ()))
        result["seconds"]["encode"] = round(time.perf_counter() - t0, 1)
        dock.grab().save(os.path.join(OUT, "dock.png"))
        later(100, run_algorithms)
    dock.encodingFinished.connect(lambda sim: guarded(lambda: encoded(sim)))
    dock.encode_button.click()

    def watchdog():
        if "encode_matrix" not in result:
            raise TimeoutError(f"Encode did not finish in 120 s: {dock.message_label.text()}")
    later(120_000, watchdog)


def run_algorithms():
    import processing
    scene = INPUTS
    t0 = time.perf_counter()
    trained = processing.run("mmlgnet:train", {
        "HSI": scene["hsi"], "LIDAR": scene["lidar"], "LABELS": scene["labels"], "PROMPTS": scene["prompts"],
        "EPOCHS": 3, "PATCH_SIZE": 7, "HSI_WIDTH": 8, "LIDAR_WIDTH": 4, "FUSION_WIDTH": 16, "DEVICE": 1,
        "THREADS": 1, "MODEL": os.path.join(OUT, "model.safetensors")})
    result["seconds"]["train"] = round(time.perf_counter() - t0, 1)
    result["train"] = {k: str(v) for k, v in trained.items()}
    t0 = time.perf_counter()
    classified = processing.run("mmlgnet:classify", {
        "HSI": scene["hsi"], "LIDAR": scene["lidar"], "MODEL": trained["MODEL"], "DEVICE": 1, "THREADS": 1,
        "OUTPUT": os.path.join(OUT, "classes.tif")})
    result["seconds"]["classify"] = round(time.perf_counter() - t0, 1)
    result["classify"] = {k: str(v) for k, v in classified.items()}
    finish()


later(500, start)
