"""The worker's self-check: is this interpreter able to run MMLGNet, and on what?

Runs inside the worker (imports torch). The installer runs it after installing; the dock and
every algorithm's log show its one-line summary.
"""
from __future__ import annotations

import sys
import time

from ..core.reporter import NullReporter


def summary_line(check: dict) -> str:
    """'torch 2.13.0 · CUDA · NVIDIA H200' or 'torch 2.13.0 · CPU only' (problems appended).

    Args:
        check: a `selfcheck()` result.

    Returns:
        One line for the dock and the algorithms' logs.
    """
    if not check.get("torch"):
        return "no torch: " + check.get("problems", ["not installed"])[0]
    device = f"CUDA · {check['device_name']}" if check.get("cuda") else "CPU only"
    line = f"torch {check['torch'].split('+')[0]} · {device}"
    problems = check.get("problems") or []
    return line + (f" · {len(problems)} problem(s): {problems[0]}" if problems else "")


def selfcheck(reporter=None, text_encoder: str = "minilm") -> dict:
    """Check torch, CUDA, the text encoder and one forward pass of the network.

    Args:
        reporter: progress and log lines (None: nowhere).
        text_encoder: the encoder to load (MiniLM ships offline with the requirements).

    Returns:
        {"python", "torch", "cuda", "device_name", "text_encoder", "forward", "problems",
        "seconds", "line"}; "problems" lists what failed (empty when all passed).
    """
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    check = {"python": sys.executable, "python_version": sys.version.split()[0], "torch": None,
             "cuda": False, "device_name": None, "text_encoder": None, "forward": False, "problems": []}
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - a broken install is a finding, not a crash
        check["problems"].append(f"import torch failed: {type(exc).__name__}: {exc}")
        return _done(check, started)
    check["torch"] = torch.__version__
    check["cuda"] = bool(torch.cuda.is_available())
    if check["cuda"]:
        check["device_name"] = torch.cuda.get_device_name(0)
    reporter.log(f"torch {torch.__version__}, CUDA {'available: ' + check['device_name'] if check['cuda'] else 'not available'}")
    # GDAL reads and writes every raster; torchvision (open_clip's) fails when it was built for
    # another torch (a CPU torch beside PyPI's CUDA torchvision): both are worth a clear line.
    for module in ("osgeo.gdal", "torchvision"):
        try:
            __import__(module)
        except Exception as exc:  # noqa: BLE001
            check["problems"].append(f"import {module} failed: {type(exc).__name__}: {exc}")
    reporter.progress(20, 100)

    try:
        from ..core.text_encoders import build_text_encoder
        encoder = build_text_encoder(text_encoder)
        emb = encoder.encode(["an aerial hyperspectral view of apple trees", "a road"])
        check["text_encoder"] = f"{encoder.identity()['model']} ({encoder.dim}-d)"
        reporter.log(f"text encoder {check['text_encoder']} loads")
    except Exception as exc:  # noqa: BLE001
        check["problems"].append(f"text encoder {text_encoder} failed: {type(exc).__name__}: {exc}")
        emb = None
    reporter.progress(70, 100)

    try:
        check["forward"] = _forward(torch, emb, "cuda" if check["cuda"] else "cpu")
        reporter.log("one forward pass of the network on random input: ok")
    except Exception as exc:  # noqa: BLE001
        check["problems"].append(f"forward pass failed: {type(exc).__name__}: {exc}")
    reporter.progress(100, 100)
    return _done(check, started)


def describe_line() -> str:
    """Returns: 'MMLGNet worker: torch 2.13.0 · CPU only · Python 3.11.2 (/path/python)' (imports torch)."""
    check = {"torch": None, "problems": []}
    try:
        import torch
        check["torch"] = torch.__version__
        check["cuda"] = bool(torch.cuda.is_available())
        check["device_name"] = torch.cuda.get_device_name(0) if check["cuda"] else None
    except Exception as exc:  # noqa: BLE001 - the request itself will say what is wrong
        check["problems"].append(f"import torch failed: {exc}")
    return f"MMLGNet worker: {summary_line(check)} · Python {sys.version.split()[0]} ({sys.executable})"


def _forward(torch, emb, device: str) -> bool:
    """A tiny network on random input gives finite class logits of the right shape."""
    from ..core.model import MMLGNet, ModelConfig
    dim = emb.shape[1] if emb is not None else 16
    emb_t = torch.as_tensor(emb) if emb is not None else torch.randn(2, dim)
    cfg = ModelConfig(hsi_bands=4, lidar_bands=1, embed_dim=dim, patch_size=7,
                      hsi_width=8, lidar_width=4, fusion_width=8)
    model = MMLGNet(cfg, emb_t).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    hsi = torch.randn(1, 4, 7 + 3, 7 + 3, generator=gen).to(device)
    lidar = torch.randn(1, 1, 7 + 3, 7 + 3, generator=gen).to(device)
    with torch.no_grad():
        logits = model(hsi, lidar)["logits"]
    if tuple(logits.shape) != (1, emb_t.shape[0], 4, 4) or not bool(torch.isfinite(logits).all()):
        raise RuntimeError(f"unexpected logits {tuple(logits.shape)}")
    return True


def _done(check: dict, started: float) -> dict:
    check["seconds"] = round(time.perf_counter() - started, 2)
    check["line"] = summary_line(check)
    return check
