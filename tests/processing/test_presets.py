"""The 'fast' network preset through the command line and Processing: the small widths land in the
model file, and the model classifies the small scene."""
from __future__ import annotations

import pytest

from mmlgnet_qgis.core.defaults import PRESETS, TEACHER_HEADS
from mmlgnet_qgis.core.model_file import read_manifest
from qgis_fixtures import run, start_qgis
from test_robustness import cli_args, processing_params


def widths(path):
    cfg = read_manifest(path).model
    return {k: cfg[k] for k in ("hsi_width", "lidar_width", "fusion_width")}


@pytest.mark.parametrize("front", ["cli", "processing"])
def test_fast_preset_trains_the_small_network(front, small_scene, tmp_path):
    from mmlgnet_qgis import cli
    s = small_scene
    p = {"hsi": s["hsi"], "lidar": s["lidar"], "labels": s["labels"], "prompts": s["prompts"],
         "out": str(tmp_path / "fast.safetensors"), "device": "cpu", "text_encoder": "minilm", "epochs": 3}
    if front == "cli":
        assert cli.main(cli_args("train", p) + ["--preset", "fast"]) == 0
    else:
        start_qgis()
        params = processing_params("train", p)
        del params["HSI_WIDTH"], params["LIDAR_WIDTH"], params["FUSION_WIDTH"]
        run("mmlgnet:train", {**params, "MODEL_SIZE": 1})
    assert widths(p["out"]) == PRESETS["fast"]
    assert widths(s["model"]) != PRESETS["fast"]  # the scene's own model: widths given explicitly


@pytest.mark.parametrize("front", ["cli", "processing"])
def test_default_preset_trains_the_standard_teachers_then_a_distilled_fast_student(front, small_scene, tmp_path):
    from mmlgnet_qgis import cli
    s = small_scene
    log = tmp_path / "train.log"
    p = {"hsi": s["hsi"], "lidar": s["lidar"], "labels": s["labels"], "prompts": s["prompts"],
         "out": str(tmp_path / "default.safetensors"), "device": "cpu", "text_encoder": "minilm", "epochs": 2}
    if front == "cli":
        assert cli.main(cli_args("train", p) + ["--log-file", str(log)]) == 0
    else:
        start_qgis()
        params = processing_params("train", p)
        del params["HSI_WIDTH"], params["LIDAR_WIDTH"], params["FUSION_WIDTH"]  # the preset's widths
        run("mmlgnet:train", {**params, "LOG": str(log)})   # MODEL_SIZE left at its default
    manifest = read_manifest(p["out"])
    assert widths(p["out"]) == PRESETS["fast"]
    teacher = manifest.distilled_from["model"]
    assert {k: teacher[k] for k in PRESETS["standard"]} == PRESETS["standard"]
    assert "trained in the same run" in manifest.distilled_from["teacher"]
    # one teacher per head (the plain classifier is never written); the student classifies by the prompts
    assert manifest.distilled_from["head"] == "+".join(TEACHER_HEADS)
    assert manifest.training["config"]["head"] == "text" and len(manifest.unknown_thresholds) == 3
    text = log.read_text()
    steps = len(TEACHER_HEADS) + 1
    assert [text.index(f"step {i} of {steps}") for i in range(1, steps + 1)] == sorted(
        text.index(f"step {i} of {steps}") for i in range(1, steps + 1))
    epochs = [line.split()[1] for line in text.splitlines() if line.startswith("epoch ")]
    assert epochs == [f"{i}/{2 * steps}" for i in range(1, 2 * steps + 1)]   # every stage on one progress scale


def test_default_preset_on_a_scene_too_large_to_distil_trains_the_standard_network(small_scene, tmp_path,
                                                                                   monkeypatch, capsys):
    from mmlgnet_qgis import cli
    from mmlgnet_qgis.core import pipeline
    monkeypatch.setattr(pipeline, "TRAIN_IN_MEMORY_BYTES", 0)  # every scene is "larger than memory"
    s = small_scene
    p = {"hsi": s["hsi"], "lidar": s["lidar"], "labels": s["labels"], "prompts": s["prompts"],
         "out": str(tmp_path / "big.safetensors"), "device": "cpu", "text_encoder": "minilm", "epochs": 2}
    assert cli.main(cli_args("train", p)) == 0
    assert widths(p["out"]) == PRESETS["standard"]
    assert read_manifest(p["out"]).distilled_from is None
    assert read_manifest(p["out"]).training["config"]["head"] == "text"   # a prompt model, not the linear teacher
    assert "too large to distil" in capsys.readouterr().err
