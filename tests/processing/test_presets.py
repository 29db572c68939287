"""The 'fast' network preset through the command line and Processing: the small widths land in the
model file, and the model classifies the small scene."""
from __future__ import annotations

import pytest

from mmlgnet_qgis.core.defaults import PRESETS
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
