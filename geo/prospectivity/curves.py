"""How well a score ranks known deposits: success-/prediction-rate curves, AUC, ROC.

Success- and prediction-rate curves, their area under the curve, the share of deposits
captured in the top area fractions, and ROC-AUC against random background (Carranza 2008
ch. 7–8).

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

from geo.errors import InvalidParameterError
from geo.prospectivity._arrays import _cells, _check_grid, _values

__all__ = ["area_capture", "curve_auc", "draw_positions", "roc_auc", "success_rate_curve"]


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
