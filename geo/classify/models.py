"""Save and load fitted classifiers with a JSON sidecar (the one file-writing module of classify).

``save_model(model, "rf.joblib", ...)`` writes ``rf.joblib`` (joblib pickle) and
``rf.joblib.json``: geo and scikit-learn versions, the feature names in band order,
the class codes, the creation time and free metadata. :func:`load_model` refuses a
model whose feature names differ from the scene's (a model applied to the wrong
bands classifies garbage silently) and warns when scikit-learn has changed.
Both files are written under temporary names and moved into place with
``os.replace``, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import sklearn

import geo
from geo.errors import GeoWarning, InputNotFoundError, InvalidParameterError

__all__ = ["load_model", "save_model", "sidecar_path"]


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the JSON sidecar path of a model file (``<name>.json`` next to it).

    Examples
    --------
    >>> sidecar_path("models/rf.joblib").as_posix()
    'models/rf.joblib.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_model(
    model,
    path: str | os.PathLike,
    *,
    feature_names: Sequence[str],
    classes: Sequence,
    meta: Mapping | None = None,
) -> Path:
    """Write a fitted model with joblib, plus its JSON sidecar, atomically.

    Parameters
    ----------
    model : fitted sklearn estimator
        Model to save.
    path : str or os.PathLike
        Model file; the sidecar is ``<path>.json``. Existing files are replaced.
    feature_names : sequence of str
        Feature (band) names in the order the model expects them.
    classes : sequence
        Class codes (e.g. ``model.classes_``), JSON-serialisable after ``tolist()``.
    meta : mapping, optional
        JSON-serialisable extra information (class names, training data, CV scores).

    Returns
    -------
    pathlib.Path
        The model path.
    """
    path = Path(path)
    sidecar = {
        "geo_version": geo.__version__,
        "sklearn_version": sklearn.__version__,
        "estimator": type(model).__name__,
        "feature_names": [str(f) for f in feature_names],
        "classes": np.asarray(classes).tolist(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "meta": dict(meta or {}),
    }
    text = json.dumps(sidecar, indent=2)
    tag = uuid.uuid4().hex
    tmp_model = path.with_name(f".{path.name}.{tag}.tmp")
    tmp_sidecar = path.with_name(f".{path.name}.json.{tag}.tmp")
    try:
        joblib.dump(model, tmp_model)
        tmp_sidecar.write_text(text, encoding="utf-8")
        os.replace(tmp_model, path)
        os.replace(tmp_sidecar, sidecar_path(path))
    finally:
        tmp_model.unlink(missing_ok=True)
        tmp_sidecar.unlink(missing_ok=True)
    return path


def load_model(path: str | os.PathLike, *, feature_names: Sequence[str]):
    """Load a model saved by :func:`save_model`, checking it fits the scene's features.

    Parameters
    ----------
    path : str or os.PathLike
        Model file written by :func:`save_model`.
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
    InvalidParameterError
        The model's feature names (or their order) differ from ``feature_names``.

    Warns
    -----
    GeoWarning
        The model was saved with another scikit-learn version.
    """
    path = Path(path)
    sidecar_file = sidecar_path(path)
    for required in (path, sidecar_file):
        if not required.is_file():
            raise InputNotFoundError(
                f"Model file {required} does not exist; save models with "
                "`geo.classify.save_model`, which writes the model and its .json sidecar."
            )
    sidecar = json.loads(sidecar_file.read_text(encoding="utf-8"))
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
    if sidecar["sklearn_version"] != sklearn.__version__:
        warnings.warn(
            f"Model {path} was saved with scikit-learn {sidecar['sklearn_version']} and is "
            f"loaded with {sklearn.__version__}; predictions may differ. Retrain to be safe.",
            GeoWarning,
            stacklevel=2,
        )
    return joblib.load(path)
