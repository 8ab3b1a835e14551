"""The streaming statistics of the thresholds (ValueHistogram) against numpy's exact ones.

The documented bound (geo/spectral/anomaly.py): with ``log``, quantiles within 2**-17 and
the MAD within 2**-16 of the exact statistics of log(values); without, a quantile within
2**-17 of the larger magnitude of the order statistics it interpolates and the MAD within
2**-17 * (|median| + MAD) plus the median's own error.
"""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from geo.errors import InvalidParameterError, TooFewPixelsError
from geo.spectral.anomaly import (
    ValueHistogram,
    fit_threshold,
    threshold_from_histogram,
)

HALF_BIN = 2.0**-17
SLACK = 1e-12  # float64 rounding of the reference


def filled(values: np.ndarray, *, log: bool, chunks: int = 7) -> ValueHistogram:
    """A histogram filled piece by piece (as the chunked pass does)."""
    hist = ValueHistogram(log=log, moments=True)
    flat = np.asarray(values, dtype="float32").ravel()
    for piece in np.array_split(flat, chunks):
        hist.add(piece)
    return hist


def exact(values: np.ndarray, *, log: bool) -> np.ndarray:
    """The values a threshold is fitted on, as float64 ``t`` (NaN, inf and, with log, <= 0 out)."""
    x = np.asarray(values, dtype="float32").ravel().astype("float64")
    x = x[np.isfinite(x)]
    if log:
        x = x[x > 0]
        return np.log(x)
    return x


def interpolated(t: np.ndarray, q: float) -> tuple[float, float]:
    """The two order statistics numpy's linear percentile interpolates."""
    s = np.sort(t)
    h = (s.size - 1) * q
    return s[int(np.floor(h))], s[min(int(np.floor(h)) + 1, s.size - 1)]


def check_bound(values: np.ndarray, *, log: bool, qs=(0.5, 0.025, 0.975, 0.999)) -> None:
    hist = filled(values, log=log)
    t = exact(values, log=log)
    assert hist.count == t.size
    for q in qs:
        got, want = hist.quantile(q), np.percentile(t, 100 * q)
        a, b = interpolated(t, q)
        bound = HALF_BIN if log else HALF_BIN * max(abs(a), abs(b))
        assert abs(got - want) <= bound + SLACK, (q, got, want, bound)
    med = np.median(t)
    mad = np.median(np.abs(t - med))
    a, b = interpolated(t, 0.5)
    med_bound = HALF_BIN if log else HALF_BIN * max(abs(a), abs(b))
    mad_bound = 2 * HALF_BIN if log else HALF_BIN * (abs(med) + mad) + med_bound
    assert abs(hist.quantile(0.5) - med) <= med_bound + SLACK
    assert abs(hist.mad() - mad) <= mad_bound + SLACK, (hist.mad(), mad, mad_bound)
    # exact moments (of t as the pass computes it: log in float32) and extremes
    x32 = np.asarray(values, dtype="float32").ravel()
    x32 = x32[np.isfinite(x32) & (x32 > 0)] if log else x32[np.isfinite(x32)]
    t32 = (np.log(x32) if log else x32).astype("float64")
    if np.abs(t32).max() < 1e6:  # (sums of +-1e38 cancel to rounding noise in any order)
        assert hist.sum / hist.count == pytest.approx(t32.mean(), rel=1e-9, abs=1e-12)
    lo, hi = hist.t_range()
    assert lo == pytest.approx(t.min(), rel=1e-6, abs=1e-6)
    assert hi == pytest.approx(t.max(), rel=1e-6, abs=1e-6)


RNG = np.random.default_rng(19)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lognormal_ratios_within_the_bound(seed):
    rng = np.random.default_rng(seed)
    v = np.exp(rng.normal(0.79, 0.056, 200_000))
    check_bound(v, log=True)
    check_bound(v, log=False)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_heavy_tails_and_extreme_outliers_do_not_widen_the_bins():
    v = np.exp(RNG.standard_cauchy(200_000))  # log is Cauchy: enormous tails (and inf)
    v[:50] = 1e30
    v[50:100] = 1e-30
    check_bound(v, log=True)
    c = RNG.standard_cauchy(200_000) * 0.1 + 0.3
    c[:10] = [1e30, -1e30, 3e38, -3e38, 1e-30, -1e-30, 0.0, -0.0, 1e-40, -1e-40]
    check_bound(c, log=False)  # many orders of magnitude: counted page by page


def test_many_ties_and_two_clusters():
    ties = RNG.integers(1, 6, 100_000).astype("float32")  # five values only
    check_bound(ties, log=True)
    check_bound(ties, log=False)
    halves = np.r_[np.zeros(5_000), np.ones(5_000)]  # numpy's median 0.5 falls between
    check_bound(halves, log=False)
    hist = filled(halves, log=False)
    assert hist.quantile(0.5) == pytest.approx(0.5, abs=1e-5)
    one = np.full(1_000, 2.5)
    hist = filled(one, log=True)
    assert hist.mad() == 0.0
    assert abs(hist.quantile(0.5) - np.log(2.5)) <= HALF_BIN


def test_nan_inf_zero_and_negative_values_are_not_counted():
    v = np.exp(RNG.normal(0.2, 0.1, 50_000)).astype("float32")
    v[::3] = np.nan
    v[1::7] = np.inf
    v[2::11] = -np.inf
    v[3::13] = 0.0
    v[4::17] = -1.5
    check_bound(v, log=True)  # only positive finite values
    check_bound(v, log=False)  # every finite value, zeros and negatives included
    assert filled(v, log=False).count == np.isfinite(v).sum()


def test_tiny_ranges():
    # a nearly flat layer: the bins are relative to the values, so the bound is too
    flat = (1000.0 + RNG.normal(0, 1e-3, 100_000)).astype("float32")
    check_bound(flat, log=False)
    check_bound(flat, log=True)
    close = (1.0 + RNG.normal(0, 1e-6, 100_000)).astype("float32")
    check_bound(close, log=True)
    small = RNG.normal(0, 1e-20, 100_000)  # tiny magnitudes: fine bins there
    check_bound(small, log=False)


def test_chunks_merge_and_order_do_not_matter():
    v = np.exp(RNG.normal(0.5, 0.3, 30_000)).astype("float32")
    whole = ValueHistogram(log=True)
    whole.add(v)
    parts = [ValueHistogram(log=True) for _ in range(3)]
    for part, piece in zip(parts, np.array_split(v[::-1], 3), strict=True):
        part.add(piece)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    for a, b in zip(whole.bins(), merged.bins(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole.quantile(0.5) == merged.quantile(0.5)
    with pytest.raises(ValueError, match="different kinds"):
        whole.merge(ValueHistogram(log=False))


def test_a_histogram_is_a_dask_store_target_filled_from_threads():
    v = np.exp(RNG.normal(0.5, 0.3, (600, 700))).astype("float32")
    hist = ValueHistogram(log=True)
    dsa.store(dsa.from_array(v, chunks=100), hist, lock=False, compute=True)
    assert hist.count == v.size
    assert abs(hist.quantile(0.5) - np.median(np.log(v.astype("float64")))) <= HALF_BIN + SLACK


def test_thresholds_from_the_histogram_match_fit_threshold_and_numpy():
    v = np.exp(RNG.normal(0.79, 0.056, (400, 500))).astype("float32")
    hist = filled(v, log=True)
    t = threshold_from_histogram(hist, name="iron_oxide", method="robust_z", k=3)
    same = fit_threshold(
        xr.DataArray(dsa.from_array(v, chunks=128), dims=("y", "x")), name="iron_oxide"
    )
    assert (t.center, t.scale, t.cutoff, t.n_valid) == (
        same.center,
        same.scale,
        same.cutoff,
        same.n_valid,
    )
    logv = np.log(v.astype("float64"))
    med = np.median(logv)
    mad = np.median(np.abs(logv - med))
    assert abs(t.center - med) <= HALF_BIN + SLACK
    assert abs(t.scale - 1.4826 * mad) <= 1.4826 * 2 * HALF_BIN + SLACK
    cutoff = np.exp(med + 3 * 1.4826 * mad)
    assert abs(t.cutoff / cutoff - 1) <= (0.5 + 1.4826 * 3) * 2**-16 * 1.001
    m = threshold_from_histogram(hist, name="iron_oxide", method="mean_std", k=2)
    assert m.center == pytest.approx(logv.mean(), abs=1e-7)  # t in float32, summed in float64
    assert m.scale == pytest.approx(logv.std(ddof=1), rel=1e-6)


def test_too_few_and_mean_std_without_moments():
    hist = ValueHistogram(log=True)
    hist.add(np.ones(10, "float32"))
    with pytest.raises(TooFewPixelsError, match="only 10 valid pixels"):
        threshold_from_histogram(hist, name="x")
    with pytest.raises(InvalidParameterError, match="unknown"):
        threshold_from_histogram(hist, name="x", method="kmeans")
    plain = ValueHistogram(log=True)
    plain.add(np.exp(RNG.normal(0, 1, 1000)).astype("float32"))
    with pytest.raises(ValueError, match="moments"):
        threshold_from_histogram(plain, name="x", method="mean_std")
