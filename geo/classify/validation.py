"""Spatial cross-validation of pixel classifiers, side by side with random-pixel CV.

Neighbouring pixels are alike (spatial autocorrelation), so a random split of pixels
puts near-copies of each test pixel in the training set and overstates accuracy
(Roberts et al. 2017). :func:`cross_validate` therefore scores a classifier twice:

- **spatial**: scikit-learn ``GroupKFold`` on polygon ids or spatial block ids, so
  every group (every training polygon) is tested by a model that never saw it;
- **random**: ``StratifiedKFold`` on shuffled pixels, the optimistic reference.

The report gives, for both, the pooled and per-split confusion matrices, overall
accuracy (OA), Cohen's kappa, and per-class user's accuracy (precision), producer's
accuracy (recall), F1 and support; ``inflation`` = random OA − spatial OA
(``../shared/DOMAIN.md`` §3, "Supervised classification").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from affine import Affine
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, StratifiedKFold

from geo.errors import InvalidParameterError

__all__ = [
    "SchemeResult",
    "SplitResult",
    "ValidationReport",
    "cross_validate",
    "polygon_blocks",
    "spatial_blocks",
]


def spatial_blocks(shape: tuple[int, int], transform: Affine, block_size_m: float) -> np.ndarray:
    """Assign each pixel to a square block of side ``block_size_m`` (CRS units).

    Blocks start at the grid's upper-left corner and are numbered row by row from 0;
    a pixel belongs to the block holding its centre. Choose ``block_size_m`` at least
    as large as the autocorrelation range from a variogram (Valavi et al. 2019).

    Parameters
    ----------
    shape : tuple of int
        Grid ``(height, width)`` in pixels.
    transform : affine.Affine
        North-up pixel-to-CRS transform of the grid.
    block_size_m : float
        Block side in CRS units (metres for projected CRSs).

    Returns
    -------
    numpy.ndarray
        ``(y, x)`` int32 block ids.

    Raises
    ------
    InvalidParameterError
        ``block_size_m`` ≤ 0 or the transform is rotated.

    Examples
    --------
    >>> from affine import Affine
    >>> spatial_blocks((2, 3), Affine(30, 0, 0, 0, -30, 0), 60).tolist()
    [[0, 0, 1], [0, 0, 1]]
    """
    if not block_size_m > 0:
        raise InvalidParameterError(
            f"The 'block_size_m' parameter must be > 0 (CRS units). Got {block_size_m!r}."
        )
    if transform.b != 0 or transform.d != 0:
        raise InvalidParameterError(
            f"spatial_blocks needs a north-up grid; the transform {tuple(transform)[:6]} is "
            "rotated. Reproject the raster to a north-up grid first."
        )
    height, width = shape
    xres, yres = abs(transform.a), abs(transform.e)
    col = np.floor((np.arange(width) + 0.5) * xres / block_size_m).astype("int64")
    row = np.floor((np.arange(height) + 0.5) * yres / block_size_m).astype("int64")
    n_cols = math.ceil(width * xres / block_size_m)
    return (row[:, None] * n_cols + col[None, :]).astype("int32")


def polygon_blocks(polygon_id, blocks) -> np.ndarray:
    """Give every pixel of a training polygon the block that holds most of that polygon.

    Cross-validation groups made this way keep each polygon whole (all its pixels are
    tested together), and polygons that lie close together (in one block) are tested
    together too; this is the grouping of the pipeline's classifier stage
    (``classifier.block_size_m``). A polygon split evenly between blocks takes the lowest
    block id.

    Parameters
    ----------
    polygon_id : array-like or xarray.DataArray
        ``(y, x)`` polygon ids from :func:`geo.classify.labels_from_polygons`, 0 outside.
    blocks : array-like
        ``(y, x)`` block ids from :func:`spatial_blocks`.

    Returns
    -------
    numpy.ndarray
        ``(y, x)`` int32 group ids: block id + 1 inside polygons, 0 outside.

    Raises
    ------
    InvalidParameterError
        The two grids differ in shape.

    Examples
    --------
    >>> pid = np.array([[1, 1, 0, 2]])
    >>> blk = np.array([[0, 1, 1, 1]])
    >>> polygon_blocks(pid, blk).tolist()  # polygon 1 is split 1:1, the first block wins
    [[1, 1, 0, 2]]
    """
    pid = np.asarray(getattr(polygon_id, "values", polygon_id))
    blk = np.asarray(blocks)
    if pid.shape != blk.shape:
        raise InvalidParameterError(
            f"polygon_id and blocks must be on one grid; got shapes {pid.shape} and {blk.shape}."
        )
    group = np.zeros(pid.shape, dtype="int32")
    inside = pid > 0
    if not inside.any():
        return group
    p, b = pid[inside].astype("int64"), blk[inside].astype("int64")
    # pixels per (polygon, block) pair, in one pass over the polygon pixels
    pairs, counts = np.unique(np.stack([p, b]), axis=1, return_counts=True)
    # per polygon: most pixels first, then the lowest block id
    order = np.lexsort((pairs[1], -counts, pairs[0]))
    ids = pairs[0][order]
    first = order[np.r_[True, ids[1:] != ids[:-1]]]
    group[inside] = (pairs[1][first] + 1)[np.searchsorted(pairs[0][first], p)]
    return group


class _Scores(TypedDict):
    overall_accuracy: float
    kappa: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def _scores(cm: np.ndarray) -> _Scores:
    """Overall accuracy, kappa and per-class precision/recall/F1/support of a confusion matrix.

    Rows are reference classes, columns predictions; empty rows or columns score 0.
    """
    cm = cm.astype("float64")
    n = cm.sum()
    diag = np.diag(cm)
    truth, predicted = cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / predicted, 0.0)
        recall = np.where(truth > 0, diag / truth, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    oa = float(diag.sum() / n) if n else 0.0
    expected = float((truth * predicted).sum() / n**2) if n else 0.0
    kappa = (oa - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "overall_accuracy": oa,
        "kappa": float(kappa),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": truth.astype("int64"),
    }


def _confusion(truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    t = np.searchsorted(classes, truth)
    p = np.searchsorted(classes, predicted)
    cm = np.zeros((classes.size, classes.size), dtype="int64")
    np.add.at(cm, (t, p), 1)
    return cm


@dataclass(frozen=True)
class SplitResult:
    """Scores of one train/test split.

    Attributes
    ----------
    fold : int
        Split number from 0.
    n_train, n_test : int
        Pixels in the training and test sets.
    n_test_groups : int or None
        Groups (polygons or blocks) in the test set; None for the random scheme.
    overall_accuracy, kappa : float
        Scores on the test pixels.
    confusion : numpy.ndarray
        ``(class, class)`` int64 counts, rows = reference, columns = prediction.
    """

    fold: int
    n_train: int
    n_test: int
    n_test_groups: int | None
    overall_accuracy: float
    kappa: float
    confusion: np.ndarray

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "fold": self.fold,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_test_groups": self.n_test_groups,
            "overall_accuracy": self.overall_accuracy,
            "kappa": self.kappa,
            "confusion": self.confusion.tolist(),
        }


@dataclass(frozen=True)
class SchemeResult:
    """Cross-validation scores of one splitting scheme, pooled over its splits.

    Attributes
    ----------
    scheme : str
        ``"spatial"`` (GroupKFold on groups) or ``"random"`` (StratifiedKFold on pixels).
    splits : tuple of SplitResult
        Per-split scores.
    confusion : numpy.ndarray
        ``(class, class)`` int64 confusion matrix of all out-of-fold predictions.
    overall_accuracy, kappa : float
        Pooled scores.
    precision, recall, f1 : numpy.ndarray
        Per-class user's accuracy, producer's accuracy and F1 (0 where undefined).
    support : numpy.ndarray
        Reference pixels per class.
    fold : numpy.ndarray
        ``(n,)`` test fold of each sample (not in :meth:`to_dict`).
    """

    scheme: str
    splits: tuple[SplitResult, ...]
    confusion: np.ndarray
    overall_accuracy: float
    kappa: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    fold: np.ndarray

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (without the per-sample ``fold``)."""
        oa = [s.overall_accuracy for s in self.splits]
        return {
            "scheme": self.scheme,
            "overall_accuracy": self.overall_accuracy,
            "overall_accuracy_split_mean": float(np.mean(oa)),
            "overall_accuracy_split_std": float(np.std(oa)),
            "kappa": self.kappa,
            "users_accuracy": self.precision.tolist(),
            "producers_accuracy": self.recall.tolist(),
            "f1": self.f1.tolist(),
            "support": self.support.tolist(),
            "confusion": self.confusion.tolist(),
            "splits": [s.to_dict() for s in self.splits],
        }


@dataclass(frozen=True)
class ValidationReport:
    """Spatial and random cross-validation of one classifier on one sample table.

    Attributes
    ----------
    classes : numpy.ndarray
        Class codes, the order of every per-class array and confusion axis.
    spatial : SchemeResult
        GroupKFold on polygon or block ids (the honest estimate).
    random : SchemeResult
        StratifiedKFold on shuffled pixels (optimistic reference).
    """

    classes: np.ndarray
    spatial: SchemeResult
    random: SchemeResult

    @property
    def inflation(self) -> float:
        """Random-pixel OA minus spatial OA: how much a random split overstates accuracy."""
        return self.random.overall_accuracy - self.spatial.overall_accuracy

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "classes": self.classes.tolist(),
            "inflation": self.inflation,
            "spatial": self.spatial.to_dict(),
            "random": self.random.to_dict(),
        }

    def to_text(self, names: dict | None = None) -> str:
        """Return a readable table: OA, kappa, per-class scores and confusion matrices.

        ``names`` maps class codes to names shown instead of the codes.
        """
        names = names or {}
        label = [str(names.get(c, c)) for c in self.classes.tolist()]
        lines = [
            f"Overall accuracy: spatial {self.spatial.overall_accuracy:.3f}, random "
            f"{self.random.overall_accuracy:.3f} (inflation {self.inflation:+.3f})",
        ]
        width = max(6, *(len(c) for c in label))
        for result in (self.spatial, self.random):
            lines += [
                "",
                f"[{result.scheme}] OA {result.overall_accuracy:.3f}  kappa {result.kappa:.3f}  "
                f"({len(result.splits)} splits)",
                f"{'class':>{width}} {'producer':>9} {'user':>9} {'F1':>9} {'support':>9}",
            ]
            for i, c in enumerate(label):
                lines.append(
                    f"{c:>{width}} {result.recall[i]:9.3f} {result.precision[i]:9.3f} "
                    f"{result.f1[i]:9.3f} {result.support[i]:9d}"
                )
            lines.append("confusion (rows = reference, columns = predicted):")
            col = max(8, *(len(c) for c in label))
            lines.append(" " * width + "".join(f" {c:>{col}}" for c in label))
            for c, row in zip(label, result.confusion, strict=True):
                lines.append(f"{c:>{width}}" + "".join(f" {v:{col}d}" for v in row))
        return "\n".join(lines)


def _run_scheme(scheme: str, estimator, X, y, splits, groups, classes: np.ndarray) -> SchemeResult:
    fold = np.full(y.shape[0], -1, dtype="int64")
    pooled = np.zeros((classes.size, classes.size), dtype="int64")
    results = []
    for i, (train, test) in enumerate(splits):
        model = clone(estimator).fit(X[train], y[train])
        cm = _confusion(y[test], model.predict(X[test]), classes)
        scores = _scores(cm)
        results.append(
            SplitResult(
                fold=i,
                n_train=int(train.size),
                n_test=int(test.size),
                n_test_groups=None if groups is None else int(np.unique(groups[test]).size),
                overall_accuracy=scores["overall_accuracy"],
                kappa=scores["kappa"],
                confusion=cm,
            )
        )
        pooled += cm
        fold[test] = i
    return SchemeResult(
        scheme=scheme, splits=tuple(results), confusion=pooled, fold=fold, **_scores(pooled)
    )


def cross_validate(
    estimator, X, y, *, groups, n_splits: int = 5, random_state: int = 0
) -> ValidationReport:
    """Cross-validate a classifier with grouped (spatial) and random-pixel folds.

    Parameters
    ----------
    estimator : sklearn classifier
        Unfitted estimator; a fresh clone is fitted for every split.
    X : array-like
        ``(n, features)`` samples, e.g. from :func:`geo.classify.raster_to_samples`.
    y : array-like
        ``(n,)`` class labels.
    groups : array-like
        ``(n,)`` polygon ids (from :func:`geo.classify.labels_from_polygons`) or block ids
        (from :func:`spatial_blocks`); each group is kept whole in one test fold.
    n_splits : int
        Folds of both schemes; at least 2, at most the number of groups.
    random_state : int
        Seed of the pixel shuffle in the random scheme.

    Returns
    -------
    ValidationReport

    Raises
    ------
    InvalidParameterError
        Lengths differ, ``n_splits`` < 2, or fewer groups than ``n_splits``.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X = np.arange(40.0).reshape(-1, 1); y = np.repeat([1, 2], 20)
    >>> r = cross_validate(DecisionTreeClassifier(), X, y, groups=np.arange(40) // 4, n_splits=2)
    >>> r.random.overall_accuracy, r.classes.tolist()
    (1.0, [1, 2])
    """
    X = np.asarray(X)
    y = np.asarray(y)
    groups = np.asarray(groups)
    if not (X.shape[0] == y.shape[0] == groups.shape[0]):
        raise InvalidParameterError(
            f"'X', 'y' and 'groups' must have one row per sample; got {X.shape[0]}, {y.shape[0]} "
            f"and {groups.shape[0]} rows. Take all three from one `raster_to_samples` call."
        )
    n_groups = np.unique(groups).size
    if not 2 <= n_splits <= n_groups:
        raise InvalidParameterError(
            f"The 'n_splits' parameter must be an int in [2, number of groups = {n_groups}]. "
            f"Got {n_splits!r}. Use fewer splits, smaller blocks or more training polygons."
        )
    classes = np.unique(y)
    spatial = _run_scheme(
        "spatial",
        estimator,
        X,
        y,
        GroupKFold(n_splits=n_splits).split(X, y, groups),
        groups,
        classes,
    )
    shuffled = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    random = _run_scheme("random", estimator, X, y, shuffled.split(X, y), None, classes)
    return ValidationReport(classes=classes, spatial=spatial, random=random)
