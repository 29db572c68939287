"""EnMAP Level 2A products: the spectral GeoTIFF and the METADATA.XML beside it.

A DLR EnMAP L2A product in GeoTIFF format holds `ENMAP01-..._L2A-...-SPECTRAL_IMAGE.TIF` (224 bands,
int16 reflectance) and `...-METADATA.XML`. The XML layout read here (root `level_X`) is the one of
DLR's "EnMAP HSI Level 1B / Level 1C / Level 2A Product Specification" (doc. EN-PCV-ICD-2009-2) as
delivered in L2A products and read by ESA SNAP's EnMAP reader and the EnMAP-Box L2A import:

- `specific/bandCharacterisation/bandID[@number]` per band: `wavelengthCenterOfBand` (nm),
  `FWHMOfBand` (nm), `GainOfBand`, `OffsetOfBand` (reflectance = gain * stored value + offset);
  `wavelengthCenterOfGravity` / `FWHM` are accepted as alternative element names;
- `specific/backgroundValue`: the no-data value (-32768), applied to bands whose GeoTIFF states none;
- `product/*ProductQuality/expectedChannelsList` (when present): the 1-based bands that hold data;
  the others (filled with no-data) are not read.

RasterSource uses the XML automatically when it lies beside the TIF (same name, `-SPECTRAL_IMAGE.TIF`
-> `-METADATA.XML`); an HSI given as the METADATA.XML itself opens the SPECTRAL_IMAGE beside it.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..core.errors import InputError
from .envi import SpectralInfo

_IMAGE = re.compile(r"-SPECTRAL_IMAGE\.TIFF?$", re.IGNORECASE)
_METADATA = re.compile(r"-METADATA\.XML$", re.IGNORECASE)


@dataclass
class EnmapMetadata:
    """What an EnMAP METADATA.XML says of the spectral image's bands."""

    path: str
    wavelengths_nm: list[float]
    fwhm_nm: list[float] | None
    gains: list[float] | None
    offsets: list[float] | None
    background: float | None
    expected_bands: list[int] | None   # 0-based bands holding data; None: not stated


def is_metadata(path: str) -> bool:
    """Returns: whether `path` names an EnMAP METADATA.XML."""
    return bool(_METADATA.search(str(path)))


def image_of(path: str) -> str:
    """The spectral image an HSI path stands for: itself, or the SPECTRAL_IMAGE beside a METADATA.XML.

    Raises:
        InputError: a METADATA.XML without its SPECTRAL_IMAGE.TIF beside it.
    """
    path = str(path)
    if not is_metadata(path):
        return path
    stem = _METADATA.sub("", path)
    for ext in ("-SPECTRAL_IMAGE.TIF", "-SPECTRAL_IMAGE.tif", "-SPECTRAL_IMAGE.TIFF"):
        if os.path.isfile(stem + ext):
            return stem + ext
    raise InputError(f"{path}: an EnMAP METADATA.XML, but no {os.path.basename(stem)}-SPECTRAL_IMAGE.TIF beside it "
                     f"(give the spectral image, in GeoTIFF format)")


def metadata_beside(image_path: str) -> str | None:
    """The METADATA.XML beside an EnMAP SPECTRAL_IMAGE.TIF, or None (not an EnMAP name, or no XML)."""
    image_path = str(image_path)
    if not _IMAGE.search(image_path):
        return None
    stem = _IMAGE.sub("", image_path)
    for ext in ("-METADATA.XML", "-METADATA.xml"):
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: ET.Element, *names: str) -> str | None:
    for child in elem:
        if _local(child.tag) in names and child.text and child.text.strip():
            return child.text.strip()
    return None


def _number(text: str | None, what: str, band: int, path: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}: band {band}'s {what} is not a number: {text[:40]!r}") from None


def read_metadata(path: str) -> EnmapMetadata:
    """Parse the band characterisation of an EnMAP METADATA.XML.

    Raises:
        InputError: not XML, no bandCharacterisation, a band without a centre wavelength, or an
            unreadable number; the message names the file (and the band).
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{path}: not a readable EnMAP METADATA.XML ({exc})") from exc
    characterisation = next((e for e in root.iter() if _local(e.tag) == "bandCharacterisation"), None)
    if characterisation is None:
        raise InputError(f"{path}: no specific/bandCharacterisation element: not an EnMAP L1B/L1C/L2A METADATA.XML")
    bands = [e for e in characterisation if _local(e.tag) == "bandID"]
    if not bands:
        raise InputError(f"{path}: bandCharacterisation lists no bandID")
    centres, widths, gains, offsets = [], [], [], []
    for i, band in enumerate(bands, start=1):
        number = int(band.get("number", i))
        centre = _number(_child_text(band, "wavelengthCenterOfBand", "wavelengthCenterOfGravity"),
                         "wavelengthCenterOfBand", number, path)
        if centre is None:
            raise InputError(f"{path}: band {number} has no wavelengthCenterOfBand")
        centres.append(centre)
        widths.append(_number(_child_text(band, "FWHMOfBand", "FWHM"), "FWHMOfBand", number, path))
        gains.append(_number(_child_text(band, "GainOfBand"), "GainOfBand", number, path))
        offsets.append(_number(_child_text(band, "OffsetOfBand"), "OffsetOfBand", number, path))
    background = next((e.text for e in root.iter() if _local(e.tag) == "backgroundValue" and e.text), None)
    expected: set[int] = set()
    found_list = False
    for e in root.iter():
        if _local(e.tag) == "expectedChannelsList" and e.text and e.text.strip():
            found_list = True
            try:
                expected.update(int(v) - 1 for v in e.text.replace(";", ",").split(",") if v.strip())
            except ValueError:
                raise InputError(f"{path}: expectedChannelsList is not a list of band numbers: "
                                 f"{e.text.strip()[:60]!r}") from None
    return EnmapMetadata(
        path=path, wavelengths_nm=centres,
        fwhm_nm=None if any(w is None for w in widths) else widths,
        gains=None if any(g is None for g in gains) else gains,
        offsets=None if any(o is None for o in offsets) else offsets,
        background=_number(background, "backgroundValue", 0, path) if background else None,
        expected_bands=sorted(expected) if found_list else None)


def spectral_info(meta: EnmapMetadata, band_count: int, image_path: str) -> SpectralInfo:
    """The METADATA.XML's bands as SpectralInfo, checked against the image's band count.

    Args:
        meta: from read_metadata.
        band_count: the spectral image's bands.
        image_path: named in messages.

    Returns:
        Centres and FWHM (nm), the bands holding data, and the reflectance scale (1 / gain) when every
        band has the same gain and a zero offset (else None: values are used as stored).

    Raises:
        InputError: the XML describes another number of bands than the image has (names both files and counts).
    """
    n = len(meta.wavelengths_nm)
    if n != band_count:
        raise InputError(f"{meta.path} describes {n} bands, but the spectral image {image_path} has {band_count}: "
                         f"the METADATA.XML belongs to another product")
    info = SpectralInfo(wavelengths_nm=list(meta.wavelengths_nm), fwhm_nm=meta.fwhm_nm,
                        units_note=f"EnMAP METADATA.XML {os.path.basename(meta.path)}")
    if meta.expected_bands is not None:
        outside = [b + 1 for b in meta.expected_bands if not 0 <= b < n]
        if outside:
            raise InputError(f"{meta.path}: expectedChannelsList names band {outside[0]}, but the image has {n} bands")
        if not meta.expected_bands:
            raise InputError(f"{meta.path}: expectedChannelsList names no band, so no band is left to use")
        if len(meta.expected_bands) < n:
            info.good_bands = list(meta.expected_bands)
    if meta.gains and len(set(meta.gains)) == 1 and meta.gains[0] > 0 and not any(meta.offsets or []):
        info.scale = float(f"{1.0 / meta.gains[0]:.12g}")
    elif meta.gains:
        info.units_note += "; per-band gains / offsets differ: values used as stored"
    return info
