"""Data-driven prospectivity (logistic regression, random forest) and hold-out evaluation.

Pure functions on numpy arrays or ``(y, x)`` DataArrays that share one pixel grid; no I/O.
A raster result has the type of the first raster input (a DataArray keeps its coords, CRS
and attrs) and is float32. NaN marks "no data" and propagates.

Methods (``../shared/DOMAIN.md`` §4):

- Training data: the deposit cells are the positives; negatives are drawn at random,
  without replacement, from valid cells farther than a buffer from every deposit
  (:func:`sample_negatives`). Consider target-group bias: the known deposits are rarely a
  random sample of all deposits.
- Models: logistic regression on standardised evidence (its coefficients are comparable
  between layers) and random forest; both with balanced class weights, because there are
  many more negatives than positives (:func:`fit_prospectivity`). The fitted probability
  is a relative score: its level depends on the negatives-to-positives ratio.
- Evaluation on held-out deposits (:func:`holdout_prediction_rate`): leave-one-out
  (jack-knife) or spatial blocks, so that clustered deposits do not leak between the
  training and the test folds (Carranza 2008 ch. 8).

References
----------
Carranza, E.J.M. (2008). *Geochemical Anomaly and Mineral Prospectivity Mapping in GIS*.
Handbook of Exploration and Environmental Geochemistry 11, Elsevier, ch. 7–8.

Roberts, D.R. et al. (2017). Cross-validation strategies for data with temporal, spatial,
hierarchical, or phylogenetic structure. *Ecography* 40, 913–929 (block cross-validation).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from geo.errors import GeoWarning, GridMismatchError, InvalidParameterError
from geo.prospectivity._arrays import _cells, _check_grid, _mask, _values, _wrap
from geo.prospectivity.curves import curve_auc

__all__ = [
    "HoldoutResult",
    "ProspectivityModel",
    "fit_prospectivity",
    "holdout_prediction_rate",
    "sample_negatives",
]

_METHODS = ("logistic", "random_forest")
_SCHEMES = ("leave_one_out", "blocks")
_CAPTURE = (0.05, 0.10, 0.20)


# --------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------


def _rows(x, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of a raster as float64 (a dask-backed DataArray computes only those)."""
    data = x.data if isinstance(x, xr.DataArray) else x
    return np.asarray(data[r0:r1], dtype="float64")


def _check_2d(x, name: str) -> None:
    if np.ndim(x) != 2:
        raise GridMismatchError(f"'{name}' must be a 2-D (y, x) raster; got shape {np.shape(x)}.")


def _check_layers(layers, caller: str) -> list[str]:
    """Validate a non-empty mapping of 2-D rasters on one grid; return its names."""
    if not isinstance(layers, Mapping) or len(layers) == 0:
        raise InvalidParameterError(
            f"The 'layers' parameter of {caller} must be a non-empty mapping of layer name to "
            f"raster (e.g. {{'alteration': a, 'fault_distance': d}}). Got "
            f"{'an empty ' if isinstance(layers, Mapping) else ''}{type(layers).__name__} instead."
        )
    names = [str(k) for k in layers]
    for key, layer in layers.items():
        _check_2d(layer, f"layers[{key!r}]")
    _check_grid({f"layers[{k!r}]": v for k, v in layers.items()})
    return names


def _valid_mask(valid, shape: tuple[int, ...]) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    truth, defined = _mask(valid, "valid")
    return truth & defined


def _seed(random_state, caller: str):
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, Integral)
    ):
        raise InvalidParameterError(
            f"The 'random_state' parameter of {caller} must be an int seed or None. "
            f"Got {random_state!r} instead."
        )
    return None if random_state is None else int(random_state)


def _buffer(buffer_px, caller: str) -> float:
    if isinstance(buffer_px, bool) or not (
        isinstance(buffer_px, Real) and math.isfinite(buffer_px) and float(buffer_px) >= 0
    ):
        raise InvalidParameterError(
            f"The 'buffer_px' parameter of {caller} must be a finite number of pixels >= 0. "
            f"Got {buffer_px!r} instead."
        )
    return float(buffer_px)


# --------------------------------------------------------------------------------------
# Negatives
# --------------------------------------------------------------------------------------


def sample_negatives(
    deposits,
    *,
    valid=None,
    buffer_px: float,
    n: int | None = None,
    ratio: float = 10.0,
    random_state: int | None = 0,
) -> np.ndarray:
    """Draw negative (background) cells at random, away from every known deposit.

    Candidates are the valid cells whose Euclidean distance, in pixels, to the nearest
    deposit cell is strictly greater than ``buffer_px``
    (:func:`scipy.ndimage.distance_transform_edt`). Every marked deposit cell counts for
    the buffer, inside the study area or not. ``n`` cells are drawn among the candidates
    uniformly, without replacement.

    Parameters
    ----------
    deposits : ndarray or DataArray of bool
        True (or 1) on deposit cells; NaN cells are outside the study area.
    valid : ndarray or DataArray of bool, optional
        Study area; defaults to everywhere ``deposits`` is defined.
    buffer_px : float
        Exclusion radius around deposits, in pixels (>= 0). Pick it from the deposit
        footprint and the location uncertainty of the occurrence points.
    n : int, optional
        Number of negatives; defaults to ``round(ratio × number of deposit cells in the
        study area)``.
    ratio : float
        Negatives per deposit when ``n`` is not given (> 0).
    random_state : int or None
        Seed of the draw; the same seed gives the same cells.

    Returns
    -------
    ndarray of bool
        ``(y, x)`` mask, True on the ``n`` negative cells.

    Raises
    ------
    InvalidParameterError
        No deposit in the study area, a bad ``buffer_px``, ``n`` or ``ratio``, or fewer
        than ``n`` candidate cells outside the buffer.
    GridMismatchError
        ``deposits`` and ``valid`` are not on one grid.

    Examples
    --------
    >>> dep = np.zeros((1, 10), bool); dep[0, 0] = True
    >>> neg = sample_negatives(dep, buffer_px=6, n=3)
    >>> np.flatnonzero(neg).tolist()
    [7, 8, 9]
    """
    _check_2d(deposits, "deposits")
    buffer = _buffer(buffer_px, "sample_negatives")
    seed = _seed(random_state, "sample_negatives")
    truth, _ = _mask(deposits, "deposits")
    _, dep, keep = _cells(deposits, valid)
    n_dep = int(dep.sum())
    if n_dep == 0:
        raise InvalidParameterError(
            "sample_negatives: 'deposits' has no deposit cell inside the study area ('valid'); "
            f"got {int(truth.sum())} deposit cell(s) in total. Check that the deposits overlap "
            "the grid and the valid area."
        )
    if n is None:
        if isinstance(ratio, bool) or not (
            isinstance(ratio, Real) and math.isfinite(ratio) and ratio > 0
        ):
            raise InvalidParameterError(
                f"The 'ratio' parameter of sample_negatives must be a finite number > 0. "
                f"Got {ratio!r} instead."
            )
        n = max(1, round(ratio * n_dep))
    elif isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidParameterError(
            f"The 'n' parameter of sample_negatives must be an int >= 1 or None. Got {n!r} instead."
        )
    distance = ndimage.distance_transform_edt(~truth)
    candidates = np.flatnonzero(keep & (distance > buffer))
    if candidates.size < n:
        raise InvalidParameterError(
            f"sample_negatives: {n} negatives requested (n, or ratio × {n_dep} deposits) but "
            f"only {candidates.size} valid cell(s) lie farther than buffer_px={buffer_px!r} "
            "pixels from every deposit. Lower buffer_px, n or ratio, or enlarge the study area."
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(candidates, size=int(n), replace=False)
    out = np.zeros(truth.shape, dtype=bool)
    out.flat[chosen] = True
    return out


# --------------------------------------------------------------------------------------
# Fitting and prediction
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProspectivityModel:
    """A fitted data-driven prospectivity model (from :func:`fit_prospectivity`).

    Attributes
    ----------
    estimator : sklearn estimator
        Fitted classifier: a ``Pipeline(StandardScaler, LogisticRegression)`` or a
        ``RandomForestClassifier``; class 1 is "deposit".
    feature_names : tuple of str
        Layer names, in the order of the feature columns.
    n_positive, n_negative : int
        Training cells used (after dropping rows with NaN features).
    method : str
        ``"logistic"`` or ``"random_forest"``.
    """

    estimator: Any = field(repr=False)
    feature_names: tuple[str, ...]
    n_positive: int
    n_negative: int
    method: str

    def coefficients(self) -> pd.Series:
        """Logistic-regression coefficients per layer, on standardised features.

        The features are scaled to zero mean and unit variance over the training cells,
        so a coefficient is the change in log-odds per standard deviation of its layer,
        comparable between layers.

        Returns
        -------
        Series
            Indexed by layer name, named ``"coefficient"``.

        Raises
        ------
        InvalidParameterError
            The model is not a logistic regression.
        """
        if self.method != "logistic":
            raise InvalidParameterError(
                f"coefficients() needs a model fitted with method='logistic'; this one has "
                f"method={self.method!r}. Use importances() instead."
            )
        coef = self.estimator.named_steps["model"].coef_[0]
        return pd.Series(coef, index=list(self.feature_names), name="coefficient")

    def importances(self) -> pd.Series:
        """Random-forest impurity-based feature importances (they sum to 1).

        Returns
        -------
        Series
            Indexed by layer name, named ``"importance"``.

        Raises
        ------
        InvalidParameterError
            The model is not a random forest.
        """
        if self.method != "random_forest":
            raise InvalidParameterError(
                f"importances() needs a model fitted with method='random_forest'; this one has "
                f"method={self.method!r}. Use coefficients() instead."
            )
        values = self.estimator.feature_importances_
        return pd.Series(values, index=list(self.feature_names), name="importance")

    def predict(
        self,
        layers: Mapping[str, object],
        *,
        valid=None,
        chunk_rows: int = 512,
        name: str = "prospectivity",
    ):
        """Probability of the deposit class on every cell, predicted in blocks of rows.

        Only ``chunk_rows`` rows of the layers are held in memory (as float64) at a time,
        so large or dask-backed rasters can be mapped.

        Parameters
        ----------
        layers : mapping of str to ndarray or DataArray
            The training layers by name (extra keys are ignored), on one grid.
        valid : ndarray or DataArray of bool, optional
            Study area; NaN outside it.
        chunk_rows : int
            Rows predicted at once (>= 1).
        name : str
            Name of a DataArray result.

        Returns
        -------
        ndarray or DataArray
            float32 probability in [0, 1], of the type of the first feature layer; NaN
            where any feature is NaN or outside ``valid``.

        Raises
        ------
        InvalidParameterError
            A training layer is missing from ``layers``, or ``chunk_rows`` < 1.
        GridMismatchError
            The layers (and ``valid``) are not on one grid.
        """
        missing = [k for k in self.feature_names if k not in layers]
        if missing:
            raise InvalidParameterError(
                f"The 'layers' parameter of predict must hold the training layers "
                f"{list(self.feature_names)!r}. Missing {missing!r}; got {list(layers)!r}."
            )
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, Integral) or chunk_rows < 1:
            raise InvalidParameterError(
                f"The 'chunk_rows' parameter of predict must be an int >= 1. Got {chunk_rows!r} instead."
            )
        ordered = {k: layers[k] for k in self.feature_names}
        _check_layers(ordered, "predict")
        first = ordered[self.feature_names[0]]
        if valid is not None:
            _check_2d(valid, "valid")
            _check_grid({"layers[0]": first, "valid": valid})
        ny, nx = np.shape(first)
        positive = list(self.estimator.classes_).index(1)
        out = np.full((ny, nx), np.nan, dtype="float32")
        for r0 in range(0, ny, int(chunk_rows)):
            r1 = min(ny, r0 + int(chunk_rows))
            block = np.stack([_rows(v, r0, r1) for v in ordered.values()], axis=-1)
            keep = np.isfinite(block).all(axis=-1)
            if valid is not None:
                v = _rows(valid, r0, r1)
                keep &= np.isfinite(v) & (v != 0)
            if keep.any():
                proba = self.estimator.predict_proba(block[keep])[:, positive]
                out[r0:r1][keep] = proba
        return _wrap(first, out, name)


def _estimator(method: str, random_state, params: Mapping[str, Any] | None):
    from geo.classify.estimators import check_estimator_params

    # same checks as a pipeline file's classifier: the estimator's own keys, plain values,
    # bounded sizes (n_estimators <= 5000...)
    name = "LogisticRegression" if method == "logistic" else "RandomForestClassifier"
    params = check_estimator_params(name, params, key="estimator_params")
    if method == "logistic":
        kwargs = {"class_weight": "balanced", "max_iter": 1000, "random_state": random_state}
        model = LogisticRegression(**(kwargs | params))
        return Pipeline([("scale", StandardScaler()), ("model", model)])
    kwargs = {
        "n_estimators": 300,
        "min_samples_leaf": 2,
        "class_weight": "balanced",
        "n_jobs": 1,
        "random_state": random_state,
    }
    return RandomForestClassifier(**(kwargs | params))


def fit_prospectivity(
    layers: Mapping[str, object],
    deposits,
    *,
    method: Literal["logistic", "random_forest"],
    valid=None,
    buffer_px: float = 2.0,
    negatives_ratio: float = 10.0,
    random_state: int | None = 0,
    estimator_params: Mapping[str, Any] | None = None,
) -> ProspectivityModel:
    """Fit a logistic-regression or random-forest prospectivity model.

    The positives are the deposit cells in the study area; the negatives are
    ``negatives_ratio`` × as many cells drawn by :func:`sample_negatives` outside a
    ``buffer_px`` buffer, among cells where every layer is defined. The features are the
    layer values at those cells; a deposit cell with a NaN feature is dropped (with a
    :class:`GeoWarning`). Both classes get balanced weights.

    - ``"logistic"``: ``Pipeline(StandardScaler, LogisticRegression(class_weight="balanced",
      max_iter=1000))``; see :meth:`ProspectivityModel.coefficients`.
    - ``"random_forest"``: ``RandomForestClassifier(n_estimators=300, min_samples_leaf=2,
      class_weight="balanced", n_jobs=1)``; see :meth:`ProspectivityModel.importances`.

    ``estimator_params`` overrides these settings (passed to the classifier). The same
    ``random_state`` gives the same negatives and the same model.

    Parameters
    ----------
    layers : mapping of str to ndarray or DataArray
        Continuous or binary evidence layers by name, on one grid; NaN = no data.
    deposits : ndarray or DataArray of bool
        True (or 1) on deposit cells.
    method : {"logistic", "random_forest"}
        Classifier.
    valid : ndarray or DataArray of bool, optional
        Study area.
    buffer_px : float
        Exclusion radius around deposits for the negatives, in pixels.
    negatives_ratio : float
        Negatives per deposit (> 0).
    random_state : int or None
        Seed of the negatives and of the classifier.
    estimator_params : mapping, optional
        Extra keyword arguments of ``LogisticRegression`` or ``RandomForestClassifier``:
        keys of the estimator's ``get_params()``, plain values (numbers, text, booleans,
        None, lists), within the size bounds of
        :func:`geo.classify.estimators.check_estimator_params`.

    Returns
    -------
    ProspectivityModel

    Raises
    ------
    InvalidParameterError
        Bad ``method``, ``layers`` or ``estimator_params``, no usable deposit, too few
        negative candidates.
    GridMismatchError
        The rasters are not on one grid.

    Examples
    --------
    >>> x = np.tile(np.linspace(0.0, 1.0, 20), (20, 1))
    >>> dep = np.zeros((20, 20), bool); dep[::4, 18] = True
    >>> model = fit_prospectivity({"x": x}, dep, method="logistic", buffer_px=3)
    >>> model.n_positive, model.n_negative, bool(model.coefficients()["x"] > 0)
    (5, 50, True)
    >>> p = model.predict({"x": x})
    >>> p.dtype.name, bool(p[0, 19] > p[0, 0])
    ('float32', True)
    """
    if method not in _METHODS:
        raise InvalidParameterError(
            f"The 'method' parameter of fit_prospectivity must be one of {list(_METHODS)!r}. "
            f"Got {method!r} instead."
        )
    if estimator_params is not None and not isinstance(estimator_params, Mapping):
        raise InvalidParameterError(
            "The 'estimator_params' parameter of fit_prospectivity must be a mapping of "
            f"keyword arguments or None. Got {type(estimator_params).__name__} instead."
        )
    seed = _seed(random_state, "fit_prospectivity")
    names = _check_layers(layers, "fit_prospectivity")
    _check_2d(deposits, "deposits")
    first = next(iter(layers.values()))
    _check_grid({"layers[0]": first, "deposits": deposits, "valid": valid})
    _, dep, keep = _cells(deposits, valid)
    usable = keep.copy()
    for key, layer in layers.items():  # one float64 copy at a time
        usable &= np.isfinite(_values(layer, f"layers[{key!r}]"))
    n_dep = int(dep.sum())
    if n_dep == 0:
        raise InvalidParameterError(
            "fit_prospectivity: 'deposits' has no deposit cell inside the study area ('valid'). "
            "Check that the deposits overlap the grid and the valid area."
        )
    positives = dep & usable
    n_pos = int(positives.sum())
    if n_pos == 0:
        raise InvalidParameterError(
            f"fit_prospectivity: none of the {n_dep} deposit cell(s) in the study area has "
            f"defined values in every layer of {names!r}. Check that 'deposits' overlaps the "
            "layers and 'valid'."
        )
    if n_pos < n_dep:
        warnings.warn(
            f"fit_prospectivity: {n_dep - n_pos} of {n_dep} deposit cell(s) dropped because a "
            "layer is NaN there.",
            GeoWarning,
            stacklevel=2,
        )
    if isinstance(negatives_ratio, bool) or not (
        isinstance(negatives_ratio, Real) and math.isfinite(negatives_ratio) and negatives_ratio > 0
    ):
        raise InvalidParameterError(
            "The 'negatives_ratio' parameter of fit_prospectivity must be a finite number > 0. "
            f"Got {negatives_ratio!r} instead."
        )
    # the buffer is measured from every deposit cell; candidates need all features defined
    negatives = sample_negatives(
        deposits,
        valid=usable,
        buffer_px=buffer_px,
        n=max(1, round(negatives_ratio * n_pos)),
        random_state=seed,
    )
    rows_p, cols_p = np.nonzero(positives)
    rows_n, cols_n = np.nonzero(negatives)
    rows, cols = np.concatenate([rows_p, rows_n]), np.concatenate([cols_p, cols_n])
    features = np.column_stack(
        [_values(v, f"layers[{k!r}]")[rows, cols] for k, v in layers.items()]
    )
    target = np.concatenate([np.ones(rows_p.size, int), np.zeros(rows_n.size, int)])
    estimator = _estimator(method, seed, estimator_params)
    estimator.fit(features, target)
    return ProspectivityModel(
        estimator=estimator,
        feature_names=tuple(names),
        n_positive=int(rows_p.size),
        n_negative=int(rows_n.size),
        method=method,
    )


# --------------------------------------------------------------------------------------
# Hold-out evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldoutResult:
    """Prediction-rate curve of held-out deposits (from :func:`holdout_prediction_rate`).

    Attributes
    ----------
    scheme : str
        ``"leave_one_out"`` or ``"blocks"``.
    n_folds : int
        Number of refits.
    area_fraction, deposit_fraction : ndarray
        Prediction-rate curve: vertices from (0, 0) to (1, 1), area non-decreasing.
    auc : float
        Area under the curve (0.5 = random); equals 1 − mean ``area_rank``.
    capture : dict of float to float
        Fraction of held-out deposits captured within the top 5, 10 and 20% of the area.
    per_deposit : DataFrame
        One row per held-out deposit cell: ``row``, ``col``, ``fold``, ``score`` (in its
        fold's map) and ``area_rank`` (NaN where the score is NaN).
    block_size_px : int or None
        Block edge for ``scheme="blocks"``.
    """

    scheme: str
    n_folds: int
    area_fraction: np.ndarray = field(repr=False)
    deposit_fraction: np.ndarray = field(repr=False)
    auc: float
    capture: dict[float, float]
    per_deposit: pd.DataFrame = field(repr=False)
    block_size_px: int | None = None


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InvalidParameterError(
            f"The '{name}' parameter of holdout_prediction_rate must be an int >= 1. "
            f"Got {value!r} instead."
        )
    return int(value)


def _folds(
    dep, scheme, block_size_px, n_blocks
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """Return (rows, cols, fold id) of the deposit cells, and the block size used."""
    rows, cols = np.nonzero(dep)
    if scheme == "leave_one_out":
        if block_size_px is not None or n_blocks is not None:
            raise InvalidParameterError(
                "holdout_prediction_rate: 'block_size_px' and 'n_blocks' apply to "
                "scheme='blocks' only; got scheme='leave_one_out' with "
                f"block_size_px={block_size_px!r}, n_blocks={n_blocks!r}."
            )
        return rows, cols, np.arange(rows.size), None
    if (block_size_px is None) == (n_blocks is None):
        raise InvalidParameterError(
            "holdout_prediction_rate with scheme='blocks' needs exactly one of 'block_size_px' "
            f"or 'n_blocks'. Got block_size_px={block_size_px!r}, n_blocks={n_blocks!r}."
        )
    if block_size_px is not None:
        size = _positive_int(block_size_px, "block_size_px")
    else:
        size = math.ceil(max(dep.shape) / _positive_int(n_blocks, "n_blocks"))
    n_bcols = math.ceil(dep.shape[1] / size)
    block = (rows // size) * n_bcols + cols // size
    _, fold = np.unique(block, return_inverse=True)  # blocks without deposits are skipped
    return rows, cols, fold.ravel(), size


def _ranks(score: np.ndarray, keep: np.ndarray, rows, cols) -> tuple[np.ndarray, ...]:
    """Score, and start/end of the tie group on the area axis, of cells (rows, cols)."""
    scored = keep & np.isfinite(score)
    ordered = np.sort(score[scored])
    n = ordered.size
    s = score[rows, cols]
    ok = scored[rows, cols]
    below_or_equal = np.searchsorted(ordered, s, side="right")
    below = np.searchsorted(ordered, s, side="left")
    start = np.where(ok, (n - below_or_equal) / max(n, 1), np.nan)  # strictly greater
    end = np.where(ok, (n - below) / max(n, 1), np.nan)  # greater or equal
    return np.where(ok, s, np.nan), start, end


def _pooled_curve(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over deposits of a ramp from 0 at ``start`` to 1 at ``end`` (exact vertices)."""
    area = np.unique(np.concatenate([[0.0, 1.0], start, end]))
    width = end - start  # > 0: a tie group holds at least the deposit cell itself
    ramps = np.clip((area[:, None] - start[None, :]) / width[None, :], 0.0, 1.0)
    return area, ramps.mean(axis=1)


def holdout_prediction_rate(
    fit_score: Callable[[Any], Any],
    deposits,
    *,
    valid=None,
    scheme: Literal["leave_one_out", "blocks"] = "leave_one_out",
    block_size_px: int | None = None,
    n_blocks: int | None = None,
    fractions: Sequence[float] = _CAPTURE,
) -> HoldoutResult:
    """Prediction-rate curve of deposits held out from the model fit.

    Each fold holds out some deposit cells, refits the model on the others through
    ``fit_score(train_deposits)`` and ranks the held-out deposits in the refitted map
    (Carranza 2008 ch. 8: N−n hold-outs, and leave-one-out "jack-knife" for small N).

    - ``"leave_one_out"``: one fold per deposit cell.
    - ``"blocks"``: the grid is cut into square blocks of ``block_size_px`` pixels (or,
      with ``n_blocks``, of ``ceil(max(ny, nx) / n_blocks)`` pixels, so the longer side
      is cut into ``n_blocks``), and all deposits of a block are held out together; blocks
      without deposits are skipped. Make the blocks larger than the spatial clusters of
      deposits, so neighbours of a held-out deposit cannot inform the model.

    The refitted map is ranked over the valid cells with a finite score (``N`` cells).
    A held-out deposit whose score is tied with ``t`` cells (itself included) and
    exceeded by ``g`` cells occupies the area interval ``[g/N, (g+t)/N]`` of the ranked
    map, and its ``area_rank`` is the middle of it, ``(g + t/2) / N``: the fraction of the
    area ranked above it, counting half of the ties (0 = best, 1 = worst). The
    prediction-rate curve is the mean, over held-out deposits, of their capture: 0 before
    the interval, 1 after it, linear inside, as :func:`~geo.prospectivity.success_rate_curve`
    does for a group of ties. It is thus the prediction-rate curve of the pooled hold-outs:
    with a model that ignores its training set it equals the success-rate curve. Its
    AUC (:func:`~geo.prospectivity.curve_auc`) is 1 − mean(area_rank).

    Parameters
    ----------
    fit_score : callable
        ``fit_score(train_deposits) -> score``: refits any model (weights of evidence,
        logistic regression, random forest...) on the training deposits only and returns
        its score raster (higher = more prospective; NaN = unscored) on the grid of
        ``deposits``. ``train_deposits`` is a boolean mask of the type of ``deposits`` (a
        DataArray keeps its coords): the deposit cells of the study area not held out.
    deposits : ndarray or DataArray of bool
        True (or 1) on deposit cells; at least two in the study area.
    valid : ndarray or DataArray of bool, optional
        Study area; the ranking and the deposits are restricted to it.
    scheme : {"leave_one_out", "blocks"}
        Hold-out scheme.
    block_size_px : int, optional
        Block edge in pixels (``scheme="blocks"``).
    n_blocks : int, optional
        Alternative to ``block_size_px``: number of blocks along the longer grid side.
    fractions : sequence of float
        Area fractions in (0, 1] for ``capture``.

    Returns
    -------
    HoldoutResult

    Raises
    ------
    InvalidParameterError
        A bad ``scheme`` or block setting; fewer than two deposits; a fold that would hold
        out every deposit; ``fit_score`` returning a raster of the wrong shape; or no
        held-out deposit with a finite score.
    GridMismatchError
        ``deposits`` and ``valid`` are not on one grid.

    References
    ----------
    Carranza (2008) ch. 8; Roberts et al. (2017) on block cross-validation.

    Examples
    --------
    A fixed map, so every fold sees the same scores: the deposits at columns 0 and 2 of
    ``10, 9, ..., 1`` cover the area intervals [0, 0.1] and [0.2, 0.3].

    >>> score = np.arange(10.0, 0.0, -1.0)[None, :]
    >>> dep = np.zeros((1, 10), bool); dep[0, [0, 2]] = True
    >>> res = holdout_prediction_rate(lambda train: score, dep)
    >>> res.per_deposit["area_rank"].tolist(), res.auc
    ([0.05, 0.25], 0.85)
    >>> res.area_fraction.tolist(), res.deposit_fraction.tolist()
    ([0.0, 0.1, 0.2, 0.3, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    if scheme not in _SCHEMES:
        raise InvalidParameterError(
            f"The 'scheme' parameter of holdout_prediction_rate must be one of {list(_SCHEMES)!r}. "
            f"Got {scheme!r} instead."
        )
    if not callable(fit_score):
        raise InvalidParameterError(
            "The 'fit_score' parameter of holdout_prediction_rate must be a callable "
            f"fit_score(train_deposits) -> score raster. Got {type(fit_score).__name__} instead."
        )
    bad = [f for f in fractions if not (isinstance(f, Real) and 0.0 < f <= 1.0)]
    if bad or not fractions:
        raise InvalidParameterError(
            "The 'fractions' parameter of holdout_prediction_rate must hold area fractions in "
            f"(0, 1]. Got {list(fractions)!r} instead."
        )
    _check_2d(deposits, "deposits")
    _, dep, keep = _cells(deposits, valid)
    n_dep = int(dep.sum())
    if n_dep < 2:
        raise InvalidParameterError(
            "holdout_prediction_rate needs at least 2 deposit cells in the study area (one to "
            f"hold out, one to train on). Got {n_dep}."
        )
    rows, cols, fold, size = _folds(dep, scheme, block_size_px, n_blocks)
    n_folds = int(fold.max()) + 1
    if n_folds < 2:
        raise InvalidParameterError(
            f"holdout_prediction_rate: all {n_dep} deposits fall in one block of "
            f"{size} px, so no deposit is left to train on. Lower 'block_size_px' (or raise "
            "'n_blocks')."
        )
    score_at = np.full(rows.size, np.nan)
    start = np.full(rows.size, np.nan)
    end = np.full(rows.size, np.nan)
    for k in range(n_folds):
        held = fold == k
        held_out = dep.copy()
        held_out[rows[held], cols[held]] = False
        train = deposits.copy(data=held_out) if isinstance(deposits, xr.DataArray) else held_out
        score = fit_score(train)
        if np.shape(score) != dep.shape:
            raise InvalidParameterError(
                f"holdout_prediction_rate: 'fit_score' must return a score raster of shape "
                f"{dep.shape} (the grid of 'deposits'). Got shape {np.shape(score)} in fold {k}."
            )
        values = _values(score, "score")
        score_at[held], start[held], end[held] = _ranks(values, keep, rows[held], cols[held])
    ranked = np.isfinite(start)
    if not ranked.any():
        raise InvalidParameterError(
            "holdout_prediction_rate: no held-out deposit has a finite score in its refitted "
            "map; check what 'fit_score' returns."
        )
    if not ranked.all():
        warnings.warn(
            f"holdout_prediction_rate: {int((~ranked).sum())} of {rows.size} held-out deposit(s) "
            "have a NaN score in their refitted map and are left out of the curve.",
            GeoWarning,
            stacklevel=2,
        )
    area, captured = _pooled_curve(start[ranked], end[ranked])
    per_deposit = pd.DataFrame(
        {
            "row": rows,
            "col": cols,
            "fold": fold.astype("int64"),
            "score": score_at,
            "area_rank": (start + end) / 2.0,
        }
    )
    return HoldoutResult(
        scheme=scheme,
        n_folds=n_folds,
        area_fraction=area,
        deposit_fraction=captured,
        auc=curve_auc(area, captured),
        capture={float(f): float(np.interp(f, area, captured)) for f in fractions},
        per_deposit=per_deposit,
        block_size_px=size,
    )
