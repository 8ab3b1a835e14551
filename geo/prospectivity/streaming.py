"""Scene-wide statistics of a score or evidence raster in bounded memory.

The evaluation of a prospectivity map (success-rate curve, area capture, ROC-AUC) and the
typical value of each evidence layer (its median) need every pixel of the study area, but
not all at once. These functions read the raster a strip of rows at a time and give the
same numbers as the in-memory functions of :mod:`geo.prospectivity` and
:func:`numpy.median` (asserted in the tests):

* the success-rate curve only changes slope at the scores of deposit cells, so counting,
  strip by strip, how many cells score above and at each deposit's score gives every vertex
  where the curve bends (the curve is flat in between);
* ROC-AUC draws its background cells with the same generator call as
  :func:`~geo.prospectivity.roc_auc` (positions in the row-major order of the
  background cells), then collects their values in a second pass;
* the median of a float32 layer (every layer the stage writes) is found in two passes
  by the bits of its values: a histogram of the top 16 bits of each value's order key
  (its float32 bit pattern made unsigned and increasing with the value: 65 536 bins,
  which :class:`KeyHistogram` can also count in the pass that writes the layer), then,
  in the one bin holding each middle rank, a histogram of the 16 low bits, which names
  the value exactly. Other layers: a coarse histogram of the values, then the exact
  order statistic among the values of the one bin that holds it.

Memory is one strip (``rows`` × the grid's width; by default one chunk row of a
dask-backed layer, so each chunk is read once a pass) plus the deposit cells.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError
from geo.prospectivity import draw_positions

__all__ = ["KeyHistogram", "ScoreEvaluation", "evaluate_score", "streaming_median"]

_STRIP_ROWS = 512
_KEY_BITS = 16  # top bits of the order key counted by the first pass of the median
_SIGN = np.uint32(0x80000000)


def _strip_rows(layer: xr.DataArray, rows: int | None) -> int:
    """Rows of a strip: ``rows``, else one chunk row of a dask-backed layer (each chunk read once)."""
    if rows is not None:
        return int(rows)
    chunks = layer.chunks
    return int(chunks[0][0]) if chunks else _STRIP_ROWS


def _strips(
    layer: xr.DataArray, valid: np.ndarray | None, rows: int | None, *, native: bool = False
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(first row, values (r, x), keep bool (r, x))`` strip by strip.

    Values are float64, or with ``native`` float32 when the layer is float32 (exact
    either way; half the memory).
    """
    ny = layer.shape[0]
    rows = _strip_rows(layer, rows)
    dtype = "float32" if native and layer.dtype == np.float32 else "float64"
    for r0 in range(0, ny, rows):
        r1 = min(r0 + rows, ny)
        values = np.asarray(layer[r0:r1].values, dtype=dtype)
        keep = np.isfinite(values)
        if valid is not None:
            keep &= np.asarray(valid[r0:r1], dtype=bool)
        yield r0, values, keep


def _order_keys(x: np.ndarray) -> np.ndarray:
    """uint32 keys of float32 values that increase with the value (-0.0 just below 0.0).

    >>> k = _order_keys(np.array([-2.0, -0.5, 0.0, 1e-30, 3.0], dtype="float32"))
    >>> bool(np.all(np.diff(k.astype("int64")) > 0))
    True
    """
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _key_value(key: int) -> float:
    """Return the float32 value of an order key (:func:`_order_keys` inverted) as a float."""
    bits = key & 0x7FFFFFFF if key & 0x80000000 else ~key & 0xFFFFFFFF
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


class KeyHistogram:
    """Counts of finite float32 values by the top 16 bits of their order key.

    The first pass of :func:`streaming_median`; thread-safe, and a
    :func:`dask.array.store` target (``hist[key] = block``), so the chunked pass that writes
    a layer can count its values (a ``tap`` of :func:`geo.io.writers.write_rasters`).

    Examples
    --------
    >>> h = KeyHistogram()
    >>> h.add(np.array([[1.0, np.nan], [2.0, np.inf]], dtype="float32"))
    >>> h.count
    2
    """

    def __init__(self) -> None:
        self.counts = np.zeros(1 << _KEY_BITS, dtype=np.int64)
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Number of values counted."""
        return int(self.counts.sum())

    def __setitem__(self, key, block: np.ndarray) -> None:
        """``dask.array.store`` target: count ``block`` (its position does not matter)."""
        self.add(block)

    def add(self, block: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Count the finite values of ``block`` (float32; where ``keep``, when given)."""
        x = np.asarray(block)
        if x.dtype != np.float32:
            raise TypeError(f"KeyHistogram counts float32 values; got {x.dtype}")
        x = x[keep] if keep is not None else x.ravel()
        x = x[np.isfinite(x)]
        counts = np.bincount(_order_keys(x) >> _KEY_BITS, minlength=1 << _KEY_BITS)
        with self._lock:
            self.counts += counts


@dataclass
class ScoreEvaluation:
    """A score against deposit cells, from one or two passes over the raster."""

    area_fraction: np.ndarray
    deposit_fraction: np.ndarray
    scored_cells: int
    deposits_scored: int
    background: np.ndarray  # scores of the cells drawn for ROC-AUC
    deposit_scores: np.ndarray
    deposits: np.ndarray  # the deposit cells that are valid and scored (bool grid)

    def capture(self, fractions: Sequence[float]) -> dict[float, float]:
        """Share of deposits in the top ``fractions`` of the area (as ``area_capture``)."""
        return {
            float(f): float(np.interp(f, self.area_fraction, self.deposit_fraction))
            for f in fractions
        }

    def roc_auc(self) -> float:
        """ROC-AUC of the deposit cells against the drawn background (as ``roc_auc``)."""
        if self.background.size == 0:
            raise InvalidParameterError(
                "roc_auc: every valid, scored cell holds a deposit; there is no background "
                "to compare with."
            )
        from sklearn.metrics import roc_auc_score  # slow to import; only needed here

        labels = np.concatenate([np.ones(self.deposit_scores.size), np.zeros(self.background.size)])
        return float(roc_auc_score(labels, np.concatenate([self.deposit_scores, self.background])))


def evaluate_score(
    score: xr.DataArray,
    deposits: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    n_background: int = 10000,
    random_state: int = 0,
    rows: int | None = None,
) -> ScoreEvaluation:
    """Success-rate curve and ROC-AUC sample of ``score`` (dask or numpy backed), by strips.

    Gives exactly :func:`~geo.prospectivity.success_rate_curve` (the same
    vertices where the curve bends; collinear vertices in between are left out, which
    changes neither its area nor any point read from it) and the same background draw as
    :func:`~geo.prospectivity.roc_auc`.

    Parameters
    ----------
    score : xarray.DataArray
        ``(y, x)`` score; NaN cells are not scored.
    deposits : numpy.ndarray of bool
        Deposit cells, on the score's grid.
    valid : numpy.ndarray of bool, optional
        Study area.
    rows : int, optional
        Rows per strip (default: one chunk row of a dask-backed score).

    Raises
    ------
    InvalidParameterError
        No deposit lies on a valid, scored cell.

    Examples
    --------
    >>> s = xr.DataArray(np.array([[4.0, 3.0], [2.0, 1.0]]), dims=("y", "x"))
    >>> ev = evaluate_score(s, np.array([[True, False], [True, False]]), rows=1)
    >>> ev.area_fraction.tolist(), ev.deposit_fraction.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    deposits = np.asarray(deposits, dtype=bool)
    rr, cc = np.nonzero(deposits)
    # pass 1: the deposit cells' scores, the count of scored cells, the count above / at
    # each distinct deposit score, and the number of background cells
    dep_scores = np.full(rr.size, np.nan)
    n_cells = n_background_cells = 0
    dep_keep = np.zeros(rr.size, bool)
    for r0, values, keep in _strips(score, valid, rows, native=True):
        sel = (rr >= r0) & (rr < r0 + values.shape[0])
        dep_scores[sel] = values[rr[sel] - r0, cc[sel]]
        dep_keep[sel] = keep[rr[sel] - r0, cc[sel]]
        n_cells += int(keep.sum())
        n_background_cells += int((keep & ~deposits[r0 : r0 + values.shape[0]]).sum())
    dep_scores = dep_scores[dep_keep]
    scored_deposits = np.zeros_like(deposits)
    scored_deposits[rr[dep_keep], cc[dep_keep]] = True
    if dep_scores.size == 0:
        raise InvalidParameterError(
            "No deposit falls on a valid cell with a finite score; check that 'deposits' "
            "overlaps 'score' and 'valid'."
        )
    levels, hits = np.unique(-dep_scores, return_counts=True)  # descending scores
    levels = -levels
    above = np.zeros(levels.size, "int64")
    at_or_above = np.zeros(levels.size, "int64")
    # pass 2 (counts need the levels) and the background values drawn as roc_auc draws them
    drawn_pos = draw_positions(n_background_cells, n_background, random_state)
    n_draw = drawn_pos.size
    background = np.empty(n_draw)
    seen = 0
    for r0, values, keep in _strips(score, valid, rows, native=True):
        v = np.sort(values[keep])
        lv = levels.astype(v.dtype)  # float32 scores: their levels are float32 values (exact)
        above += v.size - np.searchsorted(v, lv, side="right")
        at_or_above += v.size - np.searchsorted(v, lv, side="left")
        bg = values[keep & ~deposits[r0 : r0 + values.shape[0]]]  # row-major order
        lo, hi = np.searchsorted(drawn_pos, [seen, seen + bg.size])
        background[lo:hi] = bg[drawn_pos[lo:hi] - seen]
        seen += bg.size
    area, dep = [0.0], [0.0]
    cum = 0
    for a, b, h in zip(above, at_or_above, hits, strict=True):
        x0 = a / n_cells
        if x0 > area[-1]:  # flat stretch before this group of tied scores
            area.append(x0)
            dep.append(cum / dep_scores.size)
        cum += int(h)
        area.append(b / n_cells)
        dep.append(cum / dep_scores.size)
    if area[-1] < 1.0:
        area.append(1.0)
        dep.append(1.0)
    # the draw in roc_auc is in the order of rng.choice; the AUC does not depend on order
    return ScoreEvaluation(
        np.asarray(area),
        np.asarray(dep),
        n_cells,
        int(dep_scores.size),
        background,
        dep_scores,
        scored_deposits,
    )


def streaming_median(
    layer: xr.DataArray,
    valid: np.ndarray | None = None,
    *,
    rows: int | None = None,
    histogram: KeyHistogram | None = None,
) -> float:
    """Exact median of the finite values of ``layer`` in ``valid``, in bounded memory.

    Equal to ``numpy.median`` of those values (the mean of the two middle values for an
    even count); NaN when there is none. A float32 layer takes two passes over its
    strips (one when ``histogram`` already counted it): the 16 top bits of the values'
    order keys, then the 16 low bits inside the bin of each middle rank. Other layers:
    each order statistic is found by narrowing a value range with histograms until the
    values left in it are few (or all equal). Either way a layer that is mostly one
    value (a membership clipped at 0) costs no more memory.

    Parameters
    ----------
    layer : xarray.DataArray
        ``(y, x)`` layer, numpy or dask backed.
    valid : numpy.ndarray of bool, optional
        Cells to take the median of (with a finite value).
    rows : int, optional
        Rows per strip (default: one chunk row of a dask-backed layer).
    histogram : KeyHistogram, optional
        The first pass of a float32 layer, counted elsewhere (e.g. while the layer was
        written); it must count exactly the finite values of ``layer`` in ``valid``.

    Examples
    --------
    >>> streaming_median(xr.DataArray(np.array([[5.0, 1.0], [np.nan, 3.0]]), dims=("y", "x")), rows=1)
    3.0
    >>> streaming_median(xr.DataArray(np.array([[5, 1], [2, 3]], dtype="float32"), dims=("y", "x")))
    2.5
    """
    if layer.dtype == np.float32:
        return _median_float32(layer, valid, rows, histogram)
    lo, hi, n = np.inf, -np.inf, 0
    for _, values, keep in _strips(layer, valid, rows):
        if keep.any():
            v = values[keep]
            lo, hi, n = min(lo, v.min()), max(hi, v.max()), n + v.size
    if n == 0:
        return float("nan")
    rows = _strip_rows(layer, rows)
    ranks = [(n - 1) // 2, n // 2]  # 0-based order statistics whose mean is the median
    picked = [_order_statistic(layer, valid, rows, k, lo, hi) for k in sorted(set(ranks))]
    return float((picked[0] + picked[-1]) / 2)


def _median_float32(layer, valid, rows, histogram: KeyHistogram | None) -> float:
    """:func:`streaming_median` of a float32 layer by the bits of its values (exact)."""
    if histogram is None:
        histogram = KeyHistogram()
        for _, values, keep in _strips(layer, valid, rows, native=True):
            histogram.add(values, keep)
    counts = histogram.counts
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    cum = np.cumsum(counts)
    ranks = sorted({(n - 1) // 2, n // 2})  # 0-based order statistics whose mean is the median
    bins = [int(np.searchsorted(cum, k, side="right")) for k in ranks]  # bin of each rank
    low_bits = np.uint32((1 << _KEY_BITS) - 1)
    low = {b: np.zeros(1 << _KEY_BITS, dtype=np.int64) for b in bins}
    # each bin's values lie in a range of finite values: select by value first (cheap),
    # then by key (exact: -0.0 and 0.0 are equal values but in different bins)
    first, last = 0x00800000, 0xFF7FFFFF  # keys of the lowest and highest finite float32
    ranges = {
        b: (
            _key_value(max(b << _KEY_BITS, first)),
            _key_value(min((b << _KEY_BITS) | int(low_bits), last)),
        )
        for b in low
    }
    for _, values, keep in _strips(layer, valid, rows, native=True):
        for b, held in low.items():
            lo, hi = ranges[b]
            keys = _order_keys(values[keep & (values >= lo) & (values <= hi)])
            held += np.bincount(keys[(keys >> _KEY_BITS) == b] & low_bits, minlength=1 << _KEY_BITS)
    picked = []
    for k, b in zip(ranks, bins, strict=True):
        below = int(cum[b] - counts[b])  # values in lower bins
        j = int(np.searchsorted(np.cumsum(low[b]), k - below, side="right"))
        picked.append(_key_value((b << _KEY_BITS) | j))
    return float((picked[0] + picked[-1]) / 2)


def _order_statistic(layer, valid, rows: int, k: int, lo: float, hi: float) -> float:
    """Return the k-th smallest (0-based) finite value in ``valid``; all values lie in [lo, hi]."""
    below = 0  # values smaller than lo
    while True:
        if lo == hi:
            return float(lo)
        edges = np.linspace(lo, hi, 4097)
        counts = np.zeros(edges.size - 1, "int64")
        for _, values, keep in _strips(layer, valid, rows):
            v = values[keep]
            counts += np.histogram(v[(v >= lo) & (v <= hi)], bins=edges)[0]
        cum = np.concatenate([[0], np.cumsum(counts)])
        b = int(np.searchsorted(cum, k - below, side="right") - 1)  # bin of the k-th value
        last = b == counts.size - 1
        b_lo = edges[b]
        b_hi = hi if last else np.nextafter(edges[b + 1], -np.inf)  # bins are half-open
        below += int(cum[b])
        if counts[b] <= 1 << 20:  # few enough to sort
            inside = []
            for _, values, keep in _strips(layer, valid, rows):
                v = values[keep]
                inside.append(v[(v >= b_lo) & (v <= b_hi)])
            return float(np.sort(np.concatenate(inside))[k - below])
        # many values in one bin: narrow to its actual range (equal values end the search)
        v_lo, v_hi = np.inf, -np.inf
        for _, values, keep in _strips(layer, valid, rows):
            v = values[keep]
            v = v[(v >= b_lo) & (v <= b_hi)]
            if v.size:
                v_lo, v_hi = min(v_lo, v.min()), max(v_hi, v.max())
        lo, hi = v_lo, v_hi
