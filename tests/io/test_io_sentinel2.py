"""Sentinel-2 SAFE ingest on tiny synthetic products with the real layout and XML.

The tile is 60 × 60 px at 10 m (30 × 30 at 20 m, 10 × 10 at 60 m) in EPSG:32633. Band files are
real JPEG 2000 (lossless, GDAL JP2OpenJPEG). L2A products also hold the non-native copies ESA
ships (B01/B02_20m, B05_60m, SCL_60m...) filled with a decoy value, so reading the wrong file
shows up in the numbers. Facts: DOMAIN.md §1.3 and §1.5 "Sentinel-2 L2A".
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import dask.array as dsa
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo.errors import InputNotFoundError, InvalidParameterError, MetadataError, ProductError
from geo.io.readers.sentinel2 import (
    _bilinear_kernel,
    _nearest,
    _split_for_upsampling,
    _upsample_bilinear,
    is_sentinel2,
    open_sentinel2,
)
from geo.sensors import MSI_BANDS
from geo.spectral.masks import product_flags

CRS = "EPSG:32633"
X0, Y0 = 399_960.0, 4_200_000.0
TILE_M = 600.0  # 60 px at 10 m
NATIVE = {f"B{b.number}": b.gsd_m for b in MSI_BANDS}  # B01 -> 60.0 ...
PHYSICAL = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
DECOY_DN, DECOY_SCL = 7777, 9
L2A_ROLES = [b.role for b in MSI_BANDS if b.role != "cirrus"]
# Non-native copies in a real L2A product (R20m: B01-B04 resampled; R60m: all but B08/B10).
DECOYS = {
    20.0: ["B01", "B02", "B03", "B04"],
    60.0: ["B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"],
}

XML = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{level}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level}.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level}.xsd">
    <n1:General_Info>
        <Product_Info>
            <PRODUCT_START_TIME>2019-06-07T09:50:31.024Z</PRODUCT_START_TIME>
            <PRODUCT_STOP_TIME>2019-06-07T09:50:31.024Z</PRODUCT_STOP_TIME>
            <PRODUCT_URI>{uri}</PRODUCT_URI>
            <PROCESSING_LEVEL>Level-{level}</PROCESSING_LEVEL>
            <PRODUCT_TYPE>S2MSI{level}</PRODUCT_TYPE>
            <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
            <GENERATION_TIME>2023-01-01T00:00:00.000000Z</GENERATION_TIME>
            <Datatake datatakeIdentifier="GS2A_20190607T095031_020668_N{baseline}">
                <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
                <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
                <DATATAKE_SENSING_START>2019-06-07T09:50:31.024Z</DATATAKE_SENSING_START>
                <SENSING_ORBIT_NUMBER>79</SENSING_ORBIT_NUMBER>
                <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
            </Datatake>
            <Query_Options completeSingleTile="true">
                <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
            </Query_Options>
        </Product_Info>
        <Product_Image_Characteristics>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
            </Special_Values>
            {quantification}
            {offsets}
            <Reflectance_Conversion>
                <U>0.9691</U>
                <Solar_Irradiance_List>
                    <SOLAR_IRRADIANCE bandId="0" unit="W/m²/µm">1884.69</SOLAR_IRRADIANCE>
                    <SOLAR_IRRADIANCE bandId="11" unit="W/m²/µm">245.59</SOLAR_IRRADIANCE>
                </Solar_Irradiance_List>
            </Reflectance_Conversion>
            <Spectral_Information_List>
{spectral}
            </Spectral_Information_List>
        </Product_Image_Characteristics>
    </n1:General_Info>
    <n1:Quality_Indicators_Info>
        <Cloud_Coverage_Assessment>12.693287</Cloud_Coverage_Assessment>
    </n1:Quality_Indicators_Info>
</n1:Level-{level}_User_Product>
"""
QUANT = {
    "L2A": "<QUANTIFICATION_VALUES_LIST>"
    '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
    '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>'
    '<WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>'
    "</QUANTIFICATION_VALUES_LIST>",
    # Sen2Cor 2.x wording, with the L1C value beside it
    "L2A_old": "<L1C_L2A_Quantification_Values_List>"
    '<L1C_TOA_QUANTIFICATION_VALUE unit="none">10000</L1C_TOA_QUANTIFICATION_VALUE>'
    '<L2A_BOA_QUANTIFICATION_VALUE unit="none">10000</L2A_BOA_QUANTIFICATION_VALUE>'
    '<L2A_AOT_QUANTIFICATION_VALUE unit="none">1000.0</L2A_AOT_QUANTIFICATION_VALUE>'
    "</L1C_L2A_Quantification_Values_List>",
    "L1C": '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>',
}
OFFSET_LIST = {
    "L2A": ("BOA_ADD_OFFSET_VALUES_LIST", "BOA_ADD_OFFSET"),
    "L1C": ("Radiometric_Offset_List", "RADIO_ADD_OFFSET"),
}


def dn_array(code: str) -> np.ndarray:
    """Native-resolution DNs of a band, the same in every product, with nodata patches."""
    res = NATIVE[code]
    n = round(TILE_M / res)
    rng = np.random.default_rng(sorted(NATIVE).index(code))
    a = rng.integers(1, 6000, (n, n)).astype("uint16")
    if res == 10.0:
        a[0, 0] = 0  # one of four in the first 20 m block
        a[2:4, 0:2] = 0  # the whole 20 m block (1, 0)
    elif res == 20.0:
        a[29, 29] = 0
    else:
        a[5, 5] = 0
    return a


def scl_array() -> np.ndarray:
    return np.random.default_rng(99).integers(0, 12, (30, 30)).astype("uint8")


def write_jp2(path: Path, data: np.ndarray, res: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "JP2OpenJPEG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": CRS,
        "transform": from_origin(X0, Y0, res, res),
    }
    with rasterio.open(path, "w", QUALITY=100, REVERSIBLE="YES", **profile) as dst:
        dst.write(data, 1)


def product_xml(
    level: str,
    *,
    baseline: str,
    uri: str,
    offsets: dict[int, float] | None,
    quantification: str | None = None,
    order: list[int] | None = None,
    physical: list[str] = PHYSICAL,
) -> str:
    """The product XML; ``offsets`` maps band_id -> DN offset (None: no list)."""
    order = list(range(13)) if order is None else order
    spectral = "\n".join(
        f'                <Spectral_Information bandId="{i}" physicalBand="{physical[i]}">'
        f"<RESOLUTION>{NATIVE[_code(physical[i])]:g}</RESOLUTION></Spectral_Information>"
        for i in order
    )
    offset_xml = ""
    if offsets is not None:
        group, tag = OFFSET_LIST[level]
        items = "".join(f'<{tag} band_id="{i}">{v:g}</{tag}>' for i, v in offsets.items())
        offset_xml = f"<{group}>{items}</{group}>"
    return XML.format(
        level=level[1:],
        uri=uri,
        baseline=baseline,
        quantification=QUANT[level] if quantification is None else quantification,
        offsets=offset_xml,
        spectral=spectral,
    )


def _code(physical: str) -> str:
    return "B8A" if physical == "B8A" else f"B{int(physical[1:]):02d}"


def l2a_names(form: str) -> tuple[str, str, str, Callable[[str, float], str]]:
    """(SAFE name, XML name, granule, file-name function) for a naming form."""
    if form == "user":  # very old Sen2Cor products
        stem = "S2A_USER_MSI_L2A_TL_SGS__20190607T120000_A020668_T33SWC"

        def name(code, res):
            if code == "SCL":
                return f"S2A_USER_SCL_L2A_TL_SGS__20190607T120000_A020668_T33SWC_{res:g}m.jp2"
            return f"{stem}_{code}_{res:g}m.jp2"

        return (
            "S2A_USER_PRD_MSIL2A_PDMC_20190607T120000_R079_V20190607T095031_20190607T095031.SAFE",
            "S2A_USER_MTD_SAFL2A_PDMC_20190607T120000_R079_V20190607T095031_20190607T095031.xml",
            f"{stem}_N02.12",
            name,
        )
    prefix = "L2A_" if form == "l2a_prefix" else ""
    return (
        "S2A_MSIL2A_20190607T095031_N{n}_R079_T33SWC_20230101T000000.SAFE",
        "MTD_MSIL2A.xml",
        "L2A_T33SWC_A020668_20190607T095825",
        lambda code, res: f"{prefix}T33SWC_20190607T095031_{code}_{res:g}m.jp2",
    )


def make_l2a(
    tmp: Path,
    *,
    baseline: str = "05.09",
    form: str = "compact",
    offsets: dict[int, float] | str | None = "default",
    **xml_kw,
) -> Path:
    """Write an L2A SAFE folder under ``tmp``; return its path."""
    safe_name, xml_name, granule, name = l2a_names(form)
    safe = tmp / safe_name.format(n=baseline.replace(".", ""))
    img = safe / "GRANULE" / granule / "IMG_DATA"
    data_by_code = {code: dn_array(code) for code in NATIVE if code != "B10"}
    data_by_code["SCL"] = scl_array()
    for code, data in data_by_code.items():
        res = 20.0 if code == "SCL" else NATIVE[code]
        write_jp2(img / f"R{res:g}m" / name(code, res), data, res)
    for res, codes in DECOYS.items():
        n = round(TILE_M / res)
        for code in codes:
            value, dtype = (DECOY_SCL, "uint8") if code == "SCL" else (DECOY_DN, "uint16")
            write_jp2(img / f"R{res:g}m" / name(code, res), np.full((n, n), value, dtype), res)
    (safe / "GRANULE" / granule / "QI_DATA").mkdir()
    if offsets == "default":
        offsets = {i: -1000 for i in range(13)}
    quantification = QUANT["L2A_old"] if form == "user" else None
    xml_kw.setdefault("quantification", quantification)
    text = product_xml("L2A", baseline=baseline, uri=safe.name, offsets=offsets, **xml_kw)
    (safe / xml_name).write_text(text, encoding="utf-8")
    return safe


def make_l1c(tmp: Path) -> Path:
    safe = tmp / "S2A_MSIL1C_20190607T095031_N0509_R079_T33SWC_20230101T000000.SAFE"
    img = safe / "GRANULE" / "L1C_T33SWC_A020668_20190607T095825" / "IMG_DATA"
    for code, res in NATIVE.items():
        write_jp2(img / f"T33SWC_20190607T095031_{code}.jp2", dn_array(code), res)
    tci = np.zeros((60, 60), "uint8")  # true-colour preview: not a band
    write_jp2(img / "T33SWC_20190607T095031_TCI.jp2", tci, 10.0)
    offsets = {i: -1000 for i in range(13)}
    text = product_xml("L1C", baseline="05.09", uri=safe.name, offsets=offsets)
    (safe / "MTD_MSIL1C.xml").write_text(text, encoding="utf-8")
    return safe


def refl(dn: np.ndarray, offset: float = -1000.0) -> np.ndarray:
    out = (dn.astype("float64") + offset) / 10000.0
    return np.where(dn == 0, np.nan, out)


def plain(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k != "_FillValue"}  # NaN != NaN


@pytest.fixture(scope="module")
def l2a(tmp_path_factory) -> Path:
    return make_l2a(tmp_path_factory.mktemp("l2a"))


@pytest.fixture(scope="module")
def scene20(l2a):
    return open_sentinel2(l2a)


@pytest.fixture(scope="module")
def scene10(l2a):
    return open_sentinel2(l2a, resolution=10)


@pytest.fixture(scope="module")
def scene60(l2a):
    return open_sentinel2(l2a, resolution=60.0)


@pytest.fixture
def l2a_copy(tmp_path, l2a) -> Path:
    dst = tmp_path / l2a.name
    shutil.copytree(l2a, dst)
    return dst


# ----------------------------------------------------------------------------- radiometry


@pytest.mark.parametrize(
    ("baseline", "offset", "source"),
    [("05.09", -1000.0, "baseline>=04.00"), ("03.01", 0.0, "none before 04.00")],
)
def test_offset_is_chosen_by_baseline_not_date(tmp_path, baseline, offset, source):
    # both acquired 2019-06-07, before 04.00 went live: only the baseline decides
    offset_list = {i: -1000 for i in range(13)} if baseline == "05.09" else None
    scene = open_sentinel2(make_l2a(tmp_path, baseline=baseline, offsets=offset_list))
    dn = dn_array("B11")
    swir1 = scene.reflectance.sel(band="swir1").values
    np.testing.assert_allclose(swir1, refl(dn, offset), atol=1e-6, equal_nan=True)
    assert swir1[4, 7] == pytest.approx((int(dn[4, 7]) + offset) / 10000, abs=1e-6)
    assert np.isnan(swir1[29, 29]), "DN 0 is no data"
    m = scene.metadata
    assert m["offset_source"] == source and m["processing_baseline"] == baseline
    assert m["bands"]["swir1"]["mult"] == pytest.approx(1e-4)
    assert m["bands"]["swir1"]["add"] == pytest.approx(offset / 10000)
    assert m["quantification"] == 10000 and m["date_acquired"] == "2019-06-07"


def test_new_baseline_without_offset_list_warns_and_uses_zero(tmp_path, caplog):
    product = make_l2a(tmp_path, baseline="05.09", offsets=None)
    with caplog.at_level(logging.WARNING, logger="geo.io.readers.sentinel2"):
        scene = open_sentinel2(product)
    assert "no BOA_ADD_OFFSET list" in caplog.text
    assert scene.metadata["offset_source"] == "missing list"
    swir2 = scene.reflectance.sel(band="swir2").values
    np.testing.assert_allclose(swir2, refl(dn_array("B12"), 0.0), atol=1e-6, equal_nan=True)


def test_offsets_follow_band_id_to_physical_band_not_order(tmp_path):
    # shuffled Spectral_Information, and bandIds 11/12 deliberately name B12/B11
    physical = [*PHYSICAL[:11], "B12", "B11"]
    order = [7, 12, 0, 3, 9, 1, 11, 5, 10, 2, 8, 4, 6]
    offsets = {i: -1000.0 - i for i in range(13)}
    product = make_l2a(tmp_path, offsets=offsets, order=order, physical=physical)
    scene = open_sentinel2(product)
    bands = scene.metadata["bands"]
    assert bands["swir1"]["add"] == pytest.approx(-1012 / 10000)  # B11 is bandId 12 here
    assert bands["swir2"]["add"] == pytest.approx(-1011 / 10000)
    assert bands["coastal"]["add"] == pytest.approx(-1000 / 10000)
    assert bands["nir_narrow"]["add"] == pytest.approx(-1008 / 10000)
    swir1 = scene.reflectance.sel(band="swir1").values
    np.testing.assert_allclose(swir1, refl(dn_array("B11"), -1012), atol=1e-6, equal_nan=True)


# ----------------------------------------------------------------------------- grid


def test_20m_grid_is_the_tile_grid(scene20):
    r, m = scene20.reflectance, scene20.metadata
    assert r.dims == ("band", "y", "x") and r.shape == (12, 30, 30) and r.dtype == np.float32
    assert list(r["band"].values) == L2A_ROLES, "sensor order, no cirrus in L2A"
    assert r.chunks is not None and scene20.qa["scl"].chunks is not None, "lazy"
    assert r.rio.crs == CRS
    assert tuple(r.rio.transform())[:6] == (20.0, 0.0, X0, 0.0, -20.0, Y0)
    assert r.rio.bounds() == pytest.approx((X0, Y0 - TILE_M, X0 + TILE_M, Y0))
    assert np.isnan(r.rio.nodata)
    assert plain(r.attrs) == {
        "sensor": "sentinel2_msi",
        "platform": "Sentinel-2A",
        "scene_id": "S2A_MSIL2A_20190607T095031_N0509_R079_T33SWC_20230101T000000",
        "date": "2019-06-07",
        "processing_level": "L2A",
        "units": "reflectance (unitless)",
    }
    assert m["resolution_m"] == 20.0 and m["shape"] == [30, 30] and m["crs"] == CRS
    assert m["product"] == "sentinel2_safe" and m["cloud_cover"] == pytest.approx(12.693287)
    assert m["qa_layers"] == ["scl"] and m["qa_kind"] == "sentinel2_scl"
    assert m["bands"]["swir1"] == {
        "band": "B11",
        "file": "T33SWC_20190607T095031_B11_20m.jp2",
        "mult": pytest.approx(1e-4),
        "add": pytest.approx(-0.1),
        "native_resolution_m": 20.0,
        "resampling": "none",
    }
    resampling = {role: b["resampling"] for role, b in m["bands"].items()}
    assert resampling["blue"] == "average" and resampling["coastal"] == "bilinear"
    assert resampling["rededge1"] == "none" and m["qa_resampling"] == {"scl": "none"}
    flags = product_flags(scene20.qa, m["qa_kind"])  # what the runner does with it
    assert {"fill", "cloud", "cirrus"} <= set(flags)


def test_10m_band_is_averaged_and_nan_aware(scene20):
    dn = dn_array("B02")
    blue = scene20.reflectance.sel(band="blue").values
    expected = np.nanmean(refl(dn)[2:4, 4:6])  # 20 m pixel (1, 2)
    assert blue[1, 2] == pytest.approx(expected, abs=1e-6)
    assert blue[1, 2] != pytest.approx(refl(np.array([DECOY_DN]))[0], abs=1e-3)
    # block (0, 0): one of four 10 m pixels is no data -> mean of the other three
    assert blue[0, 0] == pytest.approx(refl(dn)[[0, 1, 1], [1, 0, 1]].mean(), abs=1e-6)
    assert np.isnan(blue[1, 0]), "a block with no valid pixel stays no data"
    assert np.isfinite(blue).sum() == 30 * 30 - 1


def test_60m_band_is_upsampled_bilinear_without_nodata_bleed(scene20):
    c = refl(dn_array("B01"))
    coastal = scene20.reflectance.sel(band="coastal").values
    # the middle 20 m pixel of each 60 m pixel sits on its centre: the value itself
    assert coastal[3 * 2 + 1, 3 * 4 + 1] == pytest.approx(c[2, 4], abs=1e-6)
    # one third of a coarse pixel up: 1/3 of the row above, 2/3 of its own
    assert coastal[3 * 2, 3 * 4 + 1] == pytest.approx(c[1, 4] / 3 + 2 * c[2, 4] / 3, abs=1e-6)
    # edges are clamped: the corner pixel is the corner value
    assert coastal[0, 0] == pytest.approx(c[0, 0], abs=1e-6)
    # no data (60 m pixel (5, 5)) keeps exactly its footprint: 9 pixels, neighbours valid
    assert np.isnan(coastal[15:18, 15:18]).all() and np.isnan(coastal).sum() == 9
    assert coastal[14, 16] == pytest.approx(c[4, 5], abs=1e-6), "weights renormalised"


@pytest.mark.parametrize("resolution", [10.0, 20.0, 60.0])
def test_scl_is_nearest_only(request, resolution):
    scene = request.getfixturevalue(f"scene{resolution:g}")
    scl = scene.qa["scl"]
    raw = scl_array()
    expected = {
        10.0: np.repeat(np.repeat(raw, 2, axis=0), 2, axis=1),
        20.0: raw,
        60.0: raw[1::3, 1::3],  # the centre 20 m pixel of each 60 m pixel, not the SCL_60m file
    }[resolution]
    assert scl.dtype == np.uint8 and scl.shape == scene.reflectance.shape[1:]
    np.testing.assert_array_equal(scl.values, expected)
    assert set(np.unique(scl.values)) <= set(range(12)), "classes are never blended"
    assert scl.rio.transform() == scene.reflectance.rio.transform()


def test_10m_and_60m_grids(scene10, scene60):
    s10, s60 = scene10, scene60
    assert s10.reflectance.shape == (12, 60, 60) and s60.reflectance.shape == (12, 10, 10)
    assert s10.reflectance.rio.resolution() == (10.0, -10.0)
    assert s60.reflectance.rio.bounds() == pytest.approx((X0, Y0 - TILE_M, X0 + TILE_M, Y0))
    b10 = {r: b["resampling"] for r, b in s10.metadata["bands"].items()}
    b60 = {r: b["resampling"] for r, b in s60.metadata["bands"].items()}
    assert (b10["blue"], b10["swir1"], b10["coastal"]) == ("none", "bilinear", "bilinear")
    assert (b60["blue"], b60["swir1"], b60["coastal"]) == ("average", "average", "none")
    np.testing.assert_allclose(
        s10.reflectance.sel(band="blue").values, refl(dn_array("B02")), atol=1e-6, equal_nan=True
    )
    swir2 = refl(dn_array("B12"))
    assert s60.reflectance.sel(band="swir2").values[1, 2] == pytest.approx(
        swir2[3:6, 6:9].mean(), abs=1e-6
    )
    assert s60.reflectance.sel(band="blue").values[0, 0] == pytest.approx(
        np.nanmean(refl(dn_array("B02"))[0:6, 0:6]), abs=1e-6
    )


# ----------------------------------------------------------------------------- entry forms


@pytest.mark.parametrize("form", ["l2a_prefix", "user"])
def test_every_band_file_naming_form_reads_the_same(tmp_path, scene20, form):
    # older Sen2Cor products predate baseline 04.00: same DNs, no offset, so exactly +0.1
    product = make_l2a(tmp_path, baseline="02.12", offsets=None, form=form)
    other = open_sentinel2(product)
    assert other.metadata["offset_source"] == "none before 04.00"
    np.testing.assert_allclose(
        other.reflectance.values - 0.1, scene20.reflectance.values, atol=1e-6, equal_nan=True
    )
    np.testing.assert_array_equal(other.qa["scl"].values, scene20.qa["scl"].values)
    assert other.metadata["bands"]["swir1"]["file"].endswith("_B11_20m.jp2")


def test_zip_is_read_in_place(tmp_path, l2a, scene20):
    archive = tmp_path / "dl" / f"{l2a.stem}.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:  # ESA zips hold the SAFE folder itself
        for f in sorted(l2a.rglob("*")):
            zf.write(f, f.relative_to(l2a.parent).as_posix())
    assert is_sentinel2(archive)
    scene = open_sentinel2(archive)
    np.testing.assert_array_equal(scene.reflectance.values, scene20.reflectance.values)
    np.testing.assert_array_equal(scene.qa["scl"].values, scene20.qa["scl"].values)
    assert plain(scene.reflectance.attrs) == plain(scene20.reflectance.attrs)
    assert scene.files == [str(archive)]
    assert [p.name for p in archive.parent.iterdir()] == [archive.name], "nothing extracted"


def test_xml_path_and_folder_give_the_same_scene(l2a, scene20):
    scene = open_sentinel2(l2a / "MTD_MSIL2A.xml")
    np.testing.assert_array_equal(scene.reflectance.values, scene20.reflectance.values)
    assert scene20.files[0] == str(l2a / "MTD_MSIL2A.xml")
    assert len(scene20.files) == 1 + 12 + 1, "the XML, 12 band files and SCL"
    assert all(Path(f).exists() for f in scene20.files)


def test_l1c_product(tmp_path):
    scene = open_sentinel2(make_l1c(tmp_path))
    r, m = scene.reflectance, scene.metadata
    assert list(r["band"].values) == [b.role for b in MSI_BANDS], "B10 (cirrus) kept in L1C"
    assert scene.qa == {} and m["qa_kind"] is None and m["qa_layers"] == []
    assert m["processing_level"] == "L1C" and r.attrs["processing_level"] == "L1C"
    assert m["offset_source"] == "baseline>=04.00" and m["bands"]["cirrus"]["add"] == -0.1
    assert m["bands"]["cirrus"]["file"] == "T33SWC_20190607T095031_B10.jp2"
    np.testing.assert_allclose(
        r.sel(band="swir1").values, refl(dn_array("B11")), atol=1e-6, equal_nan=True
    )
    cirrus = refl(dn_array("B10"))
    assert r.sel(band="cirrus").values[3 * 2 + 1, 3 * 7 + 1] == pytest.approx(cirrus[2, 7], 1e-6)


def test_is_sentinel2(tmp_path, l2a, sample_product):
    assert is_sentinel2(l2a) and is_sentinel2(l2a / "MTD_MSIL2A.xml")
    assert not is_sentinel2(sample_product), "a Landsat folder"
    assert not is_sentinel2(tmp_path / "missing.SAFE")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("LC08_X_MTL.txt", "GROUP = LANDSAT_METADATA_FILE")
    assert not is_sentinel2(other)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    assert not is_sentinel2(tmp_path / "broken.zip")


# ----------------------------------------------------------------------------- errors


def test_missing_native_band_names_band_and_folder(l2a_copy):
    next(l2a_copy.rglob("*_B05_20m.jp2")).unlink()  # B05_60m is still there
    with pytest.raises(InputNotFoundError, match=r"B05 \(rededge1\) at its native 20 m") as err:
        open_sentinel2(l2a_copy)
    assert "IMG_DATA/R20m" in str(err.value) and "only at 60 m" in str(err.value)


def test_missing_and_bad_xml(l2a_copy):
    xml = l2a_copy / "MTD_MSIL2A.xml"
    text = xml.read_text()
    xml.write_text(text.replace("BOA_QUANTIFICATION_VALUE", "BOA_QUANTIFICATION"))
    with pytest.raises(MetadataError, match=r"MTD_MSIL2A\.xml: .*no BOA_QUANTIFICATION_VALUE"):
        open_sentinel2(l2a_copy)
    xml.write_text(text.replace("</n1:General_Info>", ""))
    with pytest.raises(MetadataError, match="not a well-formed XML"):
        open_sentinel2(l2a_copy)
    xml.write_text(text.replace("Sentinel-2A", "Sentinel-3A"))
    with pytest.raises(ProductError, match="SPACECRAFT_NAME is 'Sentinel-3A'"):
        open_sentinel2(l2a_copy)
    xml.unlink()
    with pytest.raises(ProductError, match=r"no MTD_MSIL2A\.xml or MTD_MSIL1C\.xml"):
        open_sentinel2(l2a_copy)
    with pytest.raises(InputNotFoundError, match="not found"):
        open_sentinel2(xml)


def test_safe_without_granule_and_bad_resolution(l2a_copy):
    with pytest.raises(InvalidParameterError, match=r"'resolution'.*Got 30"):
        open_sentinel2(l2a_copy, resolution=30)
    shutil.rmtree(l2a_copy / "GRANULE")
    with pytest.raises(ProductError, match="no GRANULE/<granule>/IMG_DATA files"):
        open_sentinel2(l2a_copy)


# ----------------------------------------------------------------------------- kernels


def test_resampling_kernels_do_not_depend_on_chunks():
    rng = np.random.default_rng(3)
    a = rng.random((9, 12)).astype("float32")
    a[4, 5] = np.nan
    a[0, 11] = np.nan  # on a chunk edge and the tile edge
    whole = _bilinear_kernel(np.pad(a, 1, mode="edge"), 3)
    for chunks in [(2, 5), (4, 4), (9, 12)]:
        chunked = dsa.from_array(a, chunks=chunks)
        up = _upsample_bilinear(chunked, 3)
        assert up.chunks == tuple(tuple(3 * c for c in axis) for axis in chunked.chunks)
        np.testing.assert_array_equal(up.compute(), whole)
        np.testing.assert_array_equal(_nearest(chunked, 3).compute(), _nearest(a, 3))
        np.testing.assert_array_equal(_nearest(chunked, -3).compute(), a[1::3, 1::3])
    assert whole.dtype == np.float32 and np.isnan(whole).sum() == 2 * 9


def test_coarse_tiles_are_split_before_upsampling():
    # a 60 m band read in 1024 px tiles would upsample to 3072 px chunks on a 20 m grid of
    # 1024 px chunks (k² the memory per task); scaled down here: a 61 px tile, 20 px chunks
    rng = np.random.default_rng(5)
    a = rng.random((61, 61)).astype("float32")
    a[30, 40] = np.nan
    read = dsa.from_array(a, chunks=61)  # one tile, as read
    ref_chunks = dsa.core.normalize_chunks(20, (183, 183))
    split = _split_for_upsampling(read, ref_chunks, 3)
    assert max(split.chunks[0]) == 7 and max(split.chunks[1]) == 7  # ceil(20 / 3)
    up = _upsample_bilinear(split, 3)
    assert max(up.chunks[0]) == 21
    np.testing.assert_array_equal(up.compute(), _bilinear_kernel(np.pad(a, 1, mode="edge"), 3))
    np.testing.assert_array_equal(_nearest(split, 3).compute(), _nearest(a, 3))
