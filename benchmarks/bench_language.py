"""What the language buys: the same network and schedule with four heads, few-shot, open-set.

Heads: text (MiniLM prompt embeddings, the default), random (fixed random unit prototypes),
linear (plain classifier + cross-entropy, no text), clip-random (open_clip ViT-B-32 text tower
with random weights). Open-set: train without one class (labels and prompts), calibrate the
per-class thresholds on held-out validation blocks, count its test pixels that become unknown.
Accuracies are on semi-synthetic HSI over real labels and LiDAR (../shared/data/README.md).

    .venv/bin/python benchmarks/bench_language.py --jobs heads --seeds 0 --threads 1 --out results.jsonl
    .venv/bin/python benchmarks/bench_language.py --report a.jsonl b.jsonl --md benchmarks/results/language.md
Each finished run is appended to --out as one JSON line, so a run cut short keeps what it did.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import commit, load_scene, machine  # noqa: E402
from mmlgnet_qgis.core.inference import reflect_pad, tile_windows  # noqa: E402
from mmlgnet_qgis.core.metrics import accuracy_report  # noqa: E402
from mmlgnet_qgis.core.normalization import band_stats, normalise  # noqa: E402
from mmlgnet_qgis.core.prompts import PromptSet, class_embeddings, scene_prompt_set  # noqa: E402
from mmlgnet_qgis.core.scenes import SCENES  # noqa: E402
from mmlgnet_qgis.core.text_encoders import build_text_encoder, save_random_clip_checkpoint  # noqa: E402
from mmlgnet_qgis.core.training import TrainConfig, train_model  # noqa: E402
from mmlgnet_qgis.core.validation import apply_unknown  # noqa: E402

HEADS = ("text", "random", "linear", "clip-random")


@torch.no_grad()
def scene_scores(model, hsi, lidar, head, tile=128):
    """(K, H, W): cosines (text heads) or classifier logits (linear), through whole-tile convolution."""
    model.eval()
    k, (h, w) = model.class_embeddings.shape[0], hsi.shape[1:]
    out = np.zeros((k, h, w), np.float32)
    for win in tile_windows(h, w, tile, model.cfg.patch_size // 2):
        cut = lambda a: torch.as_tensor(reflect_pad(a[:, win.ry0:win.ry0 + win.rh, win.rx0:win.rx0 + win.rw],  # noqa: E731
                                                    win.pad))[None]
        res = model(cut(hsi), cut(lidar), with_aux=head == "linear")
        s = res["ce_logits"] if head == "linear" else torch.einsum("bdhw,kd->bkhw", res["embedding"],
                                                                      model.class_embeddings)
        out[:, win.y0:win.y0 + win.h, win.x0:win.x0 + win.w] = s[0].numpy()
    return out


def prepared(scene, data):
    hsi, lidar, train, test = load_scene(scene, data)
    valid = np.isfinite(hsi.array).all(0) & np.isfinite(lidar.array).all(0)
    norm = [normalise(s.array, *band_stats(s.array, valid), valid) for s in (hsi, lidar)]
    return norm[0], norm[1], train, test


def embeddings(head, prompts, encoders):
    if head not in encoders:
        if head == "clip-random":
            ckpt = Path(tempfile.mkdtemp(prefix="mmlgnet-clip-")) / "vit-b-32-random.pt"
            save_random_clip_checkpoint("ViT-B-32", ckpt, seed=0)
            encoders[head] = build_text_encoder(f"clip:ViT-B-32:{ckpt}")
        else:
            encoders[head] = encoders.setdefault("minilm", build_text_encoder("minilm"))
    return class_embeddings(prompts, encoders[head])


def few_shot(train, n, draw):
    """n labelled pixels per class drawn from the training split (draw seeds the choice)."""
    rng = np.random.default_rng(1000 + draw)
    out = np.zeros_like(train)
    for c in np.unique(train[train > 0]):
        r, cc = np.nonzero(train == c)
        pick = rng.choice(r.size, min(n, r.size), replace=False)
        out[r[pick], cc[pick]] = c
    return out


def run_head(scene, arrays, head, seed, epochs, encoders, shots=None, draw=None):
    hsi, lidar, train, test = arrays
    labels = few_shot(train, shots, draw) if shots else train
    emb = embeddings(head, scene_prompt_set(scene), encoders)
    cfg = TrainConfig(epochs=epochs, seed=seed, device="cpu", head="linear" if head == "linear" else
                      ("random" if head == "random" else "text"))
    model, hist = train_model(hsi, lidar, labels, emb, cfg)
    pred = scene_scores(model, hsi, lidar, cfg.head).argmax(0) + 1
    rep = accuracy_report(test, pred, list(SCENES[scene].class_names))
    return {"job": "fewshot" if shots else "heads", "scene": scene, "head": head, "seed": seed, "shots": shots,
            "draw": draw, "oa": rep["oa"], "aa": rep["aa"], "kappa": rep["kappa"],
            "train_seconds": hist["seconds"][-1]}


def run_openset(scene, arrays, drop, seed, epochs, encoders, fraction):
    """Train without class `drop` (1-based); thresholds from validation blocks; score the test pixels."""
    hsi, lidar, train, test = arrays
    full = scene_prompt_set(scene)
    kept = [c for c in full.classes if c.id != drop]
    remap = np.zeros(len(full.classes) + 1, np.int64)
    for new, c in enumerate(kept, 1):
        remap[c.id] = new
    prompts = PromptSet.from_dict({"classes": [{"id": i, "name": c.name, "color": c.color, "prompts": c.prompts}
                                               for i, c in enumerate(kept, 1)], "templates": full.templates})
    outcome = {}
    cfg = TrainConfig(epochs=epochs, seed=seed, device="cpu", validation_fraction=fraction)
    model, hist = train_model(hsi, lidar, remap[train], embeddings("text", prompts, encoders), cfg, outcome=outcome)
    cos = scene_scores(model, hsi, lidar, "text")
    ids, sim = cos.argmax(0).astype(np.uint16) + 1, cos.max(0)
    thr = np.asarray(outcome["unknown_thresholds"])
    res = {"job": "openset", "scene": scene, "dropped": full.classes[drop - 1].name, "seed": seed,
           "validation_fraction": fraction, "validation_pixels": outcome["validation_pixels"],
           "thresholds": thr.round(4).tolist(), "train_seconds": hist["seconds"][-1],
           "final_val_oa": hist["val_oa"][-1] if "val_oa" in hist else None}
    known = (test > 0) & (test != drop)
    unseen = test == drop
    for name, labels_out in (("none", ids), ("auto", apply_unknown(ids, sim, thr))):
        k = len(kept) + 1
        res[name] = {"unseen_unknown_pct": 100.0 * float((labels_out[unseen] == k).mean()),
                     "unseen_to": {kept[c - 1].name: round(100.0 * float((labels_out[unseen] == c).mean()), 2)
                                   for c in range(1, k)},
                     "known_oa": 100.0 * float((labels_out[known] == remap[test[known]]).mean()),
                     "known_unknown_pct": 100.0 * float((labels_out[known] == k).mean())}
    return res


def report(files, md):
    rows = [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.strip()]
    meta = next((r for r in rows if r.get("job") == "meta"), {})
    lines = ["# What the language buys (semi-synthetic HSI over real labels and LiDAR)", "",
             f"- commands: {'; '.join(sorted({r['command'] for r in rows if r.get('job') == 'meta'}))}",
             f"- commit: {meta.get('commit')}, machine: {meta.get('machine')}",
             "- same network (standard widths, patch 15), same schedule (60 epochs, AdamW 2e-3, batch 64, "
             "self-distillation), CPU, one thread per process; only the head differs.", ""]
    heads = [r for r in rows if r.get("job") == "heads"]
    if heads:
        lines += ["## Heads, full training split (Trento TRLabel -> TSLabel)", "",
                  "| head | seeds | OA % | AA % | Kappa % | train s / run |", "| --- | --- | --- | --- | --- | --- |"]
        for h in HEADS:
            rs = [r for r in heads if r["head"] == h]
            if rs:
                a = lambda k: np.array([r[k] for r in rs])  # noqa: E731
                lines.append(f"| {h} | {', '.join(str(r['seed']) for r in rs)} | {a('oa').mean():.2f} ± "
                             f"{a('oa').std():.2f} | {a('aa').mean():.2f} | {a('kappa').mean():.2f} | "
                             f"{a('train_seconds').mean():.0f} |")
    few = [r for r in rows if r.get("job") == "fewshot"]
    if few:
        shots = sorted({r["shots"] for r in few})
        lines += ["", "## Few-shot (n px per class drawn from TRLabel; OA % mean ± std over draws, seed 0)", "",
                  "| head | " + " | ".join(f"{s} px (draws)" for s in shots) + " |",
                  "| --- |" + " --- |" * len(shots)]
        for h in HEADS:
            cells = []
            for s in shots:
                o = np.array([r["oa"] for r in few if r["head"] == h and r["shots"] == s])
                cells.append(f"{o.mean():.2f} ± {o.std():.2f} ({o.size})" if o.size else "—")
            if any(c != "—" for c in cells):
                lines.append(f"| {h} | " + " | ".join(cells) + " |")
    for r in (r for r in rows if r.get("job") == "openset"):
        lines += ["", f"## Open set: trained without '{r['dropped']}' (seed {r['seed']}, validation fraction "
                  f"{r['validation_fraction']}, {r['validation_pixels']} validation px)", "",
                  f"- per-class thresholds (5th percentile of each class's own winning cosine on validation): "
                  f"{r['thresholds']}",
                  "| threshold | unseen class -> unknown % | known classes OA % | known classes -> unknown % |",
                  "| --- | --- | --- | --- |"]
        for name in ("none", "auto"):
            v = r[name]
            lines.append(f"| {name} | {v['unseen_unknown_pct']:.2f} | {v['known_oa']:.2f} | "
                         f"{v['known_unknown_pct']:.2f} |")
        lines.append(f"- without a threshold its pixels went to: {r['none']['unseen_to']}")
    Path(md).write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--scene", default="trento")
    ap.add_argument("--jobs", default="openset,heads", help="openset, heads, fewshot (comma-separated, in order)")
    ap.add_argument("--heads", default=",".join(HEADS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--shots", default="5,10,20,50")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--drop", default="6", help="class ids (1-based) left out of training, one run each")
    ap.add_argument("--validation-fraction", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="language.jsonl")
    ap.add_argument("--report", nargs="+", help="JSON-lines files to turn into --md")
    ap.add_argument("--md", default="benchmarks/results/language.md")
    args = ap.parse_args()
    if args.report:
        return report(args.report, args.md)
    torch.set_num_threads(args.threads)
    arrays, encoders = prepared(args.scene, args.data), {}
    out = open(args.out, "a")

    def emit(rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()
        print(json.dumps(rec)[:300], flush=True)
    emit({"job": "meta", "command": " ".join(["python"] + sys.argv), "commit": commit(), "machine": machine(),
          "date": time.strftime("%Y-%m-%d %H:%M")})
    seeds = [int(s) for s in args.seeds.split(",")]
    heads = args.heads.split(",")
    for job in args.jobs.split(","):
        if job == "openset":
            for drop in (int(d) for d in args.drop.split(",")):
                emit(run_openset(args.scene, arrays, drop, seeds[0], args.epochs, encoders, args.validation_fraction))
        elif job == "heads":
            for seed in seeds:
                for head in heads:
                    emit(run_head(args.scene, arrays, head, seed, args.epochs, encoders))
        elif job == "fewshot":
            for draw in range(args.draws):
                for shots in (int(s) for s in args.shots.split(",")):
                    for head in heads:
                        emit(run_head(args.scene, arrays, head, 0, args.epochs, encoders, shots, draw))


if __name__ == "__main__":
    main()
