"""Tests of geo.spectral.resample (Gaussian SRF convolution) and geo.spectral.continuum."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from geo.errors import BandError, InvalidParameterError
from geo.spectral.continuum import (
    FEATURES,
    continuum_removed,
    continuum_removed_cube,
    feature_maps,
    feature_parameters,
    upper_hull,
)
from geo.spectral.resample import MIN_COVERAGE, band_set, convolve_to_bands, srf_matrix

# --------------------------------------------------------------------------------------------
# resample


def test_srf_weights_by_hand():
    # FWHM 2 -> sigma = 2 / 2.3548; the Gaussian is exactly 1/2 at ±1 and 1/16 at ±2
    weights, area = srf_matrix([0.0, 1.0, 2.0, 3.0, 4.0], [2.0], [2.0])
    np.testing.assert_allclose(weights[0], [0.5 / 16, 0.5, 1.0, 0.5, 0.5 / 16])
    sigma = 2.0 / (2 * np.sqrt(2 * np.log(2)))
    np.testing.assert_allclose(area, [sigma * np.sqrt(2 * np.pi)])


def test_convolve_hand_cases():
    wl = np.arange(1000.0, 1101.0)  # 1 nm
    # a constant stays constant, a straight line gives its value at each band centre
    np.testing.assert_allclose(
        convolve_to_bands(wl, np.full(wl.size, 0.3), [1050.0], [10.0]), [0.3]
    )
    line = 0.001 * (wl - 1000.0)
    np.testing.assert_allclose(
        convolve_to_bands(wl, line, [1030.0, 1060.0], [8.0, 12.0]), [0.03, 0.06], atol=1e-9
    )
    # a step at 1050: a band centred on it averages both sides equally
    step = np.where(wl < 1050, 0.0, 1.0)
    step[wl == 1050] = 0.5
    np.testing.assert_allclose(convolve_to_bands(wl, step, [1050.0], [10.0]), [0.5], atol=1e-9)
    # several spectra at once, last axis = wavelength
    two = np.stack([np.full(wl.size, 0.2), np.full(wl.size, 0.4)])
    np.testing.assert_allclose(convolve_to_bands(wl, two, [1050.0], [10.0]), [[0.2], [0.4]])


def test_convolve_irregular_grid_is_trapezoid_weighted():
    # dense samples on one side must not pull the band value: a line sampled unevenly
    wl = np.concatenate([np.arange(900.0, 1000.0, 0.25), np.arange(1000.0, 1101.0, 5.0)])
    line = 2.0 + 0.01 * (wl - 1000.0)
    out = convolve_to_bands(wl, line, [1000.0], [20.0])
    np.testing.assert_allclose(out, [2.0], atol=2e-3)


def test_convolve_coverage_and_nan():
    wl = np.arange(1000.0, 1101.0)
    values = np.full(wl.size, 0.5)
    values[:40] = np.nan  # no data below 1040 nm
    out = convolve_to_bands(wl, values, [1020.0, 1045.0, 1070.0, 1099.0], [10.0] * 4)
    # 1020: no data; 1045: under 95 % of the Gaussian covered; 1070: fine; 1099: past the end
    assert np.isnan(out[0]) and np.isnan(out[1]) and np.isnan(out[3])
    assert out[2] == pytest.approx(0.5)
    assert MIN_COVERAGE == 0.95


def test_convolve_bad_input():
    with pytest.raises(InvalidParameterError, match="increasing"):
        convolve_to_bands([2.0, 1.0], [1.0, 1.0], [1.5], [1.0])
    with pytest.raises(InvalidParameterError, match="fwhm"):
        convolve_to_bands([1.0, 2.0], [1.0, 1.0], [1.5], [0.0])
    with pytest.raises(InvalidParameterError, match="one value per band"):
        convolve_to_bands([1.0, 2.0], [1.0, 1.0], [1.5, 1.6], [1.0])
    with pytest.raises(InvalidParameterError, match="src_spectra"):
        convolve_to_bands([1.0, 2.0], [1.0, 1.0, 1.0], [1.5], [1.0])


@pytest.mark.parametrize(
    ("sensor", "n", "first", "last"),
    [("emit", 285, 381.0, 2493.0), ("enmap", 224, 420.0, 2450.0), ("prisma", 239, 400.0, 2505.0)],
)
def test_band_sets(sensor, n, first, last):
    bs = band_set(sensor)
    assert bs.wavelength.size == n == bs.fwhm.size == bs.good.size
    assert bs.wavelength[0] == first and bs.wavelength[-1] == last
    # water-vapour bands flagged, the Al-OH region good
    assert not bs.good[np.argmin(abs(bs.wavelength - 1400))]
    assert not bs.good[np.argmin(abs(bs.wavelength - 1880))]
    assert bs.good[np.argmin(abs(bs.wavelength - 2200))]
    with pytest.raises(InvalidParameterError, match="sensor"):
        band_set("aviris")


# --------------------------------------------------------------------------------------------
# hull, continuum removal, feature parameters


def test_hull_vertices_by_hand():
    x = [0.0, 1.0, 2.0, 3.0, 4.0]
    # vertices at x = 0, 2, 4; the dip at 1 and the equal value at 3 lie under the hull
    np.testing.assert_allclose(upper_hull(x, [1.0, 0.5, 2.0, 1.0, 1.0]), [1.0, 1.5, 2.0, 1.5, 1.0])
    # a concave-down spectrum is its own hull
    y = [0.0, 3.0, 4.0, 3.0, 0.0]
    np.testing.assert_allclose(upper_hull(x, y), y)
    # collinear points: the straight line
    np.testing.assert_allclose(upper_hull(x, [1.0, 2.0, 3.0, 4.0, 5.0]), [1, 2, 3, 4, 5])
    # vectorised over pixels, NaN spectrum -> NaN hull, others unaffected
    stack = np.array([[1.0, 0.5, 2.0, 1.0, 1.0], [1.0, np.nan, 1.0, 1.0, 1.0]])
    hull = upper_hull(x, stack)
    np.testing.assert_allclose(hull[0], [1.0, 1.5, 2.0, 1.5, 1.0])
    assert np.all(np.isnan(hull[1]))


def test_depth_on_sloped_continuum_by_hand():
    x = [0.0, 1.0, 2.0, 3.0, 4.0]
    y = [1.0, 0.8, 0.6, 0.9, 1.2]
    # hull = line from (0, 1) to (4, 1.2): 1.05, 1.1, 1.15 at x = 1, 2, 3
    cr = continuum_removed(x, y)
    np.testing.assert_allclose(cr, [1.0, 0.8 / 1.05, 0.6 / 1.1, 0.9 / 1.15, 1.0])
    p = feature_parameters(x, y)
    assert p["depth"] == pytest.approx(1 - 0.6 / 1.1)
    absorbed = 1 - cr
    assert p["area"] == pytest.approx(np.sum((absorbed[1:] + absorbed[:-1]) / 2))


def test_straight_line_has_zero_depth_and_no_position():
    x = np.arange(2100.0, 2300.0, 8.5)
    p = feature_parameters(x, 0.3 + 0.0004 * (x - 2100))
    assert p["depth"] == pytest.approx(0.0, abs=1e-12)
    assert p["area"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(p["position"])


@pytest.mark.parametrize("step", [8.0, 8.5, 9.0, 10.0])
def test_position_sub_band_accurate_on_gaussian_absorption(step):
    rng = np.random.default_rng(7)
    centres = rng.uniform(2185.0, 2225.0, 40)
    offsets = rng.uniform(0.0, step, 40)
    errors = []
    for centre, offset in zip(centres, offsets, strict=True):
        x = np.arange(2080.0 + offset, 2330.0, step)
        continuum = 0.45 + 0.0003 * (x - 2080.0)
        spectrum = continuum * (1 - 0.25 * np.exp(-0.5 * ((x - centre) / 14.0) ** 2))
        errors.append(feature_parameters(x, spectrum)["position"] - centre)
    # the nearest band alone would be off by up to step/2 = 4-5 nm
    assert np.max(np.abs(errors)) < 1.0


def test_feature_parameters_nan_and_shape():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    spectra = np.array([[[1.0, 0.5, 0.5, 1.0], [1.0, np.nan, 0.5, 1.0]]])  # (1, 2, 4)
    p = feature_parameters(x, spectra)
    assert p["depth"].shape == (1, 2)
    assert p["depth"][0, 0] == pytest.approx(0.5)
    assert p["position"][0, 0] == pytest.approx(2.5)  # flat-bottomed: the parabola centre
    assert np.isnan(p["depth"][0, 1]) and np.isnan(p["position"][0, 1])
    with pytest.raises(InvalidParameterError, match=">= 3"):
        feature_parameters([1.0, 2.0], [1.0, 1.0])


def test_catalogue_holds_the_issue_features():
    for name in ("fe3_09", "fe2_10", "aloh_22", "aloh_216", "alun_176", "feoh_226", "mgoh_233"):
        assert name in FEATURES
    assert {"carb_234", "oh_14", "h2o_19"} <= set(FEATURES)
    for feature in FEATURES.values():
        low, high = feature.window
        assert low < feature.centre < high and feature.group in {"vnir", "swir"}


# --------------------------------------------------------------------------------------------
# xarray cube wrappers


def _cube(values, wavelength, good=None, chunks=None):
    data = np.asarray(values, dtype="float32")
    coords = {
        "band": [f"b{i + 1:03d}" for i in range(data.shape[0])],
        "wavelength": ("band", np.asarray(wavelength, dtype=float)),
        "fwhm": ("band", np.full(data.shape[0], 8.5)),
        "y": np.arange(data.shape[1], dtype=float),
        "x": np.arange(data.shape[2], dtype=float),
    }
    if good is not None:
        coords["good"] = ("band", np.asarray(good, dtype=bool))
    cube = xr.DataArray(data, dims=("band", "y", "x"), coords=coords)
    if chunks:
        cube = cube.copy(data=dsa.from_array(data, chunks=(-1, chunks, chunks)))
    return cube


def _gaussian_cube(centres):
    wl = np.arange(2000.0, 2450.0, 7.5)
    spectra = [0.5 * (1 - 0.2 * np.exp(-0.5 * ((wl - c) / 12.0) ** 2)) for c in centres.ravel()]
    values = np.stack(spectra, axis=-1).reshape(wl.size, *centres.shape)
    return values, wl


def test_feature_maps_dask_equals_numpy_and_positions():
    centres = np.linspace(2190.0, 2220.0, 12).reshape(3, 4)
    values, wl = _gaussian_cube(centres)
    values[:, 0, 0] = np.nan  # nodata pixel
    eager = feature_maps(_cube(values, wl), ["aloh_22", "mgoh_233"])
    lazy = feature_maps(_cube(values, wl, chunks=2), ["aloh_22", "mgoh_233"])
    assert isinstance(lazy["bd_aloh_22"].data, dsa.Array)
    for name in eager.data_vars:
        np.testing.assert_allclose(eager[name].values, lazy[name].compute().values, equal_nan=True)
    pos = eager["pos_aloh_22"].values
    assert np.isnan(pos[0, 0])
    np.testing.assert_allclose(pos.ravel()[1:], centres.ravel()[1:], atol=1.0)
    # depth 0.2 less: the lowest band is up to 3.75 nm off the centre (-0.01), and near the
    # window edge (2250 nm) the hull rests on the absorption's tail (-0.01)
    depth = eager["bd_aloh_22"].values.ravel()[1:]
    assert np.all((depth > 0.18) & (depth <= 0.2 + 1e-6))
    assert eager.attrs["features"] == ["aloh_22", "mgoh_233"]
    assert eager["bd_aloh_22"].dtype == np.float32


def test_bad_bands_are_left_out_and_unmeasurable_features_skipped():
    wl = np.arange(1300.0, 2450.0, 7.5)
    values = np.ones((wl.size, 1, 2), dtype="float32") * 0.5
    values[:, 0, 1] *= (1 - 0.2 * np.exp(-0.5 * ((wl - 2205.0) / 12.0) ** 2))[:]
    good = ~((wl > 1340) & (wl < 1450)) & ~((wl > 1790) & (wl < 1970))
    # garbage in the bad bands must not change anything
    values[~good] = -5.0
    maps = feature_maps(_cube(values, wl, good), None)
    assert "bd_oh_14" not in maps and "bd_h2o_19" not in maps  # water bands are bad
    assert "bd_fe3_09" not in maps  # no VNIR bands at all
    assert maps["bd_aloh_22"].values[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert maps["pos_aloh_22"].values[0, 1] == pytest.approx(2205.0, abs=1.0)
    with pytest.raises(InvalidParameterError, match="near the feature centre"):
        feature_maps(_cube(values, wl, good), ["oh_14"], skip_unmeasurable=False)
    with pytest.raises(InvalidParameterError, match="good band"):
        feature_maps(_cube(values, wl, good), ["fe3_09"], skip_unmeasurable=False)


def test_continuum_removed_cube():
    values, wl = _gaussian_cube(np.array([[2205.0]]))
    cr = continuum_removed_cube(_cube(values, wl, chunks=1), (2100.0, 2300.0))
    assert cr.dims == ("band", "y", "x")
    assert float(cr.min()) == pytest.approx(0.8, abs=0.01)
    assert float(cr.max()) == pytest.approx(1.0)
    assert cr["wavelength"].values.min() >= 2100


def test_cube_errors():
    values, wl = _gaussian_cube(np.array([[2205.0]]))
    cube = _cube(values, wl)
    with pytest.raises(InvalidParameterError, match="Unknown feature"):
        feature_maps(cube, ["aloh_99"])
    with pytest.raises(InvalidParameterError, match="dims"):
        feature_maps(cube.transpose("y", "x", "band"), ["aloh_22"])
    with pytest.raises(BandError, match="wavelength"):
        feature_maps(cube.drop_vars("wavelength"), ["aloh_22"])
    # a cube listed longest wavelength first keeps only its first band: nothing measurable
    with pytest.raises(InvalidParameterError, match="good band"):
        feature_maps(
            cube.assign_coords(wavelength=("band", wl[::-1])), ["aloh_22"], skip_unmeasurable=False
        )


def test_detector_overlap_bands_used_once():
    # EnMAP-like: VNIR to 1000 nm, then SWIR again from 900 nm with an offset calibration
    bs = band_set("enmap")
    spectrum = 0.3 + 0.0001 * (bs.wavelength - 400)
    spectrum = spectrum * (1 - 0.3 * np.exp(-0.5 * ((bs.wavelength - 900) / 60) ** 2))
    swir = np.arange(bs.wavelength.size) >= 91
    spectrum[swir] *= 1.05  # a detector step the overlap must not turn into features
    cube = _cube(spectrum[:, None, None], bs.wavelength, bs.good)
    maps = feature_maps(cube, ["fe3_09"])
    assert maps["pos_fe3_09"].values[0, 0] == pytest.approx(900.0, abs=3.0)
