"""EnMAP L2A and PRISMA L2D readers on tiny synthetic products with the real names."""

from __future__ import annotations

import math
import re
import zipfile

import numpy as np
import pytest
from affine import Affine

from geo.errors import CRSError, MetadataError, ProductError
from geo.io.readers import open_scene
from geo.io.readers._hyper import broadband_weights
from geo.io.readers.enmap import open_enmap
from geo.io.readers.prisma import open_prisma
from geo.testing import (
    ENMAP_TEST_ID,
    PRISMA_TEST_NAME,
    write_enmap_product,
    write_prisma_product,
)

ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]

# ----------------------------------------------------------------------------- EnMAP

# product band order = ascending wavelength; VNIR and SWIR interleave in the overlap
ENMAP_WL = [440, 480, 560, 655, 865, 930, 945, 960, 985, 1400, 1610, 1900, 2200, 2250]
ENMAP_FWHM = [6.5, 6.5, 7.0, 7.5, 8.0, 8.5, 10.0, 8.5, 10.0, 11.0, 11.5, 12.0, 10.0, 10.0]
VNIR = [1, 2, 3, 4, 5, 6, 8]
SWIR = [7, 9, 10, 11, 12, 13, 14]
NY, NX = 3, 4


def _enmap_dn() -> np.ndarray:
    b, y, x = np.meshgrid(np.arange(14), np.arange(NY), np.arange(NX), indexing="ij")
    dn = (1000 + 100 * b + 10 * y + x).astype("int16")
    dn[:, 0, 0] = -32768  # no-data pixel in every band
    return dn


def _gains() -> list[float]:
    return [1e-4 * (1 + k / 100) for k in range(14)]


def _offsets() -> list[float]:
    return [0.001 * k for k in range(14)]


@pytest.fixture
def enmap_folder(tmp_path):
    cloud = np.zeros((NY, NX), "uint8")
    cloud[1, 2] = 1
    shadow = np.zeros((NY, NX), "uint8")
    shadow[2, 3] = 1
    return write_enmap_product(
        tmp_path / ENMAP_TEST_ID,
        _enmap_dn(),
        ENMAP_WL,
        ENMAP_FWHM,
        gains=_gains(),
        offsets=_offsets(),
        vnir_channels=VNIR,
        swir_channels=SWIR,
        no_data_bands=[14],
        quality={"CLOUD": cloud, "CLOUDSHADOW": shadow},
    )


def test_enmap_scaling_bands_overlap_and_bad_bands(enmap_folder):
    scene = open_enmap(enmap_folder)
    spectra = scene.spectra
    assert spectra is not None
    # VNIR band 8 (960 nm) sits above the shortest SWIR band (945 nm): dropped, SWIR kept
    expected_ids = [f"b{n:03d}" for n in range(1, 15) if n != 8]
    assert list(spectra["band"].values) == expected_ids
    wl = spectra["wavelength"].values
    assert np.all(np.diff(wl) > 0)
    assert wl.tolist() == [w for n, w in enumerate(ENMAP_WL, 1) if n != 8]
    assert spectra["fwhm"].values.tolist() == [f for n, f in enumerate(ENMAP_FWHM, 1) if n != 8]
    good = dict(zip(expected_ids, spectra["good"].values.tolist(), strict=True))
    # 1400 and 1900 nm: water vapour; band 14: filled with no data per bandStatistics
    assert [k for k, g in good.items() if not g] == ["b010", "b012", "b014"]
    values = spectra.values
    dn = _enmap_dn().astype("float64")
    gains, offsets = _gains(), _offsets()
    for i, ident in enumerate(expected_ids):
        k = int(ident[1:]) - 1
        want = dn[k] * gains[k] + offsets[k]
        want[0, 0] = np.nan  # -32768 = the spectral image's no-data value
        np.testing.assert_allclose(values[i], want, rtol=1e-6, equal_nan=True)
    # a hand-worked pixel: band 11 (1610 nm) at row 2, col 3: DN 1000 + 1000 + 20 + 3
    assert values[expected_ids.index("b011"), 2, 3] == pytest.approx(2023 * 1.1e-4 + 0.010)
    assert spectra.dtype == np.float32
    assert spectra.data.chunks[0] == (len(expected_ids),)  # all bands in one chunk
    assert spectra.attrs["sensor"] == "enmap" and spectra.attrs["wavelength_units"] == "nm"
    assert spectra.attrs["date"] == "2022-07-24"
    spectral = scene.metadata["spectral"]
    assert spectral["overlap"]["dropped"] == ["b008"]
    assert spectral["no_data_bands"] == ["b014"]
    assert spectral["gain"]["b011"] == pytest.approx(1.1e-4)
    assert spectral["bad_bands"] == ["b010", "b012", "b014"]
    assert spectral["wavelength_range_nm"] == [440.0, 2250.0]
    record = scene.metadata["bands"]["swir2"]
    assert record["band"] == "b013" and (record["mult"], record["add"]) == (1.0, 0.0)


def test_enmap_broadband_roles_and_grid(enmap_folder):
    scene = open_enmap(enmap_folder)
    r, spectra = scene.reflectance, scene.spectra
    assert list(r["band"].values) == ROLES
    assert r.attrs["sensor"] == "enmap" and r.attrs["broadband_of"] == "landsat_oli"
    # each OLI interval holds exactly one good band here, so each role IS that band
    # (swir2: 2200 nm; the 2250 nm band is inside the interval but bad)
    pairs = {
        "coastal": "b001",
        "blue": "b002",
        "green": "b003",
        "red": "b004",
        "nir": "b005",
        "swir1": "b011",
        "swir2": "b013",
    }
    for role, ident in pairs.items():
        np.testing.assert_array_equal(
            r.sel(band=role).values, spectra.sel(band=ident).values, err_msg=role
        )
    assert np.isnan(r.values[:, 0, 0]).all()
    transform = Affine(30.0, 0.0, 360_000.0, 0.0, -30.0, 5_810_010.0)
    for array in (r, spectra):
        assert array.rio.crs.to_epsg() == 32633
        assert array.rio.transform() == transform
    assert float(spectra["x"][0]) == 360_015.0 and float(spectra["y"][0]) == 5_809_995.0


def test_enmap_quality_layers_become_qa(enmap_folder):
    scene = open_enmap(enmap_folder)
    assert sorted(scene.qa) == ["cloud", "cloud_shadow"]
    assert scene.metadata["product_masks"] == ["cloud", "cloud_shadow"]
    cloud = scene.qa["cloud"].values
    assert cloud.dtype == np.uint8 and cloud.sum() == 1 and cloud[1, 2] == 1
    assert scene.qa["cloud_shadow"].values[2, 3] == 1
    assert len(scene.files) == 4  # XML, spectral image, two quality layers


def test_enmap_detected_by_open_scene_in_every_form(enmap_folder, tmp_path):
    xml = enmap_folder / f"{ENMAP_TEST_ID}-METADATA.XML"
    tif = enmap_folder / f"{ENMAP_TEST_ID}-SPECTRAL_IMAGE.TIF"
    archive = tmp_path / f"{ENMAP_TEST_ID}.ZIP"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(enmap_folder.iterdir()):
            z.write(p, f"{ENMAP_TEST_ID}/{p.name}")
    reference = open_scene(enmap_folder).spectra.values
    for form in (enmap_folder, xml, tif, archive):
        scene = open_scene(form)
        assert scene.metadata["product"] == "enmap_l2a", form
        np.testing.assert_array_equal(scene.spectra.values, reference)
    assert open_scene(archive).metadata["form"] == "zip"
    assert sorted(open_scene(archive).qa) == ["cloud", "cloud_shadow"]


@pytest.mark.parametrize("key", ["GainOfBand", "OffsetOfBand", "wavelengthCenterOfBand"])
def test_enmap_without_scaling_or_wavelength_is_refused(tmp_path, key):
    folder = write_enmap_product(
        tmp_path / "p",
        _enmap_dn(),
        ENMAP_WL,
        ENMAP_FWHM,
        vnir_channels=VNIR,
        swir_channels=SWIR,
        omit=[key],
    )
    with pytest.raises(MetadataError) as info:
        open_scene(folder)
    message = str(info.value)
    assert "\n" not in message
    assert f"bandID[@number=1]/{key}" in message and "METADATA.XML" in message


def test_enmap_level1_and_non_utm_are_refused(tmp_path):
    l1b = ENMAP_TEST_ID.replace("L2A", "L1B")
    folder = write_enmap_product(
        tmp_path / "l1b", _enmap_dn(), ENMAP_WL, ENMAP_FWHM, product_id=l1b
    )
    with pytest.raises(ProductError, match="not an EnMAP L2A product"):
        open_scene(folder)
    laea = write_enmap_product(
        tmp_path / "laea",
        _enmap_dn(),
        ENMAP_WL,
        ENMAP_FWHM,
        crs="EPSG:3035",
        origin=(4_500_000.0, 3_200_000.0),
    )
    with pytest.raises(CRSError, match="not a WGS 84 UTM zone"):
        open_scene(laea)


def test_enmap_band_count_mismatch_and_dtd_are_refused(tmp_path):
    folder = write_enmap_product(tmp_path / "p", _enmap_dn(), ENMAP_WL, ENMAP_FWHM)
    xml = folder / f"{ENMAP_TEST_ID}-METADATA.XML"
    text = xml.read_text()
    xml.write_text(re.sub(r'<bandID number="14">.*?</bandID>', "", text, count=1))
    with pytest.raises(ProductError, match="14 bands but"):
        open_scene(folder)
    xml.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + text.split("?>", 1)[1])
    with pytest.raises(MetadataError, match="DTD"):
        open_scene(folder)


def test_enmap_without_detector_lists_keeps_every_band(tmp_path):
    folder = write_enmap_product(tmp_path / "p", _enmap_dn(), ENMAP_WL, ENMAP_FWHM)
    scene = open_scene(folder)
    assert scene.spectra.sizes["band"] == 14
    assert scene.metadata["spectral"]["overlap"]["dropped"] == []


# ----------------------------------------------------------------------------- PRISMA

# cube order = DESCENDING wavelength; unused bands carry 0 (VNIR at the start, SWIR at the end)
CW_VNIR = [0.0, 0.0, 970.0, 955.0, 865.0, 655.0, 560.0, 480.0, 440.0]
FWHM_VNIR = [0.0, 0.0, 12.0, 12.5, 13.0, 11.5, 10.0, 9.0, 9.5]
CW_SWIR = [2250.0, 2200.0, 1900.0, 1610.0, 1400.0, 1000.0, 960.0, 0.0]
FWHM_SWIR = [10.0, 10.5, 12.0, 13.5, 14.0, 11.0, 11.0, 0.0]
FLAGS_SWIR = [0, 1, 1, 1, 1, 1, 1, 0]  # 2250 nm flagged unused by the product
SCALE = {"L2ScaleVnirMin": 0.0, "L2ScaleVnirMax": 1.0, "L2ScaleSwirMin": -0.01,
         "L2ScaleSwirMax": 0.99}  # fmt: skip
LINES, SAMPLES = 3, 4


def _prisma_cubes() -> tuple[np.ndarray, np.ndarray]:
    def cube(n: int, base: int) -> np.ndarray:
        y, b, x = np.meshgrid(np.arange(LINES), np.arange(n), np.arange(SAMPLES), indexing="ij")
        return (base + 1000 * b + 10 * y + x).astype("uint16")

    vnir, swir = cube(9, 1000), cube(8, 20000)
    vnir[1, :, 2] = 0  # no data: DN 0 in every band of both cubes
    swir[1, :, 2] = 0
    vnir[0, 5, 3] = 0  # DN 0 in one band only: valid (reflectance = Min)
    return vnir, swir


@pytest.fixture
def prisma_file(tmp_path):
    vnir, swir = _prisma_cubes()
    cloud = np.zeros((LINES, SAMPLES), "uint8")
    cloud[0, 1] = 1
    land = np.full((LINES, SAMPLES), 2, "uint8")
    land[2, 2] = 0  # water
    land[2, 0] = 1  # snow
    return write_prisma_product(
        tmp_path / PRISMA_TEST_NAME,
        vnir,
        swir,
        CW_VNIR,
        FWHM_VNIR,
        CW_SWIR,
        FWHM_SWIR,
        flags_swir=FLAGS_SWIR,
        scale=SCALE,
        masks={"Cloud_Mask": cloud, "LandCover_Mask": land},
    )


def test_prisma_sorted_overlap_once_and_scaled(prisma_file):
    scene = open_prisma(prisma_file)
    spectra = scene.spectra
    # kept: VNIR 440..955 (970 >= shortest SWIR 960 is dropped), SWIR 960..2200 (2250 flag 0)
    assert spectra["wavelength"].values.tolist() == [
        440.0, 480.0, 560.0, 655.0, 865.0, 955.0, 960.0, 1000.0, 1400.0, 1610.0, 1900.0,
        2200.0,
    ]  # fmt: skip
    # b-numbers: VNIR cube position 1-9, then SWIR cube position + 9
    assert list(spectra["band"].values) == [
        "b009", "b008", "b007", "b006", "b005", "b004",
        "b016", "b015", "b014", "b013", "b012", "b011",
    ]  # fmt: skip
    assert spectra["fwhm"].values.tolist()[:2] == [9.5, 9.0]
    assert [
        b for b, g in zip(spectra["band"].values, spectra["good"].values, strict=True) if not g
    ] == [
        "b014",
        "b012",
    ]  # 1400 and 1900 nm
    values = spectra.values
    swir_min, swir_max = np.float32(-0.01), np.float32(0.99)  # as stored (float32)
    # 440 nm = VNIR cube band 9 (index 8): DN 1000 + 8 x 1000 + 10 y + x
    y, x = 2, 3
    assert values[0, y, x] == pytest.approx((1000 + 8000 + 23) / 65535.0, rel=1e-6)
    want = float(swir_min) + (20000 + 1000 + 23) * (float(swir_max) - float(swir_min)) / 65535.0
    assert values[-1, y, x] == pytest.approx(want, rel=1e-6)
    assert np.isnan(values[:, 1, 2]).all()  # DN 0 in every band
    assert values[3, 0, 3] == 0.0  # 655 nm = VNIR index 5, DN 0 alone: Min
    assert spectra.data.chunks[0] == (12,)
    meta = scene.metadata["spectral"]
    assert meta["overlap"]["dropped"] == ["b003"]
    assert meta["unused_bands"] == ["b001", "b002", "b010", "b017"]
    assert meta["cubes"]["SWIR"]["min"] == pytest.approx(-0.01)
    assert meta["source_bands"]["b011"] == "SWIR_Cube band 2"
    assert scene.metadata["date_acquired"] == "2020-05-24"


def test_prisma_grid_masks_and_roles(prisma_file):
    scene = open_scene(prisma_file)  # detected by name
    assert scene.metadata["product"] == "prisma_l2d"
    transform = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_000_000.0)
    assert scene.spectra.rio.transform() == transform
    assert scene.reflectance.rio.transform() == transform
    assert scene.spectra.rio.crs.to_epsg() == 32632
    assert sorted(scene.qa) == ["cloud", "snow", "water"]
    assert scene.qa["cloud"].values[0, 1] == 1 and scene.qa["cloud"].values.sum() == 1
    assert scene.qa["water"].values[2, 2] == 1 and scene.qa["water"].values.sum() == 1
    assert scene.qa["snow"].values[2, 0] == 1 and scene.qa["snow"].values.sum() == 1
    r = scene.reflectance
    assert list(r["band"].values) == ROLES
    np.testing.assert_array_equal(r.sel(band="swir2").values, scene.spectra.sel(band="b011").values)
    assert r.attrs["sensor"] == "prisma"


@pytest.mark.parametrize(
    "key", ["L2ScaleSwirMax", "L2ScaleVnirMin", "List_Cw_Vnir", "List_Fwhm_Swir", "Epsg_Code"]
)
def test_prisma_missing_key_is_refused_naming_it(tmp_path, key):
    vnir, swir = _prisma_cubes()
    path = write_prisma_product(
        tmp_path / PRISMA_TEST_NAME,
        vnir,
        swir,
        CW_VNIR,
        FWHM_VNIR,
        CW_SWIR,
        FWHM_SWIR,
        omit=[key],
    )
    with pytest.raises(MetadataError) as info:
        open_scene(path)
    assert key in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_prisma_other_levels_and_projections_are_refused(tmp_path):
    vnir, swir = _prisma_cubes()
    l2c = write_prisma_product(
        tmp_path / "PRS_L2C_STD_20200524103704_20200524103708_0001.he5",
        vnir,
        swir,
        CW_VNIR,
        FWHM_VNIR,
        CW_SWIR,
        FWHM_SWIR,
        processing_level="2C",
    )
    with pytest.raises(ProductError, match="geo reads PRISMA L2D"):
        open_scene(l2c)
    geographic = write_prisma_product(
        tmp_path / PRISMA_TEST_NAME,
        vnir,
        swir,
        CW_VNIR,
        FWHM_VNIR,
        CW_SWIR,
        FWHM_SWIR,
        epsg=4326,
    )
    with pytest.raises(CRSError):
        open_scene(geographic)
    broken = tmp_path / "PRS_L2D_STD_20200524103704_20200524103708_0002.he5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(ProductError, match="not an HDF5 file"):
        open_scene(broken)


def test_broadband_weights_follow_the_gaussian_share():
    # two good bands in the OLI blue interval (452-512 nm); 500 nm leaks past 512 nm
    from geo.sensors import OLI_BANDS

    w = broadband_weights(
        np.array([440.0, 480.0, 500.0, 560.0, 655.0, 865.0, 1610.0, 2200.0]),
        np.array([10.0] * 8),
        np.ones(8, bool),
    )
    w = w / w.sum(axis=1, keepdims=True)  # the roles are weighted means
    roles = [b.role for b in OLI_BANDS]
    sigma = 10.0 / (2 * math.sqrt(2 * math.log(2)))

    def share(c: float) -> float:
        cdf = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
        return cdf((512 - c) / sigma) - cdf((452 - c) / sigma)

    blue = w[roles.index("blue")]
    total = share(480) + share(500)
    assert blue[1] == pytest.approx(share(480) / total, rel=1e-5)
    assert blue[2] == pytest.approx(share(500) / total, rel=1e-5)
    assert blue[2] < blue[1]
    assert np.allclose(w.sum(axis=1), 1.0)


def test_small_chunks_read_the_same_values(enmap_folder, prisma_file):
    for opener, path in ((open_enmap, enmap_folder), (open_prisma, prisma_file)):
        whole = opener(path).spectra
        tiled = opener(path, chunk=2).spectra
        n = whole.sizes["band"]
        assert tiled.data.chunks == ((n,), (2, 1), (2, 2))  # every band of a tile together
        np.testing.assert_array_equal(tiled.values, whole.values)
        np.testing.assert_array_equal(
            opener(path, chunk=2).reflectance.values, opener(path).reflectance.values
        )
