"""CPU inference levers side by side (issue 17): speed on one tile, label agreement on Trento.

    .venv/bin/python benchmarks/bench_inference_cpu.py --out benchmarks/results/inference_cpu_levers.json [--compile]

Every variant runs the `make demo` model (demo-out/model.safetensors) on the same random
halo-padded tile, interleaved round by round (the cores are shared: the median and the best
of the rounds are reported), then classifies the whole Trento scene; agreement is the share
of pixels whose label equals the float32 eager reference (BatchNorm unfolded, einsum head,
the default before issue 17), and OA is on the scene's test labels.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_accuracy import commit, load_scene, machine  # noqa: E402
from mmlgnet_qgis.core.cosine_head import head_matrix, scores  # noqa: E402
from mmlgnet_qgis.core.folding import fold_batchnorm  # noqa: E402
from mmlgnet_qgis.core.inference import reflect_pad, tile_windows  # noqa: E402
from mmlgnet_qgis.core.metrics import accuracy_report  # noqa: E402
from mmlgnet_qgis.core.model_file import load_model  # noqa: E402
from mmlgnet_qgis.core.normalization import normalise  # noqa: E402


class Hidden(torch.nn.Module):
    """fused_hidden as a module (what jit.trace / torch.compile take)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, h, l):
        return self.m.fused_hidden(h, l)


def torch_predictor(model, hidden=None, amp=False, gemm=True, sim=True):
    """A (hsi, lidar) numpy tile -> (ids 1..K, cosine) function on CPU, channels-last."""
    hidden = model.fused_hidden if hidden is None else hidden
    head = head_matrix(model, sim)

    @torch.no_grad()
    def run(h, l):
        ht = torch.from_numpy(h)[None].contiguous(memory_format=torch.channels_last)
        lt = torch.from_numpy(l)[None].contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            z = hidden(ht, lt)
        if gemm:
            idx, s = scores(z, head, sim)
        else:
            s, idx = model.cosine_from_hidden(z)[0].max(0)
        return (idx + 1).numpy(), None if s is None else s.numpy()
    return run


def calibration_tiles(h, l, side, n, seed=0):
    """n random halo-padded crops of the (normalised) training scene."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, h.shape[1] - side), rng.integers(0, h.shape[2] - side)
        out.append({"hsi": h[None, :, y:y + side, x:x + side].copy(), "lidar": l[None, :, y:y + side, x:x + side].copy()})
    return out


def quantise_int8(onnx_bytes, tiles, folder):
    """Static int8 QDQ, per-channel weights, convolutions only (the head's quadratic form stays float32)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    src, dst = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
    src.write_bytes(onnx_bytes)
    graph = onnx.load(str(src)).graph
    head = [n.name for n in graph.node if n.op_type == "Conv" and n.name == "/Conv"]  # TileGraph's own conv
    assert len(head) == 1, "the cosine head's conv was not found"

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(tiles)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                    nodes_to_exclude=head)
    return dst.read_bytes(), head


def whole_scene(predict, h, l, patch, tile=512):
    height, width = h.shape[1:]
    ids = np.zeros((height, width), np.uint16)
    for w in tile_windows(height, width, tile, patch // 2):
        a, _ = predict(reflect_pad(h[:, w.ry0:w.ry0 + w.rh, w.rx0:w.rx0 + w.rw], w.pad),
                       reflect_pad(l[:, w.ry0:w.ry0 + w.rh, w.rx0:w.rx0 + w.rw], w.pad))
        ids[w.y0:w.y0 + w.h, w.x0:w.x0 + w.w] = a
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/inference_cpu_levers.json")
    ap.add_argument("--model", default="demo-out/model.safetensors")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also torch.compile (imports torch._dynamo / triton)")
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, man = load_model(args.model)
    model.eval()
    patch = model.cfg.patch_size
    hsi, lidar, train, test = load_scene("trento", args.data)
    n = man.normalisation
    h = normalise(hsi.array, n["hsi_mean"], n["hsi_std"])
    l = normalise(lidar.array, n["lidar_mean"], n["lidar_std"])
    eager = model.to(memory_format=torch.channels_last)
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)
    side = args.tile + patch - 1
    rng = np.random.default_rng(0)
    th = rng.normal(size=(model.cfg.hsi_bands, side, side)).astype(np.float32)
    tl = rng.normal(size=(model.cfg.lidar_bands, side, side)).astype(np.float32)
    variants, notes = {}, {}
    variants["eager fp32 (BN unfolded, einsum head)"] = torch_predictor(eager, gemm=False)
    variants["BN folded"] = torch_predictor(folded, gemm=False)
    variants["BN folded + GEMM head"] = torch_predictor(folded)
    variants["BN folded + GEMM head, no confidence"] = torch_predictor(folded, sim=False)
    variants["BN folded + GEMM head + bf16 autocast"] = torch_predictor(folded, amp=True)
    with torch.no_grad():
        ex = (torch.from_numpy(th[:, :64, :64])[None].contiguous(memory_format=torch.channels_last),
              torch.from_numpy(tl[:, :64, :64])[None].contiguous(memory_format=torch.channels_last))
        try:
            frozen = torch.jit.freeze(torch.jit.trace(Hidden(folded).eval(), ex))
            variants["BN folded + GEMM head + jit.freeze"] = torch_predictor(folded, hidden=frozen)
            torch.jit.enable_onednn_fusion(True)
            graph = torch.jit.freeze(torch.jit.trace(Hidden(folded).eval(), ex))
            variants["BN folded + GEMM head + jit.freeze + oneDNN graph"] = torch_predictor(folded, hidden=graph)
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal
            notes["jit"] = repr(exc)[:300]
        if args.compile:
            try:
                comp = torch.compile(Hidden(folded).eval(), dynamic=True)  # one graph for every tile shape
                t = time.perf_counter()
                comp(*ex)
                notes["torch.compile first call s"] = time.perf_counter() - t
                variants["BN folded + GEMM head + torch.compile"] = torch_predictor(folded, hidden=comp)
            except Exception as exc:  # noqa: BLE001
                notes["torch.compile"] = repr(exc)[:300]
    try:
        from mmlgnet_qgis.core.onnx_runtime import OnnxTileModel, export_onnx
        cal = calibration_tiles(h, l, 64 + patch - 1, 32)   # the training scene (Trento), normalised
        for sim in (True, False):
            tail = "" if sim else ", no confidence"
            onnx_bytes = export_onnx(folded, sim)
            variants["ONNX Runtime fp32" + tail] = OnnxTileModel(folded, onnx_bytes, args.threads).predict
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                int8, excluded = quantise_int8(onnx_bytes, cal, tmp)
            notes["int8 calibration" + tail] = (
                f"32 random {64 + patch - 1}-px crops of the Trento scene, MinMax, {time.perf_counter() - t:.1f} s; "
                f"float32 convs kept: {excluded} (the cosine head)")
            variants["ONNX Runtime int8 QDQ (per-channel)" + tail] = OnnxTileModel(folded, int8, args.threads).predict
    except Exception as exc:  # noqa: BLE001
        notes["onnx"] = repr(exc)[:300]
    if args.only:
        keep = [k.strip() for k in args.only.split(",")]
        variants = {k: v for k, v in variants.items() if any(s in k for s in keep) or k.startswith("eager")}
    for f in variants.values():   # warm-up (oneDNN primitive creation, graph profiling runs)
        for _ in range(2):
            f(th[:, :128, :128], tl[:, :128, :128])
        f(th, tl)
    times = {k: [] for k in variants}
    for _ in range(args.rounds):
        for k, f in variants.items():
            t = time.perf_counter()
            f(th, tl)
            times[k].append(time.perf_counter() - t)
    names = [c.name for c in man.classes]
    ref = whole_scene(variants["eager fp32 (BN unfolded, einsum head)"], h, l, patch)
    rows = []
    for k, f in variants.items():
        ids = whole_scene(f, h, l, patch)
        med, best = float(np.median(times[k])), float(min(times[k]))
        rows.append({"variant": k, "median_s": med, "best_s": best, "mpix_s_median": args.tile ** 2 / med / 1e6,
                     "agreement": float((ids == ref).mean()), "differing_pixels": int((ids != ref).sum()),
                     "oa": accuracy_report(test, ids, names)["oa"]})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["median_s"]
    for r in rows:
        r["speedup_vs_eager"] = base / r["median_s"]
    out = {"meta": {"command": " ".join(sys.argv), "commit": commit(), "machine": machine(),
                    "date": time.strftime("%Y-%m-%d %H:%M"), "tile": args.tile, "rounds": args.rounds,
                    "threads": args.threads, "model": args.model, "times": times, "notes": notes}, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(notes, indent=1))


if __name__ == "__main__":
    main()
