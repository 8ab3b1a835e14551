"""The scikit-learn classifiers a pipeline file may name, and checks of their parameters.

A pipeline file travels between people, so its ``classifier.estimator`` section is
untrusted (DESIGN.md § 6). It names a class and keyword arguments; before this module a
dotted ``sklearn.*`` path was imported and called with them, which let
``sklearn.datasets.fetch_*`` unpickle a crafted file or ``clear_data_home`` delete a folder.
Now:

- The class must be one of :data:`ESTIMATORS`, a literal table of imported classes, by its
  public dotted path (``sklearn.ensemble.RandomForestClassifier``) or its class name
  (``RandomForestClassifier``). No user string is ever imported.
- Each parameter must be one of the class's own ``get_params()`` keys, and its value a plain
  value: null, true/false, a finite number, text, or a list of them. Mappings only for the
  parameters scikit-learn takes a mapping for (``class_weight``, ``metric_params``,
  ``monotonic_cst``); parameters that take an estimator (``estimator``,
  ``covariance_estimator``) only null. Values are then checked against scikit-learn's own
  parameter constraints where the installed version exposes them.
- Size parameters are bounded, so a shared file cannot hang a laptop (:data:`LIMITS`):
  ``n_estimators`` ≤ 5000, ``max_iter`` ≤ 100 000, ``max_fun`` ≤ 100 000, ``n_neighbors``
  ≤ 10 000, ``hidden_layer_sizes`` ≤ 10 000 units in all, ``cache_size`` ≤ 4096 MB and
  ``n_jobs`` null, -1 (every core) or 1 to 64. A value equal to the estimator's own
  default is always accepted (``SVC(max_iter=-1)``).
- A few settings whose fitted models cannot be saved safely, or that the classifier stage
  cannot use, are refused: ``HistGradientBoostingClassifier`` ``scoring`` other than
  ``'loss'`` and ``categorical_features`` other than ``'from_dtype'``/null, ``SVC``
  ``kernel`` other than rbf/linear/poly/sigmoid, ``metric_params`` keys other than p/w.
- Every estimator here has ``predict_proba`` (the classifier stage maps class
  probabilities); :class:`~sklearn.svm.SVC` gets ``probability=True`` unless the file sets it,
  and ``probability: false`` is refused. ``KNeighborsClassifier.metric`` is one of
  :data:`KNN_METRICS` (the metrics the saved-model allow-list of
  :mod:`geo.classify.models` covers).

:func:`check_estimator` validates a class name and its parameters (call it when the
pipeline file is read, before any pixel); :func:`build_estimator` validates and builds the
seeded estimator; :func:`check_estimator_params` validates parameters only, for fixed
classes such as ``prospectivity.estimator_params``. Errors are
:class:`~geo.errors.InvalidParameterError` with one-line messages that start with the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import sklearn
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from geo.errors import InvalidParameterError

__all__ = [
    "ESTIMATORS",
    "KNN_METRICS",
    "LIMITS",
    "build_estimator",
    "check_estimator",
    "check_estimator_params",
    "estimator_class",
]

# public module -> classes: the only estimators a pipeline file can name (a literal table of
# imports; regressors are left out, the classifier stage needs ``predict_proba``)
_PUBLIC: dict[str, tuple[type, ...]] = {
    "sklearn.ensemble": (
        RandomForestClassifier,
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        AdaBoostClassifier,
    ),
    "sklearn.linear_model": (LogisticRegression,),
    "sklearn.svm": (SVC,),
    "sklearn.neighbors": (KNeighborsClassifier,),
    "sklearn.neural_network": (MLPClassifier,),
    "sklearn.tree": (DecisionTreeClassifier, ExtraTreeClassifier),
    "sklearn.naive_bayes": (GaussianNB,),
    "sklearn.discriminant_analysis": (
        LinearDiscriminantAnalysis,
        QuadraticDiscriminantAnalysis,
    ),
}

#: Accepted names (public dotted path and bare class name) -> estimator class.
ESTIMATORS: Mapping[str, type] = MappingProxyType(
    {
        name: cls
        for module, classes in _PUBLIC.items()
        for cls in classes
        for name in (f"{module}.{cls.__name__}", cls.__name__)
    }
)

_CLASSES: tuple[type, ...] = tuple(cls for classes in _PUBLIC.values() for cls in classes)
_SHORT = ", ".join(cls.__name__ for cls in _CLASSES)

#: Inclusive integer bounds of the size parameters (a value equal to the default is accepted).
LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "n_estimators": (1, 5000),
        "max_iter": (1, 100_000),
        "max_fun": (1, 100_000),
        "n_neighbors": (1, 10_000),
        "cache_size": (1, 4096),
    }
)
_MAX_HIDDEN_UNITS = 10_000
_MAX_JOBS = 64
#: Metrics accepted for ``KNeighborsClassifier.metric``.
KNN_METRICS: tuple[str, ...] = (
    "minkowski",
    "euclidean",
    "l2",
    "manhattan",
    "cityblock",
    "l1",
    "chebyshev",
    "cosine",
)
_SVC_KERNELS = ("rbf", "linear", "poly", "sigmoid")
# parameters scikit-learn takes a mapping for; parameters that take an estimator object
_MAPPING_PARAMS = ("class_weight", "metric_params", "monotonic_cst")
_OBJECT_PARAMS = ("estimator", "covariance_estimator")
_MAX_ITEMS = 10_000
_MAX_TEXT = 200
_PLAIN = "a plain value (number, text, true/false, null or a list of them)"


def _show(value: Any, limit: int = 60) -> str:
    """Short one-line repr of a user value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def estimator_class(name: Any, *, key: str = "classifier.estimator.class") -> type:
    """Return the allowed estimator class called ``name``.

    Parameters
    ----------
    name : str
        Public dotted path (``sklearn.ensemble.RandomForestClassifier``) or class name
        (``RandomForestClassifier``). Anything else is refused; nothing is imported.
    key : str
        Name of the setting, for the message.

    Returns
    -------
    type
        The scikit-learn class.

    Raises
    ------
    InvalidParameterError
        ``name`` is not in :data:`ESTIMATORS`.

    Examples
    --------
    >>> estimator_class("sklearn.ensemble.RandomForestClassifier").__name__
    'RandomForestClassifier'
    >>> estimator_class("sklearn.datasets.clear_data_home")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidParameterError: classifier.estimator.class: 'sklearn.datasets.clear_data_home' is not an allowed estimator; use one of RandomForestClassifier, ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier, AdaBoostClassifier, LogisticRegression, SVC, KNeighborsClassifier, MLPClassifier, DecisionTreeClassifier, ExtraTreeClassifier, GaussianNB, LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis (or its sklearn.* path).
    """
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidParameterError(
            f"{key}: {_show(name)} is not an allowed estimator; use one of {_SHORT} "
            "(or its sklearn.* path)."
        )
    return cls


def _scalar(value: Any) -> tuple[bool, Any]:
    """Return ``(True, plain Python value)`` for a plain scalar, ``(False, None)`` otherwise."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return True, None if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        return abs(value) < 2**63, value
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return math.isfinite(value), value
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT, value
    return False, None


def _plain(value: Any, where: str, depth: int = 0) -> Any:
    """Return ``value`` as plain Python (lists for sequences), or raise naming ``where``."""
    ok, out = _scalar(value)
    if ok:
        return out
    if isinstance(value, (list, tuple)) and depth < 2 and len(value) <= _MAX_ITEMS:
        return [_plain(item, where, depth + 1) for item in value]
    if isinstance(value, (float, np.floating)):
        got = f"{value!r} (not a finite number)"
    elif isinstance(value, (int, np.integer)):
        got = f"an integer of {len(str(abs(int(value))))} digits"
    elif isinstance(value, str):
        got = f"text of {len(value)} characters (at most {_MAX_TEXT})"
    elif isinstance(value, (list, tuple)):
        got = (
            f"a list of {len(value)} items (at most {_MAX_ITEMS})"
            if depth < 2
            else "lists nested too deep"
        )
    else:
        got = f"{type(value).__name__} {_show(value, 40)}"
    raise InvalidParameterError(f"{where}: expected {_PLAIN}; got {got}.")


def _mapping(value: Mapping, where: str, name: str) -> dict:
    """Check a mapping parameter: text or integer keys, plain scalar values."""
    if len(value) > _MAX_ITEMS:
        raise InvalidParameterError(
            f"{where}: expected at most {_MAX_ITEMS} entries; got {len(value)}."
        )
    out = {}
    for k, v in value.items():
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
            raise InvalidParameterError(
                f"{where}: keys must be class codes or names (text or integers); got {_show(k)}."
            )
        # a key is user text: as it is when plain, else quoted (one line, bounded)
        plain_key = isinstance(k, (int, np.integer)) or str(k).isidentifier()
        item = f"{where}.{k if plain_key else _show(k, 40)}"
        if name == "class_weight":
            ok, plain = _scalar(v)
            if not ok or not isinstance(plain, (int, float)) or isinstance(plain, bool):
                raise InvalidParameterError(
                    f"{item}: expected a finite number (the weight of that class); got "
                    f"{_show(v, 40)}."
                )
        else:
            plain = _plain(v, item, depth=1)
        out[k.item() if isinstance(k, np.integer) else k] = plain
    return out


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(cls: type, name: str, value: Any, default: Any, where: str) -> None:
    """Refuse sizes beyond :data:`LIMITS` (resource exhaustion) and unusable settings."""
    if name in LIMITS or name == "n_jobs":
        if value == default and type(value) is type(default):
            return  # the estimator's own default (SVC's max_iter=-1, n_jobs=None)
    if name in LIMITS:
        low, high = LIMITS[name]
        number = _integer(value) or (name == "cache_size" and isinstance(value, float))
        if not number or not low <= value <= high:
            raise InvalidParameterError(
                f"{where}: expected a{'' if name == 'cache_size' else 'n integer'} number from "
                f"{low} to {high} (geo's limit for {cls.__name__}, so a shared pipeline file "
                f"cannot exhaust the computer); got {_show(value)}."
            )
    elif name == "n_jobs":
        if not (value is None or value == -1 or (_integer(value) and 1 <= value <= _MAX_JOBS)):
            raise InvalidParameterError(
                f"{where}: expected null, -1 (every core) or an integer from 1 to {_MAX_JOBS}; "
                f"got {_show(value)}."
            )
    elif name == "hidden_layer_sizes":
        sizes = value if isinstance(value, list) else [value]
        if not sizes or not all(_integer(s) and s >= 1 for s in sizes):
            raise InvalidParameterError(
                f"{where}: expected a positive integer or a list of them (units per hidden "
                f"layer); got {_show(value)}."
            )
        if sum(sizes) > _MAX_HIDDEN_UNITS:
            raise InvalidParameterError(
                f"{where}: expected at most {_MAX_HIDDEN_UNITS} hidden units in all (geo's "
                "limit, so a shared pipeline file cannot exhaust the computer); got "
                f"{sum(sizes)}."
            )
    elif name == "metric" and cls is KNeighborsClassifier and value not in KNN_METRICS:
        raise InvalidParameterError(
            f"{where}: expected one of {', '.join(KNN_METRICS)}; got {_show(value)}."
        )
    elif name == "scoring" and cls is HistGradientBoostingClassifier and value != "loss":
        raise InvalidParameterError(
            f"{where}: only 'loss' (the default) is accepted; a model that keeps another "
            "early-stopping scorer cannot be saved in a format that runs no code."
        )
    elif name == "categorical_features" and value not in ("from_dtype", None):
        raise InvalidParameterError(
            f"{where}: only 'from_dtype' (the default) or null is accepted; the classifier's "
            "features are continuous bands and indices."
        )
    elif name == "kernel" and cls is SVC and value not in _SVC_KERNELS:
        raise InvalidParameterError(
            f"{where}: expected one of {', '.join(_SVC_KERNELS)}; got {_show(value)}."
        )
    elif name == "metric_params" and value is not None and not set(value) <= {"p", "w"}:
        raise InvalidParameterError(
            f"{where}: only the keys p and w (of the minkowski metric) are accepted; got "
            f"{_show(sorted(map(str, value)))}."
        )
    elif name == "probability" and cls is SVC and value is not True:
        raise InvalidParameterError(
            f"{where}: the classifier maps class probabilities, so SVC needs probability: "
            "true; remove the setting or set it to true."
        )


def _sklearn_constraints(cls: type, name: str, value: Any, where: str) -> None:
    """Validate one value against scikit-learn's own constraints, when they are available.

    ``_parameter_constraints`` and ``validate_parameter_constraints`` are private
    scikit-learn API: when they are missing or change, this check is skipped and the
    estimator's ``fit`` validates the value instead.
    """
    try:
        from sklearn.utils._param_validation import (
            InvalidParameterError as SklearnInvalidParameterError,
        )
        from sklearn.utils._param_validation import validate_parameter_constraints
    except ImportError:  # pragma: no cover - depends on the scikit-learn version
        return
    constraints = getattr(cls, "_parameter_constraints", None)
    if not isinstance(constraints, Mapping) or name not in constraints:
        return
    try:
        validate_parameter_constraints(
            {name: constraints[name]}, {name: value}, caller_name=cls.__name__
        )
    except SklearnInvalidParameterError as exc:
        message = " ".join(str(exc).split())
        raise InvalidParameterError(f"{where}: {message}") from None
    except Exception:
        return


def check_estimator_params(
    name: Any, params: Any, key: str = "classifier.estimator.params"
) -> dict:
    """Check keyword arguments of an allowed estimator; return them as plain Python values.

    Parameters
    ----------
    name : str
        Estimator name, as accepted by :func:`estimator_class` (e.g. ``"LogisticRegression"``).
    params : mapping
        Keyword arguments from a pipeline file or a caller.
    key : str
        Name of the setting, for messages: errors start with ``<key>.<parameter>``.

    Returns
    -------
    dict
        The parameters, with tuples as lists and numpy scalars as Python scalars.

    Raises
    ------
    InvalidParameterError
        ``name`` is not allowed, ``params`` is not a mapping, a key is not a parameter of
        the estimator, or a value is not plain, is out of :data:`LIMITS`, or breaks
        scikit-learn's own constraints.

    Examples
    --------
    >>> check_estimator_params("RandomForestClassifier", {"n_estimators": 50, "max_depth": None})
    {'n_estimators': 50, 'max_depth': None}
    >>> check_estimator_params("LogisticRegression", {"foo": 1}, key="prospectivity.estimator_params")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidParameterError: prospectivity.estimator_params.foo: LogisticRegression has no parameter 'foo'; its parameters are C, class_weight, dual, fit_intercept, intercept_scaling, l1_ratio, max_iter, n_jobs, penalty, random_state, solver, tol, verbose, warm_start.
    """
    class_key = key.removesuffix(".params") + ".class" if key.endswith(".params") else key
    cls = estimator_class(name, key=class_key)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidParameterError(
            f"{key}: expected a mapping of parameter names to values; got "
            f"{type(params).__name__} {_show(params, 40)}."
        )
    defaults = cls().get_params(deep=False)
    if cls is SVC and "probability" not in defaults:  # pragma: no cover - scikit-learn >= 1.11
        raise InvalidParameterError(
            f"{class_key}: SVC gives no class probabilities with scikit-learn "
            f"{sklearn.__version__}; use another estimator."
        )
    out = {}
    for param, value in params.items():
        if not isinstance(param, str) or param not in defaults:
            label = param if isinstance(param, str) and param.isidentifier() else _show(param, 40)
            raise InvalidParameterError(
                f"{key}.{label[:40]}: {cls.__name__} has no parameter {_show(param, 40)}; "
                "its parameters are "
                f"{', '.join(sorted(defaults))}."
            )
        where = f"{key}.{param}"
        if param in _OBJECT_PARAMS and value is not None:
            raise InvalidParameterError(
                f"{where}: only null (the default) is accepted; an estimator object cannot be "
                "given in a pipeline file."
            )
        if isinstance(value, Mapping):
            if param not in _MAPPING_PARAMS:
                raise InvalidParameterError(
                    f"{where}: expected {_PLAIN}; got a mapping (only "
                    f"{', '.join(_MAPPING_PARAMS)} take one)."
                )
            plain = _mapping(value, where, param)
        else:
            plain = _plain(value, where)
        _bounds(cls, param, plain, defaults[param], where)
        _sklearn_constraints(cls, param, plain, where)
        out[param] = plain
    return out


def check_estimator(name: Any, params: Any, *, key: str = "classifier.estimator") -> None:
    """Check an estimator class name and its parameters, before any data is read.

    Parameters
    ----------
    name : str
        Class name or public dotted path; see :data:`ESTIMATORS`.
    params : mapping
        Keyword arguments.
    key : str
        Setting holding ``class`` and ``params``; messages name ``<key>.class`` or
        ``<key>.params.<parameter>``.

    Raises
    ------
    InvalidParameterError
        See :func:`estimator_class` and :func:`check_estimator_params`.

    Examples
    --------
    >>> check_estimator("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 200})
    >>> check_estimator("RandomForestClassifier", {"n_estimators": 10**9})
    Traceback (most recent call last):
    ...
    geo.errors.InvalidParameterError: classifier.estimator.params.n_estimators: expected an integer number from 1 to 5000 (geo's limit for RandomForestClassifier, so a shared pipeline file cannot exhaust the computer); got 1000000000.
    """
    estimator_class(name, key=f"{key}.class")
    check_estimator_params(name, params, key=f"{key}.params")


def build_estimator(name: Any, params: Any, *, seed: int = 0, key: str = "classifier.estimator"):
    """Check, then build an unfitted estimator, seeded for reproducible runs.

    ``random_state`` is set to ``seed`` when the estimator has one and ``params`` does not
    set it; :class:`~sklearn.svm.SVC` gets ``probability=True`` unless ``params`` sets it.

    Parameters
    ----------
    name : str
        Class name or public dotted path; see :data:`ESTIMATORS`.
    params : mapping
        Keyword arguments.
    seed : int
        Default ``random_state``.
    key : str
        Setting holding ``class`` and ``params``, for messages.

    Returns
    -------
    sklearn estimator
        Unfitted.

    Raises
    ------
    InvalidParameterError
        See :func:`check_estimator`.

    Examples
    --------
    >>> est = build_estimator("sklearn.ensemble.ExtraTreesClassifier", {"n_estimators": 20}, seed=7)
    >>> type(est).__name__, est.n_estimators, est.random_state
    ('ExtraTreesClassifier', 20, 7)
    """
    cls = estimator_class(name, key=f"{key}.class")
    kwargs = check_estimator_params(name, params, key=f"{key}.params")
    estimator = cls(**kwargs)
    defaults = estimator.get_params(deep=False)
    if "random_state" in defaults and "random_state" not in kwargs:
        estimator.set_params(random_state=seed)
    if cls is SVC and "probability" not in kwargs:
        # scikit-learn 1.9 deprecates it (a FutureWarning at fit) but still needs it for
        # predict_proba
        estimator.set_params(probability=True)
    return estimator
