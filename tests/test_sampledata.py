"""The bundled synthetic Landsat sample: encoding, QA, planted science, licences, drift."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import rasterize
from scipy import ndimage

from geo.errors import InputNotFoundError, OutputExistsError, ProductError
from geo.io.readers.mtl import parse_mtl
from geo.sampledata import (
    ENDMEMBER_TABLE,
    PRODUCT_ID,
    QA_CIRRUS,
    QA_CLEAR,
    QA_CLOUD,
    QA_CLOUD_SHADOW,
    QA_DILATED_CLOUD,
    QA_FILL,
    QA_WATER,
    TYPICAL_QA_PIXEL,
    load_endmembers,
    make_landsat_sample,
    qa_confidence,
    reflectance_to_dn,
)
from geo.sensors import LANDSAT_C2_L2_REFLECTANCE_ADD, LANDSAT_C2_L2_REFLECTANCE_MULT

COMMITTED = Path(__file__).resolve().parents[1] / "sample_rasters"
BANDS = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7")
RASTERS = (*BANDS, "QA_PIXEL", "QA_RADSAT")


def read_rasters(root: Path) -> dict[str, np.ndarray]:
    return {name: read_raster(root, name) for name in RASTERS}


def read_raster(root: Path, name: str) -> np.ndarray:
    with rasterio.open(root / PRODUCT_ID / f"{PRODUCT_ID}_{name}.TIF") as src:
        return src.read(1)


def reflectance(rasters: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Band role -> float reflectance with fill as NaN."""
    roles = ("coastal", "blue", "green", "red", "nir", "swir1", "swir2")
    out = {}
    for role, band in zip(roles, BANDS, strict=True):
        dn = rasters[band].astype("float64")
        rho = dn * LANDSAT_C2_L2_REFLECTANCE_MULT + LANDSAT_C2_L2_REFLECTANCE_ADD
        out[role] = np.where(dn == 0, np.nan, rho)
    return out


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_landsat_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def sample(summary: dict) -> Path:
    return summary["paths"]["readme"].parent


@pytest.fixture(scope="module")
def rasters(sample: Path) -> dict[str, np.ndarray]:
    return read_rasters(sample)


@pytest.fixture(scope="module")
def rho(rasters: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return reflectance(rasters)


@pytest.fixture(scope="module")
def truth(sample: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(sample / "truth.gpkg", layer="planted").set_index("name")


@pytest.fixture(scope="module")
def licences(sample: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(sample / "licences.gpkg", layer="licences").set_index("licence_no")


@pytest.fixture(scope="module")
def masks(sample: Path, truth: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """Truth footprints rasterised on the scene grid."""
    with rasterio.open(sample / PRODUCT_ID / f"{PRODUCT_ID}_SR_B4.TIF") as src:
        transform, shape = src.transform, src.shape
    return {
        name: rasterize([(geom, 1)], out_shape=shape, transform=transform).astype(bool)
        for name, geom in truth.geometry.items()
    }


@pytest.fixture(scope="module")
def background(rasters: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> np.ndarray:
    """Clear land away from every planted feature and trap."""
    near_feature = ndimage.binary_dilation(np.any(list(masks.values()), axis=0), iterations=5)
    return (rasters["QA_PIXEL"] == TYPICAL_QA_PIXEL["clear_land"]) & ~near_feature


# --- encoding --------------------------------------------------------------------------------


def test_typical_qa_values_are_the_usgs_values_built_from_bits():
    assert TYPICAL_QA_PIXEL == {
        "fill": 1,
        "clear_land": 21824,
        "clear_water": 21952,
        "dilated_cloud": 21762,
        "cloud": 22280,
        "cloud_shadow": 23888,
        "high_cirrus": 54596,
    }
    assert QA_CLEAR | QA_CIRRUS | qa_confidence(cirrus=3) == 54596
    assert [
        QA_FILL,
        QA_DILATED_CLOUD,
        QA_CIRRUS,
        QA_CLOUD,
        QA_CLOUD_SHADOW,
        QA_CLEAR,
        QA_WATER,
    ] == [1, 2, 4, 8, 16, 64, 128]


def test_reflectance_round_trips_through_dn_within_one_step():
    rho = np.random.default_rng(0).uniform(-0.19, 1.5, 10_000)
    dn = reflectance_to_dn(rho)
    assert dn.dtype == np.uint16 and dn.min() >= 1
    back = dn * LANDSAT_C2_L2_REFLECTANCE_MULT + LANDSAT_C2_L2_REFLECTANCE_ADD
    assert np.abs(back - rho).max() <= LANDSAT_C2_L2_REFLECTANCE_MULT


def test_reflectance_to_dn_encodes_fill_and_clips_to_the_valid_range():
    dn = reflectance_to_dn(np.array([np.nan, -5.0, 0.0, 1.0, 5.0]))
    assert dn.tolist() == [0, 1, 7273, 43636, 65455]


# --- product layout --------------------------------------------------------------------------


def test_summary_describes_what_was_written(summary: dict):
    assert summary["product_id"] == PRODUCT_ID
    assert summary["shape"] == (600, 600)
    assert summary["crs"] == "EPSG:32635"
    assert summary["licence_count"] == 4
    assert summary["planted_count"] == 14
    assert all(path.is_file() for path in summary["paths"].values())


def test_product_is_a_landsat_c2_l2sr_folder_of_tiled_deflate_geotiffs(sample: Path):
    folder = sample / PRODUCT_ID
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted(
        [
            *(f"{PRODUCT_ID}_{r}.TIF" for r in RASTERS),
            f"{PRODUCT_ID}_MTL.txt",
            f"{PRODUCT_ID}_MTL.json",
        ]
    )
    assert names == expected
    for name in RASTERS:
        with rasterio.open(folder / f"{PRODUCT_ID}_{name}.TIF") as src:
            assert (src.width, src.height, src.count, src.dtypes[0]) == (600, 600, 1, "uint16")
            assert src.crs.to_epsg() == 32635
            assert src.res == (30.0, 30.0)
            assert src.block_shapes[0] == (256, 256)
            assert src.compression.name.lower() == "deflate"
            assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
            assert src.descriptions == (name,)
            assert src.nodata == {"QA_PIXEL": 1, "QA_RADSAT": None}.get(name, 0)
            left, top = src.transform.c, src.transform.f
    assert top < -2_000_000  # southern hemisphere in a north UTM zone: negative northings
    assert left % 30 == 15 and top % 30 == 15  # pixel centres on multiples of 30 m


def test_scene_centre_is_in_eastern_botswana(sample: Path):
    mtl = parse_mtl((sample / PRODUCT_ID / f"{PRODUCT_ID}_MTL.txt").read_text())
    lats = [mtl.get("PROJECTION_ATTRIBUTES", f"CORNER_{c}_LAT_PRODUCT") for c in ("UL", "LR")]
    lons = [mtl.get("PROJECTION_ATTRIBUTES", f"CORNER_{c}_LON_PRODUCT") for c in ("UL", "LR")]
    assert np.mean(lats) == pytest.approx(-21.5, abs=0.01)
    assert np.mean(lons) == pytest.approx(27.5, abs=0.01)


def test_mtl_txt_and_json_hold_the_same_groups(sample: Path):
    folder = sample / PRODUCT_ID
    txt = parse_mtl((folder / f"{PRODUCT_ID}_MTL.txt").read_text())
    js = parse_mtl((folder / f"{PRODUCT_ID}_MTL.json").read_text())
    assert txt.groups == js.groups
    assert list(txt.groups) == [
        "PRODUCT_CONTENTS",
        "IMAGE_ATTRIBUTES",
        "PROJECTION_ATTRIBUTES",
        "LEVEL2_PROCESSING_RECORD",
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",
        "LEVEL1_RADIOMETRIC_RESCALING",
    ]
    assert txt.get("PRODUCT_CONTENTS", "PROCESSING_LEVEL") == "L2SR"
    assert txt.get("IMAGE_ATTRIBUTES", "DATE_ACQUIRED") == "2023-06-01"
    assert txt.get("PRODUCT_CONTENTS", "FILE_NAME_BAND_4") == f"{PRODUCT_ID}_SR_B4.TIF"


def test_mtl_repeats_reflectance_keys_with_level1_values(sample: Path):
    mtl = parse_mtl((sample / PRODUCT_ID / f"{PRODUCT_ID}_MTL.txt").read_text())
    for n in range(1, 8):
        l2 = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
        l1 = "LEVEL1_RADIOMETRIC_RESCALING"
        assert mtl.get(l2, f"REFLECTANCE_MULT_BAND_{n}") == LANDSAT_C2_L2_REFLECTANCE_MULT
        assert mtl.get(l2, f"REFLECTANCE_ADD_BAND_{n}") == LANDSAT_C2_L2_REFLECTANCE_ADD
        assert mtl.get(l1, f"REFLECTANCE_MULT_BAND_{n}") == 2.0e-05
        assert mtl.get(l1, f"REFLECTANCE_ADD_BAND_{n}") == -0.1
        assert mtl.get(l1, f"RADIANCE_MULT_BAND_{n}") > 0
        assert mtl.get(l1, f"RADIANCE_ADD_BAND_{n}") < 0


def test_mtl_cloud_cover_is_computed_from_the_cloud_mask(sample: Path, rasters):
    mtl = parse_mtl((sample / PRODUCT_ID / f"{PRODUCT_ID}_MTL.txt").read_text())
    qa = rasters["QA_PIXEL"]
    valid = (qa & QA_FILL) == 0
    expected = 100 * ((qa & QA_CLOUD) > 0).sum() / valid.sum()
    assert mtl.get("IMAGE_ATTRIBUTES", "CLOUD_COVER") == pytest.approx(expected, abs=0.01)
    assert 0 < expected < 5


# --- determinism and overwriting -------------------------------------------------------------


def test_same_seed_gives_identical_rasters(tmp_path: Path, rasters):
    make_landsat_sample(tmp_path)
    again = read_rasters(tmp_path)
    for name in RASTERS:
        np.testing.assert_array_equal(again[name], rasters[name], err_msg=name)


def test_other_seed_differs_and_overwrite_replaces_only_the_sample(tmp_path: Path, rasters):
    stray = tmp_path / "notes.txt"
    stray.write_text("keep me")
    make_landsat_sample(tmp_path, seed=7, overwrite=True)
    other = read_rasters(tmp_path)
    assert stray.read_text() == "keep me"
    for name in BANDS:
        assert not np.array_equal(other[name], rasters[name]), name
    assert not np.array_equal(other["QA_PIXEL"], rasters["QA_PIXEL"])
    assert not list(tmp_path.rglob("*.partial*"))


def test_refuses_a_non_empty_folder_without_overwrite(tmp_path: Path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(OutputExistsError, match="overwrite"):
        make_landsat_sample(tmp_path)
    with pytest.raises(OutputExistsError, match="is a file"):
        make_landsat_sample(tmp_path / "something", overwrite=True)


def test_missing_endmember_row_is_a_clear_error(tmp_path: Path):
    table = pd.read_csv(ENDMEMBER_TABLE, comment="#")
    broken = tmp_path / "endmembers.csv"
    table[table["name"] != "kaolinite"].to_csv(broken, index=False)
    with pytest.raises(ProductError, match="kaolinite"):
        load_endmembers(broken)
    with pytest.raises(InputNotFoundError):
        load_endmembers(tmp_path / "absent.csv")


# --- QA --------------------------------------------------------------------------------------


def test_fill_corners_have_fill_bit_and_zero_in_every_band(rasters):
    qa = rasters["QA_PIXEL"]
    fill = (qa & QA_FILL) > 0
    for row, col in [(0, 0), (0, 599), (599, 0), (599, 599)]:
        assert qa[row, col] == TYPICAL_QA_PIXEL["fill"]
    for band in BANDS:
        np.testing.assert_array_equal(rasters[band] == 0, fill, err_msg=band)
    assert 0.01 < fill.mean() < 0.15
    assert rasters["QA_RADSAT"][fill].max() == 0


def test_cloud_water_and_shadow_pixels_carry_their_bits(rasters, masks):
    qa = rasters["QA_PIXEL"]
    assert np.all(qa[masks["cloud"]] & QA_CLOUD)
    assert np.all((qa[masks["cloud"]] >> 8) & 0b11 == 3)
    assert np.all(qa[masks["dam"]] & QA_WATER)
    assert np.all(qa[masks["cloud_shadow"]] & QA_CLOUD_SHADOW)
    # the dilated ring hugs the cloud and is not cloud itself
    dilated = (qa & QA_DILATED_CLOUD) > 0
    ring = ndimage.binary_dilation(masks["cloud"], iterations=4) & ~masks["cloud"]
    assert dilated.sum() > 0 and np.all(ring[dilated])
    # nothing else is flagged: water, cloud bits stay inside their features
    assert not np.any((qa & QA_WATER)[~masks["dam"]])
    assert not np.any((qa & QA_CLOUD)[~masks["cloud"]])


def test_dark_slopes_and_vegetation_are_not_flagged(rasters, masks):
    qa = rasters["QA_PIXEL"]
    for name in ("dark_slope_north", "dark_slope_south", "riparian_vegetation"):
        pixels = masks[name] & ~masks["dam"]  # the river runs into the dam
        assert np.all(qa[pixels] == TYPICAL_QA_PIXEL["clear_land"]), name


def test_saturation_is_a_small_cluster_over_the_bright_spot(rasters, masks):
    radsat = rasters["QA_RADSAT"]
    saturated = radsat > 0
    assert 3 <= saturated.sum() <= 60
    np.testing.assert_array_equal(saturated, masks["quarry_glint"])
    assert radsat.max() < 1 << 7  # only the bits of bands 1-7
    for bit, band in enumerate(BANDS):
        flagged = (radsat & (1 << bit)) > 0
        rho = (
            rasters[band][flagged] * LANDSAT_C2_L2_REFLECTANCE_MULT + LANDSAT_C2_L2_REFLECTANCE_ADD
        )
        assert np.all(rho >= 0.99), band


# --- planted science -------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["porphyry_core", "iron_cap", "iron_cap_outside"])
def test_iron_zones_are_redder_than_the_background(rho, masks, background, zone):
    red_blue = rho["red"] / rho["blue"]
    assert np.nanmean(red_blue[masks[zone]]) > 1.35 * np.nanmedian(red_blue[background])


@pytest.mark.parametrize("zone", ["porphyry_halo", "argillic"])
def test_clay_zones_absorb_at_2_2_micrometres(rho, masks, background, zone):
    clay = rho["swir1"] / rho["swir2"]
    assert np.nanmean(clay[masks[zone]]) > 1.15 * np.nanmedian(clay[background])


def test_vegetation_trap_is_green_and_mimics_clay(rho, masks, background):
    strip = masks["riparian_vegetation"]
    ndvi = (rho["nir"] - rho["red"]) / (rho["nir"] + rho["red"])
    assert np.nanmean(ndvi[strip]) > 0.5
    clay = rho["swir1"] / rho["swir2"]
    assert np.nanmean(clay[strip]) > 1.15 * np.nanmedian(clay[background])


@pytest.mark.parametrize("slope", ["dark_slope_north", "dark_slope_south"])
def test_dark_slopes_are_dark(rho, masks, slope):
    stack = np.stack([rho[role][masks[slope]] for role in rho])
    assert np.nanmean(stack) < 0.05


def test_cloud_is_bright_and_flat_and_shadow_is_dark(rho, masks, background):
    cloud = np.stack([np.nanmean(rho[role][masks["cloud"]]) for role in rho])
    assert np.all((cloud > 0.4) & (cloud < 0.65)) and np.ptp(cloud) < 0.05
    shadow = np.nanmean(rho["red"][masks["cloud_shadow"]])
    assert shadow < 0.45 * np.nanmedian(rho["red"][background])


def test_robust_threshold_finds_the_planted_zones_and_little_else(rho, rasters, masks):
    """Median + 3·1.4826·MAD on log ratios over usable pixels: planted zones stand out."""
    ndvi = (rho["nir"] - rho["red"]) / (rho["nir"] + rho["red"])
    usable = (
        (rasters["QA_PIXEL"] == TYPICAL_QA_PIXEL["clear_land"])
        & (rasters["QA_RADSAT"] == 0)
        & (ndvi < 0.4)
    )
    any_feature = np.any(list(masks.values()), axis=0)
    for ratio, targets in [
        (rho["red"] / rho["blue"], ["porphyry_core", "iron_cap", "iron_cap_outside"]),
        (rho["swir1"] / rho["swir2"], ["porphyry_halo", "argillic"]),
    ]:
        log_ratio = np.log(ratio)
        values = log_ratio[usable]
        median = np.median(values)
        threshold = median + 3 * 1.4826 * np.median(np.abs(values - median))
        anomaly = usable & (log_ratio > threshold)
        for zone in targets:
            assert anomaly[masks[zone]].mean() > 0.5, zone
        labels, count = ndimage.label(anomaly)
        sizes = ndimage.sum(anomaly, labels, range(1, count + 1))
        false_zones = [
            size
            for i, size in enumerate(sizes, 1)
            if size >= 10 and not any_feature[labels == i].any()
        ]
        assert len(false_zones) <= 3 and sum(false_zones) < 100


def test_hidden_argillic_is_entirely_under_the_cloud(truth, rasters, masks):
    assert truth.geometry["cloud"].contains(truth.geometry["hidden_argillic"])
    assert np.all(rasters["QA_PIXEL"][masks["hidden_argillic"]] == TYPICAL_QA_PIXEL["cloud"])


# --- truth and licences ----------------------------------------------------------------------


def test_truth_table_lists_zones_and_traps(truth):
    assert truth.crs.to_epsg() == 32635
    assert list(truth.columns) == ["kind", "minerals", "expect_target", "licence_no", "geometry"]
    assert {
        "porphyry",
        "porphyry_core",
        "porphyry_halo",
        "iron_cap",
        "argillic",
        "iron_cap_outside",
        "hidden_argillic",
    } <= set(truth.index)
    assert {"vegetation", "water", "cloud", "cloud_shadow", "saturated"} <= set(truth["kind"])
    assert (truth["kind"] == "dark_slope").sum() == 2
    targets = truth.index[truth["expect_target"]].tolist()
    assert sorted(targets) == ["argillic", "iron_cap", "iron_cap_outside", "porphyry"]
    zones = truth[truth["kind"].isin(["porphyry", "iron_cap", "argillic"])]
    assert truth.geometry["porphyry"].area == zones.geometry.area.max()
    assert truth.geometry["porphyry"].area > 100e4  # > 100 ha
    # the halo is a ring around the iron core
    assert not truth.geometry["porphyry_halo"].contains(truth.geometry["porphyry_core"].centroid)


def test_traps_do_not_overlap_the_planted_zones(truth):
    zones = ["porphyry", "iron_cap", "argillic", "iron_cap_outside"]
    traps = truth.index[
        ~truth["kind"].isin(["porphyry", "porphyry_core", "porphyry_halo", "iron_cap", "argillic"])
    ]
    for zone in zones:
        for trap in traps:
            assert not truth.geometry[zone].intersects(truth.geometry[trap]), (zone, trap)


def test_licences_are_irregular_polygons_in_wgs84(licences):
    assert licences.crs.to_epsg() == 4326
    assert len(licences) == 4
    assert set(licences["status"]) == {"granted", "pending", "expired"}
    assert list(licences.columns) == ["holder_name", "status", "expiry", "commodity", "geometry"]
    assert all(pd.to_datetime(licences["expiry"], format="%Y-%m-%d").notna())
    for geom in licences.geometry:
        assert len(geom.exterior.coords) > 5
        assert geom.area < 0.9 * geom.envelope.area
    shared = licences.geometry["PL 012/2021"].intersection(licences.geometry["PL 013/2021"])
    assert shared.geom_type in {"LineString", "MultiLineString"} and shared.length > 0


def test_each_target_lies_inside_its_expected_licence(truth, licences):
    in_wgs84 = truth.to_crs(licences.crs)
    for name, row in in_wgs84[in_wgs84["expect_target"]].iterrows():
        if row["licence_no"] is None or pd.isna(row["licence_no"]):
            assert not licences.intersects(row.geometry).any(), name
        else:
            assert licences.geometry[row["licence_no"]].contains(row.geometry), name
            assert licences.intersects(row.geometry).sum() == 1, name
    assert licences.geometry["PL 044/2017"].contains(in_wgs84.geometry["hidden_argillic"])


# --- the committed sample --------------------------------------------------------------------


def test_committed_sample_is_small():
    size = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert 0 < size < 10 * 2**20


def test_committed_sample_equals_a_fresh_regeneration(sample: Path, rasters):
    committed = read_rasters(COMMITTED)
    for name in RASTERS:
        np.testing.assert_array_equal(committed[name], rasters[name], err_msg=name)
    for name in (
        f"{PRODUCT_ID}/{PRODUCT_ID}_MTL.txt",
        f"{PRODUCT_ID}/{PRODUCT_ID}_MTL.json",
        "README.md",
    ):
        assert (COMMITTED / name).read_text() == (sample / name).read_text(), name
    for file, layer in (("truth.gpkg", "planted"), ("licences.gpkg", "licences")):
        old = gpd.read_file(COMMITTED / file, layer=layer)
        new = gpd.read_file(sample / file, layer=layer)
        pd.testing.assert_frame_equal(old.drop(columns="geometry"), new.drop(columns="geometry"))
        assert old.geometry.geom_equals_exact(new.geometry, tolerance=1e-9).all(), file
