"""Strip-by-strip evaluation and medians equal the in-memory functions exactly."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from geo.errors import InvalidParameterError
from geo.prospectivity import area_capture, curve_auc, roc_auc, success_rate_curve
from geo.prospectivity.streaming import evaluate_score, streaming_median


def _case(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    shape = (37, 23)
    score = rng.random(shape)
    if ties:  # a quantised score: many cells share a value, some deposits too
        score = np.round(score * 6) / 6
    score[rng.random(shape) < 0.1] = np.nan
    deposits = rng.random(shape) < 0.03
    valid = rng.random(shape) < 0.9
    return score, deposits, valid


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("rows", [1, 5, 64])
def test_evaluation_equals_the_in_memory_functions(seed, ties, rows):
    score, deposits, valid = _case(seed, ties)
    da = xr.DataArray(dsa.from_array(score, chunks=(8, 8)), dims=("y", "x"))
    ev = evaluate_score(da, deposits, valid, n_background=50, random_state=seed, rows=rows)
    area, dep = success_rate_curve(score, deposits, valid=valid)
    assert curve_auc(ev.area_fraction, ev.deposit_fraction) == pytest.approx(
        curve_auc(area, dep), abs=1e-12
    )
    # every vertex of the streamed curve lies on the full curve, and it keeps every bend
    assert np.allclose(np.interp(ev.area_fraction, area, dep), ev.deposit_fraction)
    assert np.allclose(np.interp(area, ev.area_fraction, ev.deposit_fraction), dep)
    fractions = (0.02, 0.1, 0.37, 1.0)
    assert ev.capture(fractions) == pytest.approx(
        area_capture(score, deposits, fractions, valid=valid), abs=1e-12
    )
    assert ev.roc_auc() == pytest.approx(
        roc_auc(score, deposits, valid=valid, n_background=50, random_state=seed), abs=1e-12
    )
    keep = valid & np.isfinite(score)
    assert ev.scored_cells == keep.sum() and ev.deposits_scored == (deposits & keep).sum()


def test_no_scored_deposit_is_an_error():
    score = np.array([[np.nan, 1.0]])
    with pytest.raises(InvalidParameterError, match="No deposit falls"):
        evaluate_score(xr.DataArray(score, dims=("y", "x")), np.array([[True, False]]))


@pytest.mark.parametrize("seed", range(5))
def test_streaming_median_is_numpys_median(seed):
    rng = np.random.default_rng(seed)
    v = rng.gamma(2.0, size=(41, 29))
    if seed % 2:
        v = np.round(v, 1)  # ties
    v[rng.random(v.shape) < 0.2] = np.nan
    valid = rng.random(v.shape) < 0.8
    da = xr.DataArray(dsa.from_array(v, chunks=10), dims=("y", "x"))
    want = np.median(v[valid & np.isfinite(v)])
    assert streaming_median(da, valid, rows=7) == want
    assert streaming_median(da, rows=3) == np.median(v[np.isfinite(v)])


def test_streaming_median_constant_and_empty():
    assert streaming_median(xr.DataArray(np.full((3, 3), 2.5), dims=("y", "x"))) == 2.5
    assert np.isnan(streaming_median(xr.DataArray(np.full((2, 2), np.nan), dims=("y", "x"))))


def test_streaming_median_of_a_mostly_constant_layer_narrows_instead_of_sorting_it_all():
    """1.5 M cells, most exactly 0 (a clipped membership): the tied bin is never gathered whole."""
    rng = np.random.default_rng(3)
    v = np.zeros((1500, 1000))
    v[:300] = rng.random((300, 1000))  # a quarter of the cells vary
    v[0, :7] = np.nan
    da = xr.DataArray(dsa.from_array(v, chunks=400), dims=("y", "x"))
    assert streaming_median(da, rows=256) == np.median(v[np.isfinite(v)]) == 0.0
    w = v.copy()
    w[300:1400] = 0.25  # the median falls among 1.1 M equal values
    da = xr.DataArray(dsa.from_array(w, chunks=400), dims=("y", "x"))
    assert streaming_median(da, rows=256) == np.median(w[np.isfinite(w)])


@pytest.mark.parametrize("seed", range(6))
def test_float32_median_by_bits_is_numpys_median(seed):
    """The two-pass median of a float32 layer (16 + 16 bits of the order key) is exact."""
    from geo.prospectivity.streaming import KeyHistogram

    rng = np.random.default_rng(seed)
    v = (rng.normal(size=(53, 31)) * 10.0 ** rng.integers(-3, 4)).astype("float32")
    if seed % 2:
        v = np.round(v, 1)  # ties
    if seed % 3 == 0:
        v[:20] = 0.0  # a clipped membership: most cells one value, some -0.0
        v[0, :5] = -0.0
    v[rng.random(v.shape) < 0.1] = np.nan
    v[1, 1], v[2, 2] = np.inf, -np.inf  # not finite: not counted
    valid = rng.random(v.shape) < 0.85
    da = xr.DataArray(dsa.from_array(v, chunks=(16, 16)), dims=("y", "x"))
    keep = valid & np.isfinite(v)
    want = np.median(v[keep].astype("float64"))
    assert streaming_median(da, valid, rows=5) == want
    assert streaming_median(da, valid) == want  # strips of one chunk row
    assert streaming_median(da) == np.median(v[np.isfinite(v)].astype("float64"))
    # the first pass counted elsewhere (as the pass that writes the layer does)
    hist = KeyHistogram()
    dsa.store(dsa.where(dsa.from_array(valid, chunks=(16, 16)), da.data, np.nan), hist)
    assert hist.count == keep.sum()
    assert streaming_median(da, valid, histogram=hist) == want


def test_float32_median_single_value_and_empty():
    one = xr.DataArray(np.array([[np.nan, -3.25]], dtype="float32"), dims=("y", "x"))
    assert streaming_median(one) == -3.25
    none = xr.DataArray(np.full((2, 2), np.nan, dtype="float32"), dims=("y", "x"))
    assert np.isnan(streaming_median(none))


def test_key_histogram_takes_float32_only():
    from geo.prospectivity.streaming import KeyHistogram

    with pytest.raises(TypeError, match="float32"):
        KeyHistogram().add(np.zeros(3))


@pytest.mark.parametrize("seed", range(3))
def test_float32_evaluation_equals_the_float64_one(seed):
    """A float32 score is streamed as float32: the same curve, counts and draw as float64."""
    score, deposits, valid = _case(seed, ties=True)
    s32 = score.astype("float32")
    da32 = xr.DataArray(dsa.from_array(s32, chunks=(8, 8)), dims=("y", "x"))
    da64 = xr.DataArray(dsa.from_array(s32.astype("float64"), chunks=(8, 8)), dims=("y", "x"))
    a = evaluate_score(da32, deposits, valid, n_background=50, random_state=seed)
    b = evaluate_score(da64, deposits, valid, n_background=50, random_state=seed, rows=3)
    assert np.array_equal(a.area_fraction, b.area_fraction)
    assert np.array_equal(a.deposit_fraction, b.deposit_fraction)
    assert np.array_equal(a.background, b.background)
    assert a.roc_auc() == b.roc_auc() and a.scored_cells == b.scored_cells


def test_float32_median_at_the_ends_of_the_float32_range():
    """Largest finite, denormal, signed-zero values: each median is numpy's, bit for bit."""
    f32 = np.finfo(np.float32)
    pool = np.array(
        [-f32.max, -1e30, -1.5, -1e-45, -0.0, 0.0, 1e-45, 1e-38, 2.5, 1e30, f32.max],
        dtype="float32",
    )
    rng = np.random.default_rng(11)
    for _ in range(60):
        v = rng.choice(pool, size=(7, 5)).astype("float32")
        v[rng.random(v.shape) < 0.15] = np.nan
        v[0, 0] = rng.choice([np.inf, -np.inf, np.nan])  # never counted
        finite = v[np.isfinite(v)].astype("float64")
        if finite.size == 0:
            continue
        got = streaming_median(xr.DataArray(v, dims=("y", "x")), rows=3)
        assert got == np.median(finite)
