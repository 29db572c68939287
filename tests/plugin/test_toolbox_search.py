"""The Processing toolbox's search box finds the algorithms by what a user would type
("hyperspectral", "land cover", "lidar"), through their tags and group, as QGIS 3.22 filters."""
from __future__ import annotations

import pytest

from qgis_fixtures import qgis_app  # noqa: F401

OURS = {"mmlgnet:classify", "mmlgnet:evaluate", "mmlgnet:importbenchmark", "mmlgnet:train"}


def toolbox_search(text: str) -> set[str]:
    """Algorithm ids the toolbox tree shows for a search text (QgsProcessingToolboxProxyModel)."""
    from qgis.core import QgsApplication
    from qgis.gui import QgsProcessingToolboxProxyModel
    model = QgsProcessingToolboxProxyModel(None, QgsApplication.processingRegistry())
    model.setFilterString(text)
    found, stack = set(), [model.index(r, 0) for r in range(model.rowCount())]
    while stack:
        idx = stack.pop()
        alg = model.toolboxModel().algorithmForIndex(model.mapToSource(idx))
        if alg is not None:
            found.add(alg.id())
        stack += [model.index(r, 0, idx) for r in range(model.rowCount(idx))]
    return found


@pytest.mark.parametrize("text", ["hyperspectral", "lidar", "land cover", "classification", "clip", "language"])
def test_toolbox_search_finds_every_algorithm(qgis_app, text):
    assert OURS <= toolbox_search(text)


@pytest.mark.parametrize("text, alg", [("accuracy", "mmlgnet:evaluate"), ("confusion matrix", "mmlgnet:evaluate"),
                                       ("training", "mmlgnet:train"), ("matlab", "mmlgnet:importbenchmark"),
                                       ("inference", "mmlgnet:classify"), ("dask", "mmlgnet:classifydask"),
                                       ("cluster", "mmlgnet:classifydask")])
def test_algorithm_specific_words(qgis_app, text, alg):
    assert alg in toolbox_search(text)
    assert "mmlgnet:importbenchmark" not in toolbox_search("kappa")


def test_tags_and_group(qgis_app):
    from qgis.core import QgsApplication
    algs = [a for a in QgsApplication.processingRegistry().algorithms() if a.provider().id() == "mmlgnet"]
    assert OURS <= {a.id() for a in algs}
    for alg in algs:
        assert {"hyperspectral", "lidar", "classification", "land cover"} <= set(alg.tags()), alg.id()
        assert alg.group() and alg.groupId() == "hsilidar"
        assert len(alg.tags()) == len(set(alg.tags()))
