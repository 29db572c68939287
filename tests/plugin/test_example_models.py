"""The shipped graphical models (resources/models/*.model3, and the tests' copy) are what the Model
Designer accepts: QgsProcessingModelAlgorithm.validate() passes, every child parameter of the live
algorithms has a value, and each file is what scripts/make_example_model.py builds today, so an
algorithm that gains a parameter fails here until the script is rerun."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qgis_fixtures import qgis_app  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_example_model  # noqa: E402

SHIPPED = sorted((ROOT / "resources" / "models").glob("*.model3"))
ALL = SHIPPED + [make_example_model.TEST_COPY[1]]
RERUN = "rerun: QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_example_model.py"


def load(path):
    from qgis.core import QgsProcessingModelAlgorithm
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path)), path
    return model


def test_the_models_are_shipped():
    assert [p.name for p in SHIPPED] == sorted(make_example_model.MODELS)
    assert make_example_model.TEST_COPY[1].read_bytes() == \
        (ROOT / "resources" / "models" / make_example_model.TEST_COPY[0]).read_bytes()


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_model_designer_finds_the_model_valid(qgis_app, path):
    ok, issues = load(path).validate()
    assert ok and not issues, f"{path.name}: {issues}; {RERUN}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_child_parameter_has_a_value(qgis_app, path):
    """Stricter than validate(): an optional parameter added to an algorithm shows up too."""
    from qgis.core import QgsApplication
    model = load(path)
    for cid, child in model.childAlgorithms().items():
        alg = QgsApplication.processingRegistry().algorithmById(child.algorithmId())
        wanted = {p.name() for p in alg.parameterDefinitions() if not p.isDestination()}
        assert wanted == set(child.parameterSources()), f"{path.name} {cid}; {RERUN}"


@pytest.mark.parametrize("name, kind", sorted(make_example_model.MODELS.items()))
def test_shipped_file_is_what_the_script_builds(qgis_app, tmp_path, name, kind):
    built = tmp_path / name
    assert make_example_model.build(kind).toFile(str(built))
    assert load(built).toVariant() == load(ROOT / "resources" / "models" / name).toVariant(), RERUN


def test_inputs_in_the_order_a_user_fills_them_and_outputs_named_as_the_algorithms_do(qgis_app):
    from qgis.core import QgsApplication
    model = load(ROOT / "resources" / "models" / "mmlgnet_train_classify_evaluate.model3")
    names = [p.name() for p in model.parameterDefinitions() if not p.isDestination()]
    assert names[:6] == ["hsi", "lidar", "training_labels", "test_labels", "prompts", "epochs"]
    registry = QgsApplication.processingRegistry()
    outputs = {o.name() for o in model.outputDefinitions()}
    expected = {f"{cid}:{registry.algorithmById('mmlgnet:' + cid).parameterDefinition(o).description()}"
                for cid, o in make_example_model.OUTPUTS}
    assert outputs == expected and "train:Model file" in outputs and "classify:Classified raster" in outputs
    chain = load(ROOT / "resources" / "models" / "mmlgnet_benchmark_chain.model3")
    assert [p.name() for p in chain.parameterDefinitions()][:5] == [
        "hsi_mat", "lidar_mat", "training_labels_mat", "test_labels_mat", "scene"]


def test_a_child_without_a_value_is_what_the_designer_rejects(qgis_app):
    """The check above catches the fault of the old tests/models file: a parameter left unset."""
    from qgis.core import QgsProcessingModelAlgorithm
    variant = load(ROOT / "resources" / "models" / "mmlgnet_train_classify_evaluate.model3").toVariant()
    del variant["children"]["classify"]["params"]["DEVICE"]
    model = QgsProcessingModelAlgorithm()
    assert model.loadVariant(variant)
    ok, issues = model.validate()
    assert not ok and any("DEVICE" in i for i in issues)


def test_raster_model_runs_on_the_small_scene(qgis_app, small_scene, tmp_path):
    """What a user gets from the toolbox's 'Run model': model file, maps and report."""
    import processing
    model = load(ROOT / "resources" / "models" / "mmlgnet_train_classify_evaluate.model3")
    res = processing.run(model, {
        "hsi": small_scene["hsi"], "lidar": small_scene["lidar"], "training_labels": small_scene["labels"],
        "test_labels": small_scene["labels"], "prompts": small_scene["prompts"], "epochs": 2,
        "network_size": 1, "device": 1, "threads": 1,
        "train:Model file": str(tmp_path / "model.safetensors"),
        "classify:Classified raster": str(tmp_path / "classes.tif"),
        "classify:Confidence raster": str(tmp_path / "confidence.tif"),
        "evaluate:Accuracy report": str(tmp_path / "report.html")})
    for key, name in (("train:Model file", "model.safetensors"), ("classify:Classified raster", "classes.tif"),
                      ("classify:Confidence raster", "confidence.tif"), ("evaluate:Accuracy report", "report.html")):
        assert res[key] == str(tmp_path / name) and (tmp_path / name).is_file(), key
