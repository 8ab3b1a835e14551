"""Evidence combination, WofE fitting, target breakdown, licence splitting and coverage."""

import math

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geo.errors import InvalidParameterError
from geo.prospectivity import wofe_weights
from geo.prospectivity.combine import (
    Membership,
    apply_combination,
    fit_wofe,
    knowledge_combination,
    quantise,
    target_breakdown,
    top_fraction_cutoff,
)
from geo.targets.licences import split_at_licences, summarise_licences
from geo.testing import make_licences, make_raster


def test_memberships_match_their_formulas():
    x = np.array([[0.0, 250.0, 500.0, 1000.0, np.nan]])
    assert np.allclose(
        Membership("linear", low=1000, high=0).apply(x), [[1, 0.75, 0.5, 0, np.nan]], equal_nan=True
    )
    large = Membership("large", midpoint=500, spread=2).apply(x)
    # FuzzyLarge 1 / (1 + (x / m)^-s): 0 at x=0, 0.5 at the midpoint, 0.8 at twice it
    assert np.allclose(large[0, :4], [0.0, 1 / (1 + 4), 0.5, 1 / (1 + 0.25)], atol=1e-6)
    small = Membership("small", midpoint=500, spread=2).apply(x)
    assert np.allclose(small[0, :4], [1.0, 1 / (1 + 0.25), 0.5, 1 / (1 + 4)], atol=1e-6)
    gauss = Membership("gaussian", midpoint=500, spread=1e-5).apply(x)
    assert np.allclose(gauss[0, :4], np.exp(-1e-5 * (x[0, :4] - 500) ** 2), atol=1e-6)
    cats = Membership("categories", values={1: 0.9, 3: 0.4}, default=0.1).apply(
        np.array([[1.0, 2.0, 3.0, np.nan]])
    )
    assert np.allclose(cats, [[0.9, 0.1, 0.4, np.nan]], equal_nan=True)
    filled = Membership("linear", low=0, high=4, missing=0.5).apply(np.array([[2.0, np.nan]]))
    assert filled.tolist() == [[0.5, 0.5]]


def test_membership_errors_name_the_problem():
    with pytest.raises(InvalidParameterError, match="'linear' needs high"):
        Membership("linear", low=1)
    with pytest.raises(InvalidParameterError, match="Unknown membership"):
        Membership("sigmoid")
    with pytest.raises(InvalidParameterError, match=r"in \[0, 1\]"):
        Membership("categories", values={1: 1.5})
    with pytest.raises(InvalidParameterError, match="needs values in"):
        Membership("identity").apply(np.array([[0.2, 3.0]]))


def test_membership_is_lazy_on_dask_layers():
    da = make_raster(np.arange(16.0).reshape(4, 4)).chunk({"y": 2, "x": 2})
    out = Membership("linear", low=0, high=15).apply(da)
    assert out.chunks is not None  # nothing computed yet
    assert np.allclose(out.values, np.arange(16.0).reshape(4, 4) / 15)
    assert out.rio.crs == da.rio.crs


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("fuzzy_and", 0.2),
        ("fuzzy_or", 0.8),
        ("fuzzy_product", 0.16),
        ("fuzzy_sum", 0.84),
        # gamma = FAS^γ · FAP^(1−γ) (Bonham-Carter 1994; DOMAIN.md §4)
        ("fuzzy_gamma", 0.84**0.75 * 0.16**0.25),
        ("weighted", (3 * 0.8 + 1 * 0.2) / 4),
    ],
)
def test_knowledge_combinations_against_formulas(method, expected):
    comb = knowledge_combination(
        method, ["a", "b"], weights={"a": 3, "b": 1} if method == "weighted" else None
    )
    got = comb.kernel({"a": np.array([[0.8]]), "b": np.array([[0.2]])})
    assert got.shape == (1, 1)
    assert math.isclose(float(got[0, 0]), expected, rel_tol=1e-6)


def test_combination_errors():
    with pytest.raises(InvalidParameterError, match="not evidence"):
        knowledge_combination("weighted", ["a"], weights={"b": 1})
    with pytest.raises(InvalidParameterError, match="Unknown combination"):
        knowledge_combination("wofe", ["a"])
    comb = knowledge_combination("fuzzy_or", ["a", "b"])
    with pytest.raises(InvalidParameterError, match="'b' missing"):
        comb.kernel({"a": np.zeros((1, 1))})


def test_apply_combination_runs_block_by_block():
    a = make_raster(np.full((6, 6), 0.8)).chunk({"y": 3, "x": 3})
    b = make_raster(np.full((6, 6), 0.2)).chunk({"y": 3, "x": 3})
    comb = knowledge_combination("fuzzy_sum", ["a", "b"])
    score = apply_combination(comb.kernel, {"a": a, "b": b})
    assert score.chunks == a.chunks
    assert np.allclose(score.values, 0.84) and score.rio.crs == a.rio.crs


def test_quantise_keeps_the_meaning_of_thresholds():
    v = np.arange(10.0).reshape(1, -1)
    low = quantise(v, classes=2)
    high = quantise(v, classes=2, ascending=True)
    assert low.tolist() == [[0, 0, 0, 0, 0, 4.5, 4.5, 4.5, 4.5, 9]]
    assert high.tolist() == [[0, 4.5, 4.5, 4.5, 4.5, 9, 9, 9, 9, 9]]
    # every value ≥ its snapped edge (descending) / ≤ it (ascending)
    assert (low <= v).all() and (high >= v).all()
    few = np.array([[0.0, 1.0, 1.0, 0.0]])
    assert quantise(few, classes=4).tolist() == few.tolist()  # few values: left as they are


def test_fit_wofe_matches_hand_counts():
    # 1 × 20 grid, pattern on the first 4 cells; deposits at cells 0, 2 and 10
    ev = np.array([[1.0] * 4 + [0.0] * 16])
    dep = np.zeros((1, 20), bool)
    dep[0, [0, 2, 10]] = True
    model = fit_wofe({"a": ev}, dep, min_studentised=0.5)
    assert model.thresholds["a"] == 1.0
    # b = 4, s = 20, d_b = 2, d_s = 3 (Bonham-Carter 1994 ch. 9)
    w_plus = math.log((2 / 3) / ((4 - 2) / (20 - 3)))
    w_minus = math.log((1 / 3) / ((20 - 4 - 3 + 2) / (20 - 3)))
    assert math.isclose(model.weights["a"]["w_plus"], w_plus, rel_tol=1e-9)
    assert math.isclose(model.weights["a"]["w_minus"], w_minus, rel_tol=1e-9)
    assert model.prior == pytest.approx(3 / 20)
    post = model.posterior({"a": np.array([[1.0, 0.0, np.nan]])})
    logit0 = math.log(0.15 / 0.85)
    expected = [1 / (1 + math.exp(-(logit0 + w))) for w in (w_plus, w_minus, 0.0)]
    assert np.allclose(post, [expected], rtol=1e-6)  # a missing layer weighs 0
    std = model.posterior_std({"a": np.array([[1.0]])})
    var = model.weights["a"]["var_w_plus"]
    # s(P) = P·√(1/n + var W⁺): the prior's 1/n with n = d_s = 3 deposits
    assert model.n_deposits == 3
    assert math.isclose(float(std[0, 0]), expected[0] * math.sqrt(1 / 3 + var), rel_tol=1e-5)
    same = wofe_weights(ev >= 1, dep)
    assert math.isclose(same["contrast"], model.weights["a"]["contrast"])


def test_fit_wofe_names_the_layer_that_fails():
    ev = np.array([[1.0, 0.0, 0.0, 0.0]])
    dep = np.array([[False, True, False, False]])
    with pytest.raises(InvalidParameterError, match="evidence 'faults'"):
        fit_wofe({"faults": ev}, dep, min_studentised=2.0)


def test_top_fraction_cutoff_keeps_ties_whole():
    score = np.array([[5.0, 4.0, 4.0, 4.0, 1.0, 0.0, np.nan]])
    cutoff, achieved = top_fraction_cutoff(score, 0.3)
    assert cutoff == 4.0 and achieved == pytest.approx(4 / 6)
    # the same from chunks (the binned path), and a score of one value: all of it is kept
    chunked = make_raster(score).chunk({"x": 3})
    assert top_fraction_cutoff(chunked, 0.3) == (4.0, pytest.approx(4 / 6))
    flat = make_raster(np.where(np.isnan(score), np.nan, 2.5)).chunk({"x": 3})
    assert top_fraction_cutoff(flat, 0.3) == (2.5, 1.0)
    with pytest.raises(InvalidParameterError, match="top_area_fraction"):
        top_fraction_cutoff(score, 1.5)


def _grid_box(da, rows, cols):
    """Polygon covering pixel rows [r0, r1) and cols [c0, c1) of a make_raster grid."""
    t = da.rio.transform()
    (r0, r1), (c0, c1) = rows, cols
    x0, y0 = t * (c0, r0)
    x1, y1 = t * (c1, r1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_breakdown_of_a_weighted_overlay_is_exact():
    rng = np.random.default_rng(1)
    a = make_raster(rng.random((10, 10)))
    b = make_raster(rng.random((10, 10)))
    comb = knowledge_combination("weighted", ["a", "b"], weights={"a": 2, "b": 1})
    base = {"a": float(np.median(a.values)), "b": float(np.median(b.values))}
    poly = _grid_box(a, (2, 5), (3, 7))
    t = gpd.GeoDataFrame(geometry=[poly], crs=a.rio.crs)
    out = target_breakdown(t, {"a": a, "b": b}, comb, baseline=base).iloc[0]
    pa, pb = a.values[2:5, 3:7], b.values[2:5, 3:7]
    score = (2 * pa + pb) / 3
    assert out["score_mean"] == pytest.approx(score.mean(), abs=1e-6)
    assert out["score_max"] == pytest.approx(score.max(), abs=1e-6)
    assert out["score_p90"] == pytest.approx(np.percentile(score, 90), abs=1e-6)
    # contribution = w_i (mean_i − median_i) / Σw: exact for a linear model
    assert out["contrib_a"] == pytest.approx(2 * (pa.mean() - base["a"]) / 3, abs=1e-6)
    assert out["contrib_b"] == pytest.approx((pb.mean() - base["b"]) / 3, abs=1e-6)
    assert out["mean_a"] == pytest.approx(pa.mean(), abs=1e-6)


def test_breakdown_counts_supporting_evidence():
    on = make_raster(np.ones((4, 4)))
    off = make_raster(np.zeros((4, 4)))
    comb = knowledge_combination("fuzzy_sum", ["alteration", "faults"])
    t = gpd.GeoDataFrame(geometry=[_grid_box(on, (0, 2), (0, 2))], crs=on.rio.crs)
    out = target_breakdown(
        t, {"alteration": on, "faults": off}, comb, baseline={"alteration": 0.0, "faults": 0.0}
    ).iloc[0]
    assert out["n_evidence"] == 1 and out["evidence"] == "alteration +1.00"
    assert out["contrib_faults"] == 0.0


def test_split_at_licences_conserves_area_and_separates_licences():
    lic = make_licences({"A": (0, 0, 50, 50), "B": (50, 0, 100, 50)})
    t = gpd.GeoDataFrame(
        {"name": ["across", "inside"]},
        geometry=[box(20, 10, 80, 70), box(5, 5, 15, 15)],
        crs=lic.crs,
    )
    pieces, dropped = split_at_licences(t, lic)
    assert dropped == 0
    across = pieces[pieces["split_from"] == 0]
    assert len(across) == 3  # in A, in B, and north of both
    assert across.geometry.area.sum() == pytest.approx(60 * 60)
    for geom in across.geometry:
        inside = [
            lic_id
            for lic_id, g in zip(lic["licence_id"], lic.geometry, strict=True)
            if g.intersection(geom).area > 1e-6
        ]
        assert len(inside) <= 1
    kept = pieces[pieces["split_from"].isna()]
    assert kept["name"].tolist() == ["inside"] and kept.geometry.iloc[0].area == 100
    # slivers under the minimum are dropped and counted
    pieces, dropped = split_at_licences(t, lic, min_area_m2=1000)
    assert dropped == 0 and len(pieces) == 4
    pieces, dropped = split_at_licences(t, lic, min_area_m2=1300)
    assert dropped == 3 and pieces["name"].tolist() == ["inside"]  # each piece is 1200 m²


def test_overlapping_licences_never_duplicate_area():
    lic = make_licences({"A": (0, 0, 60, 50), "B": (40, 0, 100, 50)})  # overlap 40..60
    t = gpd.GeoDataFrame(geometry=[box(20, 10, 80, 40)], crs=lic.crs)
    pieces, _ = split_at_licences(t, lic)
    assert pieces.geometry.area.sum() == pytest.approx(60 * 30)
    assert pieces.geometry.union_all().area == pytest.approx(60 * 30)


def test_licence_summary_reports_evidence_coverage():
    # 10 × 10 grid of 30 m; left half valid (0), right half cloud (bit 1), last column fill
    reasons = np.zeros((10, 10), "uint16")
    reasons[:, 5:] = 2
    reasons[:, 9] = 1
    r = make_raster(reasons.astype("float32")).astype("uint16")
    score = make_raster(np.tile(np.arange(10.0), (10, 1)))
    t = r.rio.transform()
    left, top = t.c, t.f
    lic = make_licences(
        {"W": (left, top - 300, left + 150, top), "E": (left + 150, top - 300, left + 300, top)},
        crs=r.rio.crs,
    )
    zones = gpd.GeoDataFrame(
        {"zone_id": ["z1"], "kind": ["iron_oxide"]},
        geometry=[box(left, top - 150, left + 75, top)],
        crs=r.rio.crs,
    )
    targets = gpd.GeoDataFrame(
        {"licence_id": ["W"], "score": [0.7], "rank": [1], "target_id": ["T001"]},
        geometry=[box(left, top - 30, left + 30, top)],
        crs=r.rio.crs,
    )
    out = summarise_licences(lic, targets, zones, reasons=r, fill_bit=1, score=score, cutoff=7.0)
    w, e = out.iloc[0], out.iloc[1]
    assert (w["valid_pct"], w["imaged_pct"]) == (100.0, 100.0)
    assert (e["valid_pct"], e["imaged_pct"]) == (0.0, 80.0)  # one fill column of five
    assert w["iron_oxide_pct"] == pytest.approx(100 * 75 * 150 / (150 * 300))
    assert e["iron_oxide_pct"] == 0.0
    assert w["mean_prospectivity"] == pytest.approx(2.0) and e[
        "mean_prospectivity"
    ] == pytest.approx(7.0)
    assert w["prospective_pct"] == 0.0 and e["prospective_pct"] == pytest.approx(60.0)
    assert w["n_targets"] == 1 and e["n_targets"] == 0


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 1000),
    fraction=st.floats(0.001, 0.999),
    levels=st.sampled_from([None, 2, 5, 50]),
)
def test_top_fraction_cutoff_is_the_exact_order_statistic(seed, fraction, levels):
    """Streaming (binned, chunked) cutoff = the k-th best value of a full sort, ties whole."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(37, 41))
    if levels:
        v = np.round(v * levels / 4) / levels  # many ties
    v[rng.random(v.shape) < 0.1] = np.nan
    raster = make_raster(v)  # float32, as scores are on disk
    values = raster.values.astype("float64")
    finite = np.sort(values[np.isfinite(values)])[::-1]
    k = max(math.ceil(fraction * finite.size), 1)
    cutoff, achieved = top_fraction_cutoff(raster.chunk({"y": 10, "x": 13}), fraction)
    assert cutoff == finite[k - 1]
    assert achieved == pytest.approx((finite >= cutoff).mean())
