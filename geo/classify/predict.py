"""Fit pixel classifiers and apply them to a feature cube chunk by chunk.

Prediction is lazy: :func:`predict_raster` and :func:`kmeans_classes` return
dask-backed layers built with ``dask.array.map_blocks``. Each block sees every band
of a ``chunk × chunk`` window, predicts only its valid pixels (all bands finite)
and fills the rest with nodata, so the scene is never held whole in memory; write
the layers with ``geo.io.write_rasters`` (255 nodata for classes, NaN for
probabilities).
"""

from __future__ import annotations

from collections.abc import Callable

import dask.array as dsa
import numpy as np
import xarray as xr
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.ensemble import RandomForestClassifier

from geo.errors import InvalidParameterError

__all__ = ["CLASS_NODATA", "fit_classifier", "kmeans_classes", "predict_raster"]

CLASS_NODATA = 255


def _predict_block(block: np.ndarray, func: Callable, n_out: int) -> np.ndarray:
    """Apply ``func`` ((n, band) → (n, n_out)) to the valid pixels of a (band, y, x) block."""
    _, ny, nx = block.shape
    pixels = block.reshape(block.shape[0], -1).T
    valid = np.isfinite(pixels).all(axis=1)
    out = np.full((ny * nx, n_out), np.nan, dtype="float32")
    if valid.any():
        out[valid] = func(pixels[valid].astype("float64"))
    return out.T.reshape(n_out, ny, nx)


def _map_pixels(features: xr.DataArray, func: Callable, n_out: int, chunk: int) -> dsa.Array:
    """Lazy ``(n_out, y, x)`` float32 result of ``func`` over the valid pixels, chunk by chunk."""
    if not (isinstance(chunk, int) and chunk > 0):
        raise InvalidParameterError(
            f"The 'chunk' parameter must be an int > 0 (pixels). Got {chunk!r}."
        )
    data = features.transpose("band", "y", "x").data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(data)
    data = data.rechunk((-1, chunk, chunk))
    return data.map_blocks(
        _predict_block,
        func,
        n_out,
        dtype="float32",
        chunks=((n_out,), *data.chunks[1:]),
    )


def _layer(data: dsa.Array, features: xr.DataArray, name: str, dims, coords=None) -> xr.DataArray:
    coords = {**(coords or {}), "y": features["y"].values, "x": features["x"].values}
    da = xr.DataArray(data, dims=dims, coords=coords, name=name)
    if features.rio.crs is not None:
        da = da.rio.write_crs(features.rio.crs)
    return da.rio.write_transform(features.rio.transform())


def _to_classes(codes: dsa.Array) -> dsa.Array:
    return dsa.where(dsa.isnan(codes), CLASS_NODATA, codes).astype("uint8")


def _check_features(features: xr.DataArray, n_features: int, what: str) -> None:
    if features.sizes.get("band") != n_features:
        raise InvalidParameterError(
            f"The {what} was fitted on {n_features} features but 'features' has "
            f"{features.sizes.get('band')} bands ({features.dims}). Build the cube with the "
            "same bands, in the same order, as the training samples."
        )


def fit_classifier(X, y, *, estimator=None, random_state: int = 0):
    """Fit a pixel classifier on a sample table.

    Parameters
    ----------
    X : array-like
        ``(n, features)`` samples from :func:`geo.classify.raster_to_samples`.
    y : array-like
        ``(n,)`` class codes.
    estimator : sklearn classifier, optional
        Unfitted estimator; it is cloned, so the argument is left untouched. Defaults
        to ``RandomForestClassifier(n_estimators=200, n_jobs=-1, random_state=random_state)``.
    random_state : int
        Seed of the default random forest.

    Returns
    -------
    sklearn classifier
        The fitted estimator.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> m = fit_classifier([[0.0], [1.0]], [1, 2], estimator=DecisionTreeClassifier())
    >>> m.predict([[0.9]]).tolist()
    [2]
    """
    if estimator is None:
        estimator = RandomForestClassifier(n_estimators=200, n_jobs=-1, random_state=random_state)
    return clone(estimator).fit(np.asarray(X), np.asarray(y))


def predict_raster(
    model, features: xr.DataArray, *, chunk: int = 512
) -> tuple[xr.DataArray, xr.DataArray]:
    """Classify every valid pixel of a feature cube, lazily and chunk by chunk.

    Parameters
    ----------
    model : fitted sklearn classifier
        Must have ``predict_proba`` and integer ``classes_`` in [0, 254].
    features : xarray.DataArray
        ``(band, y, x)`` cube, bands in training order; NaN in any band marks an
        invalid pixel.
    chunk : int
        Side in pixels of the square windows predicted at once.

    Returns
    -------
    classes : xarray.DataArray
        ``(y, x)`` uint8 most probable class, 255 on invalid pixels (dask-backed).
    probabilities : xarray.DataArray
        ``(class, y, x)`` float32 class probabilities, NaN on invalid pixels
        (dask-backed); the ``class`` coordinate holds ``model.classes_``.

    Raises
    ------
    InvalidParameterError
        The model lacks ``predict_proba`` or integer classes in [0, 254], its number
        of features differs from the bands, or ``chunk`` is not a positive int.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from geo.testing import make_raster
    >>> f = make_raster([[[0, 1], [np.nan, 1]]])
    >>> m = DecisionTreeClassifier().fit([[0.0], [1.0]], [3, 7])
    >>> classes, proba = predict_raster(m, f, chunk=1)
    >>> classes.values.tolist(), proba.sel({"class": 7}).values.tolist()
    ([[3, 7], [255, 7]], [[0.0, 1.0], [nan, 1.0]])
    """
    codes = np.asarray(getattr(model, "classes_", []))
    if not hasattr(model, "predict_proba") or not (
        codes.size
        and np.issubdtype(codes.dtype, np.integer)
        and codes.min() >= 0
        and codes.max() < CLASS_NODATA
    ):
        raise InvalidParameterError(
            f"predict_raster needs a fitted classifier with predict_proba and integer classes in "
            f"[0, {CLASS_NODATA - 1}]; got {type(model).__name__} with classes {codes.tolist()!r}. "
            "Fit it on integer class codes (e.g. `SVC(probability=True)` for SVMs)."
        )
    _check_features(features, model.n_features_in_, "model")

    def classify(pixels: np.ndarray) -> np.ndarray:
        proba = model.predict_proba(pixels)
        return np.column_stack([codes[proba.argmax(axis=1)], proba])

    stacked = _map_pixels(features, classify, codes.size + 1, chunk)
    classes = _layer(_to_classes(stacked[0]), features, "classes", ("y", "x"))
    probabilities = _layer(
        stacked[1:], features, "probabilities", ("class", "y", "x"), {"class": codes}
    )
    return classes, probabilities


def kmeans_classes(
    features: xr.DataArray,
    n_clusters: int,
    *,
    sample: int = 100_000,
    random_state: int = 0,
    chunk: int = 512,
) -> tuple[xr.DataArray, MiniBatchKMeans]:
    """Cluster the valid pixels with mini-batch k-means (unsupervised exploration).

    The model is fitted on a random sample of valid pixels (only those are read)
    and then applied chunk by chunk to the whole cube.

    Parameters
    ----------
    features : xarray.DataArray
        ``(band, y, x)`` cube; NaN in any band marks an invalid pixel.
    n_clusters : int
        Number of clusters, in [2, 254].
    sample : int
        Maximum number of valid pixels used for fitting.
    random_state : int
        Seed of the pixel sample and of k-means.
    chunk : int
        Side in pixels of the square windows predicted at once.

    Returns
    -------
    clusters : xarray.DataArray
        ``(y, x)`` uint8 cluster index in [0, n_clusters), 255 on invalid pixels
        (dask-backed).
    model : sklearn.cluster.MiniBatchKMeans
        The fitted model (``cluster_centers_`` in band order).

    Raises
    ------
    InvalidParameterError
        ``n_clusters`` outside [2, 254], ``sample`` < 1, or fewer valid pixels than clusters.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> f = make_raster([[[0, 0, 9], [9, np.nan, 0]]])
    >>> clusters, km = kmeans_classes(f, 2)
    >>> sorted(np.unique(clusters.values).tolist())
    [0, 1, 255]
    """
    if not (isinstance(n_clusters, int) and 2 <= n_clusters < CLASS_NODATA):
        raise InvalidParameterError(
            f"The 'n_clusters' parameter must be an int in [2, {CLASS_NODATA - 1}]. Got {n_clusters!r}."
        )
    if not (isinstance(sample, int) and sample >= 1):
        raise InvalidParameterError(f"The 'sample' parameter must be an int ≥ 1. Got {sample!r}.")
    cube = features.transpose("band", "y", "x")
    valid = np.asarray(cube.notnull().all("band").values).ravel()
    index = np.flatnonzero(valid)
    if index.size < n_clusters:
        raise InvalidParameterError(
            f"kmeans_classes needs at least n_clusters = {n_clusters} valid pixels; the cube has "
            f"{index.size}. Check the mask or lower 'n_clusters'."
        )
    rng = np.random.default_rng(random_state)
    if index.size > sample:
        index = np.sort(rng.choice(index, size=sample, replace=False))
    rows, cols = np.divmod(index, cube.sizes["x"])
    picked = cube.isel(y=xr.DataArray(rows, dims="s"), x=xr.DataArray(cols, dims="s"))
    X = np.asarray(picked.transpose("s", "band").values, dtype="float64")
    model = MiniBatchKMeans(n_clusters=n_clusters, random_state=random_state, n_init=3).fit(X)

    def assign(pixels: np.ndarray) -> np.ndarray:
        return model.predict(pixels)[:, None]

    labels = _map_pixels(cube, assign, 1, chunk)[0]
    return _layer(_to_classes(labels), cube, "clusters", ("y", "x")), model
