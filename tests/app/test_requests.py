"""Requests: a JSON round trip for every use case, strict parsing, and the same fields in every front end."""
from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qgis_fixtures import qgis_app  # noqa: F401 (fixture)

from mmlgnet_qgis.app.requests import REQUESTS, ClassifyRequest, TrainRequest, request_from_dict
from mmlgnet_qgis.core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mmlgnet_qgis"


def non_default(cls):
    """A request of `cls` with every field set to something other than its default."""
    values = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type)
        if "list" in kind:
            values[f.name] = [f"{f.name}-value"]
        elif "bool" in kind:
            values[f.name] = True
        elif kind.startswith("int"):
            values[f.name] = 7
        elif kind.startswith("float"):
            values[f.name] = 0.25
        else:
            values[f.name] = f"{f.name}-value"
    return cls(**values)


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_every_request_survives_a_json_round_trip(kind):
    request = non_default(REQUESTS[kind])
    again = request_from_dict(json.loads(request.to_json()))
    assert again == request and type(again) is type(request)
    assert json.loads(again.to_json())["kind"] == kind


def test_requests_are_parsed_strictly():
    good = TrainRequest(hsi="h.tif", lidar="l.tif", out="m.safetensors").to_dict()
    for change, message in (({"epochs": "60"}, "'epochs' must be a whole number"),
                            ({"epochs": True}, "'epochs' must be a whole number"),
                            ({"lr": "fast"}, "'lr' must be a number"),
                            ({"resample_lidar": 1}, "'resample_lidar' must be true or false"),
                            ({"hsi": None}, "'hsi' must be text"),
                            ({"colour": "red"}, "unknown field.*colour"),
                            ({"kind": "classify"}, "expected a 'train' request")):
        with pytest.raises(InputError, match=message):
            TrainRequest.from_dict({**good, **change})
    with pytest.raises(InputError, match="lacks 'model'"):
        ClassifyRequest.from_dict({"hsi": "h", "lidar": "l", "out": "o"})
    with pytest.raises(InputError, match="unknown request kind 'paint'"):
        request_from_dict({"kind": "paint"})
    assert TrainRequest.from_dict({**good, "lr": 1}).lr == 1.0  # a JSON integer is a number


COMMANDS = {"classify_distributed": "classify"}  # kinds a command of another name builds


def cli_dests(command):
    from mmlgnet_qgis.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {a.dest for a in sub.choices[COMMANDS.get(command, command)]._actions}


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_every_request_field_is_a_command_line_option(kind):
    if kind == "encode":
        pytest.skip("encode serves the dock's similarity view; it has no command")
    fields = set(REQUESTS[kind].field_names())
    missing = fields - cli_dests(kind)
    assert not missing, f"request fields without a CLI option: {sorted(missing)}"


ALGORITHMS = {"train": "TrainAlgorithm", "classify": "ClassifyAlgorithm", "evaluate": "EvaluateAlgorithm",
              "import": "ImportBenchmarkAlgorithm", "rasterise_lidar": "RasteriseLidarAlgorithm",
              "classify_distributed": "DistributedClassifyAlgorithm"}


@pytest.mark.parametrize("kind", sorted(ALGORITHMS))
def test_every_request_field_is_a_processing_parameter(qgis_app, kind):
    import mmlgnet_qgis.processing.provider as provider
    alg = getattr(provider, ALGORITHMS[kind])()
    alg.initAlgorithm()
    params = {p.name() for p in alg.parameterDefinitions()}
    assert set(alg.FIELDS) <= params, f"FIELDS names parameters that do not exist: {set(alg.FIELDS) - params}"
    reached = set(alg.FIELDS.values()) | set(getattr(alg, "IMPLICIT", {}))
    missing = set(REQUESTS[kind].field_names()) - reached
    assert not missing, f"request fields no {kind} parameter reaches: {sorted(missing)}"


def test_help_lists_the_training_knobs_and_classify_has_bf16(qgis_app):
    out = subprocess.run([sys.executable, "-m", "mmlgnet_qgis", "train", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60).stdout
    assert "--batch-size" in out and "--lr" in out and "--hsi-width" in out
    from mmlgnet_qgis.processing.classify_algorithm import ClassifyAlgorithm
    alg = ClassifyAlgorithm()
    alg.initAlgorithm()
    assert alg.parameterDefinition("AMP") is not None


def imports_of(path: Path) -> set[str]:
    """Absolute names of the mmlgnet_qgis modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


# layer -> what it must never import
FORBIDDEN = {
    "core": ("mmlgnet_qgis.raster", "mmlgnet_qgis.app", "mmlgnet_qgis.processing", "mmlgnet_qgis.gui",
             "mmlgnet_qgis.cli", "mmlgnet_qgis.report", "qgis", "osgeo"),
    "raster": ("mmlgnet_qgis.app", "mmlgnet_qgis.processing", "mmlgnet_qgis.gui", "mmlgnet_qgis.cli", "qgis"),
    "app": ("mmlgnet_qgis.processing", "mmlgnet_qgis.gui", "mmlgnet_qgis.cli", "qgis"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downward(layer):
    offenders = []
    for path in sorted((PACKAGE / layer).glob("*.py")):
        for name in imports_of(path):
            if name.startswith(FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


STEPS = ("check_outputs", "opened_pair", "training_inputs", "load_model_with_prompts", "save_model", "fit(",
         "classify(", "write_report(", "mat_to_geotiff(")


@pytest.mark.parametrize("front_end", ["cli.py", "processing", "gui"])
def test_front_ends_write_no_steps_of_their_own(front_end):
    """A command's steps live in app/ only: front ends build a request and call app.run."""
    root = PACKAGE / front_end
    files = [root] if root.is_file() else sorted(root.glob("*.py"))
    found = [f"{p.name}: {step}" for p in files for step in STEPS if step in p.read_text(encoding="utf-8")]
    assert not found, found
