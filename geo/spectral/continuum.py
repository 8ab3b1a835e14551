"""Continuum removal and absorption-feature parameters for imaging-spectrometer cubes.

Over a feature window the *continuum* is the upper convex hull of the spectrum (the smallest
concave-down polyline lying on or above every band), and the continuum-removed spectrum
(hull quotient) is ``CR = R / hull`` (Clark & Roush 1984, J. Geophys. Res. 89(B7), 6329-6340,
doi:10.1029/JB089iB07p06329). For an absorption inside the window (DOMAIN.md §7):

- **band depth** ``D = 1 - min(CR)`` (Clark & Roush 1984);
- **area** ``A = ∫ (1 - CR) dλ`` in nm (trapezoid rule over the window's bands);
- **position**: wavelength of the minimum refined below the band spacing. Three bands around the
  lowest CR are fitted with a Gaussian, i.e. a parabola through ``ln(1 - CR)``, which is exact
  for a Gaussian absorption (Caruana's method); where a depth is not positive the fit falls
  back to a parabola through ``CR``. The result is kept within the two neighbouring bands.
  Sub-band precision matters for white-mica chemistry, where 1-2 nm shifts are geology.

The hull is computed for many pixels at once by "gift wrapping" from the first band: from the
current vertex the next vertex is the band that makes the steepest (largest) slope, taking the
farthest band on ties. Every step is vectorised over pixels; the loop runs as many times as the
largest number of hull vertices in the block.

Bad bands (``good`` coordinate False) are left out, and a pixel with a NaN band inside a
window gets NaN parameters for that window. Everything is chunk-wise: a ``(band, y, x)`` cube
must hold all bands of a chunk together (``chunks={"band": -1}``), and the outputs stay lazy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geo.errors import BandError, InvalidParameterError

__all__ = [
    "FEATURES",
    "Feature",
    "continuum_removed",
    "continuum_removed_cube",
    "feature_maps",
    "feature_parameters",
    "increasing_bands",
    "spectral_axis",
    "upper_hull",
    "window_bands",
]


#: A measurable feature needs a good band this close (nm) to its expected centre.
CENTRE_TOLERANCE_NM = 20.0


@dataclass(frozen=True)
class Feature:
    """One diagnostic absorption of the catalogue.

    Attributes
    ----------
    name : str
        Key used in raster names (``bd_<name>``, ``pos_<name>``).
    window : tuple of float
        Wavelength range in nm over which the continuum is fitted (the hull end points lie at
        or inside it).
    centre : float
        Expected centre of the absorption, nm.
    group : str
        ``"vnir"`` (electronic Fe features near 1 µm) or ``"swir"`` (vibrational, near 2 µm).
    minerals : str
        Minerals with this absorption (DOMAIN.md §7; Clark et al. 2003, USGS Tetracorder,
        J. Geophys. Res. 108(E12), 5131, doi:10.1029/2002JE001847).
    """

    name: str
    window: tuple[float, float]
    centre: float
    group: str
    minerals: str


#: The feature catalogue (name -> Feature). The 1.4 and 1.9 µm water features fall inside the
#: atmospheric water-vapour bands of space-borne data; they are usable only on laboratory or
#: well-corrected spectra and are NaN wherever those bands are flagged bad.
FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature(
            "fe3_09", (740.0, 1280.0), 900.0, "vnir", "hematite 0.86, goethite 0.92, jarosite 0.91"
        ),
        Feature("fe2_10", (760.0, 1330.0), 1050.0, "vnir", "ferrous silicates: chlorite, epidote"),
        Feature("oh_14", (1340.0, 1480.0), 1410.0, "swir", "OH and H2O of clays, micas, alunite"),
        Feature("alun_176", (1720.0, 1800.0), 1762.0, "swir", "alunite 1.76 (S-O-H)"),
        Feature(
            "h2o_19", (1850.0, 2060.0), 1910.0, "swir", "molecular water: montmorillonite, illite"
        ),
        Feature(
            "aloh_216",
            (2140.0, 2185.0),
            2165.0,
            "swir",
            "kaolinite doublet short arm, pyrophyllite, alunite",
        ),
        Feature(
            "aloh_22",
            (2120.0, 2250.0),
            2200.0,
            "swir",
            "Al-OH: kaolinite, alunite, white mica, montmorillonite",
        ),
        Feature(
            "feoh_226",
            (2225.0, 2295.0),
            2265.0,
            "swir",
            "Fe-OH: jarosite 2.265; chlorite/epidote 2.25",
        ),
        Feature(
            "mgoh_233", (2280.0, 2380.0), 2330.0, "swir", "Mg-OH: chlorite 2.33-2.35, epidote 2.335"
        ),
        Feature("carb_234", (2270.0, 2420.0), 2340.0, "swir", "CO3: calcite 2.34, dolomite 2.32"),
    )
}


def increasing_bands(wavelength, good) -> np.ndarray:
    """Good bands whose wavelength exceeds every earlier kept band's, as a bool mask.

    Products with two detectors list the VNIR bands, then the SWIR bands, which start again
    below the last VNIR band (EnMAP: VNIR to ~1000 nm, SWIR from ~900 nm). Walking the bands
    in product order and keeping a band only above the longest wavelength kept so far uses
    each overlap band once (the VNIR detector's there) and leaves a strictly increasing axis.

    Examples
    --------
    >>> increasing_bands([900.0, 950.0, 1000.0, 910.0, 990.0, 1010.0], [True] * 6).tolist()
    [True, True, True, False, False, True]
    """
    wavelength = np.asarray(wavelength, dtype="float64")
    keep = np.asarray(good, dtype=bool) & np.isfinite(wavelength)
    longest = -np.inf
    for i in np.flatnonzero(keep):
        if wavelength[i] > longest:
            longest = wavelength[i]
        else:
            keep[i] = False
    return keep


def spectral_axis(spectra: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Band wavelengths (nm) and usable-band flags of a ``(band, y, x)`` spectra cube.

    Parameters
    ----------
    spectra : xarray.DataArray
        Cube with a ``wavelength`` coordinate on ``band`` (nm) and optionally ``good``.

    Returns
    -------
    wavelength : numpy.ndarray
        float64 band centres.
    good : numpy.ndarray
        bool flags: the product's good bands (all without a ``good`` coordinate), less the
        second copy of detector-overlap bands (:func:`increasing_bands`).

    Raises
    ------
    BandError
        No ``band`` dimension or no ``wavelength`` coordinate.
    """
    if "band" not in spectra.dims or "wavelength" not in spectra.coords:
        raise BandError(
            "The spectra cube needs a 'band' dimension with a 'wavelength' coordinate in nm "
            f"(as the hyperspectral readers give); got dims {spectra.dims}."
        )
    wavelength = np.asarray(spectra["wavelength"].values, dtype="float64")
    good = (
        np.asarray(spectra["good"].values, dtype=bool)
        if "good" in spectra.coords
        else np.ones(wavelength.size, dtype=bool)
    )
    return wavelength, increasing_bands(wavelength, good)


def window_bands(
    wavelength, good, window: tuple[float, float], centre: float | None = None
) -> np.ndarray:
    """Return the indices of the good bands inside ``window`` (nm, inclusive).

    With ``centre``, the window must also hold good bands on both sides of the centre and one
    within :data:`CENTRE_TOLERANCE_NM` of it, so that a feature hidden by bad bands (the
    1.4/1.9 µm water features of space-borne data) is not "measured" on its shoulders.

    Raises
    ------
    InvalidParameterError
        Fewer than 3 good bands in the window, or the centre not bracketed by good bands
        (the product cannot measure the feature).
    """
    wavelength = np.asarray(wavelength, dtype="float64")
    low, high = window
    index = np.flatnonzero(np.asarray(good) & (wavelength >= low) & (wavelength <= high))
    if index.size < 3:
        raise InvalidParameterError(
            f"The window {low:g}-{high:g} nm holds {index.size} good band(s); at least 3 are "
            "needed for a continuum (the product's bad bands or coverage exclude it)."
        )
    if centre is not None:
        inside = wavelength[index]
        if not (
            inside.min() < centre < inside.max()
            and np.min(np.abs(inside - centre)) <= CENTRE_TOLERANCE_NM
        ):
            raise InvalidParameterError(
                f"The window {low:g}-{high:g} nm has no good band near the feature centre "
                f"{centre:g} nm (bad bands or coverage hide it)."
            )
    return index


def upper_hull(wavelengths, spectra) -> np.ndarray:
    """Upper convex hull (continuum) of many spectra over the same wavelengths.

    Parameters
    ----------
    wavelengths : array_like
        ``(n,)`` strictly increasing wavelengths.
    spectra : array_like
        ``(..., n)`` values. A spectrum with any NaN gets an all-NaN hull.

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` float64 hull values at each wavelength.

    Examples
    --------
    >>> upper_hull([0, 1, 2, 3, 4], [1.0, 0.5, 2.0, 1.0, 1.0]).tolist()
    [1.0, 1.5, 2.0, 1.5, 1.0]
    """
    x = np.asarray(wavelengths, dtype="float64")
    values = np.asarray(spectra, dtype="float64")
    shape = values.shape
    y = values.reshape(-1, x.size)
    n_pix, n = y.shape
    finite = np.all(np.isfinite(y), axis=1)
    y = np.where(finite[:, None], y, 0.0)
    vertex = np.zeros((n_pix, n), dtype=bool)
    vertex[:, 0] = True
    current = np.zeros(n_pix, dtype=np.int64)
    rows = np.arange(n_pix)
    columns = np.arange(n)
    active = current < n - 1
    while np.any(active):
        idx = rows[active]
        cur = current[active]
        dx = x[None, :] - x[cur][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (y[idx] - y[idx, cur][:, None]) / dx
        slope = np.where(columns[None, :] > cur[:, None], slope, -np.inf)
        # the farthest band among equal steepest slopes: argmax over the reversed columns
        best = slope.max(axis=1, keepdims=True)
        tie = slope >= best - 1e-12 * np.maximum(1.0, np.abs(best))
        nxt = n - 1 - np.argmax(tie[:, ::-1], axis=1)
        vertex[idx, nxt] = True
        current[idx] = nxt
        active = current < n - 1
    left = np.maximum.accumulate(np.where(vertex, columns, -1), axis=1)
    right = np.minimum.accumulate(np.where(vertex, columns, n)[:, ::-1], axis=1)[:, ::-1]
    y_left = np.take_along_axis(y, left, axis=1)
    y_right = np.take_along_axis(y, right, axis=1)
    x_left, x_right = x[left], x[right]
    span = np.where(right > left, x_right - x_left, 1.0)
    hull = y_left + (y_right - y_left) * (x[None, :] - x_left) / span
    hull = np.where(finite[:, None], hull, np.nan)
    return hull.reshape(shape)


def continuum_removed(wavelengths, spectra) -> np.ndarray:
    """Hull quotient ``R / hull`` of spectra ``(..., n)`` over their wavelengths ``(n,)``.

    Where the hull is not positive (a spectrum at or below zero) the result is NaN.

    Examples
    --------
    >>> continuum_removed([0, 1, 2, 3, 4], [1.0, 0.75, 0.5, 0.75, 1.0]).tolist()
    [1.0, 0.75, 0.5, 0.75, 1.0]
    """
    values = np.asarray(spectra, dtype="float64")
    hull = upper_hull(wavelengths, values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hull > 0, values / hull, np.nan)


def _refine_minimum(x: np.ndarray, cr: np.ndarray, imin: np.ndarray) -> np.ndarray:
    """Sub-band wavelength of the minimum from the bands ``imin - 1, imin, imin + 1``."""
    n = x.size
    i = np.clip(imin, 1, n - 2)
    rows = np.arange(cr.shape[0])
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    depth = 1.0 - np.stack([cr[rows, i - 1], cr[rows, i], cr[rows, i + 1]])
    use_log = np.all(depth > 1e-9, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # f peaks at the absorption minimum: ln(depth) (Gaussian) or the depth itself
        f = np.where(use_log, np.log(np.where(use_log, depth, 1.0)), depth)
        # Newton form f0 + d01 (x - x0) + a (x - x0)(x - x1); its vertex is at
        # (x0 + x1) / 2 - d01 / (2a)
        d01 = (f[1] - f[0]) / (x1 - x0)
        d12 = (f[2] - f[1]) / (x2 - x1)
        curvature = (d12 - d01) / (x2 - x0)
        vertex = 0.5 * (x0 + x1) - d01 / (2.0 * curvature)
    vertex = np.where(curvature < 0, vertex, x1)
    at_edge = (imin <= 0) | (imin >= n - 1)
    vertex = np.where(at_edge, x[np.clip(imin, 0, n - 1)], np.clip(vertex, x0, x2))
    return vertex


def feature_parameters(wavelengths, spectra) -> dict[str, np.ndarray]:
    """Depth, area and position of the deepest absorption of spectra over one window.

    Parameters
    ----------
    wavelengths : array_like
        ``(n,)`` wavelengths (nm) of the window's bands, strictly increasing, n >= 3.
    spectra : array_like
        ``(..., n)`` reflectance.

    Returns
    -------
    dict of str to numpy.ndarray
        ``depth`` (1 - min CR), ``area`` (nm) and ``position`` (nm), each ``(...)`` float64;
        all NaN where a spectrum has a NaN band; position NaN where the depth is 0 (no
        absorption).

    Examples
    --------
    A symmetric V absorption of depth 0.5 on a flat continuum:

    >>> p = feature_parameters([2100, 2110, 2120, 2130, 2140], [1.0, 0.75, 0.5, 0.75, 1.0])
    >>> float(p["depth"]), float(p["area"]), float(p["position"])
    (0.5, 10.0, 2120.0)
    """
    x = np.asarray(wavelengths, dtype="float64")
    values = np.asarray(spectra, dtype="float64")
    if x.ndim != 1 or x.size < 3 or values.shape[-1] != x.size:
        raise InvalidParameterError(
            f"feature_parameters needs >= 3 wavelengths matching the spectra's last axis; got "
            f"{x.size} wavelengths and spectra of shape {values.shape}."
        )
    shape = values.shape[:-1]
    cr = continuum_removed(x, values).reshape(-1, x.size)
    nan = ~np.all(np.isfinite(cr), axis=1)
    cr_filled = np.where(nan[:, None], 1.0, cr)
    imin = np.argmin(cr_filled, axis=1)
    depth = 1.0 - cr_filled.min(axis=1)
    absorbed = 1.0 - cr_filled
    area = np.sum(0.5 * (absorbed[:, 1:] + absorbed[:, :-1]) * np.diff(x)[None, :], axis=1)
    position = _refine_minimum(x, cr_filled, imin)
    position = np.where(depth > 0, position, np.nan)
    out = {"depth": depth, "area": area, "position": position}
    return {k: np.where(nan, np.nan, v).reshape(shape) for k, v in out.items()}


def _check_cube(spectra: xr.DataArray) -> xr.DataArray:
    if spectra.dims != ("band", "y", "x"):
        raise InvalidParameterError(
            f"The spectra cube must have dims ('band', 'y', 'x'); got {spectra.dims}. "
            "Use spectra.transpose('band', 'y', 'x')."
        )
    return spectra.chunk({"band": -1}) if spectra.chunks else spectra


def continuum_removed_cube(spectra: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Continuum-removed spectra of a cube over one window (good bands only).

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with ``wavelength`` (nm) and optionally ``good`` on
        ``band``; numpy or dask backed (all bands in one chunk).
    window : tuple of float
        ``(low, high)`` nm.

    Returns
    -------
    xarray.DataArray
        ``(band, y, x)`` float32 hull quotient over the window's good bands (lazy if dask).

    Raises
    ------
    BandError, InvalidParameterError
        No wavelength coordinate, wrong dims, or fewer than 3 good bands in the window.
    """
    spectra = _check_cube(spectra)
    wavelength, good = spectral_axis(spectra)
    index = window_bands(wavelength, good, window)
    sub = spectra.isel(band=index)
    x = wavelength[index]
    out = xr.apply_ufunc(
        lambda block: continuum_removed(x, block).astype("float32"),
        sub,
        input_core_dims=[["band"]],
        output_core_dims=[["band"]],
        dask="parallelized",
        output_dtypes=["float32"],
    )
    return out.transpose("band", "y", "x").rename("continuum_removed")


#: Pixels processed at once inside a chunk: bounds the float64 temporaries of the hull and
#: fits (pixels x bands, per candidate) to a few tens of MB whatever the chunk size, so a
#: 256 x 256 chunk of 285 bands does not hold gigabytes of intermediates.
BATCH_PIXELS = 4096


def in_batches(func, block: np.ndarray, n_out: int) -> np.ndarray:
    """Apply ``func`` ((pixels, bands) -> (pixels, n_out)) to ``block`` (..., bands) in batches.

    Returns a float32 ``(..., n_out)`` array; at most :data:`BATCH_PIXELS` pixels are
    handed to ``func`` at once.
    """
    flat = block.reshape(-1, block.shape[-1])
    out = np.empty((flat.shape[0], n_out), dtype="float32")
    for start in range(0, flat.shape[0], BATCH_PIXELS):
        out[start : start + BATCH_PIXELS] = func(flat[start : start + BATCH_PIXELS])
    return out.reshape(*block.shape[:-1], n_out)


def _feature_kernel(block: np.ndarray, x: np.ndarray) -> np.ndarray:
    def batch(pixels: np.ndarray) -> np.ndarray:
        p = feature_parameters(x, pixels)
        return np.stack([p["depth"], p["position"], p["area"]], axis=-1)

    return in_batches(batch, block, 3)


def feature_maps(
    spectra: xr.DataArray, features: Sequence[str] | None = None, *, skip_unmeasurable: bool = True
) -> xr.Dataset:
    """Band depth, position and area rasters of catalogue features.

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with ``wavelength`` (nm) and optionally ``good`` on
        ``band``; numpy or dask backed, all bands in one chunk.
    features : sequence of str, optional
        Keys of :data:`FEATURES`; defaults to every feature.
    skip_unmeasurable : bool
        Leave out features whose window holds fewer than 3 good bands (e.g. the 1.4/1.9 µm
        water features of space-borne data); if False such a feature raises.

    Returns
    -------
    xarray.Dataset
        On the cube's grid, lazy if the cube is dask backed: ``bd_<f>`` band depth (0-1),
        ``pos_<f>`` wavelength of the minimum (nm, NaN where the depth is 0) and
        ``area_<f>`` (nm) float32 for each feature ``f``; NaN where a band of the window is
        NaN. ``attrs["features"]`` lists the features computed.

    Raises
    ------
    InvalidParameterError
        Unknown feature name, wrong dims, or (``skip_unmeasurable=False``) a window without
        3 good bands.
    """
    spectra = _check_cube(spectra)
    wavelength, good = spectral_axis(spectra)
    names = list(FEATURES) if features is None else list(features)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise InvalidParameterError(
            f"Unknown feature(s) {', '.join(map(repr, unknown))}; known: {', '.join(FEATURES)}."
        )
    data: dict[str, xr.DataArray] = {}
    done = []
    for name in names:
        try:
            feature = FEATURES[name]
            index = window_bands(wavelength, good, feature.window, feature.centre)
        except InvalidParameterError:
            if skip_unmeasurable:
                continue
            raise
        x = wavelength[index]
        stacked = xr.apply_ufunc(
            _feature_kernel,
            spectra.isel(band=index),
            kwargs={"x": x},
            input_core_dims=[["band"]],
            output_core_dims=[["parameter"]],
            dask="parallelized",
            output_dtypes=["float32"],
            dask_gufunc_kwargs={"output_sizes": {"parameter": 3}},
        )
        for k, prefix in enumerate(("bd", "pos", "area")):
            layer = stacked.isel(parameter=k, drop=True)
            layer = layer.drop_vars([c for c in layer.coords if "band" in layer[c].dims])
            data[f"{prefix}_{name}"] = layer.rio.write_nodata(np.nan, encoded=False)
        done.append(name)
    return xr.Dataset(data, attrs={"features": done})
