"""Supervised and unsupervised pixel classification with spatial cross-validation.

Typical flow: :func:`labels_from_polygons` → :func:`raster_to_samples` →
:func:`cross_validate` (spatial vs random folds) → :func:`fit_classifier` →
:func:`predict_raster` (or :func:`predict_classes`, classes only) → ``geo.io.write_rasters``; :func:`save_model` /
:func:`load_model` keep a fitted model with its feature names, in a skops file that runs
no code when loaded. A pipeline file names its estimator from the allow-list
:data:`ESTIMATORS`; :func:`check_estimator` validates the name and parameters before any
pixel is read and :func:`build_estimator` builds the seeded estimator.
"""

import importlib

_EXPORTS = {
    "ESTIMATORS": "estimators",
    "build_estimator": "estimators",
    "check_estimator": "estimators",
    "check_estimator_params": "estimators",
    "load_model": "models",
    "save_model": "models",
    "CLASS_NODATA": "predict",
    "fit_classifier": "predict",
    "kmeans_classes": "predict",
    "predict_classes": "predict",
    "predict_raster": "predict",
    "labels_from_polygons": "samples",
    "raster_to_samples": "samples",
    "samples_to_raster": "samples",
    "ValidationReport": "validation",
    "cross_validate": "validation",
    "polygon_blocks": "validation",
    "spatial_blocks": "validation",
}

__all__ = [
    "CLASS_NODATA",
    "ESTIMATORS",
    "ValidationReport",
    "build_estimator",
    "check_estimator",
    "check_estimator_params",
    "cross_validate",
    "fit_classifier",
    "kmeans_classes",
    "labels_from_polygons",
    "load_model",
    "polygon_blocks",
    "predict_classes",
    "predict_raster",
    "raster_to_samples",
    "samples_to_raster",
    "save_model",
    "spatial_blocks",
]


def __getattr__(name: str):
    """Import on first use (PEP 562): scikit-learn and skops load only when a run needs them."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"geo.classify.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'geo.classify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
