"""Fuzzy operators and the weighted overlay: memberships combined into one score.

AND = min, OR = max, algebraic product FAP = Πμ, algebraic sum FAS = 1 − Π(1 − μ),
gamma = FAS^γ · FAP^(1−γ) (Bonham-Carter 1994 ch. 9; Carranza 2008 ch. 7); weighted overlay
S = Σwᵢxᵢ / Σwᵢ. Layers share one grid; NaN marks "no data" and propagates.

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

from collections.abc import Sequence
from numbers import Real

import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError
from geo.prospectivity._arrays import _check_grid, _layers, _values, _wrap

__all__ = ["fuzzy_and", "fuzzy_gamma", "fuzzy_or", "fuzzy_product", "fuzzy_sum", "weighted_overlay"]


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
