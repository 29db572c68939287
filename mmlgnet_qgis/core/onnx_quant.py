"""Static int8 quantisation of the exported network (`--runtime onnx-int8`; opt-in, labels change).

QDQ format, per-channel int8 weights, uint8 activations, convolutions only: the cosine head's
own 1x1 conv and quadratic form stay float32 (|e|^2 needs the precision). Activation ranges
come from MinMax calibration on crops of a scene (benchmarks: the training scene); int8
convolutions run ~4x faster than float32 on AVX512-VNNI (benchmarks/results/inference_cpu.md).
Needs the onnx and onnxruntime packages; nothing here loads unless asked for.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .normalization import normalise

if TYPE_CHECKING:
    from .pipeline import WindowSource

CALIBRATION_CROPS = 32
CALIBRATION_SIDE = 64   # output pixels per crop side (plus the patch halo)


def calibration_crops(hsi: np.ndarray, lidar: np.ndarray, side: int, n: int = CALIBRATION_CROPS,
                      seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random side x side crops (smaller scenes: the whole scene) as ONNX feeds.

    Args:
        hsi: normalised (Bh, H, W) HSI.
        lidar: normalised (Bl, H, W) LiDAR.
        side: crop side including the halo.
        n: crops.
        seed: random seed (the same crops every run).

    Returns:
        [{"hsi": (1, Bh, s, s), "lidar": (1, Bl, s, s)}, ...] float32.
    """
    rng = np.random.default_rng(seed)
    sh, sw = min(side, hsi.shape[1]), min(side, hsi.shape[2])
    feeds = []
    for _ in range(n):
        y, x = rng.integers(0, hsi.shape[1] - sh + 1), rng.integers(0, hsi.shape[2] - sw + 1)
        feeds.append({"hsi": np.ascontiguousarray(hsi[None, :, y:y + sh, x:x + sw], np.float32),
                      "lidar": np.ascontiguousarray(lidar[None, :, y:y + sh, x:x + sw], np.float32)})
    return feeds


def read_calibration_crops(hsi: WindowSource, lidar: WindowSource, norm: dict, side: int,
                           n: int = CALIBRATION_CROPS, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random side x side windows (n) of two sources, normalised, as ONNX feeds (reads only those).

    Args:
        hsi: HSI window source.
        lidar: LiDAR window source on the same grid.
        norm: the model's normalisation (hsi_mean, hsi_std, lidar_mean, lidar_std).
        side: crop side including the halo.
        n: crops.
        seed: random seed (the same crops every run).

    Returns:
        [{"hsi": (1, Bh, s, s), "lidar": (1, Bl, s, s)}, ...] float32.
    """
    rng = np.random.default_rng(seed)
    sh, sw = min(side, hsi.height), min(side, hsi.width)
    feeds = []
    for _ in range(n):
        y, x = int(rng.integers(0, hsi.height - sh + 1)), int(rng.integers(0, hsi.width - sw + 1))
        h, h_ok = hsi.read_window_with_mask(x, y, sw, sh)
        l, l_ok = lidar.read_window_with_mask(x, y, sw, sh)
        ok = h_ok & l_ok
        feeds.append({"hsi": normalise(h, norm["hsi_mean"], norm["hsi_std"], ok, hsi.name)[None],
                      "lidar": normalise(l, norm["lidar_mean"], norm["lidar_std"], ok, lidar.name)[None]})
    return feeds


def quantise_int8(onnx_bytes: bytes, feeds: Sequence[dict[str, np.ndarray]]) -> bytes:
    """Static int8 QDQ model of an `onnx_runtime.export_onnx` graph.

    Args:
        onnx_bytes: the float32 graph.
        feeds: calibration inputs (`calibration_crops`).

    Returns:
        The quantised graph.

    Raises:
        InputError: onnx / onnxruntime's quantisation tools are not installed.
    """
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise InputError("--runtime onnx-int8 needs the onnx and onnxruntime packages "
                         "(pip install onnx onnxruntime)") from exc

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="mmlgnet-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        head = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv" and n.name == "/Conv"]
        if not head:  # quantising the head would wreck |e|^2: refuse rather than guess
            raise RuntimeError("the exported graph has no top-level '/Conv' (the cosine head)")
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=head)   # TileGraph's own conv: the cosine head
        return dst.read_bytes()
