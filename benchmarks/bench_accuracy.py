"""Accuracy benchmark: Trento (TRLabel -> TSLabel) and MUUFL (mask_train_150 -> mask_test_150),
several seeds, plus ablations; writes a Markdown results file and a JSON file beside it.

Accuracies are on semi-synthetic HSI over real labels and LiDAR (../shared/data/README.md).
    .venv/bin/python benchmarks/bench_accuracy.py --data ../shared/data --out benchmarks/results/accuracy.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mmlgnet_qgis.core.defaults import PRESETS  # noqa: E402
from mmlgnet_qgis.core.metrics import accuracy_report  # noqa: E402
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify, fit  # noqa: E402
from mmlgnet_qgis.core.prompts import scene_prompt_set  # noqa: E402
from mmlgnet_qgis.core.scenes import SCENES, as_bands_last, as_labels, load_mat_array, scene_paths  # noqa: E402
from mmlgnet_qgis.core.text_encoders import (build_text_encoder, save_random_clip_checkpoint)  # noqa: E402
from mmlgnet_qgis.core.training import TrainConfig  # noqa: E402

BASELINES = {  # best reference baseline per scene, from ../shared/data/README.md (OA / AA / K)
    "trento": ("plain CNN 11x11, CE, 300 epochs, 3 seeds", 96.68, 97.32, 95.58),
    "muufl": ("plain CNN 11x11, CE, 300 epochs, 3 seeds", 94.14, 94.38, 92.23),
}
ABLATIONS = {  # name -> (TrainConfig overrides, text encoder or None for the default)
    "loss pixel->text": ({"loss": "pixel2text"}, None),
    "loss text->pixel": ({"loss": "text2pixel"}, None),
    "HSI only": ({"model": {"modalities": "hsi"}}, None),
    "LiDAR only": ({"model": {"modalities": "lidar"}}, None),
    "self-distillation off": ({"distill_weight": 0.0}, None),
    "CLIP ViT-B-32, random weights": ({}, "clip-random"),
}


def load_scene(scene, data=None):
    """The scene's arrays from `data`, else $MMLGNET_DATA, else ../shared/data (as the Makefile)."""
    data = data or os.environ.get("MMLGNET_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
    p = scene_paths(scene, data)
    cube = lambda f: np.moveaxis(as_bands_last(load_mat_array(str(f))), -1, 0)  # noqa: E731
    return (ArraySource(cube(p["hsi"]), "HSI"), ArraySource(cube(p["lidar"]), "LiDAR"),
            as_labels(load_mat_array(str(p["train"]))), as_labels(load_mat_array(str(p["test"]))))


def run_once(scene, arrays, encoder, cfg):
    hsi, lidar, train, test = arrays
    model, manifest, history = fit(hsi, lidar, train, scene_prompt_set(scene), encoder, cfg)
    sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
    stats = classify(model, manifest.normalisation, hsi, lidar, sink, tile=512, device=cfg.device)
    rep = accuracy_report(test, sink.array, list(SCENES[scene].class_names))
    return {"oa": rep["oa"], "aa": rep["aa"], "kappa": rep["kappa"],
            "per_class": [c["accuracy"] for c in rep["per_class"]],
            "train_seconds": history["seconds"][-1], "classify_seconds": stats["seconds"]}


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version()}


def commit():
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True,
                                       cwd=Path(__file__).parent).strip()
    except Exception:
        return "unknown"


def summarise(runs):
    a = lambda k: np.array([r[k] for r in runs])  # noqa: E731
    pc = np.array([[np.nan if v is None else v for v in r["per_class"]] for r in runs])
    return {"n": len(runs), **{f"{k}_mean": float(a(k).mean()) for k in ("oa", "aa", "kappa", "train_seconds")},
            **{f"{k}_std": float(a(k).std()) for k in ("oa", "aa", "kappa")},
            "per_class_mean": np.nanmean(pc, 0).tolist(), "runs": runs}


def write_markdown(path, results, meta):
    lines = ["# Accuracy benchmark (semi-synthetic HSI over real labels and LiDAR)", "",
             f"- command: `{meta['command']}`", f"- commit: {meta['commit']}, date {meta['date']}",
             f"- machine: {meta['machine']}", f"- text encoder: {meta['text_encoder']}",
             f"- settings: {meta['settings']}", "",
             "| scene | config | seeds | OA % | AA % | Kappa % | train s / run | best baseline OA / AA / K |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (scene, name), s in results.items():
        b = BASELINES[scene]
        lines.append(f"| {scene} | {name} | {s['n']} | {s['oa_mean']:.2f} ± {s['oa_std']:.2f} | "
                     f"{s['aa_mean']:.2f} ± {s['aa_std']:.2f} | {s['kappa_mean']:.2f} ± {s['kappa_std']:.2f} | "
                     f"{s['train_seconds_mean']:.0f} | {b[1]} / {b[2]} / {b[3]} ({b[0]}) |")
    lines += ["", "## Per-class accuracy (%, mean over seeds)", ""]
    for (scene, name), s in results.items():
        cls = ", ".join(f"{n} {v:.1f}" for n, v in zip(SCENES[scene].class_names, s["per_class_mean"]))
        lines.append(f"- {scene} / {name}: {cls}")
    lines += ["", "'CLIP ViT-B-32, random weights': open_clip's real ViT-B-32 text tower with randomly "
              "initialised weights (saved to and loaded from a local checkpoint; real CLIP weights cannot "
              "be downloaded on this machine). Its class embeddings are fixed, distinct but meaningless "
              "vectors: the row measures what the network does without language semantics, not CLIP."]
    Path(path).write_text("\n".join(lines) + "\n")


def merge(json_files, out):
    """Parallel runs (e.g. one scene per core) into one results file."""
    results, metas = {}, []
    for f in json_files:
        data = json.loads(Path(f).read_text())
        metas.append(data["meta"])
        for r in data["results"]:
            results[(r.pop("scene"), r.pop("config"))] = r
    meta = dict(metas[0])
    meta["command"] = " ; ".join(m["command"] for m in metas) + " (run in parallel, one per core)"
    write_markdown(out, results, meta)
    Path(out).with_suffix(".json").write_text(json.dumps({"meta": meta, "results": [
        {"scene": s, "config": n, **v} for (s, n), v in results.items()]}, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default="benchmarks/results/accuracy.md")
    ap.add_argument("--scenes", default="trento,muufl")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    ap.add_argument("--ablation-seeds", type=int, default=1)
    ap.add_argument("--ablation-scenes", default="trento")
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    ap.add_argument("--merge", nargs="+", help="merge result JSON files of parallel runs into --out")
    # one network per run: the default "distilled" preset (a teacher, then a student) is measured by
    # bench_distill.py ("fast distilled"), not here
    ap.add_argument("--preset", default="standard", choices=("standard", "fast"), help="network widths")
    args = ap.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    encoder = build_text_encoder("minilm")
    meta = {"command": " ".join([Path(sys.executable).name] + sys.argv), "commit": commit(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "text_encoder": encoder.identity(), "settings": {"epochs": args.epochs, "device": args.device}}
    results, json_path = {}, Path(args.out).with_suffix(".json")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    preset = {} if args.preset == "standard" else {"model": dict(PRESETS[args.preset])}
    label = "MMLGNet (standard)" if args.preset == "standard" else f"MMLGNet ({args.preset} preset)"
    meta["settings"]["preset"] = args.preset
    jobs = [(s, label, preset, None, args.seeds) for s in args.scenes.split(",")]
    if not args.no_ablations:
        jobs += [(s, name, over, enc, args.ablation_seeds) for s in args.ablation_scenes.split(",")
                 for name, (over, enc) in ABLATIONS.items()]
    cache, clip_dir = {}, tempfile.mkdtemp(prefix="mmlgnet-clip-")
    for scene, name, over, enc_name, seeds in jobs:
        arrays = cache.setdefault(scene, load_scene(scene, args.data))
        enc = encoder
        if enc_name == "clip-random":
            ckpt = Path(clip_dir) / "vit-b-32-random.pt"
            if not ckpt.exists():
                save_random_clip_checkpoint("ViT-B-32", ckpt, seed=0)
            enc = build_text_encoder(f"clip:ViT-B-32:{ckpt}")
        runs = []
        for seed in range(seeds):
            cfg = TrainConfig(epochs=args.epochs, seed=seed, device=args.device, **over)
            r = run_once(scene, arrays, enc, cfg)
            runs.append(r)
            print(f"{scene:7s} {name:32s} seed {seed}: OA {r['oa']:.2f} AA {r['aa']:.2f} "
                  f"K {r['kappa']:.2f} ({r['train_seconds']:.0f} s)", flush=True)
        results[(scene, name)] = summarise(runs)
        write_markdown(args.out, results, meta)
        json_path.write_text(json.dumps({"meta": meta, "results": [
            {"scene": s, "config": n, **v} for (s, n), v in results.items()]}, indent=1))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
