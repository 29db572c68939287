"""Command line (`python -m mmlgnet_qgis`): each command fills one app request and runs it.

Options are named after the request fields (`--batch-size` → `batch_size`), so every field is
reachable here; tests check it against the Processing parameters.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback

from .app.requests import (ClassifyRequest, DemoRequest, EvaluateRequest, ImportRequest, Request, TrainRequest)
from .core import defaults

IMAGE = "file.mat, file.mat:KEY, or a GDAL raster (GeoTIFF)"
CLOUD = ("or LAS/LAZ point cloud(s): a .las/.laz file, a folder of tiles, or several joined by ';', "
         "rasterised onto the HSI grid (--lidar-products)")


def _products(text: str) -> list[str]:
    from .core.lidar_products import parse_products
    try:
        return list(parse_products(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cloud_options(p, trained: bool) -> None:  # noqa: ANN001
    from .core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, PRODUCTS
    default = (f"default {','.join(DEFAULT_PRODUCTS)}: height above ground + laser reflectance" if trained else
               "default: the products the model was trained on; a model trained on a LiDAR raster needs them")
    p.add_argument("--lidar-products", type=_products,
                   help=f"point-cloud LiDAR: comma-separated bands from {', '.join(PRODUCTS)} ({default})")
    p.add_argument("--lidar-fill-radius", type=int, default=DEFAULT_FILL_RADIUS,
                   help="point-cloud LiDAR: empty cells take the mean of cells within this many pixels, else nodata")
    p.add_argument("--lidar-crs", help="point-cloud LiDAR: CRS of files whose header states none (e.g. EPSG:32632)")


def _train_parser(sub) -> None:  # noqa: ANN001
    t = sub.add_parser("train", help="train a model on labelled pixels")
    t.add_argument("--hsi", required=True, help=f"hyperspectral image: {IMAGE}")
    t.add_argument("--lidar", required=True, help=f"LiDAR raster (1 or more bands): {IMAGE}; {CLOUD}")
    t.add_argument("--train-labels", help="class ids, 0 = unlabelled (.mat or raster on the HSI grid)")
    t.add_argument("--label-vector", help="...or a vector layer of labelled areas (any CRS: reprojected)")
    t.add_argument("--label-field", help="its class field: integer ids, or class names of the prompt set")
    t.add_argument("--out", required=True, help="model file to write (.safetensors)")
    t.add_argument("--prompts", help="prompt set: JSON file or JSON string")
    t.add_argument("--project-prompts", help="a fallback prompt set (JSON), used when --prompts is not given")
    t.add_argument("--scene", choices=defaults.SCENE_NAMES, help="benchmark scene: class names and default prompts")
    t.add_argument("--text-encoder", default=defaults.TEXT_ENCODER,
                   help="minilm (offline), clip:MODEL:TAG (e.g. clip:ViT-B-32:openai, needs internet once) "
                        "or clip:MODEL:/path/checkpoint.pt")
    t.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    t.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE)
    t.add_argument("--lr", type=float, default=defaults.LEARNING_RATE, help="peak learning rate (AdamW)")
    t.add_argument("--preset", choices=sorted(defaults.PRESETS), default=defaults.DEFAULT_PRESET,
                   help="distilled (default): the standard network is trained twice first, with the prompt "
                        "head and with a plain classifier (the teachers; not written), then the fast one learns "
                        "their mean class scores on every pixel of the scene and classifies by the prompts "
                        "(about the teachers' accuracy, ~4x faster classification, ~3x the training time); "
                        "standard 64/32/128; fast 16/8/32 without a teacher (~0.3-0.8 point lower OA)")
    t.add_argument("--hsi-width", type=int, help="HSI branch width (overrides the preset)")
    t.add_argument("--lidar-width", type=int, help="LiDAR branch width (overrides the preset)")
    t.add_argument("--fusion-width", type=int, help="fusion width (overrides the preset)")
    t.add_argument("--patch-size", type=int, default=defaults.PATCH_SIZE, help="odd neighbourhood size, >= 7")
    t.add_argument("--modalities", choices=defaults.MODALITIES, default="both")
    t.add_argument("--loss", default=defaults.DEFAULT_LOSS, choices=defaults.LOSS_MODES)
    t.add_argument("--distill-weight", type=float, default=defaults.DISTILL_WEIGHT,
                   help="self-distillation weight (0 = off)")
    t.add_argument("--ce-weight", type=float, default=defaults.CE_WEIGHT, help="auxiliary cross-entropy weight")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    t.add_argument("--resample-lidar", action="store_true", help="warp a LiDAR raster onto the HSI grid (bilinear)")
    _cloud_options(t, trained=True)
    t.add_argument("--log-file", help="write the training log here (text)")
    t.add_argument("--report-html", help="write an HTML page with the training curves here")
    t.add_argument("--validation-fraction", type=float, default=0.0,
                   help="hold out this share of each class's labelled pixels, in blocks of 2 x patch size, "
                        "for a validation OA per epoch and the open-set thresholds (0 = train on all)")
    t.add_argument("--early-stopping", action="store_true", help="keep the best validation epoch's weights")
    t.add_argument("--teacher", help="knowledge distillation: a trained model file (.safetensors) whose soft "
                                     "class scores over every pixel of the scene this (e.g. --preset fast) "
                                     "network learns too; its prompts, text encoder and normalisation are kept")
    t.set_defaults(request=TrainRequest, label="epoch")


def _classify_parser(sub) -> None:  # noqa: ANN001
    c = sub.add_parser("classify", help="classify a whole scene with a model file")
    c.add_argument("--model", required=True)
    c.add_argument("--hsi", nargs="+", default=[], help=f"{IMAGE}; several (with --cluster): one output each")
    c.add_argument("--lidar", nargs="+", default=[], help=f"{IMAGE}; {CLOUD}; several: pairwise with --hsi")
    c.add_argument("--out", help="classified GeoTIFF (.tif), or .npy without GDAL")
    c.add_argument("--confidence", help="optional float32 raster of the winning prompt's cosine similarity")
    c.add_argument("--prompts", help="re-word / re-target: prompts JSON re-encoded with the model's text encoder")
    c.add_argument("--tile", type=int, default=0,
                   help="tile size in pixels (0: 512 on CPU, from free memory on a GPU)")
    c.add_argument("--device", default="auto")
    c.add_argument("--amp", action="store_true",
                   help="bf16 for the convolutions (float32 head): faster on CUDA and on CPUs with AVX512-BF16 / "
                        "AMX, slower on others; ~99.97 %% identical labels")
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("--runtime", default="torch", choices=defaults.RUNTIMES,
                   help="onnx: ONNX Runtime on the CPU (pip install onnxruntime): same labels, faster; onnx-int8: "
                        "int8 convolutions calibrated on 32 crops of the input (pip install onnx onnxruntime): "
                        "fastest, ~99.7 %% identical labels")
    c.add_argument("--resample-lidar", action="store_true", help="warp a LiDAR raster onto the HSI grid (bilinear)")
    c.add_argument("--resample-bands", default="none", choices=["none", "linear", "gaussian"],
                   help="resample the HSI's spectra to the model's band centres (another sensor, or a band subset): "
                        "linear in wavelength, or gaussian responses (needs the scene's FWHM; else linear)")
    _cloud_options(c, trained=False)
    c.add_argument("--unknown-threshold", default="none",
                   help="none; auto: the model's per-class thresholds (calibrated at training); or a cosine, "
                        "e.g. 0.5: pixels whose best cosine is lower get the class 'unknown' (id K+1)")
    _cluster_options(c)
    c.set_defaults(request=ClassifyRequest, label="tile")


def _cluster_options(c) -> None:  # noqa: ANN001
    d = c.add_argument_group("on a Dask cluster (any of these runs DistributedClassifyRequest; GDAL rasters only)")
    d.add_argument("--cluster", help="local (one worker process per core), local:N, or a scheduler address "
                                     "tcp://host:8786; workers must see the same paths")
    d.add_argument("--scenes", help="CSV of scenes: hsi,lidar[,out[,confidence]] per line (paths relative to it)")
    d.add_argument("--out-dir", help="several scenes: <hsi name>_classes.tif written here")
    d.add_argument("--with-confidence", action="store_true", help="with --out-dir: also <hsi name>_confidence.tif")
    d.add_argument("--block-tiles", type=int, default=4, help="a task classifies N x N tiles (default 4)")
    d.add_argument("--gdal-cachemax", type=int, default=256, help="GDAL block cache per worker process, MB")


def _classify_request(args: argparse.Namespace) -> Request:
    """ClassifyRequest for one scene in this process; DistributedClassifyRequest for a cluster or several scenes."""
    from .app.distributed_requests import DistributedClassifyRequest
    from .core.errors import InputError
    if not (args.cluster or args.scenes or args.out_dir or args.with_confidence or len(args.hsi) > 1):
        if len(args.hsi) != 1 or len(args.lidar) != 1 or not args.out:
            raise InputError("classify needs --hsi, --lidar and --out (or --cluster with --scenes / --out-dir)")
        args.hsi, args.lidar = args.hsi[0], args.lidar[0]
        return ClassifyRequest.from_dict({n: getattr(args, n) for n in ClassifyRequest.field_names()})
    unsupported = [o for o, v in (("--prompts", args.prompts), ("--resample-lidar", args.resample_lidar),
                                  ("--lidar-products", args.lidar_products), ("--lidar-crs", args.lidar_crs),
                                  (f"--runtime {args.runtime}", args.runtime != "torch"),
                                  ("--unknown-threshold", args.unknown_threshold != "none"),
                                  ("--resample-bands", args.resample_bands != "none")) if v]
    if unsupported:
        raise InputError(f"{', '.join(unsupported)}: not available on a cluster; classify such scenes in one process, "
                         f"or prepare the inputs first (rasterise-lidar, gdalwarp)")
    values = {n: getattr(args, n) for n in DistributedClassifyRequest.field_names() if hasattr(args, n)}
    values["cluster"] = args.cluster or "local"
    values["threads"] = args.threads or 1  # one task per worker process: one torch thread each by default
    args.label = "block"
    return DistributedClassifyRequest.from_dict(values)


def _evaluate_parser(sub) -> None:  # noqa: ANN001
    e = sub.add_parser("evaluate", help="accuracy of a classified raster against reference labels")
    e.add_argument("--classified", required=True, help="classified raster (.tif) or .npy")
    e.add_argument("--labels", help="reference labels (.mat or raster), 0 = unlabelled")
    e.add_argument("--label-vector", help="...or a vector layer of reference areas")
    e.add_argument("--label-field", help="its class field: integer ids, or class names")
    e.add_argument("--report", required=True, help="report .json or .html; both are written, with PNGs beside")
    e.add_argument("--model", help="model file, for class names, colours and training curves")
    e.add_argument("--scene", choices=defaults.SCENE_NAMES)
    e.add_argument("--title")
    e.add_argument("--semi-synthetic", action="store_true", help="label the report as semi-synthetic HSI")
    e.set_defaults(request=EvaluateRequest, label="")


def _import_parser(sub) -> None:  # noqa: ANN001
    i = sub.add_parser("import", help="a benchmark .mat array as a georeferenced GeoTIFF")
    i.add_argument("--mat", required=True, help="file.mat or file.mat:KEY")
    i.add_argument("--out", required=True, help="GeoTIFF to write")
    i.add_argument("--data-kind", default="auto", choices=["auto", "hsi", "lidar", "labels"])
    i.add_argument("--scene", choices=defaults.SCENE_NAMES, help="nominal grid and class names")
    i.add_argument("--epsg", type=int)
    i.add_argument("--origin-x", type=float, help="left edge")
    i.add_argument("--origin-y", type=float, help="top edge")
    i.add_argument("--pixel-size", type=float)
    i.set_defaults(request=ImportRequest, label="")


def _rasterise_parser(sub) -> None:  # noqa: ANN001
    from .app.rasterise_requests import RasteriseLidarRequest
    from .core.lidar_products import DEFAULT_FILL_RADIUS, DEFAULT_PRODUCTS, PRODUCTS
    r = sub.add_parser("rasterise-lidar", aliases=["rasterise_lidar"],
                       help="LAS/LAZ point clouds onto a reference raster's grid (GeoTIFF)")
    r.add_argument("--point-clouds", nargs="+", required=True, help=".las / .laz files and folders of tiles")
    r.add_argument("--reference", required=True, help="raster whose grid (CRS, extent, pixel size) is used, e.g. the HSI")
    r.add_argument("--out", required=True, help="float32 GeoTIFF, one band per product")
    r.add_argument("--products", type=_products, default=list(DEFAULT_PRODUCTS),
                   help=f"comma-separated, from {', '.join(PRODUCTS)} (default {','.join(DEFAULT_PRODUCTS)})")
    r.add_argument("--fill-radius", type=int, default=DEFAULT_FILL_RADIUS,
                   help="empty cells take the mean of cells within this many pixels, else nodata")
    r.add_argument("--assume-crs", help="CRS of files whose header states none (e.g. EPSG:32632)")
    r.add_argument("--chunk-points", type=int, default=1_000_000, help="points read at a time")
    r.set_defaults(request=RasteriseLidarRequest, label="points")


def _demo_parser(sub) -> None:  # noqa: ANN001
    d = sub.add_parser("demo", help="train on Trento, classify, write GeoTIFF + accuracy report")
    d.add_argument("--data", default=os.environ.get("MMLGNET_DATA"),
                   help="benchmark data folder (default $MMLGNET_DATA); none: a rendered synthetic scene")
    d.add_argument("--out", default="demo-out")
    d.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    d.add_argument("--device", default="auto")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(request=DemoRequest, label="step")


def build_parser() -> argparse.ArgumentParser:
    """Returns: the parser of every command."""
    p = argparse.ArgumentParser(prog="python -m mmlgnet_qgis",
                                description="MMLGNet: language-guided HSI + LiDAR classification.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_train_parser, _classify_parser, _evaluate_parser, _import_parser, _rasterise_parser, _demo_parser):
        add(sub)
    w = sub.add_parser("worker", help="serve JSON-lines requests on stdin (used by the QGIS plugin)")
    w.set_defaults(request=None, label="")
    return p


def request_from_args(args: argparse.Namespace) -> Request:
    """Returns: the command's request, its fields taken from the options of the same name."""
    cls = args.request
    if cls is ClassifyRequest:
        return _classify_request(args)
    return cls.from_dict({name: getattr(args, name) for name in cls.field_names() if hasattr(args, name)})


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run one command.

    Args:
        argv: the arguments (default sys.argv[1:]).

    Returns:
        The exit status: 0 done, 2 a problem the user can fix, 130 interrupted, 1 a bug.
    """
    from .core.errors import MMLGNetError
    from .core.reporter import TerminalReporter
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        from .worker.server import main as worker_main
        return worker_main([])
    os.environ.setdefault("GDAL_CACHEMAX", str(defaults.GDAL_CACHEMAX_MB))
    # A terminated run unwinds like an interrupted one: writers delete their partial files.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        from . import app
        app.run(request_from_args(args), TerminalReporter(args.label))
        return 0
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except (MMLGNetError, OSError) as exc:  # OSError: file not found, disk full, permission
        _say(f"error: {exc}")
        return 2
    except ImportError as exc:  # e.g. open_clip for a clip: text encoder
        _say(f"error: {exc}; install it into this Python (see README, 'Set up')")
        return 2
    except Exception:  # noqa: BLE001 (anything else is a bug: keep the traceback)
        traceback.print_exc()
        _say("error: this is a bug in mmlgnet-qgis; please report it with the traceback above")
        return 1
