"""Broadband roles simulated from a hyperspectral cube (shared by the EMIT, EnMAP, PRISMA readers).

Minimal version written by the EnMAP/PRISMA reader helper so its readers run on their own;
the EMIT helper owns this module and the lead keeps one version with the same signature.

Method
------
Each Landsat 8 OLI band (edges from :data:`geo.sensors.OLI_BANDS`) is simulated as the
weighted mean of the product's *good* bands whose centre lies inside the OLI interval. A
band's weight is the share of its Gaussian spectral response (sigma = FWHM / 2.3548) that
falls inside the interval, so a band half outside the interval counts half. The mean is
NaN-aware per pixel (bands that are NaN at a pixel drop out of that pixel's weights).
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import xarray as xr

from geo.errors import ProductError
from geo.sensors import OLI_BANDS

__all__ = ["broadband_roles", "broadband_weights"]

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def broadband_weights(
    wavelengths: np.ndarray, fwhm: np.ndarray, good: np.ndarray, *, source: str = "spectra"
) -> tuple[list[str], np.ndarray]:
    """Return the OLI roles and a ``(role, band)`` weight matrix whose rows sum to 1.

    Raises
    ------
    ProductError
        A role has no good band with its centre inside the OLI interval.

    Examples
    --------
    >>> roles, w = broadband_weights(np.array([440.0, 445.0, 480.0]), np.array([10.0] * 3),
    ...                              np.array([True, True, True]), source="x")
    Traceback (most recent call last):
    ...
    geo.errors.ProductError: x: no good band inside the Landsat 8 OLI green interval (533-590 nm); the product cannot stand in for the broadband roles coastal..swir2.
    """
    wl = np.asarray(wavelengths, dtype="float64")
    sigma = np.maximum(np.asarray(fwhm, dtype="float64"), 1e-6) * _FWHM_TO_SIGMA
    ok = np.asarray(good, dtype=bool)
    roles: list[str] = []
    rows = []
    for band in OLI_BANDS:
        low, high = band.low_um * 1000.0, band.high_um * 1000.0
        inside = ok & (wl >= low) & (wl <= high)
        if not inside.any():
            raise ProductError(
                f"{source}: no good band inside the Landsat 8 OLI {band.role} interval "
                f"({low:.0f}-{high:.0f} nm); the product cannot stand in for the broadband "
                "roles coastal..swir2."
            )
        share = _normal_cdf((high - wl) / sigma) - _normal_cdf((low - wl) / sigma)
        weight = np.where(inside, share, 0.0)
        rows.append(weight / weight.sum())
        roles.append(band.role)
    return roles, np.asarray(rows, dtype="float32")


def broadband_roles(spectra: xr.DataArray) -> xr.DataArray:
    """Simulate the OLI roles ``coastal .. swir2`` from ``spectra`` (see the module docstring).

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with ``wavelength``, ``fwhm`` and ``good`` coordinates on
        ``band``, all bands in one chunk.

    Returns
    -------
    xarray.DataArray
        ``(band, y, x)`` float32, ``band`` = roles, same grid (and CRS) as ``spectra``;
        attrs ``sensor`` (the product's) and ``broadband_of = "landsat_oli"``.
    """
    source = str(spectra.attrs.get("scene_id", "spectra"))
    roles, weights = broadband_weights(
        spectra["wavelength"].values,
        spectra["fwhm"].values,
        spectra["good"].values,
        source=source,
    )
    data = spectra.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(-1, "auto", "auto"))
    data = data.rechunk({0: -1})

    def kernel(block: np.ndarray) -> np.ndarray:
        valid = np.isfinite(block)
        values = np.where(valid, block, 0.0).astype("float32")
        num = np.tensordot(weights, values, axes=(1, 0))
        den = np.tensordot(weights, valid.astype("float32"), axes=(1, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return out.astype("float32")

    out = da.map_blocks(
        kernel,
        data,
        dtype="float32",
        chunks=((len(roles),), *data.chunks[1:]),
    )
    coords = {k: v for k, v in spectra.coords.items() if "band" not in v.dims}
    result = xr.DataArray(out, dims=spectra.dims, coords={**coords, "band": roles})
    result = result.rename("reflectance")
    result.attrs = {
        "sensor": spectra.attrs.get("sensor"),
        "scene_id": spectra.attrs.get("scene_id"),
        "date": spectra.attrs.get("date"),
        "broadband_of": "landsat_oli",
    }
    if spectra.rio.crs is not None:
        result = result.rio.write_crs(spectra.rio.crs)
    return result.rio.write_transform(spectra.rio.transform())
