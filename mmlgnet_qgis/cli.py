"""Command line over core + raster: train, classify, evaluate, demo (headless and GPU use)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .core.scenes import SCENES


def _progress_printer(label: str):
    """One self-overwriting progress line on stderr."""
    state = {"t0": time.perf_counter()}

    def show(done, total, metrics=None):
        extra = "" if not metrics else "  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        sys.stderr.write(f"\r{label} {done}/{total} [{int(100 * done / total):3d}%] "
                         f"{time.perf_counter() - state['t0']:.0f}s{extra}   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _prompt_set(args, n_classes_hint=None):
    from .core.prompts import load_prompt_set, names_prompt_set, scene_prompt_set
    if args.prompts:
        return load_prompt_set(args.prompts)
    if args.scene:
        return scene_prompt_set(args.scene)
    if n_classes_hint:
        return names_prompt_set([f"class {i}" for i in range(1, n_classes_hint + 1)])
    raise SystemExit("give --prompts PROMPTS.json or --scene trento|muufl to name the classes")


def cmd_train(args) -> int:
    from .core.model_file import save_model
    from .core.pipeline import fit
    from .core.text_encoders import build_text_encoder
    from .core.training import TrainConfig
    from .inputs import open_image, read_labels, wavelengths_of
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    hsi = open_image(args.hsi, "HSI")
    lidar = open_image(args.lidar, "LiDAR")
    labels = read_labels(args.train_labels, like=hsi)
    prompts = _prompt_set(args, int(labels.max()))
    for w in prompts.warnings():
        _log(f"warning: {w}")
    model_over = {k: v for k, v in {"patch_size": args.patch_size, "modalities": args.modalities}.items() if v}
    cfg = TrainConfig(epochs=args.epochs, device=args.device, seed=args.seed, loss=args.loss,
                      distill_weight=args.distill_weight, ce_weight=args.ce_weight, model=model_over)
    encoder = build_text_encoder(args.text_encoder)
    model, manifest, history = fit(hsi, lidar, labels, prompts, encoder, cfg, wavelengths=wavelengths_of(args.hsi),
                                   progress=_progress_printer("epoch"), log=_log)
    manifest["scene"] = args.scene
    manifest["history"] = history
    save_model(args.out, model, manifest)
    _log(f"model written to {args.out} (trained in {history['seconds'][-1]:.1f} s)")
    return 0


def _output_grid(hsi, manifest):
    """The HSI's own grid; for .mat inputs the scene's nominal grid (or a bare pixel grid)."""
    from .raster.grid import RasterGrid
    if getattr(hsi, "grid", None) is not None:
        return hsi.grid
    scene = SCENES.get(manifest.get("scene") or "")
    if scene and (hsi.height, hsi.width) == _scene_shape(scene.name):
        return RasterGrid.north_up(hsi.width, hsi.height, scene.epsg, scene.origin, scene.pixel_size)
    return RasterGrid.north_up(hsi.width, hsi.height, None, (0.0, float(hsi.height)), 1.0)


def _scene_shape(name):
    return {"trento": (166, 600), "muufl": (325, 220)}.get(name)


def cmd_classify(args) -> int:
    from .core.model_file import load_model
    from .core.pipeline import ArraySink, classify, retarget
    from .inputs import open_image
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    model, manifest = load_model(args.model)
    if args.prompts:
        from .core.prompts import load_prompt_set
        from .core.text_encoders import build_text_encoder
        manifest = retarget(model, manifest, load_prompt_set(args.prompts),
                            build_text_encoder(manifest["text_encoder"]))
    hsi = open_image(args.hsi, "HSI")
    lidar = open_image(args.lidar, "LiDAR")
    if getattr(hsi, "grid", None) is not None and getattr(lidar, "grid", None) is not None:
        from .raster.grid import check_aligned
        check_aligned(hsi.grid, lidar.grid, hsi.name, lidar.name)
    names = [c["name"] for c in manifest["classes"]]
    colours = [c["color"] for c in manifest["classes"]]
    out = Path(args.out)
    if out.suffix.lower() == ".npy":  # GDAL-free output for bare GPU boxes
        sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
        conf = ArraySink(hsi.height, hsi.width, np.float32, np.nan) if args.confidence else None
        stats = classify(model, manifest, hsi, lidar, sink, conf, tile=args.tile, device=args.device,
                         progress=_progress_printer("tile"), log=_log, amp=args.amp)
        np.save(out, sink.array)
        if conf is not None:
            np.save(args.confidence, conf.array)
    else:
        from .raster.writer import ClassRasterWriter, FloatRasterWriter
        grid = _output_grid(hsi, manifest)
        conf_writer = FloatRasterWriter(args.confidence, grid, description="cosine similarity of the winning prompt") \
            if args.confidence else None
        with ClassRasterWriter(out, grid, names, colours) as writer:
            if conf_writer:
                conf_writer.open()
            try:
                stats = classify(model, manifest, hsi, lidar, writer, conf_writer,
                                 tile=args.tile, device=args.device, progress=_progress_printer("tile"),
                                 log=_log, amp=args.amp)
            except BaseException:
                if conf_writer:
                    conf_writer.abort()
                raise
        if conf_writer:
            conf_writer.commit()
    mpix = stats["pixels"] / 1e6 / max(stats["seconds"], 1e-9)
    _log(f"classified {stats['valid_pixels']} of {stats['pixels']} pixels in {stats['seconds']:.1f} s "
         f"({mpix:.2f} Mpix/s) -> {out}")
    return 0


def _read_classified(spec: str) -> np.ndarray:
    if spec.lower().endswith(".npy"):
        return np.load(spec, allow_pickle=False)
    from .inputs import read_labels
    return read_labels(spec)


def cmd_evaluate(args) -> int:
    from .core.metrics import accuracy_report
    from .inputs import read_labels
    from .report import format_report_text, write_report
    predicted = _read_classified(args.classified)
    reference = read_labels(args.labels)
    names, colours, history = _class_info(args, int(max(predicted.max(), reference.max())))
    report = accuracy_report(reference, predicted, names)
    report.update({"classified": str(args.classified), "labels": str(args.labels),
                   "note": "semi-synthetic HSI over real labels and LiDAR" if args.semi_synthetic else None})
    write_report(report, args.report, names, colours, history=history, class_map=predicted,
                 title=args.title or Path(args.classified).name)
    print(format_report_text(report))
    return 0


def _class_info(args, n):
    """Class names/colours (and training history) from --model, --scene, or generic."""
    if args.model:
        from .core.model_file import read_manifest
        man = read_manifest(args.model)
        return [c["name"] for c in man["classes"]], [c["color"] for c in man["classes"]], man.get("history")
    if args.scene:
        sc = SCENES[args.scene]
        return list(sc.class_names), list(sc.colours), None
    from .core.prompts import names_prompt_set
    ps = names_prompt_set([f"class {i}" for i in range(1, n + 1)])
    return ps.names, ps.colours, None


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args.data, args.out, epochs=args.epochs, device=args.device, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mmlgnet_qgis",
                                description="MMLGNet: language-guided HSI + LiDAR classification.")
    sub = p.add_subparsers(dest="command", required=True)
    img_help = "file.mat, file.mat:KEY, or a GDAL raster (GeoTIFF)"

    t = sub.add_parser("train", help="train a model on labelled pixels")
    t.add_argument("--hsi", required=True, help=f"hyperspectral image: {img_help}")
    t.add_argument("--lidar", required=True, help=f"LiDAR raster (1 or more bands): {img_help}")
    t.add_argument("--train-labels", required=True, help="class ids, 0 = unlabeled (.mat or raster)")
    t.add_argument("--out", required=True, help="model file to write (.safetensors)")
    t.add_argument("--prompts", help="prompt set: JSON file or JSON string")
    t.add_argument("--scene", choices=sorted(SCENES), help="benchmark scene: class names and default prompts")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--text-encoder", default="minilm",
                   help="minilm (offline), clip:MODEL:TAG (e.g. clip:ViT-B-32:openai, needs internet once) "
                        "or clip:MODEL:/path/checkpoint.pt")
    t.add_argument("--loss", default="symmetric", choices=["symmetric", "pixel2text", "text2pixel"])
    t.add_argument("--distill-weight", type=float, default=0.5, help="self-distillation weight (0 = off)")
    t.add_argument("--ce-weight", type=float, default=0.0, help="auxiliary cross-entropy weight")
    t.add_argument("--patch-size", type=int, help="odd neighbourhood size, >= 7 (default 11)")
    t.add_argument("--modalities", choices=["both", "hsi", "lidar"])
    t.add_argument("--threads", type=int, help="CPU threads for torch")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("classify", help="classify a whole scene with a model file")
    c.add_argument("--model", required=True)
    c.add_argument("--hsi", required=True, help=img_help)
    c.add_argument("--lidar", required=True, help=img_help)
    c.add_argument("--out", required=True, help="classified GeoTIFF (.tif), or .npy without GDAL")
    c.add_argument("--confidence", help="optional float32 raster of the winning prompt's cosine similarity")
    c.add_argument("--prompts", help="re-word / re-target: prompts JSON re-encoded with the model's text encoder")
    c.add_argument("--tile", type=int, default=512, help="tile size in pixels")
    c.add_argument("--device", default="auto")
    c.add_argument("--amp", action="store_true", help="bf16 on CUDA")
    c.add_argument("--threads", type=int)
    c.set_defaults(func=cmd_classify)

    e = sub.add_parser("evaluate", help="accuracy of a classified raster against reference labels")
    e.add_argument("--classified", required=True, help="classified raster (.tif) or .npy")
    e.add_argument("--labels", required=True, help="reference labels (.mat or raster), 0 = unlabeled")
    e.add_argument("--report", required=True, help="report JSON; an HTML page and PNGs are written beside it")
    e.add_argument("--model", help="model file, for class names, colours and training curves")
    e.add_argument("--scene", choices=sorted(SCENES))
    e.add_argument("--title")
    e.add_argument("--semi-synthetic", action="store_true", help="label the report as semi-synthetic HSI")
    e.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("demo", help="train on Trento, classify, write GeoTIFF + accuracy report")
    d.add_argument("--data", help="benchmark data folder (default ../shared/data or $MMLGNET_DATA)")
    d.add_argument("--out", default="demo-out")
    d.add_argument("--epochs", type=int, default=60)
    d.add_argument("--device", default="auto")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        _log(f"error: {exc}")
        return 2
