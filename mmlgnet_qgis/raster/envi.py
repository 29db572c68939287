"""Spectral metadata of ENVI files as AVIRIS-NG, HyMap and most HSI processors deliver them.

GDAL's ENVI driver exposes the .hdr keys in the "ENVI" metadata domain (and maps `data ignore
value` to the bands' nodata). Read here (ENVI header format, NV5 / L3Harris "ENVI Header Files"
documentation): `wavelength` with `wavelength units` (nm or µm, in their spellings), `fwhm`
(same units), `bbl` (bad-band list: 1 keep, 0 drop) and `reflectance scale factor`.
"""
from __future__ import annotations

from dataclasses import dataclass

from osgeo import gdal

from ..core.errors import InputError

NM_PER_UNIT = {"nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
       "um": 1000.0, "µm": 1000.0, "μm": 1000.0, "micrometer": 1000.0, "micrometers": 1000.0,
       "micrometre": 1000.0, "micrometres": 1000.0, "micron": 1000.0, "microns": 1000.0,
       "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6}
_NOT_LENGTHS = {"index", "unknown", "wavenumber", "ghz", "mhz", "data value", "none"}
MICROMETRE_GUESS = 30.0  # no units stated: every centre below this can only be in µm (0.35-2.5)


@dataclass
class SpectralInfo:
    """What an ENVI header says of its bands (None where it says nothing)."""

    wavelengths_nm: list[float] | None = None
    fwhm_nm: list[float] | None = None
    good_bands: list[int] | None = None       # 0-based bands `bbl` keeps; None: no bbl
    scale: float | None = None                # reflectance scale factor: stored value / scale = reflectance
    units_note: str = ""                      # how the units were read, for the log


def _numbers(text: str, key: str, path: str) -> list[float]:
    try:
        return [float(v) for v in text.strip().strip("{}").split(",") if v.strip()]
    except ValueError as exc:
        raise InputError(f"{path}: the ENVI header's '{key}' is not a list of numbers ({exc}): "
                         f"{text.strip()[:60]!r}") from exc


def nm_per_unit(units: str, values: list[float], path: str) -> tuple[float | None, str]:
    """How many nm one unit of the header's wavelengths is.

    Args:
        units: the `wavelength units` value ('' when absent).
        values: the wavelengths, to tell µm from nm when no units are stated.
        path: named in messages.

    Returns:
        (factor, note): factor None when the values are not wavelengths (band indices, ...).

    Raises:
        InputError: units that are not a length GDAL / ENVI use.
    """
    u = units.strip().lower()
    if u in NM_PER_UNIT:
        return NM_PER_UNIT[u], f"wavelength units '{units.strip()}'"
    if u in _NOT_LENGTHS:
        return None, f"wavelength units '{units.strip()}' are not a length: band centres unknown"
    if u:
        raise InputError(f"{path}: wavelength units '{units.strip()}' are neither nm nor µm "
                         f"(known: Nanometers, Micrometers, nm, um, microns)")
    if values and max(values) < MICROMETRE_GUESS:
        return 1000.0, f"no wavelength units; centres {min(values):g}-{max(values):g} read as µm"
    return 1.0, "no wavelength units; read as nm"


def spectral_info(ds: gdal.Dataset, path: str) -> SpectralInfo:
    """The ENVI header's spectral keys, checked against the band count.

    Args:
        ds: an open GDAL dataset (any driver: without an ENVI domain everything is None).
        path: named in messages.

    Returns:
        The band centres and widths in nm, the bands bbl keeps, the reflectance scale factor.

    Raises:
        InputError: a list whose length is not the band count, a bbl that drops every band,
            a scale factor that is not a positive number; the message names the file and value.
    """
    meta = ds.GetMetadata("ENVI") or {}
    n = ds.RasterCount
    info = SpectralInfo()
    units = meta.get("wavelength_units", "")
    if meta.get("wavelength"):
        values = _numbers(meta["wavelength"], "wavelength", path)
        _check_length(values, n, "wavelength", path)
        factor, info.units_note = nm_per_unit(units, values, path)
        if factor is not None:
            info.wavelengths_nm = [v * factor for v in values]
            if meta.get("fwhm"):
                widths = _numbers(meta["fwhm"], "fwhm", path)
                _check_length(widths, n, "fwhm", path)
                info.fwhm_nm = [v * factor for v in widths]
    if meta.get("bbl"):
        flags = _numbers(meta["bbl"], "bbl", path)
        _check_length(flags, n, "bbl", path)
        info.good_bands = [i for i, f in enumerate(flags) if f != 0]
        if not info.good_bands:
            raise InputError(f"{path}: the ENVI header's bad-band list (bbl) marks all {n} bands bad (0), "
                             f"so no band is left to use; set the good bands to 1")
    if meta.get("reflectance_scale_factor"):
        scale = _numbers(meta["reflectance_scale_factor"], "reflectance scale factor", path)
        if len(scale) != 1 or not scale[0] > 0:
            raise InputError(f"{path}: the ENVI header's reflectance scale factor must be one positive number, "
                             f"got {meta['reflectance_scale_factor']!r}")
        info.scale = scale[0]
    return info


def _check_length(values: list, n: int, key: str, path: str) -> None:
    if len(values) != n:
        raise InputError(f"{path}: the ENVI header's '{key}' lists {len(values)} values for {n} bands")
