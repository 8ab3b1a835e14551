"""Lesson 4 checks: right answers pass, typical mistakes get a helpful message (fast: the
sample's expectations are replaced by a small grid and fixed accuracies)."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from geo.classify import spatial_blocks
from geo.testing import make_raster
from geo.training import CheckFailed, lesson4


@pytest.fixture
def small_grid(monkeypatch):
    """A 6 × 6 grid of 30 m pixels stands in for the sample (blocks of 90 m: 2 × 2)."""
    clear = make_raster(np.ones((6, 6)), res=30.0, origin=(0.0, 180.0)) > 0

    class Data:
        pass

    data = Data()
    data.clear = clear
    monkeypatch.setattr(lesson4, "lesson_data", lambda: data)
    return clear


def _by_hand(size_px: int, n: int = 6) -> np.ndarray:
    rows, cols = np.indices((n, n))
    return (rows // size_px) * (n // size_px) + cols // size_px


def test_blocks_right_answer_passes(small_grid, capsys):
    assert lesson4.check_blocks(_by_hand(3), block_size_m=90)
    assert "correct" in capsys.readouterr().out
    expected = spatial_blocks((6, 6), Affine(30, 0, 0, 0, -30, 180), 90)
    np.testing.assert_array_equal(_by_hand(3), expected)


def test_blocks_none_says_no_answer(small_grid):
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson4.check_blocks(None, block_size_m=90)


def test_blocks_swapped_rows_and_columns(small_grid):
    with pytest.raises(CheckFailed, match="swapped"):
        lesson4.check_blocks(_by_hand(3).T, block_size_m=90)


def test_blocks_numbered_from_one(small_grid):
    with pytest.raises(CheckFailed, match="from 0"):
        lesson4.check_blocks(_by_hand(3) + 1, block_size_m=90)


def test_blocks_size_in_metres_not_pixels(small_grid):
    rows, cols = np.indices((6, 6))
    wrong = (rows // 90) * 2 + cols // 90  # all zero
    with pytest.raises(CheckFailed, match="block size in pixels"):
        lesson4.check_blocks(wrong, block_size_m=90)


def test_blocks_wrong_shape(small_grid):
    with pytest.raises(CheckFailed, match="shape"):
        lesson4.check_blocks(np.zeros((3, 3)), block_size_m=90)


@pytest.fixture
def accuracies(monkeypatch):
    fixed = {False: {"spatial": 0.381, "random": 1.0}, True: {"cut": 0.999}}
    monkeypatch.setattr(
        lesson4, "expected_accuracies", lambda block_size_m=1500.0, *, cut=False: fixed[cut]
    )


def test_spatial_accuracy_right_answer_passes(accuracies):
    assert lesson4.check_spatial_accuracy(0.381)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "no answer yet"),
        (1.0, "random-fold accuracy"),
        (0.999, "cut polygons"),
        (38.1, "fraction"),
        ("high", "expected a number"),
        (0.5, "too high"),
    ],
)
def test_spatial_accuracy_mistakes(accuracies, value, message):
    with pytest.raises(CheckFailed, match=message):
        lesson4.check_spatial_accuracy(value)


def test_choices():
    assert lesson4.check_why_random("B")
    assert lesson4.check_what_spatial_says(" c ")
    with pytest.raises(CheckFailed, match="autocorrelation"):
        lesson4.check_why_random("a")
    with pytest.raises(CheckFailed, match="single training polygon"):
        lesson4.check_what_spatial_says("a")
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson4.check_why_random(None)


def test_polygon_blocks_keeps_each_polygon_whole():
    pid = np.array([[1, 1, 1, 0], [0, 2, 2, 2]])
    blocks = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    groups = lesson4.polygon_blocks(pid, blocks)
    assert groups.tolist() == [[1, 1, 1, 0], [0, 4, 4, 4]]
    with pytest.raises(ValueError, match="one grid"):
        lesson4.polygon_blocks(pid, blocks[:, :2])


def test_polygon_blocks_equals_the_per_polygon_majority():
    """The one-pass grouping = each polygon's most frequent block (lowest id on ties)."""
    from geo.classify import polygon_blocks

    rng = np.random.default_rng(3)
    pid = rng.integers(0, 40, size=(60, 70))
    blocks = rng.integers(0, 6, size=(60, 70))
    want = np.zeros(pid.shape, dtype="int32")
    for p in np.unique(pid[pid > 0]):
        values, counts = np.unique(blocks[pid == p], return_counts=True)
        want[pid == p] = values[np.argmax(counts)] + 1
    np.testing.assert_array_equal(polygon_blocks(pid, blocks), want)
    assert lesson4.polygon_blocks is polygon_blocks
    assert not polygon_blocks(np.zeros((2, 2), int), np.ones((2, 2), int)).any()
