"""DN scaling kernel and decimated previews read through the files' overviews."""

import dask.array as dsa
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.enums import Resampling

from geo.export.quicklook import decimated_rgb
from geo.io._raster import scale_values
from geo.io.readers import open_scene

from .test_io_geotiff_writers import write_tif


def test_scale_values_per_band_on_chunks_matches_the_formula():
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 9, size=(3, 6, 5)).astype("uint16")
    raw[1, 2, 3] = 7  # a no-data value in band 2 only
    scales, offsets = [1e-4, 2e-4, 3e-4], [-0.1, 0.0, 0.2]
    expected = (
        raw.astype("float64") * np.array(scales)[:, None, None] + np.array(offsets)[:, None, None]
    )
    expected[(raw == 0) | (raw == 7)] = np.nan
    lazy = xr.DataArray(dsa.from_array(raw, chunks=(1, 4, 2)), dims=("band", "y", "x"))
    got = scale_values(lazy, scales, offsets, nodata=(0, 7, None))
    assert got.dtype == np.float32 and isinstance(got.data, dsa.Array)
    np.testing.assert_allclose(got.values, expected, rtol=1e-6, equal_nan=True)
    # the same on numpy input, and band by band with one scale
    np.testing.assert_array_equal(
        scale_values(xr.DataArray(raw, dims=("band", "y", "x")), scales, offsets, (0, 7)).values,
        got.values,
    )
    one = scale_values(xr.DataArray(raw[2], dims=("y", "x")), scales[2], offsets[2], (0, 7))
    np.testing.assert_array_equal(one.values, got.values[2])


def test_scale_values_keeps_float_nan_and_drops_the_raw_attributes():
    raw = xr.DataArray(np.array([[1.0, np.nan, -9999.0]]), dims=("y", "x"), attrs={"_FillValue": 0})
    out = scale_values(raw, 2.0, 1.0, nodata=(-9999.0,))
    assert out.values.tolist()[0][0] == 3.0 and np.isnan(out.values[0, 1:]).all()
    assert out.attrs == {}


@pytest.fixture
def blocky_stack(tmp_path):
    """red, green, blue: every 4 x 4 block one value (so any pixel of a block represents it),
    a no-data block, and overviews (x2, x4) like USGS and ESA files carry."""
    rng = np.random.default_rng(11)
    coarse = rng.integers(500, 9000, size=(3, 10, 15)).astype("uint16")
    coarse[:, 2, 3] = 0  # no data
    dn = np.kron(coarse, np.ones((1, 4, 4), dtype="uint16"))
    path = write_tif(tmp_path / "rgb.tif", dn, nodata=0, descriptions=["red", "green", "blue"])
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.average)
    return path


def test_preview_reads_overviews_and_equals_the_strided_reflectance(blocky_stack):
    scene = open_scene(blocky_stack, scale=1e-4, offset=0.0)
    assert set(scene.previews) == {"red", "green", "blue"}
    preview = scene.preview(["red", "green", "blue"], 4)
    strided = scene.reflectance.sel(band=["red", "green", "blue"])[:, ::4, ::4].values
    assert preview.shape == strided.shape == (3, 10, 15)
    np.testing.assert_allclose(preview, strided, rtol=1e-6, equal_nan=True)
    assert np.isnan(preview[:, 2, 3]).all() and np.isfinite(preview).sum() == 3 * 149
    # a step that does not divide the grid: ceil(40 / 3) x ceil(60 / 3), like a slice
    assert scene.preview(["blue"], 3).shape == (1, 14, 20)
    # the quicklook's sample comes from the preview when the scene has one (step 1 here:
    # the grid is below the quicklook's ~1100 px)
    steps = []

    def spy(roles, step):
        steps.append(step)
        return scene.preview(roles, step)

    rgb = decimated_rgb(scene.reflectance, preview=spy)
    assert steps == [1]
    np.testing.assert_allclose(
        rgb, scene.reflectance.sel(band=["red", "green", "blue"]).values, equal_nan=True
    )


def test_without_a_preview_source_the_reflectance_is_sliced(blocky_stack):
    scene = open_scene(blocky_stack, scale=1e-4, offset=0.0)
    assert scene.preview(["red", "nir"], 4) is None  # nir: no such band
    sliced = decimated_rgb(scene.reflectance, preview=lambda roles, step: None)
    np.testing.assert_array_equal(sliced, decimated_rgb(scene.reflectance))
