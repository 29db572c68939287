"""Use cases: one module each (train, classify, evaluate, import_benchmark, encode, demo).

Each has `run(request, reporter) -> result`. The only place where a command's steps are
written; front ends translate their parameters into a request (see `requests`) and call `run`.
Importing this package is cheap: use-case modules load on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from ..core.reporter import Reporter
from .requests import Request

MODULES = {"train": "train", "classify": "classify", "evaluate": "evaluate", "import": "import_benchmark",
           "encode": "encode", "demo": "demo", "rasterise_lidar": "rasterise_lidar",
           "classify_distributed": "classify_distributed"}


def run(request: Request, reporter: Reporter | None = None) -> Any:  # one result dataclass per use case
    """Run one request with its use case.

    Args:
        request: a typed request (`requests.TrainRequest`, ...).
        reporter: progress, log and cancel; None reports nowhere.

    Returns:
        The use case's result dataclass.
    """
    module = importlib.import_module(f"{__name__}.{MODULES[request.kind]}")
    return module.run(request, reporter)
