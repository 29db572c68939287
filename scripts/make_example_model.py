"""Build the example graphical models from the live algorithms' parameter definitions.

A .model3 saved by hand goes invalid in the Model Designer as soon as an algorithm gains a
parameter ("Parameter X is mandatory"); built from the definitions, every child parameter gets a
value: a model input for the main ones (inputs cloned from the child's own definition, in the order
a user fills them in), the algorithm's default for the rest. Rerun after changing an algorithm:

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_example_model.py

Writes resources/models/*.model3 (shipped in the plugin) and tests/models/mmlgnet_chain.model3
(a copy of the benchmark chain, run end to end by tests/test_processing_model.py).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {  # file name -> spec
    "mmlgnet_train_classify_evaluate.model3": "rasters",
    "mmlgnet_benchmark_chain.model3": "benchmark",
}
TEST_COPY = ("mmlgnet_benchmark_chain.model3", ROOT / "tests" / "models" / "mmlgnet_chain.model3")
COLUMN, ROW = 300, 110  # designer layout: one column per stage


def _inputs(kind: str) -> list[tuple[str, str, str, str | None]]:
    """(model input, child id, child parameter, description override), in dialog order."""
    if kind == "rasters":
        first = [("hsi", "train", "HSI", None), ("lidar", "train", "LIDAR", None),
                 ("training_labels", "train", "LABELS", "Training labels raster (class ids, 0 = none)"),
                 ("test_labels", "evaluate", "REFERENCE", "Test labels raster (class ids, 0 = unlabelled)")]
    else:
        first = [("hsi_mat", "import_hsi", "INPUT", "HSI .mat"), ("lidar_mat", "import_lidar", "INPUT", "LiDAR .mat"),
                 ("training_labels_mat", "import_train", "INPUT", "Training labels .mat"),
                 ("test_labels_mat", "import_test", "INPUT", "Test labels .mat"),
                 ("scene", "train", "SCENE", "Benchmark scene (grid, class names and prompts)")]
    return first + [("prompts", "train", "PROMPTS", None), ("epochs", "train", "EPOCHS", None),
                    ("network_size", "train", "MODEL_SIZE", None), ("device", "train", "DEVICE", None),
                    ("threads", "train", "THREADS", None)]


def _children(kind: str) -> list[tuple[str, str, dict]]:
    """(child id, algorithm, wiring {parameter: ('input', name) | ('child', id, output) | ('static', v)})."""
    imports = []
    if kind == "benchmark":  # KIND: 1 = HSI, 2 = LiDAR, 3 = labels (importbenchmark's enum)
        for cid, k, mat in (("import_hsi", 1, "hsi_mat"), ("import_lidar", 2, "lidar_mat"),
                            ("import_train", 3, "training_labels_mat"), ("import_test", 3, "test_labels_mat")):
            imports.append((cid, "mmlgnet:importbenchmark", {"INPUT": ("input", mat), "KIND": ("static", k),
                                                              "SCENE": ("input", "scene")}))
        src = {"HSI": ("child", "import_hsi", "OUTPUT"), "LIDAR": ("child", "import_lidar", "OUTPUT"),
               "LABELS": ("child", "import_train", "OUTPUT"), "REFERENCE": ("child", "import_test", "OUTPUT")}
    else:
        src = {"HSI": ("input", "hsi"), "LIDAR": ("input", "lidar"), "LABELS": ("input", "training_labels"),
               "REFERENCE": ("input", "test_labels")}
    model = ("child", "train", "MODEL")
    shared = {"DEVICE": ("input", "device"), "THREADS": ("input", "threads")}
    return imports + [
        ("train", "mmlgnet:train", {"HSI": src["HSI"], "LIDAR": src["LIDAR"], "LABELS": src["LABELS"], **shared,
                                    "PROMPTS": ("input", "prompts"), "EPOCHS": ("input", "epochs"),
                                    "MODEL_SIZE": ("input", "network_size"),
                                    **({"SCENE": ("input", "scene")} if kind == "benchmark" else {})}),
        ("classify", "mmlgnet:classify", {"HSI": src["HSI"], "LIDAR": src["LIDAR"], "MODEL": model, **shared}),
        ("evaluate", "mmlgnet:evaluate", {"CLASSIFIED": ("child", "classify", "OUTPUT"),
                                          "REFERENCE": src["REFERENCE"], "MODEL": model,
                                          **({"SCENE": ("input", "scene")} if kind == "benchmark" else {})}),
    ]


# model outputs: (child, child output) -> name; named as the algorithms name their outputs
OUTPUTS = [("train", "MODEL"), ("classify", "OUTPUT"), ("classify", "CONFIDENCE"), ("evaluate", "REPORT")]
TITLES = {"rasters": "Train, classify and evaluate (HSI + LiDAR rasters)",
          "benchmark": "Benchmark chain: import .mat, train, classify, evaluate"}
HELP = {"rasters": "Trains MMLGNet on co-registered HSI + LiDAR rasters and training labels, classifies the scene "
                   "and scores the map against test labels. Unlisted settings take the algorithms' defaults; "
                   "open the model in the Model Designer to change them.",
        "benchmark": "Imports the four .mat files of a benchmark scene (Trento or MUUFL) onto its nominal grid, "
                     "then trains, classifies and evaluates as 'Train, classify and evaluate'."}


def build(kind: str):
    """The QgsProcessingModelAlgorithm for `kind` ('rasters' or 'benchmark'); needs a running QGIS."""
    from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource as Source, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterDefinition)
    from qgis.PyQt.QtCore import QPointF
    registry = QgsApplication.processingRegistry()
    model = QgsProcessingModelAlgorithm(TITLES[kind], "MMLGNet")
    model.setHelpContent({"ALG_DESC": HELP[kind], "ALG_CREATOR": "mmlgnet-qgis developers"})
    children = _children(kind)
    algs = {cid: registry.algorithmById(aid) for cid, aid, _ in children}
    if None in algs.values():
        raise SystemExit("the MMLGNet provider is not registered")

    order = []
    for row, (name, cid, pname, description) in enumerate(_inputs(kind)):
        definition = algs[cid].parameterDefinition(pname).clone()
        definition.setName(name)
        if description:
            definition.setDescription(description)
        if name in ("lidar", "training_labels", "test_labels"):  # optional in the algorithms (a point
            # cloud or a vector may replace them), needed by this model's wiring
            definition.setFlags(definition.flags() & ~QgsProcessingParameterDefinition.Flag.FlagOptional)
        if name == "scene":
            definition.setDefaultValue(1)  # trento: the .mat files carry no grid, the scene gives it
        component = QgsProcessingModelParameter(name)
        component.setPosition(QPointF(120, 60 + row * 70))
        model.addModelParameter(definition, component)
        order.append(name)

    stage = {"import": 1, "train": 2, "classify": 3, "evaluate": 4}
    for index, (cid, aid, wiring) in enumerate(children):
        alg = algs[cid]
        child = QgsProcessingModelChildAlgorithm(aid)
        child.setChildId(cid)
        child.setDescription(cid.replace("_", " ") if cid.startswith("import") else alg.displayName())
        column = stage[cid.split("_")[0]]
        child.setPosition(QPointF(120 + column * COLUMN, 60 + (index if column == 1 else 1.5) * ROW))
        for p in alg.parameterDefinitions():
            if p.isDestination():
                continue  # a model output or a temporary file
            how = wiring.get(p.name(), ("static", p.defaultValue()))
            if how[0] == "input":
                source = Source.fromModelParameter(how[1])
            elif how[0] == "child":
                source = Source.fromChildOutput(how[1], how[2])
            else:
                source = Source.fromStaticValue(how[1])
            child.addParameterSources(p.name(), [source])
        outputs = {}
        for n, (ocid, oname) in enumerate(o for o in OUTPUTS if o[0] == cid):
            label = alg.parameterDefinition(oname).description()
            out = QgsProcessingModelOutput(label, label)
            out.setChildId(cid)
            out.setChildOutputName(oname)
            out.setMandatory(False)
            out.setPosition(QPointF(child.position().x() + 40, child.position().y() + 70 + n * 45))
            outputs[out.name()] = out
        child.setModelOutputs(outputs)
        model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    model.setParameterOrder(order + [f"{c}:{algs[c].parameterDefinition(o).description()}" for c, o in OUTPUTS])
    return model


def write_all(folder: Path = ROOT / "resources" / "models", test_copy: bool = True) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, kind in MODELS.items():
        path = folder / file_name
        if not build(kind).toFile(str(path)):
            raise SystemExit(f"could not write {path}")
        written.append(path)
    if test_copy:
        shutil.copyfile(folder / TEST_COPY[0], TEST_COPY[1])
        written.append(TEST_COPY[1])
    return written


def _start_qgis():
    """Headless QGIS with Processing and the MMLGNet provider (from this checkout)."""
    from qgis.core import QgsApplication
    app = QgsApplication([], False)
    app.initQgis()
    sys.path[:0] = [str(ROOT), "/usr/share/qgis/python/plugins"]
    from processing.core.Processing import Processing
    Processing.initialize()
    from mmlgnet_qgis.processing.provider import MMLGNetProvider
    _start_qgis.keep = (app, MMLGNetProvider())  # Python must hold both for QGIS's lifetime
    QgsApplication.processingRegistry().addProvider(_start_qgis.keep[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    args = ap.parse_args(argv)
    _start_qgis()
    for path in write_all(args.out, test_copy=args.out == ROOT / "resources" / "models"):
        print(path)
    return 0


if __name__ == "__main__":
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_HASH_SEED"] = "0"  # same XML attribute order on every run: small git diffs
    rc = main()
    sys.stdout.flush()
    os._exit(rc)  # QGIS 3.22 may crash in its exit handlers
