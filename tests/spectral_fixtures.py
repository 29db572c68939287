"""Small spaceborne-HSI products written in their published layouts, for the raster, app and robustness tests.

EnMAP L2A (write_enmap_l2a): a `-SPECTRAL_IMAGE.TIF` (int16, reflectance x 10000) and the
`-METADATA.XML` beside it, in the XML layout of DLR's "EnMAP HSI Level 1B / Level 1C / Level 2A
Product Specification" (doc. EN-PCV-ICD-2009-2; root `level_X`, per band
`specific/bandCharacterisation/bandID[@number]` with `wavelengthCenterOfBand`, `FWHMOfBand`,
`GainOfBand`, `OffsetOfBand`; `specific/backgroundValue` -32768; the quality section's
`expectedChannelsList`). The element names are those DLR's delivered L2A products carry and that ESA
SNAP's EnMAP reader and the EnMAP-Box L2A import read; the specification's own text (and so the
issue number of the revision followed) could not be consulted here. Only the elements the reader
uses are written.

PRISMA L2D (write_prisma_l2d): an HDF-EOS5 file (.he5) in the layout of ASI's "PRISMA Products
Specification Document", Issue 2.3 (12/03/2020): cubes `HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/
VNIR_Cube` and `SWIR_Cube`, uint16, stored rows x bands x columns, bands in decreasing wavelength;
root attributes `List_Cw_Vnir` / `List_Fwhm_Vnir` / `List_Cw_Vnir_Flags` (and _Swir; zero centres
and flags 0 mark unused slots), `L2ScaleVnirMin` / `L2ScaleVnirMax` (and Swir: reflectance =
min + DN * (max - min) / 65535), `Epsg_Code`, `Product_ULcorner_easting` / `_northing`
(and LR), 30 m pixels. Written with h5py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, osr

import robustness_scene as rs

ENMAP_STEM = "ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z"


def enmap_xml(centres, fwhm, gain=1e-4, offset=0.0, background=-32768, expected=None) -> str:
    """A METADATA.XML holding the band characterisation of `centres` (nm)."""
    bands = "\n".join(
        f'      <bandID number="{i}">\n'
        f"        <wavelengthCenterOfBand>{c:.3f}</wavelengthCenterOfBand>\n"
        f"        <FWHMOfBand>{w:.3f}</FWHMOfBand>\n"
        f"        <GainOfBand>{gain:.10g}</GainOfBand>\n"
        f"        <OffsetOfBand>{offset:g}</OffsetOfBand>\n"
        f"      </bandID>" for i, (c, w) in enumerate(zip(centres, fwhm), start=1))
    quality = "" if expected is None else (
        "  <product>\n    <quality>\n      <vnirProductQuality>\n"
        f"        <expectedChannelsList>{','.join(str(b) for b in expected)}</expectedChannelsList>\n"
        "      </vnirProductQuality>\n    </quality>\n  </product>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<level_X>\n'
            "  <metadata>\n    <schema><versionSchema>01.03.02</versionSchema></schema>\n"
            f"    <name>{ENMAP_STEM}-METADATA.XML</name>\n  </metadata>\n"
            "  <base>\n    <level>L2A</level>\n  </base>\n"
            f"  <specific>\n    <backgroundValue>{background}</backgroundValue>\n"
            f"    <bandCharacterisation>\n{bands}\n    </bandCharacterisation>\n  </specific>\n"
            f"{quality}</level_X>\n")


def write_on_grid(driver: str, path, cube, dtype) -> None:
    """(B, H, W) cube written with a GDAL driver on the small scene's grid (EPSG and geotransform)."""
    ds = gdal.GetDriverByName(driver).Create(str(path), cube.shape[2], cube.shape[1], cube.shape[0], dtype)
    ds.SetGeoTransform(rs.geotransform())
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(rs.EPSG)
    ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(cube):
        ds.GetRasterBand(i + 1).WriteArray(band)
    ds = None


def write_enmap_l2a(folder, cube, centres, fwhm, gain=1e-4, expected=None, xml_bands=None) -> tuple[str, str]:
    """(B, H, W) int16 cube on the small scene's grid as an EnMAP L2A GeoTIFF product (no nodata tag in
    the TIF: the XML's backgroundValue provides it). xml_bands: describe this many bands instead (a
    mismatching product). Returns (tif, xml)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tif = folder / f"{ENMAP_STEM}-SPECTRAL_IMAGE.TIF"
    write_on_grid("GTiff", tif, cube, gdal.GDT_Int16)
    n = xml_bands or len(centres)
    centres = list(centres) + [centres[-1] + 10.0 * (k + 1) for k in range(n - len(centres))]
    fwhm = list(fwhm) + [fwhm[-1]] * (n - len(fwhm))
    xml = folder / f"{ENMAP_STEM}-METADATA.XML"
    xml.write_text(enmap_xml(centres[:n], fwhm[:n], gain, expected=expected), encoding="utf-8")
    return str(tif), str(xml)


def small_scene_enmap(folder, xml_bands=None) -> tuple[str, str]:
    """The small scene's 6 bands (400-900 nm, stored values as they are) plus 2 bands filled with the
    background value that expectedChannelsList leaves out (bands 4 and 8)."""
    hsi, _, _ = rs.scene_arrays()
    fill = np.full((1, *hsi.shape[1:]), -32768, np.int16)
    data = np.round(hsi).astype(np.int16)
    cube = np.concatenate([data[:3], fill, data[3:], fill])
    centres = rs.WAVELENGTHS[:3] + [650.0] + rs.WAVELENGTHS[3:] + [950.0]
    return write_enmap_l2a(folder, cube, centres, [12.0] * 8, expected=[1, 2, 3, 5, 6, 7], xml_bands=xml_bands)


# -- PRISMA -------------------------------------------------------------------------------------------
PRISMA_ORIGIN = (600000.0, 5100000.0)


def write_prisma_l2d(path, vnir, swir, vnir_nm, swir_nm, vnir_fwhm, swir_fwhm, vnir_flags=None, swir_flags=None,
                     scale=((0.0, 1.0), (0.0, 0.8)), epsg=32632, origin=PRISMA_ORIGIN) -> str:
    """vnir / swir: uint16 (rows, bands, cols) DN, bands in the order of their centre lists."""
    import h5py
    rows, cols = vnir.shape[0], vnir.shape[2]
    with h5py.File(str(path), "w") as f:
        fields = f.create_group("HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields")
        fields.create_dataset("VNIR_Cube", data=vnir.astype(np.uint16), chunks=(min(rows, 8), vnir.shape[1], cols))
        fields.create_dataset("SWIR_Cube", data=swir.astype(np.uint16), chunks=(min(rows, 8), swir.shape[1], cols))
        geo = f.create_group("HDFEOS/SWATHS/PRS_L2D_HCO/Geolocation Fields")
        geo.create_dataset("Latitude", data=np.zeros((rows, cols), np.float32))
        a = f.attrs
        a["Processing_Level"] = "2D"
        a["Product_ID"] = "PRS_L2D_STD"
        a["List_Cw_Vnir"] = np.asarray(vnir_nm, np.float32)
        a["List_Fwhm_Vnir"] = np.asarray(vnir_fwhm, np.float32)
        a["List_Cw_Vnir_Flags"] = np.asarray(vnir_flags if vnir_flags is not None else [1] * len(vnir_nm), np.int8)
        a["List_Cw_Swir"] = np.asarray(swir_nm, np.float32)
        a["List_Fwhm_Swir"] = np.asarray(swir_fwhm, np.float32)
        a["List_Cw_Swir_Flags"] = np.asarray(swir_flags if swir_flags is not None else [1] * len(swir_nm), np.int8)
        a["L2ScaleVnirMin"], a["L2ScaleVnirMax"] = np.float32(scale[0][0]), np.float32(scale[0][1])
        a["L2ScaleSwirMin"], a["L2ScaleSwirMax"] = np.float32(scale[1][0]), np.float32(scale[1][1])
        a["Epsg_Code"] = np.int32(epsg)
        a["Product_ULcorner_easting"], a["Product_ULcorner_northing"] = np.float64(origin[0]), np.float64(origin[1])
        a["Product_LRcorner_easting"] = np.float64(origin[0] + 30.0 * cols)
        a["Product_LRcorner_northing"] = np.float64(origin[1] - 30.0 * rows)
    return str(path)


# -- ENVI ---------------------------------------------------------------------------------------------
def write_envi(path, cube, header: dict, dtype=gdal.GDT_Float32) -> str:
    """(B, H, W) cube as ENVI .img + .hdr on the small scene's grid, with extra header keys (ENVI header
    format, NV5 "ENVI Header Files": wavelength, wavelength units, fwhm, bbl, data ignore value)."""
    write_on_grid("ENVI", path, cube, dtype)
    hdr = Path(str(path)).with_suffix(".hdr")
    with open(hdr, "a", encoding="utf-8") as f:
        for key, value in header.items():
            f.write(f"{key} = {value}\n")
    return str(path)


def small_scene_envi(folder, name, **header) -> str:
    """The small scene's HSI as ENVI with these header keys (values as ENVI writes them: '{a, b}')."""
    hsi, _, _ = rs.scene_arrays()
    Path(folder).mkdir(parents=True, exist_ok=True)
    return write_envi(Path(folder) / name, hsi, {k.replace("_", " "): v for k, v in header.items()})
