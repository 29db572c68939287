"""`train --teacher`: knowledge distillation end to end from the command line, on a tiny scene."""
import json

import numpy as np
import pytest
from scipy.io import savemat

from mmlgnet_qgis.cli import main
from mmlgnet_qgis.core.model_file import read_manifest

NAMES = ["Meadow", "Roof", "Water"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A 24 x 30 toy scene as .mat files, and a teacher trained on it through the CLI."""
    d = tmp_path_factory.mktemp("distill")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(1, 4, (4, 5)), 6, 0), 6, 1)
    hsi = (rng.normal(size=(24, 30, 5)) * 0.3 + labels[..., None] * np.array([1, -1, 2, 0, 1])).astype(np.float32)
    lidar = (labels * 3.0 + rng.normal(size=(24, 30))).astype(np.float32)
    savemat(d / "HSI.mat", {"HSI": hsi})
    savemat(d / "LiDAR.mat", {"LiDAR": lidar})
    savemat(d / "train.mat", {"TRLabel": np.where(rng.random((24, 30)) < 0.2, labels, 0).astype(np.uint8)})
    prompts = {"classes": [{"id": i + 1, "name": n, "color": c} for i, (n, c) in
                           enumerate(zip(NAMES, ["#00ff00", "#ff0000", "#0000ff"]))]}
    (d / "prompts.json").write_text(json.dumps(prompts))
    model = d / "teacher.safetensors"
    assert main(["train", "--hsi", str(d / "HSI.mat"), "--lidar", str(d / "LiDAR.mat"), "--train-labels",
                 str(d / "train.mat"), "--out", str(model), "--prompts", str(d / "prompts.json"), "--epochs", "3",
                 "--device", "cpu", "--patch-size", "7"]) == 0
    return d, model


def _train_student(d, teacher, out, *extra):
    return main(["train", "--hsi", str(d / "HSI.mat"), "--lidar", str(d / "LiDAR.mat"), "--train-labels",
                 str(d / "train.mat"), "--out", str(out), "--teacher", str(teacher), "--preset", "fast",
                 "--epochs", "2", "--device", "cpu", "--patch-size", "7", *extra])


def test_train_with_a_teacher_writes_a_student_that_classifies(teacher, tmp_path):
    d, model = teacher
    out = tmp_path / "student.safetensors"
    assert _train_student(d, model, out, "--log-file", str(tmp_path / "log.txt")) == 0
    man, tman = read_manifest(out), read_manifest(model)
    assert man.distilled_from["teacher"] == "teacher.safetensors" and len(man.distilled_from["sha256"]) == 64
    assert man.distilled_from["model"]["fusion_width"] == tman.model["fusion_width"]
    assert man.model["fusion_width"] == 32 and man.names == NAMES  # the fast preset, the teacher's classes
    assert man.normalisation == tman.normalisation
    assert np.allclose(man.class_embeddings, tman.class_embeddings, atol=1e-6)  # re-normalised: float rounding
    assert "student agrees with the teacher" in (tmp_path / "log.txt").read_text()
    assert main(["classify", "--model", str(out), "--hsi", str(d / "HSI.mat"), "--lidar", str(d / "LiDAR.mat"),
                 "--out", str(tmp_path / "classes.npy")]) == 0
    ids = np.load(tmp_path / "classes.npy")
    assert ids.shape == (24, 30) and ids.min() >= 1 and ids.max() <= 3


def test_a_teacher_of_other_classes_or_no_model_file_is_refused_and_nothing_written(teacher, tmp_path, capsys):
    d, model = teacher
    other = {"classes": [{"id": i + 1, "name": n, "color": "#123456"} for i, n in enumerate(["A", "B", "C"])]}
    out = tmp_path / "student.safetensors"
    assert _train_student(d, model, out, "--prompts", json.dumps(other)) == 2
    assert "a student learns its teacher's classes" in capsys.readouterr().err and not out.exists()
    assert _train_student(d, tmp_path / "missing.safetensors", out) == 2
    assert "missing.safetensors" in capsys.readouterr().err and not out.exists()
