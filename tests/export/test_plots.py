"""Evaluation figures: rate curves and score histograms (Agg, no pyplot)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from geo.errors import InvalidParameterError
from geo.export.plots import plot_rate_curves, plot_score_histogram
from geo.prospectivity import curve_auc, success_rate_curve
from geo.testing import make_raster


@pytest.fixture
def curves():
    rng = np.random.default_rng(0)
    score = rng.random((30, 30))
    dep = np.zeros((30, 30), bool)
    dep.flat[np.argsort(score, axis=None)[-40:-10]] = True  # high, not top, scores
    success = success_rate_curve(score, dep)
    prediction = (np.array([0.0, 0.05, 0.1, 0.3, 1.0]), np.array([0.0, 0.2, 0.45, 0.7, 1.0]))
    return {"success (training)": success, "prediction (LOO)": prediction}


def test_rate_curves_lines_labels_and_axes(curves):
    fig = plot_rate_curves(curves, title="Test")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    # 2 curves + random diagonal + 3 capture fractions
    assert len(ax.lines) == 6
    labels = ax.get_legend().get_texts()
    aucs = [curve_auc(*c) for c in curves.values()]
    assert [t.get_text() for t in labels] == [
        f"success (training) (AUC = {aucs[0]:.3f})",
        f"prediction (LOO) (AUC = {aucs[1]:.3f})",
        "random (AUC = 0.500)",
    ]
    # hand trapezoid: .05·.1 + .05·.325 + .2·.575 + .7·.85 = 0.73125
    assert f"{aucs[1]:.3f}" == "0.731"
    diagonal = ax.lines[2]
    assert diagonal.get_linestyle() == "--"
    np.testing.assert_array_equal(diagonal.get_xydata(), [[0, 0], [1, 1]])
    verticals = ax.lines[3:]
    assert [line.get_linestyle() for line in verticals] == [":"] * 3
    assert [line.get_xdata()[0] for line in verticals] == [0.05, 0.1, 0.2]
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert ax.get_aspect() == 1.0
    assert ax.get_xlabel() == "cumulative fraction of area (highest score first)"
    assert ax.get_ylabel() == "cumulative fraction of occurrences"
    assert ax.get_title() == "Test"


def test_rate_curves_without_capture_marks(curves):
    fig = plot_rate_curves(curves, capture_fractions=())
    assert len(fig.axes[0].lines) == 3


def test_rate_curves_saves_a_png(curves, tmp_path):
    path = tmp_path / "rate.png"
    plot_rate_curves(curves).savefig(path, dpi=80)
    assert path.stat().st_size > 10_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_rate_curves_errors(curves):
    with pytest.raises(InvalidParameterError, match=r"'curves'.*non-empty mapping"):
        plot_rate_curves({})
    with pytest.raises(
        InvalidParameterError, match=r"'capture_fractions'.*\(0, 1\).*\[0.05, 1.5\]"
    ):
        plot_rate_curves(curves, capture_fractions=(0.05, 1.5))
    with pytest.raises(InvalidParameterError, match=r"curve 'bad'.*shapes \(3,\) and \(2,\)"):
        plot_rate_curves({"bad": ([0, 0.5, 1], [0, 1])})
    with pytest.raises(
        InvalidParameterError,
        match=r"fractions in \[0, 1\]; curve 'big' has values in \[0.0, 100.0\]",
    ):
        plot_rate_curves({"big": ([0, 50, 100], [0, 0.5, 1])})
    with pytest.raises(InvalidParameterError, match=r"pair \(area_fraction, deposit_fraction\)"):
        plot_rate_curves({"triple": ([0, 1], [0, 1], [0, 1])})


def test_score_histogram_with_cutoff(tmp_path):
    values = make_raster(np.arange(100.0).reshape(10, 10) / 100)
    values[0, 0] = np.nan
    fig = plot_score_histogram(values, cutoff=0.895, title="Posterior", bins=20)
    (ax,) = fig.axes
    assert len(ax.patches) == 20
    assert sum(p.get_height() for p in ax.patches) == 99  # NaN left out
    (line,) = ax.lines
    assert line.get_xdata()[0] == 0.895 and line.get_linestyle() == "--"
    # 10 of the 99 finite scores (0.90–0.99) are >= the cutoff (0.9 itself is float32)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "cutoff 0.895 (top 10.1% of area)"
    ]
    assert ax.get_title() == "Posterior"
    path = tmp_path / "hist.png"
    fig.savefig(path, dpi=80)
    image = imread(path)
    assert image.shape[:2] == (320, 480) and path.stat().st_size > 5_000


def test_score_histogram_without_cutoff_and_errors():
    fig = plot_score_histogram(np.random.default_rng(0).random(500))
    ax = fig.axes[0]
    assert len(ax.lines) == 0 and ax.get_legend() is None
    assert len(ax.patches) == 50
    with pytest.raises(InvalidParameterError, match=r"'score_values'.*at least one finite"):
        plot_score_histogram(np.full((3, 3), np.nan), cutoff=0.5)
    with pytest.raises(InvalidParameterError, match=r"'bins'.*Got 0"):
        plot_score_histogram(np.ones(3), bins=0)
    with pytest.raises(InvalidParameterError, match=r"'cutoff'.*finite.*Got nan"):
        plot_score_histogram(np.ones(3), cutoff=float("nan"))


def _capture_labels(fig):
    ax = fig.axes[0]
    return [t for t in ax.texts if t.get_text().endswith("%")]


@pytest.mark.parametrize(
    "fractions",
    [(0.02, 0.05), (0.02, 0.05, 0.10, 0.20), (0.01, 0.02, 0.025, 0.03), (0.5, 0.93, 0.95, 0.99)],
)
def test_capture_fraction_labels_never_overlap(curves, fractions, tmp_path):
    fig = plot_rate_curves(curves, capture_fractions=fractions)
    fig.savefig(tmp_path / "rate.png", dpi=110, bbox_inches="tight")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = _capture_labels(fig)
    assert [t.get_text() for t in labels] == [f"{f * 100:.3g}%" for f in fractions]
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    frame = fig.axes[0].bbox
    for t, box in zip(labels, boxes, strict=True):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, t.get_text()
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, t.get_text()
    # 2 % and 5 % of a ~400 px axes are ~13 px apart, less than "2%" is wide: two rows
    if fractions[:2] == (0.02, 0.05):
        assert boxes[1].y1 < boxes[0].y0 or boxes[0].y1 < boxes[1].y0
    # well-separated fractions stay on the first row
    if fractions == (0.02, 0.05, 0.10, 0.20):
        assert boxes[2].y0 == boxes[3].y0 == boxes[0].y0


def test_capture_fraction_labels_at_other_dpi(curves, tmp_path):
    """The rows are worked out at each draw: a print at 300 dpi is as clear."""
    fig = plot_rate_curves(curves, capture_fractions=(0.02, 0.05, 0.06))
    fig.set_dpi(300)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in _capture_labels(fig)]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert boxes[0].y0 > boxes[1].y1  # 2 % and 5 % on two rows
