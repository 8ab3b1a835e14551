"""Landsat 4/5/7: Collection 2 Level-2 and Level-1 routes, and the real Landsat 5 TM subset."""

import math
import shutil

import numpy as np
import pytest
import rasterio

from geo.io.readers import open_scene
from geo.io.readers.landsat import ESUN, earth_sun_distance
from geo.io.readers.mtl import format_mtl_txt, parse_mtl
from geo.spectral.masks import MASK_RULES, MaskConfig, build_mask, product_flags
from tests.conftest import PRODUCT_ID

TM_ID = "LT05_L2SP_171075_20070601_20200830_02_T1"


@pytest.fixture
def tm_product(tmp_path, sample_product):
    """A Landsat 5 C2 L2SP folder built from the sample's files, with TM band numbers."""
    dst = tmp_path / TM_ID
    dst.mkdir()
    groups = parse_mtl((sample_product / f"{PRODUCT_ID}_MTL.txt").read_text()).groups
    contents = {"LANDSAT_PRODUCT_ID": TM_ID, "PROCESSING_LEVEL": "L2SP"}
    # TM bands 1-5 and 7 take the OLI sample's blue..swir2 files (OLI 2-7); ST_B6 is listed
    # but geo must ignore the thermal band.
    for tm, oli in (("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "6"), ("7", "7")):
        name = f"{TM_ID}_SR_B{tm}.TIF"
        shutil.copy(sample_product / f"{PRODUCT_ID}_SR_B{oli}.TIF", dst / name)
        contents[f"FILE_NAME_BAND_{tm}"] = name
    contents["FILE_NAME_BAND_ST_B6"] = f"{TM_ID}_ST_B6.TIF"
    for key, suffix in (
        ("FILE_NAME_QUALITY_L1_PIXEL", "QA_PIXEL"),
        ("FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", "QA_RADSAT"),
    ):
        shutil.copy(sample_product / f"{PRODUCT_ID}_{suffix}.TIF", dst / f"{TM_ID}_{suffix}.TIF")
        contents[key] = f"{TM_ID}_{suffix}.TIF"
    l2 = {}
    for tm in ("1", "2", "3", "4", "5", "7"):
        l2[f"REFLECTANCE_MULT_BAND_{tm}"] = 2.75e-05
        l2[f"REFLECTANCE_ADD_BAND_{tm}"] = -0.2
    image = dict(
        groups["IMAGE_ATTRIBUTES"],
        SPACECRAFT_ID="LANDSAT_5",
        SENSOR_ID="TM",
        DATE_ACQUIRED="2007-06-01",
    )
    mtl = {
        "PRODUCT_CONTENTS": contents,
        "IMAGE_ATTRIBUTES": image,
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": l2,
    }
    (dst / f"{TM_ID}_MTL.txt").write_text(format_mtl_txt(mtl))
    return dst


def test_tm_c2_l2_roles_and_scaling(tm_product, sample_product):
    scene = open_scene(tm_product)
    r = scene.reflectance
    assert list(r["band"].values) == ["blue", "green", "red", "nir", "swir1", "swir2"]
    assert r.attrs["sensor"] == "landsat_tm" and r.attrs["platform"] == "LANDSAT_5"
    with rasterio.open(tm_product / f"{TM_ID}_SR_B5.TIF") as src:
        dn = src.read(1)
    row, col = np.argwhere(dn > 0)[100]
    assert r.sel(band="swir1").values[row, col] == pytest.approx(
        dn[row, col] * 2.75e-5 - 0.2, abs=1e-6
    )
    assert scene.metadata["bands"]["swir2"]["band"] == "7"
    assert not any("ST_B6" in f for f in scene.files)


def test_tm_radsat_bits_differ_from_oli(tm_product):
    import xarray as xr

    radsat = xr.DataArray(
        np.array([[1 << 5, 1 << 6, 1 << 9, 1 << 4]], dtype="uint16"), dims=("y", "x")
    )
    tm = product_flags({"qa_radsat": radsat}, "landsat_c2", sensor="landsat_tm")["saturated"].values
    oli = product_flags({"qa_radsat": radsat}, "landsat_c2", sensor="landsat_oli")[
        "saturated"
    ].values
    # bit 5 is TM thermal band 6 (not a reflective band), bit 6 is band 7, bit 9 a dropped pixel
    assert tm.tolist() == [[False, True, True, True]]
    assert oli.tolist() == [[True, True, False, True]]


def test_landsat7_after_slc_failure_is_flagged(tm_product):
    mtl = next(tm_product.glob("*_MTL.txt"))
    mtl.write_text(
        mtl.read_text().replace('"LANDSAT_5"', '"LANDSAT_7"').replace("2007-06-01", "2004-02-01")
    )
    scene = open_scene(tm_product)
    assert scene.reflectance.attrs["sensor"] == "landsat_etm" and scene.metadata["slc_off"] is True
    with rasterio.open(tm_product / f"{TM_ID}_SR_B3.TIF") as src:
        gaps = src.read(1) == 0  # SLC-off gaps are fill: NaN, and flagged 'fill'
    assert np.isnan(scene.reflectance.sel(band="red").values[gaps]).all()
    flags = product_flags(scene.qa, "landsat_c2", sensor="landsat_etm")
    reasons = build_mask(scene.reflectance, flags=flags, config=MaskConfig(buffer_px=0)).values
    assert ((reasons[gaps] & (1 << MASK_RULES.index("fill"))) != 0).all()


def test_earth_sun_distance_extremes():
    assert earth_sun_distance(4) == pytest.approx(0.98328, abs=1e-5)  # perihelion
    assert earth_sun_distance(186) == pytest.approx(1.0167, abs=2e-4)  # aphelion


def test_real_landsat5_tm_l1_subset(shared_data):
    folder = shared_data / "scenes" / "rstoolbox_landsat5_tm"
    scene = open_scene(folder)
    r = scene.reflectance
    assert scene.metadata["calibration"] == "pre_collection_l1_radiance_esun"
    assert r.attrs["units"].startswith("TOA") and r.attrs["date"] == "1988-08-14"
    assert list(r["band"].values) == ["blue", "green", "red", "nir", "swir1", "swir2"]
    assert r.rio.crs == "EPSG:32622" and r.shape == (6, 310, 287)
    with rasterio.open(folder / "LT52240631988227CUB02_B4.TIF") as src:
        dn = src.read(1)
    row, col = 155, 140
    assert 0 < dn[row, col] < 255
    # hand computation: radiance from the MTL, ESUN (Chander et al. 2009), d from day 227
    radiance = 0.876 * dn[row, col] - 2.38602
    d = 1 - 0.01672 * math.cos(math.radians(0.9856 * (227 - 4)))
    expected = math.pi * radiance * d**2 / (1031.0 * math.sin(math.radians(49.75588889)))
    assert r.sel(band="nir").values[row, col] == pytest.approx(expected, rel=1e-6)
    assert ESUN["LANDSAT_5"]["4"] == 1031.0
    nir, red = r.sel(band="nir").values, r.sel(band="red").values
    assert np.nanmedian(nir) > 3 * np.nanmedian(red), "tropical forest: NIR well above red"
    assert 0.0 < np.nanmedian(nir) < 0.6
