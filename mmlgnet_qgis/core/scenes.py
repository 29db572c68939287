"""Benchmark scenes: class names, colours, default prompts, nominal grids and .mat loading.

The .mat readers follow the common public releases (Trento: HSI / LiDAR / TRLabel / TSLabel;
MUUFL: HSI / LiDAR / gt / mask_train_150 / mask_test_150) and work unchanged on the real cubes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from .errors import DependencyError, InputError

@dataclass(frozen=True)
class Scene:
    """A benchmark scene: classes, colours, nominal grid and the .mat file of each input."""

    name: str
    class_names: tuple[str, ...]
    colours: tuple[str, ...]
    # Nominal georeference (the benchmark files carry none): EPSG, top-left x/y, pixel size.
    epsg: int
    origin: tuple[float, float]
    shape: tuple[int, int] = (0, 0)  # rows x cols of the public release
    pixel_size: float = 1.0
    files: dict = field(default_factory=dict)


SCENES = {
    "trento": Scene(
        name="trento",
        class_names=("Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"),
        colours=("#2e8b57", "#d62728", "#c8a165", "#0b5d1e", "#9acd32", "#7f7f7f"),
        epsg=32632, origin=(664000.0, 5104000.0), shape=(166, 600),
        files={"hsi": "HSI.mat", "lidar": "LiDAR.mat", "train": "TRLabel.mat", "test": "TSLabel.mat"},
    ),
    "muufl": Scene(
        name="muufl",
        class_names=("Trees", "Mostly grass", "Mixed ground surface", "Dirt and sand", "Road",
                     "Water", "Building shadow", "Building", "Sidewalk", "Yellow curb",
                     "Cloth panels"),
        colours=("#228b22", "#7cfc00", "#bc8f8f", "#f4a460", "#696969", "#1e90ff",
                 "#2f2f4f", "#b22222", "#d3d3d3", "#ffd700", "#ff00ff"),
        epsg=32616, origin=(334000.0, 3365000.0), shape=(325, 220),
        files={"hsi": "HSI.mat", "lidar": "LiDAR.mat", "train": "mask_train_150.mat",
               "test": "mask_test_150.mat"},
    ),
}

# Keys tried, in order, when a .mat path names none.
_KNOWN_KEYS = ("HSI", "LiDAR", "lidar", "data", "TRLabel", "TSLabel", "gt", "mask_train",
               "mask_test", "label", "labels")


def split_mat_spec(spec: str) -> tuple[str, str | None]:
    """'file.mat:key' -> ('file.mat', 'key'); 'file.mat' -> ('file.mat', None)."""
    spec = str(spec)
    head, sep, key = spec.rpartition(":")
    if sep and head.lower().endswith(".mat") and key and "/" not in key:
        return head, key
    return spec, None


def load_mat_array(spec: str) -> np.ndarray:
    """Load one array from 'file.mat' or 'file.mat:key' (MATLAB v5; v7.3 through h5py if present)."""
    path, key = split_mat_spec(spec)
    if not Path(path).is_file():
        raise FileNotFoundError(f"MAT file not found: {path}")
    arrays = _read_mat(path)
    if key is not None:
        if key not in arrays:
            raise KeyError(f"{path}: no variable '{key}'; it holds {sorted(arrays)}")
        return np.asarray(arrays[key])
    for k in _KNOWN_KEYS:
        if k in arrays:
            return np.asarray(arrays[k])
    if len(arrays) == 1:
        return np.asarray(next(iter(arrays.values())))
    raise KeyError(f"{path}: several variables {sorted(arrays)}; name one as {path}:KEY")


def _read_mat(path: str) -> dict:
    from scipy.io import loadmat
    try:
        raw = loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 = HDF5; arrays are stored transposed
        try:
            import h5py
        except ImportError as exc:
            raise DependencyError(f"{path} is a MATLAB v7.3 file: install h5py to read it") from exc
        with h5py.File(path, "r") as f:
            return {k: np.asarray(v).T for k, v in f.items() if hasattr(v, "shape")}
    except ValueError as exc:
        raise InputError(f"{path}: not a readable MAT file ({exc})") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def load_wavelengths(spec: str) -> list[float] | None:
    """Band centres (nm) stored beside the cube as 'wavelengths_nm', if any."""
    path, _ = split_mat_spec(spec)
    arrays = _read_mat(path)
    wl = arrays.get("wavelengths_nm")
    return None if wl is None else [float(v) for v in np.ravel(wl)]


def as_bands_last(array: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 1); (H, W, B) stays. Benchmark cubes are stored rows x cols x bands."""
    array = np.asarray(array)
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim != 3:
        raise InputError(f"expected a 2-D or 3-D array, got shape {array.shape}")
    return array


def as_labels(array: np.ndarray) -> np.ndarray:
    """Squeeze a label array to (H, W) int64.

    Raises:
        InputError: not 2-D after squeezing, or a negative id.
    """
    labels = np.asarray(array)
    labels = np.squeeze(labels)
    if labels.ndim != 2:
        raise InputError(f"labels must be 2-D (rows x cols), got shape {array.shape}")
    if np.any(labels < 0):
        raise InputError(f"labels must be >= 0 (0 = unlabeled), found {labels.min()}")
    return labels.astype(np.int64)


def scene_paths(scene: str, data_dir: str | os.PathLike) -> dict[str, Path]:
    """Paths of a benchmark scene's hsi / lidar / train / test files.

    Args:
        scene: trento or muufl.
        data_dir: the folder holding one subfolder per scene (front ends resolve it: --data,
            $MMLGNET_DATA).

    Returns:
        {hsi, lidar, train, test} -> path.
    """
    if scene not in SCENES:
        raise InputError(f"unknown scene '{scene}'; known: {', '.join(sorted(SCENES))}")
    root = Path(data_dir)
    return {k: root / scene / v for k, v in SCENES[scene].files.items()}
