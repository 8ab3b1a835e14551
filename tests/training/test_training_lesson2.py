"""Lesson 2 checks: a right answer passes, the usual mistakes fail with a message that names them."""

from __future__ import annotations

import numpy as np
import pytest

from geo.spectral.indices import compute_indices
from geo.training import CheckFailed, lesson2


@pytest.fixture(scope="module")
def sample():
    return lesson2.load_sample()


@pytest.fixture(scope="module")
def bands(sample):
    return {b: sample.reflectance.sel(band=b) for b in ("blue", "green", "red")}


def _log_ratio(sample, bands):
    values = (bands["red"] / bands["blue"]).where(sample.valid).values
    return np.log(values[np.isfinite(values)])


def test_iron_ratio_right(sample, bands, capsys):
    assert lesson2.check_iron_ratio((bands["red"] / bands["blue"]).where(sample.valid))
    assert "✔ iron-oxide ratio: correct" in capsys.readouterr().out
    # the catalogue's index, masked, is the same answer; so is a plain numpy array
    catalogue = compute_indices(sample.reflectance, ["iron_oxide"]).sel(index="iron_oxide")
    assert lesson2.check_iron_ratio(catalogue.where(sample.valid).values)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda s, b: (b["blue"] / b["red"]).where(s.valid), "upside down"),
        (lambda s, b: b["red"] / b["blue"], "where(valid)"),
        (lambda s, b: b["blue"] / b["red"], "upside down"),
        (lambda s, b: (b["red"] / b["green"]).where(s.valid), "ferric-iron"),
        (
            lambda s, b: ((b["red"] - b["blue"]) / (b["red"] + b["blue"])).where(s.valid),
            "normalised",
        ),
        (lambda s, b: 1.01 * (b["red"] / b["blue"]).where(s.valid), "values differ"),
        (lambda s, b: (b["red"] / b["blue"]).where(s.valid)[:-1], "shape"),
        (lambda s, b: None, "no answer yet"),
    ],
)
def test_iron_ratio_mistakes(sample, bands, make, expected):
    with pytest.raises(CheckFailed, match="iron-oxide ratio") as err:
        lesson2.check_iron_ratio(make(sample, bands))
    assert expected in str(err.value)


@pytest.mark.parametrize("answer", [("swir1", "swir2"), (6, 7), ("B6", "b7"), ("SR_B6", "SWIR2")])
def test_clay_bands_right(answer):
    assert lesson2.check_clay_bands(*answer)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        ("swir2", "swir1", "upside down"),
        ("nir", "swir2", "vegetation"),
        ("swir1", "nir", "not where clays absorb"),
        ("red", "blue", "not where clays absorb"),
        ("x", "swir2", "not an OLI band"),
        (None, "swir2", "no answer yet"),
    ],
)
def test_clay_bands_mistakes(numerator, denominator, expected):
    with pytest.raises(CheckFailed, match=r"2\.2 µm|no answer") as err:
        lesson2.check_clay_bands(numerator, denominator)
    assert expected in str(err.value)


def test_robust_threshold_right(sample, bands):
    t = _log_ratio(sample, bands)
    median = np.median(t)
    assert lesson2.check_robust_threshold(
        np.exp(median + 3 * 1.4826 * np.median(np.abs(t - median)))
    )


def test_robust_threshold_mistakes(sample, bands):
    t = _log_ratio(sample, bands)
    median, mad = np.median(t), np.median(np.abs(t - np.median(t)))
    everything = (bands["red"] / bands["blue"]).values
    e = np.log(everything[np.isfinite(everything) & (everything > 0)])
    e_med = np.median(e)
    plain = np.exp(t)
    p_med = np.median(plain)
    cases = {
        median + 3 * 1.4826 * mad: "log units",
        np.exp(median + 3 * mad): "1.4826",
        np.exp(t.mean() + 3 * t.std()): "mean + k·σ",
        np.exp(e_med + 3 * 1.4826 * np.median(np.abs(e - e_med))): "pixels the mask removes",
        p_med + 3 * 1.4826 * np.median(np.abs(plain - p_med)): "np.log(ratio)",
        np.exp(median + 2 * 1.4826 * mad): "k = 2",
        5.0: "too high",
        None: "no answer yet",
    }
    for answer, expected in cases.items():
        with pytest.raises(CheckFailed, match="robust iron-oxide cut-off") as err:
            lesson2.check_robust_threshold(answer)
        assert expected in str(err.value), (answer, str(err.value))


def test_naive_cutoff_and_culprit(sample):
    clay = compute_indices(sample.reflectance, ["clay_hydroxyl"]).sel(index="clay_hydroxyl").values
    assert lesson2.check_naive_cutoff(np.nanmean(clay) + 2 * np.nanstd(clay))
    masked = np.where(sample.valid.values, clay, np.nan)
    with pytest.raises(CheckFailed, match="only the valid pixels"):
        lesson2.check_naive_cutoff(np.nanmean(masked) + 2 * np.nanstd(masked))
    shares = lesson2.naive_anomaly_shares()
    assert max((r for r in shares if r != "valid"), key=shares.get) == "vegetation"
    assert shares["vegetation"] > 0.5  # the riparian strip makes most of the naive anomalies
    assert lesson2.check_culprit("vegetation")
    with pytest.raises(CheckFailed, match="expected vegetation"):
        lesson2.check_culprit("water")


def test_draw_map_has_scale_bar_and_legend(sample):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    lesson2.draw_map(
        ax,
        sample.reflectance.sel(band="red").where(sample.valid),
        label="red",
        outlines={"argillic": "orange"},
    )
    texts = [t.get_text() for t in ax.texts]
    assert "N" in texts and any(t.endswith("km") for t in texts)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["masked / no data", "argillic"]
