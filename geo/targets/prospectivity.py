"""Knowledge-driven and weights-of-evidence prospectivity, and how to evaluate it.

Pure functions on numpy arrays or ``(y, x)`` DataArrays that share one pixel grid; no I/O.
A raster result has the type of the first raster input (a DataArray keeps its coords, CRS
and attrs) and is float32, computed in float64. NaN marks "no data" and propagates.

Methods (``../shared/DOMAIN.md`` §4):

- Fuzzy membership (linear, ArcGIS FuzzyLarge / FuzzySmall / FuzzyGaussian) and the fuzzy
  operators AND = min, OR = max, algebraic product FAP = Πμ, algebraic sum
  FAS = 1 − Π(1 − μ), gamma = FAS^γ · FAP^(1−γ) (Bonham-Carter 1994 ch. 9; Carranza 2008
  ch. 7). Weighted overlay S = Σwᵢxᵢ / Σwᵢ.
- Weights of evidence with the equations implemented in Arc-WofE (Kemp et al. 2001;
  Bonham-Carter 1994 ch. 9). Counts are in unit cells: ``b`` pattern area, ``s`` total
  area, ``d_b`` deposits on the pattern, ``d_s`` all deposits. Where every deposit lies
  on the pattern (``d_b = d_s``), the weights use ``d_b = d_s − 0.99``
  (:data:`DEPOSIT_ADJUSTMENT`, as ArcSDM and EIS Toolkit do) and say so (``adjusted``).
  The posterior's standard deviation includes the prior's term:
  s(P) = P·√(1/d_s + Σ var W).
- Success-/prediction-rate curves, their AUC, area capture and ROC-AUC against random
  background (Carranza 2008 ch. 7–8).

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

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from numbers import Real

import numpy as np
import pandas as pd
import xarray as xr

from geo.errors import CRSError, GeoWarning, GridMismatchError, InvalidParameterError

__all__ = [
    "DEPOSIT_ADJUSTMENT",
    "area_capture",
    "conditional_independence",
    "curve_auc",
    "draw_positions",
    "fuzzy_and",
    "fuzzy_gamma",
    "fuzzy_gaussian",
    "fuzzy_large",
    "fuzzy_linear",
    "fuzzy_or",
    "fuzzy_product",
    "fuzzy_small",
    "fuzzy_sum",
    "roc_auc",
    "success_rate_curve",
    "weighted_overlay",
    "wofe_generalise",
    "wofe_posterior",
    "wofe_weights",
]

_WEIGHT_KEYS = ("w_plus", "w_minus", "var_w_plus", "var_w_minus")

#: Share of one deposit counted off a pattern that holds every deposit (``d_b = d_s``),
#: so that W⁻ and var(W⁻) are defined: the weights use ``d_b = d_s − 0.99``. This is the
#: adjustment of ArcSDM's Calculate Weights (``db -= 0.99`` when ``db == ds``) and of EIS
#: Toolkit's weights of evidence (0.99 of a deposit moved from "pattern" to "no pattern").
DEPOSIT_ADJUSTMENT = 0.99


# --------------------------------------------------------------------------------------
# Array plumbing
# --------------------------------------------------------------------------------------


def _values(x, name: str) -> np.ndarray:
    """Return ``x`` as a float64 ndarray (a copy; the input is never modified)."""
    arr = np.array(x.data if isinstance(x, xr.DataArray) else x, dtype="float64")
    if arr.ndim != 2:
        raise GridMismatchError(f"'{name}' must be a 2-D (y, x) raster; got shape {arr.shape}.")
    return arr


def _check_grid(arrays: Mapping[str, object]) -> None:
    """Raise :class:`GridMismatchError` unless all arrays have one shape (and coords)."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    ref_name, ref = items[0]
    for name, arr in items[1:]:
        if np.shape(arr) != np.shape(ref):
            raise GridMismatchError(
                f"'{name}' and '{ref_name}' must share one pixel grid; got shape "
                f"{np.shape(arr)} vs {np.shape(ref)}. Align them first with "
                "`b.rio.reproject_match(a)`."
            )
        if isinstance(arr, xr.DataArray) and isinstance(ref, xr.DataArray):
            for dim in ("x", "y"):
                if dim in arr.coords and dim in ref.coords:
                    if not np.allclose(arr[dim].values, ref[dim].values):
                        raise GridMismatchError(
                            f"'{name}' and '{ref_name}' have the same shape but different "
                            f"'{dim}' coordinates. Align them first with `b.rio.reproject_match(a)`."
                        )


def _wrap(template, out: np.ndarray, name: str):
    """Return ``out`` as float32, as a DataArray on ``template``'s grid if it is one."""
    out = out.astype("float32")
    if isinstance(template, xr.DataArray):
        return template.copy(data=out).rename(name)
    return out


def _mask(x, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (truth, defined) for a boolean-like raster; NaN cells are undefined."""
    arr = _values(x, name)
    defined = np.isfinite(arr)
    return np.where(defined, arr != 0, False), defined


def _cells(deposits, valid, **rasters) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Check the grid and return (boolean rasters, deposit mask, valid mask).

    A cell is valid where ``valid`` is True (when given) and every raster is defined.
    """
    _check_grid({**rasters, "deposits": deposits, "valid": valid})
    dep, keep = _mask(deposits, "deposits")
    if valid is not None:
        v, v_defined = _mask(valid, "valid")
        keep &= v & v_defined
    out = {}
    for name, raster in rasters.items():
        truth, defined = _mask(raster, name)
        keep &= defined
        out[name] = truth
    return out, dep & keep, keep


def _layers(layers: Sequence, name: str = "layers") -> tuple[np.ndarray, object]:
    """Stack membership layers into ``(n, y, x)`` after checking grid and range [0, 1]."""
    if isinstance(layers, xr.DataArray | np.ndarray) or len(layers) == 0:
        raise InvalidParameterError(
            f"The '{name}' parameter must be a non-empty sequence of rasters (a list). "
            f"Got {type(layers).__name__} instead."
        )
    _check_grid({f"{name}[{i}]": layer for i, layer in enumerate(layers)})
    stack = np.stack([_values(layer, f"{name}[{i}]") for i, layer in enumerate(layers)])
    finite = stack[np.isfinite(stack)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise InvalidParameterError(
            f"The '{name}' parameter must hold fuzzy memberships in [0, 1]. Got values in "
            f"[{float(finite.min())!r}, {float(finite.max())!r}] instead; transform them with a fuzzy_* "
            "membership function first."
        )
    return stack, layers[0]


def _positive(value: float, name: str, caller: str) -> float:
    if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise InvalidParameterError(
            f"The '{name}' parameter of {caller} must be a finite number > 0. Got {value!r} instead."
        )
    return float(value)


# --------------------------------------------------------------------------------------
# Fuzzy membership
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Fuzzy operators and weighted overlay
# --------------------------------------------------------------------------------------


def fuzzy_and(layers: Sequence, *, name: str = "fuzzy_and"):
    """Fuzzy AND: the minimum membership of the layers, cell by cell.

    Parameters
    ----------
    layers : sequence of ndarray or DataArray
        Memberships in [0, 1] on one grid.
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        float32; NaN where any layer is NaN.

    Raises
    ------
    InvalidParameterError
        ``layers`` is empty or holds values outside [0, 1].
    GridMismatchError
        The layers are not on one grid.

    References
    ----------
    Bonham-Carter (1994) ch. 9; Carranza (2008) ch. 7.

    Examples
    --------
    >>> print(fuzzy_and([np.array([[0.8]]), np.array([[0.2]])]))
    [[0.2]]
    """
    stack, first = _layers(layers)
    return _wrap(first, np.min(stack, axis=0), name)


def fuzzy_or(layers: Sequence, *, name: str = "fuzzy_or"):
    """Fuzzy OR: the maximum membership of the layers, cell by cell.

    Parameters and errors as :func:`fuzzy_and`.

    Examples
    --------
    >>> print(fuzzy_or([np.array([[0.8]]), np.array([[0.2]])]))
    [[0.8]]
    """
    stack, first = _layers(layers)
    return _wrap(first, np.max(stack, axis=0), name)


def _product(stack: np.ndarray) -> np.ndarray:
    return np.prod(stack, axis=0)


def _sum(stack: np.ndarray) -> np.ndarray:
    return 1.0 - np.prod(1.0 - stack, axis=0)


def fuzzy_product(layers: Sequence, *, name: str = "fuzzy_product"):
    """Fuzzy algebraic product FAP = Πμᵢ; never above the smallest input ("decreasive").

    Parameters and errors as :func:`fuzzy_and`.

    Examples
    --------
    >>> print(fuzzy_product([np.array([[0.8]]), np.array([[0.2]])]))
    [[0.16]]
    """
    stack, first = _layers(layers)
    return _wrap(first, _product(stack), name)


def fuzzy_sum(layers: Sequence, *, name: str = "fuzzy_sum"):
    """Fuzzy algebraic sum FAS = 1 − Π(1 − μᵢ); never below the largest input ("increasive").

    Parameters and errors as :func:`fuzzy_and`.

    Examples
    --------
    >>> print(fuzzy_sum([np.array([[0.8]]), np.array([[0.2]])]))
    [[0.84]]
    """
    stack, first = _layers(layers)
    return _wrap(first, _sum(stack), name)


def fuzzy_gamma(layers: Sequence, gamma: float, *, name: str = "fuzzy_gamma"):
    """Fuzzy gamma operator: FAS^γ · FAP^(1−γ).

    γ = 0 gives the algebraic product, γ = 1 the algebraic sum. With two inputs
    μ = 0.8 and 0.2 the result stays within [0.2, 0.8] only for γ ≈ 0.14–0.97
    (Carranza 2008); Carranza & Hale (2001) found γ = 0.73–0.79 optimal.

    Parameters
    ----------
    layers : sequence of ndarray or DataArray
        Memberships in [0, 1] on one grid.
    gamma : float
        Exponent in [0, 1].
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        float32; NaN where any layer is NaN.

    Raises
    ------
    InvalidParameterError
        ``gamma`` is outside [0, 1], or ``layers`` is empty or outside [0, 1].

    References
    ----------
    Zimmermann & Zysno (1980); Bonham-Carter (1994) ch. 9; Carranza (2008) ch. 7.

    Examples
    --------
    >>> print(fuzzy_gamma([np.array([[0.8]]), np.array([[0.2]])], 0.5))  # sqrt(0.84 * 0.16)
    [[0.36660606]]
    """
    if not (isinstance(gamma, Real) and 0.0 <= gamma <= 1.0):
        raise InvalidParameterError(
            f"The 'gamma' parameter of fuzzy_gamma must be a number in [0, 1]. Got {gamma!r} instead."
        )
    stack, first = _layers(layers)
    out = _sum(stack) ** gamma * _product(stack) ** (1.0 - gamma)
    return _wrap(first, out, name)


def weighted_overlay(layers: Sequence, weights: Sequence[float], *, name: str = "weighted_overlay"):
    """Weighted overlay S = Σwᵢxᵢ / Σwᵢ (Bonham-Carter 1994 ch. 9 "index overlay").

    Parameters
    ----------
    layers : sequence of ndarray or DataArray
        Evidence scores on one grid (any common scale, typically [0, 1]).
    weights : sequence of float
        One weight >= 0 per layer, not all zero.
    name : str
        Name of a DataArray result.

    Returns
    -------
    ndarray or DataArray
        float32; NaN where any layer is NaN.

    Raises
    ------
    InvalidParameterError
        ``weights`` has the wrong length, a negative or non-finite value, or sums to 0.
    GridMismatchError
        The layers are not on one grid.

    Examples
    --------
    >>> weighted_overlay([np.array([[1.0]]), np.array([[0.0]])], [3, 1]).tolist()
    [[0.75]]
    """
    if isinstance(layers, xr.DataArray | np.ndarray) or len(layers) == 0:
        raise InvalidParameterError(
            "The 'layers' parameter of weighted_overlay must be a non-empty sequence of "
            f"rasters. Got {type(layers).__name__} instead."
        )
    w = np.asarray(weights, dtype="float64")
    if w.shape != (len(layers),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() == 0:
        raise InvalidParameterError(
            f"The 'weights' parameter of weighted_overlay must hold {len(layers)} finite "
            f"values >= 0, not all zero (one per layer). Got {list(weights)!r} instead."
        )
    _check_grid({f"layers[{i}]": layer for i, layer in enumerate(layers)})
    stack = np.stack([_values(layer, f"layers[{i}]") for i, layer in enumerate(layers)])
    out = np.tensordot(w, stack, axes=1) / w.sum()
    return _wrap(layers[0], out, name)


# --------------------------------------------------------------------------------------
# Weights of evidence
# --------------------------------------------------------------------------------------


def _weights(b, s, d_b, d_s) -> dict[str, np.ndarray]:
    """Arc-WofE weights for arrays of counts; undefined terms (log or 1/0) become NaN.

    Where the pattern holds every deposit (``d_b = d_s``) but leaves more than
    :data:`DEPOSIT_ADJUSTMENT` unit cells outside it, ``d_b`` is taken as
    ``d_s − DEPOSIT_ADJUSTMENT`` in every term and ``adjusted`` is True. A pattern
    covering (almost) the whole area keeps an undefined W⁻.
    """
    b, s, d_b, d_s = (np.asarray(v, dtype="float64") for v in (b, s, d_b, d_s))
    adjusted = (d_b == d_s) & (d_s > 0) & (s - b > DEPOSIT_ADJUSTMENT)
    d_b = np.where(adjusted, d_s - DEPOSIT_ADJUSTMENT, d_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_plus = np.log((d_b / d_s) / ((b - d_b) / (s - d_s)))
        var_w_plus = 1.0 / d_b + 1.0 / (b - d_b)
        w_minus = np.log(((d_s - d_b) / d_s) / ((s - b - d_s + d_b) / (s - d_s)))
        var_w_minus = 1.0 / (d_s - d_b) + 1.0 / (s - b - d_s + d_b)
    out = {
        "w_plus": w_plus,
        "var_w_plus": var_w_plus,
        "w_minus": w_minus,
        "var_w_minus": var_w_minus,
    }
    out = {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}
    out["std_w_plus"] = np.sqrt(out["var_w_plus"])
    out["std_w_minus"] = np.sqrt(out["var_w_minus"])
    out["contrast"] = out["w_plus"] - out["w_minus"]
    out["std_contrast"] = np.sqrt(out["var_w_plus"] + out["var_w_minus"])
    out["studentised_contrast"] = out["contrast"] / out["std_contrast"]
    out["adjusted"] = adjusted
    return out


def _unit_cells_per_pixel(pattern, unit_cell_km2: float | None) -> float:
    if unit_cell_km2 is None:
        return 1.0
    _positive(unit_cell_km2, "unit_cell_km2", "wofe_weights")
    if not isinstance(pattern, xr.DataArray) or pattern.rio.crs is None:
        raise CRSError(
            "unit_cell_km2 needs the pixel area: pass 'pattern' as a DataArray with a projected "
            "CRS (metres), or leave unit_cell_km2=None to count in pixels."
        )
    if not pattern.rio.crs.is_projected:
        raise CRSError(
            f"unit_cell_km2 needs a projected CRS in metres; 'pattern' is in {pattern.rio.crs}. "
            "Reproject it (e.g. to UTM) first."
        )
    rx, ry = pattern.rio.resolution()
    return abs(rx * ry) / 1e6 / unit_cell_km2


def wofe_weights(pattern, deposits, *, valid=None, unit_cell_km2: float | None = None) -> dict:
    """Weights of evidence of one binary pattern (Arc-WofE equations).

    With ``b`` the pattern area, ``s`` the study area (unit cells), ``d_b`` the deposits
    on the pattern and ``d_s`` all deposits:

    - W⁺ = ln[(d_b/d_s) / ((b−d_b)/(s−d_s))], var(W⁺) = 1/d_b + 1/(b−d_b);
    - W⁻ = ln[((d_s−d_b)/d_s) / ((s−b−d_s+d_b)/(s−d_s))],
      var(W⁻) = 1/(d_s−d_b) + 1/(s−b−d_s+d_b);
    - C = W⁺ − W⁻, s(C) = √(var W⁺ + var W⁻), studentised contrast C / s(C).

    Deposits are counted as cells (one per pixel). Only valid cells count: ``valid`` True
    and ``pattern`` and ``deposits`` not NaN.

    A pattern that holds every deposit (``d_b = d_s``) would make W⁻ = ln 0. As in ArcSDM
    and EIS Toolkit, 0.99 of a deposit (:data:`DEPOSIT_ADJUSTMENT`) is then counted off
    the pattern: every term above uses ``d_b = d_s − 0.99`` (so ``d_s − d_b = 0.99``),
    and ``adjusted`` is True. With 10 of 10 deposits on 100 of 1000 cells this gives
    C = 4.499 and C/s(C) = 4.226, where the unadjusted W⁻ is undefined.

    Other degenerate counts (``d_b = 0``, ``b = d_b``, or the pattern covering the whole
    area) make a logarithm or a variance undefined. Following Arc-WofE, those quantities
    are returned as NaN and a :class:`GeoWarning` names the count at fault; the other
    weight stays usable.

    Parameters
    ----------
    pattern : ndarray or DataArray of bool
        Binary evidence (True = pattern present).
    deposits : ndarray or DataArray of bool
        True on cells holding a known deposit.
    valid : ndarray or DataArray of bool, optional
        Study area; defaults to everywhere.
    unit_cell_km2 : float, optional
        Unit-cell area in km². None counts areas in pixels; otherwise ``pattern`` must be a
        DataArray with a projected CRS so the pixel area is known.

    Returns
    -------
    dict
        ``b``, ``s`` (unit cells), ``d_b``, ``d_s`` (deposits counted, before any
        adjustment), ``prior`` = d_s/s, ``w_plus``, ``var_w_plus``, ``std_w_plus``,
        ``w_minus``, ``var_w_minus``, ``std_w_minus``, ``contrast``, ``std_contrast``,
        ``studentised_contrast`` and ``adjusted`` (bool: the weights use
        ``d_b = d_s − DEPOSIT_ADJUSTMENT``).

    Raises
    ------
    InvalidParameterError
        There are no valid cells or no deposits in the valid area.
    GridMismatchError
        The rasters are not on one grid.

    References
    ----------
    Bonham-Carter (1994) ch. 9; Kemp et al. (2001), Arc-WofE.

    Examples
    --------
    >>> pattern = np.zeros((10, 10), bool); pattern[:2] = True
    >>> deposits = np.zeros((10, 10), bool); deposits[0, :4] = True; deposits[9, 0] = True
    >>> w = wofe_weights(pattern, deposits)
    >>> w["b"], w["s"], w["d_b"], w["d_s"], round(w["w_plus"], 4), round(w["contrast"], 4)
    (20.0, 100.0, 4, 5, 1.5581, 2.9832)
    >>> deposits[9, 0] = False  # now the pattern holds every deposit
    >>> w = wofe_weights(pattern, deposits)
    >>> w["d_b"], w["adjusted"], round(w["w_minus"], 4), round(w["contrast"], 4)
    (4, True, -1.2016, 2.6489)
    """
    rasters, dep, keep = _cells(deposits, valid, pattern=pattern)
    present = rasters["pattern"] & keep
    scale = _unit_cells_per_pixel(pattern, unit_cell_km2)
    s = float(keep.sum()) * scale
    b = float(present.sum()) * scale
    d_s = int(dep.sum())
    d_b = int((dep & present).sum())
    if s == 0 or d_s == 0:
        raise InvalidParameterError(
            f"wofe_weights needs valid cells and deposits inside them; got s={s}, d_s={d_s}. "
            "Check that 'deposits' and 'valid' overlap the study area."
        )
    out = {"b": b, "s": s, "d_b": d_b, "d_s": d_s, "prior": d_s / s}
    computed = _weights(b, s, d_b, d_s)
    adjusted = bool(computed.pop("adjusted"))
    out |= {k: float(v) for k, v in computed.items()}
    out["adjusted"] = adjusted
    bad = [k for k in ("w_plus", "w_minus", "var_w_plus", "var_w_minus") if math.isnan(out[k])]
    if bad:
        warnings.warn(
            f"wofe_weights: {', '.join(bad)} undefined (NaN) for b={b}, s={s}, d_b={d_b}, "
            f"d_s={d_s}: a count in the Arc-WofE equations is 0 (d_b = 0, b = d_b, or the "
            "pattern covers the study area). Enlarge or shrink the pattern, or use a larger "
            "unit cell.",
            GeoWarning,
            stacklevel=2,
        )
    return out


def wofe_generalise(
    evidence,
    deposits,
    *,
    valid=None,
    ascending: bool = False,
    min_studentised: float = 2.0,
) -> tuple[float, pd.DataFrame]:
    """Binarise a multi-class or continuous evidence layer at the best cumulative class.

    Each distinct evidence value ``v`` defines a cumulative class: the cells with
    evidence ≥ v (``ascending=False``, high values favourable) or ≤ v (``ascending=True``,
    e.g. distance to a fault). Weights are computed for each cumulative class as in
    :func:`wofe_weights`, and the threshold is the class with maximum contrast C among
    those whose studentised contrast C/s(C) ≥ ``min_studentised`` (Bonham-Carter 1994
    ch. 9). This is the rule of ArcSDM's Calculate Weights (maximum contrast among rows
    with studentised contrast ≥ the confidence level) and of EIS Toolkit's
    ``max_feasible_contrast`` method (which requires C/s(C) strictly above its threshold).
    EIS Toolkit's default method is ``max_contrast_if_feasible`` instead: the class with
    maximum C overall, rejected when its C/s(C) is below the threshold, whose default is
    1; geo's default floor is 2.

    Classes that hold every deposit are weighted with ``d_b = d_s − 0.99``
    (:data:`DEPOSIT_ADJUSTMENT`; ``adjusted`` is True in the table), so a class with no
    deposit outside it can be chosen, as in ArcSDM and EIS Toolkit. Classes whose
    weights stay undefined (no deposit in the class, or the class covering the whole
    area) are not eligible. Bin a continuous layer first if it has very many distinct
    values.

    Parameters
    ----------
    evidence : ndarray or DataArray
        Evidence values; NaN is outside the study area.
    deposits : ndarray or DataArray of bool
        True on deposit cells.
    valid : ndarray or DataArray of bool, optional
        Study area; defaults to everywhere evidence is defined.
    ascending : bool
        Cumulate from the smallest value up (small values favourable).
    min_studentised : float
        Floor on C/s(C) for a class to be chosen.

    Returns
    -------
    threshold : float
        Pattern = evidence ≥ threshold (≤ when ``ascending``).
    table : DataFrame
        One row per cumulative class, in cumulation order: ``threshold``, ``b``, ``s``,
        ``d_b``, ``d_s`` (deposits counted), the weights, variances and standard
        deviations, ``contrast``, ``std_contrast``, ``studentised_contrast``, ``adjusted``
        (the weights use ``d_b = d_s − DEPOSIT_ADJUSTMENT``) and ``selected``.

    Raises
    ------
    InvalidParameterError
        No class reaches ``min_studentised`` (the message gives the best one), there are
        no deposits in the study area, or ``min_studentised`` is not finite.

    Examples
    --------
    >>> ev = np.array([[3.0, 3.0, 2.0, 2.0] + [1.0] * 16])
    >>> dep = np.zeros((1, 20), bool); dep[0, [0, 2, 10]] = True
    >>> t, table = wofe_generalise(ev, dep, min_studentised=1.0)
    >>> t, table["studentised_contrast"].round(2).tolist()
    (2.0, [1.3, 1.88, nan])
    >>> dep = np.zeros((1, 20), bool); dep[0, [0, 1]] = True  # every deposit in class >= 3
    >>> t, table = wofe_generalise(ev, dep, min_studentised=1.0)
    >>> t, table["adjusted"].tolist(), table["contrast"].round(2).tolist()
    (3.0, [True, True, False], [2.86, 1.63, nan])
    """
    if not (isinstance(min_studentised, Real) and math.isfinite(min_studentised)):
        raise InvalidParameterError(
            "The 'min_studentised' parameter of wofe_generalise must be a finite number. "
            f"Got {min_studentised!r} instead."
        )
    _check_grid({"evidence": evidence, "deposits": deposits, "valid": valid})
    ev = _values(evidence, "evidence")
    _, dep, keep = _cells(deposits, valid)
    keep &= np.isfinite(ev)
    dep &= keep
    if not dep.any():
        raise InvalidParameterError(
            "wofe_generalise: no deposit falls on a valid cell with defined evidence. Check "
            "that 'deposits' overlaps 'evidence'."
        )
    values, inverse = np.unique(ev[keep], return_inverse=True)
    area = np.bincount(inverse, minlength=values.size)
    hits = np.bincount(inverse, weights=dep[keep].astype("float64"), minlength=values.size)
    if not ascending:
        values, area, hits = values[::-1], area[::-1], hits[::-1]
    b, d_b = np.cumsum(area).astype("float64"), np.cumsum(hits).astype("int64")
    s, d_s = float(keep.sum()), int(dep.sum())
    table = pd.DataFrame({"threshold": values, "b": b, "s": s, "d_b": d_b, "d_s": d_s})
    table = table.assign(**_weights(b, s, d_b, d_s))
    eligible = table["studentised_contrast"] >= min_studentised
    if not eligible.any():
        best = table["studentised_contrast"].max()
        if math.isnan(best):
            raise InvalidParameterError(
                "wofe_generalise: no cumulative class has defined weights (each holds no "
                "deposit or covers the whole study area). Use evidence with more than one "
                "class around the deposits."
            )
        raise InvalidParameterError(
            f"wofe_generalise: no cumulative class reaches a studentised contrast of "
            f"{min_studentised!r} (min_studentised); the best is {float(best):.4g}. Lower "
            "min_studentised, use other evidence, or add deposits."
        )
    chosen = table["contrast"].where(eligible).idxmax()
    table["selected"] = table.index == chosen
    return float(table.loc[chosen, "threshold"]), table


def _deposit_count(n_deposits, weights: Sequence[Mapping[str, float]]) -> float:
    """Return n of the prior's variance 1/n: ``n_deposits``, else the weights' one ``d_s``."""
    if n_deposits is not None:
        return _positive(n_deposits, "n_deposits", "wofe_posterior")
    counts = {w.get("d_s") for w in weights}
    if len(counts) != 1 or None in counts:
        raise InvalidParameterError(
            "The 'n_deposits' parameter of wofe_posterior is needed for the posterior's "
            f"standard deviation (its 1/n term); the weights give d_s = {sorted(map(str, counts))}. "
            "Pass n_deposits (the number of training deposits), or weights from wofe_weights."
        )
    return _positive(counts.pop(), "n_deposits", "wofe_posterior")


def wofe_posterior(
    patterns: Mapping[str, object],
    weights: Mapping[str, Mapping[str, float]],
    prior: float,
    *,
    n_deposits: float | None = None,
    valid=None,
    name: str = "posterior",
):
    """Posterior probability from binary patterns and their weights.

    logit(P_post) = logit(prior) + Σⱼ Wⱼ with Wⱼ = W⁺ where pattern j is present and
    W⁻ where it is absent. The standard deviation follows Bonham-Carter (1994, ch. 9):
    var(P_post) ≈ P_post² · (1/n + Σⱼ var(Wⱼ)), where 1/n is the variance of the prior
    logit estimated from n training deposits and var(Wⱼ) is var(W⁺) or var(W⁻) like Wⱼ.
    ArcSDM's Calculate Response and EIS Toolkit compute the same
    s(P) = P·√(1/n + Σ var W). It is the delta-method variance for small P, so it
    overstates the uncertainty where P_post is large.

    Conditional independence is assumed; check it with :func:`conditional_independence`.

    Parameters
    ----------
    patterns : mapping of str to ndarray or DataArray of bool
        Binary patterns on one grid; NaN cells are outside the study area.
    weights : mapping of str to dict
        Per pattern, at least ``w_plus``, ``w_minus``, ``var_w_plus`` and ``var_w_minus``
        (the output of :func:`wofe_weights`).
    prior : float
        Prior probability d_s/s, in (0, 1).
    n_deposits : float, optional
        Number of training deposits n (d_s) behind the prior, > 0. By default the
        ``d_s`` of the weights (the output of :func:`wofe_weights` carries it), which
        must then be the same for every pattern.
    valid : ndarray or DataArray of bool, optional
        Study area; NaN outside it.
    name : str
        Name of a DataArray result (the std is named ``name + "_std"``).

    Returns
    -------
    posterior, std : ndarray or DataArray
        float32 rasters; NaN outside the study area.

    Raises
    ------
    InvalidParameterError
        ``prior`` is not in (0, 1), a pattern has no weights (or a weight is missing or
        NaN), ``patterns`` is empty, or ``n_deposits`` is not > 0 (or, not given, the
        weights do not carry one ``d_s``).
    GridMismatchError
        The rasters are not on one grid.

    References
    ----------
    Bonham-Carter (1994) ch. 9; Kemp et al. (2001), Arc-WofE.

    Examples
    --------
    >>> p, sd = wofe_posterior(
    ...     {"a": np.array([[True, False]])},
    ...     {"a": {"w_plus": 1.0, "w_minus": -0.5, "var_w_plus": 0.1, "var_w_minus": 0.05}},
    ...     prior=0.1, n_deposits=20)
    >>> print(p.round(4), sd.round(4))  # sd = p * sqrt(1/20 + 0.1), p * sqrt(1/20 + 0.05)
    [[0.232  0.0631]] [[0.0898 0.02  ]]
    """
    if not (isinstance(prior, Real) and 0.0 < prior < 1.0):
        raise InvalidParameterError(
            f"The 'prior' parameter of wofe_posterior must be a probability in (0, 1), "
            f"usually d_s / s. Got {prior!r} instead."
        )
    if not patterns:
        raise InvalidParameterError("The 'patterns' parameter of wofe_posterior is empty.")
    for key in patterns:
        w = weights.get(key, {})
        bad = [k for k in _WEIGHT_KEYS if not math.isfinite(w.get(k, math.nan))]
        if bad:
            raise InvalidParameterError(
                f"The 'weights' parameter of wofe_posterior must give finite {bad} for "
                f"pattern {key!r}. Got {dict(w)!r} instead; recompute them with wofe_weights "
                "or generalise the pattern differently."
            )
    n = _deposit_count(n_deposits, [weights[key] for key in patterns])
    first = next(iter(patterns.values()))
    _check_grid({**patterns, "valid": valid})
    keep = np.ones(np.shape(first), dtype=bool)
    if valid is not None:
        v, defined = _mask(valid, "valid")
        keep &= v & defined
    logit = np.full(keep.shape, math.log(prior / (1.0 - prior)))
    var = np.zeros(keep.shape)
    for key, raster in patterns.items():
        present, defined = _mask(raster, key)
        keep &= defined
        w = weights[key]
        logit += np.where(present, w["w_plus"], w["w_minus"])
        var += np.where(present, w["var_w_plus"], w["var_w_minus"])
    post = 1.0 / (1.0 + np.exp(-logit))
    std = post * np.sqrt(1.0 / n + var)
    post, std = np.where(keep, post, np.nan), np.where(keep, std, np.nan)
    return _wrap(first, post, name), _wrap(first, std, f"{name}_std")


def conditional_independence(
    patterns: Mapping[str, object], deposits, *, valid=None, alpha: float = 0.05
) -> pd.DataFrame:
    """Pairwise χ² test of conditional independence of binary patterns, given the deposits.

    For each pair (A, B), the deposits are cross-tabulated on presence/absence of A and B;
    the 2×2 table gives χ² = n(ad − bc)² / [(a+b)(c+d)(a+c)(b+d)] with 1 degree of
    freedom (no continuity correction; Bonham-Carter 1994 ch. 9). A pair whose p-value is
    below ``alpha`` is flagged ``violated`` and named in a :class:`GeoWarning`: its
    posterior probabilities will be inflated. Where a margin is empty (a pattern holds all
    or none of the deposits) the test is undefined: χ² and p are NaN and the pair is not
    flagged.

    Parameters
    ----------
    patterns : mapping of str to ndarray or DataArray of bool
        At least two binary patterns on one grid.
    deposits : ndarray or DataArray of bool
        True on deposit cells.
    valid : ndarray or DataArray of bool, optional
        Study area.
    alpha : float
        Significance level in (0, 1).

    Returns
    -------
    DataFrame
        ``layer_a``, ``layer_b``, ``n_deposits``, ``both``, ``a_only``, ``b_only``,
        ``neither``, ``chi2``, ``p_value``, ``violated``.

    Raises
    ------
    InvalidParameterError
        Fewer than two patterns, or ``alpha`` outside (0, 1).

    Examples
    --------
    >>> a = np.array([[True, True, False, False]])
    >>> dep = np.ones((1, 4), bool)
    >>> ci = conditional_independence({"a": a, "b": np.array([[True, False, True, False]])}, dep)
    >>> float(ci.loc[0, "chi2"]), bool(ci.loc[0, "violated"])
    (0.0, False)
    """
    if len(patterns) < 2:
        raise InvalidParameterError(
            "The 'patterns' parameter of conditional_independence needs at least two "
            f"patterns. Got {list(patterns)!r} instead."
        )
    if not (isinstance(alpha, Real) and 0.0 < alpha < 1.0):
        raise InvalidParameterError(
            f"The 'alpha' parameter of conditional_independence must be in (0, 1). Got {alpha!r} instead."
        )
    rasters, dep, _ = _cells(deposits, valid, **patterns)
    rows = []
    for name_a, name_b in itertools.combinations(rasters, 2):
        a, b = rasters[name_a][dep], rasters[name_b][dep]
        n11, n10, n01, n00 = (int(v.sum()) for v in (a & b, a & ~b, ~a & b, ~a & ~b))
        n = n11 + n10 + n01 + n00
        denom = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
        chi2 = n * (n11 * n00 - n10 * n01) ** 2 / denom if denom else math.nan
        # survival function of χ² with 1 degree of freedom: P(X > x) = erfc(√(x/2))
        p = math.erfc(math.sqrt(chi2 / 2)) if denom else math.nan
        rows.append((name_a, name_b, n, n11, n10, n01, n00, chi2, p, bool(p < alpha)))
    table = pd.DataFrame(
        rows,
        columns=[
            "layer_a",
            "layer_b",
            "n_deposits",
            "both",
            "a_only",
            "b_only",
            "neither",
            "chi2",
            "p_value",
            "violated",
        ],
    )
    for row in table[table["violated"]].itertuples():
        warnings.warn(
            f"conditional_independence: '{row.layer_a}' and '{row.layer_b}' are not "
            f"conditionally independent given the deposits (chi2={row.chi2:.3g}, "
            f"p={row.p_value:.3g} < alpha={alpha}); posterior probabilities will be inflated. "
            "Drop or merge one of them, or use logistic regression.",
            GeoWarning,
            stacklevel=2,
        )
    return table


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def _scored(score, deposits, valid) -> tuple[np.ndarray, np.ndarray]:
    """Return (scores, is_deposit) for valid cells with a finite score."""
    _check_grid({"score": score, "deposits": deposits, "valid": valid})
    values = _values(score, "score")
    _, dep, keep = _cells(deposits, valid)
    keep &= np.isfinite(values)
    if not (dep & keep).any():
        raise InvalidParameterError(
            "No deposit falls on a valid cell with a finite score; check that 'deposits' "
            "overlaps 'score' and 'valid'."
        )
    return values[keep], dep[keep]


def success_rate_curve(score, deposits, *, valid=None) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative fraction of deposits against cumulative fraction of area, best cells first.

    Cells are ranked by ``score``, descending. Cells with equal scores cannot be ordered,
    so each group of ties is added at once (one vertex per distinct score). With the
    training deposits this is the success-rate curve; with held-out deposits, the
    prediction-rate curve (Carranza 2008 ch. 7–8).

    Parameters
    ----------
    score : ndarray or DataArray
        Prospectivity score; NaN cells are left out.
    deposits : ndarray or DataArray of bool
        True on deposit cells.
    valid : ndarray or DataArray of bool, optional
        Study area.

    Returns
    -------
    area_fraction, deposit_fraction : ndarray
        Non-decreasing, starting at 0 and ending at 1.

    Raises
    ------
    InvalidParameterError
        No deposit on a valid, scored cell.

    Examples
    --------
    >>> area, dep = success_rate_curve(np.array([[4.0, 3.0, 2.0, 1.0]]),
    ...                                np.array([[True, False, True, False]]))
    >>> area.tolist(), dep.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    values, dep = _scored(score, deposits, valid)
    unique, inverse = np.unique(-values, return_inverse=True)
    area = np.bincount(inverse, minlength=unique.size)
    hits = np.bincount(inverse, weights=dep.astype("float64"), minlength=unique.size)
    area_fraction = np.concatenate([[0.0], np.cumsum(area) / values.size])
    deposit_fraction = np.concatenate([[0.0], np.cumsum(hits) / dep.sum()])
    return area_fraction, deposit_fraction


def curve_auc(x, y) -> float:
    """Area under a curve by the trapezoidal rule (e.g. a success-rate curve).

    0.5 is a random ranking for a success-rate curve, 1 a perfect one.

    Parameters
    ----------
    x, y : array-like
        Vertices, ``x`` non-decreasing.

    Returns
    -------
    float

    Raises
    ------
    InvalidParameterError
        ``x`` and ``y`` differ in length, have fewer than 2 points, or ``x`` decreases.

    Examples
    --------
    >>> curve_auc([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    0.75
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if x.ndim != 1 or x.shape != y.shape or x.size < 2 or (np.diff(x) < 0).any():
        raise InvalidParameterError(
            "The 'x' and 'y' parameters of curve_auc must be 1-D, of equal length >= 2, with "
            f"'x' non-decreasing. Got shapes {x.shape} and {y.shape} instead."
        )
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))  # trapezoid rule, numpy 1.26-safe


def area_capture(
    score, deposits, fractions: Sequence[float] = (0.05, 0.10, 0.20), *, valid=None
) -> dict[float, float]:
    """Fraction of deposits inside the top-scoring fractions of the area.

    Read from :func:`success_rate_curve` by linear interpolation, so a group of tied
    scores that straddles a cut counts in proportion to the area taken from it.

    Parameters
    ----------
    score : ndarray or DataArray
        Prospectivity score; NaN cells are left out.
    deposits : ndarray or DataArray of bool
        True on deposit cells.
    fractions : sequence of float
        Area fractions in (0, 1].
    valid : ndarray or DataArray of bool, optional
        Study area.

    Returns
    -------
    dict of float to float
        ``{area fraction: deposit fraction captured}``.

    Raises
    ------
    InvalidParameterError
        A fraction is outside (0, 1], or no deposit is on a valid, scored cell.

    Examples
    --------
    >>> area_capture(np.array([[4.0, 3.0, 2.0, 1.0]]), np.array([[True, False, True, False]]),
    ...              fractions=(0.25, 0.5))
    {0.25: 0.5, 0.5: 0.5}
    """
    bad = [f for f in fractions if not (isinstance(f, Real) and 0.0 < f <= 1.0)]
    if bad or not fractions:
        raise InvalidParameterError(
            f"The 'fractions' parameter of area_capture must hold area fractions in (0, 1]. "
            f"Got {list(fractions)!r} instead."
        )
    area, dep = success_rate_curve(score, deposits, valid=valid)
    return {float(f): float(np.interp(f, area, dep)) for f in fractions}


def draw_positions(population: int, k: int, random_state: int = 0) -> np.ndarray:
    """Sorted positions of ``min(k, population)`` cells drawn without replacement.

    Memory follows ``k``, not the population (``Generator.choice(..., replace=False)``
    allocates the whole population): batches of random integers are drawn and repeats
    dropped until ``k`` distinct positions are found. Deterministic for a given seed.

    Examples
    --------
    >>> draw_positions(10, 3, random_state=1).tolist() == draw_positions(10, 3, 1).tolist()
    True
    >>> draw_positions(4, 10).tolist()
    [0, 1, 2, 3]
    """
    k = min(int(k), int(population))
    if k == population:
        return np.arange(population)
    rng = np.random.default_rng(random_state)
    picked = np.empty(0, dtype="int64")
    while picked.size < k:
        extra = rng.integers(0, population, size=2 * (k - picked.size) + 16)
        picked = np.concatenate([picked, extra])
        _, first = np.unique(picked, return_index=True)
        picked = picked[np.sort(first)]  # keep the draw order, repeats dropped
    return np.sort(picked[:k])


def roc_auc(
    score, deposits, *, valid=None, n_background: int = 10000, random_state: int = 0
) -> float:
    """ROC-AUC of deposit cells against randomly drawn background cells.

    Up to ``n_background`` non-deposit valid cells are drawn without replacement as
    negatives; the deposit cells are the positives (:func:`sklearn.metrics.roc_auc_score`).

    Parameters
    ----------
    score : ndarray or DataArray
        Prospectivity score; NaN cells are left out.
    deposits : ndarray or DataArray of bool
        True on deposit cells.
    valid : ndarray or DataArray of bool, optional
        Study area.
    n_background : int
        Number of background cells to draw (all when fewer exist).
    random_state : int
        Seed of the draw.

    Returns
    -------
    float
        1 when every deposit outscores every background cell, 0.5 for a random score.

    Raises
    ------
    InvalidParameterError
        ``n_background`` < 1, no deposit or no background cell is valid and scored.

    Examples
    --------
    >>> roc_auc(np.array([[4.0, 3.0, 2.0, 1.0]]), np.array([[True, True, False, False]]))
    1.0
    """
    if isinstance(n_background, bool) or not isinstance(n_background, int) or n_background < 1:
        raise InvalidParameterError(
            f"The 'n_background' parameter of roc_auc must be an int >= 1. Got {n_background!r} instead."
        )
    values, dep = _scored(score, deposits, valid)
    background = values[~dep]
    if background.size == 0:
        raise InvalidParameterError(
            "roc_auc: every valid, scored cell holds a deposit; there is no background to compare with."
        )
    positions = draw_positions(background.size, n_background, random_state)
    drawn = background[positions]
    labels = np.concatenate([np.ones(int(dep.sum())), np.zeros(drawn.size)])
    from sklearn.metrics import roc_auc_score  # imported here: scikit-learn is slow to import

    return float(roc_auc_score(labels, np.concatenate([values[dep], drawn])))
