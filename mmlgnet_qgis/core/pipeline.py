"""Train and classify from sources of windows: in-memory arrays here, GDAL rasters in `raster/`.

A source (`WindowSource`) offers `.name`, `.height`, `.width`, `.bands` and
`read_window_with_mask(x0, y0, w, h) -> ((B, h, w) float32, (h, w) bool valid)`: one read gives
both. Classification streams tile by tile, so a raster source larger than memory classifies in
bounded memory.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import torch

from .defaults import RUNTIMES
from .folding import fold_batchnorm
from .inference import Region, Window, count_tiles, predict_tile, reflect_pad, tile_windows
from .model import MMLGNet
from .normalization import band_stats, normalise, valid_pixels
from .prompts import PromptSet, class_embeddings
from .errors import InputError
from .manifest import ClassInfo, Manifest
from .reporter import Reporter, check_cancelled, or_null
from .training import TrainConfig, resolve_device, train_model
from .validation import apply_unknown

if TYPE_CHECKING:
    from .onnx_runtime import OnnxTileModel
    from .text_encoders import TextEncoder

T = TypeVar("T")
# one tile for the network: its window, halo-padded normalised HSI and LiDAR, (rh, rw) valid mask
Tile = tuple[Window, np.ndarray, np.ndarray, np.ndarray]


TRAIN_IN_MEMORY_BYTES = 1 << 30  # fit reads an HSI up to this size (float32) whole, a larger one by windows


class WindowSource(Protocol):
    """What training and classification read: a named (bands, height, width) raster, by windows.

    `ArraySource` (below) and the GDAL sources in `raster/` implement it.
    """

    @property
    def name(self) -> str:
        """Name used in messages, e.g. 'HSI (path)'."""

    @property
    def height(self) -> int:
        """Rows."""

    @property
    def width(self) -> int:
        """Columns."""

    @property
    def bands(self) -> int:
        """Bands."""

    def read_window_with_mask(self, x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a window: (B, h, w) float32 values and the (h, w) bool mask of valid pixels."""


class WindowSink(Protocol):
    """What classification writes: `ArraySink` (below) or the GeoTIFF sinks in `raster/`."""

    def write_window(self, x0: int, y0: int, block: np.ndarray) -> None:
        """Write an (h, w) block whose top-left pixel is column x0, row y0."""


class ArraySource:
    """A (B, H, W) array as a window source; nodata / NaN pixels are invalid.

    Args:
        chw: (B, H, W) values, or (H, W) for one band.
        name: name used in messages.
        nodata: value marking invalid pixels (NaN / inf are always invalid).
    """

    def __init__(self, chw: np.ndarray, name: str = "array", nodata: float | None = None) -> None:
        if chw.ndim == 2:
            chw = chw[None]
        self.array, self.name, self.nodata = chw, name, nodata

    height = property(lambda self: self.array.shape[1])
    width = property(lambda self: self.array.shape[2])
    bands = property(lambda self: self.array.shape[0])

    def read_window(self, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """Returns: the (B, h, w) float32 window whose top-left pixel is column x0, row y0."""
        return np.asarray(self.array[:, y0:y0 + h, x0:x0 + w], dtype=np.float32)

    def read_window_with_mask(self, x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns: the window as `read_window` gives it and its (h, w) bool mask of valid pixels."""
        return (self.read_window(x0, y0, w, h),
                valid_pixels(self.array[:, y0:y0 + h, x0:x0 + w], self.nodata))


def named(src: WindowSource, label: str) -> str:
    """'HSI (path)' as the inputs name their sources, else "HSI 'name'"."""
    return src.name if str(src.name).startswith(label) else f"{label} '{src.name}'"


def check_same_size(hsi: WindowSource, lidar: WindowSource) -> None:
    """Raises: InputError when the two sources differ in height or width."""
    if (hsi.height, hsi.width) != (lidar.height, lidar.width):
        raise InputError(f"{named(hsi, 'HSI')} is {hsi.height} x {hsi.width} pixels but {named(lidar, 'LiDAR')} "
                         f"is {lidar.height} x {lidar.width}: they must share one grid")


def read_whole(src: WindowSource) -> tuple[np.ndarray, np.ndarray]:
    """Returns: the whole source as (B, H, W) float32 values and the (H, W) valid mask."""
    return src.read_window_with_mask(0, 0, src.width, src.height)


def reads_whole(hsi: WindowSource, in_memory_bytes: int | None = None) -> bool:
    """Whether training reads this HSI whole (float32 size up to `in_memory_bytes`, None: 1 GiB) or by windows."""
    limit = TRAIN_IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes
    return 4 * hsi.bands * hsi.height * hsi.width <= limit


def fit(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, prompt_set: PromptSet, encoder: TextEncoder,
        cfg: TrainConfig, wavelengths: list[float | None] | None = None,
        reporter: Reporter | None = None,
        in_memory_bytes: int | None = None) -> tuple[MMLGNet, Manifest, dict]:
    """Train on the sources: whole when the HSI fits `in_memory_bytes`, else from windows around the labels.

    A scene whose HSI is larger (as float32) is never read whole: the windows around the labelled
    pixels are read and their patches cut (core/windowed.py, the same patches in the same order as
    whole-scene training draws), and the band statistics come from a bounded sample of the scene.

    Args:
        hsi: HSI window source.
        lidar: LiDAR window source on the same grid.
        labels: (H, W) class ids, 0 = unlabelled.
        prompt_set: the classes and their prompts.
        encoder: the frozen text encoder.
        cfg: training settings; head "linear" trains a plain classifier that only teaches a student
            (its manifest holds the prompts' embeddings; save_model refuses it).
        wavelengths: HSI band centres (nm), recorded in the manifest.
        reporter: progress per epoch, log, cancel.
        in_memory_bytes: the largest HSI (bands x pixels x 4 bytes) read whole; 0 = always windows;
            None = TRAIN_IN_MEMORY_BYTES (1 GiB).

    Returns:
        (model, manifest, history).

    Raises:
        InputError: the sources or labels differ in size, every (labelled) pixel is nodata, or a
            label id exceeds the prompt set's classes.
    """
    reporter = or_null(reporter)
    check_same_size(hsi, lidar)
    if labels.shape != (hsi.height, hsi.width):
        raise InputError(f"training labels are {labels.shape[0]} x {labels.shape[1]} pixels, the "
                         f"{named(hsi, 'HSI')} is {hsi.height} x {hsi.width}")
    if reads_whole(hsi, in_memory_bytes):
        h_norm, l_norm, labels, stats, held = _whole_scene_data(hsi, lidar, labels)
    else:
        h_norm, l_norm, labels, stats, held = _windowed_data(hsi, lidar, labels, cfg, reporter)
    h_mean, h_std, l_mean, l_std = stats
    t0 = time.perf_counter()
    emb = class_embeddings(prompt_set, encoder)
    reporter.log(f"encoded {len(prompt_set.classes)} class prompts with {encoder.identity()['model']} "
                 f"({emb.shape[1]}-d) in {time.perf_counter() - t0:.1f} s")
    outcome: dict = {}
    model, history = train_model(h_norm, l_norm, labels, emb, cfg, reporter, outcome, held=held)
    manifest = Manifest(
        hsi_bands=hsi.bands, lidar_bands=lidar.bands, model=model.cfg.to_dict(),
        classes=[ClassInfo(c.id, c.name, c.color) for c in prompt_set.classes],
        # the prompts' embeddings: a linear-head network (a teacher, never written) holds random prototypes
        text_encoder=encoder.identity(), class_embeddings=emb.tolist(),
        normalisation={"hsi_mean": h_mean.tolist(), "hsi_std": h_std.tolist(),
                       "lidar_mean": l_mean.tolist(), "lidar_std": l_std.tolist()},
        prompts=prompt_set, wavelengths_nm=wavelengths, history=history,
        unknown_thresholds=outcome["unknown_thresholds"],
        training={"config": cfg.to_dict(), "labelled_pixels": int((labels > 0).sum()),
                  "validation_pixels": outcome["validation_pixels"], "best_epoch": outcome["best_epoch"],
                  "unknown_calibration": {"on": outcome["calibrated_on"], "percentile": cfg.unknown_percentile},
                  "seconds": history["seconds"][-1], "final_loss": history["loss"][-1],
                  "final_train_oa": history["train_oa"][-1]})
    return model, manifest, history


def _whole_scene_data(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray) -> tuple:
    """Read both sources whole: normalised HSI and LiDAR, labels with nodata pixels unlabelled, stats, None."""
    h_raw, h_ok = read_whole(hsi)
    l_raw, l_ok = read_whole(lidar)
    valid = h_ok & l_ok
    if not valid.any():
        raise InputError(f"every pixel is nodata (or NaN / inf) in {named(hsi, 'HSI')} or {named(lidar, 'LiDAR')}: "
                         f"nothing to train on")
    if (labels > 0).any() and not (valid & (labels > 0)).any():
        raise InputError(f"all {int((labels > 0).sum())} labelled pixels fall on nodata (or NaN / inf) in "
                         f"{named(hsi, 'HSI')} or {named(lidar, 'LiDAR')}")
    h_mean, h_std = band_stats(h_raw, valid)
    l_mean, l_std = band_stats(l_raw, valid)
    labels = np.where(valid, labels, 0)  # never learn from nodata pixels
    return (normalise(h_raw, h_mean, h_std, valid, hsi.name), normalise(l_raw, l_mean, l_std, valid, lidar.name),
            labels, (h_mean, h_std, l_mean, l_std), None)


def _windowed_data(hsi: WindowSource, lidar: WindowSource, labels: np.ndarray, cfg: TrainConfig,
                   reporter: Reporter) -> tuple:
    """Read the windows around the labelled pixels (core/windowed.py): the patch grid, normalised, and its split."""
    from .model import ModelConfig
    from .validation import blocked_split_pixels
    from .windowed import windowed_training_data
    p = ModelConfig(hsi.bands, lidar.bands, 1, **cfg.model).patch_size
    t0 = time.perf_counter()
    grid, stats, info = windowed_training_data(hsi, lidar, labels, p, reporter=reporter)
    reporter.log(f"windowed training (the HSI, {4 * hsi.bands * hsi.height * hsi.width / 2**30:.1f} GiB as float32, "
                 f"is not read whole): "
                 f"{info['labelled']} labelled pixels read in {info['windows']} windows "
                 f"({info['pixels_read'] / 1e6:.2f} Mpix), patches {info['grid_mb']:.0f} MB; band statistics from "
                 f"{'every valid pixel' if info['stats_whole_scene'] else 'a sample of'} {info['stats_pixels']} "
                 f"pixels; {time.perf_counter() - t0:.1f} s")
    h_mean, h_std, l_mean, l_std = stats
    h_norm = normalise(grid.hsi, h_mean, h_std, grid.valid, hsi.name)
    grid.hsi = None  # the raw values are no longer needed
    l_norm = normalise(grid.lidar, l_mean, l_std, grid.valid, lidar.name)
    held = blocked_split_pixels(grid.rows, grid.cols, grid.ids, hsi.width, cfg.validation_fraction, 2 * p, cfg.seed)
    return h_norm, l_norm, grid.labels, stats, held


def retarget(model: MMLGNet, manifest: Manifest, prompt_set: PromptSet, encoder: TextEncoder) -> Manifest:
    """Re-encode edited prompts with the model's text encoder: re-word or re-target a model.

    Args:
        model: the network; its class embeddings are replaced.
        manifest: its manifest.
        prompt_set: the new classes and prompts.
        encoder: the model's own text encoder.

    Returns:
        The manifest with the new classes and prompts.

    Raises:
        InputError: the encoder's embedding size is not the model's.
    """
    if encoder.identity()["dim"] != model.cfg.embed_dim:
        raise InputError(f"text encoder gives {encoder.identity()['dim']}-d embeddings; the model was "
                         f"trained in {model.cfg.embed_dim}-d ({manifest.text_encoder})")
    emb = class_embeddings(prompt_set, encoder)
    model.set_class_embeddings(torch.as_tensor(emb))
    return manifest.with_prompts(prompt_set, model.class_embeddings.numpy().tolist())


class ArraySink:
    """Collects classified windows in memory (the raster layer offers GeoTIFF sinks).

    Args:
        height: rows.
        width: columns.
        dtype: the array's dtype.
        fill: initial value of every pixel.
    """

    def __init__(self, height: int, width: int, dtype: np.dtype | type, fill: float) -> None:
        self.array = np.full((height, width), fill, dtype)

    def write_window(self, x0: int, y0: int, block: np.ndarray) -> None:
        """Copy an (h, w) block into the array at column x0, row y0."""
        self.array[y0:y0 + block.shape[0], x0:x0 + block.shape[1]] = block


def auto_tile_size(model: MMLGNet, device: torch.device, requested: int | None = None) -> int:
    """CPU: 512. CUDA: the largest tile whose activations fit in ~40 % of free device memory."""
    if requested:
        return int(requested)
    if device.type != "cuda":
        return 512
    c = model.cfg
    # float32 bytes per pixel of the widest live activations (+ the bf16 copies autocast keeps)
    per_px = 4 * 3 * (c.hsi_width + c.lidar_width + 2 * c.fusion_width + c.embed_dim
                      + c.hsi_bands + c.lidar_bands)
    free, _ = torch.cuda.mem_get_info(device)
    side = int((0.4 * free / per_px) ** 0.5)
    return max(256, min(8192, side - model.cfg.patch_size + 1))


def for_inference(model: MMLGNet, dev: torch.device) -> MMLGNet:
    """An eval-mode copy on the device with BatchNorm folded into the convolutions.

    The caller's model is left as it was (it may go on training or be saved). On CPU the weights
    go channels-last, which oneDNN runs 1.3x faster for the convolutions and 5x faster for the
    9 x 9 context mean (benchmarks/results).

    Args:
        model: the trained network.
        dev: where inference runs.

    Returns:
        The inference copy.
    """
    model = fold_batchnorm(model).to(dev)
    return model.to(memory_format=torch.channels_last) if dev.type == "cpu" else model


def _predict_safe(model: MMLGNet | OnnxTileModel, h: np.ndarray, l: np.ndarray, dev: torch.device,
                  amp_dtype: torch.dtype | None, halo: int, with_similarity: bool = True):
    """predict_tile; on CUDA out-of-memory split the tile in two (halo kept) and go on."""
    if not isinstance(model, torch.nn.Module):  # --runtime onnx
        return model.predict(h, l, with_similarity)
    try:
        return predict_tile(model, h, l, dev, amp_dtype, with_similarity)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        out_h, out_w = h.shape[1] - 2 * halo, h.shape[2] - 2 * halo
        if max(out_h, out_w) < 16:
            raise
        if out_h >= out_w:
            m = out_h // 2
            parts = [(h[:, :m + 2 * halo], l[:, :m + 2 * halo]), (h[:, m:], l[:, m:])]
            axis = 0
        else:
            m = out_w // 2
            parts = [(h[:, :, :m + 2 * halo], l[:, :, :m + 2 * halo]), (h[:, :, m:], l[:, :, m:])]
            axis = 1
        res = [_predict_safe(model, ph, pl, dev, amp_dtype, halo, with_similarity) for ph, pl in parts]
        sims = None if res[0][1] is None else np.concatenate([r[1] for r in res], axis)
        return np.concatenate([r[0] for r in res], axis), sims


def _read_tiles(hsi: WindowSource, lidar: WindowSource, norm: dict, windows: Iterable[Window],
                timers: dict[str, float]) -> Iterator[Tile]:
    """Read (one read per source gives values and mask), normalise and pad each tile + halo.

    GDAL releases the GIL, so this runs in a reader thread overlapping I/O with the network.
    """
    for win in windows:
        t0 = time.perf_counter()
        args = (win.rx0, win.ry0, win.rw, win.rh)
        h_raw, h_ok = hsi.read_window_with_mask(*args)
        l_raw, l_ok = lidar.read_window_with_mask(*args)
        t1 = time.perf_counter()
        valid = h_ok & l_ok
        h = normalise(h_raw, norm["hsi_mean"], norm["hsi_std"], valid, hsi.name)
        l = normalise(l_raw, norm["lidar_mean"], norm["lidar_std"], valid, lidar.name)
        item = win, reflect_pad(h, win.pad), reflect_pad(l, win.pad), valid
        timers["read"] += t1 - t0
        timers["normalise"] += time.perf_counter() - t1
        yield item


def _prefetch(gen: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Run a generator in a background thread, `depth` items ahead; re-raise its errors."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in gen:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True, name="mmlgnet-reader")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def classify(model: MMLGNet, normalisation: dict, hsi: WindowSource, lidar: WindowSource, class_sink: WindowSink,
             similarity_sink: WindowSink | None = None, tile: int | None = None, device: str = "auto", reporter: Reporter | None = None,
             amp: bool = False, prefetch: bool = True, region: Region | None = None,
             unknown: np.ndarray | None = None, runtime: str = "torch") -> dict:
    """Stream tiles: read window + halo from both sources, normalise, predict, write.

    Nodata / NaN in either input gives class 0 and similarity NaN. A reader thread prefetches tiles.

    Args:
        model: the network (any device).
        normalisation: the model's per-band hsi_mean, hsi_std, lidar_mean, lidar_std (Manifest.normalisation).
        hsi: HSI window source.
        lidar: LiDAR window source on the same grid.
        class_sink: receives `write_window(x0, y0, uint16 block)`.
        similarity_sink: optional, receives float32 cosine blocks.
        tile: tile size; None = chosen from the device (free GPU memory).
        device: auto, cpu or cuda.
        reporter: progress per tile, log, cancel.
        amp: bf16 convolutions.
        prefetch: read tiles in a background thread.
        region: classify only this block (x0, y0, w, h) of whole tiles (one task of a distributed
            run); sinks get scene coordinates. A block of nothing but nodata is no error here.
        unknown: (K,) per-class cosine thresholds; a pixel its class wins below it gets id K + 1.
        runtime: torch; onnx (ONNX Runtime on the CPU, whatever `device` says; needs onnxruntime); or
            onnx-int8 (static int8, calibrated on 32 crops of these sources; labels change slightly).

    Returns:
        Run statistics (pixels, valid_pixels, tiles, tile, seconds, device, per-stage seconds).

    Raises:
        InputError: the sources differ in size or band count from the model, or every pixel is nodata.
        Cancelled: the reporter asked to stop.
    """
    reporter = or_null(reporter)
    log = reporter.log
    check_same_size(hsi, lidar)
    norm = normalisation
    for src, key, label in ((hsi, "hsi", "HSI"), (lidar, "lidar", "LiDAR")):
        if src.bands != len(norm[f"{key}_mean"]):
            raise InputError(f"{named(src, label)} has {src.bands} band{'s' * (src.bands != 1)}; the model "
                             f"was trained on {len(norm[f'{key}_mean'])}")
    if runtime not in RUNTIMES:
        raise InputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    dev = torch.device("cpu") if runtime != "torch" else resolve_device(device)
    model = for_inference(model, dev)
    if runtime != "torch":
        from .onnx_quant import CALIBRATION_SIDE, read_calibration_crops
        from .onnx_runtime import OnnxTileModel
        side = CALIBRATION_SIDE + model.cfg.patch_size - 1
        model = OnnxTileModel(model, calibration=read_calibration_crops(hsi, lidar, norm, side)
                              if runtime == "onnx-int8" else None)
    halo = model.cfg.patch_size // 2
    amp_dtype = torch.bfloat16 if amp else None  # on CPU fast only with AVX512-BF16 / AMX
    tile = auto_tile_size(model, dev, tile)
    n = count_tiles(hsi.height, hsi.width, tile, region)
    log(f"classifying {hsi.width} x {hsi.height} pixels in {n} tiles of {tile} on {dev}")
    t0 = time.perf_counter()
    timers = {"read": 0.0, "normalise": 0.0, "compute": 0.0, "write": 0.0}
    tiles = _read_tiles(hsi, lidar, norm, tile_windows(hsi.height, hsi.width, tile, halo, region), timers)
    valid_count = _predict_tiles(model, _prefetch(tiles) if prefetch else tiles, n, dev, amp_dtype, halo,
                                 class_sink, similarity_sink, timers, reporter, unknown)
    seconds = time.perf_counter() - t0
    if valid_count == 0 and region is None:  # a map of nothing but nodata is a mistake (wrong nodata value, wrong file)
        raise InputError(f"every pixel is nodata (or NaN / inf) in {named(hsi, 'HSI')} or {named(lidar, 'LiDAR')}: "
                         f"nothing to classify; check the layers' nodata values")
    # read/normalise run in the reader thread, overlapped with compute and write
    pixels = hsi.height * hsi.width if region is None else region[2] * region[3]
    return {"pixels": pixels, "valid_pixels": valid_count, "tiles": n, "tile": tile,
            "seconds": seconds, "device": str(dev), **{f"{k}_seconds": v for k, v in timers.items()}}


def _predict_tiles(model: MMLGNet, tiles: Iterable[Tile], n: int, dev: torch.device, amp_dtype: torch.dtype | None,
                   halo: int, class_sink: WindowSink, similarity_sink: WindowSink | None, timers: dict[str, float],
                   reporter: Reporter | None = None, unknown: np.ndarray | None = None) -> int:
    """Predict each (window, padded HSI, padded LiDAR, valid) tile and write its inner part.

    Class 0 and similarity NaN where invalid; K + 1 where the winning cosine is below `unknown`
    (applied per pixel after the argmax, so tiling cannot change it). Returns the number of valid pixels.
    """
    valid_count = 0
    with_similarity = similarity_sink is not None or unknown is not None  # else the labels need no |e|
    for i, (win, h, l, valid) in enumerate(tiles):
        check_cancelled(reporter)
        t1 = time.perf_counter()
        inner = valid[win.y0 - win.ry0:win.y0 - win.ry0 + win.h, win.x0 - win.rx0:win.x0 - win.rx0 + win.w]
        if inner.any():
            ids, sim = _predict_safe(model, h, l, dev, amp_dtype, halo, with_similarity)
        else:  # nothing to classify here: skip the network
            ids, sim = np.zeros(inner.shape, np.uint16), np.full(inner.shape, np.nan, np.float32)
        if unknown is not None:
            ids = apply_unknown(ids, sim, np.asarray(unknown, np.float32))
        t2 = time.perf_counter()
        valid_count += int(inner.sum())
        class_sink.write_window(win.x0, win.y0, np.where(inner, ids, 0).astype(np.uint16))
        if similarity_sink is not None:
            similarity_sink.write_window(win.x0, win.y0, np.where(inner, sim, np.nan).astype(np.float32))
        timers["compute"] += t2 - t1
        timers["write"] += time.perf_counter() - t2
        if reporter is not None:
            reporter.progress(i + 1, n)
    return valid_count


def predict_scene(model: MMLGNet, hsi: np.ndarray, lidar: np.ndarray, valid: np.ndarray | None = None,
                  tile: int = 256, device: str | torch.device = "cpu",
                  amp_dtype: torch.dtype | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Classify in-memory arrays through the same tile loop as `classify`.

    Args:
        model: the network.
        hsi: already-normalised (Bh, H, W) HSI.
        lidar: already-normalised (Bl, H, W) LiDAR.
        valid: (H, W) bool mask; None = every pixel valid.
        tile: tile size.
        device: where the network runs.
        amp_dtype: autocast dtype (e.g. torch.bfloat16) on any device (benchmarks compare bf16 with
            float32 on CPU too); None = float32.

    Returns:
        (class ids uint16 with 0 = nodata, winning cosine float32 with NaN at nodata), each (H, W).
    """
    dev = torch.device(device)
    model = for_inference(model, dev)
    halo = model.cfg.patch_size // 2
    height, width = hsi.shape[1:]
    valid = np.ones((height, width), bool) if valid is None else valid
    tiles = ((win, reflect_pad(hsi[:, win.ry0:win.ry0 + win.rh, win.rx0:win.rx0 + win.rw], win.pad),
              reflect_pad(lidar[:, win.ry0:win.ry0 + win.rh, win.rx0:win.rx0 + win.rw], win.pad),
              valid[win.ry0:win.ry0 + win.rh, win.rx0:win.rx0 + win.rw])
             for win in tile_windows(height, width, tile, halo))
    classes, sim = ArraySink(height, width, np.uint16, 0), ArraySink(height, width, np.float32, np.nan)
    timers = {"compute": 0.0, "write": 0.0}
    _predict_tiles(model, tiles, count_tiles(height, width, tile), dev, amp_dtype, halo, classes, sim, timers)
    return classes.array, sim.array
