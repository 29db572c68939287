"""The command-line contract on small inputs: train, classify, evaluate (.mat and GeoTIFF)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from mmlgnet_qgis.cli import main
from mmlgnet_qgis.core.model_file import read_manifest

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Meadow", "Roof", "Water"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 30 x 36 toy scene as benchmark-style .mat files (rows x cols x bands) + a prompt set."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(1, 4, (5, 6)), 6, 0), 6, 1)
    hsi = (rng.normal(size=(30, 36, 6)) * 0.3 + labels[..., None] * np.array([1, -1, 2, 0, 1, 3])).astype(np.float32)
    lidar = (labels * 3.0 + rng.normal(size=(30, 36))).astype(np.float32)
    split = rng.random((30, 36))
    savemat(d / "HSI.mat", {"HSI": hsi})
    savemat(d / "LiDAR.mat", {"LiDAR": lidar})
    savemat(d / "train.mat", {"TRLabel": np.where(split < 0.25, labels, 0).astype(np.uint8)})
    savemat(d / "test.mat", {"TSLabel": np.where(split >= 0.25, labels, 0).astype(np.uint8)})
    prompts = {"templates": ["a hyperspectral image of {}"],
               "classes": [{"id": i + 1, "name": n, "color": c, "prompts": [f"an aerial view of {n.lower()}"]}
                           for i, (n, c) in enumerate(zip(NAMES, ["#00ff00", "#ff0000", "#0000ff"]))]}
    (d / "prompts.json").write_text(json.dumps(prompts))
    model = d / "model.safetensors"
    # the contract, as a user types it (a real subprocess)
    proc = subprocess.run([sys.executable, "-m", "mmlgnet_qgis", "train", "--hsi", str(d / "HSI.mat"),
                           "--lidar", str(d / "LiDAR.mat"), "--train-labels", str(d / "train.mat"),
                           "--out", str(model), "--prompts", str(d / "prompts.json"), "--epochs", "8",
                           "--device", "cpu", "--seed", "3", "--patch-size", "7"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return d, model


def test_train_writes_a_model_with_the_prompts(scene):
    d, model = scene
    man = read_manifest(model)
    assert man.names == NAMES
    assert man.text_encoder["kind"] == "minilm" and man.hsi_bands == 6 and man.lidar_bands == 1
    assert man.training["config"]["seed"] == 3 and len(man.history["loss"]) == 8


def test_classify_and_evaluate_geotiff(scene, tmp_path):
    from osgeo import gdal
    d, model = scene
    out, conf, report = tmp_path / "classes.tif", tmp_path / "conf.tif", tmp_path / "report.json"
    assert main(["classify", "--model", str(model), "--hsi", str(d / "HSI.mat"), "--lidar",
                 str(d / "LiDAR.mat"), "--out", str(out), "--confidence", str(conf), "--tile", "16"]) == 0
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    band.GetDescription()  # triggers GDAL's lazy .aux.xml load, where category names live
    assert band.GetCategoryNames()[1:4] == NAMES and band.GetNoDataValue() == 0
    assert band.GetColorTable().GetColorEntry(2)[:3] == (255, 0, 0)
    classes = band.ReadAsArray()
    sim = gdal.Open(str(conf)).ReadAsArray()
    assert set(np.unique(classes)) <= {1, 2, 3} and np.all((sim > -1.0001) & (sim < 1.0001))
    assert (out.parent / "classes.qml").is_file()
    assert main(["evaluate", "--classified", str(out), "--labels", str(d / "test.mat"),
                 "--report", str(report), "--model", str(model)]) == 0
    rep = json.loads(report.read_text())
    assert {"oa", "aa", "kappa", "per_class", "confusion"} <= set(rep)
    test = __import__("scipy.io").io.loadmat(d / "test.mat")["TSLabel"]
    expected_oa = 100 * np.mean(classes[test > 0] == test[test > 0])
    assert abs(rep["oa"] - expected_oa) < 1e-9
    assert rep["oa"] > 80, "8 epochs on a separable toy scene must classify it"
    assert (tmp_path / "report.html").is_file()


def test_retargeted_prompts_move_the_labels(scene, tmp_path):
    """Classifying with the prompt set in another order re-encodes the class embeddings:
    the same pixels come out under the permuted ids."""
    d, model = scene
    base, swapped = tmp_path / "base.npy", tmp_path / "swapped.npy"
    prompts = json.loads((d / "prompts.json").read_text())
    order = [2, 0, 1]
    prompts["classes"] = [dict(prompts["classes"][j], id=i + 1) for i, j in enumerate(order)]
    common = ["--model", str(model), "--hsi", str(d / "HSI.mat"), "--lidar", str(d / "LiDAR.mat")]
    assert main(["classify", *common, "--out", str(base)]) == 0
    assert main(["classify", *common, "--out", str(swapped), "--prompts", json.dumps(prompts)]) == 0
    a, b = np.load(base), np.load(swapped)
    new_id_of_old = {old + 1: new + 1 for new, old in enumerate(order)}
    assert np.array_equal(b, np.vectorize(new_id_of_old.get)(a))


def test_bad_inputs_give_clear_errors_and_no_output(scene, tmp_path, capsys):
    d, model = scene
    bad = tmp_path / "HSI5.mat"
    savemat(bad, {"HSI": np.zeros((30, 36, 5), np.float32)})
    out = tmp_path / "never.tif"
    assert main(["classify", "--model", str(model), "--hsi", str(bad), "--lidar", str(d / "LiDAR.mat"),
                 "--out", str(out)]) == 2
    assert "has 5 bands; the model was trained on 6" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    assert main(["classify", "--model", str(tmp_path / "nope.safetensors"), "--hsi", str(bad),
                 "--lidar", str(bad), "--out", str(out)]) == 2
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "classify", "evaluate", "demo"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and "--" in capsys.readouterr().out


def test_demo_without_benchmark_data_renders_its_own_scene(tmp_path, capsys):
    """A user's clone has no ../shared/data: the demo says so and runs on a synthetic scene."""
    out = tmp_path / "demo-out"
    assert main(["demo", "--data", str(tmp_path / "no-data"), "--out", str(out), "--epochs", "3",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "no benchmark data" in err and "synthetic scene" in err
    rep = json.loads((out / "report.json").read_text())
    assert {"oa", "aa", "kappa", "per_class", "confusion"} <= set(rep) and len(rep["per_class"]) == 5
    assert (out / "classes.tif").is_file() and (out / "model.safetensors").is_file()


def test_terminated_classify_leaves_no_file(scene, tmp_path):
    """SIGTERM mid-run (a killed batch job): the partial GeoTIFF is removed, nothing is left."""
    import signal
    import time
    d, model = scene
    # ~15,000 tiles of 8 px: minutes of work, so the signal always lands mid-run
    big = np.tile(__import__("scipy.io").io.loadmat(d / "HSI.mat")["HSI"], (30, 30, 1))
    savemat(tmp_path / "HSI.mat", {"HSI": big})
    savemat(tmp_path / "LiDAR.mat", {"LiDAR": np.ones(big.shape[:2], np.float32)})
    out = tmp_path / "out" / "classes.tif"
    out.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mmlgnet_qgis", "classify", "--model", str(model),
                             "--hsi", str(tmp_path / "HSI.mat"), "--lidar", str(tmp_path / "LiDAR.mat"),
                             "--out", str(out), "--tile", "8", "--device", "cpu", "--threads", "1"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in iter(proc.stderr.readline, ""):  # wait until tiles are being written
        if "classifying" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert list(out.parent.iterdir()) == []
