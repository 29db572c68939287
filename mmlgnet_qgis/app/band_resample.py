"""`--resample-bands`: classify a scene from another sensor (or a band subset) with a model's bands.

The scene's band centres (and FWHM) come from its metadata (app.sources.wavelengths_of, app.hsi_bands),
the model's from its manifest; core.spectral_resample builds the (model x scene) weight matrix and
applies it to every raw HSI window, before the model's normalisation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import InputError
from ..core.reporter import Reporter
from ..core.spectral_resample import METHODS, ResampledSource, describe, resample_matrix
from .sources import wavelengths_of

if TYPE_CHECKING:
    from ..core.manifest import Manifest
    from ..core.pipeline import WindowSource
    from .hsi_bands import HsiSelection


def check_method(method: str) -> str:
    """The method, lower-cased.

    Args:
        method: none, linear or gaussian.

    Returns:
        The method.

    Raises:
        InputError: another value.
    """
    m = (method or "none").strip().lower()
    if m not in METHODS:
        raise InputError(f"resample bands must be one of {', '.join(METHODS)}; got {method!r}")
    return m


def resampled_hsi(hsi: WindowSource, spec: str, manifest: Manifest, select: HsiSelection | None, method: str,
                  reporter: Reporter) -> ResampledSource:
    """The HSI source with its spectra resampled onto the model's band centres.

    Args:
        hsi: the opened HSI (bands already selected and scaled).
        spec: the HSI input, for its metadata and messages.
        manifest: the model's manifest (its wavelengths_nm, and hsi_spectral fwhm_nm when recorded).
        select: the HSI bands read and their widths (app.hsi_bands).
        method: linear or gaussian (gaussian without the scene's FWHM falls back to linear, logged).
        reporter: logs the resampling.

    Returns:
        A window source with the model's band count.

    Raises:
        InputError: the model or the scene states no band centres, or a model band lies outside the scene's range.
    """
    trained = manifest.wavelengths_nm
    if not trained or any(v is None for v in trained):
        raise InputError("--resample-bands: the model file records no band centres (it was trained on an HSI without "
                         "wavelength metadata), so there is nothing to resample to")
    here = wavelengths_of(spec, select)
    if not here or any(v is None for v in here):
        raise InputError(f"--resample-bands: HSI ({spec}) states no centre wavelength for every band (ENVI "
                         f"'wavelength', GDAL WAVELENGTH metadata, an EnMAP METADATA.XML, a PRISMA .he5 or a .mat's "
                         f"'wavelengths_nm'), so its bands cannot be resampled")
    scene_fwhm = select.fwhm_nm if select is not None else None
    if method == "gaussian" and scene_fwhm is None:
        reporter.log(f"HSI ({spec}) states no band widths (FWHM): bands resampled linearly instead of with "
                     f"Gaussian responses")
        method = "linear"
    model_fwhm = (manifest.hsi_spectral or {}).get("fwhm_nm")
    if method == "gaussian" and not model_fwhm:
        reporter.log("the model records no band widths (FWHM): its band spacing stands in for them")
    weights = resample_matrix(here, [float(v) for v in trained], method, source_fwhm=scene_fwhm,
                              target_fwhm=model_fwhm or None, scene=f"HSI ({spec})")
    reporter.log(describe(method, weights, here, trained))
    return ResampledSource(hsi, weights)
