"""PRISMA L2D (.he5, layout of ASI's "PRISMA Products Specification Document" Issue 2.3, see
tests/spectral_fixtures.py): VNIR + SWIR merged by wavelength (unused slots and the SWIR bands inside the
VNIR range dropped), DN -> reflectance from L2Scale*Min/Max, grid from Epsg_Code + UL corner (30 m), read
window by window; a GDAL without the HDF5 driver is refused naming the driver."""
from __future__ import annotations

import numpy as np
import pytest

from mmlgnet_qgis.core.errors import DependencyError, InputError
from mmlgnet_qgis.raster import prisma
from mmlgnet_qgis.raster.reader import RasterSource

h5py = pytest.importorskip("h5py")
from spectral_fixtures import PRISMA_ORIGIN, write_prisma_l2d  # noqa: E402

ROWS, COLS = 12, 9
# decreasing wavelength, as in the products; slot 0 unused (centre 0), slot 4 flagged off
VNIR_NM = [0.0, 980.0, 960.0, 940.0, 700.0, 550.0, 450.0]
VNIR_FWHM = [0.0, 12.0, 12.0, 11.0, 10.0, 9.0, 9.0]
VNIR_FLAGS = [0, 1, 1, 1, 0, 1, 1]
SWIR_NM = [2400.0, 1600.0, 1000.0, 950.0, 0.0]  # 950 lies inside the VNIR range: dropped
SWIR_FWHM = [10.0, 10.0, 10.0, 10.0, 0.0]


def _cubes(seed=0):
    rng = np.random.default_rng(seed)
    vnir = rng.integers(1, 65535, (ROWS, len(VNIR_NM), COLS)).astype(np.uint16)
    swir = rng.integers(1, 65535, (ROWS, len(SWIR_NM), COLS)).astype(np.uint16)
    vnir[2, :, 3] = 0  # a pixel outside the image: DN 0 everywhere
    swir[2, :, 3] = 0
    return vnir, swir


@pytest.fixture
def product(tmp_path):
    vnir, swir = _cubes()
    path = write_prisma_l2d(tmp_path / "PRS_L2D_STD_20200209102459_20200209102503_0001.he5", vnir, swir, VNIR_NM,
                            SWIR_NM, VNIR_FWHM, SWIR_FWHM, vnir_flags=VNIR_FLAGS,
                            scale=((0.0, 1.2), (0.05, 0.85)))
    return path, vnir, swir


def test_bands_are_merged_by_wavelength_and_the_overlap_comes_from_vnir(product):
    path, _, _ = product
    with RasterSource(path) as src:
        assert isinstance(src, prisma.PrismaSource)
        assert src.wavelengths() == [450.0, 550.0, 940.0, 960.0, 980.0, 1000.0, 1600.0, 2400.0]
        info = src.spectral()
        assert info.fwhm_nm == [9.0, 9.0, 11.0, 12.0, 12.0, 10.0, 10.0, 10.0] and info.scale == 1.0
        assert src.band_descriptions()[0] == "VNIR band 7 (450.0 nm)"
        assert src.band_descriptions()[5] == "SWIR band 3 (1000.0 nm)"


def test_grid_from_epsg_and_the_upper_left_corner(product):
    path, _, _ = product
    with RasterSource(path) as src:
        g = src.grid
        assert (g.width, g.height) == (COLS, ROWS) and g.geotransform == (*PRISMA_ORIGIN[:1], 30.0, 0.0,
                                                                             PRISMA_ORIGIN[1], 0.0, -30.0)
        assert g.crs_authority() == "EPSG:32632"


def test_windows_hold_reflectance_and_match_the_whole_cube(product):
    path, vnir, swir = product
    order = [(vnir, 6, 0.0, 1.2), (vnir, 5, 0.0, 1.2), (vnir, 3, 0.0, 1.2), (vnir, 2, 0.0, 1.2), (vnir, 1, 0.0, 1.2),
             (swir, 2, 0.05, 0.85), (swir, 1, 0.05, 0.85), (swir, 0, 0.05, 0.85)]
    expected = np.stack([lo + cube[:, b, :].astype(np.float64) * (hi - lo) / 65535 for cube, b, lo, hi in order])
    with RasterSource(path) as src:
        whole, valid = src.read_window_with_mask(0, 0, COLS, ROWS)
        np.testing.assert_allclose(whole, expected, rtol=1e-5)
        assert not valid[2, 3] and valid.sum() == ROWS * COLS - 1
        part, _ = src.read_window_with_mask(2, 5, 4, 6)
        np.testing.assert_array_equal(part, whole[:, 5:11, 2:6])
    with RasterSource(path, bands=[7, 0], scale=2.0) as sub:
        np.testing.assert_allclose(sub.read_window(0, 0, COLS, ROWS), 2 * whole[[7, 0]], rtol=1e-6)
        assert sub.wavelengths() == [2400.0, 450.0]


def test_a_gdal_without_the_hdf5_driver_is_refused_naming_the_driver(product, monkeypatch):
    monkeypatch.setattr(prisma, "hdf5_driver", lambda: None)
    with pytest.raises(DependencyError, match=r"PRS_L2D_STD_.*\.he5: reading a PRISMA \.he5 product needs GDAL's "
                                              r"HDF5 driver, which this GDAL .* lacks"):
        RasterSource(product[0])


def test_a_list_whose_length_is_not_the_band_count_is_refused(tmp_path):
    vnir, swir = _cubes()
    path = write_prisma_l2d(tmp_path / "bad.he5", vnir, swir, VNIR_NM[:-1], SWIR_NM, VNIR_FWHM[:-1], SWIR_FWHM,
                            vnir_flags=VNIR_FLAGS[:-1])
    with pytest.raises(InputError, match=r"bad\.he5: 'List_Cw_Vnir' lists 6 values, but VNIR_Cube has 7 bands"):
        RasterSource(path)


def test_an_hdf5_file_without_the_l2d_cubes_is_refused(tmp_path):
    path = tmp_path / "other.he5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(InputError, match=r"other\.he5: no HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/VNIR_Cube: not a "
                                         r"PRISMA L2D product"):
        RasterSource(str(path))
