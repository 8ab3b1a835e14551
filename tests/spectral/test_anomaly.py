import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from geo.errors import InvalidParameterError
from geo.spectral.anomaly import anomaly_z, fit_threshold


def lognormal(shape=(400, 500), mu=0.3, sigma=0.1, seed=1):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(mu, sigma, shape)).astype("float32")


def as_da(values, chunks=None):
    data = dsa.from_array(values, chunks=chunks) if chunks else values
    return xr.DataArray(data, dims=("y", "x"), name="ratio")


def test_robust_z_matches_numpy_on_log_ratio():
    v = lognormal()
    t = fit_threshold(as_da(v, chunks=128), method="robust_z", k=3, log=True)
    logv = np.log(v.astype("float64"))
    med = np.median(logv)
    mad = 1.4826 * np.median(np.abs(logv - med))
    assert t.center == pytest.approx(med, abs=1e-4)
    assert t.scale == pytest.approx(mad, rel=1e-3)
    assert t.cutoff == pytest.approx(np.exp(med + 3 * mad), rel=1e-3)
    assert t.n_valid == v.size


def test_mean_std_and_percentile():
    v = lognormal(seed=2)
    logv = np.log(v.astype("float64"))
    t = fit_threshold(as_da(v, chunks=100), method="mean_std", k=2, log=True)
    assert t.center == pytest.approx(logv.mean(), abs=1e-6)
    assert t.scale == pytest.approx(logv.std(ddof=1), rel=1e-6)
    p = fit_threshold(as_da(v, chunks=100), method="percentile", percentile=97.5, log=False)
    assert p.cutoff == pytest.approx(np.percentile(v, 97.5), rel=1e-4)
    assert (v >= p.cutoff).mean() == pytest.approx(0.025, abs=0.001)


def test_nan_and_valid_mask_are_excluded():
    v = lognormal(seed=3)
    v[:, :50] = np.nan
    v[:10, 100:] = 1e6  # huge outliers hidden by the valid mask
    valid = xr.DataArray(np.ones(v.shape, bool), dims=("y", "x"))
    valid[:10, :] = False
    t = fit_threshold(as_da(v), valid, method="robust_z", k=3)
    assert t.n_valid == 390 * 450
    ref = np.log(v[10:, 50:].astype("float64"))
    assert t.center == pytest.approx(np.median(ref), abs=1e-4)


def test_planted_anomaly_is_found_and_z_is_consistent():
    v = lognormal(seed=4)
    v[100:120, 200:230] *= 2.0  # +0.69 in log space = ~7 sigma
    t = fit_threshold(as_da(v), method="robust_z", k=3)
    flagged = v >= t.cutoff
    assert flagged[100:120, 200:230].mean() > 0.99
    assert flagged.sum() - flagged[100:120, 200:230].sum() < 0.01 * v.size
    z = anomaly_z(as_da(v), t).values
    np.testing.assert_array_equal(z >= 3 - 1e-5, flagged | (np.abs(z - 3) < 1e-5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "kmeans"}, "unknown"),
        ({"k": 0}, "must be > 0"),
        ({"method": "percentile", "percentile": 100}, r"must be in \(0, 100\)"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        fit_threshold(as_da(lognormal()), name="ratio", **kwargs)


def test_too_few_pixels_and_no_spread():
    v = np.full((5, 5), np.nan, dtype="float32")
    v[0, :3] = 1.0
    with pytest.raises(InvalidParameterError, match="only 3 valid pixels"):
        fit_threshold(as_da(v), name="iron_oxide")
    with pytest.raises(InvalidParameterError, match="no spread"):
        fit_threshold(as_da(np.ones((20, 20), "float32")), name="iron_oxide")


def test_otsu_splits_two_modes_at_the_valley():
    rng = np.random.default_rng(5)
    low = rng.normal(0.0, 0.1, 60_000)
    high = rng.normal(1.0, 0.1, 40_000)
    v = np.concatenate([low, high]).astype("float32").reshape(400, 250)
    t = fit_threshold(as_da(v, chunks=100), method="otsu", log=False)
    assert 0.4 < t.cutoff < 0.6  # the valley between N(0, 0.1) and N(1, 0.1)
    assert t.details["between_class_variance"] > 0.2
    assert t.k is None and t.percentile is None


def test_concentration_area_finds_the_break_between_two_populations():
    rng = np.random.default_rng(6)
    background = np.exp(rng.normal(0.0, 0.15, 95_000))  # lognormal background
    anomaly = np.exp(rng.normal(1.0, 0.1, 5_000))  # 5 % strongly enriched population
    v = np.concatenate([background, anomaly]).astype("float32").reshape(400, 250)
    t = fit_threshold(as_da(v, chunks=128), method="concentration_area", log=True)
    flagged = v >= t.cutoff
    # most of the enriched population is above the break, little of the background
    assert flagged.reshape(-1)[95_000:].mean() > 0.8
    assert flagged.reshape(-1)[:95_000].mean() < 0.03
    assert t.details["slope_anomaly"] < t.details["slope_background"] < 0  # steeper fall-off


def test_concentration_area_needs_positive_values():
    v = np.linspace(-1, 0.5, 10_000, dtype="float32").reshape(100, 100)
    with pytest.raises(InvalidParameterError, match="needs positive values"):
        fit_threshold(as_da(v), name="nd", method="concentration_area", log=False)
