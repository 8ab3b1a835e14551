"""Anomaly thresholds computed over valid pixels, in a streaming way.

Statistics need the whole scene, so they come from one chunk-wise pass that fills a
:class:`ValueHistogram`: every valid value is counted in a bin of its own float32 bit
pattern (the top 16 of its 23 mantissa bits kept), with the exact count, minimum and
maximum (and, for ``mean_std``, the exact sum and sum of squares). The pipeline fills it in
the pass that computes and writes the index, so a threshold never reads the layer again.
Memory stays at one chunk per worker plus the histogram (a few MB), whatever the scene size.

**Error bound** (against numpy's exact ``np.median``, ``np.percentile`` and
``np.median(np.abs(t - np.median(t)))`` of the same valid values, ``t`` in float64): the
statistics are computed exactly on the values each replaced by the centre of its bin, and a
bin never mixes values with values of another bin, so every order statistic moves by at
most half its bin's width. A bin spans a relative width of 2**-16 of its values, hence:

- ``log`` (ratios, ``t = log(index)``): a bin is at most ``log(1 + 2**-16) < 2**-16`` wide in
  ``t``; median and percentiles are within ``2**-17`` (7.6e-6) of the exact value, the MAD
  within ``2**-16`` (1.5e-5) and so the robust cut-off ``exp(median + k * 1.4826 * MAD)``
  within a relative ``(0.5 + 1.4826 * k) * 2**-16`` (7.6e-5 for k = 3). Heavy tails and
  outliers do not widen the bins (they are relative to each value, not to the range).
- without ``log``: a bin is at most ``2**-16`` of its values' magnitude wide, so a quantile is
  within ``2**-17 * m`` of the exact one, ``m`` the larger magnitude of the (one or two) order
  statistics it interpolates (``|median|`` for a unimodal layer), and the MAD within
  ``2**-17 * (|median| + MAD)`` plus the median's own error; a layer whose spread is below
  about 1e-4 of its magnitude (nearly constant) is resolved only to that.
- ``otsu`` and ``concentration_area`` work on 65,536 equal bins between the exact minimum and
  maximum, as before; each fine bin's count goes to the equal bin holding its centre, so a
  count can differ from the exact one by the values within one fine bin of an edge.

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

import threading
from dataclasses import asdict, dataclass, field
from typing import cast

import dask.array as dsa
import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError, TooFewPixelsError

__all__ = [
    "HIST_BITS",
    "METHODS",
    "MIN_PIXELS",
    "Threshold",
    "ValueHistogram",
    "anomaly_z",
    "fit_threshold",
    "threshold",
    "threshold_from_histogram",
]

METHODS = ("robust_z", "mean_std", "percentile", "otsu", "concentration_area")
#: Fewest valid pixels a threshold is fitted on.
MIN_PIXELS = 100
_BINS = 1 << 16  # equal bins of the Otsu and concentration-area methods
#: Mantissa bits of a value a :class:`ValueHistogram` bin keeps: bins 2**-16 of a value wide.
HIST_BITS = 16
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


_SIGN = np.uint32(0x80000000)
_PAGES = 512  # sign and exponent of a float32: the top 9 bits of its ordered key
_DENSE_BINS = 1 << 20  # widest key range counted with one bincount (8 MB of counts)


def _ordered(x: np.ndarray) -> np.ndarray:
    """float32 values -> uint32 keys in the same order (negative values flipped)."""
    u = x.view(np.uint32)
    return np.where(u & _SIGN, ~u, u | _SIGN)


def _from_ordered(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_ordered`: uint32 keys -> float32 values."""
    keys = keys.astype(np.uint32)
    return np.where(keys & _SIGN, keys ^ _SIGN, ~keys).astype(np.uint32).view(np.float32)


class ValueHistogram:
    """Streaming histogram of an index's valid values, in bins of their own float32 bits.

    A value's bin is its float32 bit pattern (in value order) with all but the top
    ``bits`` mantissa bits dropped: 2**bits bins per power of two, each ``2**-bits`` of its
    values' magnitude wide, whatever the range of the data (see the module's error bound).
    Counts live in pages of 2**bits bins, one per sign and exponent met, so memory follows
    the orders of magnitude the data span (512 KB each), not their number. Exact count,
    minimum and maximum are kept, and with ``moments`` the exact sum and sum of squares of
    ``t`` (float64) for ``mean_std``.

    :meth:`add` takes any block of values (NaN = not counted; with ``log`` only positive
    values count, as ``log`` is taken of them) and is thread-safe, so a histogram is also a
    :func:`dask.array.store` target (``hist[key] = block``): the chunked pass that writes a
    layer fills it with the blocks it writes. Histograms of the same kind :meth:`merge`.

    Examples
    --------
    >>> h = ValueHistogram(log=False)
    >>> h.add(np.array([1.0, 2.0, 3.0, np.nan, 4.0, 100.0], dtype="float32"))
    >>> h.count, round(h.quantile(0.5), 4), round(h.mad(), 4)
    (5, 3.0, 1.0)
    """

    def __init__(self, *, log: bool, bits: int = HIST_BITS, moments: bool = False) -> None:
        if not 1 <= bits <= 23:
            raise ValueError(f"bits must be in 1..23; got {bits!r}")
        self.log, self.bits, self.moments = bool(log), int(bits), bool(moments)
        self._shift = np.uint32(23 - self.bits)
        self._pages: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self.count = 0
        self.vmin = np.inf  # of the values counted (index units, not log)
        self.vmax = -np.inf
        self.sum = 0.0  # of t, with ``moments``
        self.sumsq = 0.0

    # -- filling

    def __setitem__(self, key, block: np.ndarray) -> None:
        """``dask.array.store`` target: count ``block`` (its position does not matter)."""
        self.add(block)

    def add(self, block: np.ndarray) -> None:
        """Count the valid values of ``block`` (any shape; NaN and, with ``log``, <= 0 skipped)."""
        x = np.asarray(block, dtype=np.float32).ravel()
        x = x[x > 0] if self.log else x[~np.isnan(x)]
        if x.size == 0:
            return
        lo, hi = x.min(), x.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):  # infinities are not counted
            x = x[np.isfinite(x)]
            if x.size == 0:
                return
            lo, hi = x.min(), x.max()
        keys = (x.view(np.uint32) | _SIGN if self.log else _ordered(x)) >> self._shift
        parts = self._count(keys)
        moments = None
        if self.moments:
            t = np.log(x) if self.log else x  # float32, as the z-scores are computed
            t64 = t.astype(np.float64)
            moments = (float(t64.sum()), float(np.dot(t64, t64)))
        with self._lock:
            for page, offset, counts in parts:
                held = self._pages.get(page)
                if held is None:
                    held = self._pages[page] = np.zeros(1 << self.bits, dtype=np.int64)
                held[offset : offset + counts.size] += counts
            self.count += int(x.size)
            self.vmin = min(self.vmin, float(lo))
            self.vmax = max(self.vmax, float(hi))
            if moments is not None:
                self.sum += moments[0]
                self.sumsq += moments[1]

    def _count(self, keys: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """Bin counts of ``keys`` as ``(page, first bin in the page, counts)`` pieces."""
        bits, per_page = self.bits, 1 << self.bits
        first, last = int(keys.min()), int(keys.max())
        pieces = []
        if last - first < _DENSE_BINS:  # the usual case: one bincount over the keys' range
            counts = np.bincount(keys - np.uint32(first), minlength=last - first + 1)
            for page in range(first >> bits, (last >> bits) + 1):
                start = max(first, page << bits)
                stop = min(last + 1, (page + 1) << bits)
                piece = counts[start - first : stop - first]
                if piece.any():
                    pieces.append((page, start - (page << bits), piece))
            return pieces
        # values over many orders of magnitude: count page by page in groups of pages
        pages = keys >> np.uint32(bits)
        present = np.flatnonzero(np.bincount(pages, minlength=_PAGES))
        group = max(1, _DENSE_BINS // per_page)
        for i in range(0, present.size, group):
            chosen = present[i : i + group]
            lut = np.full(_PAGES, -1, dtype=np.int64)
            lut[chosen] = np.arange(chosen.size)
            slot = lut[pages]
            inside = slot >= 0
            dense = slot[inside] * per_page + (keys[inside] & np.uint32(per_page - 1))
            counts = np.bincount(dense, minlength=chosen.size * per_page)
            for j, page in enumerate(chosen):
                pieces.append((int(page), 0, counts[j * per_page : (j + 1) * per_page]))
        return pieces

    def merge(self, other: ValueHistogram) -> ValueHistogram:
        """Add the counts of ``other`` (same ``log`` and ``bits``) to this one; return self."""
        if (other.log, other.bits, other.moments) != (self.log, self.bits, self.moments):
            raise ValueError("cannot merge histograms of different kinds")
        with self._lock:
            for page, counts in other._pages.items():
                held = self._pages.setdefault(page, np.zeros(1 << self.bits, dtype=np.int64))
                held += counts
            self.count += other.count
            self.vmin, self.vmax = min(self.vmin, other.vmin), max(self.vmax, other.vmax)
            self.sum += other.sum
            self.sumsq += other.sumsq
        return self

    # -- reading

    def bins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-empty bins in increasing order: ``(lower, upper, count)``, bounds in ``t``.

        ``t`` is log(value) with ``log``. The bounds are the smallest and largest float32
        value a bin can hold (so every counted value lies within them).
        """
        lows, highs, counts = [], [], []
        shift, low_bits = self._shift, np.uint32((1 << (23 - self.bits)) - 1)
        for page in sorted(self._pages):
            held = self._pages[page]
            nonzero = np.flatnonzero(held)
            if nonzero.size == 0:
                continue
            keys = ((np.uint32(page) << np.uint32(self.bits)) | nonzero.astype(np.uint32)) << shift
            lows.append(_from_ordered(keys).astype(np.float64))
            highs.append(_from_ordered(keys | low_bits).astype(np.float64))
            counts.append(held[nonzero])
        if not counts:
            empty = np.zeros(0)
            return empty, empty, np.zeros(0, dtype=np.int64)
        low, high, count = np.concatenate(lows), np.concatenate(highs), np.concatenate(counts)
        # the bins' own span is wider than the data at both ends: clip to the exact extremes
        low = np.clip(low, self.vmin, self.vmax)
        high = np.clip(high, self.vmin, self.vmax)
        if self.log:
            low, high = np.log(low), np.log(high)
        return low, high, count

    def _centres(self) -> tuple[np.ndarray, np.ndarray]:
        low, high, count = self.bins()
        return 0.5 * (low + high), count

    def quantile(self, q: float) -> float:
        """``np.percentile(t, 100 q)`` (linear) of the counted values, within the bound."""
        centres, count = self._centres()
        return _quantile(centres, count, q)

    def mad(self, center: float | None = None) -> float:
        """Median absolute deviation of ``t`` from ``center`` (default: the median)."""
        centres, count = self._centres()
        center = _quantile(centres, count, 0.5) if center is None else center
        distance = np.abs(centres - center)
        order = np.argsort(distance, kind="stable")
        return _quantile(distance[order], count[order], 0.5)

    def t_range(self) -> tuple[float, float]:
        """Smallest and largest ``t`` (log of the extremes with ``log``; float32 as ``t`` is)."""
        lo, hi = np.float32(self.vmin), np.float32(self.vmax)
        if self.log:
            lo, hi = np.log(lo), np.log(hi)
        return float(lo), float(hi)

    def equal_bins(self, n: int = _BINS) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(counts, edges)`` of ``n`` equal bins of ``t`` between its extremes.

        Each fine bin's count goes to the equal bin holding its centre.
        """
        lo, hi = self.t_range()
        if hi <= lo:
            hi = lo + 1e-6
        edges = np.linspace(lo, hi, n + 1)
        centres, count = self._centres()
        which = np.clip(((centres - lo) / (hi - lo) * n).astype(np.int64), 0, n - 1)
        return np.bincount(which, weights=count, minlength=n).astype(np.float64), edges


def _quantile(sorted_values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """Return numpy's linear percentile of a multiset: sorted values and their counts."""
    cdf = np.cumsum(counts)
    n = int(cdf[-1])
    h = (n - 1) * q
    below = int(np.floor(h))

    def order_statistic(rank: int) -> float:  # 0-based
        return float(sorted_values[int(np.searchsorted(cdf, rank, side="right"))])

    a = order_statistic(below)
    b = order_statistic(min(below + 1, n - 1))
    return a + (h - below) * (b - a)


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

    Notes
    -----
    One pass over the chunks fills a :class:`ValueHistogram`; the statistics are within the
    bound of the module docstring. A pipeline fills the histogram in the pass that writes
    the layer and calls :func:`threshold_from_histogram` instead.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray(np.tile([1.0, 2.0, 3.0, 4.0, 5.0], 40), dims="x")
    >>> t = fit_threshold(x, name="demo", method="robust_z", k=2, log=False)
    >>> round(t.center, 2), round(t.scale, 2), round(t.cutoff, 2)  # median 3, MAD 1
    (3.0, 1.48, 5.97)
    """
    name = name or str(index.name)
    _check_method(name, method, k, percentile)
    hist = ValueHistogram(log=log, moments=method == "mean_std")
    values = index if valid is None else index.where(valid)
    if isinstance(values.data, dsa.Array):
        # the histogram is a store target: each chunk is counted as it is computed
        dsa.store(values.data, hist, lock=False, compute=True)  # type: ignore[arg-type]
    else:
        hist.add(np.asarray(values.values))
    return threshold_from_histogram(hist, name=name, method=method, k=k, percentile=percentile)


def _check_method(name: str, method: str, k: float, percentile: float) -> None:
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


def threshold_from_histogram(
    hist: ValueHistogram,
    *,
    name: str,
    method: str = "robust_z",
    k: float = 3.0,
    percentile: float = 97.5,
) -> Threshold:
    """Fit a threshold from a filled :class:`ValueHistogram` (see :func:`fit_threshold`).

    ``mean_std`` needs a histogram filled with ``moments=True``.

    Raises
    ------
    TooFewPixelsError
        Fewer than :data:`MIN_PIXELS` values were counted.
    InvalidParameterError
        Bad parameters, or no spread.
    """
    _check_method(name, method, k, percentile)
    n = hist.count
    if n < MIN_PIXELS:
        raise TooFewPixelsError(
            f"Index {name!r} has only {n} valid pixels; at least {MIN_PIXELS} are needed for a threshold. "
            "The scene may be almost entirely masked (cloud, water, vegetation) or outside the AOI."
        )
    log = hist.log
    median = hist.quantile(0.5)
    if method == "mean_std":
        if not hist.moments:
            raise ValueError("mean_std needs a histogram filled with moments=True")
        center = hist.sum / n
        scale = float(np.sqrt(max(hist.sumsq / n - center**2, 0.0) * n / max(n - 1, 1)))
    else:
        center = median
        scale = _MAD_TO_SIGMA * hist.mad(median)
    details: dict = {}
    if method == "percentile":
        cut_t = hist.quantile(percentile / 100.0)
    elif method == "otsu":
        cut_t, details = _otsu(*hist.equal_bins())
    elif method == "concentration_area":
        cut_t, details = _concentration_area(*hist.equal_bins(), log=log, name=name)
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
