"""Optional ONNX Runtime backend for CPU inference (`--runtime onnx`).

The folded network plus the cosine head (one 1x1 conv with `cosine_head.head_matrix`) is
exported in memory with torch's TorchScript exporter, which does not import torch._dynamo or
triton (their LLVM crashes beside Mesa's in a QGIS process). onnxruntime is imported only here,
only when asked for: the plugin runs without it.
"""
from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cosine_head import head_matrix
from .errors import InputError
from .model import MMLGNet


# 20: GELU is one ONNX op (older opsets spell it as Erf, Mul, Div, Add, which ORT re-fuses only
# while no quantisation nodes sit between them)
OPSET = 20


class TileGraph(nn.Module):
    """fused_hidden + cosine head as one graph: (hsi, lidar) -> (class index 0..K-1, cosine).

    Args:
        model: the network, BatchNorm folded (`folding.fold_batchnorm`), on CPU, float32.
        with_similarity: compute the winning cosine; else the graph returns the index only.
    """

    def __init__(self, model: MMLGNet, with_similarity: bool = True) -> None:
        super().__init__()
        self.model = model
        self.with_similarity = with_similarity
        m, tb, bb = head_matrix(model, with_similarity)
        self.k, self.f = tb.shape[0], m.shape[0]  # classes, hidden width
        self.register_buffer("m", m.T[:, :, None, None].contiguous())
        self.register_buffer("tb", tb[None, :, None, None])
        self.register_buffer("bb", bb)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(1, Bh, H, W), (1, Bl, H, W) -> (1, h, w) int64 index (and float32 winning cosine)."""
        z = self.model.fused_hidden(hsi, lidar)
        out = F.conv2d(z, self.m)
        k, f = self.k, self.f
        dots = out[:, :k] + self.tb
        if not self.with_similarity:
            return dots.argmax(1)
        sq = (z * out[:, k:k + f]).sum(1, keepdim=True) + 2 * out[:, k + f:k + f + 1] + self.bb
        sim, idx = (dots / sq.clamp_min(1e-24).sqrt()).max(1)
        return idx, sim


def export_onnx(model: MMLGNet, with_similarity: bool = True, sample: int = 48) -> bytes:
    """The network as an ONNX model with free tile height and width.

    Args:
        model: the network, BatchNorm folded, on CPU (eval mode).
        with_similarity: outputs index and cosine; else the index only (no |e|: cheaper).
        sample: side of the dummy tile the exporter traces with.

    Returns:
        The serialised ONNX model.
    """
    graph = TileGraph(copy.deepcopy(model).float().to(memory_format=torch.contiguous_format), with_similarity).eval()
    c = model.cfg
    dummy = (torch.zeros(1, c.hsi_bands, sample, sample), torch.zeros(1, c.lidar_bands, sample, sample))
    buf = io.BytesIO()
    free = {2: "height", 3: "width"}
    with warnings.catch_warnings():  # the legacy exporter on purpose: the new one imports torch._dynamo
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, dummy, buf, dynamo=False, opset_version=OPSET, input_names=["hsi", "lidar"],
                          output_names=["index", "cosine"][:1 + with_similarity], dynamic_axes={
                              "hsi": free, "lidar": free, "index": {1: "h", 2: "w"}, "cosine": {1: "h", 2: "w"}})
    return buf.getvalue()


class OnnxTileModel:
    """A tile predictor on ONNX Runtime's CPU provider, with the network's `cfg` (patch size).

    Args:
        model: the network, BatchNorm folded.
        onnx_bytes: an `export_onnx` graph to run instead of exporting `model` (e.g. quantised to int8).
        threads: intra-op threads; 0 = torch's current setting.
        calibration: feeds (`onnx_quant.calibration_crops`): quantise each exported graph to int8.

    Raises:
        InputError: onnxruntime is not installed.
    """

    def __init__(self, model: MMLGNet, onnx_bytes: bytes | None = None, threads: int = 0,
                 calibration: list[dict[str, np.ndarray]] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise InputError("--runtime onnx needs the onnxruntime package (pip install onnxruntime) in the "
                             "environment that runs MMLGNet; or use --runtime torch") from exc
        self.cfg, self._model, self._ort, self.calibration = model.cfg, model, ort, calibration
        self.opts = ort.SessionOptions()
        self.opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        self.opts.inter_op_num_threads = 1
        self.opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.fixed = onnx_bytes is not None
        self.sessions = {True: self._session(onnx_bytes)} if self.fixed else {}

    def _session(self, onnx_bytes: bytes):  # noqa: ANN202 - onnxruntime's type, imported lazily
        return self._ort.InferenceSession(onnx_bytes, self.opts, providers=["CPUExecutionProvider"])

    def predict(self, hsi: np.ndarray, lidar: np.ndarray,
                with_similarity: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Halo-padded (C, h+P-1, w+P-1) inputs -> class ids (h, w) int64 (1..K) and winning cosine or None.

        Each graph is exported on first use; without similarity it skips |e| (cheaper). Given
        ONNX bytes are run as they are (their outputs decide whether the cosine comes back).
        """
        key = True if self.fixed else with_similarity
        if key not in self.sessions:
            graph = export_onnx(self._model, key)
            if self.calibration:
                from .onnx_quant import quantise_int8
                graph = quantise_int8(graph, self.calibration)
            self.sessions[key] = self._session(graph)
        out = self.sessions[key].run(None, {"hsi": np.ascontiguousarray(hsi, np.float32)[None],
                                            "lidar": np.ascontiguousarray(lidar, np.float32)[None]})
        return out[0][0].astype(np.int64) + 1, out[1][0].astype(np.float32) if len(out) > 1 else None
