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
from mmlgnet_qgis.core.validation import apply_unknown, blocked_split, calibrate_thresholds  # noqa: E402

HEADS = ("text", "random", "linear", "clip-random")


@torch.no_grad()
def scene_map(model, hsi, lidar, channels, pick, with_aux=False, tile=128):
    """(channels, H, W): pick(model output) of every tile, through whole-tile convolution."""
    model.eval()
    h, w = hsi.shape[1:]
    out = np.zeros((channels, h, w), np.float32)
    for win in tile_windows(h, w, tile, model.cfg.patch_size // 2):
        cut = lambda a: torch.as_tensor(reflect_pad(a[:, win.ry0:win.ry0 + win.rh, win.rx0:win.rx0 + win.rw],  # noqa: E731
                                                    win.pad))[None]
        out[:, win.y0:win.y0 + win.h, win.x0:win.x0 + win.w] = pick(model(cut(hsi), cut(lidar), with_aux=with_aux))[0].numpy()
    return out


def scene_scores(model, hsi, lidar, head, tile=128):
    """(K, H, W): cosines (text heads) or classifier logits (linear)."""
    k = model.class_embeddings.shape[0]
    if head == "linear":
        return scene_map(model, hsi, lidar, k, lambda res: res["ce_logits"], with_aux=True, tile=tile)
    return scene_map(model, hsi, lidar, k, lambda res: torch.einsum("bdhw,kd->bkhw", res["embedding"],
                                                                      model.class_embeddings), tile=tile)


def scene_embeddings(model, hsi, lidar, tile=128):
    """(D, H, W) unit pixel embeddings."""
    return scene_map(model, hsi, lidar, model.class_embeddings.shape[1], lambda res: res["embedding"], tile=tile)


def unknown_scores(model, emb, cos, train_mask, labels):
    """Candidate open-set scores per pixel (higher = more like a known class)."""
    k = cos.shape[0]
    pred = cos.argmax(0)
    mean = np.stack([emb[:, train_mask & (labels == c + 1)].mean(1) for c in range(k)])
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)     # each class's mean training embedding
    logits = float(model.logit_scale.exp()) * cos
    prob = np.exp(logits - logits.max(0))
    top2 = np.sort(cos, 0)[-2:]
    return {"winning prompt cosine": cos.max(0), "softmax probability": prob.max(0) / prob.sum(0),
            "top-2 cosine margin": top2[1] - top2[0],
            "cosine to the class's mean training embedding": np.einsum("dhw,dhw->hw", emb, mean.T[:, pred])}


def auroc(known, unseen):
    """P(score of a known pixel > score of an unseen one), ties half: 1 = perfect, 0.5 = chance."""
    from scipy.stats import rankdata
    ranks = rankdata(np.concatenate([unseen, known]))        # ties get their mean rank
    return float((ranks[len(unseen):].sum() - len(known) * (len(known) + 1) / 2) / (len(known) * len(unseen)))


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


def run_head(scene, arrays, head, seed, epochs, encoders, shots=None, draw=None, patch=None):
    hsi, lidar, train, test = arrays
    labels = few_shot(train, shots, draw) if shots else train
    emb = embeddings(head, scene_prompt_set(scene), encoders)
    cfg = TrainConfig(epochs=epochs, seed=seed, device="cpu", head="linear" if head == "linear" else
                      ("random" if head == "random" else "text"), model={"patch_size": patch} if patch else {})
    model, hist = train_model(hsi, lidar, labels, emb, cfg)
    pred = scene_scores(model, hsi, lidar, cfg.head).argmax(0) + 1
    rep = accuracy_report(test, pred, list(SCENES[scene].class_names))
    return {"job": "fewshot" if shots else "heads", "scene": scene, "head": head + (f" patch {patch}" if patch else ""),
            "seed": seed, "shots": shots,
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
    emb = scene_embeddings(model, hsi, lidar)
    cos = np.einsum("dhw,kd->khw", emb, model.class_embeddings.numpy())
    ids, sim = cos.argmax(0).astype(np.uint16) + 1, cos.max(0)
    thr = np.asarray(outcome["unknown_thresholds"])
    res = {"job": "openset", "scene": scene, "dropped": full.classes[drop - 1].name, "seed": seed,
           "validation_fraction": fraction, "validation_pixels": outcome["validation_pixels"],
           "thresholds": thr.round(4).tolist(), "train_seconds": hist["seconds"][-1],
           "final_val_oa": hist["val_oa"][-1] if "val_oa" in hist else None}
    known = (test > 0) & (test != drop)
    unseen = test == drop
    # the same validation blocks as training's: other percentiles and fixed cosines, as a curve
    val = blocked_split(remap[train], fraction, 2 * model.cfg.patch_size, seed)
    v_cos, v_y = cos[:, val].T, remap[train][val] - 1
    q = lambda a: [round(float(v), 3) for v in np.percentile(a, [5, 25, 50])]  # noqa: E731
    res["winning_cosine_p5_p25_p50"] = {"validation": q(v_cos.max(1)), "test_known": q(sim[known]),
                                        "test_unseen": q(sim[unseen])}
    fit = (remap[train] > 0) & ~val
    scores = unknown_scores(model, emb, cos, fit, remap[train])
    res["unknown_score_auroc"] = {name: round(auroc(sc[known], sc[unseen]), 3) for name, sc in scores.items()}
    # an oracle operating point (reads the test labels; reported, never used to choose): the share of the
    # unseen class flagged when the cut flags 5 % of the known test pixels
    res["unseen_flagged_at_5pct_known"] = {name: round(100.0 * float((sc[unseen] < np.percentile(sc[known], 5)).mean()), 2)
                                           for name, sc in scores.items()}
    curve = {f"p{p:g}": np.asarray(calibrate_thresholds(v_cos, v_y, p)) for p in (0.5, 1, 2, 5)}
    curve.update({f"cos {c:g}": np.full(len(kept), c) for c in (0.1, 0.15, 0.2, 0.25)})
    outs = [("none", ids), ("auto", apply_unknown(ids, sim, thr))]
    outs += [(name, apply_unknown(ids, sim, t.astype(np.float32))) for name, t in curve.items()]
    for name, labels_out in outs:
        k = len(kept) + 1
        res[name] = {"unseen_unknown_pct": 100.0 * float((labels_out[unseen] == k).mean()),
                     "unseen_to": {kept[c - 1].name: round(100.0 * float((labels_out[unseen] == c).mean()), 2)
                                   for c in range(1, k)},
                     "known_oa": 100.0 * float((labels_out[known] == remap[test[known]]).mean()),
                     "known_unknown_pct": 100.0 * float((labels_out[known] == k).mean())}
    return res


COARSE = {"vegetation": ("Apple trees", "Woods", "Vineyard"), "built-up": ("Buildings", "Roads"),
          "bare ground": ("Ground",)}


def run_retarget(model_path, data, encoders):
    """A 6-class Trento model re-targeted to 3 coarse prompts vs its merged 6-class map; a 7th, untrained prompt."""
    from mmlgnet_qgis.core.model_file import load_model
    from mmlgnet_qgis.core.pipeline import ArraySink, classify, retarget
    from mmlgnet_qgis.core.prompts import ClassPrompt
    hsi, lidar, _, test = load_scene("trento", data)
    model, manifest = load_model(model_path)
    enc = encoders.setdefault("minilm", build_text_encoder("minilm"))

    def run(man):
        sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
        classify(model, man.normalisation, hsi, lidar, sink, tile=512, device="cpu")
        return sink.array
    fine = manifest.prompt_set
    ids6 = run(manifest)
    to3 = np.zeros(len(fine.classes) + 1, np.int64)
    for i, (name, members) in enumerate(COARSE.items(), 1):
        to3[[c.id for c in fine.classes if c.name in members]] = i
    coarse = PromptSet([ClassPrompt(i, n, "#000000", []) for i, n in enumerate(COARSE, 1)], templates=fine.templates)
    ids3 = run(retarget(model, manifest, coarse, enc))
    lab = test > 0
    res = {"job": "retarget", "model": str(model_path),
           "oa_coarse_prompts": 100.0 * float((ids3[lab] == to3[test[lab]]).mean()),
           "oa_merged_6_class": 100.0 * float((to3[ids6][lab] == to3[test[lab]]).mean()),
           "oa_6_class": 100.0 * float((ids6[lab] == test[lab]).mean()),
           "coarse_per_fine_class": {c.name: {n: round(100.0 * float((ids3[test == c.id] == i).mean()), 2)
                                             for i, n in enumerate(COARSE, 1)} for c in fine.classes}}
    extra = PromptSet([*fine.classes, ClassPrompt(len(fine.classes) + 1, "Water", "#0000ff", [])],
                      templates=fine.templates)
    ids7 = run(retarget(model, manifest, extra, enc))
    res["water_share_of_scene_pct"] = 100.0 * float((ids7 == len(fine.classes) + 1).mean())
    res["water_share_per_class_pct"] = {c.name: round(100.0 * float((ids7[test == c.id] == len(fine.classes) + 1)
                                                                    .mean()), 2) for c in fine.classes}
    return res


def few_shot_table(scene, few, split):
    """Markdown lines: OA per head and shots, over the draws every head finished (paired)."""
    heads_of = {}
    for r in few:
        heads_of.setdefault((r["shots"], r["draw"]), set()).add(r["head"])
    full = max((len(v) for v in heads_of.values()), default=0)
    few = [r for r in few if len(heads_of[(r["shots"], r["draw"])]) == full]
    if not few:
        return []
    shots = sorted({r["shots"] for r in few})
    lines = ["", f"## Few-shot ({scene}: n px per class drawn from the training split, {split.split(' ')[0]}; "
             "OA % mean ± std over draws, seed 0)", "",
             "| head | " + " | ".join(f"{s} px (draws)" for s in shots) + " |", "| --- |" + " --- |" * len(shots)]
    for h in HEADS:
        cells = []
        for s in shots:
            o = np.array([r["oa"] for r in few if r["head"] == h and r["shots"] == s])
            cells.append(f"{o.mean():.2f} ± {o.std():.2f} ({o.size})" if o.size else "—")
        if any(c != "—" for c in cells):
            lines.append(f"| {h} | " + " | ".join(cells) + " |")
    return lines


def report(files, md):
    rows = [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.strip()]
    meta = next((r for r in rows if r.get("job") == "meta"), {})
    lines = ["# What the language buys (semi-synthetic HSI over real labels and LiDAR)", "",
             f"- commands: {'; '.join(sorted({r['command'] for r in rows if r.get('job') == 'meta'}))}",
             f"- commits: {', '.join(sorted({r['commit'] for r in rows if r.get('job') == 'meta'}))}; "
             f"machine: {meta.get('machine')}",
             "- same network (standard widths, patch 15), same schedule (60 epochs, AdamW 2e-3, batch 64, "
             "self-distillation), CPU, one thread per process; only the head differs.", ""]
    split = {"trento": "TRLabel -> TSLabel", "muufl": "mask_train_150 -> mask_test_150"}
    for scene in sorted({r.get("scene", "trento") for r in rows if r.get("job") == "heads"}, reverse=True):
        heads = [r for r in rows if r.get("job") == "heads" and r.get("scene", "trento") == scene]
        lines += [f"## Heads, full training split ({scene}: {split.get(scene, '')})", "",
                  "| head | seeds | OA % | AA % | Kappa % | train s / run |", "| --- | --- | --- | --- | --- | --- |"]
        for h in list(HEADS) + sorted({r["head"] for r in heads} - set(HEADS)):
            rs = [r for r in heads if r["head"] == h]
            if rs:
                a = lambda k: np.array([r[k] for r in rs])  # noqa: E731
                lines.append(f"| {h} | {', '.join(str(r['seed']) for r in rs)} | {a('oa').mean():.2f} ± "
                             f"{a('oa').std():.2f} | {a('aa').mean():.2f} | {a('kappa').mean():.2f} | "
                             f"{a('train_seconds').mean():.0f} |")
        lines.append("")
    for scene in sorted({r.get("scene", "trento") for r in rows if r.get("job") == "fewshot"}, reverse=True):
        lines += few_shot_table(scene, [r for r in rows if r.get("job") == "fewshot"
                                        and r.get("scene", "trento") == scene], split.get(scene, ""))
    opensets = {}
    for r in (r for r in rows if r.get("job") == "openset"):   # a rerun with the curve replaces a plain one
        key = (r["dropped"], r["seed"])
        opensets[key] = max(opensets.get(key, r), r, key=len)
    for r in opensets.values():
        lines += ["", f"## Open set: trained without '{r['dropped']}' (seed {r['seed']}, validation fraction "
                  f"{r['validation_fraction']}, {r['validation_pixels']} validation px)", "",
                  f"- per-class thresholds (5th percentile of each class's own winning cosine on validation): "
                  f"{r['thresholds']}", "",
                  "| threshold | unseen class -> unknown % | known classes OA % | known classes -> unknown % |",
                  "| --- | --- | --- | --- |"]
        if "winning_cosine_p5_p25_p50" in r:
            lines.insert(-3, f"- winning cosine 5th / 25th / 50th percentiles: {r['winning_cosine_p5_p25_p50']}")
        for name in [n for n in r if n in ("none", "auto") or n.startswith(("p", "cos "))]:
            v = r[name]
            lines.append(f"| {name} | {v['unseen_unknown_pct']:.2f} | {v['known_oa']:.2f} | "
                         f"{v['known_unknown_pct']:.2f} |")
        lines += ["", f"- without a threshold its pixels went to: {r['none']['unseen_to']}"]
        if "unknown_score_auroc" in r:
            lines += ["- how well each score ranks known test pixels above the unseen class's (AUROC; 1 = "
                      "perfect, 0.5 = chance, below 0.5 = the unseen class scores higher): "
                      + "; ".join(f"{k} {v:.3f}" for k, v in r["unknown_score_auroc"].items()),
                      "- share of the unseen class flagged by a cut that flags 5 % of the known test pixels (an "
                      "oracle operating point, read from the test labels): "
                      + "; ".join(f"{k} {v:.1f} %" for k, v in r["unseen_flagged_at_5pct_known"].items())]
    for r in (r for r in rows if r.get("job") == "retarget"):
        lines += ["", f"## Prompt re-targeting without retraining ({r['model']}, test pixels of TSLabel)", "",
                  f"- three coarse prompts ({', '.join(COARSE)}): coarse OA {r['oa_coarse_prompts']:.2f} %; "
                  f"the 6-class map merged into the same groups: {r['oa_merged_6_class']:.2f} % "
                  f"(6-class OA {r['oa_6_class']:.2f} %)",
                  f"- where each class went with the coarse prompts (%): {r['coarse_per_fine_class']}",
                  f"- a 7th prompt never trained on ('Water'; Trento has none): {r['water_share_of_scene_pct']:.2f} % "
                  f"of the scene; per class of the test pixels: {r['water_share_per_class_pct']}"]
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
    ap.add_argument("--patch-size", type=int, default=None, help="heads job: another patch size (default: the model's)")
    ap.add_argument("--out", default="language.jsonl")
    ap.add_argument("--model", help="retarget job: a trained 6-class Trento model file")
    ap.add_argument("--report", nargs="+", help="JSON-lines files to turn into --md")
    ap.add_argument("--md", default="benchmarks/results/language.md")
    args = ap.parse_args()
    if args.report:
        return report(args.report, args.md)
    torch.set_num_threads(args.threads)
    arrays = prepared(args.scene, args.data) if args.jobs != "retarget" else None
    encoders = {}
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
                    emit(run_head(args.scene, arrays, head, seed, args.epochs, encoders, patch=args.patch_size))
        elif job == "retarget":
            emit(run_retarget(args.model, args.data, encoders))
        elif job == "fewshot":
            for draw in range(args.draws):
                for shots in (int(s) for s in args.shots.split(",")):
                    for head in heads:
                        emit(run_head(args.scene, arrays, head, 0, args.epochs, encoders, shots, draw))


if __name__ == "__main__":
    main()
