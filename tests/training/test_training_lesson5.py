"""Lesson 5 checks: right answers pass, typical mistakes get a helpful message (fast: the
sample's fault distances and occurrences are replaced by small arrays)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from geo.prospectivity import curve_auc, fuzzy_gamma, success_rate_curve, wofe_weights
from geo.testing import make_licences, make_raster
from geo.training import CheckFailed, lesson5

DISTANCE = np.array([[0.0, 300.0, 750.0, 1500.0, 3000.0], [100.0, 400.0, 600.0, 2000.0, 50.0]])


@pytest.fixture
def faults(monkeypatch):
    dist = make_raster(DISTANCE, res=30.0)
    monkeypatch.setattr(lesson5, "fault_distance", lambda: dist)
    deposits = np.array([[True, False, True, False, False], [True, True, False, False, False]])
    monkeypatch.setattr(lesson5, "occurrence_cells", lambda template=None: deposits)
    return dist, deposits


def test_membership_right_answer_passes(faults):
    assert lesson5.check_membership(np.clip(1 - DISTANCE / 1500, 0, 1))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "no answer yet"),
        (np.clip(DISTANCE / 1500, 0, 1), "reversed"),
        (1 - DISTANCE / 1500, "clip"),
        (np.clip(1 - DISTANCE / 1.5, 0, 1), "metres"),
        (np.zeros((3, 3)), "shape"),
        (np.clip(1 - DISTANCE / 1000, 0, 1), "values differ"),
    ],
)
def test_membership_mistakes(faults, answer, message):
    with pytest.raises(CheckFailed, match=message):
        lesson5.check_membership(answer)


A = np.array([[0.8, 0.9, np.nan], [0.0, 1.0, 0.5]])
B = np.array([[0.2, 0.9, 0.4], [0.3, 0.6, 0.5]])


def _gamma(g: float) -> np.ndarray:
    return (1 - (1 - A) * (1 - B)) ** g * (A * B) ** (1 - g)


def test_gamma_right_answer_passes():
    assert lesson5.check_gamma(_gamma(0.75), A, B, gamma=0.75)
    np.testing.assert_allclose(_gamma(0.75), fuzzy_gamma([A, B], 0.75), atol=1e-6)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "no answer yet"),
        (_gamma(0.25), "swapped"),
        (A * B, "product"),
        (1 - (1 - A) * (1 - B), "algebraic sum FAS"),
        (np.clip(A + B, 0, None) ** 0.75 * (A * B) ** 0.25, "not a \\+ b"),
        (np.nan_to_num(_gamma(0.75)), "nodata"),
    ],
)
def test_gamma_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        lesson5.check_gamma(answer, A, B, gamma=0.75)


def test_weights_right_answer_passes(faults):
    _, deposits = faults
    pattern = DISTANCE <= lesson5.FAULT_BUFFER_M
    s, b = pattern.size, pattern.sum()
    d_s, d_b = deposits.sum(), (pattern & deposits).sum()
    w_plus = math.log((d_b / d_s) / ((b - d_b) / (s - d_s)))
    w_minus = math.log(((d_s - d_b) / d_s) / ((s - b - d_s + d_b) / (s - d_s)))
    w = wofe_weights(pattern, deposits)
    assert math.isclose(w_plus, w["w_plus"]) and math.isclose(w_minus, w["w_minus"])
    assert lesson5.check_weights(w_plus, w_minus)


def test_weights_mistakes(faults):
    w = lesson5.expected_weights()
    with pytest.raises(CheckFailed, match="swapped"):
        lesson5.check_weights(w["w_minus"], w["w_plus"])
    with pytest.raises(CheckFailed, match="log10"):
        lesson5.check_weights(w["w_plus"] / math.log(10), w["w_minus"])
    with pytest.raises(CheckFailed, match=r"W−: .* too"):
        lesson5.check_weights(w["w_plus"], w["w_minus"] + 0.5)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson5.check_weights(None, None)


def test_auc_right_answer_and_reversed_ranking(faults):
    score = make_raster(np.array([[0.9, 0.1, 0.2, 0.3, 0.4], [0.8, 0.7, 0.6, 0.5, np.nan]]))
    _, deposits = faults
    auc = curve_auc(*success_rate_curve(score, deposits))
    assert lesson5.check_auc(auc, score)
    with pytest.raises(CheckFailed, match="worst first"):
        lesson5.check_auc(1 - auc, score)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson5.check_auc(None, score)


@pytest.fixture
def licences(monkeypatch, tmp_path):
    x, y = 550_000.0, -2_380_000.0  # in the sample's UTM zone, so the 4326 round trip is exact
    lic = make_licences({"PL 1": (x, y, x + 100, y + 100), "PL 2": (x + 200, y, x + 300, y + 100)})
    lic = lic.rename(columns={"licence_id": "licence_no", "holder": "holder_name"})
    lic.to_crs("EPSG:4326").to_file(tmp_path / "licences.gpkg", layer="licences")
    monkeypatch.setattr(lesson5, "sample_dir", lambda: tmp_path)
    targets = gpd.GeoDataFrame(
        {"target_id": ["T001", "T002", "T003"], "score": [0.9, 0.7, 0.5]},
        geometry=[
            box(x + 500, y, x + 520, y + 20),
            box(x + 210, y + 10, x + 240, y + 40),
            box(x + 10, y + 10, x + 30, y + 30),
        ],
        crs=lic.crs,
    )
    return targets


def test_best_licence(licences):
    targets = licences
    assert lesson5.check_best_licence("PL 2", targets)  # T001 (best) lies in no licence
    with pytest.raises(CheckFailed, match="T002"):
        lesson5.check_best_licence("PL 1", targets)
    with pytest.raises(CheckFailed, match="in no licence"):
        lesson5.check_best_licence(float("nan"), targets)
    with pytest.raises(CheckFailed, match="holder"):
        lesson5.check_best_licence("Example Gold (Pty) Ltd", targets)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson5.check_best_licence(None, targets)
