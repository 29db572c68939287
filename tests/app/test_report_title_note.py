"""The HTML report a user opens: the semi-synthetic note is a banner above the scores (it was in
the JSON only), and the title names the scene, model and date instead of the raster's file name."""
from __future__ import annotations

import json
import re
from pathlib import Path

from mmlgnet_qgis.core import defaults
from mmlgnet_qgis.core.metrics import accuracy_report
from mmlgnet_qgis.report import default_title, format_report_text, write_report

import numpy as np

REF = np.array([[1, 1, 2, 2], [3, 3, 1, 2]])
NAMES, COLOURS = ["Apple trees", "Buildings", "Roads"], ["#00a000", "#c00000", "#808080"]


def _h1(page: str) -> str:
    return re.search(r"<h1>(.*?)</h1>", page).group(1)


def test_semi_synthetic_note_is_a_banner_above_the_scores(tmp_path):
    report = dict(accuracy_report(REF, REF, NAMES), note=defaults.SEMI_SYNTHETIC_NOTE)
    page = Path(write_report(report, tmp_path / "r.json", NAMES, COLOURS)["html"]).read_text()
    banner = page.index('class="banner"')
    assert defaults.SEMI_SYNTHETIC_NOTE in page[banner:banner + 400]
    assert banner < page.index("Overall accuracy")  # seen before the numbers
    assert "Note: " + defaults.SEMI_SYNTHETIC_NOTE in format_report_text(report)


def test_no_banner_without_a_note(tmp_path):
    report = dict(accuracy_report(REF, REF, NAMES), note=None)
    page = Path(write_report(report, tmp_path / "r.json", NAMES, COLOURS)["html"]).read_text()
    assert 'class="banner"' not in page and "Note:" not in format_report_text(report)


def test_default_title_names_scene_model_and_date():
    report = {"scene": "trento", "model": "/models/trento_fast.safetensors", "classified": "/x/classes.tif"}
    assert default_title(report, today="2026-12-03") == "MMLGNet accuracy: Trento, model trento_fast, 2026-12-03"
    assert default_title({"classified": "/x/classes.tif"}, "2026-12-03") == \
        "MMLGNet accuracy: map classes, 2026-12-03"
    assert default_title({"scene": "muufl", "date": "2026-01-02"}) == "MMLGNet accuracy: Muufl, 2026-01-02"


def test_evaluate_use_case_report_title_and_banner(small_scene, tmp_path):
    from mmlgnet_qgis.app import evaluate
    from mmlgnet_qgis.app.requests import EvaluateRequest
    res = evaluate.run(EvaluateRequest(classified=small_scene["labels"], labels=small_scene["labels"],
                                       model=small_scene["model"], report=str(tmp_path / "acc.json"),
                                       semi_synthetic=True))
    page = Path(res.report_html).read_text()
    title = _h1(page)
    assert title.startswith("MMLGNet accuracy: model model, ") and "labels" not in title
    assert 'class="banner"' in page
    data = json.loads(Path(res.report_json).read_text())
    assert data["note"] == defaults.SEMI_SYNTHETIC_NOTE and data["model"] == small_scene["model"]
    explicit = evaluate.run(EvaluateRequest(classified=small_scene["labels"], labels=small_scene["labels"],
                                            model=small_scene["model"], report=str(tmp_path / "b.json"),
                                            title="Trento, spring survey"))
    assert _h1(Path(explicit.report_html).read_text()) == "Trento, spring survey"
