"""Accuracy report files: report.json, a self-contained HTML page and PNG figures.

matplotlib is imported inside the functions (importing this module stays cheap, e.g. when
QGIS loads the plugin) and only through ``Figure`` + ``FigureCanvasAgg``: pyplot and
``matplotlib.use`` would touch global backend state that QGIS's own Qt session relies on.
"""
from __future__ import annotations

import base64
import html
import json
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .core.atomic_files import atomic_path, write_text_atomic
from .core.errors import InputError

# Debian's matplotlib beside the venv's (QGIS needs --system-site-packages): 3-D axes are unused.
warnings.filterwarnings("ignore", message="Unable to import Axes3D")

# Long side (px) of the downsampled class map drawn in the quick-look; the legend comes on top,
# keeping the whole PNG within ~1500 px.
QUICKLOOK_MAX_PX = 1200
_DPI = 100
_NODATA_COLOUR = "#000000"


# --------------------------------------------------------------------------- helpers


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def _jsonable(obj):
    """numpy scalars/arrays -> Python; non-finite floats -> None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _save(fig, path) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", pad_inches=0.1, facecolor="white", format="png")
    return str(path)


def _series(history: dict, key: str) -> np.ndarray | None:
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    # None (epoch without validation) -> NaN, which matplotlib leaves as a gap.
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return arr if np.isfinite(arr).any() else None


def _xs(history: dict, n: int, key: str = "epoch") -> np.ndarray:
    epoch = history.get(key)
    if epoch is not None and len(epoch) == n:
        return np.asarray(epoch, dtype=float)
    return np.arange(1, n + 1, dtype=float)


def quicklook_stride(shape: Sequence[int], max_px: int = QUICKLOOK_MAX_PX) -> int:
    """Smallest integer stride that brings the long side of ``shape`` to <= max_px."""
    long_side = max(int(shape[0]), int(shape[1]), 1)
    return max(1, math.ceil(long_side / max_px))


# --------------------------------------------------------------------------- figures


def render_confusion_png(confusion, class_names: Sequence[str], path, title: str = "") -> str:
    """Row-normalised confusion heat map (rows = reference), raw counts written in each cell."""
    from matplotlib.figure import Figure

    conf = np.asarray(confusion, dtype=np.int64)
    k = conf.shape[0]
    if conf.shape != (k, k) or k != len(class_names):
        raise InputError(f"confusion shape {conf.shape} does not fit {len(class_names)} class names")
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros(conf.shape, dtype=float), where=rows > 0)

    side = min(max(4.0, 0.55 * k + 2.5), 14.0)
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of reference row")
    ticks = np.arange(k)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(class_names, fontsize=8)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Reference")
    ax.set_title(title or "Confusion matrix (row-normalised)")
    if k <= 30:  # beyond that the counts are unreadable anyway
        fontsize = 8 if k <= 12 else 6
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(conf[i, j])), ha="center", va="center", fontsize=fontsize,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    return _save(fig, path)


def render_curves_png(history: dict, path, title: str = "") -> str | None:
    """Training curves: loss, train/val OA and learning rate, for whichever series exist.

    ``history`` = {"epoch": [...], "loss": [...], "train_oa": [...], "val_oa": [...],
    "lr": [...]}; all optional. ``val_oa`` may hold None for epochs without validation, or
    come with its own "val_epoch" list. Returns None (nothing written) when nothing is plottable.
    """
    from matplotlib.figure import Figure

    loss = _series(history, "loss")
    train_oa = _series(history, "train_oa")
    val_oa = _series(history, "val_oa")
    lr = _series(history, "lr")
    panels = [p for p in ("loss", "oa", "lr")
              if (p == "loss" and loss is not None) or (p == "lr" and lr is not None)
              or (p == "oa" and (train_oa is not None or val_oa is not None))]
    if not panels:
        return None

    fig = Figure(figsize=(4.2 * len(panels), 3.4))
    for n, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), n)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("epoch")
        if panel == "loss":
            ax.plot(_xs(history, len(loss)), loss, color="tab:red")
            ax.set_title("Training loss")
        elif panel == "oa":
            if train_oa is not None:
                ax.plot(_xs(history, len(train_oa)), train_oa, label="train OA")
            if val_oa is not None:
                xs = _xs(history, len(val_oa), "val_epoch" if "val_epoch" in history else "epoch")
                ax.plot(xs[np.isfinite(val_oa)], val_oa[np.isfinite(val_oa)], marker="o",
                        markersize=3, label="val OA")
            ax.set_ylabel("%")
            ax.set_title("Overall accuracy")
            ax.legend(fontsize=8)
        else:
            ax.plot(_xs(history, len(lr)), lr, color="tab:green")
            # Log scale only pays off when the schedule spans decades (step decay, warm-up).
            if np.nanmin(lr) > 0 and np.nanmax(lr) / np.nanmin(lr) > 50:
                ax.set_yscale("log")
            ax.set_title("Learning rate")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _quicklook_rgba(class_map, colours_hex: Sequence[str]) -> tuple[np.ndarray, int, bool]:
    """Strided RGBA quick-look (nodata transparent), the stride used, whether nodata occurs."""
    from matplotlib.colors import to_rgba

    cm = class_map if isinstance(class_map, np.ndarray) else np.asarray(class_map)
    if cm.ndim != 2:
        raise InputError(f"class_map must be 2-D, got shape {cm.shape}")
    stride = quicklook_stride(cm.shape)
    # Striding before any conversion: only the small sample is ever copied.
    small = np.asarray(cm[::stride, ::stride])
    if not np.issubdtype(small.dtype, np.integer):
        small = np.where(np.isfinite(small), small, 0)
    small = small.astype(np.int64)
    k = len(colours_hex)
    if small.size and (small.min() < 0 or small.max() > k):
        bad = small.min() if small.min() < 0 else small.max()
        raise InputError(f"class_map: class id {bad} out of range 0..{k}")
    lut = np.zeros((k + 1, 4), dtype=np.uint8)  # row 0 = nodata, fully transparent
    for i, c in enumerate(colours_hex, start=1):
        lut[i] = np.round(np.array(to_rgba(c)) * 255)
    return lut[small], stride, bool((small == 0).any())


def render_class_map_png(class_map, colours_hex: Sequence[str], class_names: Sequence[str],
                         path, title: str = "") -> str:
    """Quick-look of a classified map (ids 1..K, 0 = nodata drawn black) with a class legend.

    Maps larger than QUICKLOOK_MAX_PX are sampled with an integer stride, so the PNG stays
    within ~1500 px and memory stays small even for 20000 x 20000 maps.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if len(colours_hex) < len(class_names):
        raise InputError(f"{len(class_names)} class names but only {len(colours_hex)} colours")
    rgba, stride, has_nodata = _quicklook_rgba(class_map, colours_hex[:len(class_names)])
    h, w = rgba.shape[:2]
    # Small maps (benchmarks are a few hundred px) are enlarged so classes stay visible.
    scale = min(QUICKLOOK_MAX_PX / max(h, w, 1), max(1.0, 600 / max(h, w, 1)))
    map_w, map_h = w * scale / _DPI, h * scale / _DPI

    handles = [Patch(facecolor=c, edgecolor="grey", label=f"{i}  {n}")
               for i, (c, n) in enumerate(zip(colours_hex, class_names), start=1)]
    if has_nodata:
        handles.append(Patch(facecolor=_NODATA_COLOUR, edgecolor="grey", label="0  nodata"))
    longest = max((len(hd.get_label()) for hd in handles), default=10)
    legend_w = min(0.35 + 0.075 * longest, 3.0)
    legend_h = 0.3 + 0.22 * len(handles)

    has_title = bool(title) or stride > 1
    top = 0.3 if has_title else 0.05
    fig = Figure(figsize=(map_w + legend_w + 0.2, max(map_h, legend_h) + top + 0.05))
    # Axes placed in figure fractions so the map is drawn at (almost) 1:1 pixels.
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes([0.1 / fw, (fh - map_h - top) / fh, map_w / fw, map_h / fh])
    ax.set_facecolor(_NODATA_COLOUR)  # transparent nodata pixels show the black background
    ax.imshow(rgba, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    if has_title:
        suffix = f" (1 of every {stride} px)" if stride > 1 else ""
        ax.set_title((title or "Classified map") + suffix, fontsize=9)
    fig.legend(handles=handles, loc="upper left", fontsize=8, frameon=False,
               bbox_to_anchor=((0.2 + map_w) / fw, 1.0 - 0.05 / fh))
    return _save(fig, path)


# --------------------------------------------------------------------------- text / page


def format_report_text(report: dict) -> str:
    """Short plain-text summary (OA/AA/Kappa, then one line per class) for logs and feedback."""
    lines = [f"OA {_fmt(report.get('oa'))} %   AA {_fmt(report.get('aa'))} %   "
             f"Kappa {_fmt(report.get('kappa'))} %"]
    if report.get("note"):
        lines.append(f"Note: {report['note']}")
    extra = []
    if report.get("n_pixels") is not None:
        extra.append(f"{report['n_pixels']} labelled pixels")
    if report.get("unclassified"):
        extra.append(f"{report['unclassified']} unclassified (counted wrong)")
    if extra:
        lines.append(", ".join(extra))
    per_class = report.get("per_class") or []
    width = max((len(str(c.get("name", ""))) for c in per_class), default=0)
    for c in per_class:
        lines.append(f"  {c.get('id', ''):>3} {str(c.get('name', '')):<{width}}  "
                     f"{_fmt(c.get('accuracy')):>6} %  (n={c.get('support', 0)})")
    return "\n".join(lines)


def _img_tag(png_path: str | None, alt: str) -> str:
    if not png_path:
        return ""
    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em}
.headline{display:flex;gap:1.2em;margin:1em 0}
.metric{border:1px solid #ccc;border-radius:6px;padding:.6em 1.2em;text-align:center}
.metric .v{font-size:1.8em;font-weight:600} .metric .k{color:#666}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .6em}
th{background:#f4f4f4} td.num{text-align:right} .sw{display:inline-block;width:1em;height:1em;
border:1px solid #888;vertical-align:middle} img{max-width:100%;height:auto}
.note{color:#666;font-size:.85em}
.banner{background:#fff4d1;border:2px solid #e4b000;border-radius:6px;padding:.7em 1em;margin:1em 0;
font-size:1.05em;color:#4d3800}
"""


def default_title(report: dict, today: str | None = None) -> str:
    """'MMLGNet accuracy: Trento, model m1, 2026-12-03' from what the report knows (scene, model,
    date); the classified map's name only when it knows neither scene nor model."""
    from datetime import date
    parts = []
    if report.get("scene"):
        parts.append(str(report["scene"]).capitalize())
    if report.get("model"):
        parts.append(f"model {Path(str(report['model'])).stem}")
    elif not parts and report.get("classified"):
        parts.append(f"map {Path(str(report['classified'])).stem}")
    parts.append(str(report.get("date") or today or date.today().isoformat()))
    return "MMLGNet accuracy: " + ", ".join(parts)


def _banner(note: str) -> str:
    """The semi-synthetic warning, above the numbers: they are not comparable with published ones."""
    return ('<p class="banner" role="note"><strong>&#9888; Semi-synthetic data:</strong> '
            f"{html.escape(note)}. These accuracies are not comparable with results published on the "
            "real scenes.</p>")


def _html_page(report: dict, class_names, colours_hex, images: dict, title: str) -> str:
    esc = html.escape
    title = title or default_title(report)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{esc(title)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{esc(title)}</h1>"]
    if report.get("note"):
        out.append(_banner(str(report["note"])))
    out.append('<div class="headline">')
    for key, label in (("oa", "Overall accuracy"), ("aa", "Average accuracy"), ("kappa", "Kappa")):
        out.append(f'<div class="metric"><div class="v">{_fmt(report.get(key))}%</div>'
                   f'<div class="k">{label} ({key.upper() if key != "kappa" else "&kappa;"})</div></div>')
    out.append("</div>")
    n_pix, uncl = report.get("n_pixels"), report.get("unclassified")
    if n_pix is not None:
        note = f"{n_pix} labelled reference pixels scored"
        if uncl:
            note += f"; {uncl} of them unclassified (predicted nodata), counted as errors"
        out.append(f'<p class="note">{esc(note)}.</p>')

    out.append("<h2>Per-class accuracy</h2><table><tr><th>ID</th><th></th><th>Class</th>"
               "<th>Accuracy (%)</th><th>Reference pixels</th></tr>")
    for c in report.get("per_class") or []:
        i = int(c.get("id", 0))
        colour = colours_hex[i - 1] if 0 < i <= len(colours_hex) else "#ffffff"
        out.append(f'<tr><td class="num">{i}</td><td><span class="sw" style="background:'
                   f'{esc(colour)}"></span></td><td>{esc(str(c.get("name", "")))}</td>'
                   f'<td class="num">{_fmt(c.get("accuracy"))}</td>'
                   f'<td class="num">{c.get("support", "")}</td></tr>')
    out.append("</table>")

    if images.get("confusion_png"):
        out.append("<h2>Confusion matrix</h2>")
        out.append(_img_tag(images["confusion_png"], "confusion matrix"))
        conf = report.get("confusion") or []
        if conf and len(conf) <= 30:
            out.append('<p class="note">Counts (rows = reference, columns = predicted):</p>'
                       "<table><tr><th></th>")
            out.extend(f"<th>{esc(str(n))}</th>" for n in class_names)
            out.append("</tr>")
            for name, row in zip(class_names, conf):
                out.append(f"<tr><th>{esc(str(name))}</th>"
                           + "".join(f'<td class="num">{int(v)}</td>' for v in row) + "</tr>")
            out.append("</table>")
    if images.get("curves_png"):
        out.append("<h2>Training curves</h2>")
        out.append(_img_tag(images["curves_png"], "training curves"))
    if images.get("map_png"):
        out.append("<h2>Classified map (quick-look)</h2>")
        out.append(_img_tag(images["map_png"], "classified map quick-look"))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(report: dict, out_json, class_names: Sequence[str], colours_hex: Sequence[str],
                 history: dict | None = None, class_map: np.ndarray | None = None,
                 title: str = "") -> dict:
    """Write ``out_json`` and, beside it, ``<stem>.html`` plus the PNGs it embeds.

    The JSON holds ``report`` as given (any extra keys the caller put in it included) plus
    ``history`` when one is passed. PNGs: ``<stem>_confusion.png`` (when the report has a
    confusion matrix), ``<stem>_curves.png`` (when ``history`` has something to plot),
    ``<stem>_map.png`` (when ``class_map`` is given). The HTML embeds them as base64, so it
    stands alone. Returns {"json", "html", "confusion_png", "curves_png", "map_png"} -> path
    or None. An empty ``title`` becomes default_title(report) (scene, model, date); a report
    "note" (semi-synthetic data) is shown as a banner above the scores.
    """
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    stem = out_json.parent / out_json.stem
    class_names = [str(n) for n in class_names]
    colours_hex = [str(c) for c in colours_hex]

    payload = dict(report)
    if history is not None:
        payload["history"] = history
    write_text_atomic(out_json, json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")

    paths: dict = {"json": str(out_json), "confusion_png": None, "curves_png": None,
                   "map_png": None}
    if report.get("confusion"):
        paths["confusion_png"] = render_confusion_png(report["confusion"], class_names,
                                                      f"{stem}_confusion.png")
    if history:
        paths["curves_png"] = render_curves_png(history, f"{stem}_curves.png")
    if class_map is not None:
        paths["map_png"] = render_class_map_png(class_map, colours_hex, class_names,
                                                f"{stem}_map.png")

    html_path = Path(f"{stem}.html")
    write_text_atomic(html_path, _html_page(report, class_names, colours_hex, paths, title))
    paths["html"] = str(html_path)
    return paths


def write_training_page(history: dict, summary: dict, settings: dict, html_path) -> str:
    """A self-contained HTML page for one training run: summary, curves and settings.

    Args:
        history: per-epoch curves (loss, train_oa, lr).
        summary: label -> value lines shown at the top (classes, encoder, pixels, ...).
        settings: the training settings, shown as a table.
        html_path: the page to write; the curves PNG goes beside it as <stem>_curves.png.

    Returns:
        The page's path.
    """
    html_path = Path(html_path)
    png = render_curves_png(history, html_path.with_name(html_path.stem + "_curves.png"), "Training")
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(json.dumps(v))}</td></tr>" for k, v in settings.items())
    lines = "<br>".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in summary.items())
    write_text_atomic(html_path, "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>MMLGNet training</title>',
        f"<style>{_CSS}</style></head><body>", "<h1>MMLGNet training</h1>", f"<p>{lines}</p>",
        _img_tag(png, "training curves"), "<h2>Settings</h2>", f"<table>{rows}</table>", "</body></html>"]))
    return str(html_path)
