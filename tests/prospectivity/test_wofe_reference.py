"""Weights of evidence where geo used to disagree with ArcSDM and EIS Toolkit (issue 16).

1. A cumulative class that holds every deposit (d_b = d_s) makes W⁻ = ln 0. ArcSDM and
   EIS Toolkit then count 0.99 of one deposit off the pattern, i.e. use d_b = d_s − 0.99
   (so d_s − d_b = 0.99) in every term; geo does the same and records it (``adjusted``).
2. The posterior's standard deviation is s(P) = P·√(1/n + Σ var W), with the prior's 1/n.

Expected values are worked by hand from Bonham-Carter's (1994, ch. 9) definitions, with
S cells, B pattern cells, D deposits and D_b of them on the pattern:

- W⁺ = ln[(D_b/D) / ((B − D_b)/(S − D))],        var W⁺ = 1/D_b + 1/(B − D_b);
- W⁻ = ln[((D − D_b)/D) / ((S − B − D + D_b)/(S − D))], var W⁻ = 1/(D − D_b) + 1/(S − B − D + D_b);
- C = W⁺ − W⁻, s(C) = √(var W⁺ + var W⁻), studentised C = C / s(C).

Which convention reproduces the issue's ArcSDM figures (1000 cells, 10 deposits all in
class 1, C 4.499, studentised C 4.23)? d_b = d_s − 0.99 = 9.01 with a class of B = 100
cells: C = 4.4989, s(C) = 1.0645, C/s(C) = 4.2263. Reading "0.99 of the deposits" as
d_b = 0.99·d_s = 9.9 gives C = 6.90 and C/s(C) = 2.17 for the same class instead.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import geo.prospectivity as pr
from geo.errors import GeoWarning, InvalidParameterError
from geo.prospectivity.combine import fit_wofe

S, D = 1000, 10
ADJ = 0.99  # of one deposit, counted off a pattern that holds every deposit


def _hand(b, d_b, s=S, d=D):
    """Bonham-Carter's (1994) weights for counts (d_b may be fractional: adjusted)."""
    w_plus = math.log((d_b / d) / ((b - d_b) / (s - d)))
    w_minus = math.log(((d - d_b) / d) / ((s - b - d + d_b) / (s - d)))
    var_plus = 1 / d_b + 1 / (b - d_b)
    var_minus = 1 / (d - d_b) + 1 / (s - b - d + d_b)
    contrast = w_plus - w_minus
    s_c = math.sqrt(var_plus + var_minus)
    return {
        "w_plus": w_plus,
        "w_minus": w_minus,
        "var_w_plus": var_plus,
        "var_w_minus": var_minus,
        "contrast": contrast,
        "std_contrast": s_c,
        "studentised_contrast": contrast / s_c,
    }


def _raster(class_sizes, deposits_per_class):
    """(20, 50) evidence with values n..1 over the given class sizes; deposits at each class's start."""
    values = np.repeat(np.arange(len(class_sizes), 0, -1, dtype="float64"), class_sizes)
    deposits = np.zeros(S, dtype=bool)
    start = 0
    for size, n in zip(class_sizes, deposits_per_class, strict=True):
        deposits[start : start + n] = True
        start += size
    assert values.size == S and deposits.sum() == D
    return values.reshape(20, 50), deposits.reshape(20, 50)


def _all_in_class_one():
    """1000 cells; class 3 (100 cells) holds all 10 deposits; classes 2 and 1: 400, 500 cells."""
    return _raster((100, 400, 500), (10, 0, 0))


def test_the_issue_figures_come_from_d_b_equal_to_d_s_minus_0_99():
    adjusted = _hand(100, D - ADJ)  # d_b = 9.01, d_s - d_b = 0.99
    assert round(adjusted["contrast"], 3) == 4.499
    assert round(adjusted["studentised_contrast"], 2) == 4.23
    assert adjusted["std_contrast"] == pytest.approx(1.0645, abs=1e-4)
    # the other reading, 0.99·d_s deposits on the pattern, does not give them
    other = _hand(100, 0.99 * D)
    assert other["contrast"] == pytest.approx(6.8965, abs=1e-4)
    assert other["studentised_contrast"] == pytest.approx(2.1686, abs=1e-4)
    # and without an adjustment W- = ln 0 is undefined
    with pytest.raises(ValueError):
        _hand(100, D)


def test_a_class_holding_every_deposit_is_adjusted_and_chosen():
    evidence, deposits = _all_in_class_one()
    threshold, table = pr.wofe_generalise(evidence, deposits)  # default floor 2
    assert threshold == 3.0
    assert table["threshold"].tolist() == [3.0, 2.0, 1.0]
    assert table["b"].tolist() == [100, 500, 1000]
    assert table["d_b"].tolist() == [10, 10, 10]  # the counts, before the adjustment
    assert table["adjusted"].tolist() == [True, True, False]
    assert table["selected"].tolist() == [True, False, False]

    for row, b in ((0, 100), (1, 500)):
        hand = _hand(b, D - ADJ)
        for key, value in hand.items():
            assert table.loc[row, key] == pytest.approx(value, abs=1e-12), (b, key)
    assert table.loc[0, "contrast"] == pytest.approx(4.4989, abs=1e-4)
    assert table.loc[0, "studentised_contrast"] == pytest.approx(4.2263, abs=1e-4)
    # no NaN left in an adjusted class; the whole area (last row) stays undefined
    adjusted_rows = table[table["adjusted"]].drop(columns=["threshold"])
    assert np.isfinite(adjusted_rows.select_dtypes("number").to_numpy(float)).all()
    assert np.isnan(table.loc[2, "contrast"])


def test_wofe_weights_applies_the_same_adjustment_without_warning():
    evidence, deposits = _all_in_class_one()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoWarning)
        w = pr.wofe_weights(evidence >= 3, deposits)
    assert (w["b"], w["s"], w["d_b"], w["d_s"], w["adjusted"]) == (100, 1000, 10, 10, True)
    for key, value in _hand(100, D - ADJ).items():
        assert w[key] == pytest.approx(value, abs=1e-12), key
    assert pr.DEPOSIT_ADJUSTMENT == ADJ


def test_deposits_over_classes_one_to_three_pick_the_adjusted_class():
    # classes 5..1 of 20, 20, 60, 100 and 800 cells, holding 4, 3, 3, 0, 0 deposits
    evidence, deposits = _raster((20, 20, 60, 100, 800), (4, 3, 3, 0, 0))
    c1, c2 = _hand(20, 4), _hand(40, 7)
    c3, c4 = _hand(100, D - ADJ), _hand(200, D - ADJ)
    # by hand: C 3.7034, 4.2146, then 4.4989 and 3.6395 for the adjusted classes
    assert [round(c["contrast"], 4) for c in (c1, c2, c3, c4)] == [3.7034, 4.2146, 4.4989, 3.6395]
    assert min(c["studentised_contrast"] for c in (c1, c2, c3, c4)) > 2
    # without the adjustment classes 3 and 4 are undefined and the best is class 2 (>= 4);
    # with it, class 3 (>= 3, all 10 deposits on 100 cells) has the largest contrast
    threshold, table = pr.wofe_generalise(evidence, deposits)
    assert threshold == 3.0
    assert table["selected"].tolist() == [False, False, True, False, False]
    assert table["adjusted"].tolist() == [False, False, True, True, False]
    for row, hand in enumerate((c1, c2, c3, c4)):
        for key, value in hand.items():
            assert table.loc[row, key] == pytest.approx(value, abs=1e-12), (row, key)
    assert np.isnan(table.loc[4, "contrast"])  # the whole area


def test_no_defined_class_has_a_plain_message():
    # every deposit in the lowest class: class >= 2 holds none, class >= 1 is the whole area
    evidence, deposits = _raster((100, 900), (0, 10))
    with pytest.raises(InvalidParameterError, match="no cumulative class has defined weights"):
        pr.wofe_generalise(evidence, deposits)


def _background_by_hand():
    """Posterior and s(P) off the 100-cell pattern holding all 10 deposits."""
    hand = _hand(100, D - ADJ)
    logit = math.log((D / S) / (1 - D / S)) + hand["w_minus"]
    p = 1 / (1 + math.exp(-logit))
    return p, p * math.sqrt(1 / D + hand["var_w_minus"]), p * math.sqrt(hand["var_w_minus"])


def test_posterior_std_includes_the_prior_term_at_a_background_cell():
    evidence, deposits = _all_in_class_one()
    pattern = evidence >= 3
    w = pr.wofe_weights(pattern, deposits)
    post, std = pr.wofe_posterior({"p": pattern}, {"p": w}, w["prior"])  # n from d_s = 10
    p, s_p, without_prior = _background_by_hand()
    # by hand: W- = ln[(0.99/10) / (899.01/990)] = -2.2162, var W- = 1/0.99 + 1/899.01
    assert p == pytest.approx(1.1000e-3, rel=1e-3)
    assert s_p == pytest.approx(1.1595e-3, rel=1e-3)
    assert without_prior == pytest.approx(1.1061e-3, rel=1e-3)
    cell = (19, 49)  # off the pattern
    assert not pattern[cell]
    assert post[cell] == pytest.approx(p, rel=1e-6)
    assert std[cell] == pytest.approx(s_p, rel=1e-6)
    # the same with the deposit count given explicitly
    _, again = pr.wofe_posterior({"p": pattern}, {"p": w}, w["prior"], n_deposits=D)
    assert again[cell] == pytest.approx(s_p, rel=1e-6)


def test_posterior_std_with_two_layers_adds_both_variances_and_one_over_n():
    a = np.zeros((4, 4), dtype=bool)
    a[:2] = True
    b = np.zeros((4, 4), dtype=bool)
    b[:, :2] = True
    wa = {"w_plus": 1.2, "w_minus": -0.4, "var_w_plus": 0.09, "var_w_minus": 0.04, "d_s": 25}
    wb = {"w_plus": 0.7, "w_minus": -0.3, "var_w_plus": 0.16, "var_w_minus": 0.01, "d_s": 25}
    post, std = pr.wofe_posterior({"a": a, "b": b}, {"a": wa, "b": wb}, 0.02)
    # background cell (3, 3): both patterns absent
    p = 1 / (1 + math.exp(-(math.log(0.02 / 0.98) - 0.4 - 0.3)))
    assert post[3, 3] == pytest.approx(p, rel=1e-6)
    assert std[3, 3] == pytest.approx(p * math.sqrt(1 / 25 + 0.04 + 0.01), rel=1e-6)


def test_posterior_needs_one_deposit_count():
    a = np.ones((2, 2), dtype=bool)
    w = {"w_plus": 1.0, "w_minus": -1.0, "var_w_plus": 0.1, "var_w_minus": 0.1}
    with pytest.raises(InvalidParameterError, match="'n_deposits'"):
        pr.wofe_posterior({"a": a}, {"a": w}, 0.1)  # hand weights without d_s
    with pytest.raises(InvalidParameterError, match="'n_deposits'"):
        pr.wofe_posterior({"a": a, "b": a}, {"a": {**w, "d_s": 5}, "b": {**w, "d_s": 6}}, 0.1)
    with pytest.raises(InvalidParameterError, match="'n_deposits'"):
        pr.wofe_posterior({"a": a}, {"a": w}, 0.1, n_deposits=0)


def test_the_pipeline_model_adjusts_records_and_includes_the_prior_term():
    evidence, deposits = _all_in_class_one()
    model = fit_wofe({"a": evidence}, deposits)  # default floor 2, as the pipeline
    assert model.thresholds["a"] == 3.0 and model.n_deposits == D
    assert model.weights["a"]["adjusted"] is True
    assert model.tables["a"]["adjusted"].tolist() == [True, True, False]
    hand = _hand(100, D - ADJ)
    assert model.weights["a"]["w_minus"] == pytest.approx(hand["w_minus"], abs=1e-12)

    p, s_p, _ = _background_by_hand()
    background = {"a": np.array([[1.0]])}
    assert float(model.posterior(background)[0, 0]) == pytest.approx(p, rel=1e-6)
    assert float(model.posterior_std(background)[0, 0]) == pytest.approx(s_p, rel=1e-6)

    info = model.combination().info  # what the manifest's prospectivity.combination holds
    assert info["deposit_adjustment"]["value"] == 0.99
    assert info["deposit_adjustment"]["applied_to"] == ["a"]
    assert info["evidence"]["a"]["adjusted"] is True
    assert info["n_deposits"] == D
    json.dumps(info)  # plain JSON types
