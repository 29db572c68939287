import json
import re
import subprocess
import sys

import numpy as np
import pytest

from mmlgnet_qgis.core.metrics import accuracy_report
from mmlgnet_qgis.report import (QUICKLOOK_MAX_PX, format_report_text, quicklook_stride,
                                 render_class_map_png, render_confusion_png, render_curves_png,
                                 write_report)

NAMES = ["Apple <trees>", "Buildings", "Ground"]  # '<' checks HTML escaping
COLOURS = ["#2e8b57", "#d62728", "#c8a165"]
REF = np.array([[1, 1, 1, 1, 2], [2, 2, 3, 3, 3], [0, 0, 0, 0, 0]])
PRED = np.array([[1, 1, 1, 2, 2], [2, 3, 3, 1, 0], [0, 1, 2, 3, 0]])
HISTORY = {"epoch": [1, 2, 3, 4], "loss": [1.0, 0.6, 0.4, 0.3], "train_oa": [40, 60, 70, 80],
           "val_oa": [None, 55.0, None, 60.0], "lr": [1e-3, 1e-3, 5e-4, 1e-4]}


def _png_size(path):
    from matplotlib.image import imread
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img.shape[1], img.shape[0]  # (width, height)


@pytest.fixture()
def report():
    r = accuracy_report(REF, PRED, NAMES)
    r["scene"] = "trento"  # an extra key the caller adds: must survive into the JSON
    return r


def test_write_report_full(tmp_path, report):
    out = tmp_path / "sub" / "acc.json"
    class_map = PRED.copy()
    paths = write_report(report, str(out), NAMES, COLOURS, history=HISTORY, class_map=class_map,
                         title="Trento test")

    assert paths == {"json": str(out), "html": str(tmp_path / "sub" / "acc.html"),
                     "confusion_png": str(tmp_path / "sub" / "acc_confusion.png"),
                     "curves_png": str(tmp_path / "sub" / "acc_curves.png"),
                     "map_png": str(tmp_path / "sub" / "acc_map.png")}

    data = json.loads(out.read_text())
    assert set(data) == {"oa", "aa", "kappa", "per_class", "confusion", "n_pixels",
                         "unclassified", "scene", "history"}
    assert data["oa"] == pytest.approx(60.0)
    assert data["aa"] == pytest.approx(175 / 3)
    assert data["kappa"] == pytest.approx(100 * 0.29 / 0.69)
    assert data["confusion"] == [[3, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert data["per_class"] == report["per_class"]
    assert (data["n_pixels"], data["unclassified"], data["scene"]) == (10, 1, "trento")
    assert data["history"] == HISTORY

    page = (tmp_path / "sub" / "acc.html").read_text()
    for number in ("60.00", "58.33", "42.03", "75.00", "66.67", "33.33"):
        assert number in page
    assert "Trento test" in page
    assert "Apple &lt;trees&gt;" in page and "Apple <trees>" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    import base64
    assert all(base64.b64decode(b).startswith(b"\x89PNG") for b in images)
    assert "<img" in page and 'src="acc_' not in page  # self-contained: no file links

    for key, (lo, hi) in {"confusion_png": (250, 1600), "curves_png": (250, 2000),
                          "map_png": (200, 1600)}.items():
        w, h = _png_size(paths[key])
        assert lo <= max(w, h) <= hi, (key, w, h)
        assert min(w, h) >= 100, (key, w, h)


def test_write_report_minimal(tmp_path, report):
    paths = write_report(report, tmp_path / "r.json", NAMES, COLOURS)
    assert paths["curves_png"] is None and paths["map_png"] is None
    assert not (tmp_path / "r_curves.png").exists() and not (tmp_path / "r_map.png").exists()
    assert (tmp_path / "r_confusion.png").is_file()
    data = json.loads((tmp_path / "r.json").read_text())
    assert "history" not in data
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 1
    assert "Training curves" not in page


def test_json_is_strict_with_numpy_and_nan(tmp_path, report):
    report["extra"] = {"lr": np.float32(0.5), "arr": np.arange(3), "bad": float("nan")}
    write_report(report, tmp_path / "r.json", NAMES, COLOURS)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["extra"] == {"lr": 0.5, "arr": [0, 1, 2], "bad": None}


def test_render_functions_standalone(tmp_path):
    p = render_confusion_png([[5, 1], [0, 0]], ["x", "y"], tmp_path / "c.png")  # empty row ok
    assert _png_size(p)[0] > 100
    assert render_curves_png({"loss": [1.0, 0.5]}, tmp_path / "l.png") is not None
    assert render_curves_png({"epoch": [1, 2]}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    with pytest.raises(ValueError, match="class names"):
        render_confusion_png([[1, 0], [0, 1]], ["only one"], tmp_path / "bad.png")


def test_quicklook_downsamples_big_map(tmp_path):
    # 20000 x 20000 without allocating 400 MB: a broadcast (zero-stride) view of one row.
    row = np.repeat(np.arange(4, dtype=np.uint8), 5000)  # 0 (nodata) and classes 1..3
    big = np.broadcast_to(row, (20000, 20000))
    stride = quicklook_stride(big.shape)
    assert stride == 17 and 20000 / stride <= QUICKLOOK_MAX_PX
    path = render_class_map_png(big, COLOURS, NAMES, tmp_path / "big.png")
    w, h = _png_size(path)
    assert max(w, h) <= 1500 and min(w, h) >= 1000


def test_class_map_nodata_black_and_colours(tmp_path):
    from matplotlib.image import imread
    cm = np.zeros((300, 300), np.int16)
    cm[:, 150:] = 2
    img = imread(render_class_map_png(cm, COLOURS, NAMES, tmp_path / "m.png"))
    rgb = (img[..., :3] * 255).round().astype(int).reshape(-1, 3)
    colours = {tuple(c) for c in rgb}
    assert (0, 0, 0) in colours  # nodata shows black
    assert (0xd6, 0x27, 0x28) in colours  # class 2 in its own colour


def test_class_map_out_of_range(tmp_path):
    with pytest.raises(ValueError, match="class id 9"):
        render_class_map_png(np.full((5, 5), 9), COLOURS, NAMES, tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        render_class_map_png(np.ones((2, 5, 5), int), COLOURS, NAMES, tmp_path / "x.png")


def test_format_report_text(report):
    text = format_report_text(report)
    first = text.splitlines()[0]
    assert "OA 60.00" in first and "AA 58.33" in first and "Kappa 42.03" in first
    assert "1 unclassified" in text
    lines = [ln for ln in text.splitlines() if "(n=" in ln]
    assert len(lines) == 3
    assert "Apple <trees>" in lines[0] and "75.00" in lines[0] and "n=4" in lines[0]
    report["per_class"][2]["accuracy"] = None
    assert "n/a" in format_report_text(report)


def test_import_is_cheap():
    code = "import sys, mmlgnet_qgis.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
