"""core.spectral_resample: the (model bands x scene bands) weight matrix and the window source applying it."""
from __future__ import annotations

import numpy as np
import pytest

from mmlgnet_qgis.core.errors import InputError
from mmlgnet_qgis.core.pipeline import ArraySource
from mmlgnet_qgis.core.spectral_resample import (FWHM_PER_SIGMA, ResampledSource, band_spacing_fwhm,
                                                 covered_range, resample_matrix)

CENTRES = np.linspace(400.0, 1000.0, 61)  # 10 nm apart


@pytest.mark.parametrize("method", ["linear", "gaussian"])
def test_same_centres_and_widths_is_the_identity(method):
    w = resample_matrix(CENTRES, CENTRES, method, source_fwhm=[10.0] * 61, target_fwhm=[10.0] * 61)
    np.testing.assert_allclose(w, np.eye(61), atol=1e-6)


def test_scene_order_does_not_matter():
    shuffled = np.random.default_rng(0).permutation(61)
    w = resample_matrix(CENTRES[shuffled], CENTRES, "linear")
    np.testing.assert_allclose(w[:, np.argsort(shuffled)], np.eye(61), atol=1e-6)


def test_linear_interpolates_between_neighbours_and_rows_sum_to_one():
    w = resample_matrix([400.0, 410.0, 420.0], [402.5, 415.0, 420.0], "linear")
    np.testing.assert_allclose(w, [[0.75, 0.25, 0], [0, 0.5, 0.5], [0, 0, 1]], atol=1e-6)
    spectrum = np.array([1.0, 3.0, 2.0])
    np.testing.assert_allclose(w @ spectrum, [1.5, 2.5, 2.0], atol=1e-6)


def _blurred_sine(centres, fwhm, base=0.4, amp=0.2, period=80.0):
    """A sine spectrum seen through Gaussian responses of this FWHM: analytically
    base + amp * exp(-(k sigma)^2 / 2) sin(k centre)."""
    k = 2 * np.pi / period
    sigma = np.asarray(fwhm, float) / FWHM_PER_SIGMA
    return base + amp * np.exp(-0.5 * (k * sigma) ** 2) * np.sin(k * np.asarray(centres, float))


def test_gaussian_resampling_of_a_smooth_spectrum_matches_the_analytic_values():
    scene_nm = np.arange(400.0, 1000.1, 4.0)  # narrow bands: 4 nm apart, FWHM 5 nm
    scene = _blurred_sine(scene_nm, 5.0)
    model_nm = np.arange(430.0, 970.0, 15.0)  # wide bands: FWHM 25 nm
    w = resample_matrix(scene_nm, model_nm, "gaussian", source_fwhm=[5.0] * scene_nm.size,
                        target_fwhm=[25.0] * model_nm.size)
    expected = _blurred_sine(model_nm, 25.0)
    np.testing.assert_allclose(w @ scene, expected, atol=2e-3)
    # the linear rows keep the scene's narrow bands' contrast, measurably further from the model's bands
    linear = resample_matrix(scene_nm, model_nm, "linear") @ scene
    assert np.abs(linear - expected).max() > 5 * np.abs(w @ scene - expected).max()


def test_gaussian_never_sharpens_a_wider_scene():
    wide = resample_matrix(CENTRES, CENTRES[5:-5] + 3.0, "gaussian", source_fwhm=[20.0] * 61,
                           target_fwhm=[10.0] * 51)
    np.testing.assert_allclose(wide, resample_matrix(CENTRES, CENTRES[5:-5] + 3.0, "linear"), atol=1e-6)


def test_model_bands_outside_the_covered_range_are_refused_by_number_and_wavelength():
    with pytest.raises(InputError, match=r"covers 400-1000 nm; the model's band 1 at 390 nm, band 3 at 1010 nm "
                                         r"lie outside it"):
        resample_matrix(CENTRES, [390.0, 500.0, 1010.0], "linear", scene="HSI (x.tif)")
    # the outermost bands' half widths count as covered
    assert covered_range(CENTRES, [10.0] * 61) == (395.0, 1005.0)
    resample_matrix(CENTRES, [396.0, 1004.0], "gaussian", source_fwhm=[10.0] * 61)


def test_gaussian_without_scene_widths_and_unknown_methods_are_refused():
    with pytest.raises(InputError, match="needs the scene's band widths"):
        resample_matrix(CENTRES, CENTRES, "gaussian")
    with pytest.raises(InputError, match="unknown band resampling 'cubic'"):
        resample_matrix(CENTRES, CENTRES, "cubic")
    with pytest.raises(InputError, match="two bands are centred at 410 nm"):
        resample_matrix([400.0, 410.0, 410.0], [405.0], "linear")


def test_band_spacing_stands_in_for_missing_widths():
    assert band_spacing_fwhm([400.0, 410.0, 430.0]) == [10.0, 15.0, 20.0]


def test_resampled_source_is_per_pixel_so_tiles_equal_the_whole_scene():
    rng = np.random.default_rng(1)
    cube = rng.random((61, 20, 30)).astype(np.float32)
    cube[:, 3, 4] = np.nan
    src = ResampledSource(ArraySource(cube, name="HSI"), resample_matrix(CENTRES, CENTRES[:-1:2] + 5.0, "linear"))
    whole, valid = src.read_window_with_mask(0, 0, 30, 20)
    assert whole.shape == (30, 20, 30) and src.bands == 30 and not valid[3, 4] and valid.sum() == 599
    part, _ = src.read_window_with_mask(7, 5, 11, 9)
    np.testing.assert_array_equal(part, whole[:, 5:14, 7:18])
    np.testing.assert_allclose(whole[0, 0, 0], (cube[1, 0, 0] + cube[0, 0, 0]) / 2, rtol=1e-6)
