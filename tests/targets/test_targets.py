import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from geo.errors import CRSError, InvalidParameterError
from geo.targets.licences import assign_licences, summarise_licences
from geo.targets.rank import ScoreConfig, locate_targets, merge_zones, rank_targets, score_targets
from geo.targets.zones import extract_zones
from geo.testing import make_licences, make_raster

ORIGIN = (500_000.0, -2_380_000.0)


def test_zones_geometry_area_and_stats():
    a = np.zeros((20, 20), dtype="float32")
    a[2:7, 3:9] = 1  # 30 px block
    a[12:14, 12:14] = 1  # 4 px: removed by the sieve (size 6)
    a[4, 5] = 0  # 1-px hole: filled by the sieve
    z = np.where(a > 0, 4.0, 0.5).astype("float32")
    z[2, 3] = 10.0
    z[3, 3] = np.nan
    zones = extract_zones(
        make_raster(a) > 0,
        kind="iron_oxide",
        values={"z": make_raster(z)},
        min_area_ha=1.0,
        sieve_px=6,
    )
    assert len(zones) == 1
    row = zones.iloc[0]
    assert row["n_pixels"] == 30
    assert row["area_ha"] == pytest.approx(30 * 900 / 1e4)
    assert row.geometry.area == pytest.approx(30 * 900)
    x0, y0 = ORIGIN
    assert row.geometry.bounds == pytest.approx(
        (x0 + 3 * 30, y0 - 7 * 30, x0 + 9 * 30, y0 - 2 * 30)
    )
    assert row["max_z"] == 10.0
    # mean over the 29 finite pixels; the filled hole pixel had z = 0.5
    assert row["mean_z"] == pytest.approx((27 * 4.0 + 10.0 + 0.5) / 29)
    assert zones.crs == "EPSG:32635"


def test_zone_min_area_and_diagonal_connectivity():
    a = np.zeros((10, 10), dtype="float32")
    for i in range(6):
        a[i, i] = 1  # a diagonal line is one 8-connected zone
    zones = extract_zones(make_raster(a) > 0, kind="k", min_area_ha=0.5, sieve_px=0)
    assert zones["n_pixels"].tolist() == [6]
    assert extract_zones(make_raster(a) > 0, kind="k", min_area_ha=0.6, sieve_px=0).empty


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(1, 5), st.integers(1, 5)),
        min_size=1,
        max_size=6,
    )
)
def test_zone_polygons_cover_exactly_the_anomalous_pixels(rects):
    a = np.zeros((24, 24), dtype="float32")
    for r, c, h, w in rects:
        a[r : r + h, c : c + w] = 1
    zones = extract_zones(make_raster(a) > 0, kind="k", min_area_ha=0, sieve_px=0)
    assert zones.geometry.area.sum() == pytest.approx(a.sum() * 900)
    assert zones["n_pixels"].sum() == a.sum()
    assert not zones.geometry.union_all().is_empty


def zone(zid, kind, geom, area_ha, mean_z):
    return {"zone_id": zid, "kind": kind, "area_ha": area_ha, "mean_z": mean_z, "geometry": geom}


def zones_frame(rows):
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:32635")


def test_merge_respects_distance_single_linkage():
    z = zones_frame(
        [
            zone("a", "iron_oxide", box(0, 0, 100, 100), 1, 4),
            zone("b", "clay_hydroxyl", box(200, 0, 300, 100), 1, 4),  # 100 m from a
            zone("c", "clay_hydroxyl", box(400, 0, 500, 100), 1, 4),  # 100 m from b
            zone("d", "iron_oxide", box(2000, 0, 2100, 100), 1, 4),
        ]
    )
    assert sorted(merge_zones(z, distance_m=150)["zone_ids"]) == ["a,b,c", "d"]
    assert sorted(merge_zones(z, distance_m=50)["zone_ids"]) == ["a", "b", "c", "d"]


def test_score_components_hand_computed():
    z = zones_frame(
        [
            zone("fe", "iron_oxide", box(0, 0, 1000, 100), 10.0, 6.0),  # 10 ha
            zone("cl", "clay_hydroxyl", box(1050, 0, 4050, 100), 30.0, 3.0),  # 30 ha, 50 m away
            zone("solo", "iron_oxide", box(10_000, 0, 10_500, 100), 5.0, 3.0),
        ]
    )
    cfg = ScoreConfig(z_scale=3.0, area_scale_ha=25.0)
    scored = score_targets(merge_zones(z, distance_m=100), z, cfg).set_index("zone_ids")
    both = scored.loc["fe,cl"]
    assert both["area_ha"] == pytest.approx(40.0)
    assert both["iron_intensity"] == pytest.approx(1 - np.exp(-2), abs=1e-6)
    assert both["clay_intensity"] == pytest.approx(1 - np.exp(-1), abs=1e-6)
    assert both["coincidence"] == pytest.approx(1 - np.exp(-10 / 25), abs=1e-6)
    assert both["area"] == pytest.approx(1 - np.exp(-40 / 25), abs=1e-6)
    expected = (
        0.3 * (1 - np.exp(-2))
        + 0.3 * (1 - np.exp(-1))
        + 0.25 * (1 - np.exp(-0.4))
        + 0.15 * (1 - np.exp(-1.6))
    )
    assert both["score"] == pytest.approx(expected, abs=1e-5)
    solo = scored.loc["solo"]
    assert solo["clay_intensity"] == 0 and solo["coincidence"] == 0
    ranked = rank_targets(scored.reset_index())
    assert (
        ranked["target_id"].tolist() == ["T001", "T002"] and ranked.iloc[0]["zone_ids"] == "fe,cl"
    )
    assert 0 <= ranked["score"].min() and ranked["score"].max() <= 1


def test_overlapping_zones_count_once_in_area():
    z = zones_frame(
        [
            zone("fe", "iron_oxide", box(0, 0, 1000, 100), 10.0, 4.0),
            zone("cl", "clay_hydroxyl", box(500, 0, 1500, 100), 10.0, 4.0),  # half overlaps
        ]
    )
    t = score_targets(merge_zones(z, distance_m=0), z).iloc[0]
    assert t["area_ha"] == pytest.approx(15.0)
    assert t["iron_area_ha"] == 10.0 and t["clay_area_ha"] == 10.0


def test_score_config_validation():
    with pytest.raises(InvalidParameterError, match="Unknown score component"):
        ScoreConfig(weights={"iron": 1.0})
    with pytest.raises(InvalidParameterError, match="positive sum"):
        ScoreConfig(weights={"area": 0.0})


def test_representative_point_inside_concave_target_and_wgs84():
    # a U shape: its centroid lies outside the polygon
    u = box(0, 0, 300, 100).union(box(0, 0, 100, 300)).union(box(200, 0, 300, 300))
    u = gpd.GeoSeries([u], crs="EPSG:32635").translate(500_000, -2_380_000)
    t = gpd.GeoDataFrame({"rank": [1]}, geometry=u.values, crs="EPSG:32635")
    assert not t.geometry.iloc[0].contains(t.geometry.centroid.iloc[0])
    located = locate_targets(t)
    row = located.iloc[0]
    assert t.geometry.iloc[0].contains(Point(row["easting"], row["northing"]))
    assert row["epsg"] == 32635
    back = gpd.GeoSeries.from_xy([row["lon"]], [row["lat"]], crs="EPSG:4326").to_crs("EPSG:32635")
    assert back.x.iloc[0] == pytest.approx(row["easting"], abs=0.02)
    assert back.y.iloc[0] == pytest.approx(row["northing"], abs=0.02)
    assert -22.0 < row["lat"] < -21.0  # negative northing in a north zone = southern hemisphere


def test_licence_join_with_layer_in_another_crs():
    t = gpd.GeoDataFrame(
        {"target_id": ["T1", "T2", "T3"], "rank": [1, 2, 3], "score": [0.9, 0.5, 0.2]},
        geometry=[
            box(1000, 1000, 1200, 1200),
            box(1900, 1000, 2100, 1200),
            box(9000, 9000, 9100, 9100),
        ],
        crs="EPSG:32635",
    ).translate(500_000, -2_380_000)
    t = gpd.GeoDataFrame(
        {"target_id": ["T1", "T2", "T3"], "rank": [1, 2, 3], "score": [0.9, 0.5, 0.2]},
        geometry=t.values,
        crs="EPSG:32635",
    )
    lic = make_licences(
        {
            "A": (500_000, -2_380_000, 502_000, -2_378_000),
            "B": (502_000, -2_380_000, 504_000, -2_378_000),
        }
    )
    lic_wgs84 = lic.to_crs("EPSG:4326")
    with pytest.raises(CRSError, match="Left CRS: EPSG:32635; right CRS: EPSG:4326"):
        assign_licences(t, lic_wgs84)
    back = lic_wgs84.to_crs("EPSG:32635")
    out = assign_licences(t, back)
    assert out["licence_id"].tolist()[:2] == [
        "A",
        "A",
    ]  # T2: 100 m in A, 100 m in B -> tie -> first
    assert out["licence_id"].isna().tolist() == [False, False, True]
    assert out.loc[0, "licence_overlap_pct"] == pytest.approx(100.0, abs=0.01)
    assert out.loc[1, "licence_overlap_pct"] == pytest.approx(50.0, abs=0.01)
    assert out["straddles_boundary"].tolist() == [False, True, False]
    zones = t.assign(kind="iron_oxide")
    summary = summarise_licences(back, out, zones).set_index("licence_id")
    assert summary.loc["A", "n_targets"] == 2 and summary.loc["B", "n_targets"] == 0
    assert summary.loc["A", "best_score"] == 0.9 and summary.loc["A", "best_target"] == "T1"
    assert summary.loc["A", "anomalous_area_ha"] == pytest.approx(
        4.0 + 2.0, rel=1e-3
    )  # T1 + half of T2
    assert summary.loc["B", "anomalous_area_ha"] == pytest.approx(2.0, rel=1e-3)


def test_binary_evidence_strength_and_union_of_one_kind():
    z = zones_frame(
        [
            zone("ratio", "iron_oxide", box(0, 0, 1000, 100), 10.0, 6.0),
            zone("sam", "sam_iron_oxide", box(500, 0, 1500, 100), 10.0, np.nan),  # half overlaps
        ]
    )
    z["mean_strength"] = [np.nan, 0.4]  # SAM: 1 - angle / threshold
    cfg = ScoreConfig(iron_kinds=("iron_oxide", "sam_iron_oxide"), z_scale=3.0)
    t = score_targets(merge_zones(z, distance_m=0), z, cfg).iloc[0]
    assert t["iron_area_ha"] == pytest.approx(15.0)  # union, not 20
    assert t["iron_z"] == pytest.approx(6.0)  # only zones that have a z-score
    assert t["iron_intensity"] == pytest.approx(((1 - np.exp(-2)) + 0.4) / 2, abs=1e-6)


def test_flags_near_vegetation_tiny_single_evidence_and_masked_fraction():
    from geo.spectral.masks import MASK_RULES
    from geo.targets.rank import flag_targets

    reasons = np.zeros((20, 20), dtype="float32")
    veg = 1 << MASK_RULES.index("vegetation")
    reasons[5:15, 12] = veg  # a vegetated column 2 px east of the target's edge
    grid = make_raster(reasons).astype("uint16")
    x0, y0 = ORIGIN
    target = box(x0 + 5 * 30, y0 - 15 * 30, x0 + 10 * 30, y0 - 5 * 30)  # columns 5-9, rows 5-14
    far = box(x0 + 0 * 30, y0 - 3 * 30, x0 + 2 * 30, y0 - 1 * 30)
    t = gpd.GeoDataFrame(
        {"area_ha": [4.5, 0.36], "kinds": ["iron_oxide,clay_hydroxyl", "iron_oxide"]},
        geometry=[target, far],
        crs="EPSG:32635",
    )
    out = flag_targets(t, grid, MASK_RULES, buffer_m=90.0, min_area_ha=1.0)
    assert out.loc[0, "flags"] == "near_vegetation"
    assert out.loc[1, "flags"] == "tiny,single_evidence"
    assert 0 < out.loc[0, "masked_fraction"] < 0.2 and out.loc[1, "masked_fraction"] == 0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(5, 30), st.integers(5, 30)),
    density=st.floats(0.2, 0.7),
    sieve=st.integers(0, 6),
    tile=st.integers(1, 9),
)
def test_tiled_zones_equal_the_whole_raster_result(seed, shape, density, sieve, tile):
    """Tile edges, the sieve halo and the 8-connected joins change nothing."""
    rng = np.random.default_rng(seed)
    mask = make_raster((rng.random(shape) < density).astype("float32")) > 0
    value = make_raster(rng.normal(size=shape))
    whole = extract_zones(
        mask, kind="k", values={"v": value}, min_area_ha=0, sieve_px=sieve, tile=64
    )
    tiled = extract_zones(
        mask, kind="k", values={"v": value}, min_area_ha=0, sieve_px=sieve, tile=tile
    )
    assert len(whole) == len(tiled)
    if not len(whole):
        return
    key = ["n_pixels", "mean_v", "max_v"]
    a = whole[key].sort_values(key).to_numpy(dtype="float64")
    b = tiled[key].sort_values(key).to_numpy(dtype="float64")
    assert np.allclose(a, b, equal_nan=True)
    assert whole.union_all().symmetric_difference(tiled.union_all()).area < 1e-6


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["iron", "clay"]),
            st.integers(0, 40),
            st.integers(0, 40),
            st.integers(1, 12),
            st.integers(1, 12),
        ),
        min_size=1,
        max_size=25,
    )
)
@settings(deadline=None, max_examples=60)
def test_licence_areas_without_the_union_equal_those_with_it(boxes):
    """Zones of one kind never overlap (components of one mask): the union can be skipped."""
    rows = []
    for kind in ("iron", "clay"):
        # one kind's boxes, made disjoint (as the components of one mask are)
        taken = None
        for k, x, y, w, h in boxes:
            if k != kind:
                continue
            shape = box(x, y, x + w, y + h)
            if taken is not None:
                shape = shape.difference(taken)
            if shape.is_empty or shape.area == 0:
                continue
            taken = shape if taken is None else taken.union(shape)
            rows.append({"kind": kind, "geometry": shape})
    zones = gpd.GeoDataFrame(rows, geometry="geometry", crs=32735)
    licences = gpd.GeoDataFrame(
        {"licence_id": ["A", "B", "C"]},
        geometry=[box(0, 0, 25, 25), box(20, 10, 52, 52), box(100, 100, 110, 110)],
        crs=32735,
    )
    targets = gpd.GeoDataFrame(
        {"target_id": [], "rank": [], "score": [], "licence_id": []}, geometry=[], crs=32735
    )
    exact = summarise_licences(licences, targets, zones)
    fast = summarise_licences(licences, targets, zones, disjoint_kinds=True)
    for column in [c for c in exact.columns if c.endswith("_pct") or c == "anomalous_area_ha"]:
        np.testing.assert_allclose(fast[column], exact[column], atol=1e-9, err_msg=column)
