"""Tests of geo.spectral.mnf (MNF) and the full-resolution SAM / matched filter of geo.spectral.sam."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from geo.errors import InvalidParameterError, TooFewPixelsError
from geo.spectral.minerals import library_at_bands
from geo.spectral.mnf import fit_mnf, mnf_denoise, mnf_transform
from geo.spectral.resample import band_set
from geo.spectral.sam import hyperspectral_library, matched_filter, sam_classify


def _cube(values, wavelength=None, good=None, chunks=None, fwhm=None):
    values = np.asarray(values, dtype="float32")
    n_band = values.shape[0]
    coords = {
        "band": [f"b{i + 1:03d}" for i in range(n_band)],
        "y": np.arange(values.shape[1]) + 0.5,
        "x": np.arange(values.shape[2]) + 0.5,
    }
    if wavelength is not None:
        coords["wavelength"] = ("band", np.asarray(wavelength, float))
        coords["fwhm"] = ("band", np.full(n_band, 8.5) if fwhm is None else np.asarray(fwhm))
    if good is not None:
        coords["good"] = ("band", np.asarray(good, bool))
    data = dsa.from_array(values, chunks=(-1, chunks, chunks)) if chunks else values
    return xr.DataArray(data, dims=("band", "y", "x"), coords=coords)


def _endmember_scene(n_y=64, n_x=64, n_band=40, k=3, sigma=None, seed=0, run=32):
    """k smooth endmembers mixed with random abundances, plus white noise (band-dependent).

    Abundances change freely along ``y`` but only every ``run`` columns along ``x`` (at the
    chunk edges): horizontal neighbour differences inside a chunk then hold noise only, so the
    shift-difference estimate must find exactly the noise put in.
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, n_band)
    endmembers = np.stack(
        [0.3 + 0.2 * np.sin(2 * np.pi * (j + 1) * grid + j) for j in range(k)]
    )  # (k, B)
    fields = rng.uniform(0.1, 1.0, (k, n_y, -(-n_x // run))).repeat(run, axis=2)[:, :, :n_x]
    clean = np.einsum("kb,kyx->byx", endmembers, fields)
    sigma = np.linspace(0.002, 0.01, n_band) if sigma is None else sigma
    noisy = clean + rng.normal(size=clean.shape) * np.asarray(sigma)[:, None, None]
    return clean, noisy


def test_mnf_signal_components_and_noise_eigenvalues():
    _, noisy = _endmember_scene()
    result = fit_mnf(_cube(noisy, chunks=32))
    ev = result.eigenvalues
    assert np.all(ev[:3] > 50)  # signal: SNR + 1 >> 1
    assert np.all((ev[3:] > 0.7) & (ev[3:] < 1.4))  # pure noise: ~1 in noise units
    assert result.n_signal() == 3
    assert result.n_pixels == 64 * 64
    assert result.n_noise_pairs == 64 * 62  # pairs within two 32-wide chunks per row
    # the noise covariance found is the one put in (diagonal, variance sigma²)
    sigma = np.linspace(0.002, 0.01, 40)
    np.testing.assert_allclose(np.sqrt(np.diag(result.noise_covariance)), sigma, rtol=0.15)
    # transform and inverse are inverses
    np.testing.assert_allclose(result.transform @ result.inverse, np.eye(40), atol=1e-6)


def test_mnf_dask_equals_numpy_and_transform():
    _, noisy = _endmember_scene(seed=1)
    eager = fit_mnf(_cube(noisy))
    lazy_cube = _cube(noisy, chunks=16)
    lazy = fit_mnf(lazy_cube)
    np.testing.assert_allclose(eager.mean, lazy.mean, rtol=1e-10)
    np.testing.assert_allclose(eager.covariance, lazy.covariance, rtol=1e-8)
    components = mnf_transform(lazy_cube, lazy, n_components=4)
    assert isinstance(components.data, dsa.Array)
    assert components.dims == ("component", "y", "x")
    assert list(components["component"].values) == ["MNF1", "MNF2", "MNF3", "MNF4"]
    values = components.values.reshape(4, -1)
    # components are uncorrelated with variance = eigenvalue (data covariance is the fitted one
    # up to the chunking of the noise pairs, which does not enter here)
    np.testing.assert_allclose(values.var(axis=1, ddof=1), lazy.eigenvalues[:4], rtol=1e-3)
    corr = np.corrcoef(values)
    assert np.max(np.abs(corr - np.eye(4))) < 1e-3


def test_mnf_denoise_removes_noise_and_keeps_bad_bands():
    clean, noisy = _endmember_scene(seed=2)
    good = np.ones(40, bool)
    good[[5, 6]] = False
    noisy[5:7] = -1.0  # bad-band garbage must not enter the statistics or be changed
    cube = _cube(noisy, good=good, chunks=32)
    result = fit_mnf(cube)
    assert len(result.bands) == 38 and "b006" not in result.bands
    denoised = mnf_denoise(cube, result, result.n_signal())
    assert denoised.dims == cube.dims and denoised.shape == cube.shape
    out = denoised.values
    np.testing.assert_array_equal(out[5:7], -1.0)
    keep = np.flatnonzero(good)
    before = np.sqrt(np.mean((noisy[keep] - clean[keep]) ** 2))
    after = np.sqrt(np.mean((out[keep] - clean[keep]) ** 2))
    assert after < before / 3


def test_mnf_nan_pixels_and_errors():
    _, noisy = _endmember_scene(n_y=16, n_x=16, n_band=10, seed=3)
    noisy[:, 0, 0] = np.nan
    cube = _cube(noisy)
    result = fit_mnf(cube)
    assert result.n_pixels == 16 * 16 - 1
    assert np.isnan(mnf_transform(cube, result).values[:, 0, 0]).all()
    valid = xr.DataArray(np.zeros((16, 16), bool), dims=("y", "x"))
    with pytest.raises(TooFewPixelsError, match="valid pixels"):
        fit_mnf(cube, valid=valid)
    with pytest.raises(InvalidParameterError, match="n_components"):
        mnf_transform(cube, result, n_components=0)
    with pytest.raises(InvalidParameterError, match="lacks"):
        mnf_transform(cube.isel(band=slice(0, 5)), result)
    with pytest.raises(InvalidParameterError, match="dims"):
        fit_mnf(cube.transpose("y", "x", "band"))


# --------------------------------------------------------------------------------------------
# matched filter and SAM at full spectral resolution


def test_matched_filter_finds_implanted_target():
    bs = band_set("emit")
    table = library_at_bands(bs.wavelength, bs.fwhm).set_index("name")
    names = list(table.index)
    used = [names.index(k) for k in ("montmorillonite_swy1", "calcite_ws272", "alunite_hs295")]
    spectra = table.iloc[:, 3:].to_numpy(float)
    keep = bs.good & np.all(np.isfinite(spectra[used]), axis=0)
    spectra = spectra[:, keep]
    background = [spectra[names.index(k)] for k in ("montmorillonite_swy1", "calcite_ws272")]
    target = spectra[names.index("alunite_hs295")]
    rng = np.random.default_rng(5)
    n_y, n_x = 40, 40
    frac = rng.uniform(0, 1, (n_y, n_x))
    brightness = rng.uniform(0.8, 1.2, (n_y, n_x))
    cube = (frac[..., None] * background[0] + (1 - frac[..., None]) * background[1]) * brightness[
        ..., None
    ]
    implanted = [(3, 4), (10, 30), (25, 7), (33, 33)]
    for y, x in implanted:
        cube[y, x] = 0.5 * cube[y, x] + 0.5 * target
    cube = cube + rng.normal(size=cube.shape) * 0.002
    values = np.moveaxis(cube, -1, 0)
    labels = [f"b{i + 1:03d}" for i in np.flatnonzero(keep)]
    da = _cube(values, chunks=20).assign_coords(band=labels)
    score = matched_filter(da, dict(zip(labels, target, strict=True)))
    assert isinstance(score.data, dsa.Array)
    out = score.values
    hits = np.array([out[y, x] for y, x in implanted])
    mask = np.ones(out.shape, bool)
    for y, x in implanted:
        mask[y, x] = False
    assert np.all(np.abs(hits - 0.5) < 0.15)
    assert np.abs(out[mask]).max() < 0.1
    assert score.attrs["n_background"] == n_y * n_x
    with pytest.raises(InvalidParameterError, match="names no band"):
        matched_filter(da, {})
    with pytest.raises(InvalidParameterError, match="finite"):
        matched_filter(da, {labels[0]: np.nan})


def test_sam_classify_at_full_spectral_resolution():
    bs = band_set("emit")
    table = library_at_bands(bs.wavelength, bs.fwhm).set_index("name")
    keys = ["kaolinite_cm9", "calcite_ws272", "hematite_gds27", "green_vegetation_gds91"]
    values = np.stack([0.7 * table.loc[k].iloc[3:].to_numpy(float) for k in keys], -1)
    values = values.reshape(285, 2, 2)
    values[~bs.good] = np.nan  # bad bands hold no data in products; they must be skipped
    cube = _cube(values, bs.wavelength, bs.good, fwhm=bs.fwhm)
    lib, bands = hyperspectral_library(cube)
    # every good band but those beyond the library's 400-2498 nm ends (EMIT starts at 381 nm)
    good_labels = [f"b{i + 1:03d}" for i in np.flatnonzero(bs.good)]
    assert set(bands) <= set(good_labels)
    dropped = [bs.wavelength[int(b[1:]) - 1] for b in good_labels if b not in bands]
    assert dropped and all(w < 405 or w > 2485 for w in dropped)
    assert "alunite_na_gds84" not in set(lib["name"])  # SWIR-only record dropped
    out = sam_classify(cube, "hyperspectral")
    names = out.best_name.attrs["codes"]
    groups = out.best_group.attrs["codes"]
    assert [names[int(c)] for c in out.best_name.values.ravel()] == keys
    assert [groups[int(c)] for c in out.best_group.values.ravel()] == [
        "aloh_clay",
        "mgoh_carbonate",
        "iron_oxide",
        "vegetation",
    ]
    np.testing.assert_allclose(out.angle.values, 0.0, atol=1e-3)
    with pytest.raises(InvalidParameterError, match="fwhm"):
        sam_classify(cube.drop_vars("fwhm"), "hyperspectral")
