"""Fuzzy memberships: evidence values to favourability in [0, 1].

Linear, and ArcGIS's FuzzyLarge / FuzzySmall / FuzzyGaussian (Bonham-Carter 1994 ch. 9;
Carranza 2008 ch. 7). Pure functions on numpy arrays or ``(y, x)`` DataArrays; a raster result
has the type of the input and is float32, computed in float64; NaN propagates.

References
----------
Bonham-Carter, G.F. (1994). *Geographic Information Systems for Geoscientists: Modelling
with GIS*. Pergamon, ch. 8–9.

Carranza, E.J.M. (2008). *Geochemical Anomaly and Mineral Prospectivity Mapping in GIS*.
Handbook of Exploration and Environmental Geochemistry 11, Elsevier, ch. 7–8.

Kemp, L.D., Bonham-Carter, G.F., Raines, G.L., Looney, C.G. (2001). *Arc-WofE: ArcView
extension for weights of evidence mapping*. Geological Survey of Canada.

Esri. *ArcGIS Pro Spatial Analyst: How Fuzzy Membership works* (FuzzyLarge, FuzzySmall,
FuzzyGaussian definitions).
"""

from __future__ import annotations

import math

import numpy as np

from geo.errors import InvalidParameterError
from geo.prospectivity._arrays import _positive, _values, _wrap

__all__ = ["fuzzy_gaussian", "fuzzy_large", "fuzzy_linear", "fuzzy_small"]


def fuzzy_linear(x, low: float, high: float, *, name: str = "fuzzy_linear"):
    """Linear fuzzy membership: 0 at or below ``low``, 1 at or above ``high``.

    With ``high < low`` the membership decreases: 1 at or below ``high``, 0 at or above
    ``low`` (e.g. distance to a fault). NaN stays NaN.

    Parameters
    ----------
    x : ndarray or DataArray
        Evidence values.
    low, high : float
        Values mapped to membership 0 and 1; they must differ.
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        Membership in [0, 1], float32.

    Raises
    ------
    InvalidParameterError
        ``low`` equals ``high`` or one is not finite.

    References
    ----------
    Esri, *How Fuzzy Membership works* (FuzzyLinear); Carranza (2008) ch. 7.

    Examples
    --------
    >>> fuzzy_linear(np.array([[0.0, 5.0, 10.0, 20.0]]), 0, 10).tolist()
    [[0.0, 0.5, 1.0, 1.0]]
    >>> fuzzy_linear(np.array([[0.0, 250.0, 1000.0]]), 1000, 0).tolist()
    [[1.0, 0.75, 0.0]]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low == high:
        raise InvalidParameterError(
            f"The 'low' and 'high' parameters of fuzzy_linear must be finite and differ. "
            f"Got low={low!r}, high={high!r} instead."
        )
    v = _values(x, "x")
    out = np.clip((v - low) / (high - low), 0.0, 1.0) + 0.0  # + 0.0 turns −0.0 into 0.0
    return _wrap(x, out, name)


def _nonnegative_x(v: np.ndarray, caller: str) -> None:
    finite = v[np.isfinite(v)]
    if finite.size and finite.min() < 0:
        raise InvalidParameterError(
            f"The 'x' parameter of {caller} must be >= 0 (the ArcGIS definition uses "
            f"(x / midpoint) to a real power). Got a minimum of {float(finite.min())!r}; shift or "
            "rescale the evidence first, or use fuzzy_linear."
        )


def _power_membership(x, midpoint: float, spread: float, sign: int, caller: str) -> np.ndarray:
    """1 / (1 + (x / midpoint)^(sign·spread)): FuzzyLarge with sign −1, FuzzySmall with +1."""
    midpoint = _positive(midpoint, "midpoint", caller)
    exponent = sign * _positive(spread, "spread", caller)
    v = _values(x, "x")
    _nonnegative_x(v, caller)
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 + (v / midpoint) ** exponent)


def fuzzy_large(x, midpoint: float, spread: float = 5.0, *, name: str = "fuzzy_large"):
    """ArcGIS FuzzyLarge membership: μ = 1 / (1 + (x / midpoint)^(−spread)).

    Large values are favourable; μ = 0.5 at ``midpoint`` and rises more steeply the
    larger ``spread``. μ(0) = 0.

    Parameters
    ----------
    x : ndarray or DataArray
        Evidence values, >= 0.
    midpoint : float
        Value with membership 0.5, > 0.
    spread : float
        Steepness, > 0 (ArcGIS default 5).
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        Membership in [0, 1], float32.

    Raises
    ------
    InvalidParameterError
        ``midpoint`` or ``spread`` is not > 0, or ``x`` holds negative values.

    References
    ----------
    Esri, *How Fuzzy Membership works*, FuzzyLarge: μ(x) = 1 / (1 + (x / f2)^−f1), f1 the
    spread and f2 the midpoint.

    Examples
    --------
    >>> print(fuzzy_large(np.array([[0.0, 1.0, 2.0]]), midpoint=1.0, spread=1.0))
    [[0.        0.5       0.6666667]]
    """
    return _wrap(x, _power_membership(x, midpoint, spread, -1, "fuzzy_large"), name)


def fuzzy_small(x, midpoint: float, spread: float = 5.0, *, name: str = "fuzzy_small"):
    """ArcGIS FuzzySmall membership: μ = 1 / (1 + (x / midpoint)^spread).

    The mirror of :func:`fuzzy_large`: small values are favourable (e.g. distance to a
    structure); μ = 0.5 at ``midpoint`` and μ(0) = 1.

    Parameters
    ----------
    x : ndarray or DataArray
        Evidence values, >= 0.
    midpoint : float
        Value with membership 0.5, > 0.
    spread : float
        Steepness, > 0 (ArcGIS default 5).
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        Membership in [0, 1], float32.

    Raises
    ------
    InvalidParameterError
        ``midpoint`` or ``spread`` is not > 0, or ``x`` holds negative values.

    References
    ----------
    Esri, *How Fuzzy Membership works*, FuzzySmall: μ(x) = 1 / (1 + (x / f2)^f1).

    Examples
    --------
    >>> print(fuzzy_small(np.array([[0.0, 1.0, 2.0]]), midpoint=1.0, spread=1.0))
    [[1.         0.5        0.33333334]]
    """
    return _wrap(x, _power_membership(x, midpoint, spread, 1, "fuzzy_small"), name)


def fuzzy_gaussian(x, midpoint: float, spread: float = 0.1, *, name: str = "fuzzy_gaussian"):
    """ArcGIS FuzzyGaussian membership: μ = exp(−spread · (x − midpoint)²).

    Parameters
    ----------
    x : ndarray or DataArray
        Evidence values.
    midpoint : float
        Value with membership 1.
    spread : float
        Narrowness, > 0 (ArcGIS default 0.1).
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        Membership in (0, 1], float32.

    Raises
    ------
    InvalidParameterError
        ``midpoint`` is not finite or ``spread`` is not > 0.

    References
    ----------
    Esri, *How Fuzzy Membership works*, FuzzyGaussian: μ(x) = exp(−f1 · (x − f2)²).

    Examples
    --------
    >>> print(fuzzy_gaussian(np.array([[2.0, 3.0]]), midpoint=2.0, spread=1.0))
    [[1.         0.36787945]]
    """
    if not math.isfinite(midpoint):
        raise InvalidParameterError(
            f"The 'midpoint' parameter of fuzzy_gaussian must be finite. Got {midpoint!r} instead."
        )
    spread = _positive(spread, "spread", "fuzzy_gaussian")
    out = np.exp(-spread * (_values(x, "x") - midpoint) ** 2)
    return _wrap(x, out, name)
