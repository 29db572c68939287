"""Which HSI bands a run reads, and at what scale: an ENVI header's bad-band list and reflectance scale.

Training drops the bands the header's `bbl` marks bad and records what it kept (and the
reflectance scale factor and band widths) in the model file; classification drops the scene's
own bad bands, or the model's when the scene has no list but the same band count, and rescales
the scene to the model's reflectance scale when both are known (e.g. x10000 integers vs floats).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InputError
from ..core.manifest import Manifest
from ..core.reporter import Reporter


@dataclass
class HsiSelection:
    """The bands read from the HSI (0-based; None = all) and the factor applied to its values."""

    bands: list[int] | None = None
    scale: float = 1.0
    source_bands: int = 0
    reflectance_scale: float | None = None     # the scene's own factor (header), before rescaling
    fwhm_nm: list[float] | None = None         # of the bands read

    def record(self) -> dict | None:
        """Returns: what a model file keeps of it (Manifest.hsi_spectral), or None when there is nothing."""
        if self.bands is None and self.reflectance_scale is None and self.fwhm_nm is None:
            return None
        return {"source_bands": self.source_bands, "kept_bands": self.bands,
                "reflectance_scale": self.reflectance_scale, "fwhm_nm": self.fwhm_nm}

    def describe(self) -> str:
        """Returns: '5 of 6 bands, bbl' style note for source names ('' when every band is read)."""
        return "" if self.bands is None else f"{len(self.bands)} of {self.source_bands} bands kept by the bad-band list"


def hsi_selection(spec: str, manifest: Manifest | None, reporter: Reporter) -> HsiSelection:
    """The HSI's band subset and scale for a run.

    Args:
        spec: the HSI input (.mat inputs have no header: every band, scale 1).
        manifest: the model's manifest when classifying, None when training.
        reporter: logs what is dropped or rescaled.

    Returns:
        The selection.

    Raises:
        InputError: the header's lists are malformed or drop every band (names the file and value).
    """
    from pathlib import Path

    from .sources import is_mat
    if is_mat(spec):
        return HsiSelection()
    from ..raster.prisma import product_path
    spec = product_path(spec) or spec  # a PRISMA cube's GDAL subdataset (a QGIS layer) stands for its .he5
    if not Path(spec).is_file():  # a missing file: open_image names it
        return HsiSelection()
    from ..raster.reader import RasterSource
    with RasterSource(spec, name=f"HSI ({spec})") as src:
        info, total = src.spectral(), src.band_count
    sel = HsiSelection(source_bands=total, reflectance_scale=info.scale)
    model = (manifest.hsi_spectral or {}) if manifest is not None else {}
    if info.good_bands is not None and len(info.good_bands) < total:
        sel.bands = info.good_bands
        dropped = sorted(set(range(total)) - set(info.good_bands))
        reporter.log(f"HSI ({spec}): the bad-band list (bbl) drops {len(dropped)} of {total} bands: "
                     f"{_ranges(dropped)}")
    elif model.get("kept_bands") and model.get("source_bands") == total:
        sel.bands = list(model["kept_bands"])
        reporter.log(f"HSI ({spec}) has no bad-band list: the bands the model dropped at training are dropped "
                     f"({len(sel.bands)} of {total} kept)")
    if info.fwhm_nm is not None:
        sel.fwhm_nm = [info.fwhm_nm[b] for b in sel.bands] if sel.bands is not None else info.fwhm_nm
    trained = model.get("reflectance_scale")
    if trained and info.scale and trained != info.scale:
        sel.scale = trained / info.scale
        reporter.log(f"HSI ({spec}) stores reflectance x {info.scale:g}, the model was trained on x {trained:g}: "
                     f"values multiplied by {sel.scale:g}")
    elif manifest is not None and bool(trained) != bool(info.scale):
        reporter.warning(f"HSI ({spec}): reflectance scale factor {info.scale or 'unknown'} here, "
                         f"{trained or 'unknown'} in the model; values used as stored")
    if sel.bands is not None and not sel.bands:
        raise InputError(f"HSI ({spec}): no band is left to read")
    return sel


def _ranges(indices: list[int]) -> str:
    """'3-5, 9' from 0-based [2, 3, 4, 8] (band numbers are 1-based in messages)."""
    out, start = [], None
    for i, b in enumerate(indices):
        if start is None:
            start = b
        if i + 1 == len(indices) or indices[i + 1] != b + 1:
            out.append(f"{start + 1}" if start == b else f"{start + 1}-{b + 1}")
            start = None
    return ", ".join(out)
