"""Shared pieces of the imaging-spectrometer readers (EMIT, EnMAP, PRISMA).

- :data:`HYPER_CHUNK`: the spatial chunk edge of a hyperspectral cube. Every chunk holds all
  bands of its pixels (``chunks={"band": -1, "y": c, "x": c}``), so per-pixel spectral
  methods never gather across chunks; 256 x 256 px x 285 bands of float32 is 75 MB.
- :func:`utm_epsg`: the standard UTM zone (EPSG 326zz north, 327zz south) of a point.
- :func:`spectral_coords`: the ``band`` coordinates shared by every ``Scene.spectra``.
- :func:`broadband_weights` and :func:`broadband_roles`: the Landsat 8 OLI bands simulated
  from a hyperspectral cube, so the broadband stages (masks, NDVI/MNDWI, ratios) run on it.

Broadband simulation
--------------------
Each hyperspectral band ``i`` is modelled as a Gaussian spectral response of centre
``c_i`` and full width at half maximum ``f_i`` (sigma = f_i / (2 sqrt(2 ln 2))). The weight
of band ``i`` in OLI band ``k`` (edges ``lo_k .. hi_k`` from :data:`geo.sensors.OLI_BANDS`)
is the fraction of its response inside the OLI interval::

    w_ki = Phi((hi_k - c_i) / sigma_i) - Phi((lo_k - c_i) / sigma_i)

(Phi: the standard normal CDF). Only the product's good bands count, and weights below
:data:`MIN_OVERLAP` (a far Gaussian tail) are set to zero. The simulated reflectance is the
weighted mean ``sum_i w_ki rho_i / sum_i w_ki`` over the bands valid (not NaN) at the pixel;
NaN where none is. An OLI band that no good band overlaps is refused (:class:`ProductError`).
This treats the OLI response as a box over its edges, a close approximation of its flat-topped
relative spectral response.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date

import dask.array as dsa
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.typing import ArrayLike

from geo._utm import utm_epsg
from geo.errors import ProductError
from geo.sensors import OLI_BANDS, BandInfo

__all__ = [
    "BROADBAND_ROLES",
    "HYPER_CHUNK",
    "MIN_OVERLAP",
    "band_names",
    "broadband_roles",
    "broadband_weights",
    "check_spectral_axis",
    "spectral_coords",
    "utm_epsg",
]

#: Spatial chunk edge (pixels) of hyperspectral cubes; all bands of a chunk stay together.
HYPER_CHUNK = 256

#: Smallest fraction of a band's Gaussian response inside an OLI interval that counts.
MIN_OVERLAP = 0.01

#: The broadband roles a hyperspectral scene carries in ``Scene.reflectance``.
BROADBAND_ROLES: tuple[str, ...] = tuple(b.role for b in OLI_BANDS)

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


_DAY = re.compile(r"\s*(\d{4})-?(\d{2})-?(\d{2})")


def first_date(candidates: Sequence[tuple[str | None, str]]) -> tuple[date, str] | None:
    """Return the first valid day of ``(text, where)`` candidates, with its ``where``.

    A text counts when it starts with ``YYYY-MM-DD`` or ``YYYYMMDD`` (a time may follow);
    None when no candidate holds a real day.

    Examples
    --------
    >>> first_date([("2024-13-01T10:00", "metadata"), ("20240315", "file name")])
    (datetime.date(2024, 3, 15), 'file name')
    """
    for text, where in candidates:
        match = _DAY.match(text or "")
        if match:
            try:
                return date(*(int(g) for g in match.groups())), where
            except ValueError:
                continue  # a damaged value: the next candidate
    return None


def band_names(count: int) -> list[str]:
    """Band coordinate values ``b001``, ``b002``... (1-based product band number)."""
    return [f"b{i:03d}" for i in range(1, count + 1)]


def check_spectral_axis(
    wavelengths: np.ndarray, fwhm: np.ndarray, good: np.ndarray, *, source: str
) -> None:
    """Refuse band centres / FWHM / good flags a cube cannot be read with.

    Raises
    ------
    ProductError
        Lengths differ, values are not finite and positive, or centres do not increase.
    """
    n = wavelengths.shape[0]
    if wavelengths.ndim != 1 or n == 0:
        raise ProductError(f"{source}: the band centres are not a non-empty list.")
    for name, values in (("FWHM", fwhm), ("good-band flags", good)):
        if values.shape != (n,):
            raise ProductError(
                f"{source}: {values.shape[0] if values.ndim else 0} {name} for {n} band centres."
            )
    if not np.all(np.isfinite(wavelengths)) or np.any(wavelengths <= 0):
        raise ProductError(f"{source}: band centres hold non-finite or non-positive values.")
    if np.any(np.diff(wavelengths) <= 0):
        i = int(np.argmax(np.diff(wavelengths) <= 0))
        raise ProductError(
            f"{source}: band centres do not increase (band {i + 2}: {wavelengths[i + 1]:g} nm "
            f"after {wavelengths[i]:g} nm)."
        )
    if not np.all(np.isfinite(fwhm)) or np.any(fwhm <= 0):
        raise ProductError(f"{source}: FWHM holds non-finite or non-positive values.")


def spectral_coords(
    wavelengths: ArrayLike, fwhm: ArrayLike, good: ArrayLike
) -> dict[str, tuple[str, np.ndarray] | list[str]]:
    """Coordinates of the ``band`` dimension of ``Scene.spectra`` (see HYPER.md data model)."""
    w = np.asarray(wavelengths, dtype="float64")
    return {
        "band": band_names(w.shape[0]),
        "wavelength": ("band", w),
        "fwhm": ("band", np.asarray(fwhm, dtype="float64")),
        "good": ("band", np.asarray(good, dtype=bool)),
    }


def _phi(z: np.ndarray) -> np.ndarray:
    """Return the standard normal CDF of ``z``, elementwise."""
    erf = np.vectorize(math.erf, otypes=[float])
    return 0.5 * (1.0 + erf(np.asarray(z, dtype="float64") / math.sqrt(2.0)))


def broadband_weights(
    wavelengths: ArrayLike,
    fwhm: ArrayLike,
    good: ArrayLike,
    bands: Sequence[BandInfo] = OLI_BANDS,
) -> np.ndarray:
    """Weights ``(len(bands), n)`` of each hyperspectral band in each broad band.

    Parameters
    ----------
    wavelengths, fwhm : sequence of float
        Band centres and FWHM in nm.
    good : sequence of bool
        False for bands to leave out (water vapour, bad detector rows).
    bands : sequence of BandInfo
        The broad bands (edges in micrometres); Landsat 8 OLI by default.

    Returns
    -------
    numpy.ndarray
        Row ``k``: the Gaussian overlap of each band with broad band ``k`` (module
        docstring), 0 for bad bands and overlaps below :data:`MIN_OVERLAP`; not normalised.

    Raises
    ------
    ProductError
        A broad band that no good band overlaps.
    """
    c = np.asarray(wavelengths, dtype="float64")
    sigma = np.asarray(fwhm, dtype="float64") * _FWHM_TO_SIGMA
    ok = np.asarray(good, dtype=bool)
    weights = np.zeros((len(bands), c.shape[0]))
    for k, b in enumerate(bands):
        lo, hi = b.low_um * 1000.0, b.high_um * 1000.0
        w = _phi((hi - c) / sigma) - _phi((lo - c) / sigma)
        w[(w < MIN_OVERLAP) | ~ok] = 0.0
        if not np.any(w > 0):
            span = f"{c.min():g}-{c.max():g} nm" if c.size else "no bands"
            raise ProductError(
                f"no good band of the product ({span}) overlaps the {b.role} band "
                f"({lo:g}-{hi:g} nm): cannot simulate the broadband roles."
            )
        weights[k] = w
    return weights


def _weighted_block(block: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n, y, x)`` reflectance -> ``(k, y, x)`` NaN-aware weighted means."""
    n, ny, nx = block.shape
    flat = block.reshape(n, ny * nx).astype("float64", copy=False)
    valid = np.isfinite(flat)
    used = np.flatnonzero(weights.any(axis=0))
    num = weights[:, used] @ np.where(valid[used], flat[used], 0.0)
    den = weights[:, used] @ valid[used].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return out.reshape(weights.shape[0], ny, nx).astype("float32")


def broadband_roles(spectra: xr.DataArray) -> xr.DataArray:
    """Landsat 8 OLI bands simulated from a hyperspectral cube (``Scene.reflectance``).

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with the ``wavelength``, ``fwhm`` and ``good``
        coordinates of ``Scene.spectra``, all bands of a chunk together.

    Returns
    -------
    xarray.DataArray
        ``(band, y, x)`` float32 with ``band`` = ``coastal, blue, green, red, nir, swir1,
        swir2``, on the grid of ``spectra`` (CRS and transform kept), chunked like it;
        ``attrs``: those of ``spectra`` plus ``broadband_of = "landsat_oli"`` and
        ``broadband_method``.

    Raises
    ------
    ProductError
        A role that no good band overlaps (see :func:`broadband_weights`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> cube = xr.DataArray(np.full((2, 1, 1), 0.2, "float32"), dims=("band", "y", "x"),
    ...     coords=spectral_coords([600.0, 1800.0], [800.0, 1200.0], [True, True]))
    >>> round(float(broadband_roles(cube).sel(band="red")[0, 0]), 6)
    0.2
    """
    for name in ("wavelength", "fwhm", "good"):
        if name not in spectra.coords:
            raise ProductError(f"spectra have no {name!r} band coordinate.")
    weights = broadband_weights(
        spectra["wavelength"].values, spectra["fwhm"].values, spectra["good"].values
    )
    data = spectra.data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(np.asarray(data), chunks=(-1, HYPER_CHUNK, HYPER_CHUNK))
    data = data.rechunk({0: -1})
    out = data.map_blocks(
        _weighted_block,
        weights,
        chunks=((len(BROADBAND_ROLES),), *data.chunks[1:]),
        dtype="float32",
    )
    coords = {k: v for k, v in spectra.coords.items() if "band" not in v.dims}
    result = xr.DataArray(
        out,
        dims=("band", "y", "x"),
        coords={**coords, "band": list(BROADBAND_ROLES)},
        name="reflectance",
        attrs={
            **spectra.attrs,
            "broadband_of": "landsat_oli",
            "broadband_method": (
                "mean of the good bands weighted by their Gaussian (FWHM) response inside "
                "each Landsat 8 OLI band's edges"
            ),
        },
    )
    if spectra.rio.crs is not None:
        result = result.rio.write_crs(spectra.rio.crs)
        result = result.rio.write_transform(spectra.rio.transform())
    return result.rio.write_nodata(np.nan, encoded=False)
