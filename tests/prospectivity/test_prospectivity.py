"""Prospectivity: fuzzy overlay, weights of evidence and success-rate evaluation.

Expected values are worked by hand from the equations (DOMAIN.md §4), not from the code.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import geo.prospectivity as pr
from geo.errors import GeoWarning, GridMismatchError, InvalidParameterError
from geo.testing import make_raster

# --------------------------------------------------------------------------------------
# Fuzzy membership
# --------------------------------------------------------------------------------------


def test_fuzzy_linear_hand_values_increasing_and_decreasing():
    x = np.array([[-5.0, 0.0, 2.5, 10.0, 15.0]])
    np.testing.assert_allclose(pr.fuzzy_linear(x, 0, 10), [[0, 0, 0.25, 1, 1]])
    np.testing.assert_allclose(pr.fuzzy_linear(x, 10, 0), [[1, 1, 0.75, 0, 0]])


def test_fuzzy_large_and_small_follow_the_arcgis_formulas():
    x = np.array([[0.0, 1.0, 2.0, 4.0]])
    # midpoint 2, spread 2: (x/2)^-2 = inf, 4, 1, 0.25
    np.testing.assert_allclose(pr.fuzzy_large(x, 2.0, 2.0), [[0.0, 1 / 5, 0.5, 1 / 1.25]])
    np.testing.assert_allclose(pr.fuzzy_small(x, 2.0, 2.0), [[1.0, 1 / 1.25, 0.5, 1 / 5]])


def test_fuzzy_gaussian_hand_value():
    out = pr.fuzzy_gaussian(np.array([[1.0, 2.0]]), midpoint=1.0, spread=2.0)
    np.testing.assert_allclose(out, [[1.0, math.exp(-2.0)]], rtol=1e-6)


def test_membership_keeps_grid_and_propagates_nan():
    x = make_raster([[0.0, np.nan], [4.0, 8.0]])
    out = pr.fuzzy_small(x, 4.0, 1.0, name="dist_fault")
    assert out.name == "dist_fault" and out.dtype == np.float32
    assert out.rio.crs == x.rio.crs and out.rio.transform() == x.rio.transform()
    np.testing.assert_allclose(out.values, [[1.0, np.nan], [0.5, 1 / 3]], rtol=1e-6)
    assert np.isnan(x.values[0, 1]) and x.values[1, 1] == 8.0  # input untouched


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda x: pr.fuzzy_linear(x, 3, 3), "'low' and 'high'"),
        (lambda x: pr.fuzzy_large(x, 0.0, 5), "'midpoint'"),
        (lambda x: pr.fuzzy_small(x, 1.0, -1), "'spread'"),
        (lambda x: pr.fuzzy_gaussian(x, 1.0, 0), "'spread'"),
        (lambda x: pr.fuzzy_large(x - 10, 1.0, 5), "'x'"),
        (lambda x: pr.fuzzy_gamma([x / 4], 1.5), "'gamma'"),
        (lambda x: pr.fuzzy_and([x]), "'layers'"),
        (lambda x: pr.fuzzy_or(x / 4), "'layers'"),
        (lambda x: pr.weighted_overlay([x, x], [1.0]), "'weights'"),
        (lambda x: pr.weighted_overlay([x, x], [1.0, -1.0]), "'weights'"),
    ],
)
def test_bad_parameters_are_named(call, param):
    x = np.array([[1.0, 2.0, 4.0]])
    with pytest.raises(InvalidParameterError, match=param) as err:
        call(x)
    assert "Got" in str(err.value)


# --------------------------------------------------------------------------------------
# Fuzzy operators
# --------------------------------------------------------------------------------------

A, B = np.array([[0.8]]), np.array([[0.2]])  # Carranza's (2008) two-input example


def test_carranza_two_input_example():
    assert pr.fuzzy_and([A, B])[0, 0] == pytest.approx(0.2)
    assert pr.fuzzy_or([A, B])[0, 0] == pytest.approx(0.8)
    assert pr.fuzzy_product([A, B])[0, 0] == pytest.approx(0.16, abs=1e-7)
    assert pr.fuzzy_sum([A, B])[0, 0] == pytest.approx(0.84, abs=1e-7)
    assert pr.fuzzy_gamma([A, B], 0.5)[0, 0] == pytest.approx(math.sqrt(0.84 * 0.16), abs=1e-7)
    assert pr.fuzzy_gamma([A, B], 0.0)[0, 0] == pytest.approx(0.16, abs=1e-7)
    assert pr.fuzzy_gamma([A, B], 1.0)[0, 0] == pytest.approx(0.84, abs=1e-7)


def test_gamma_stays_within_the_inputs_only_for_gamma_014_to_097():
    # 0.16 * 5.25^g = 0.2 at g = ln 1.25 / ln 5.25 = 0.135; = 0.8 at g = ln 5 / ln 5.25 = 0.971
    inside = [0.2 <= pr.fuzzy_gamma([A, B], g)[0, 0] <= 0.8 for g in (0.13, 0.14, 0.97, 0.98)]
    assert inside == [False, True, True, False]


def test_operator_bounds_on_random_memberships():
    rng = np.random.default_rng(1)
    layers = [rng.random((6, 7)) for _ in range(3)]
    fap, fas = pr.fuzzy_product(layers), pr.fuzzy_sum(layers)
    f_and, f_or = pr.fuzzy_and(layers), pr.fuzzy_or(layers)
    gamma = pr.fuzzy_gamma(layers, 0.75)
    eps = 1e-6
    assert (fap <= f_and + eps).all() and (f_and <= f_or + eps).all() and (f_or <= fas + eps).all()
    assert (fap <= gamma + eps).all() and (gamma <= fas + eps).all()
    assert (fap >= 0).all() and (fas <= 1).all()


def test_operators_propagate_nan_and_check_the_grid():
    a = np.array([[0.5, np.nan]])
    for op in (pr.fuzzy_and, pr.fuzzy_or, pr.fuzzy_product, pr.fuzzy_sum):
        out = op([a, np.array([[0.1, 0.9]])])
        assert not np.isnan(out[0, 0]) and np.isnan(out[0, 1])
    with pytest.raises(GridMismatchError, match="one pixel grid"):
        pr.fuzzy_and([a, np.array([[0.1, 0.2, 0.3]])])


def test_operators_reject_values_outside_0_1():
    with pytest.raises(InvalidParameterError, match=r"\[0, 1\]"):
        pr.fuzzy_sum([np.array([[1.5]]), B])


def test_weighted_overlay_hand_value():
    x1, x2 = make_raster([[1.0, 0.0]]), make_raster([[0.5, np.nan]])
    out = pr.weighted_overlay([x1, x2], [3.0, 1.0])
    assert out[0, 0] == pytest.approx((3 * 1.0 + 1 * 0.5) / 4)
    assert np.isnan(out.values[0, 1])
    assert out.dims == ("y", "x")


# --------------------------------------------------------------------------------------
# Weights of evidence
# --------------------------------------------------------------------------------------


def _example():
    """s = 100 cells, pattern b = 20 cells holding d_b = 4 of d_s = 5 deposits."""
    pattern = np.zeros((10, 10), dtype=bool)
    pattern[:2] = True
    deposits = np.zeros((10, 10), dtype=bool)
    deposits[0, :3] = True
    deposits[1, 5] = True
    deposits[7, 7] = True
    return pattern, deposits


def test_wofe_weights_match_the_hand_worked_example():
    pattern, deposits = _example()
    s, b, d_s, d_b = 100, 20, 5, 4
    # W+ = ln[(4/5) / (16/95)] = ln 4.75; var = 1/4 + 1/16
    w_plus = math.log((4 / 5) / (16 / 95))
    var_plus = 1 / 4 + 1 / 16
    # W- = ln[(1/5) / (79/95)] = ln(19/79); var = 1/1 + 1/79
    w_minus = math.log((1 / 5) / (79 / 95))
    var_minus = 1 / 1 + 1 / 79
    contrast = w_plus - w_minus
    s_c = math.sqrt(var_plus + var_minus)
    assert w_plus == pytest.approx(math.log(4.75), abs=1e-12)
    assert w_minus == pytest.approx(math.log(19 / 79), abs=1e-12)

    w = pr.wofe_weights(pattern, deposits)
    assert (w["s"], w["b"], w["d_s"], w["d_b"]) == (s, b, d_s, d_b)
    assert w["prior"] == pytest.approx(0.05, abs=1e-12)
    expected = {
        "w_plus": w_plus,
        "var_w_plus": var_plus,
        "std_w_plus": math.sqrt(var_plus),
        "w_minus": w_minus,
        "var_w_minus": var_minus,
        "std_w_minus": math.sqrt(var_minus),
        "contrast": contrast,
        "std_contrast": s_c,
        "studentised_contrast": contrast / s_c,
    }
    for key, value in expected.items():
        assert w[key] == pytest.approx(value, abs=1e-12), key


def test_wofe_weights_count_only_valid_cells():
    pattern, deposits = _example()
    valid = np.ones((10, 10), dtype=bool)
    valid[9] = False  # 10 cells off the pattern, no deposit there
    w = pr.wofe_weights(pattern, deposits, valid=valid)
    assert (w["s"], w["b"], w["d_b"], w["d_s"]) == (90, 20, 4, 5)
    assert w["w_plus"] == pytest.approx(math.log((4 / 5) / (16 / 85)), abs=1e-12)


def test_wofe_weights_in_unit_cells():
    pattern, deposits = _example()
    # 30 m pixels = 0.0009 km2; unit cell 0.0036 km2 = 4 pixels: b = 5, s = 25
    w = pr.wofe_weights(make_raster(pattern), deposits, unit_cell_km2=0.0036)
    assert w["b"] == pytest.approx(5.0) and w["s"] == pytest.approx(25.0)
    assert w["w_plus"] == pytest.approx(math.log((4 / 5) / (1 / 20)), abs=1e-9)


def test_wofe_weights_degenerate_counts_give_nan_and_warn():
    _, deposits = _example()
    pattern = np.zeros((10, 10), dtype=bool)
    pattern[3:5] = True  # 20 cells without a deposit: d_b = 0, W+ = ln 0
    with pytest.warns(GeoWarning, match="w_plus"):
        w = pr.wofe_weights(pattern, deposits)
    assert math.isnan(w["w_plus"]) and math.isnan(w["contrast"]) and not w["adjusted"]
    assert w["w_minus"] == pytest.approx(math.log((5 / 5) / (75 / 95)), abs=1e-12)
    # d_b = d_s is no longer undefined: see tests/prospectivity/test_wofe_reference.py (0.99 adjustment)


def test_wofe_weights_without_deposits_is_an_error():
    pattern, _ = _example()
    with pytest.raises(InvalidParameterError, match="d_s=0"):
        pr.wofe_weights(pattern, np.zeros((10, 10), dtype=bool))


def _evidence():
    """Classes 5..1 over 5, 10, 15, 30, 40 cells, holding 2, 4, 2, 0, 1 of 9 deposits."""
    values = np.repeat([5.0, 4.0, 3.0, 2.0, 1.0], [5, 10, 15, 30, 40])
    deposits = np.zeros(100, dtype=bool)
    deposits[[0, 1, 5, 6, 7, 8, 15, 16, 60]] = True
    return values.reshape(10, 10), deposits.reshape(10, 10)


def _hand_weights(b, d_b, s=100, d_s=9):
    w_plus = math.log((d_b / d_s) / ((b - d_b) / (s - d_s)))
    w_minus = math.log(((d_s - d_b) / d_s) / ((s - b - d_s + d_b) / (s - d_s)))
    var = 1 / d_b + 1 / (b - d_b) + 1 / (d_s - d_b) + 1 / (s - b - d_s + d_b)
    return w_plus - w_minus, (w_plus - w_minus) / math.sqrt(var)


def test_wofe_generalise_picks_max_contrast_above_the_floor():
    evidence, deposits = _evidence()
    # cumulative classes >=5: b 5, d_b 2; >=4: b 15, d_b 6; >=3: b 30, d_b 8; >=2: b 60, d_b 8
    hand = [_hand_weights(b, d) for b, d in ((5, 2), (15, 6), (30, 8), (60, 8))]
    contrast = [c for c, _ in hand]
    stud = [t for _, t in hand]
    # max C is class >=3 (C 3.22, C/s 2.96); class >=4 has the largest C/s (3.68) but lower C
    assert max(contrast) == contrast[2] and max(stud) == stud[1]

    threshold, table = pr.wofe_generalise(evidence, deposits)
    assert threshold == 3.0
    assert table["threshold"].tolist() == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert table["selected"].tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(table["contrast"][:4], contrast, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["studentised_contrast"][:4], stud, rtol=0, atol=1e-12)
    assert np.isnan(table["contrast"].iloc[4])  # whole area: d_b = d_s, W- undefined

    assert pr.wofe_generalise(evidence, deposits, min_studentised=3.0)[0] == 4.0


def test_wofe_generalise_ascending_mirrors_descending():
    evidence, deposits = _evidence()
    threshold, _ = pr.wofe_generalise(-evidence, deposits, ascending=True)
    assert threshold == -3.0


def test_wofe_generalise_names_the_best_studentised_value():
    evidence, deposits = _evidence()
    with pytest.raises(InvalidParameterError, match=r"the best is 3\.67"):
        pr.wofe_generalise(evidence, deposits, min_studentised=3.7)


def test_wofe_posterior_is_the_hand_logit_sum():
    a = np.zeros((4, 4), dtype=bool)
    a[:2] = True
    b = np.zeros((4, 4), dtype=bool)
    b[:, :2] = True
    wa = {"w_plus": 1.2, "w_minus": -0.4, "var_w_plus": 0.09, "var_w_minus": 0.04}
    wb = {"w_plus": 0.7, "w_minus": -0.3, "var_w_plus": 0.16, "var_w_minus": 0.01}
    valid = np.ones((4, 4), dtype=bool)
    valid[3, 3] = False
    prior = 0.02
    post, std = pr.wofe_posterior(
        {"a": a, "b": b}, {"a": wa, "b": wb}, prior, n_deposits=8, valid=valid
    )

    logit0 = math.log(0.02 / 0.98)
    for (i, j), wsum, vsum in [
        ((0, 0), 1.2 + 0.7, 0.09 + 0.16),
        ((0, 3), 1.2 - 0.3, 0.09 + 0.01),
        ((3, 0), -0.4 + 0.7, 0.04 + 0.16),
        ((2, 2), -0.4 - 0.3, 0.04 + 0.01),
    ]:
        p = 1 / (1 + math.exp(-(logit0 + wsum)))
        assert post[i, j] == pytest.approx(p, rel=1e-6)
        # s(P) = P·√(1/n + Σ var W), with the prior's 1/n for n = 8 deposits
        assert std[i, j] == pytest.approx(p * math.sqrt(1 / 8 + vsum), rel=1e-6)
    assert np.isnan(post[3, 3]) and np.isnan(std[3, 3])


def test_wofe_posterior_rejects_missing_weights_and_bad_prior():
    a = np.ones((2, 2), dtype=bool)
    w = {"w_plus": 1.0, "w_minus": -1.0, "var_w_plus": 0.1, "var_w_minus": 0.1}
    with pytest.raises(InvalidParameterError, match="'prior'"):
        pr.wofe_posterior({"a": a}, {"a": w}, 0.0)
    with pytest.raises(InvalidParameterError, match="'b'"):
        pr.wofe_posterior({"a": a, "b": a}, {"a": w}, 0.1)
    with pytest.raises(InvalidParameterError, match="w_minus"):
        pr.wofe_posterior({"a": a}, {"a": {**w, "w_minus": math.nan}}, 0.1)


def test_wofe_pipeline_on_dataarrays_keeps_the_grid():
    pattern, deposits = _example()
    pattern = make_raster(pattern)
    w = pr.wofe_weights(pattern, deposits)
    post, std = pr.wofe_posterior({"p": pattern}, {"p": w}, w["prior"])
    assert post.name == "posterior" and std.name == "posterior_std"
    assert post.rio.crs == pattern.rio.crs
    # one layer: the posterior on the pattern is d_b / b, off it (d_s - d_b) / (s - b)
    assert float(post[0, 0]) == pytest.approx(4 / 20, rel=1e-6)
    assert float(post[5, 5]) == pytest.approx(1 / 80, rel=1e-6)


def _quadrants():
    a = np.zeros((10, 10), dtype=bool)
    a[:, :5] = True  # west half
    b = np.zeros((10, 10), dtype=bool)
    b[:5] = True  # north half
    deposits = np.zeros((10, 10), dtype=bool)
    for r0, c0 in ((0, 0), (0, 5), (5, 0), (5, 5)):
        deposits[r0 : r0 + 2, c0 : c0 + 2] = True  # 4 deposits per quadrant
    return a, b, deposits


def test_conditional_independence_passes_independent_patterns():
    a, b, deposits = _quadrants()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoWarning)
        table = pr.conditional_independence({"a": a, "b": b}, deposits)
    row = table.iloc[0]
    assert (row.both, row.a_only, row.b_only, row.neither) == (4, 4, 4, 4)
    assert row.chi2 == 0.0 and row.p_value == 1.0 and not row.violated


def test_conditional_independence_flags_a_duplicated_pattern():
    a, b, deposits = _quadrants()
    with pytest.warns(GeoWarning, match="'a' and 'a_copy'"):
        table = pr.conditional_independence({"a": a, "b": b, "a_copy": a.copy()}, deposits)
    assert len(table) == 3
    dup = table[(table.layer_a == "a") & (table.layer_b == "a_copy")].iloc[0]
    # table [[8, 0], [0, 8]]: chi2 = 16 * (64 - 0)^2 / (8 * 8 * 8 * 8) = 16
    assert dup.chi2 == pytest.approx(16.0)
    assert dup.p_value == pytest.approx(math.erfc(math.sqrt(16.0 / 2)))  # chi2 sf, df = 1
    assert dup.violated
    assert not table[table.layer_b == "b"].violated.any()


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------

SCORE = np.array([[4.0, 3.0, 2.0, 1.0]])
DEPOSITS = np.array([[True, False, True, False]])


def test_success_rate_curve_hand_example_and_auc():
    area, dep = pr.success_rate_curve(SCORE, DEPOSITS)
    np.testing.assert_allclose(area, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(dep, [0, 0.5, 0.5, 1, 1])
    # trapezoids of width 0.25: (0 + .5)/2 + (.5 + .5)/2 + (.5 + 1)/2 + (1 + 1)/2 = 2.5, x 0.25
    assert pr.curve_auc(area, dep) == pytest.approx(0.625)


def test_success_rate_curve_ranks_ties_as_one_group_and_skips_invalid():
    score = np.array([[2.0, 2.0, 1.0, np.nan, 5.0]])
    deposits = np.array([[True, False, False, True, False]])
    valid = np.array([[True, True, True, True, False]])
    area, dep = pr.success_rate_curve(score, deposits, valid=valid)
    np.testing.assert_allclose(area, [0, 2 / 3, 1])
    np.testing.assert_allclose(dep, [0, 1, 1])


def test_curve_auc_rejects_decreasing_x():
    with pytest.raises(InvalidParameterError, match="non-decreasing"):
        pr.curve_auc([0.0, 1.0, 0.5], [0.0, 1.0, 1.0])


def test_area_capture():
    got = pr.area_capture(SCORE, DEPOSITS, fractions=(0.125, 0.25, 0.5, 0.75))
    assert got == pytest.approx({0.125: 0.25, 0.25: 0.5, 0.5: 0.5, 0.75: 1.0})
    with pytest.raises(InvalidParameterError, match="'fractions'"):
        pr.area_capture(SCORE, DEPOSITS, fractions=(0.0,))


def test_roc_auc_is_one_when_deposits_hold_the_top_scores():
    score = make_raster(np.arange(100.0).reshape(10, 10))
    deposits = np.zeros((10, 10), dtype=bool)
    deposits[9, 5:] = True  # the five highest scores
    assert pr.roc_auc(score, deposits, n_background=50) == 1.0
    assert pr.roc_auc(-score, deposits) == 0.0


def test_roc_auc_needs_background():
    with pytest.raises(InvalidParameterError, match="no background"):
        pr.roc_auc(SCORE, np.ones((1, 4), dtype=bool))
