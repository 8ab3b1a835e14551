"""Evaluation figures: success-/prediction-rate curves and score histograms.

The builders return a :class:`matplotlib.figure.Figure` on an Agg canvas, made without
pyplot (no global state, safe in threads and on headless machines); the caller saves it,
e.g. ``fig.savefig(path, dpi=150)``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from numbers import Real

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from geo.errors import InvalidParameterError
from geo.prospectivity import curve_auc

__all__ = ["plot_rate_curves", "plot_score_histogram"]


def _fractions(values: Sequence[float], name: str, caller: str) -> list[float]:
    bad = [f for f in values if isinstance(f, bool) or not (isinstance(f, Real) and 0 < f < 1)]
    if bad:
        raise InvalidParameterError(
            f"The '{name}' parameter of {caller} must hold area fractions in (0, 1). "
            f"Got {list(values)!r} instead."
        )
    return [float(f) for f in values]


def _percent(fraction: float) -> str:
    """Write an area fraction as a short percentage: 0.05 -> '5%', 0.025 -> '2.5%'."""
    return f"{fraction * 100:.3g}%"


#: Vertical step (points) between the rows of capture-fraction labels.
_ROW_PT = 10.0


class _StackedMarks(Artist):
    """Invisible artist that stacks the capture-fraction labels when the figure is drawn.

    The labels hang from the top of the axes at their fractions; once the layout is final
    (the axes' width in pixels is known), each goes on the highest row where it clears the
    labels already there, left to right, so close fractions (2 %, 5 %) never overlap. Its
    very low ``zorder`` makes the axes draw it before the labels.
    """

    def __init__(self, labels: list[Annotation]) -> None:
        super().__init__()
        self.labels = labels
        self.set_zorder(-1e6)
        self.set_in_layout(False)

    def draw(self, renderer) -> None:
        gap = renderer.points_to_pixels(3.0)  # the labels' white backings (1 pt) apart
        rows: list[float] = []  # right edge (pixels) of the last label on each row
        for label in sorted(self.labels, key=lambda a: a.xy[0]):
            label.xyann = (label.xyann[0], -10.0)
            box = label.get_window_extent(renderer)
            row = next((i for i, right in enumerate(rows) if box.x0 >= right + gap), len(rows))
            if row == len(rows):
                rows.append(box.x1)
            rows[row] = box.x1
            label.xyann = (label.xyann[0], -10.0 - _ROW_PT * row)
        self.stale = False


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_rate_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "Success- and prediction-rate curves",
    capture_fractions: Sequence[float] = (0.05, 0.10, 0.20),
) -> Figure:
    """Plot success- or prediction-rate curves with their AUC.

    Each curve is cumulative fraction of occurrences against cumulative fraction of area,
    cells ranked by score, highest first (Carranza 2008 ch. 7–8), as returned by
    :func:`~geo.prospectivity.success_rate_curve` or
    :func:`~geo.prospectivity.modelling.holdout_prediction_rate`. The legend gives each curve's
    AUC (:func:`~geo.prospectivity.curve_auc`, 3 decimals); the dashed 1:1
    diagonal is a random ranking (AUC 0.5); dotted verticals mark the area fractions at
    which capture is reported, labelled at the top (the labels of close fractions are
    stacked on rows so that they never overlap).

    Parameters
    ----------
    curves : mapping of str to (area_fraction, deposit_fraction)
        Curves by label, e.g. ``{"success (training)": ..., "prediction (LOO)": ...}``.
    title : str
        Axes title.
    capture_fractions : sequence of float
        Area fractions in (0, 1) to mark; empty for none.

    Returns
    -------
    matplotlib.figure.Figure
        One square axes, limits 0–1. Lines: the curves in order, then the diagonal,
        then one per capture fraction.

    Raises
    ------
    InvalidParameterError
        ``curves`` is empty; a curve is not two 1-D arrays of equal length >= 2 with
        values in [0, 1] and area non-decreasing; a capture fraction outside (0, 1).

    Examples
    --------
    >>> fig = plot_rate_curves({"model": ([0.0, 0.1, 1.0], [0.0, 0.8, 1.0])})
    >>> ax = fig.axes[0]
    >>> ax.get_legend_handles_labels()[1]
    ['model (AUC = 0.850)', 'random (AUC = 0.500)']
    >>> len(ax.lines)  # curve, diagonal, 3 capture fractions
    5
    """
    if not isinstance(curves, Mapping) or len(curves) == 0:
        raise InvalidParameterError(
            "The 'curves' parameter of plot_rate_curves must be a non-empty mapping of label to "
            f"(area_fraction, deposit_fraction). Got {curves!r} instead."
        )
    marks = _fractions(capture_fractions, "capture_fractions", "plot_rate_curves")
    prepared = []
    for label, curve in curves.items():
        try:
            x, y = (np.asarray(v, dtype="float64") for v in curve)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"The 'curves' parameter of plot_rate_curves must map each label to a pair "
                f"(area_fraction, deposit_fraction). Got {type(curve).__name__} for {label!r}."
            ) from exc
        if x.ndim != 1 or x.shape != y.shape or x.size < 2 or (np.diff(x) < 0).any():
            raise InvalidParameterError(
                f"The 'curves' parameter of plot_rate_curves must give, for curve {label!r}, two "
                f"1-D arrays of equal length >= 2 with the area fraction non-decreasing. Got "
                f"shapes {x.shape} and {y.shape} instead."
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()) or (
            min(x.min(), y.min()) < 0 or max(x.max(), y.max()) > 1
        ):
            raise InvalidParameterError(
                f"The 'curves' parameter of plot_rate_curves must hold fractions in [0, 1]; "
                f"curve {label!r} has values in [{float(min(x.min(), y.min()))!r}, "
                f"{float(max(x.max(), y.max()))!r}] instead."
            )
        prepared.append((str(label), x, y, curve_auc(x, y)))

    fig = _figure((5.5, 5.5))
    ax = fig.add_subplot()
    for label, x, y, auc in prepared:
        ax.plot(x, y, linewidth=1.8, label=f"{label} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="random (AUC = 0.500)")
    labels = []
    for f in marks:
        ax.axvline(f, linestyle=":", color="0.3", linewidth=0.9)
        right = f > 0.9  # near the right edge: the label goes left of its line
        labels.append(
            ax.annotate(
                _percent(f),
                xy=(f, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-2 if right else 2, -10),
                textcoords="offset points",
                ha="right" if right else "left",
                fontsize=7,
                color="0.3",
                # legible over the dotted lines and the curves
                bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
        )
    if labels:
        ax.add_artist(_StackedMarks(labels))
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
    ax.set_xlabel("cumulative fraction of area (highest score first)")
    ax.set_ylabel("cumulative fraction of occurrences")
    ax.set_aspect("equal", adjustable="box")
    ax.grid(alpha=0.25)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_score_histogram(
    score_values,
    *,
    cutoff: float | None = None,
    title: str = "Prospectivity score",
    bins: int = 50,
) -> Figure:
    """Histogram of the finite score values, with the target cutoff marked.

    Parameters
    ----------
    score_values : array-like or DataArray
        Scores of any shape; NaN (outside the study area) is left out.
    cutoff : float, optional
        Target threshold, drawn as a red dashed line labelled with the fraction of the
        scored area at or above it.
    title : str
        Axes title.
    bins : int
        Number of histogram bins (>= 1).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidParameterError
        No finite score, ``bins`` < 1, or ``cutoff`` not finite.

    Examples
    --------
    >>> fig = plot_score_histogram(np.array([[0.1, 0.2, np.nan], [0.7, 0.8, 0.9]]), cutoff=0.75)
    >>> fig.axes[0].get_legend_handles_labels()[1]
    ['cutoff 0.75 (top 40.0% of area)']
    """
    xr = sys.modules.get("xarray")  # (a DataArray means xarray is loaded; never imported here)
    data = (
        score_values.data
        if xr is not None and isinstance(score_values, xr.DataArray)
        else score_values
    )
    values = np.asarray(data, dtype="float64").ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InvalidParameterError(
            "The 'score_values' parameter of plot_score_histogram must hold at least one "
            "finite score. Got none (empty or all NaN)."
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidParameterError(
            f"The 'bins' parameter of plot_score_histogram must be an int >= 1. Got {bins!r} instead."
        )
    if cutoff is not None and not (
        isinstance(cutoff, Real) and not isinstance(cutoff, bool) and math.isfinite(cutoff)
    ):
        raise InvalidParameterError(
            f"The 'cutoff' parameter of plot_score_histogram must be a finite number or None. "
            f"Got {cutoff!r} instead."
        )
    fig = _figure((6.0, 4.0))
    ax = fig.add_subplot()
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.3)
    if cutoff is not None:
        above = float(np.mean(values >= cutoff))
        ax.axvline(
            float(cutoff),
            color="#c44e52",
            linestyle="--",
            linewidth=1.5,
            label=f"cutoff {cutoff:.3g} (top {above:.1%} of area)",
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set(title=title, xlabel="score", ylabel="cells")
    ax.grid(alpha=0.25, axis="y")
    return fig
