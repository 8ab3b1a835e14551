"""Save and load fitted classifiers safely: skops files plus a JSON sidecar.

``save_model(model, "rf.skops", ...)`` writes ``rf.skops`` (a :mod:`skops.io` file: a zip of
a JSON schema and numpy arrays, never a pickle) and ``rf.skops.json``: geo, scikit-learn
and skops versions, the feature names in band order, the class codes, the creation time and
free metadata. Both files are written under temporary names and moved into place with
``os.replace``, so a crash never leaves a half-written model.

A model file comes from anywhere (DESIGN.md § 6), so :func:`load_model` trusts neither it
nor its sidecar:

- ``.joblib`` / ``.pkl`` / ``.pickle`` files are refused: unpickling runs any code.
- Before anything is built, the file must be a zip of at most a bounded unpacked size, in
  the skops format protocol geo writes, every type named in its schema must be one of
  those the allowed estimators (:data:`geo.classify.estimators.ESTIMATORS`) are made of,
  and it must hold one allowed estimator; skops then loads it trusting only the non-default types
  of that list (``sklearn.tree._tree.Tree``...). A schema naming ``os.system`` or
  ``builtins.eval`` is refused with :class:`~geo.errors.ModelFileError` and never run.
- Compiled scikit-learn code indexes tree nodes, support vectors and neighbour trees
  without bounds checks, so a crafted file of an allowed type could still crash the
  process. The loaded model's structure is checked (tree children and features in range,
  SVC array sizes consistent, boosting stages matching the classes, no categorical
  splits) and a nearest-neighbour search tree is rebuilt from the training points rather
  than taken from the file.
- The model's estimator, feature count and class count must match the sidecar, and the
  sidecar's feature names must match the scene's (a model applied to the wrong bands
  classifies garbage silently). A model saved with another scikit-learn version loads
  with a warning.
"""

from __future__ import annotations

import functools
import io
import json
import os
import uuid
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import sklearn
import skops
import skops.io

from geo._version import __version__
from geo.classify.estimators import _CLASSES, KNN_METRICS
from geo.errors import GeoWarning, InputNotFoundError, InvalidParameterError, ModelFileError

__all__ = ["MODEL_SUFFIX", "load_model", "save_model", "sidecar_path"]

#: Suffix of model files; the sidecar is ``<name>.skops.json``.
MODEL_SUFFIX = ".skops"
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# a zip expanding beyond both bounds is refused (a "zip bomb"); save_model stores, never
# compresses, so its files expand about 1:1
_MAX_EXPANSION = 100
_MAX_SMALL_UNPACKED = 256 * 2**20

# --------------------------------------------------------------------------------------
# Allow-lists of the skops schema. Derived, with scikit-learn 1.9.1, numpy 2.4 and skops
# 0.16, by ``_derive_allow_lists()`` below: every allowed estimator is fitted on a tiny
# dataset in the parameter variants of ``_VARIANTS`` (tree builders, KNN algorithms and
# metrics, MLP solvers, SVC kernels, binary / multiclass / text labels...), dumped with
# skops, and the types are listed. tests/classify/test_classify_security.py re-derives them and
# fails when they go stale (a new scikit-learn moving a class): update the literals then.
# --------------------------------------------------------------------------------------

#: What ``skops.io.get_untrusted_types`` reports for the allowed estimators: the only types
#: geo adds to skops' default trust.
_SKOPS_TRUSTED: tuple[str, ...] = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
)

#: Every ``module.class`` in the schemas of the allowed estimators.
_SCHEMA_TYPES: frozenset[str] = frozenset(
    {
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState",
        "sklearn._loss._loss.CyExponentialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss.link.HalfLogitLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
        "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis",
        "sklearn.dummy.DummyClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._weight_boosting.AdaBoostClassifier",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.naive_bayes.GaussianNB",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.svm._classes.SVC",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)

#: Every skops node kind (``__loader__``) in those schemas.
_SCHEMA_LOADERS: frozenset[str] = frozenset(
    {
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "RandomStateNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)

# Added by hand to the derived schema types: plain scalars and containers, and numpy
# scalars of any width (label and feature dtypes vary with the data; none of them runs code
# when skops builds it).
_PLAIN_TYPES: frozenset[str] = frozenset(
    {f"builtins.{t}" for t in ("bool", "dict", "float", "int", "list", "str", "tuple")}
    | {
        f"numpy.{t}"
        for t in (
            "bool",
            "bool_",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
            "str_",
            "bytes_",
        )
    }
)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the JSON sidecar path of a model file (``<name>.json`` next to it).

    Examples
    --------
    >>> sidecar_path("models/rf.skops").as_posix()
    'models/rf.skops.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".json")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_TOP_TYPES = {_qualname(cls): cls for cls in _CLASSES}


def _short(items, limit: int = 8) -> str:
    items = sorted(str(i)[:100] for i in items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _check_suffix(path: Path, action: str) -> None:
    """Refuse model file names other than ``*.skops`` (pickle-based ones with a reason)."""
    suffix = path.suffix.lower()
    if action == "load" and suffix in _PICKLE_SUFFIXES:
        raise ModelFileError(
            f"Model file {path}: pickle-based model files ({', '.join(_PICKLE_SUFFIXES)}) are "
            "not loaded because loading them can run any code; re-run the pipeline to "
            "re-train the model (runs now write model.skops), or, only if you made the file "
            "yourself, load it with joblib in your own session and re-save it with "
            "geo.classify.save_model(model, 'model.skops', feature_names=..., classes=...)."
        )
    if suffix != MODEL_SUFFIX:
        raise (ModelFileError if action == "load" else InvalidParameterError)(
            f"Model file {path}: expected a name ending in {MODEL_SUFFIX} (a skops file "
            f"written by geo.classify.save_model); got {suffix or 'no suffix'!r}."
        )


def _schema_types(schema: Any) -> tuple[set[str], set[str]]:
    """Return the ``module.class`` names and node kinds anywhere in a skops schema."""
    types: set[str] = set()
    loaders: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node or "__loader__" in node:
                types.add(f"{node.get('__module__')}.{node.get('__class__')}")
                loaders.add(str(node.get("__loader__")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types, loaders


@functools.cache
def _protocol() -> int:
    """Return the skops format protocol that :func:`save_model` writes."""
    with zipfile.ZipFile(io.BytesIO(skops.io.dumps(None))) as archive:
        return json.loads(archive.read("schema.json"))["protocol"]


def _audit(file: BinaryIO, where: Path) -> None:
    """Refuse a skops file holding anything but one allowed estimator; build nothing."""
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max(_MAX_SMALL_UNPACKED, _MAX_EXPANSION * size):
                raise ModelFileError(
                    f"Model file {where}: unpacks to {unpacked} bytes from {size}; refused as "
                    "a zip bomb. Re-save the model with geo.classify.save_model."
                )
            schema = json.loads(archive.read("schema.json"))
    except ModelFileError:
        raise
    except KeyError:
        raise ModelFileError(
            f"Model file {where}: not a skops model file (no schema.json inside); re-save the "
            "model with geo.classify.save_model."
        ) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError):
        raise ModelFileError(
            f"Model file {where}: not a skops model file (not a readable zip archive; "
            "truncated, or of another format); re-save the model with geo.classify.save_model."
        ) from None
    except (ValueError, RecursionError):  # bad JSON or text, CRC errors
        raise ModelFileError(
            f"Model file {where}: its skops schema is corrupt (not valid JSON); re-save the "
            "model with geo.classify.save_model."
        ) from None
    finally:
        file.seek(0)
    if isinstance(schema, dict):
        top = f"{schema.get('__module__')}.{schema.get('__class__')}"
    else:
        top = f"a JSON {type(schema).__name__}"
    if top not in _TOP_TYPES or schema.get("__loader__") != "ObjectNode":
        raise ModelFileError(
            f"Model file {where}: holds {str(top)[:100]!r}, not one of the allowed estimators "
            f"({_short((cls.__name__ for cls in _CLASSES), 20)}); it is not loaded."
        )
    protocol = schema.get("protocol")
    if protocol != _protocol():
        # older protocols select skops' legacy node classes; geo only reads what it writes
        raise ModelFileError(
            f"Model file {where}: written in skops format protocol {str(protocol)[:20]}, but "
            f"geo reads only protocol {_protocol()} (skops {skops.__version__}); re-train the "
            "model, or re-save it with the skops version that wrote it and this geo."
        )
    types, loaders = _schema_types(schema)
    unexpected = (types - _SCHEMA_TYPES - _PLAIN_TYPES) | (
        {f"node kind {kind}" for kind in loaders - _SCHEMA_LOADERS}
    )
    if unexpected:
        raise ModelFileError(
            f"Model file {where}: holds types geo does not load ({_short(unexpected)}); only "
            "the scikit-learn estimators geo allows are loaded, so it is refused unread."
        )
    try:
        untrusted = set(skops.io.get_untrusted_types(file=file))
    except Exception as exc:
        raise ModelFileError(
            f"Model file {where}: skops cannot read it ({type(exc).__name__}); re-save the "
            "model with geo.classify.save_model."
        ) from None
    finally:
        file.seek(0)
    unexpected = untrusted - set(_SKOPS_TRUSTED)
    if unexpected:
        raise ModelFileError(
            f"Model file {where}: holds types geo does not trust ({_short(unexpected)}); it is "
            "refused unread."
        )


# ---- structure of the loaded model (compiled code indexes these without bounds checks)


def _bad(where: Path, what: str):
    return ModelFileError(
        f"Model file {where}: inconsistent {what}; the file is corrupt or crafted, so it is "
        "not used. Re-train the model."
    )


def _children_ok(left: np.ndarray, right: np.ndarray, inner: np.ndarray) -> bool:
    """Return whether children follow their parents and every node but the root has one parent."""
    n = inner.size
    idx = np.arange(n)
    left, right = left.astype("int64")[inner], right.astype("int64")[inner]
    if ((left <= idx[inner]) | (left >= n) | (right <= idx[inner]) | (right >= n)).any():
        return False
    parents = np.bincount(np.concatenate([left, right]), minlength=n)
    return bool(parents[0] == 0 and (parents[1:] == 1).all())


def _check_tree(estimator, n_features: int, n_classes: int, where: Path) -> None:
    """Check a fitted sklearn decision tree's ``tree_`` (nodes, features, values)."""
    tree: Any = getattr(estimator, "tree_", None)  # sklearn's Cython Tree, checked by name
    if type(tree).__name__ != "Tree" or type(tree).__module__ != "sklearn.tree._tree":
        raise _bad(where, "decision tree (no tree_)")
    n = int(tree.node_count)
    if not 1 <= n <= int(tree.capacity):
        raise _bad(where, "decision tree (node count)")
    if int(tree.n_features) != n_features or int(tree.n_outputs) != 1:
        raise _bad(where, "decision tree (feature or output count)")
    if int(tree.max_n_classes) != n_classes or not 0 <= int(tree.max_depth) < n:
        raise _bad(where, "decision tree (class count or depth)")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = left == -1
    inner = ~leaf
    if not np.array_equal(leaf, right == -1) or not _children_ok(left, right, inner):
        raise _bad(where, "decision tree (node links)")
    if ((feature[inner] < 0) | (feature[inner] >= n_features)).any():
        raise _bad(where, "decision tree (split features)")
    if not np.isfinite(tree.value).all():
        raise _bad(where, "decision tree (leaf values)")


def _check_hist_predictor(predictor, n_features: int, where: Path) -> None:
    """Check a histogram-gradient-boosting ``TreePredictor``'s node array."""
    nodes = getattr(predictor, "nodes", None)
    try:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    except ImportError:  # pragma: no cover - private API; the compiled code checks the dtype
        PREDICTOR_RECORD_DTYPE = getattr(nodes, "dtype", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or nodes.size < 1:
        raise _bad(where, "boosted tree (no nodes)")
    if nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise _bad(where, "boosted tree (node format)")
    inner = nodes["is_leaf"] == 0
    if nodes["is_categorical"].any() or not _children_ok(nodes["left"], nodes["right"], inner):
        raise _bad(where, "boosted tree (node links or categorical splits)")
    feature = nodes["feature_idx"][inner]
    if ((feature < 0) | (feature >= n_features)).any() or not np.isfinite(nodes["value"]).all():
        raise _bad(where, "boosted tree (split features or values)")


def _trees_per_iteration(n_classes: int) -> int:
    return 1 if n_classes == 2 else n_classes


def _check_structure(model, where: Path, *, rebuild: bool = True) -> None:
    """Check the arrays compiled scikit-learn code trusts; rebuild a KNN search tree.

    With ``rebuild=False`` (at save time) the model is only checked, never changed.
    """
    from sklearn.ensemble import (
        AdaBoostClassifier,
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.neighbors import BallTree, KDTree, KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

    n_features = getattr(model, "n_features_in_", None)
    classes = getattr(model, "classes_", None)
    if not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise _bad(where, "model (no feature count; not fitted?)")
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or classes.size < 2:
        raise _bad(where, "model (classes)")
    n_features, n_classes = int(n_features), int(classes.size)
    kind = type(model)
    if kind in (DecisionTreeClassifier, ExtraTreeClassifier):
        _check_tree(model, n_features, n_classes, where)
    elif kind in (RandomForestClassifier, ExtraTreesClassifier, AdaBoostClassifier):
        trees = getattr(model, "estimators_", None)
        if not isinstance(trees, list) or not trees:
            raise _bad(where, "ensemble (no trees)")
        for tree in trees:
            if type(tree) not in (DecisionTreeClassifier, ExtraTreeClassifier):
                raise _bad(where, "ensemble (member type)")
            _check_tree(tree, n_features, n_classes, where)
    elif kind is GradientBoostingClassifier:
        stages = getattr(model, "estimators_", None)
        k = _trees_per_iteration(n_classes)
        if (
            not isinstance(stages, np.ndarray)
            or stages.ndim != 2
            or stages.shape[0] < 1
            or stages.shape[1] != k
            or getattr(model, "n_trees_per_iteration_", k) != k
        ):
            raise _bad(where, "gradient boosting (stages per class)")
        for tree in stages.ravel():
            if type(tree) is not DecisionTreeRegressor:
                raise _bad(where, "gradient boosting (member type)")
            _check_tree(tree, n_features, 1, where)
    elif kind is HistGradientBoostingClassifier:
        k = _trees_per_iteration(n_classes)
        predictors = getattr(model, "_predictors", None)
        mapper = getattr(model, "_bin_mapper", None)
        categorical = getattr(mapper, "is_categorical_", None)
        if (
            getattr(model, "n_trees_per_iteration_", None) != k
            or getattr(model, "is_categorical_", None) is not None
            or getattr(model, "_preprocessor", None) is not None
            or (categorical is not None and np.asarray(categorical).any())
            or not isinstance(predictors, list)
            or not all(isinstance(p, list) and len(p) == k for p in predictors)
        ):
            raise _bad(where, "histogram gradient boosting (iterations, classes or categories)")
        for predictor in (p for iteration in predictors for p in iteration):
            _check_hist_predictor(predictor, n_features, where)
    elif kind is SVC:
        _check_svc(model, n_features, n_classes, where)
    elif kind is KNeighborsClassifier:
        fit_x, y = getattr(model, "_fit_X", None), getattr(model, "_y", None)
        method = getattr(model, "_fit_method", None)
        metric = getattr(model, "effective_metric_", None)
        params = getattr(model, "effective_metric_params_", None)
        if (
            not isinstance(fit_x, np.ndarray)
            or fit_x.ndim != 2
            or fit_x.shape[1] != n_features
            or getattr(model, "n_samples_fit_", None) != fit_x.shape[0]
            or not isinstance(y, np.ndarray)
            or y.shape != (fit_x.shape[0],)
            or y.dtype.kind not in "iu"
            or (y.size and (y.min() < 0 or y.max() >= n_classes))
            or method not in ("brute", "kd_tree", "ball_tree")
            or metric not in KNN_METRICS
            or not isinstance(params, dict)
            or not set(params) <= {"p", "w"}
        ):
            raise _bad(where, "nearest-neighbour model (training points or metric)")
        # the saved search tree holds raw indices; rebuild it from the training points
        tree_class = {"kd_tree": KDTree, "ball_tree": BallTree}.get(method)
        if rebuild:
            try:
                model._tree = (
                    None
                    if tree_class is None
                    else tree_class(fit_x, model.leaf_size, metric=metric, **params)
                )
            except (TypeError, ValueError):
                raise _bad(where, "nearest-neighbour model (search tree)") from None


def _check_svc(model, n_features: int, n_classes: int, where: Path) -> None:
    """Check the libsvm arrays of an SVC (libsvm trusts their sizes)."""
    pairs = n_classes * (n_classes - 1) // 2
    try:
        n_support = np.asarray(model._n_support)
        vectors, support = model.support_vectors_, model.support_
        dual, intercept = model._dual_coef_, model._intercept_
        prob_a, prob_b = model._probA, model._probB
        ok = (
            model.kernel in ("linear", "poly", "rbf", "sigmoid")
            and not model._sparse
            and n_support.shape == (n_classes,)
            and (n_support >= 0).all()
            and vectors.ndim == 2
            and vectors.shape == (int(n_support.sum()), n_features)
            and support.shape == (vectors.shape[0],)
            and dual.shape == (n_classes - 1, vectors.shape[0])
            and intercept.shape == (pairs,)
            and prob_a.shape in ((pairs,), (0,))
            and prob_b.shape == prob_a.shape
            and np.isfinite(vectors).all()
        )
    except (AttributeError, TypeError, ValueError):
        ok = False
    if not ok:
        raise _bad(where, "support vector model (array sizes)")


def _read_model(file: BinaryIO, where: Path):
    """Audit, load and check one skops model file (an open binary file)."""
    _audit(file, where)
    try:
        model = skops.io.load(file, trusted=list(_SKOPS_TRUSTED))
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise ModelFileError(
            f"Model file {where}: skops cannot load it ({type(exc).__name__}: {first}); "
            "re-save the model with geo.classify.save_model."
        ) from None
    if type(model) not in _CLASSES:
        raise ModelFileError(
            f"Model file {where}: holds a {type(model).__name__}, not an allowed estimator."
        )
    _check_structure(model, where)
    return model


def save_model(
    model,
    path: str | os.PathLike,
    *,
    feature_names: Sequence[str],
    classes: Sequence,
    meta: Mapping | None = None,
) -> Path:
    """Write a fitted model as a skops file, plus its JSON sidecar, atomically.

    Parameters
    ----------
    model : fitted sklearn estimator
        One of the allowed estimators (:data:`geo.classify.estimators.ESTIMATORS`), fitted.
    path : str or os.PathLike
        Model file, ending in ``.skops``; the sidecar is ``<path>.json``. Existing files
        are replaced.
    feature_names : sequence of str
        Feature (band) names in the order the model expects them.
    classes : sequence
        Class codes or names, one per ``model.classes_``, JSON-serialisable after
        ``tolist()``.
    meta : mapping, optional
        JSON-serialisable extra information (class names, training data, CV scores).

    Returns
    -------
    pathlib.Path
        The model path.

    Raises
    ------
    InvalidParameterError
        ``path`` does not end in ``.skops``; the model is not an allowed, fitted
        estimator, or ``feature_names`` / ``classes`` do not match it; or the model
        holds something :func:`load_model` would refuse.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> tree = DecisionTreeClassifier(random_state=0).fit([[0.0], [1.0]], [1, 2])
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = save_model(tree, folder / "tree.skops", feature_names=["ndvi"], classes=[1, 2])
    >>> sorted(p.name for p in folder.iterdir())
    ['tree.skops', 'tree.skops.json']
    >>> load_model(path, feature_names=["ndvi"]).predict([[0.9]]).tolist()
    [2]
    """
    path = Path(path)
    _check_suffix(path, "save")
    if type(model) not in _CLASSES:
        raise InvalidParameterError(
            f"save_model: a {type(model).__name__} is not one of the estimators geo saves and "
            f"loads ({_short((cls.__name__ for cls in _CLASSES), 20)})."
        )
    names = [str(f) for f in feature_names]
    codes = np.asarray(classes).tolist()
    fitted = getattr(model, "classes_", None)
    if getattr(model, "n_features_in_", None) != len(names) or fitted is None:
        raise InvalidParameterError(
            f"save_model: the model is not fitted, or was fitted on "
            f"{getattr(model, 'n_features_in_', 0)} features while feature_names has "
            f"{len(names)}; pass the feature names of the training data."
        )
    if len(codes) != len(fitted):
        raise InvalidParameterError(
            f"save_model: classes has {len(codes)} entries but the model has "
            f"{len(fitted)} classes; pass one code per model.classes_."
        )
    try:
        data = skops.io.dumps(model)
    except Exception as exc:
        raise InvalidParameterError(
            f"save_model: this {type(model).__name__} cannot be saved as a skops file "
            f"({type(exc).__name__}); use the estimator's default settings for its scorers "
            "and categorical features."
        ) from None
    try:
        _audit(io.BytesIO(data), path)
        _check_structure(model, path, rebuild=False)
    except ModelFileError as exc:
        raise InvalidParameterError(
            f"save_model: load_model would refuse this model: {exc}"
        ) from None
    sidecar = {
        "format": "skops",
        "geo_version": __version__,
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "estimator": type(model).__name__,
        "feature_names": names,
        "classes": codes,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "meta": dict(meta or {}),
    }
    text = json.dumps(sidecar, indent=2)
    tag = uuid.uuid4().hex
    tmp_model = path.with_name(f".{path.name}.{tag}.tmp")
    tmp_sidecar = path.with_name(f".{path.name}.json.{tag}.tmp")
    try:
        tmp_model.write_bytes(data)
        tmp_sidecar.write_text(text, encoding="utf-8")
        os.replace(tmp_model, path)
        os.replace(tmp_sidecar, sidecar_path(path))
    finally:
        tmp_model.unlink(missing_ok=True)
        tmp_sidecar.unlink(missing_ok=True)
    return path


def _read_sidecar(file: Path, model: Path) -> dict:
    """Read and check the sidecar's JSON (it is as untrusted as the model)."""
    hint = "re-save the model with geo.classify.save_model"
    try:
        sidecar = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):
        raise ModelFileError(f"Model sidecar {file}: not valid JSON; {hint}.") from None
    if not isinstance(sidecar, dict):
        raise ModelFileError(f"Model sidecar {file}: expected a JSON object; {hint}.")
    expected = {
        "feature_names": list,
        "classes": list,
        "estimator": str,
        "sklearn_version": str,
    }
    for key, kind in expected.items():
        if not isinstance(sidecar.get(key), kind):
            raise ModelFileError(
                f"Model sidecar {file}: expected {key!r} as a JSON "
                f"{'list' if kind is list else 'string'}; {hint}."
            )
    if not all(isinstance(f, str) for f in sidecar["feature_names"]):
        raise ModelFileError(f"Model sidecar {file}: feature_names must be strings; {hint}.")
    return sidecar


def load_model(path: str | os.PathLike, *, feature_names: Sequence[str]):
    """Load a model saved by :func:`save_model`, checking it is safe and fits the scene.

    Parameters
    ----------
    path : str or os.PathLike
        ``.skops`` model file written by :func:`save_model`.
    feature_names : sequence of str
        Feature (band) names of the scene, in cube order.

    Returns
    -------
    sklearn estimator
        The fitted model.

    Raises
    ------
    InputNotFoundError
        The model file or its sidecar is missing.
    ModelFileError
        The file is pickle-based (``.joblib``, ``.pkl``), not a skops file, corrupt or
        truncated, names a type outside the allowed estimators, has an inconsistent
        structure, or disagrees with its sidecar.
    InvalidParameterError
        The model's feature names (or their order) differ from ``feature_names``.

    Warns
    -----
    GeoWarning
        The model was saved with another scikit-learn version.
    """
    path = Path(path)
    _check_suffix(path, "load")
    sidecar_file = sidecar_path(path)
    for required in (path, sidecar_file):
        if not required.is_file():
            raise InputNotFoundError(
                f"Model file {required} does not exist; save models with "
                "`geo.classify.save_model`, which writes the model and its .json sidecar."
            )
    sidecar = _read_sidecar(sidecar_file, path)
    expected = list(sidecar["feature_names"])
    given = [str(f) for f in feature_names]
    if expected != given:
        missing = [f for f in expected if f not in given]
        extra = [f for f in given if f not in expected]
        detail = (
            f"missing {missing}, unexpected {extra}"
            if missing or extra
            else "same names, other order"
        )
        raise InvalidParameterError(
            f"Model {path} was trained on features {expected} but the scene has {given} "
            f"({detail}). Build the feature cube with the model's bands in its order, or retrain."
        )
    with path.open("rb") as file:
        model = _read_model(file, path)
    if (
        sidecar["estimator"] != type(model).__name__
        or model.n_features_in_ != len(expected)
        or len(sidecar["classes"]) != len(model.classes_)
    ):
        raise ModelFileError(
            f"Model file {path}: does not match its sidecar {sidecar_file.name} (sidecar: "
            f"{sidecar['estimator'][:60]}, {len(expected)} features, {len(sidecar['classes'])} "
            f"classes; file: {type(model).__name__}, {model.n_features_in_} features, "
            f"{len(model.classes_)} classes); save both with geo.classify.save_model."
        )
    if sidecar["sklearn_version"] != sklearn.__version__:
        warnings.warn(
            f"Model {path} was saved with scikit-learn {sidecar['sklearn_version'][:40]} and "
            f"is loaded with {sklearn.__version__}; predictions may differ. Retrain to be safe.",
            GeoWarning,
            stacklevel=2,
        )
    return model


# --------------------------------------------------------------------------------------
# Derivation of the allow-lists (run by the tests; by hand after a scikit-learn upgrade:
#   python -c "from geo.classify.models import _derive_allow_lists as d; print(d())")
# --------------------------------------------------------------------------------------

_VARIANTS: dict[str, list[dict]] = {
    "RandomForestClassifier": [
        {"n_estimators": 3},
        {"n_estimators": 3, "oob_score": True, "class_weight": "balanced_subsample"},
        {"n_estimators": 3, "max_leaf_nodes": 5, "max_samples": 0.5},
    ],
    "ExtraTreesClassifier": [{"n_estimators": 3}, {"n_estimators": 3, "bootstrap": True}],
    "GradientBoostingClassifier": [
        {"n_estimators": 3},
        {"n_estimators": 3, "subsample": 0.5, "init": "zero"},
        {"n_estimators": 3, "n_iter_no_change": 2, "max_leaf_nodes": 4},
        {"n_estimators": 3, "loss": "exponential"},  # binary labels only
    ],
    "HistGradientBoostingClassifier": [
        {"max_iter": 3},
        {"max_iter": 3, "early_stopping": True},
        {"max_iter": 3, "class_weight": "balanced"},
    ],
    "AdaBoostClassifier": [{"n_estimators": 3}],
    "LogisticRegression": [
        {"solver": s} for s in ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")
    ]
    + [{"class_weight": "balanced"}],
    "SVC": [{"kernel": k} for k in ("linear", "poly", "rbf", "sigmoid")],
    "KNeighborsClassifier": [
        {"n_neighbors": 3, "algorithm": algorithm, "metric": metric}
        for algorithm in ("auto", "brute", "kd_tree", "ball_tree")
        for metric in KNN_METRICS
        if not (metric == "cosine" and algorithm in ("kd_tree", "ball_tree"))
    ]
    + [{"n_neighbors": 3, "p": p} for p in (1, 1.5, 3)]
    + [{"n_neighbors": 3, "metric_params": {"w": [1.0, 2.0, 3.0]}}],
    "MLPClassifier": [
        {"hidden_layer_sizes": [4], "max_iter": 5, "solver": s} for s in ("adam", "sgd", "lbfgs")
    ]
    + [{"hidden_layer_sizes": [4, 3], "max_iter": 5, "early_stopping": True}],
    "DecisionTreeClassifier": [{}, {"max_leaf_nodes": 4}, {"class_weight": "balanced"}],
    "ExtraTreeClassifier": [{}, {"max_leaf_nodes": 4}],
    "GaussianNB": [{}],
    "LinearDiscriminantAnalysis": [
        {"solver": "svd"},
        {"solver": "lsqr", "shrinkage": "auto"},
        {"solver": "eigen"},
    ],
    "QuadraticDiscriminantAnalysis": [{}, {"store_covariance": True}],
}


def _derive_allow_lists() -> dict[str, list[str]]:
    """Fit every allowed estimator in its variants, dump it with skops, list the types.

    Returns
    -------
    dict
        ``skops_trusted`` (what ``skops.io.get_untrusted_types`` reports),
        ``schema_types`` (``module.class`` in the schemas, minus the hand-added plain
        types) and ``schema_loaders`` (skops node kinds), each sorted.
    """
    from sklearn.ensemble import RandomForestClassifier

    from geo.classify.estimators import build_estimator

    rng = np.random.default_rng(0)
    x64 = rng.normal(size=(60, 3))
    labels = {
        "multiclass": np.repeat([1, 2, 3], 20),
        "binary": np.repeat([1, 2], 30),
        "uint8": np.repeat([1, 2, 3], 20).astype("uint8"),
        "text": np.repeat(["clay", "iron", "veg"], 20),
    }
    models = []
    for cls in _CLASSES:
        for i, params in enumerate(_VARIANTS[cls.__name__]):
            for j, (kind, y) in enumerate(labels.items()):
                if i and kind not in ("multiclass", "binary"):
                    continue  # label dtypes only matter once per estimator
                x = x64.astype("float32") if j % 2 else x64
                models.append((build_estimator(cls.__name__, params, seed=0), x, y))
    # the Python API also accepts a RandomState (a pipeline file cannot give one)
    state = np.random.RandomState(0)
    models.append(
        (RandomForestClassifier(n_estimators=2, random_state=state), x64, labels["binary"])
    )
    trusted: set[str] = set()
    types: set[str] = set()
    loaders: set[str] = set()
    for model, x, y in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model.fit(x, y)
            except ValueError:  # a variant for binary labels only
                continue
        data = skops.io.dumps(model)
        trusted |= set(skops.io.get_untrusted_types(data=data))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            found, kinds = _schema_types(json.loads(archive.read("schema.json")))
        types |= found
        loaders |= kinds
    return {
        "skops_trusted": sorted(trusted),
        "schema_types": sorted(types - _PLAIN_TYPES),
        "schema_loaders": sorted(loaders),
    }
