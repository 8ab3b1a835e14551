"""Data-driven prospectivity (LR, RF), negative sampling and hold-out prediction-rate curves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from geo.errors import GeoWarning, GridMismatchError, InvalidParameterError
from geo.prospectivity import (
    area_capture,
    curve_auc,
    success_rate_curve,
    wofe_posterior,
    wofe_weights,
)
from geo.prospectivity.modelling import (
    HoldoutResult,
    ProspectivityModel,
    fit_prospectivity,
    holdout_prediction_rate,
    sample_negatives,
)
from geo.testing import make_raster

# --------------------------------------------------------------------------------------
# sample_negatives
# --------------------------------------------------------------------------------------


def _min_distance(cells: np.ndarray, deposits: np.ndarray) -> np.ndarray:
    """Brute-force Euclidean distance (pixels) of each cell to the nearest deposit."""
    rc = np.argwhere(cells)[:, None, :]
    dep = np.argwhere(deposits)[None, :, :]
    return np.sqrt(((rc - dep) ** 2).sum(axis=-1)).min(axis=1)


def test_sample_negatives_hand_example_only_cells_beyond_buffer():
    dep = np.zeros((1, 10), bool)
    dep[0, 0] = True
    # distances 1..9 to the deposit; > 6 leaves exactly columns 7, 8, 9
    assert np.flatnonzero(sample_negatives(dep, buffer_px=6, n=3)).tolist() == [7, 8, 9]
    with pytest.raises(InvalidParameterError, match=r"4 negatives requested.*only 3 valid cell"):
        sample_negatives(dep, buffer_px=6, n=4)


def test_sample_negatives_respects_buffer_count_and_valid():
    rng = np.random.default_rng(1)
    dep = np.zeros((40, 40), bool)
    dep[rng.integers(0, 40, 6), rng.integers(0, 40, 6)] = True
    valid = np.ones((40, 40), bool)
    valid[:, :5] = False
    neg = sample_negatives(dep, valid=valid, buffer_px=4.5, n=150, random_state=3)
    assert neg.dtype == bool and neg.shape == (40, 40)
    assert int(neg.sum()) == 150
    assert not (neg & dep).any()
    assert not neg[:, :5].any()
    assert _min_distance(neg, dep).min() > 4.5


def test_sample_negatives_default_count_is_ratio_times_deposits():
    dep = np.zeros((30, 30), bool)
    dep[[3, 15, 25], [3, 15, 25]] = True
    assert int(sample_negatives(dep, buffer_px=2, ratio=4).sum()) == 12
    assert int(sample_negatives(dep, buffer_px=2).sum()) == 30  # default ratio 10


def test_sample_negatives_is_deterministic_for_a_seed():
    dep = np.zeros((30, 30), bool)
    dep[10, 10] = True
    a = sample_negatives(dep, buffer_px=3, n=20, random_state=7)
    b = sample_negatives(dep, buffer_px=3, n=20, random_state=7)
    c = sample_negatives(dep, buffer_px=3, n=20, random_state=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_negatives_buffers_deposits_outside_the_study_area():
    dep = np.zeros((1, 10), bool)
    dep[0, [0, 9]] = True
    valid = np.ones((1, 10), bool)
    valid[0, 9] = False  # the deposit at column 9 is outside, but still excludes its buffer
    neg = sample_negatives(dep, valid=valid, buffer_px=2, n=4)
    assert np.flatnonzero(neg).tolist() == [3, 4, 5, 6]


def test_sample_negatives_errors():
    dep = np.zeros((5, 5), bool)
    with pytest.raises(InvalidParameterError, match="no deposit cell inside the study area"):
        sample_negatives(dep, buffer_px=1)
    dep[2, 2] = True
    with pytest.raises(InvalidParameterError, match=r"buffer_px=10.*Lower buffer_px"):
        sample_negatives(dep, buffer_px=10, n=1)
    with pytest.raises(InvalidParameterError, match=r"'buffer_px'.*>= 0\. Got -1"):
        sample_negatives(dep, buffer_px=-1)
    with pytest.raises(InvalidParameterError, match=r"'n' parameter.*Got 0"):
        sample_negatives(dep, buffer_px=1, n=0)
    with pytest.raises(InvalidParameterError, match=r"'ratio' parameter.*Got -2"):
        sample_negatives(dep, buffer_px=1, ratio=-2)
    with pytest.raises(GridMismatchError, match="share one pixel grid"):
        sample_negatives(dep, valid=np.ones((4, 5), bool), buffer_px=1)


# --------------------------------------------------------------------------------------
# fit_prospectivity / ProspectivityModel
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    """60×60 grid: deposits sit on a square 'alteration' anomaly; 'noise' is pure noise."""
    rng = np.random.default_rng(42)
    shape = (60, 60)
    anomaly = np.zeros(shape, bool)
    anomaly[10:25, 10:25] = True
    alteration = anomaly * 2.0 + rng.normal(0, 0.5, shape)
    noise = rng.normal(0, 1, shape)
    dep = np.zeros(shape, bool)
    cells = rng.choice(np.flatnonzero(anomaly), size=20, replace=False)
    dep.flat[cells] = True
    return {"alteration": alteration, "noise": noise}, dep, anomaly


def test_logistic_regression_finds_the_informative_layer(synthetic):
    layers, dep, anomaly = synthetic
    model = fit_prospectivity(layers, dep, method="logistic", buffer_px=2, random_state=0)
    assert isinstance(model, ProspectivityModel)
    assert model.method == "logistic"
    assert model.feature_names == ("alteration", "noise")
    assert (model.n_positive, model.n_negative) == (20, 200)
    coef = model.coefficients()
    assert coef.index.tolist() == ["alteration", "noise"]
    assert coef["alteration"] > 1.0
    assert abs(coef["noise"]) < 0.25 * coef["alteration"]  # sampling noise only (~0.5 here)
    p = model.predict(layers)
    assert p.dtype == np.float32 and p.shape == anomaly.shape
    assert np.nanmin(p) >= 0 and np.nanmax(p) <= 1
    assert p[anomaly].mean() > p[~anomaly].mean() + 0.5


def test_random_forest_is_deterministic_for_a_seed(synthetic):
    layers, dep, anomaly = synthetic
    a = fit_prospectivity(layers, dep, method="random_forest", random_state=5)
    b = fit_prospectivity(layers, dep, method="random_forest", random_state=5)
    assert a.estimator.n_estimators == 300
    assert a.estimator.min_samples_leaf == 2
    pa, pb = a.predict(layers), b.predict(layers)
    np.testing.assert_array_equal(pa, pb)
    imp = a.importances()
    assert imp.sum() == pytest.approx(1.0)
    assert imp["alteration"] > imp["noise"]
    assert pa[anomaly].mean() > pa[~anomaly].mean()
    c = fit_prospectivity(
        layers, dep, method="random_forest", random_state=6, estimator_params={"n_estimators": 20}
    )
    assert c.estimator.n_estimators == 20
    assert not np.array_equal(c.predict(layers), pa)


def test_predict_chunks_nan_valid_and_dataarray(synthetic):
    layers, dep, _ = synthetic
    model = fit_prospectivity(layers, dep, method="logistic", buffer_px=2)
    alteration = layers["alteration"].copy()
    alteration[0, 0] = np.nan
    valid = np.ones(dep.shape, bool)
    valid[:, -3:] = False
    raster = make_raster(alteration, name="alteration")
    noise = make_raster(layers["noise"], name="noise")
    whole = model.predict({"noise": noise, "alteration": raster}, valid=valid)
    chunked = model.predict({"alteration": raster, "noise": noise}, valid=valid, chunk_rows=7)
    np.testing.assert_array_equal(whole.values, chunked.values)
    assert whole.name == "prospectivity" and whole.dtype == np.float32
    assert whole.rio.crs == raster.rio.crs
    np.testing.assert_array_equal(whole.x.values, raster.x.values)
    assert np.isnan(whole.values[0, 0]) and np.isnan(whole.values[:, -3:]).all()
    assert np.isfinite(whole.values[1:, :-3]).all()
    plain = model.predict({"alteration": alteration, "noise": layers["noise"]}, valid=valid)
    assert isinstance(plain, np.ndarray)
    np.testing.assert_allclose(plain, whole.values, rtol=1e-5)  # make_raster is float32


def test_fit_drops_deposits_with_nan_features(synthetic):
    layers, dep, _ = synthetic
    alteration = layers["alteration"].copy()
    first = np.argwhere(dep)[0]
    alteration[tuple(first)] = np.nan
    with pytest.warns(GeoWarning, match="1 of 20 deposit cell"):
        model = fit_prospectivity(
            {"alteration": alteration, "noise": layers["noise"]},
            dep,
            method="logistic",
            negatives_ratio=3,
        )
    assert (model.n_positive, model.n_negative) == (19, 57)


def test_fit_and_model_errors(synthetic):
    layers, dep, _ = synthetic
    with pytest.raises(
        InvalidParameterError, match=r"'method'.*\['logistic', 'random_forest'\].*'svm'"
    ):
        fit_prospectivity(layers, dep, method="svm")
    with pytest.raises(InvalidParameterError, match=r"'layers'.*non-empty mapping"):
        fit_prospectivity({}, dep, method="logistic")
    with pytest.raises(GridMismatchError, match="share one pixel grid"):
        fit_prospectivity({"a": np.zeros((5, 5))}, dep, method="logistic")
    with pytest.raises(InvalidParameterError, match="no deposit cell inside the study area"):
        fit_prospectivity(layers, np.zeros(dep.shape, bool), method="logistic")
    nan_layers = {"a": np.full(dep.shape, np.nan)}
    with pytest.raises(InvalidParameterError, match="none of the 20 deposit cell"):
        fit_prospectivity(nan_layers, dep, method="logistic")
    model = fit_prospectivity(layers, dep, method="logistic", negatives_ratio=2)
    with pytest.raises(InvalidParameterError, match=r"method='random_forest'.*coefficients"):
        model.importances()
    with pytest.raises(InvalidParameterError, match=r"Missing \['noise'\]"):
        model.predict({"alteration": layers["alteration"]})
    with pytest.raises(InvalidParameterError, match=r"'chunk_rows'.*Got 0"):
        model.predict(layers, chunk_rows=0)
    rf = fit_prospectivity(
        layers, dep, method="random_forest", estimator_params={"n_estimators": 5}
    )
    with pytest.raises(InvalidParameterError, match=r"method='logistic'.*importances"):
        rf.coefficients()


# --------------------------------------------------------------------------------------
# holdout_prediction_rate
# --------------------------------------------------------------------------------------


def test_holdout_ranks_on_a_fixed_row_with_ties():
    # area ranks by hand, N = 10: score 5 (col 1) is tied with col 0 -> interval [0, 0.2];
    # score 3 (col 4): 3 cells above, 3 tied -> [0.3, 0.6]; score 1 (col 8): 7 above,
    # 2 tied -> [0.7, 0.9]. area_rank is the interval middle.
    score = np.array([[5.0, 5, 4, 3, 3, 3, 2, 1, 1, 0]])
    dep = np.zeros((1, 10), bool)
    dep[0, [1, 4, 8]] = True
    res = holdout_prediction_rate(lambda train: score, dep, scheme="leave_one_out")
    assert isinstance(res, HoldoutResult)
    assert res.scheme == "leave_one_out" and res.n_folds == 3
    table = res.per_deposit
    assert table[["row", "col", "fold"]].values.tolist() == [[0, 1, 0], [0, 4, 1], [0, 8, 2]]
    np.testing.assert_allclose(table["area_rank"], [0.1, 0.45, 0.8])
    np.testing.assert_allclose(table["score"], [5, 3, 1])
    assert res.auc == pytest.approx(1 - (0.1 + 0.45 + 0.8) / 3)
    np.testing.assert_allclose(res.area_fraction, [0, 0.2, 0.3, 0.6, 0.7, 0.9, 1.0])
    np.testing.assert_allclose(res.deposit_fraction, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])


def test_holdout_with_a_static_score_equals_the_success_rate_curve():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 6, (12, 15)).astype(float)  # many ties
    score[0, 0] = np.nan
    dep = rng.random((12, 15)) < 0.1
    valid = np.ones((12, 15), bool)
    valid[-1] = False
    res = holdout_prediction_rate(lambda train: score, dep, valid=valid)
    area, captured = success_rate_curve(score, dep & np.isfinite(score), valid=valid)
    grid = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(
        np.interp(grid, res.area_fraction, res.deposit_fraction),
        np.interp(grid, area, captured),
        atol=1e-12,
    )
    assert res.auc == pytest.approx(curve_auc(area, captured))
    assert res.auc == pytest.approx(1 - res.per_deposit["area_rank"].mean())
    expected = area_capture(score, dep & np.isfinite(score), valid=valid)
    assert res.capture == pytest.approx(expected)
    assert list(res.capture) == [0.05, 0.1, 0.2]


def test_holdout_refits_on_training_deposits_only():
    # score = −distance to the nearest *training* deposit, on a 1×10 row
    dep = np.zeros((1, 10), bool)
    dep[0, [2, 3, 8]] = True
    seen = []

    def fit_score(train):
        seen.append(np.flatnonzero(train).tolist())
        cols = np.flatnonzero(train)
        return -np.abs(np.arange(10)[:, None] - cols[None, :]).min(axis=1)[None, :].astype(float)

    res = holdout_prediction_rate(fit_score, dep)
    assert seen == [[3, 8], [2, 8], [2, 3]]
    # hold out col 2: two cells score 0, four tie at −1 -> (2 + 4/2) / 10 = 0.4; col 3 the
    # same; col 8 (distance 5): 8 cells above, itself alone -> (8 + 0.5) / 10 = 0.85
    np.testing.assert_allclose(res.per_deposit["area_rank"], [0.4, 0.4, 0.85])
    assert res.auc == pytest.approx(1 - (0.4 + 0.4 + 0.85) / 3)
    np.testing.assert_allclose(res.area_fraction, [0, 0.2, 0.6, 0.8, 0.9, 1])
    np.testing.assert_allclose(res.deposit_fraction, [0, 0, 2 / 3, 2 / 3, 1, 1])
    assert res.capture[0.2] == 0.0


def test_holdout_blocks_hold_out_whole_blocks():
    dep = np.zeros((10, 10), bool)
    cells = [(0, 0), (1, 1), (2, 7), (7, 7), (8, 8)]  # blocks 0, 0, 1, 3, 3 (block 2 empty)
    for r, c in cells:
        dep[r, c] = True
    seen = []

    def fit_score(train):
        seen.append(int(train.sum()))
        return np.arange(100.0).reshape(10, 10)

    res = holdout_prediction_rate(fit_score, dep, scheme="blocks", block_size_px=5)
    assert res.n_folds == 3 and res.block_size_px == 5
    table = res.per_deposit
    assert list(zip(table["row"], table["col"], strict=True)) == cells
    assert table["fold"].tolist() == [0, 0, 1, 2, 2]
    assert seen == [3, 4, 3]  # 5 deposits minus the 2, 1 and 2 held out
    same = holdout_prediction_rate(fit_score, dep, scheme="blocks", n_blocks=2)
    assert same.per_deposit["fold"].tolist() == [0, 0, 1, 2, 2]
    assert same.auc == res.auc


def test_holdout_with_weights_of_evidence_refit():
    pattern = np.zeros((20, 20), bool)
    pattern[:6] = True
    dep = np.zeros((20, 20), bool)
    dep[[0, 1, 2, 3, 4, 5], [1, 5, 9, 13, 17, 3]] = True
    dep[[15, 17], [4, 12]] = True  # two off the pattern, so W⁻ stays defined in every fold

    def fit_score(train):
        w = wofe_weights(pattern, train)
        post, _ = wofe_posterior({"p": pattern}, {"p": w}, prior=w["prior"])
        return post

    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoWarning)
        res = holdout_prediction_rate(fit_score, dep)
    assert res.n_folds == 8
    # the pattern (120 of 400 cells) always scores highest: its deposits rank at 0.3 / 2
    on = res.per_deposit["row"] < 6
    np.testing.assert_allclose(res.per_deposit.loc[on, "area_rank"], 0.15)
    assert res.auc > 0.7


def test_holdout_nan_score_at_a_held_out_deposit_is_left_out():
    score = np.arange(10.0, 0.0, -1.0)[None, :]
    score[0, 5] = np.nan
    dep = np.zeros((1, 10), bool)
    dep[0, [0, 5, 9]] = True
    with pytest.warns(GeoWarning, match="1 of 3 held-out deposit"):
        res = holdout_prediction_rate(lambda train: score, dep)
    assert np.isnan(res.per_deposit["area_rank"][1])
    np.testing.assert_allclose(res.per_deposit["area_rank"][[0, 2]], [1 / 18, 17 / 18])


def test_holdout_passes_a_dataarray_training_mask():
    dep = make_raster(np.array([[1.0, 0, 0, 1]]), name="deposits")
    kinds = []

    def fit_score(train):
        kinds.append((type(train).__name__, train.dtype.name))
        return np.array([[4.0, 3, 2, 1]])

    holdout_prediction_rate(fit_score, dep)
    assert kinds == [("DataArray", "bool")] * 2


def test_holdout_errors():
    dep = np.zeros((10, 10), bool)
    score = np.zeros((10, 10))
    with pytest.raises(InvalidParameterError, match=r"at least 2 deposit cells.*Got 0"):
        holdout_prediction_rate(lambda t: score, dep)
    dep[1, 1] = dep[2, 2] = True
    with pytest.raises(InvalidParameterError, match=r"'scheme'.*'kfold'"):
        holdout_prediction_rate(lambda t: score, dep, scheme="kfold")
    with pytest.raises(InvalidParameterError, match="exactly one of 'block_size_px' or 'n_blocks'"):
        holdout_prediction_rate(lambda t: score, dep, scheme="blocks")
    with pytest.raises(InvalidParameterError, match="apply to scheme='blocks' only"):
        holdout_prediction_rate(lambda t: score, dep, block_size_px=3)
    with pytest.raises(InvalidParameterError, match=r"all 2 deposits fall in one block of 5 px"):
        holdout_prediction_rate(lambda t: score, dep, scheme="blocks", block_size_px=5)
    with pytest.raises(InvalidParameterError, match=r"'block_size_px'.*int >= 1.*Got 0"):
        holdout_prediction_rate(lambda t: score, dep, scheme="blocks", block_size_px=0)
    with pytest.raises(InvalidParameterError, match=r"shape \(10, 10\).*Got shape \(3, 3\)"):
        holdout_prediction_rate(lambda t: np.zeros((3, 3)), dep)
    with pytest.raises(InvalidParameterError, match="no held-out deposit has a finite score"):
        holdout_prediction_rate(lambda t: np.full((10, 10), np.nan), dep)
    with pytest.raises(InvalidParameterError, match=r"'fit_score'.*callable"):
        holdout_prediction_rate(score, dep)
    with pytest.raises(InvalidParameterError, match=r"'fractions'.*\[1.5\]"):
        holdout_prediction_rate(lambda t: score, dep, fractions=[1.5])
    with pytest.raises(GridMismatchError, match="share one pixel grid"):
        holdout_prediction_rate(lambda t: score, dep, valid=np.ones((9, 10), bool))
