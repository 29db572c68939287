"""Knowledge distillation (issue 17): teacher vs students, accuracy and end-to-end CPU speed, side by side.

Accuracy (semi-synthetic HSI over real labels and LiDAR): per scene and seed, the teacher (the
default network with the demo's settings) is trained, then each student; distilled students learn
from that seed's teacher. Test labels are only scored, never used to choose anything.

    .venv/bin/python benchmarks/bench_distill.py accuracy --data ../shared/data --scenes trento \
        --seeds 0,1 --threads 1 --models /tmp/distill-models --json /tmp/distill-trento.json
    .venv/bin/python benchmarks/bench_distill.py speed --models /tmp/distill-models --threads 2 \
        --json /tmp/distill-speed.json
    .venv/bin/python benchmarks/bench_distill.py report --inputs /tmp/distill-*.json \
        --out benchmarks/results/distill.md

`speed` runs benchmarks/bench_classify_cpu.py's CLI command (2000 x 2000 x 63-band GeoTIFF, no
confidence raster) for the seed-0 Trento teacher and students, float32 torch and --runtime onnx-int8.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from bench_accuracy import commit, load_scene, machine  # noqa: E402
from mmlgnet_qgis.core import defaults  # noqa: E402
from mmlgnet_qgis.core.distill import fit_student, scene_logits  # noqa: E402
from mmlgnet_qgis.core.metrics import accuracy_report  # noqa: E402
from mmlgnet_qgis.core.model_file import load_model, save_model  # noqa: E402
from mmlgnet_qgis.core.normalization import normalise  # noqa: E402
from mmlgnet_qgis.core.pipeline import ArraySink, classify, fit, read_whole  # noqa: E402
from mmlgnet_qgis.core.prompts import scene_prompt_set  # noqa: E402
from mmlgnet_qgis.core.scenes import SCENES  # noqa: E402
from mmlgnet_qgis.core.text_encoders import build_text_encoder  # noqa: E402
from mmlgnet_qgis.core.training import TrainConfig  # noqa: E402

FAST = dict(defaults.PRESETS["fast"])
# name -> (ModelConfig overrides, the teacher it learns from (None: trained alone), extra TrainConfig settings);
# names starting with "teacher" are the teachers, trained once per scene and seed
CONFIGS = {
    "teacher (standard)": ({}, None, {}),
    "teacher (linear)": ({}, None, {"head": "linear"}),   # the same network, a plain classifier, no text
    "fast": (FAST, None, {}),
    "fast distilled": (FAST, "teacher (standard)", {}),
    "fast distilled (linear teacher)": (FAST, "teacher (linear)", {}),
    # the mean of both teachers' softened class distributions (core/distill.ensemble_logits)
    "fast distilled (text + linear teachers)": (FAST, "teacher (standard)+teacher (linear)", {}),
    "small distilled": ({"hsi_width": 12, "lidar_width": 6, "fusion_width": 24}, "teacher (standard)", {}),
    "fast PCA-8 distilled": ({**FAST, "hsi_reduce": 8}, "teacher (standard)", {}),
    # settings sweep, judged on the agreement with the teacher (not on test labels)
    "fast distilled T=1": (FAST, "teacher (standard)", {"teacher_temperature": 1.0}),
    "fast distilled T=4": (FAST, "teacher (standard)", {"teacher_temperature": 4.0}),
    "fast distilled 64 px/step": (FAST, "teacher (standard)", {"teacher_pixels": 64}),
}


def slug(text):
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def class_map(model, manifest, hsi, lidar):
    """Class ids (0 = nodata) by prompt, or by the plain classifier for a linear-head teacher."""
    if manifest.training.get("config", {}).get("head", "text") == "text":
        sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
        classify(model, manifest.normalisation, hsi, lidar, sink, tile=512, device="cpu")
        return sink.array
    (h, h_ok), (l, l_ok) = read_whole(hsi), read_whole(lidar)
    valid, norm = h_ok & l_ok, manifest.normalisation
    logits = scene_logits(model, normalise(h, norm["hsi_mean"], norm["hsi_std"], valid),
                          normalise(l, norm["lidar_mean"], norm["lidar_std"], valid), valid, head="linear")
    return np.where(valid, np.nan_to_num(logits).argmax(0) + 1, 0).astype(np.uint16)


def score(model, manifest, arrays, scene, teacher_map=None):
    hsi, lidar, _, test = arrays
    predicted = class_map(model, manifest, hsi, lidar)
    rep = accuracy_report(test, predicted, list(SCENES[scene].class_names))
    out = {"oa": rep["oa"], "aa": rep["aa"], "kappa": rep["kappa"],
           "per_class": [c["accuracy"] for c in rep["per_class"]]}
    if teacher_map is not None:
        valid = teacher_map > 0
        out["agree_scene"] = 100.0 * float((predicted[valid] == teacher_map[valid]).mean())
        out["agree_test"] = 100.0 * float((predicted[test > 0] == teacher_map[test > 0]).mean())
    return out, predicted


def accuracy(args):
    torch.set_num_threads(args.threads)
    encoder = build_text_encoder("minilm")
    models = Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    rows = []
    names = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    for scene in args.scenes.split(","):
        arrays = load_scene(scene, args.data)
        hsi, lidar, train, _ = arrays
        for seed in [int(s) for s in args.seeds.split(",")]:
            teachers = {}   # name -> (model, manifest, class map): a linear teacher is never written
            for name in names:
                over, teacher_name, extra = CONFIGS[name]
                cfg = TrainConfig(epochs=args.epochs, seed=seed, device="cpu", model=dict(over), **extra)
                t0 = time.perf_counter()
                names_of = teacher_name.split("+") if teacher_name else []
                if any(t not in teachers for t in names_of):
                    sys.exit(f"{name} learns from {teacher_name}: list that first in --configs")
                file = models / f"{scene}_{'teacher' if name == 'teacher (standard)' else slug(name)}_s{seed}.safetensors"
                loaded = name == "teacher (standard)" and file.exists()
                if loaded:
                    model, manifest = load_model(file)
                elif teacher_name is not None:
                    teacher, tman, _ = teachers[names_of[0]]
                    more = tuple((teachers[t][0], teachers[t][1].training.get("config", {}).get("head", "text"))
                                 for t in names_of[1:])
                    model, manifest, _ = fit_student(hsi, lidar, train, teacher, tman, cfg,
                                                     source={"teacher": teacher_name}, more_teachers=more)
                else:
                    model, manifest, _ = fit(hsi, lidar, train, scene_prompt_set(scene), encoder, cfg)
                wall = time.perf_counter() - t0
                if cfg.head == "text" and not loaded:
                    save_model(file, model, manifest)
                res, labels = score(model, manifest, arrays, scene,
                                    teachers[names_of[0]][2] if names_of else None)   # agreement with the first
                if name.startswith("teacher"):
                    teachers[name] = (model, manifest, labels)
                row = {"scene": scene, "config": name, "seed": seed, **res, "model": manifest.model,
                       "train_seconds": float(manifest.training.get("seconds", wall)), "wall_seconds": wall,
                       "distilled_from": manifest.distilled_from}
                rows.append(row)
                print(f"{scene} {name:24s} seed {seed}: OA {res['oa']:.2f} AA {res['aa']:.2f} K {res['kappa']:.2f}"
                      f" agree {res.get('agree_scene', 100):.2f} / test {res.get('agree_test', 100):.2f}"
                      f" ({row['train_seconds']:.0f} s train)", flush=True)
                Path(args.json).write_text(json.dumps({"meta": meta(args), "accuracy": rows}, indent=1))


def speed(args):
    from bench_classify_cpu import run_cli
    from bench_inference import write_synthetic_pair
    models = Path(args.models)
    files = [("teacher (standard)", models / "trento_teacher_s0.safetensors")]
    # "fast" has the fast distilled student's architecture, so its speed
    files += [(n, models / f"trento_{slug(n)}_s0.safetensors") for n in CONFIGS
              if not n.startswith("teacher") and n != "fast" and "T=" not in n and "px/step" not in n]
    files = [(n, f) for n, f in files if f.exists()]
    runtimes = args.runtimes.split(",")
    rows = {(n, r): [] for n, _ in files for r in runtimes}
    with tempfile.TemporaryDirectory(dir=os.environ.get("MMLGNET_BENCH_TMP")) as tmp:
        paths = write_synthetic_pair(tmp, args.size, 63)
        for _ in range(args.rounds):
            for name, f in files:
                for rt in runtimes:
                    extra = {"torch": [], "amp": ["--amp"]}.get(rt, ["--runtime", rt])
                    r = run_cli(ROOT, f, paths, str(Path(tmp) / "c.tif"), extra, args.threads)
                    r["mpix_s"] = args.size ** 2 / 1e6 / r["classify_s"]
                    rows[(name, rt)].append(r)
                    print(name, rt, json.dumps(r), flush=True)
    out = [{"config": n, "runtime": rt, "mpix_s_median": float(np.median([x["mpix_s"] for x in v])),
            "mpix_s_best": max(x["mpix_s"] for x in v), "runs": v} for (n, rt), v in rows.items()]
    Path(args.json).write_text(json.dumps({"meta": {**meta(args), "size": args.size, "bands": 63,
                                                    "load_average_at_end": os.getloadavg()}, "speed": out}, indent=1))


def int8(args):
    """Accuracy of the saved students under --runtime onnx-int8 (and share of labels equal to float32)."""
    torch.set_num_threads(args.threads)
    rows = []
    for scene in args.scenes.split(","):
        arrays = load_scene(scene, args.data)
        hsi, lidar, _, test = arrays
        for name in args.configs.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                f = Path(args.models) / (f"{scene}_teacher_s{seed}.safetensors" if name.startswith("teacher")
                                         else f"{scene}_{slug(name)}_s{seed}.safetensors")
                if not f.exists():
                    continue
                model, manifest = load_model(f)
                maps = {}
                for rt in ("torch", "onnx-int8"):
                    sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
                    classify(model, manifest.normalisation, hsi, lidar, sink, tile=512, device="cpu", runtime=rt)
                    maps[rt] = sink.array
                rep = accuracy_report(test, maps["onnx-int8"], list(SCENES[scene].class_names))
                row = {"scene": scene, "config": name, "seed": seed, "oa": rep["oa"], "aa": rep["aa"],
                       "kappa": rep["kappa"], "same_as_float32": 100.0 * float((maps["torch"] == maps["onnx-int8"]).mean())}
                rows.append(row)
                print(json.dumps(row), flush=True)
                Path(args.json).write_text(json.dumps({"meta": meta(args), "int8": rows}, indent=1))


def meta(args):
    return {"command": " ".join([Path(sys.executable).name] + sys.argv), "commit": commit(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "threads": args.threads}


def report(args):
    acc, speed_rows, metas, int8_rows = [], [], [], []
    for f in sorted({g for p in args.inputs for g in glob.glob(p)}):
        data = json.loads(Path(f).read_text())
        metas.append(data["meta"])
        acc += data.get("accuracy", [])
        int8_rows += data.get("int8", [])
        speed_rows += data.get("speed", [])
    lines = ["# Knowledge distillation (issue 17) — semi-synthetic HSI over real labels and LiDAR", "",
             "Teacher: the standard network (64/32/128) trained with the demo's settings (60 epochs, seed s), "
             "with the prompt head (\"teacher (standard)\") or with a plain linear classifier and no text "
             "(\"teacher (linear)\"); since stop 22 the `distilled` preset trains both and its student learns the mean "
             "of their distributions. Students "
             "learn the teacher's soft class scores (its cosine logits, or the linear logits; KL, temperature 2, "
             "weight 1) and always classify by the prompts, on 128 pixels per step "
             "drawn from every valid pixel of the training scene (labelled or not), plus the usual loss on "
             "the labelled ones; a distilled student of seed s learns from the teacher of seed s. Agreement: "
             "share of pixels labelled as the teacher labels them (whole scene / test pixels). Nothing was "
             "chosen on the test labels. Cores were shared with other engineers' jobs: seconds are indicative.",
             "", "Runs:"]
    lines += [f"- `{m['command']}` (commit {m['commit']}, {m['date']}, {m['threads']} thread(s), "
              f"{m['machine']['cpu']}, {m['machine']['cores']} cores)" for m in metas]
    lines += ["", "| scene | config | widths (hsi/lidar/fusion) | seeds | OA % | AA % | Kappa % | agreement scene % | "
              "agreement test % | train s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups, seen = {}, set()
    for r in acc:  # a teacher re-scored by another run (loaded from its file) counts once
        if (r["scene"], r["config"], r["seed"]) not in seen:
            seen.add((r["scene"], r["config"], r["seed"]))
            groups.setdefault((r["scene"], r["config"]), []).append(r)
    summary = []
    for (scene, name), rs in groups.items():
        a = lambda k: np.array([r.get(k, np.nan) for r in rs], float)  # noqa: E731
        m = rs[0]["model"]
        widths = f"{m['hsi_width']}/{m['lidar_width']}/{m['fusion_width']}" + (
            f", PCA {m['hsi_reduce']}" if m.get("hsi_reduce") else "")
        s = {"scene": scene, "config": name, "seeds": sorted(r["seed"] for r in rs),
             **{f"{k}_mean": float(np.nanmean(a(k))) for k in ("oa", "aa", "kappa", "agree_scene", "agree_test",
                                                                 "train_seconds")},
             **{f"{k}_std": float(np.nanstd(a(k))) for k in ("oa", "aa", "kappa")}}
        summary.append(s)
        ag = "—" if name.startswith("teacher") else f"{s['agree_scene_mean']:.2f}"
        at = "—" if name.startswith("teacher") else f"{s['agree_test_mean']:.2f}"
        lines.append(f"| {scene} | {name} | {widths} | {len(rs)} | {s['oa_mean']:.2f} ± {s['oa_std']:.2f} | "
                     f"{s['aa_mean']:.2f} ± {s['aa_std']:.2f} | {s['kappa_mean']:.2f} ± {s['kappa_std']:.2f} | "
                     f"{ag} | {at} | {s['train_seconds_mean']:.0f} |")
    lines += ["", "Per seed (OA %): " + "; ".join(
        f"{scene} {name}: " + ", ".join(f"s{r['seed']} {r['oa']:.2f}" for r in sorted(rs, key=lambda r: r["seed"])) for (scene, name), rs in groups.items())]
    if speed_rows:
        lines += ["", "## End to end on CPU: `python -m mmlgnet_qgis classify`, 2000 x 2000 x 63-band GeoTIFF "
                  "(seed-0 Trento models, no confidence raster; benchmarks/bench_classify_cpu.py's command)", "",
                  "| model | runtime | Mpix/s median | best | runs |", "| --- | --- | --- | --- | --- |"]
        for r in speed_rows:
            lines.append(f"| {r['config']} | {r['runtime']} | {r['mpix_s_median']:.3f} | {r['mpix_s_best']:.3f} | "
                         f"{len(r['runs'])} |")
    if int8_rows:
        lines += ["", "## Accuracy under `--runtime onnx-int8` (the same model files, whole scene classified twice)", "",
                  "| scene | model | seeds | OA % int8 | labels equal to float32 % |", "| --- | --- | --- | --- | --- |"]
        by = {}
        for r in int8_rows:
            by.setdefault((r["scene"], r["config"]), []).append(r)
        for (scene, name), rs in by.items():
            oa = np.array([r["oa"] for r in rs])
            lines.append(f"| {scene} | {name} | {len(rs)} | {oa.mean():.2f} ± {oa.std():.2f} | "
                         f"{np.mean([r['same_as_float32'] for r in rs]):.2f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"meta": metas, "summary": summary, "accuracy": acc, "speed": speed_rows, "int8": int8_rows}, indent=1))
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["accuracy", "speed", "int8", "report"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--scenes", default="trento")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--configs", default="all", help=f"comma-separated, of: {', '.join(CONFIGS)}")
    ap.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="/tmp/distill-models")
    ap.add_argument("--json", default="/tmp/distill.json")
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--runtimes", default="torch,amp,onnx-int8", help="torch (float32), amp (bf16), onnx, onnx-int8")
    ap.add_argument("--inputs", nargs="+", default=[])
    ap.add_argument("--out", default="benchmarks/results/distill.md")
    args = ap.parse_args()
    {"accuracy": accuracy, "speed": speed, "int8": int8, "report": report}[args.what](args)


if __name__ == "__main__":
    main()
