"""Anomaly thresholds computed over valid pixels, in a streaming way.

Statistics need the whole scene, so they come from chunk-wise reductions: one
pass gives count, sum, sum of squares, min and max; a second pass gives a fine
histogram from which the median, MAD and percentiles are read. Memory stays at
one chunk per worker plus the histogram, whatever the scene size.

Methods (``../shared/DOMAIN.md`` §3, "Thresholds"):

- ``robust_z``: z = (t − median) / (1.4826 · MAD); anomalous where z ≥ k.
- ``mean_std``: z = (t − μ) / σ; anomalous where z ≥ k (k = 1.5 possible, 2 probable, 3 strong).
- ``percentile``: anomalous where the index ≥ its p-th percentile; z is reported robustly.
- ``otsu`` (Otsu 1979): the cut maximising the between-class variance of the histogram. It
  assumes two comparable modes while alteration is usually < 5 % of a scene: a cross-check.
- ``concentration_area`` (Cheng et al. 1994, C–A fractal): log(area with value ≥ v) against
  log(v) is fitted with two straight lines; the break between the background and the anomaly
  populations is the threshold, and both slopes are recorded.

``t`` is log(index) for ratio indices (they are skewed) and the index itself otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import cast

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError, TooFewPixelsError

__all__ = ["METHODS", "MIN_PIXELS", "Threshold", "anomaly_z", "fit_threshold", "threshold"]

METHODS = ("robust_z", "mean_std", "percentile", "otsu", "concentration_area")
#: Fewest valid pixels a threshold is fitted on.
MIN_PIXELS = 100
_BINS = 1 << 16
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma


@dataclass(frozen=True)
class Threshold:
    """A fitted threshold and the statistics it came from (recorded in the manifest).

    Attributes
    ----------
    index : str
        Index name.
    method : str
        One of :data:`METHODS`.
    log : bool
        Statistics were computed on log(index).
    k : float or None
        Multiplier for the z methods.
    percentile : float or None
        Percentile for the percentile method.
    center, scale : float
        Location and spread of ``t`` (median and 1.4826·MAD, or mean and σ).
    cutoff : float
        The threshold in index units: pixels at or above it are anomalous.
    n_valid : int
        Number of valid pixels the statistics used.
    details : dict
        Method-specific figures (Otsu's between-class variance, the C–A slopes and fit range).
    """

    index: str
    method: str
    log: bool
    k: float | None
    percentile: float | None
    center: float
    scale: float
    cutoff: float
    n_valid: int
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)


def _transform(values: xr.DataArray, log: bool) -> xr.DataArray:
    if not log:
        return values
    # a numpy ufunc on a DataArray returns a DataArray (numpy's stubs say ndarray)
    return cast(xr.DataArray, np.log(values.where(values > 0)))


def _quantile_from_hist(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    """Value below which a fraction ``q`` of the histogram mass lies (linear within a bin)."""
    cdf = np.cumsum(counts, dtype="float64")
    target = q * cdf[-1]
    i = int(np.searchsorted(cdf, target, side="left"))
    i = min(i, len(counts) - 1)
    below = cdf[i - 1] if i > 0 else 0.0
    inside = counts[i]
    frac = 0.5 if inside == 0 else (target - below) / inside
    return float(edges[i] + frac * (edges[i + 1] - edges[i]))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cdf = np.cumsum(weights[order], dtype="float64")
    return float(values[order][np.searchsorted(cdf, 0.5 * cdf[-1])])


def _otsu(counts: np.ndarray, edges: np.ndarray) -> tuple[float, dict]:
    """Otsu's threshold on a histogram: maximise ω0·ω1·(μ0 − μ1)² over the bin edges."""
    centres = 0.5 * (edges[:-1] + edges[1:])
    p = counts / counts.sum()
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    mu_total = mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_total * w0 - mu) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = -1.0
    i = int(np.argmax(between))
    return float(edges[i + 1]), {"between_class_variance": float(between[i])}


def _line_sse(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and the sum of squared residuals of a straight line through (x, y)."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(np.sum((y - (slope * x + intercept)) ** 2))


def _concentration_area(
    counts: np.ndarray, edges: np.ndarray, *, log: bool, name: str
) -> tuple[float, dict]:
    """Concentration–area break: two lines fitted to log A(≥v) against log v; break = threshold."""
    area = np.cumsum(counts[::-1])[::-1]  # pixels with t >= each lower bin edge
    t = edges[:-1]
    total = area[0]
    # fit from the median to where fewer than 10 pixels remain: the tail beyond is noise
    keep = (area <= 0.5 * total) & (area >= 10)
    if not log and edges[0] <= 0:
        raise InvalidParameterError(
            f"concentration_area for index {name!r} needs positive values (a log-log plot); "
            f"the smallest valid value is {edges[0]:.4g}."
        )
    x = t[keep] if log else np.log(t[keep])
    y = np.log10(area[keep])
    if x.size < 12:
        raise InvalidParameterError(
            f"concentration_area for index {name!r}: too few distinct values above the median "
            "for a two-line fit; use robust_z or percentile."
        )
    # candidate breaks on a coarse grid; two lines, or three when the anomaly population shows
    # as a plateau (it does when it is distinct from the background); BIC picks the model and
    # the threshold is the first break, where the background population ends
    cand = np.unique(np.linspace(6, x.size - 6, min(80, x.size - 12)).astype(int))
    segs = {j: _line_sse(x[:j], y[:j]) for j in cand}
    tails = {j: _line_sse(x[j:], y[j:]) for j in cand}
    two = min((segs[j][1] + tails[j][1], j) for j in cand)
    three = min(
        (segs[j][1] + _line_sse(x[j:k], y[j:k])[1] + tails[k][1], j, k)
        for j in cand
        for k in cand
        if k - j >= 6
    )
    n = x.size

    def bic(sse: float, params: int) -> float:
        return n * np.log(max(sse, 1e-12) / n) + params * np.log(n)

    if bic(three[0], 6) < bic(two[0], 4):
        j, k = three[1], three[2]
        slopes = {"slope_background": segs[j][0], "slope_anomaly": tails[k][0]}
        breaks = [float(t[keep][j]), float(t[keep][k])]
    else:
        j = two[1]
        slopes = {"slope_background": segs[j][0], "slope_anomaly": tails[j][0]}
        breaks = [float(t[keep][j])]
    details = {**slopes, "breaks": breaks, "fit_points": int(n)}
    return breaks[0], details


def fit_threshold(
    index: xr.DataArray,
    valid: xr.DataArray | None = None,
    *,
    name: str | None = None,
    method: str = "robust_z",
    k: float = 3.0,
    percentile: float = 97.5,
    log: bool = True,
) -> Threshold:
    """Fit an anomaly threshold on the valid pixels of one index layer.

    Parameters
    ----------
    index : xarray.DataArray
        ``(y, x)`` index values (numpy or dask backed); NaN pixels are ignored.
    valid : xarray.DataArray of bool, optional
        Pixels that may enter the statistics (e.g. the mask and an area of interest).
    name : str, optional
        Index name for the result; defaults to ``index.name``.
    method : {"robust_z", "mean_std", "percentile", "otsu", "concentration_area"}
        Threshold rule.
    k : float
        z multiplier for the z methods.
    percentile : float
        Percentile in (0, 100) for the percentile method.
    log : bool
        Compute on log(index) (ratios).

    Returns
    -------
    Threshold

    Raises
    ------
    InvalidParameterError
        Unknown method, k ≤ 0, percentile outside (0, 100), fewer than 100 valid
        pixels, or no spread (MAD or σ = 0).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray(np.tile([1.0, 2.0, 3.0, 4.0, 5.0], 40), dims="x")
    >>> t = fit_threshold(x, name="demo", method="robust_z", k=2, log=False)
    >>> round(t.center, 2), round(t.scale, 2), round(t.cutoff, 2)  # median 3, MAD 1
    (3.0, 1.48, 5.97)
    """
    name = name or str(index.name)
    if method not in METHODS:
        raise InvalidParameterError(
            f"Anomaly method {method!r} for index {name!r} is unknown; choose from {', '.join(METHODS)}."
        )
    if method != "percentile" and not k > 0:
        raise InvalidParameterError(f"The 'k' parameter for index {name!r} must be > 0. Got {k!r}.")
    if method == "percentile" and not 0 < percentile < 100:
        raise InvalidParameterError(
            f"The 'percentile' parameter for index {name!r} must be in (0, 100). Got {percentile!r}."
        )
    t = _transform(index, log)
    if valid is not None:
        t = t.where(valid)
    data = t.data if isinstance(t.data, dsa.Array) else dsa.from_array(t.data)
    finite = dsa.isfinite(data)
    clean = dsa.where(finite, data, 0.0).astype("float64")
    n, s, ss, lo, hi = dask.compute(
        finite.sum(), clean.sum(), (clean**2).sum(), dsa.nanmin(data), dsa.nanmax(data)
    )
    n = int(n)
    if n < MIN_PIXELS:
        raise TooFewPixelsError(
            f"Index {name!r} has only {n} valid pixels; at least {MIN_PIXELS} are needed for a threshold. "
            "The scene may be almost entirely masked (cloud, water, vegetation) or outside the AOI."
        )
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1e-6
    counts, edges = dsa.histogram(data[finite], bins=_BINS, range=(lo, hi))
    counts = np.asarray(counts.compute(), dtype="float64")
    median = _quantile_from_hist(counts, edges, 0.5)
    if method == "mean_std":
        center = s / n
        scale = float(np.sqrt(max(ss / n - center**2, 0.0) * n / max(n - 1, 1)))
    else:
        centres = 0.5 * (edges[:-1] + edges[1:])
        keep = counts > 0
        center = median
        scale = _MAD_TO_SIGMA * _weighted_median(np.abs(centres[keep] - median), counts[keep])
    details: dict = {}
    if method == "percentile":
        cut_t = _quantile_from_hist(counts, edges, percentile / 100.0)
    elif method == "otsu":
        cut_t, details = _otsu(counts, edges)
    elif method == "concentration_area":
        cut_t, details = _concentration_area(counts, edges, log=log, name=name)
    else:
        if scale <= 0:
            raise InvalidParameterError(
                f"Index {name!r} has no spread over its valid pixels (scale 0); a z threshold "
                "is meaningless. Use method: percentile, or check the input scene."
            )
        cut_t = center + k * scale
    cutoff = float(np.exp(cut_t)) if log else float(cut_t)
    return Threshold(
        index=name,
        method=method,
        log=log,
        k=float(k) if method in ("robust_z", "mean_std") else None,
        percentile=float(percentile) if method == "percentile" else None,
        center=float(center),
        scale=float(scale),
        cutoff=cutoff,
        n_valid=n,
        details=details,
    )


def threshold(
    indices: xr.DataArray,
    mask: xr.DataArray | None = None,
    *,
    name: str | None = None,
    method: str = "robust_z",
    k: float = 3.0,
    percentile: float = 97.5,
    log: bool | None = None,
) -> Threshold:
    """Fit an anomaly threshold the way a pipeline does, on what the previous steps returned.

    Parameters
    ----------
    indices : xarray.DataArray
        One ``(y, x)`` index layer, or the ``(index, y, x)`` cube of
        :func:`geo.compute_indices` with ``name`` choosing the layer.
    mask : xarray.DataArray, optional
        The reason raster of :func:`geo.compute_masks` (valid where 0) or a boolean raster
        (valid where True).
    name : str, optional
        The index (required for a cube).
    method, k, percentile
        As :func:`fit_threshold`.
    log : bool, optional
        Statistics on log(index); by default as the catalogue says for the index (ratios),
        else False.

    Returns
    -------
    Threshold
    """
    if "index" in indices.dims:
        if name is None:
            raise InvalidParameterError(
                "threshold: name the index of the cube (name=...); it holds "
                f"{', '.join(map(str, indices['index'].values))}."
            )
        indices = indices.sel(index=name, drop=True)
    valid = None
    if mask is not None:
        valid = mask == 0 if mask.dtype.kind in "iu" else mask.astype(bool)
    if log is None:
        log = _catalogue_log(name or str(indices.name), indices.attrs.get("sensor"))
    return fit_threshold(
        indices, valid, name=name, method=method, k=k, percentile=percentile, log=log
    )


def _catalogue_log(name: str, sensor) -> bool:
    from geo.spectral.indices import get_index, index_names

    if name not in index_names():
        return False
    try:
        return bool(get_index(name, sensor or "landsat_oli").log_stats)
    except InvalidParameterError:
        return False


def anomaly_z(index: xr.DataArray, threshold: Threshold) -> xr.DataArray:
    """Return the z-score of each pixel relative to the fitted statistics (lazy).

    For ``percentile`` thresholds the score uses the robust centre/scale that were
    also fitted, so intensities stay comparable between methods.
    """
    t = _transform(index, threshold.log)
    scale = threshold.scale if threshold.scale > 0 else np.nan
    return ((t - threshold.center) / scale).astype("float32").rename(f"{threshold.index}_z")
