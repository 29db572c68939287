"""The scenes of a distributed run: pairwise --hsi / --lidar, or a CSV, and each scene's outputs."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from .distributed_requests import DistributedClassifyRequest


@dataclass(frozen=True)
class Scene:
    """One scene's inputs (as the workers see them) and outputs (as this machine sees them)."""

    hsi: str
    lidar: str
    out: str
    confidence: str | None


def _from_csv(path: str) -> list[tuple[str, ...]]:
    """Rows hsi,lidar[,out[,confidence]]; a header row naming 'hsi' is skipped.

    Relative paths are relative to the CSV's folder.
    """
    base = Path(path).parent
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [[c.strip() for c in r] for r in csv.reader(f) if any(c.strip() for c in r)]
    except OSError as exc:
        raise InputError(f"cannot read the scene list {path}: {exc}") from None
    if rows and rows[0][0].lower() == "hsi":
        rows = rows[1:]
    out = []
    for i, r in enumerate(rows, start=1):
        if not 2 <= len(r) <= 4:
            raise InputError(f"{path} line {i}: expected hsi,lidar[,out[,confidence]], got {len(r)} columns")
        out.append(tuple(c if not c or "://" in c or c.startswith("/vsi") or os.path.isabs(c) else str(base / c)
                         for c in r))
    if not out:
        raise InputError(f"the scene list {path} names no scenes")
    return out


def scenes_of(req: DistributedClassifyRequest) -> list[Scene]:
    """Each scene with its outputs: `out` / `confidence` for one scene, else `out_dir`/<hsi name>_classes.tif.

    Args:
        req: the request.

    Returns:
        The scenes, in order.

    Raises:
        InputError: no scenes, unequal HSI / LiDAR lists, no output given, or two scenes with one output.
    """
    rows = _from_csv(req.scenes) if req.scenes else []
    if len(req.hsi) != len(req.lidar):
        raise InputError(f"{len(req.hsi)} HSI but {len(req.lidar)} LiDAR rasters: give them in pairs")
    rows += [(h, li) for h, li in zip(req.hsi, req.lidar)]
    if not rows:
        raise InputError("no scenes: give --hsi and --lidar (pairwise), or --scenes list.csv")
    if len(rows) > 1 and req.out:
        raise InputError(f"{len(rows)} scenes but one output ({req.out}): give --out-dir instead")
    scenes = []
    for r in rows:
        hsi, lidar = r[0], r[1]
        stem = Path(hsi.rstrip("/")).stem
        out = (r[2] if len(r) > 2 and r[2] else req.out or
               (os.path.join(req.out_dir, f"{stem}_classes.tif") if req.out_dir else None))
        if not out:
            raise InputError(f"no output for {hsi}: give --out (one scene) or --out-dir")
        conf = r[3] if len(r) > 3 and r[3] else req.confidence if len(rows) == 1 else None
        if not conf and req.with_confidence:
            conf = os.path.join(os.path.dirname(out), f"{Path(out).stem.removesuffix('_classes')}_confidence.tif")
        scenes.append(Scene(hsi, lidar, os.path.abspath(out), os.path.abspath(conf) if conf else None))
    outs = [p for s in scenes for p in (s.out, s.confidence) if p]
    dup = sorted({p for p in outs if outs.count(p) > 1})
    if dup:
        raise InputError(f"two scenes would write {dup[0]}: their HSI files share a name; list outputs in --scenes")
    return scenes
