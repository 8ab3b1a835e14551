"""Windows of run layers read straight from their files equal the same windows through dask."""

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from geo.io.layers import open_run_layer, run_layer_file
from geo.targets._windows import read_windows_many

SHAPE = (37, 53)  # not a multiple of the tiles or chunks: edge windows are partial


def _write(path, values, nodata, dtype):
    profile = {
        "driver": "GTiff",
        "width": SHAPE[1],
        "height": SHAPE[0],
        "count": 1,
        "dtype": dtype,
        "crs": "EPSG:32735",
        "transform": from_origin(500_000, 7_000_000, 30, 30),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(dtype), 1)
    return path


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    """Three files: float32 with a NaN nodata, float32 with -9999, uint8 with 0."""
    folder = tmp_path_factory.mktemp("windows")
    rng = np.random.default_rng(7)
    values = rng.normal(size=SHAPE).astype("float32")
    values[3:9, 40:50] = np.nan
    sentinel = values.copy()
    sentinel[np.isnan(sentinel)] = -9999
    classes = rng.integers(0, 5, size=SHAPE)  # 0 is nodata
    return {
        "nan": _write(folder / "nan.tif", values, float("nan"), "float32"),
        "sentinel": _write(folder / "sentinel.tif", sentinel, -9999.0, "float32"),
        "classes": _write(folder / "classes.tif", classes, 0, "uint8"),
    }


def test_only_a_layer_as_opened_is_read_from_its_file(layers):
    opened = open_run_layer(layers["sentinel"], 16)
    assert run_layer_file(opened) == (str(layers["sentinel"]), True)
    assert run_layer_file(opened.rename("other")) == (str(layers["sentinel"]), True)
    assert run_layer_file(open_run_layer(layers["classes"], 16, masked=False))[1] is False
    # a layer computed from it holds other values: dask reads it
    assert run_layer_file(opened * 2) is None
    assert run_layer_file(opened.where(opened > 0)) is None
    assert run_layer_file(opened.compute()) is None


def test_a_file_opened_masked_and_not_is_read_through_dask(layers, tmp_path):
    """rioxarray gives both the same dask name: which one a name stands for is unknown."""
    import shutil

    path = shutil.copy(layers["sentinel"], tmp_path / "both.tif")
    masked = open_run_layer(path, 16)
    assert run_layer_file(masked) == (str(path), True)
    raw = open_run_layer(path, 16, masked=False)
    assert masked.data.name == raw.data.name  # why the registry cannot tell them apart
    assert run_layer_file(masked) is None and run_layer_file(raw) is None
    window = ((slice(3, 9), slice(40, 50)), None)
    [[got]] = read_windows_many([[masked]], [window])
    assert np.isnan(got).all()  # nodata, as masked reads it


windows = st.tuples(
    st.integers(0, SHAPE[0]), st.integers(0, 20), st.integers(0, SHAPE[1]), st.integers(0, 20)
).map(lambda t: (slice(t[0], min(t[0] + t[1], SHAPE[0])), slice(t[2], min(t[2] + t[3], SHAPE[1]))))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(windows, min_size=1, max_size=6), st.booleans())
def test_file_windows_equal_dask_windows(layers, wins, masked):
    opened = [open_run_layer(p, 16, masked=masked) for p in layers.values()]
    computed = [layer.compute() for layer in opened]  # in memory: read through dask slicing
    assert all(run_layer_file(c) is None for c in computed)
    pairs = [(w, None) for w in wins]
    fast = read_windows_many([opened] * len(wins), pairs)
    slow = read_windows_many([computed] * len(wins), pairs)
    for (rows, cols), got, want in zip(wins, fast, slow, strict=True):
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype == np.float64
            assert g.shape == w.shape == (rows.stop - rows.start, cols.stop - cols.start)
            np.testing.assert_array_equal(g, w)  # NaN where masked, in both
    if masked:  # the nodata pixels are NaN, as rioxarray gives them
        whole = read_windows_many([opened], [((slice(0, SHAPE[0]), slice(0, SHAPE[1])), None)])
        nan, sentinel, classes = whole[0]
        assert np.isnan(nan[3:9, 40:50]).all() and np.isnan(sentinel[3:9, 40:50]).all()
        with rasterio.open(layers["classes"]) as src:
            np.testing.assert_array_equal(np.isnan(classes), src.read(1) == 0)
