"""Supervised and unsupervised pixel classification with spatial cross-validation.

Typical flow: :func:`labels_from_polygons` → :func:`raster_to_samples` →
:func:`cross_validate` (spatial vs random folds) → :func:`fit_classifier` →
:func:`predict_raster` (or :func:`predict_classes`, classes only) → ``geo.io.write_rasters``; :func:`save_model` /
:func:`load_model` keep a fitted model with its feature names, in a skops file that runs
no code when loaded. A pipeline file names its estimator from the allow-list
:data:`ESTIMATORS`; :func:`check_estimator` validates the name and parameters before any
pixel is read and :func:`build_estimator` builds the seeded estimator.
"""

from geo.classify.estimators import (
    ESTIMATORS,
    build_estimator,
    check_estimator,
    check_estimator_params,
)
from geo.classify.models import load_model, save_model
from geo.classify.predict import (
    CLASS_NODATA,
    fit_classifier,
    kmeans_classes,
    predict_classes,
    predict_raster,
)
from geo.classify.samples import labels_from_polygons, raster_to_samples, samples_to_raster
from geo.classify.validation import (
    ValidationReport,
    cross_validate,
    polygon_blocks,
    spatial_blocks,
)

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
