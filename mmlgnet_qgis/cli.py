"""Command line over core + raster: train, classify, evaluate, demo (headless and GPU use)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .core import defaults
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


def cmd_train(args) -> int:
    from .core.training import TrainConfig
    from .inputs import wavelengths_of
    from .workflows import check_outputs, close_sources, open_pair, prompt_file, train_to_file, training_inputs
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if bool(args.train_labels) == bool(args.label_vector):
        raise ValueError("give training labels: --train-labels RASTER or --label-vector LAYER --label-field FIELD")
    check_outputs({"model file": args.out},
                  {"HSI": args.hsi, "LiDAR": args.lidar, "training labels": args.train_labels,
                   "vector labels": args.label_vector, "prompt file": prompt_file(args.prompts)})
    hsi, lidar = open_pair(args.hsi, args.lidar, args.resample_lidar, log=_log)
    try:
        labels, prompts, _ = training_inputs(hsi, args.train_labels, args.label_vector, args.label_field,
                                             args.prompts, None, args.scene, log=_log)
        model_over = dict(defaults.PRESETS[args.preset])
        model_over.update({k: v for k, v in {"patch_size": args.patch_size, "modalities": args.modalities}.items()
                           if v})
        cfg = TrainConfig(epochs=args.epochs, device=args.device, seed=args.seed, loss=args.loss,
                          distill_weight=args.distill_weight, ce_weight=args.ce_weight, model=model_over)
        _, history = train_to_file(hsi, lidar, labels, prompts, args.text_encoder, cfg, args.out, scene=args.scene,
                                   wavelengths=wavelengths_of(args.hsi), progress=_progress_printer("epoch"),
                                   log=_log)
    finally:
        close_sources(hsi, lidar)
    _log(f"model written to {args.out} (trained in {history['seconds'][-1]:.1f} s)")
    return 0


def cmd_classify(args) -> int:
    from .core.pipeline import ArraySink, classify
    from .workflows import (check_outputs, check_wavelengths, classify_to_geotiff, close_sources,
                            load_model_with_prompts, open_pair, prompt_file)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    check_outputs({"classified raster": args.out, "confidence raster": args.confidence},
                  {"HSI": args.hsi, "LiDAR": args.lidar, "model file": args.model,
                   "prompt file": prompt_file(args.prompts)})
    model, manifest = load_model_with_prompts(args.model, args.prompts)
    hsi, lidar = open_pair(args.hsi, args.lidar, args.resample_lidar, log=_log)
    try:
        check_wavelengths(manifest, args.hsi, _log)
        if out.suffix.lower() == ".npy":  # GDAL-free output for bare GPU boxes
            sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
            conf = ArraySink(hsi.height, hsi.width, np.float32, np.nan) if args.confidence else None
            stats = classify(model, manifest, hsi, lidar, sink, conf, tile=args.tile, device=args.device,
                             progress=_progress_printer("tile"), log=_log, amp=args.amp)
            _save_npy(out, sink.array)
            if conf is not None:
                _save_npy(args.confidence, conf.array)
        else:
            stats = classify_to_geotiff(model, manifest, hsi, lidar, out, args.confidence, tile=args.tile,
                                        device=args.device, progress=_progress_printer("tile"), log=_log,
                                        amp=args.amp)
    finally:
        close_sources(hsi, lidar)
    mpix = stats["pixels"] / 1e6 / max(stats["seconds"], 1e-9)
    _log(f"classified {stats['valid_pixels']} of {stats['pixels']} pixels in {stats['seconds']:.1f} s "
         f"({mpix:.2f} Mpix/s) -> {out}")
    return 0


def _save_npy(path, array) -> None:
    from .core.atomic_files import atomic_path
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _read_classified(spec: str) -> np.ndarray:
    if spec.lower().endswith(".npy"):
        return np.load(spec, allow_pickle=False)
    from .inputs import read_labels
    return read_labels(spec)


def cmd_evaluate(args) -> int:
    from .inputs import read_labels
    from .report import format_report_text
    from .workflows import check_outputs, class_info, evaluate_to_report
    stem = str(Path(args.report).with_suffix(""))
    check_outputs({"report": args.report, "HTML report": stem + ".html",
                   **{f"{k} picture": f"{stem}_{k}.png" for k in ("confusion", "curves", "map")}},
                  {"classified raster": args.classified, "reference labels": args.labels, "model file": args.model})
    predicted = _read_classified(args.classified)
    reference = read_labels(args.labels)
    names, colours, history = class_info(args.model, args.scene, args.classified,
                                         int(max(predicted.max(), reference.max())))
    extra = {"classified": str(args.classified), "labels": str(args.labels),
             "note": "semi-synthetic HSI over real labels and LiDAR" if args.semi_synthetic else None}
    report, _ = evaluate_to_report(predicted, reference, names, colours, args.report, history=history,
                                   title=args.title or Path(args.classified).name, extra=extra)
    print(format_report_text(report))
    return 0


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
    t.add_argument("--train-labels", help="class ids, 0 = unlabeled (.mat or raster on the HSI grid)")
    t.add_argument("--label-vector", help="...or a vector layer of labelled areas (any CRS: reprojected)")
    t.add_argument("--label-field", help="its class field: integer ids, or class names of the prompt set")
    t.add_argument("--out", required=True, help="model file to write (.safetensors)")
    t.add_argument("--prompts", help="prompt set: JSON file or JSON string")
    t.add_argument("--scene", choices=sorted(SCENES), help="benchmark scene: class names and default prompts")
    t.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--text-encoder", default="minilm",
                   help="minilm (offline), clip:MODEL:TAG (e.g. clip:ViT-B-32:openai, needs internet once) "
                        "or clip:MODEL:/path/checkpoint.pt")
    t.add_argument("--loss", default=defaults.DEFAULT_LOSS, choices=defaults.LOSS_MODES)
    t.add_argument("--distill-weight", type=float, default=defaults.DISTILL_WEIGHT,
                   help="self-distillation weight (0 = off)")
    t.add_argument("--ce-weight", type=float, default=defaults.CE_WEIGHT, help="auxiliary cross-entropy weight")
    t.add_argument("--preset", choices=sorted(defaults.PRESETS), default="standard",
                   help="network widths: standard 64/32/128, or fast 16/8/32 (~5x faster CPU inference, "
                        "3x faster training, ~0.3-0.8 point lower OA)")
    t.add_argument("--patch-size", type=int, help="odd neighbourhood size, >= 7 (default 15)")
    t.add_argument("--modalities", choices=["both", "hsi", "lidar"])
    t.add_argument("--threads", type=int, help="CPU threads for torch")
    t.add_argument("--resample-lidar", action="store_true", help="warp a LiDAR raster onto the HSI grid (bilinear)")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("classify", help="classify a whole scene with a model file")
    c.add_argument("--model", required=True)
    c.add_argument("--hsi", required=True, help=img_help)
    c.add_argument("--lidar", required=True, help=img_help)
    c.add_argument("--out", required=True, help="classified GeoTIFF (.tif), or .npy without GDAL")
    c.add_argument("--confidence", help="optional float32 raster of the winning prompt's cosine similarity")
    c.add_argument("--prompts", help="re-word / re-target: prompts JSON re-encoded with the model's text encoder")
    c.add_argument("--tile", type=int, help="tile size in pixels (default: 512 on CPU, from free memory on a GPU)")
    c.add_argument("--device", default="auto")
    c.add_argument("--amp", action="store_true",
                   help="bf16 for the convolutions (float32 head): faster on CUDA and on CPUs with AVX512-BF16 / "
                        "AMX, slower on others; ~99.97 %% identical labels")
    c.add_argument("--threads", type=int)
    c.add_argument("--resample-lidar", action="store_true", help="warp a LiDAR raster onto the HSI grid (bilinear)")
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
    d.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    d.add_argument("--device", default="auto")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Headless runs stream rasters larger than RAM: GDAL's default block cache (5 % of RAM) would
    # dominate the footprint, and one tile row of blocks is all the reuse a tile walk needs.
    os.environ.setdefault("GDAL_CACHEMAX", "256")
    # A terminated run unwinds like an interrupted one: writers delete their partial files.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    except ImportError as exc:  # e.g. open_clip for a clip: text encoder
        _log(f"error: {exc}; install it into this Python (see README, 'Set up')")
        return 2
    except (ValueError, OSError, KeyError, RuntimeError) as exc:  # OSError: FileNotFound, disk full, ...
        _log(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}")
        return 2
