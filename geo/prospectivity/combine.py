"""Evidence layers → one prospectivity score, chunk by chunk, and why each target scores.

The pieces a prospectivity stage needs on top of the kernels in
:mod:`geo.prospectivity`:

- :class:`Membership`: a fuzzy membership function (linear, large, small, gaussian,
  categories or identity) applied lazily to a (dask-backed) evidence layer;
- a **combination**: a pure function from evidence values (a mapping of name → array) to
  a score, for knowledge-driven methods (:func:`knowledge_combination`) and for weights of
  evidence (:func:`fit_wofe`); :func:`apply_combination` runs it block by block over
  chunked layers, so the score never needs a whole scene in memory;
- :func:`quantise` (cumulative classes for WofE generalisation of continuous layers);
- :func:`top_fraction_cutoff`: the score above which a chosen fraction of the area lies;
- :func:`target_breakdown`: per target, the mean and maximum score and how much each
  evidence layer raised it. The contribution of layer *i* is the target's mean score
  minus its mean score with layer *i* set to that layer's scene median: what this
  evidence adds compared with a typical location. For a weighted overlay it is exactly
  wᵢ(x̄ᵢ − medianᵢ)/Σw; for fuzzy operators, WofE and machine-learning models it is the
  same "what if this evidence were ordinary here" question asked of the model.

References: Bonham-Carter (1994) ch. 9; Carranza (2008) ch. 7 (see
:mod:`geo.prospectivity`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from geo.errors import InvalidParameterError
from geo.prospectivity import (
    DEPOSIT_ADJUSTMENT,
    fuzzy_and,
    fuzzy_gamma,
    fuzzy_gaussian,
    fuzzy_large,
    fuzzy_linear,
    fuzzy_or,
    fuzzy_product,
    fuzzy_small,
    fuzzy_sum,
    weighted_overlay,
    wofe_generalise,
    wofe_weights,
)
from geo.targets._windows import polygon_window, read_windows_many

__all__ = [
    "KNOWLEDGE_METHODS",
    "MEMBERSHIP_FUNCTIONS",
    "Combination",
    "Membership",
    "WofeModel",
    "apply_combination",
    "fit_wofe",
    "knowledge_combination",
    "quantise",
    "target_breakdown",
    "top_fraction_cutoff",
]

MEMBERSHIP_FUNCTIONS = ("identity", "linear", "large", "small", "gaussian", "categories")
KNOWLEDGE_METHODS = (
    "weighted",
    "fuzzy_and",
    "fuzzy_or",
    "fuzzy_product",
    "fuzzy_sum",
    "fuzzy_gamma",
)

Kernel = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Membership:
    """A fuzzy membership function for one evidence layer.

    Attributes
    ----------
    function : str
        ``identity`` (values already in [0, 1], e.g. a probability or a 0/1 anomaly),
        ``linear`` (0 at ``low``, 1 at ``high``; ``high < low`` decreases, e.g. a
        distance), ``large`` / ``small`` (ArcGIS FuzzyLarge / FuzzySmall with
        ``midpoint`` and ``spread``), ``gaussian`` (``midpoint``, ``spread``) or
        ``categories`` (codes → membership in ``values``; other codes get ``default``).
    missing : float, optional
        Membership given to cells without evidence (NaN), e.g. 0.5 for "unknown" under
        a cloud; by default such cells stay NaN and so leave the score undefined.

    Examples
    --------
    >>> Membership("linear", low=1000, high=0).apply(np.array([[0.0, 500.0, 2000.0]])).tolist()
    [[1.0, 0.5, 0.0]]
    >>> Membership("categories", values={1: 0.9}, default=0.1).apply(np.array([[1.0, 2.0]])).tolist()
    [[0.8999999761581421, 0.10000000149011612]]
    """

    function: str = "identity"
    low: float | None = None
    high: float | None = None
    midpoint: float | None = None
    spread: float | None = None
    values: Mapping[float, float] = field(default_factory=dict)
    default: float = 0.0
    missing: float | None = None

    def __post_init__(self) -> None:
        if self.function not in MEMBERSHIP_FUNCTIONS:
            raise InvalidParameterError(
                f"Unknown membership function {self.function!r}; choose from "
                f"{', '.join(MEMBERSHIP_FUNCTIONS)}."
            )
        needs = {
            "linear": ("low", "high"),
            "large": ("midpoint",),
            "small": ("midpoint",),
            "gaussian": ("midpoint",),
        }.get(self.function, ())
        absent = [k for k in needs if getattr(self, k) is None]
        if absent:
            raise InvalidParameterError(
                f"Membership {self.function!r} needs {' and '.join(absent)}; got none."
            )
        if self.function == "categories" and not self.values:
            raise InvalidParameterError(
                "Membership 'categories' needs 'values' (category code or name → membership)."
            )
        for label, v in [
            ("default", self.default),
            ("missing", self.missing),
            *((f"values[{k!r}]", v) for k, v in self.values.items()),
        ]:
            if v is not None and not (0.0 <= float(v) <= 1.0):
                raise InvalidParameterError(f"Membership {label} must be in [0, 1]; got {v!r}.")

    def _kernel(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype="float64")
        if self.function == "identity":
            finite = v[np.isfinite(v)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                raise InvalidParameterError(
                    "Membership 'identity' needs values in [0, 1]; found "
                    f"[{float(finite.min()):.4g}, {float(finite.max()):.4g}]. Give the evidence "
                    "a membership function (linear, large, small, gaussian)."
                )
            out = v
        elif self.function == "linear":
            assert self.low is not None and self.high is not None  # required by __post_init__
            out = fuzzy_linear(v, self.low, self.high)
        elif self.function == "large":
            assert self.midpoint is not None  # required by __post_init__
            out = fuzzy_large(v, self.midpoint, self.spread if self.spread is not None else 5.0)
        elif self.function == "small":
            assert self.midpoint is not None  # required by __post_init__
            out = fuzzy_small(v, self.midpoint, self.spread if self.spread is not None else 5.0)
        elif self.function == "gaussian":
            assert self.midpoint is not None  # required by __post_init__
            out = fuzzy_gaussian(v, self.midpoint, self.spread if self.spread is not None else 0.1)
        else:
            out = np.where(np.isfinite(v), self.default, np.nan)
            for code, mu in self.values.items():
                out = np.where(v == float(code), mu, out)
        out = np.asarray(out, dtype="float64")
        if self.missing is not None:
            out = np.where(np.isfinite(v), out, self.missing)
        return out.astype("float32")

    def apply(self, x):
        """Membership of ``x`` (ndarray, or DataArray computed lazily block by block)."""
        if isinstance(x, xr.DataArray):
            out = xr.apply_ufunc(
                self._kernel, x, dask="parallelized", output_dtypes=["float32"], keep_attrs=True
            )
            return out.rio.write_nodata(np.nan, encoded=False) if out.rio.crs else out
        return self._kernel(x)

    def describe(self) -> dict:
        """Parameters for the manifest."""
        out: dict[str, Any] = {"function": self.function}
        for key in ("low", "high", "midpoint", "spread", "missing"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.function == "categories":
            out["values"] = {str(k): v for k, v in self.values.items()}
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class Combination:
    """A score from named evidence values: ``kernel({name: array}) → array``.

    ``names`` fixes the order; ``info`` describes the method for the manifest;
    ``std_kernel`` (WofE only) gives the posterior's standard deviation.
    """

    method: str
    names: tuple[str, ...]
    kernel: Kernel
    info: dict = field(default_factory=dict)
    std_kernel: Kernel | None = None


def _as2d(values: Mapping[str, np.ndarray], names: Sequence[str]) -> tuple[list, tuple]:
    missing = [n for n in names if n not in values]
    if missing:
        raise InvalidParameterError(
            f"Evidence {', '.join(map(repr, missing))} missing; the combination needs "
            f"{', '.join(names)}."
        )
    arrays = [np.asarray(values[n], dtype="float64") for n in names]
    shape = arrays[0].shape
    return [a.reshape(1, -1) if a.ndim != 2 else a for a in arrays], shape


def knowledge_combination(
    method: str,
    names: Sequence[str],
    *,
    weights: Mapping[str, float] | None = None,
    gamma: float = 0.75,
) -> Combination:
    """Weighted overlay or a fuzzy operator over membership layers.

    Parameters
    ----------
    method : str
        One of :data:`KNOWLEDGE_METHODS`.
    names : sequence of str
        Evidence names, in order.
    weights : mapping, optional
        Weight per name for ``weighted`` (missing names weigh 1).
    gamma : float
        γ of ``fuzzy_gamma``.

    Examples
    --------
    >>> c = knowledge_combination("fuzzy_gamma", ["a", "b"], gamma=0.5)
    >>> round(float(c.kernel({"a": np.array([0.8]), "b": np.array([0.2])})[0]), 4)  # √(0.84 · 0.16)
    0.3666
    """
    names = tuple(names)
    if method not in KNOWLEDGE_METHODS:
        raise InvalidParameterError(
            f"Unknown combination {method!r}; choose from {', '.join(KNOWLEDGE_METHODS)}."
        )
    if not names:
        raise InvalidParameterError("A combination needs at least one evidence layer.")
    w = [float((weights or {}).get(n, 1.0)) for n in names]
    unknown = sorted(set(weights or {}) - set(names))
    if unknown:
        raise InvalidParameterError(
            f"Weights given for {', '.join(map(repr, unknown))}, which is not evidence; "
            f"evidence is {', '.join(names)}."
        )
    operators = {
        "fuzzy_and": fuzzy_and,
        "fuzzy_or": fuzzy_or,
        "fuzzy_product": fuzzy_product,
        "fuzzy_sum": fuzzy_sum,
    }

    def kernel(values: Mapping[str, np.ndarray]) -> np.ndarray:
        arrays, shape = _as2d(values, names)
        if method == "weighted":
            out = weighted_overlay(arrays, w)
        elif method == "fuzzy_gamma":
            out = fuzzy_gamma(arrays, gamma)
        else:
            out = operators[method](arrays)
        return np.asarray(out, dtype="float32").reshape(shape)

    info: dict[str, Any] = {"method": method, "evidence": list(names)}
    if method == "weighted":
        info["weights"] = dict(zip(names, w, strict=True))
    if method == "fuzzy_gamma":
        info["gamma"] = gamma
    return Combination(method, names, kernel, info)


def quantise(values: np.ndarray, *, classes: int = 10, ascending: bool = False, valid=None):
    """Snap continuous evidence to at most ``classes`` quantile edges (for WofE classes).

    With ``ascending=False`` (high values favourable) each value is replaced by the edge
    at or below it, so "value ≥ edge" keeps its meaning; with ``ascending=True`` by the
    edge at or above it. Layers with few distinct values are returned unchanged.

    Examples
    --------
    >>> quantise(np.arange(10.0).reshape(1, -1), classes=2).tolist()
    [[0.0, 0.0, 0.0, 0.0, 0.0, 4.5, 4.5, 4.5, 4.5, 9.0]]
    """
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise InvalidParameterError(f"classes must be an int >= 2; got {classes!r}.")
    v = np.asarray(values, dtype="float64")
    keep = np.isfinite(v) if valid is None else (np.isfinite(v) & np.asarray(valid, bool))
    finite = v[keep]
    if finite.size == 0 or np.unique(finite).size <= classes + 1:
        return v
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, classes + 1)))
    out = np.full_like(v, np.nan)
    ok = np.isfinite(v)
    if ascending:
        idx = np.clip(np.searchsorted(edges, v[ok], side="left"), 0, edges.size - 1)
    else:
        idx = np.clip(np.searchsorted(edges, v[ok], side="right") - 1, 0, edges.size - 1)
    out[ok] = edges[idx]
    return out


@dataclass(frozen=True)
class WofeModel:
    """Weights of evidence fitted on binary patterns generalised from each layer.

    Pattern *j* is present where the layer is ≥ ``thresholds[j]`` (≤ when ``ascending``).
    A cell without evidence for a layer (NaN) takes W = 0 for it (Bonham-Carter 1994,
    missing data). ``tables`` holds the cumulative-class tables of the generalisation;
    ``n_deposits`` is the number of training deposits behind ``prior`` (the 1/n term of
    the posterior's variance).
    """

    thresholds: Mapping[str, float]
    ascending: Mapping[str, bool]
    weights: Mapping[str, Mapping[str, float]]
    prior: float
    tables: Mapping[str, pd.DataFrame]
    n_deposits: int

    def patterns(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pattern presence per layer: 1.0, 0.0, or NaN where the layer has no value."""
        out = {}
        for name, cut in self.thresholds.items():
            v = np.asarray(values[name], dtype="float64")
            present = v <= cut if self.ascending[name] else v >= cut
            out[name] = np.where(np.isfinite(v), present.astype("float64"), np.nan)
        return out

    def logit(self, values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior logit and Σ var(W) per cell."""
        pats = self.patterns(values)
        first = next(iter(pats.values()))
        logit = np.full(first.shape, math.log(self.prior / (1 - self.prior)))
        var = np.zeros(first.shape)
        for name, p in pats.items():
            # undefined weights (only possible with fixed thresholds) carry no information
            w = {k: _finite(v) for k, v in self.weights[name].items()}
            logit += np.where(p == 1, w["w_plus"], np.where(p == 0, w["w_minus"], 0.0))
            var += np.where(p == 1, w["var_w_plus"], np.where(p == 0, w["var_w_minus"], 0.0))
        return logit, var

    def posterior(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Posterior probability 1 / (1 + exp(−logit))."""
        logit, _ = self.logit(values)
        return (1.0 / (1.0 + np.exp(-logit))).astype("float32")

    def posterior_std(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the standard deviation P·√(1/n + Σ var W) (Bonham-Carter 1994 ch. 9).

        1/n is the variance of the prior logit from n training deposits, Σ var W that of
        the weights used at the cell, as in ArcSDM and EIS Toolkit
        (:func:`geo.prospectivity.wofe_posterior`).
        """
        logit, var = self.logit(values)
        p = 1.0 / (1.0 + np.exp(-logit))
        return (p * np.sqrt(1.0 / self.n_deposits + var)).astype("float32")

    def combination(self) -> Combination:
        """Return the model as a :class:`Combination` (score = posterior probability)."""
        names = tuple(self.thresholds)
        adjusted = [n for n in names if self.weights[n].get("adjusted")]
        info = {
            "method": "wofe",
            "prior": self.prior,
            "n_deposits": self.n_deposits,
            "posterior_std": "P * sqrt(1/n_deposits + sum of var(W) at the cell)",
            "deposit_adjustment": {
                "value": DEPOSIT_ADJUSTMENT,
                "rule": (
                    f"where a pattern holds every deposit (d_b = d_s) its weights use "
                    f"d_b = d_s - {DEPOSIT_ADJUSTMENT} (ArcSDM, EIS Toolkit)"
                ),
                "applied_to": adjusted,
            },
            "evidence": {
                n: {
                    "pattern": f"{'<=' if self.ascending[n] else '>='} {self.thresholds[n]:.6g}",
                    **{k: _round(v) for k, v in self.weights[n].items()},
                }
                for n in names
            },
        }
        return Combination("wofe", names, self.posterior, info, std_kernel=self.posterior_std)


def _finite(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


def _round(v):
    if isinstance(v, bool | np.bool_):
        return bool(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return round(f, 6) if math.isfinite(f) else None


def fit_wofe(
    layers: Mapping[str, np.ndarray],
    deposits: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    ascending: Mapping[str, bool] | None = None,
    classes: int = 10,
    min_studentised: float = 2.0,
    thresholds: Mapping[str, float] | None = None,
) -> WofeModel:
    """Generalise each layer to a binary pattern at maximum contrast, then weigh it.

    Parameters
    ----------
    layers : mapping of str to ndarray
        Evidence on one grid (continuous values are snapped to ``classes`` quantile
        classes first; binary or categorical-membership layers keep their values).
    deposits : ndarray of bool
        Deposit (occurrence) cells.
    valid : ndarray of bool, optional
        Study area.
    ascending : mapping of str to bool
        Per layer, True when small values are favourable (distances).
    classes : int
        Quantile classes for continuous layers.
    min_studentised : float
        Floor on the studentised contrast of the chosen class.
    thresholds : mapping of str to float, optional
        Fixed pattern thresholds per layer (no generalisation for those layers), e.g. to
        refit only the weights in a hold-out fold whose few deposits cannot choose a class.
        Weights that such a fold leaves undefined count as 0 (no information).

    Notes
    -----
    A class or pattern that holds every deposit is weighted with
    ``d_b = d_s − 0.99`` (:data:`geo.prospectivity.DEPOSIT_ADJUSTMENT`), as in
    ArcSDM and EIS Toolkit; ``weights[name]["adjusted"]`` and the ``adjusted`` column of
    ``tables[name]`` record it, and :meth:`WofeModel.combination` lists the layers in
    its ``deposit_adjustment`` info.

    Raises
    ------
    InvalidParameterError
        A layer has no class reaching ``min_studentised`` (the message names it).
    """
    ascending = dict(ascending or {})
    fixed = dict(thresholds or {})
    dep = np.asarray(deposits, dtype=bool)
    study = np.ones(dep.shape, bool) if valid is None else np.asarray(valid, bool)
    thresholds, weights, tables = {}, {}, {}
    for name, values in layers.items():
        asc = bool(ascending.get(name, False))
        q = quantise(values, classes=classes, ascending=asc, valid=study)
        if name in fixed:
            cut, table = float(fixed[name]), pd.DataFrame()
        else:
            try:
                cut, table = wofe_generalise(
                    q, dep, valid=study, ascending=asc, min_studentised=min_studentised
                )
            except InvalidParameterError as exc:
                raise InvalidParameterError(f"evidence {name!r}: {exc}") from None
        pattern = np.where(np.isfinite(q), (q <= cut) if asc else (q >= cut), np.nan)
        weights[name] = wofe_weights(pattern, dep, valid=study)
        thresholds[name], tables[name] = cut, table
        ascending[name] = asc
    defined = study & np.all([np.isfinite(np.asarray(v)) for v in layers.values()], axis=0)
    n_deposits = int((dep & defined).sum())
    prior = float(n_deposits / max(defined.sum(), 1))
    if not 0 < prior < 1:
        raise InvalidParameterError(
            f"Weights of evidence need deposits inside the study area; found {n_deposits}."
        )
    return WofeModel(
        thresholds, {n: ascending[n] for n in layers}, weights, prior, tables, n_deposits
    )


def apply_combination(
    kernel: Kernel, layers: Mapping[str, xr.DataArray], *, name: str = "score"
) -> xr.DataArray:
    """Run ``kernel`` block by block over chunked layers (lazy; nothing is computed here)."""
    names = list(layers)
    arrays = [layers[n] for n in names]

    def block(*values):
        return kernel(dict(zip(names, values, strict=True))).astype("float32")

    out = xr.apply_ufunc(
        block, *arrays, dask="parallelized", output_dtypes=["float32"], join="exact"
    )
    out = out.rename(name)
    out.attrs = {}
    if arrays[0].rio.crs is not None:
        out = out.rio.write_crs(arrays[0].rio.crs).rio.write_transform(arrays[0].rio.transform())
        out = out.rio.write_nodata(np.nan, encoded=False)
    return out


def top_fraction_cutoff(score, fraction: float, *, valid=None) -> tuple[float, float]:
    """Return the score at or above which ``fraction`` of the scored area lies.

    Ties are kept whole, so the area at or above the cutoff may exceed ``fraction``;
    the achieved fraction is returned next to the cutoff. The cutoff is exact and the
    memory bounded: one pass counts the scores in 4096 bins (chunk by chunk for a
    dask-backed score), and only the distinct values of the bin holding the cutoff are
    then gathered, with their counts (which give the achieved fraction too).

    Examples
    --------
    >>> top_fraction_cutoff(np.array([[1.0, 2.0, 3.0, 4.0, np.nan]]), 0.5)
    (3.0, 0.5)
    """
    import dask.array as dsa

    if not 0 < fraction < 1:
        raise InvalidParameterError(
            f"top_area_fraction must be in (0, 1); got {fraction!r} (0.05 = the best 5 % of the area)."
        )
    data = score.data if isinstance(score, xr.DataArray) else np.asarray(score)
    if not isinstance(data, dsa.Array):  # already in memory: a plain sort
        vals = np.asarray(data, dtype="float64")
        keep = np.isfinite(vals) if valid is None else np.isfinite(vals) & np.asarray(valid, bool)
        finite = np.sort(vals[keep])[::-1]
        if finite.size == 0:
            raise InvalidParameterError("The prospectivity score is undefined everywhere.")
        cutoff = float(finite[max(math.ceil(fraction * finite.size), 1) - 1])
        return cutoff, float((finite >= cutoff).sum() / finite.size)
    v = data.astype("float64")
    keep = dsa.isfinite(v)
    if valid is not None:
        mask = valid.data if isinstance(valid, xr.DataArray) else np.asarray(valid)
        keep &= dsa.asarray(mask, chunks=v.chunks).astype(bool)
    v = dsa.where(keep, v, np.nan)
    n, lo, hi = (float(x) for x in dsa.compute(keep.sum(), dsa.nanmin(v), dsa.nanmax(v)))
    if n == 0:
        raise InvalidParameterError("The prospectivity score is undefined everywhere.")
    k = max(math.ceil(fraction * n), 1)  # the k-th best cell holds the cutoff
    if hi > lo:
        counts, edges = dsa.histogram(v, bins=4096, range=(lo, hi))
        counts = counts.compute()[::-1]  # from the top bin down
        b = int(np.searchsorted(np.cumsum(counts), k))
        above = int(counts[:b].sum())
        top_edge, low_edge = edges[::-1][b], edges[::-1][b + 1]
        closed = b == 0  # the top bin includes its upper edge

        def distinct(block):  # the distinct values of one chunk inside the bin, with counts
            x = block[(block >= low_edge) & ((block <= top_edge) if closed else (block < top_edge))]
            return np.unique(x, return_counts=True)

        import dask

        parts = dask.compute(*[dask.delayed(distinct)(blk) for blk in v.to_delayed().ravel()])
        values, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
        counts_in = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]))
        order = np.argsort(values)[::-1]
        running = above + np.cumsum(counts_in[order])
        at = int(np.searchsorted(running, k))
        # every cell of the bins above and of the bin's values down to the cutoff: no pass
        return float(values[order][at]), float(running[at]) / n
    return lo, 1.0  # one value everywhere: all of it is at the cutoff


def _breakdown_row(combination, names, blocks, inside, baseline, support) -> dict:
    """Score statistics and contributions of one target from its window of each layer."""
    values = {n: block[inside] for n, block in zip(names, blocks, strict=True)}
    full = np.asarray(combination.kernel(values), dtype="float64")
    ok = np.isfinite(full)
    rec: dict[str, object] = {
        "score_p90": float(np.percentile(full[ok], 90)) if ok.any() else np.nan,
        "score_mean": float(full[ok].mean()) if ok.any() else np.nan,
        "score_max": float(full[ok].max()) if ok.any() else np.nan,
        "score_std": np.nan,
    }
    if combination.std_kernel is not None and ok.any():
        rec["score_std"] = float(np.asarray(combination.std_kernel(values))[ok].mean())
    contrib = {}
    for n in names:
        v = values[n]
        rec[f"mean_{n}"] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
        swapped = dict(values)
        swapped[n] = np.where(np.isfinite(v), baseline[n], v)
        alt = np.asarray(combination.kernel(swapped), dtype="float64")
        contrib[n] = float(full[ok].mean() - alt[ok].mean()) if ok.any() else np.nan
        rec[f"contrib_{n}"] = contrib[n]
    top = max([c for c in contrib.values() if np.isfinite(c)], default=0.0)
    supporting = [n for n, c in contrib.items() if np.isfinite(c) and c > 0 and c >= support * top]
    rec["n_evidence"] = len(supporting)
    ordered = sorted((n for n in names if np.isfinite(contrib[n])), key=lambda n: -contrib[n])
    rec["evidence"] = ", ".join(f"{n} {contrib[n]:+.2f}" for n in ordered if contrib[n] > 0.005)
    rec["supporting"] = ",".join(supporting)
    return rec


def _by_chunk(windows, chunks, batch: int) -> list[list[int]]:
    """Split the window indices into batches of ``batch``, neighbours on the grid together.

    The windows are taken in the order of the chunk each starts in (row of chunks, then
    column): a chunk that several windows of one batch need is read and decoded once for
    them all, instead of once per batch that needs it (targets in rank order are spread over
    the scene). Without dask chunks, in order.
    """
    order = list(range(len(windows)))
    if chunks:
        row_edges, col_edges = (np.cumsum(c) for c in chunks[:2])

        def key(i: int) -> tuple[int, int]:
            (rows, cols), _ = windows[i]
            return (
                int(np.searchsorted(row_edges, rows.start, side="right")),
                int(np.searchsorted(col_edges, cols.start, side="right")),
            )

        order.sort(key=key)
    return [order[k : k + batch] for k in range(0, len(order), batch)]


def target_breakdown(
    targets: gpd.GeoDataFrame,
    layers: Mapping[str, xr.DataArray],
    combination: Combination,
    *,
    baseline: Mapping[str, float],
    support: float = 0.1,
) -> pd.DataFrame:
    """Score statistics and per-evidence contributions for each target polygon.

    Only a window around each target is read from each layer.

    Parameters
    ----------
    targets : geopandas.GeoDataFrame
        Polygons in the layers' CRS.
    layers : mapping of str to DataArray
        The combination's inputs (memberships, or raw values for WofE/ML) on one grid.
    combination : Combination
        The model that made the score.
    baseline : mapping of str to float
        Typical value per layer (the scene median), used for the contributions.
    support : float
        A layer *supports* a target when its contribution is positive and at least this
        share of the largest contribution.

    Returns
    -------
    pandas.DataFrame
        One row per target (same index): ``score_p90`` (90th percentile of the target's
        pixel scores: its best part, robust to a single noisy pixel and not diluted by a
        wide weak halo), ``score_mean``, ``score_max``, ``score_std``
        (WofE posterior σ, else NaN), ``mean_<name>`` per layer, ``contrib_<name>``,
        ``n_evidence`` (supporting layers) and ``evidence`` (text, largest first:
        ``"iron +0.21, faults +0.08"``).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_raster
    >>> a = make_raster(np.array([[1.0, 1.0], [0.0, 0.0]]))
    >>> b = make_raster(np.array([[0.0, 0.0], [0.0, 0.0]]))
    >>> comb = knowledge_combination("weighted", ["a", "b"], weights={"a": 3, "b": 1})
    >>> x0, y1 = a.x.values[0] - 15, a.y.values[0] + 15
    >>> t = gpd.GeoDataFrame(geometry=[box(x0, y1 - 30, x0 + 60, y1)], crs=a.rio.crs)
    >>> out = target_breakdown(t, {"a": a, "b": b}, comb, baseline={"a": 0.0, "b": 0.0})
    >>> out[["score_mean", "contrib_a", "contrib_b", "n_evidence", "evidence"]].values.tolist()
    [[0.75, 0.75, 0.0, 1, 'a +0.75']]
    """
    names = list(combination.names)
    first = layers[names[0]]
    transform, shape = first.rio.transform(), first.shape
    windows = [polygon_window(g, transform, shape) for g in targets.geometry]
    rows: list[dict | None] = [None] * len(windows)
    batch = 64  # targets read together: one pass of the scheduler per batch, not per target
    for part in _by_chunk(windows, first.chunks, batch):
        some = [windows[i] for i in part]
        blocks = read_windows_many([[layers[n] for n in names] for _ in some], some)
        for i, (_, inside), target_blocks in zip(part, some, blocks, strict=True):
            rows[i] = _breakdown_row(combination, names, target_blocks, inside, baseline, support)
    columns = ["score_p90", "score_mean", "score_max", "score_std"]
    columns += [f"mean_{n}" for n in names] + [f"contrib_{n}" for n in names]
    columns += ["n_evidence", "evidence", "supporting"]
    frame = pd.DataFrame(rows, index=targets.index, columns=columns)
    for c in columns[:-3]:
        frame[c] = frame[c].astype("float64").round(6)
    frame["n_evidence"] = frame["n_evidence"].astype("int64")
    return frame
