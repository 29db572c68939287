"""Use case: classify a whole scene tile by tile into a class GeoTIFF (+ confidence), or .npy."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.reporter import Reporter, or_null
from .band_resample import check_method, resampled_hsi
from .hsi_bands import hsi_selection
from .lidar_source import classify_options
from .outputs import check_outputs, prompt_file
from .requests import ClassifyRequest, ClassifyResult
from .sources import check_wavelengths, opened_pair, output_grid

if TYPE_CHECKING:  # torch loads on first use, not when the front ends import the app layer
    from ..core.manifest import Manifest
    from ..core.model import MMLGNet
    from ..core.pipeline import WindowSource


def load_model_with_prompts(model_path: str, prompts: str | None = None) -> tuple[MMLGNet, Manifest]:
    """Model and manifest; with prompts, re-encoded with the model's own text encoder (re-target).

    Args:
        model_path: the model file.
        prompts: an edited prompt set (JSON text or path), or None.

    Returns:
        (model, manifest).
    """
    from ..core.model_file import load_model
    from ..core.pipeline import retarget
    model, manifest = load_model(model_path)
    if prompts and prompts.strip():
        from ..core.prompts import load_prompt_set
        from ..core.text_encoders import build_text_encoder
        manifest = retarget(model, manifest, load_prompt_set(prompts.strip()),
                            build_text_encoder(manifest.text_encoder))
    return model, manifest


UNKNOWN_NAME, UNKNOWN_COLOUR = "unknown", "#808080"
UNKNOWN_METADATA = "MMLGNET_UNKNOWN_THRESHOLD"


def unknown_thresholds(spec: str, manifest: Manifest) -> np.ndarray | None:
    """Per-class thresholds that `--unknown-threshold` asks for.

    Args:
        spec: none, auto (the model's calibrated thresholds) or a cosine in -1..1.
        manifest: the model's manifest (after any re-targeting).

    Returns:
        (K,) float32 thresholds, or None for none.

    Raises:
        InputError: an unreadable value, or auto for a model without calibrated thresholds.
    """
    from ..core.errors import InputError
    spec = (spec or "none").strip().lower()
    if spec == "none":
        return None
    if spec == "auto":
        if manifest.unknown_thresholds is None:
            raise InputError("--unknown-threshold auto: this model holds no calibrated thresholds (trained before "
                             "they existed, or re-targeted to other classes); give a cosine such as 0.5")
        return np.asarray(manifest.unknown_thresholds, np.float32)
    try:
        value = float(spec)
    except ValueError:
        raise InputError(f"unknown threshold must be none, auto or a cosine in -1..1, got {spec!r}") from None
    if not -1 <= value <= 1:
        raise InputError(f"unknown threshold is a cosine, so in -1..1; got {value}")
    return np.full(len(manifest.classes), value, np.float32)


def _threshold_text(spec: str, thresholds: np.ndarray, manifest: Manifest) -> str:
    """The GeoTIFF metadata item: which threshold made the unknown class."""
    per_class = ", ".join(f"{n} {t:.4f}" for n, t in zip(manifest.names, thresholds))
    return f"{spec.strip().lower()}: id {len(manifest.names) + 1} = winning cosine below ({per_class})"


def _write_geotiffs(model: MMLGNet, manifest: Manifest, hsi: WindowSource, lidar: WindowSource,
                    req: ClassifyRequest, reporter: Reporter) -> dict:
    """Stream into a paletted class GeoTIFF (+ .qml) and an optional float32 confidence raster.

    Both are written under temporary names and published only when both are complete.
    """
    from ..core.pipeline import classify
    from ..raster.writer import ClassRasterWriter, FloatRasterWriter
    grid = output_grid(hsi, manifest.scene)
    unknown = unknown_thresholds(req.unknown_threshold, manifest)
    extra = ([UNKNOWN_NAME], [UNKNOWN_COLOUR]) if unknown is not None else ([], [])
    writers = [ClassRasterWriter(req.out, grid, manifest.names + extra[0], manifest.colours + extra[1])]
    if req.confidence:
        writers.append(FloatRasterWriter(req.confidence, grid, description="cosine similarity of the winning prompt",
                                         value_range="auto"))  # viridis .qml over the values written
    try:
        for w in writers:
            w.open()
        if unknown is not None:
            writers[0].dataset.SetMetadataItem(UNKNOWN_METADATA, _threshold_text(req.unknown_threshold, unknown,
                                                                                 manifest))
        stats = classify(model, manifest.normalisation, hsi, lidar, writers[0], writers[1] if req.confidence else None,
                         tile=req.tile or None, device=req.device, reporter=reporter, amp=req.amp, unknown=unknown,
                         runtime=req.runtime)
        for w in writers:  # both complete before either appears under its name
            w.finish()
        for w in writers:
            w.publish()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return stats


def _write_npy(model: MMLGNet, manifest: Manifest, hsi: WindowSource, lidar: WindowSource,
               req: ClassifyRequest, reporter: Reporter) -> dict:
    """GDAL-free output for bare GPU boxes: .npy class ids (and confidence)."""
    from ..core.atomic_files import atomic_path
    from ..core.pipeline import ArraySink, classify
    sink = ArraySink(hsi.height, hsi.width, np.uint16, 0)
    conf = ArraySink(hsi.height, hsi.width, np.float32, np.nan) if req.confidence else None
    stats = classify(model, manifest.normalisation, hsi, lidar, sink, conf, tile=req.tile or None, device=req.device,
                     reporter=reporter, amp=req.amp, unknown=unknown_thresholds(req.unknown_threshold, manifest),
                     runtime=req.runtime)
    for path, sink_ in ((req.out, sink), (req.confidence, conf)):
        if sink_ is not None:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, sink_.array)
    return stats


def run(req: ClassifyRequest, reporter: Reporter | None = None) -> ClassifyResult:
    """Classify every pixel of the scene.

    Args:
        req: model, inputs, outputs and how to run.
        reporter: progress per tile, log, cancel.

    Returns:
        Outputs, classes and run statistics.
    """
    from ..core.threads import torch_threads
    reporter = or_null(reporter)
    check_outputs({"classified raster": req.out, "confidence raster": req.confidence},
                  {"HSI": req.hsi, "LiDAR": req.lidar, "model file": req.model, "prompt file": prompt_file(req.prompts)})
    model, manifest = load_model_with_prompts(req.model, req.prompts)
    unknown = unknown_thresholds(req.unknown_threshold, manifest)  # refused before any reading
    resample_bands = check_method(req.resample_bands)
    if unknown is not None:
        reporter.log(f"unknown: id {len(manifest.names) + 1} where the winning cosine is below "
                     f"{', '.join(f'{t:.3f}' for t in unknown)}")
    reporter.log(f"model: {len(manifest.names)} classes ({', '.join(manifest.names[:20])}), "
                 f"patch {manifest.patch_size}, text encoder {manifest.encoder_name}")
    write = _write_npy if Path(req.out).suffix.lower() == ".npy" else _write_geotiffs
    cloud = classify_options(req.lidar, req.lidar_products, req.lidar_fill_radius, req.lidar_crs,
                             manifest.lidar_products, req.model, manifest.lidar_bands)
    select = hsi_selection(req.hsi, manifest, reporter)
    with opened_pair(req.hsi, req.lidar, req.resample_lidar, reporter, cloud, manifest.scene, select) as (hsi, lidar):
        if resample_bands != "none":
            hsi = resampled_hsi(hsi, req.hsi, manifest, select, resample_bands, reporter)
        else:
            check_wavelengths(manifest, req.hsi, reporter, select)
        with torch_threads(req.threads):
            stats = write(model, manifest, hsi, lidar, req, reporter)
    mpix = stats["pixels"] / 1e6 / max(stats["seconds"], 1e-9)
    reporter.log(f"classified {stats['valid_pixels']} of {stats['pixels']} pixels in {stats['tiles']} tiles on "
                 f"{stats['device']} in {stats['seconds']:.1f} s ({mpix:.2f} Mpix/s) -> {req.out}")
    extra = ([UNKNOWN_NAME], [UNKNOWN_COLOUR]) if unknown is not None else ([], [])
    return ClassifyResult(out=req.out, confidence=req.confidence, classes=manifest.names + extra[0],
                          colours=manifest.colours + extra[1],
                          pixels=int(stats["pixels"]), valid_pixels=int(stats["valid_pixels"]),
                          tiles=int(stats["tiles"]), device=str(stats["device"]), seconds=float(stats["seconds"]))
