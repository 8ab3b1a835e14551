"""Minimum Noise Fraction (MNF) transform of imaging-spectrometer cubes, chunk-wise.

MNF (Green et al. 1988, IEEE Trans. Geosci. Remote Sens. 26(1), 65-74,
doi:10.1109/36.3001; Lee et al. 1990 "noise-adjusted principal components") orders
components by signal-to-noise ratio instead of variance:

1. **noise** is estimated from shift differences of neighbouring pixels along ``x``:
   ``d = s(y, x) - s(y, x + 1)``; for spatially smooth signal and independent noise,
   ``cov(d) = 2 Σ_N``, so ``Σ_N = cov(d) / 2``;
2. the data are **noise-whitened** with ``Σ_N = U D Uᵀ``: ``W = U D^{-1/2}`` makes the noise
   covariance the identity;
3. a **PCA** of the whitened data covariance ``Wᵀ Σ W = V Λ Vᵀ`` gives the components
   ``z = (s - μ) W V``, with eigenvalues ``Λ`` in noise units: ~1 for pure-noise components,
   ``1 + SNR`` for components holding signal.

Statistics are streamed over the dask chunks (pixel count, mean and centred cross-products
merged exactly, :func:`geo.spectral.pca.streaming_covariance`'s method), reading the cube once;
applying the transform is a second, lazy pass. Only good bands (``good`` coordinate) with
finite values enter; a pixel with any NaN band is left out of the statistics and is NaN in
the outputs. Denoising keeps the first ``k`` components and transforms back.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from geo.errors import GridMismatchError, InvalidParameterError, TooFewPixelsError
from geo.spectral.pca import MIN_PIXELS, _chunk_moments, _combine_moments

__all__ = ["MNFResult", "fit_mnf", "mnf_denoise", "mnf_transform"]


@dataclass(frozen=True)
class MNFResult:
    """A fitted MNF transform.

    Attributes
    ----------
    bands : tuple of str
        ``band`` labels used, in the row order of the matrices.
    mean : numpy.ndarray
        ``(B,)`` band means.
    covariance, noise_covariance : numpy.ndarray
        ``(B, B)`` data and noise covariances.
    eigenvalues : numpy.ndarray
        ``(B,)`` descending: component variance in noise units (SNR + 1).
    transform : numpy.ndarray
        ``(B, B)``; column ``j`` maps centred spectra to component ``j + 1``.
    inverse : numpy.ndarray
        ``(B, B)``; ``z @ inverse + mean`` gives spectra back.
    n_pixels, n_noise_pairs : int
        Pixels and neighbour pairs the statistics used.
    """

    bands: tuple[str, ...]
    mean: np.ndarray
    covariance: np.ndarray
    noise_covariance: np.ndarray
    eigenvalues: np.ndarray
    transform: np.ndarray
    inverse: np.ndarray
    n_pixels: int
    n_noise_pairs: int

    def n_signal(self, threshold: float = 2.0) -> int:
        """Count the components whose eigenvalue (SNR + 1) exceeds ``threshold``."""
        return int(np.sum(self.eigenvalues > threshold))


def _shift_moments(block: np.ndarray, valid: np.ndarray | None):
    """Moments of horizontal neighbour differences of a ``(B, y, x)`` block."""
    diff = block[:, :, 1:].astype("float64") - block[:, :, :-1]
    ok = None
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        ok = v[:, 1:] & v[:, :-1]
    return _chunk_moments(diff, ok)


def _used_bands(spectra: xr.DataArray) -> np.ndarray:
    if spectra.dims != ("band", "y", "x"):
        raise InvalidParameterError(
            f"The spectra cube must have dims ('band', 'y', 'x'); got {spectra.dims}."
        )
    if "good" in spectra.coords:
        return np.flatnonzero(np.asarray(spectra["good"].values, dtype=bool))
    return np.arange(spectra.sizes["band"])


def fit_mnf(spectra: xr.DataArray, *, valid: xr.DataArray | None = None) -> MNFResult:
    """Fit an MNF transform on a spectra cube in one chunk-wise pass.

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance, numpy or dask backed (all bands in one chunk keeps
        memory at one chunk per worker); bands with ``good`` False are left out.
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels allowed in the statistics (masks, area of interest).

    Returns
    -------
    MNFResult

    Raises
    ------
    InvalidParameterError
        Wrong dims.
    GridMismatchError
        ``valid`` not on the cube's grid.
    TooFewPixelsError
        Fewer than :data:`geo.spectral.pca.MIN_PIXELS` valid pixels, fewer neighbour pairs, or
        fewer pixels than bands.
    """
    index = _used_bands(spectra)
    sub = spectra.isel(band=index)
    data = sub.data if isinstance(sub.data, dsa.Array) else dsa.from_array(sub.data)
    data = data.rechunk({0: -1})
    blocks = data.to_delayed()[0].ravel()
    if valid is None:
        masks = [None] * len(blocks)
    else:
        if valid.shape != (sub.sizes["y"], sub.sizes["x"]):
            raise GridMismatchError(
                f"The 'valid' mask must be (y, x) = {(sub.sizes['y'], sub.sizes['x'])}; got "
                f"{valid.shape}."
            )
        mask = valid.transpose("y", "x").data
        mask = mask if isinstance(mask, dsa.Array) else dsa.from_array(mask)
        masks = list(mask.astype(bool).rechunk(data.chunks[1:]).to_delayed().ravel())
    moments = dask.delayed(_chunk_moments, pure=True)
    shifts = dask.delayed(_shift_moments, pure=True)
    parts = dask.compute(
        *[moments(b, m) for b, m in zip(blocks, masks, strict=True)],
        *[shifts(b, m) for b, m in zip(blocks, masks, strict=True)],
    )
    n, mean, m2 = _combine_moments(list(parts[: len(blocks)]))
    n_noise, _, m2_noise = _combine_moments(list(parts[len(blocks) :]))
    k = index.size
    if n < max(MIN_PIXELS, k + 1) or n_noise < max(MIN_PIXELS, k + 1):
        raise TooFewPixelsError(
            f"MNF needs at least {max(MIN_PIXELS, k + 1)} valid pixels and neighbour pairs for "
            f"{k} bands; got {n} pixels and {n_noise} pairs. Use a larger area or fewer bands."
        )
    covariance = m2 / (n - 1)
    noise = m2_noise / (n_noise - 1) / 2.0
    # a tiny ridge keeps the whitening finite if a band is noise-free (e.g. constant)
    noise = noise + np.eye(k) * max(np.trace(noise) / k, 1e-30) * 1e-9
    d, u = np.linalg.eigh(noise)
    whiten = u / np.sqrt(d)
    values, vectors = np.linalg.eigh(whiten.T @ covariance @ whiten)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    big = vectors[np.abs(vectors).argmax(axis=0), np.arange(k)]
    vectors = vectors * np.where(big < 0, -1.0, 1.0)
    transform = whiten @ vectors
    inverse = vectors.T @ (u * np.sqrt(d)).T
    bands = tuple(str(b) for b in sub["band"].values)
    return MNFResult(
        bands, mean, covariance, noise, values, transform, inverse, int(n), int(n_noise)
    )


def _check_bands(spectra: xr.DataArray, result: MNFResult) -> xr.DataArray:
    present = [str(b) for b in spectra["band"].values]
    missing = [b for b in result.bands if b not in present]
    if missing:
        raise InvalidParameterError(
            f"The cube lacks {len(missing)} band(s) the MNF was fitted on (first: {missing[0]}); "
            "apply it to the cube it was fitted on."
        )
    sub = spectra.sel(band=list(result.bands)).transpose("band", "y", "x")
    return sub.chunk({"band": -1}) if sub.chunks else sub


def _n_components(result: MNFResult, n_components: int | None) -> int:
    k = len(result.bands)
    n = k if n_components is None else int(n_components)
    if not 1 <= n <= k:
        raise InvalidParameterError(
            f"The 'n_components' parameter must be 1-{k}; got {n_components!r}."
        )
    return n


def mnf_transform(
    spectra: xr.DataArray, result: MNFResult, n_components: int | None = None
) -> xr.DataArray:
    """MNF components of every pixel (lazy if the cube is dask backed).

    Parameters
    ----------
    spectra : xarray.DataArray
        The cube (or one with the same bands) :func:`fit_mnf` was fitted on.
    result : MNFResult
    n_components : int, optional
        Keep the first components only (default all).

    Returns
    -------
    xarray.DataArray
        ``(component, y, x)`` float32, ``component`` = ``"MNF1"``...; NaN where a band is NaN.
    """
    n = _n_components(result, n_components)
    sub = _check_bands(spectra, result)
    matrix = result.transform[:, :n]
    mean = result.mean

    def kernel(block: np.ndarray) -> np.ndarray:
        return ((block.astype("float64") - mean) @ matrix).astype("float32")

    out = xr.apply_ufunc(
        kernel,
        sub,
        input_core_dims=[["band"]],
        output_core_dims=[["component"]],
        dask="parallelized",
        output_dtypes=["float32"],
        dask_gufunc_kwargs={"output_sizes": {"component": n}},
    )
    out = out.drop_vars([c for c in out.coords if "band" in out[c].dims])
    out = out.assign_coords(component=[f"MNF{j + 1}" for j in range(n)])
    return out.transpose("component", "y", "x").rename("mnf")


def mnf_denoise(spectra: xr.DataArray, result: MNFResult, n_components: int) -> xr.DataArray:
    """Spectra rebuilt from the first ``n_components`` MNF components (noise removed).

    Bands the MNF did not use (bad bands) are returned unchanged.

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` cube holding the fitted bands.
    result : MNFResult
    n_components : int
        Components kept (e.g. :meth:`MNFResult.n_signal`).

    Returns
    -------
    xarray.DataArray
        Same shape, bands and coordinates as ``spectra``, float32 (lazy if dask backed).
    """
    n = _n_components(result, n_components)
    _check_bands(spectra, result)
    present = [str(b) for b in spectra["band"].values]
    rows = np.array([present.index(b) for b in result.bands])
    project = result.transform[:, :n] @ result.inverse[:n, :]
    mean = result.mean
    cube = spectra.transpose("band", "y", "x")
    cube = cube.chunk({"band": -1}) if cube.chunks else cube

    def kernel(block: np.ndarray) -> np.ndarray:
        out = block.astype("float32").copy()
        used = block[..., rows].astype("float64")
        out[..., rows] = ((used - mean) @ project + mean).astype("float32")
        return out

    out = xr.apply_ufunc(
        kernel,
        cube,
        input_core_dims=[["band"]],
        output_core_dims=[["band"]],
        dask="parallelized",
        output_dtypes=["float32"],
    )
    return out.transpose("band", "y", "x").assign_attrs(spectra.attrs)
