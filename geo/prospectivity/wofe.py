"""Weights of evidence with the equations implemented in Arc-WofE.

Counts are in unit cells: ``b`` pattern area, ``s`` total area, ``d_b`` deposits on the
pattern, ``d_s`` all deposits (Kemp et al. 2001; Bonham-Carter 1994 ch. 9). Where every
deposit lies on the pattern (``d_b = d_s``), the weights use ``d_b = d_s − 0.99``
(:data:`DEPOSIT_ADJUSTMENT`, as ArcSDM and EIS Toolkit do) and say so (``adjusted``). The
posterior's standard deviation includes the prior's term: s(P) = P·√(1/d_s + Σ var W).

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

from geo.errors import CRSError, GeoWarning, InvalidParameterError
from geo.prospectivity._arrays import _cells, _check_grid, _mask, _positive, _values, _wrap

__all__ = [
    "DEPOSIT_ADJUSTMENT",
    "conditional_independence",
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
    count = next(iter(counts)) if len(counts) == 1 else None
    if count is None:
        raise InvalidParameterError(
            "The 'n_deposits' parameter of wofe_posterior is needed for the posterior's "
            f"standard deviation (its 1/n term); the weights give d_s = {sorted(map(str, counts))}. "
            "Pass n_deposits (the number of training deposits), or weights from wofe_weights."
        )
    return _positive(count, "n_deposits", "wofe_posterior")


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
