"""Spectral resampling: convolve fine spectra to the bands of an imaging spectrometer.

Each target band ``b`` is modelled as a Gaussian spectral response function (SRF) centred on
its band centre ``c_b`` with its full width at half maximum ``FWHM_b``,

    S_b(λ) = exp(-(λ - c_b)² / (2 σ_b²)),   σ_b = FWHM_b / (2 √(2 ln 2)) ≈ FWHM_b / 2.3548,

the SRF model that the EMIT, EnMAP and PRISMA products themselves publish (band centre plus
FWHM per band). A band value is the SRF-weighted mean of the source spectrum,

    ρ_b = Σ_i S_b(λ_i) Δ_i ρ_i / Σ_i S_b(λ_i) Δ_i,

where ``Δ_i`` is the trapezoid width of source sample ``i`` (so irregular source grids, such as
the Beckman spectrometer records of the USGS library, are integrated correctly). Samples that
are NaN are left out of both sums; a band whose valid samples carry less than
:data:`MIN_COVERAGE` of the Gaussian's analytic area ``σ √(2π)`` is NaN: nothing is
extrapolated. Pure numpy, no I/O.

:func:`band_set` returns EMIT-, EnMAP- and PRISMA-*like* band sets. They are approximations for
tests and synthetic samples only; the readers take the real band centres, FWHM and bad bands
from each product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.errors import InvalidParameterError

__all__ = ["MIN_COVERAGE", "BandSet", "band_set", "convolve_to_bands", "srf_matrix"]

#: Fraction of a band's Gaussian area that valid source samples must cover.
MIN_COVERAGE = 0.95
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _as_1d(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype="float64")
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise InvalidParameterError(
            f"The {name!r} parameter must be a non-empty 1-D sequence of finite numbers; "
            f"got shape {array.shape}."
        )
    return array


def _trapezoid_widths(wavelengths: np.ndarray) -> np.ndarray:
    """Width each sample carries in the trapezoid rule (half the gaps on either side)."""
    if wavelengths.size == 1:
        return np.ones(1)
    gaps = np.diff(wavelengths)
    widths = np.zeros_like(wavelengths)
    widths[:-1] += gaps / 2
    widths[1:] += gaps / 2
    return widths


def srf_matrix(src_wavelengths, centres, fwhm) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian SRF weights of target bands over a source wavelength grid.

    Parameters
    ----------
    src_wavelengths : array_like
        ``(n_src,)`` strictly increasing source wavelengths (any unit, same as ``centres``).
    centres, fwhm : array_like
        ``(n_bands,)`` target band centres and full widths at half maximum (FWHM > 0).

    Returns
    -------
    weights : numpy.ndarray
        ``(n_bands, n_src)`` float64, ``S_b(λ_i) Δ_i`` (not normalised: rows are normalised over
        the valid samples of each spectrum by :func:`convolve_to_bands`).
    area : numpy.ndarray
        ``(n_bands,)`` analytic area ``σ √(2π)`` of each band's Gaussian, for the coverage test.

    Raises
    ------
    InvalidParameterError
        Non-finite or non-increasing source grid, FWHM not > 0, or shapes that disagree.

    Examples
    --------
    The Gaussian of FWHM 2 is 1/2 one unit and 1/16 two units from its centre; the end
    samples carry half a unit of width:

    >>> w, area = srf_matrix([0, 1, 2, 3, 4], [2.0], [2.0])
    >>> w.round(5).tolist()
    [[0.03125, 0.5, 1.0, 0.5, 0.03125]]
    """
    src = _as_1d(src_wavelengths, "src_wavelengths")
    centres = _as_1d(centres, "centres")
    fwhm = _as_1d(fwhm, "fwhm")
    if src.size > 1 and np.any(np.diff(src) <= 0):
        raise InvalidParameterError(
            "The 'src_wavelengths' parameter must be strictly increasing; sort the spectrum."
        )
    if centres.shape != fwhm.shape:
        raise InvalidParameterError(
            f"The 'centres' and 'fwhm' parameters must have one value per band; got "
            f"{centres.size} centres and {fwhm.size} FWHM values."
        )
    if np.any(fwhm <= 0):
        raise InvalidParameterError("The 'fwhm' parameter must be > 0 for every band.")
    sigma = fwhm * _FWHM_TO_SIGMA
    offsets = (src[None, :] - centres[:, None]) / sigma[:, None]
    gauss = np.exp(-0.5 * offsets**2)
    return gauss * _trapezoid_widths(src)[None, :], sigma * np.sqrt(2.0 * np.pi)


def convolve_to_bands(src_wavelengths, src_spectra, centres, fwhm) -> np.ndarray:
    """Convolve spectra with the Gaussian SRF of each target band.

    Parameters
    ----------
    src_wavelengths : array_like
        ``(n_src,)`` strictly increasing wavelengths of the source samples.
    src_spectra : array_like
        ``(..., n_src)`` source values (last axis = wavelength); NaN = missing sample.
    centres, fwhm : array_like
        ``(n_bands,)`` target band centres and FWHM, in the unit of ``src_wavelengths``.

    Returns
    -------
    numpy.ndarray
        ``(..., n_bands)`` float64 band values; NaN where the valid source samples cover less
        than :data:`MIN_COVERAGE` of the band's Gaussian area.

    Raises
    ------
    InvalidParameterError
        Bad grids (see :func:`srf_matrix`) or a spectrum whose last axis is not ``n_src`` long.

    Examples
    --------
    A straight line keeps its value at the band centre; a band past the end of the data is NaN:

    >>> wl = np.arange(400.0, 501.0)
    >>> convolve_to_bands(wl, 0.001 * wl, [450.0, 500.0], [10.0, 10.0]).round(6)
    array([0.45,  nan])
    """
    weights, area = srf_matrix(src_wavelengths, centres, fwhm)
    spectra = np.asarray(src_spectra, dtype="float64")
    if spectra.shape[-1:] != (weights.shape[1],):
        raise InvalidParameterError(
            f"The 'src_spectra' parameter must have {weights.shape[1]} values on its last axis "
            f"(one per source wavelength); got shape {spectra.shape}."
        )
    valid = np.isfinite(spectra)
    filled = np.where(valid, spectra, 0.0)
    total = valid.astype("float64") @ weights.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (filled @ weights.T) / total
    return np.where(total >= MIN_COVERAGE * area, out, np.nan)


@dataclass(frozen=True)
class BandSet:
    """Band centres, FWHM and good-band flags of an imaging spectrometer (nm).

    Attributes
    ----------
    sensor : str
        ``"emit"``, ``"enmap"`` or ``"prisma"``.
    wavelength, fwhm : numpy.ndarray
        Band centres and FWHM in nm, in band order.
    good : numpy.ndarray
        False for bands in the deep atmospheric water-vapour windows.
    """

    sensor: str
    wavelength: np.ndarray
    fwhm: np.ndarray
    good: np.ndarray


#: Deep water-vapour windows (nm) flagged bad in the test band sets, as EMIT's
#: ``good_wavelengths`` does near 1.4 and 1.9 µm.
WATER_WINDOWS = ((1340.0, 1450.0), (1790.0, 1970.0))


def band_set(sensor: str) -> BandSet:
    """EMIT-, EnMAP- or PRISMA-like band set, **an approximation for tests and samples only**.

    - ``"emit"``: 285 bands 381-2493 nm evenly spaced (~7.46 nm), FWHM 8.5 nm (NASA EMIT L2A
      RFL: 285 bands 381-2493 nm, ~7.4 nm sampling; DOMAIN.md §7).
    - ``"enmap"``: VNIR 91 bands 420-1000 nm (~6.4 nm, FWHM 6.5 nm) then SWIR 133 bands
      900-2450 nm (~11.7 nm, FWHM 10 nm): 224 bands with the VNIR/SWIR overlap kept, as in the
      L2A product (DLR/GFZ EnMAP: VNIR 420-1000 nm, SWIR 900-2450 nm, mean sampling and
      resolution 6.5 nm VNIR and 10 nm SWIR; Guanter et al. 2015, Remote Sens. 7, 8830).
    - ``"prisma"``: VNIR 66 bands 400-1010 nm then SWIR 173 bands 920-2505 nm (both ~9.3 nm),
      FWHM 11 nm: 239 bands with the overlap kept (ASI PRISMA via eoPortal: VNIR 400-1010 nm
      66 channels, SWIR 920-2505 nm 173 channels, FWHM <= 12 nm).

    Bands inside :data:`WATER_WINDOWS` are marked not good. Real products give their own band
    centres, FWHM and bad bands; the readers use those.

    Parameters
    ----------
    sensor : str
        ``"emit"``, ``"enmap"`` or ``"prisma"``.

    Returns
    -------
    BandSet

    Examples
    --------
    >>> bs = band_set("emit")
    >>> bs.wavelength.size, float(bs.wavelength[0]), float(bs.wavelength[-1])
    (285, 381.0, 2493.0)
    """
    if sensor == "emit":
        wavelength = np.linspace(381.0, 2493.0, 285)
        fwhm = np.full(285, 8.5)
    elif sensor == "enmap":
        vnir = np.linspace(420.0, 1000.0, 91)
        swir = np.linspace(900.0, 2450.0, 133)
        wavelength = np.concatenate([vnir, swir])
        fwhm = np.concatenate([np.full(91, 6.5), np.full(133, 10.0)])
    elif sensor == "prisma":
        wavelength = np.concatenate(
            [np.linspace(400.0, 1010.0, 66), np.linspace(920.0, 2505.0, 173)]
        )
        fwhm = np.full(239, 11.0)
    else:
        raise InvalidParameterError(
            f"The 'sensor' parameter must be 'emit', 'enmap' or 'prisma'; got {sensor!r}."
        )
    good = np.ones(wavelength.size, dtype=bool)
    for low, high in WATER_WINDOWS:
        good &= ~((wavelength >= low) & (wavelength <= high))
    return BandSet(sensor, wavelength, fwhm, good)
