"""Lesson 4: supervised classification with training polygons, and spatial validation.

The checks compute the expected answer with geo's own classification API
(:mod:`geo.classify`) on the bundled sample and say what is off. The lesson's setting is
fixed here so that the notebook and the checks use the same one: the default masks, the
training polygons of ``training.gpkg``, the seven reflectance bands as features, a random
forest of :data:`FOREST_PARAMS` and :data:`BLOCK_SIZE_M` blocks.

Reusable piece, re-exported from :mod:`geo.classify`: :func:`polygon_blocks` (one group per
polygon, the block holding most of it), so spatially blocked cross-validation never cuts a
training polygon in two.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import xarray as xr

from geo.classify import polygon_blocks
from geo.training import sample_dir
from geo.training.checks import CheckFailed, check_array, check_choice, check_value

__all__ = [
    "BLOCK_SIZE_M",
    "FOREST_PARAMS",
    "LessonData",
    "check_blocks",
    "check_spatial_accuracy",
    "check_what_spatial_says",
    "check_why_random",
    "lesson_data",
    "make_forest",
    "polygon_blocks",
]

#: Side of the spatial cross-validation blocks used in the lesson (metres).
BLOCK_SIZE_M = 1500.0

#: The lesson's random forest: 50 trees (plenty for 7 bands and 3 classes, and quick on a
#: laptop), seeded so every run gives the same numbers; one thread (the samples are few).
FOREST_PARAMS = {"n_estimators": 50, "random_state": 0, "n_jobs": 1}

#: Folds of every cross-validation in the lesson.
N_SPLITS = 5

PRODUCT = "LC08_L2SR_171075_20230601_20230607_02_T1"


def make_forest():
    """Return the lesson's classifier: ``RandomForestClassifier(**FOREST_PARAMS)``."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**FOREST_PARAMS)


@dataclass(frozen=True)
class LessonData:
    """The lesson's inputs, read and prepared with geo's API (see :func:`lesson_data`)."""

    reflectance: xr.DataArray  #: (band, y, x) surface reflectance, masked pixels NaN
    clear: xr.DataArray  #: (y, x) True where no mask rule removed the pixel
    training: gpd.GeoDataFrame  #: training polygons in the scene CRS, with ``code``
    classes: dict  #: class name → code
    labels: xr.DataArray  #: (y, x) class code, 0 outside polygons
    polygon_id: xr.DataArray  #: (y, x) polygon id, 0 outside polygons
    X: np.ndarray  #: (n, band) features of the clear labelled pixels
    y: np.ndarray  #: (n,) class codes
    pid: np.ndarray  #: (n,) polygon id of each sample
    index: np.ndarray  #: (n,) flat pixel position of each sample


@functools.lru_cache(maxsize=2)
def _lesson_data(folder: str) -> LessonData:
    from geo.classify import labels_from_polygons, raster_to_samples
    from geo.io import open_scene
    from geo.io.vector import read_training
    from geo.spectral.masks import MaskConfig, build_mask, product_flags

    scene = open_scene(f"{folder}/{PRODUCT}")
    refl = scene.reflectance
    flags = product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=refl.attrs["sensor"])
    clear = (build_mask(refl, flags=flags, config=MaskConfig()) == 0).compute()
    features = refl.where(clear).compute()
    training, info = read_training(f"{folder}/training.gpkg", to_crs=refl.rio.crs)
    labels, polygon_id = labels_from_polygons(training, clear, label_column="code")
    X, y, pid, index = raster_to_samples(features, labels, polygon_id)
    return LessonData(features, clear, training, info["classes"], labels, polygon_id, X, y, pid,
                      index)  # fmt: skip


def lesson_data() -> LessonData:
    """Read the sample scene, mask it and sample the training polygons (cached).

    The same steps the notebook walks through: ``open_scene`` → ``build_mask`` (default
    rules) → ``read_training`` (reprojected to the scene CRS) → ``labels_from_polygons``
    → ``raster_to_samples``.
    """
    return _lesson_data(str(sample_dir()))


@functools.lru_cache(maxsize=8)
def _accuracies(folder: str, block_size_m: float, cut: bool) -> dict[str, float]:
    """Overall accuracies of the lesson's groupings (cached: a few seconds each)."""
    from geo.classify import cross_validate, spatial_blocks

    d = _lesson_data(folder)
    blocks = spatial_blocks(d.clear.shape, d.clear.rio.transform(), block_size_m)
    if cut:  # blocks of the pixels themselves: polygons are cut
        report = cross_validate(
            make_forest(), d.X, d.y, groups=blocks.ravel()[d.index], n_splits=N_SPLITS
        )
        return {"cut": report.spatial.overall_accuracy}
    whole = polygon_blocks(d.polygon_id, blocks).ravel()[d.index]
    report = cross_validate(make_forest(), d.X, d.y, groups=whole, n_splits=N_SPLITS)
    return {"spatial": report.spatial.overall_accuracy, "random": report.random.overall_accuracy}


def expected_accuracies(block_size_m: float = BLOCK_SIZE_M, *, cut: bool = False) -> dict:
    """Return the expected overall accuracies (cached).

    ``spatial``: blocks with polygons kept whole; ``random``: random pixel folds; with
    ``cut=True`` only ``cut``: blocks that cut polygons.
    """
    return _accuracies(str(sample_dir()), float(block_size_m), cut)


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def check_blocks(blocks, block_size_m: float = BLOCK_SIZE_M) -> bool:
    """Check block ids built by hand against :func:`geo.classify.spatial_blocks`.

    The learner numbers square blocks of ``block_size_m`` row by row from 0, starting at
    the upper-left corner of the 600 × 600 sample grid of 30 m pixels.
    """
    from geo.classify import spatial_blocks

    name = f"block ids ({block_size_m:g} m blocks)"
    if blocks is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    clear = lesson_data().clear
    expected = spatial_blocks(clear.shape, clear.rio.transform(), block_size_m)
    got = np.asarray(blocks.values if isinstance(blocks, xr.DataArray) else blocks)
    if got.shape == expected.shape:
        n_cols = int(expected[0].max()) + 1
        n_rows = int(expected[:, 0].max()) // n_cols + 1
        row, col = expected // n_cols, expected % n_cols
        if np.array_equal(got, expected + 1):
            raise CheckFailed(f"{name}: every id is 1 too high. Number the blocks from 0.")
        if np.array_equal(got, col * n_rows + row) and not np.array_equal(got, expected):
            raise CheckFailed(
                f"{name}: rows and columns are swapped. Number the blocks row by row: "
                "block id = block_row * number_of_block_columns + block_column."
            )
        if np.unique(got).size == 1 and np.unique(expected).size > 1:
            raise CheckFailed(
                f"{name}: every pixel is in the same block. A block of {block_size_m:g} m "
                f"is {block_size_m / 30:g} pixels of 30 m: divide the pixel row and column "
                "by the block size in pixels, not in metres."
            )
    return check_array(
        got,
        expected,
        name=name,
        hint=f"Block row = pixel row // {block_size_m / 30:g}, block column = pixel column // "
        f"{block_size_m / 30:g}; id = block row × {int(expected[0].max()) + 1} + block column.",
    )


def check_spatial_accuracy(value, block_size_m: float = BLOCK_SIZE_M) -> bool:
    """Check the overall accuracy of the spatially blocked cross-validation.

    Expected: :func:`geo.classify.cross_validate` of :func:`make_forest` on the lesson's
    samples, ``N_SPLITS`` folds, groups = :func:`polygon_blocks` of ``block_size_m`` blocks,
    read from ``report.spatial.overall_accuracy``.
    """
    name = "spatially blocked accuracy"
    if value is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    acc = expected_accuracies(block_size_m)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{name}: expected a number (e.g. report.spatial.overall_accuracy), got "
            f"{type(value).__name__}."
        ) from None
    if v > 1.0 and 0 <= v <= 100:
        raise CheckFailed(f"{name}: give the accuracy as a fraction (0–1), not in per cent.")
    if not np.isclose(v, acc["spatial"], atol=1e-6):
        if np.isclose(v, acc["random"], atol=1e-6):
            raise CheckFailed(
                f"{name}: {v:.3f} is the random-fold accuracy (report.random). The spatial one "
                "is report.spatial.overall_accuracy."
            )
        if np.isclose(v, expected_accuracies(block_size_m, cut=True)["cut"], atol=1e-6):
            raise CheckFailed(
                f"{name}: {v:.3f} is what blocks that cut polygons give. Use the groups that keep "
                "each polygon whole (polygon_blocks), taken at the sample pixels (groups[index])."
            )
    return check_value(
        v,
        acc["spatial"],
        name=name,
        atol=1e-6,
        hint=f"Use the forest of make_forest() (FOREST_PARAMS), n_splits={N_SPLITS}, and the "
        "polygon-block groups of the sample pixels.",
    )


def check_why_random(answer) -> bool:
    """Multiple choice: why random pixel folds score so high."""
    return check_choice(
        answer,
        "b",
        name="why random folds are optimistic",
        explain="neighbouring pixels of one polygon are near-copies of each other (spatial "
        "autocorrelation), so a random split tests the model on twins of its training pixels.",
    )


def check_what_spatial_says(answer) -> bool:
    """Multiple choice: what the low spatially blocked accuracy tells the geologist."""
    return check_choice(
        answer,
        "c",
        name="what the blocked accuracy says",
        explain="each mineral class has a single training polygon; when it is held out the "
        "forest has never seen that class and cannot predict it. Digitise several polygons "
        "per class, in different places, before trusting any accuracy.",
    )
