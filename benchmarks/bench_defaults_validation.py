"""Re-check the training defaults on validation pixels only (never the test labels).

Each variant changes one setting from the defaults and trains with a spatially blocked
validation hold-out (the same `--validation-fraction` blocks training uses); the score is the
validation OA of the last epoch and the best epoch. The test split is not read. A variant
replaces a default only when it beats it on validation by more than the spread between seeds.
Accuracies are on semi-synthetic HSI over real labels and LiDAR.

    .venv/bin/python benchmarks/bench_defaults_validation.py --scene trento --seeds 0,1 --out val.jsonl
    .venv/bin/python benchmarks/bench_defaults_validation.py --report val.jsonl --md benchmarks/results/defaults_validation.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import commit, machine  # noqa: E402
from bench_language import embeddings, prepared  # noqa: E402
from mmlgnet_qgis.core import defaults  # noqa: E402
from mmlgnet_qgis.core.distill import ensemble_logits, scene_logits  # noqa: E402
from mmlgnet_qgis.core.prompts import scene_prompt_set  # noqa: E402
from mmlgnet_qgis.core.training import TrainConfig, train_model  # noqa: E402

# name -> TrainConfig overrides ("model" overrides ModelConfig); one setting moved at a time
VARIANTS = {
    "defaults": {},
    "epochs 40": {"epochs": 40},
    "epochs 90": {"epochs": 90},
    "patch 11": {"model": {"patch_size": 11}},
    "patch 19": {"model": {"patch_size": 19}},
    "lr 1e-3": {"lr": 1e-3},
    "lr 4e-3": {"lr": 4e-3},
    "ce_weight 0.5": {"ce_weight": 0.5},
    "distill_weight 0": {"distill_weight": 0.0},
    "label_smoothing 0": {"label_smoothing": 0.0},
    "head linear": {"head": "linear"},
    "head random": {"head": "random"},   # fixed random unit prototypes instead of the prompts' embeddings
    "loss pixel2text": {"loss": "pixel2text"},
    "dropout 0": {"model": {"dropout": 0.0}},
    "ce_weight 1": {"ce_weight": 1.0},
}
# The distilled preset: standard teachers (prompt or plain-classifier head) trained on the same
# split, then the fast student; the student's validation OA is the score. "text+ce": one prompt-head
# teacher trained with the auxiliary cross-entropy head too (ce_weight 1), both of its heads teaching.
TEACHERS = {"distilled (text teacher)": ("text",), "distilled (linear teacher)": ("linear",),
            "distilled (text + linear teachers)": ("text", "linear"),   # the mean of their distributions
            "distilled (one teacher with both heads)": ("text+ce",)}


def train_variant(arrays, name: str, seed: int, emb: np.ndarray, fraction: float, held=None) -> tuple:
    """Train one variant; its validation pixels: `held` (one bool per labelled pixel), else blocked by `fraction`.

    Returns:
        (history, outcome) of the scored network (the student, for a distilled variant).
    """
    hsi, lidar, train, _test = arrays  # the test split is never looked at
    outcome: dict = {}
    if name in TEACHERS:  # the same validation pixels (same seed, patch and labels, or `held`) for both
        cfg = TrainConfig(seed=seed, device="cpu", validation_fraction=fraction,
                          model=dict(defaults.PRESETS["distilled"]))
        logits = []
        for spec in TEACHERS[name]:
            both = spec == "text+ce"
            tcfg = TrainConfig(seed=seed, device="cpu", validation_fraction=fraction,
                               head="text" if both else spec, ce_weight=1.0 if both else defaults.CE_WEIGHT,
                               model=dict(defaults.PRESETS[defaults.TEACHER_PRESET]))
            teacher, _ = train_model(hsi, lidar, train, emb, tcfg, held=held)
            logits += [scene_logits(teacher, hsi, lidar, head=h) for h in (("text", "linear") if both else (spec,))]
        logits = ensemble_logits(logits, cfg.teacher_temperature)
        _model, hist = train_model(hsi, lidar, train, emb, cfg, outcome=outcome, teacher_logits=logits, held=held)
    else:
        cfg = TrainConfig(seed=seed, device="cpu", validation_fraction=fraction, **VARIANTS[name])
        _model, hist = train_model(hsi, lidar, train, emb, cfg, outcome=outcome, held=held)
    return hist, outcome


def run(scene: str, arrays, name: str, seed: int, fraction: float, encoders: dict) -> dict:
    emb = embeddings("text", scene_prompt_set(scene), encoders)
    hist, outcome = train_variant(arrays, name, seed, emb, fraction)
    val = hist["val_oa"]
    return {"scene": scene, "variant": name, "seed": seed, "validation_fraction": fraction,
            "validation_pixels": outcome["validation_pixels"], "val_oa_last": val[-1],
            "val_oa_best": max(val), "best_epoch": int(np.argmax(val)) + 1, "epochs": len(val),
            "train_seconds": hist["seconds"][-1]}


def component_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold (0..folds-1) of each labelled pixel, in `np.nonzero(labels)` order: whole connected regions.

    Each class's 8-connected regions are dealt, largest first, to the fold holding the fewest of that
    class's pixels so far; a class with one region is never held out (it would lose all its training).
    """
    from scipy import ndimage
    fold = np.full(labels.shape, -1, np.int64)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels[labels > 0]):
        regions, n = ndimage.label(labels == c, structure=np.ones((3, 3)))
        if n < 2:
            continue
        sizes = np.bincount(regions.ravel())[1:]
        load = np.zeros(folds)
        for r in sorted(rng.permutation(n), key=lambda r: -sizes[r]):
            f = int(np.argmin(load + rng.random(folds) * 1e-6))   # ties broken at random
            fold[regions == r + 1] = f
            load[f] += sizes[r]
    return fold[np.nonzero(labels)]


def run_cv(scene: str, arrays, name: str, seed: int, folds: int, encoders: dict) -> dict:
    """Cross-validation over whole labelled regions: each region is validated once, by a model that never saw it."""
    emb = embeddings("text", scene_prompt_set(scene), encoders)
    fold = component_folds(arrays[2], folds, seed)
    correct, pixels, per_fold, seconds = 0.0, 0, [], 0.0
    for f in range(folds):
        held = fold == f
        hist, _ = train_variant(arrays, name, seed, emb, 0.0, held=held)
        per_fold.append(hist["val_oa"][-1])
        correct += hist["val_oa"][-1] / 100 * int(held.sum())
        pixels += int(held.sum())
        seconds += hist["seconds"][-1]
    return {"scene": scene, "variant": name, "seed": seed, "split": f"regions, {folds} folds",
            "validation_pixels": pixels, "val_oa_last": 100 * correct / pixels, "val_oa_folds": per_fold,
            "train_seconds": seconds}


def report(files: list[str], md: str) -> None:
    recs = [json.loads(line) for f in files for line in open(f) if line.strip()]
    meta = [r for r in recs if r.get("job") == "meta"]
    # a rerun of the same (scene, variant, seed) is deterministic on CPU: keep one record
    runs = list({(r["scene"], r["variant"], r["seed"], r.get("split")): r for r in recs if r.get("job") != "meta"}.values())
    cv = [r for r in runs if r.get("split")]
    runs = [r for r in runs if not r.get("split")]
    lines = ["# Training defaults re-checked on validation (semi-synthetic HSI over real labels and LiDAR)", "",
             f"- commands: {'; '.join(sorted({m['command'] for m in meta}))}",
             f"- commits: {', '.join(sorted({m['commit'] for m in meta}))}; machine: {meta[0]['machine'] if meta else '?'}",
             "- score: OA on spatially blocked validation pixels held out of the training split; the test "
             "labels are not read. One setting moved at a time from the defaults. Cores shared with other "
             "runs (train seconds are not comparable between rows).", ""]
    for scene in sorted({r["scene"] for r in runs}):
        rows = [r for r in runs if r["scene"] == scene]
        base = [r["val_oa_last"] for r in rows if r["variant"] == "defaults"]
        lines += [f"## {scene} ({rows[0]['validation_pixels']} validation px per run)", "",
                  "| variant | seeds | val OA last epoch % | val OA best epoch % | best epoch | vs defaults |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in [*VARIANTS, *TEACHERS]:
            rs = [r for r in rows if r["variant"] == name]
            if not rs:
                continue
            last = np.array([r["val_oa_last"] for r in rs])
            best = np.array([r["val_oa_best"] for r in rs])
            delta = f"{last.mean() - np.mean(base):+.2f}" if base else "?"
            lines.append(f"| {name} | {', '.join(str(r['seed']) for r in rs)} | {last.mean():.2f} ± {last.std():.2f} "
                         f"| {best.mean():.2f} | {', '.join(str(r['best_epoch']) for r in rs)} | {delta} |")
        lines.append("")
    for scene in sorted({r["scene"] for r in cv}):
        rows = [r for r in cv if r["scene"] == scene]
        lines += [f"## {scene}: cross-validation over whole labelled regions ({rows[0]['split']}, "
                  f"{rows[0]['validation_pixels']} px: every training pixel validated once)", "",
                  "Each class's 8-connected labelled regions are dealt to the folds; a fold's model never saw "
                  "its regions, as the test split's models never saw the test areas.", "",
                  "| variant | seeds | CV OA % (last epoch) | per seed | per fold (seed order) |", "| --- | --- | --- | --- | --- |"]
        for name in [*VARIANTS, *TEACHERS]:
            rs = sorted((r for r in rows if r["variant"] == name), key=lambda r: r["seed"])
            if rs:
                oa = np.array([r["val_oa_last"] for r in rs])
                folds = "; ".join(", ".join(f"{v:.1f}" for v in r["val_oa_folds"]) for r in rs)
                lines.append(f"| {name} | {', '.join(str(r['seed']) for r in rs)} | {oa.mean():.2f} ± {oa.std():.2f} | "
                             f"{', '.join(f'{v:.2f}' for v in oa)} | {folds} |")
        lines.append("")
    Path(md).write_text("\n".join(lines) + "\n")
    print(f"wrote {md}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--scene", default="trento")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"also: {', '.join(TEACHERS)}")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--validation-fraction", type=float, default=0.2)
    ap.add_argument("--region-folds", type=int, default=0,
                    help="K > 1: K-fold cross-validation over whole labelled regions instead of the blocked hold-out")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="defaults_validation.jsonl")
    ap.add_argument("--report", nargs="+")
    ap.add_argument("--md", default="benchmarks/results/defaults_validation.md")
    args = ap.parse_args()
    if args.report:
        return report(args.report, args.md)
    torch.set_num_threads(args.threads)
    arrays = prepared(args.scene, args.data)
    encoders: dict = {}
    with open(args.out, "a") as out:
        out.write(json.dumps({"job": "meta", "command": "python " + " ".join(sys.argv), "commit": commit(),
                              "machine": machine()}) + "\n")
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.variants.split(","):
                rec = (run_cv(args.scene, arrays, name, seed, args.region_folds, encoders) if args.region_folds > 1
                       else run(args.scene, arrays, name, seed, args.validation_fraction, encoders))
                print(json.dumps(rec), flush=True)
                out.write(json.dumps(rec) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
