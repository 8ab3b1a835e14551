"""Fit pixel classifiers and apply them to a feature cube chunk by chunk.

Prediction is lazy: :func:`predict_raster`, :func:`predict_classes` and
:func:`kmeans_classes` return dask-backed layers built with ``dask.array.map_blocks``.
Each block sees every band of a ``chunk × chunk`` window, predicts only its valid
pixels (all bands finite) and fills the rest with nodata, so the scene is never held
whole in memory; write the layers with ``geo.io.write_rasters`` (255 nodata for
classes, NaN for probabilities).

Forests of scikit-learn decision trees (``RandomForestClassifier``,
``ExtraTreesClassifier``) take a fast path (:class:`_Forest`) that gives exactly the
classes of their own ``predict`` (and, for :func:`predict_raster`, bit for bit the
probabilities of ``predict_proba`` with ``n_jobs=1``). Most of the time goes into
walking the trees (scikit-learn's ``apply``); the fast path walks fewer trees, faster:

- the valid pixels of a block are walked in Morton (Z-curve) order of their quantised
  feature values, so that consecutive pixels take the same branches: the walk runs
  about 25 % faster than in raster order, 2× faster than in random order (branch
  prediction). A pixel's result does not depend on the order;
- :func:`predict_classes` adds the trees' leaf values in 16-bit fixed point, all
  classes of a tree in one integer addition, and a pixel leaves the batch as soon as
  its leading class is ahead by more than the remaining trees could add (about 55 of
  100 trees on average for a well-separated forest). The bounds account for the
  rounding, so the class is the one of the forest's float64 sums; ties and near-ties
  (where rounding could matter) are summed again exactly, in float64, tree by tree;
- the blocks run in parallel on dask's threads (the tree walk releases the GIL), so
  the model's own ``n_jobs`` is not used, and a batch's arrays stay small.
"""

from __future__ import annotations

from collections.abc import Callable

import dask.array as dsa
import numpy as np
import xarray as xr
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from geo.errors import InvalidParameterError

__all__ = [
    "CLASS_NODATA",
    "fit_classifier",
    "kmeans_classes",
    "predict_classes",
    "predict_raster",
]

CLASS_NODATA = 255

#: Pixels per tree walk of the forest fast path (fewer calls cost more per pixel; the
#: float32 pixels, leaf ids and float64 sums of a batch stay within a few MB).
_BATCH = 65_536

#: Fixed-point class sums of the forest fast path: 16-bit lanes, 4 per uint64 word.
_LANE_BITS, _LANES = 16, 4

#: Bits of the Morton key: at most 63 over the (at most 7) most used split features.
_KEY_BITS, _KEY_FEATURES = 63, 7


def _valid_pixels(block: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Return ``valid`` (y*x,) bool and the (n_valid, band) C-contiguous pixels of a block."""
    flat = block.reshape(block.shape[0], -1)
    valid = np.isfinite(flat).all(axis=0)
    pixels = np.ascontiguousarray(flat[:, valid].T, dtype=dtype)
    return valid, pixels


def _predict_block(block: np.ndarray, func: Callable, n_out: int, dtype="float64") -> np.ndarray:
    """Apply ``func`` ((n, band) → (n, n_out)) to the valid pixels of a (band, y, x) block.

    Returns ``(n_out, y, x)`` float32, NaN on invalid pixels; ``func`` gets ``dtype`` pixels.
    """
    _, ny, nx = block.shape
    valid, pixels = _valid_pixels(block, dtype)
    out = np.full((n_out, ny * nx), np.nan, dtype="float32")
    if pixels.shape[0]:
        out[:, valid] = np.asarray(func(pixels)).T
    return out.reshape(n_out, ny, nx)


def _classes_block(block: np.ndarray, func: Callable, dtype="float64") -> np.ndarray:
    """Apply ``func`` ((n, band) → (n,) codes in [0, 254]) to the valid pixels of a block.

    Returns ``(y, x)`` uint8 codes, :data:`CLASS_NODATA` on invalid pixels.
    """
    _, ny, nx = block.shape
    valid, pixels = _valid_pixels(block, dtype)
    out = np.full(ny * nx, CLASS_NODATA, dtype="uint8")
    if pixels.shape[0]:
        out[valid] = func(pixels)
    return out.reshape(ny, nx)


def _blocks(features: xr.DataArray, chunk: int) -> dsa.Array:
    """Return the cube as a dask array of ``(all bands, chunk, chunk)`` blocks."""
    if not (isinstance(chunk, int) and chunk > 0):
        raise InvalidParameterError(
            f"The 'chunk' parameter must be an int > 0 (pixels). Got {chunk!r}."
        )
    data = features.transpose("band", "y", "x").data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(data)
    return data.rechunk((-1, chunk, chunk))


def _map_pixels(
    features: xr.DataArray, func: Callable, n_out: int, chunk: int, dtype="float64"
) -> dsa.Array:
    """Lazy ``(n_out, y, x)`` float32 result of ``func`` over the valid pixels, chunk by chunk."""
    data = _blocks(features, chunk)
    return dsa.map_blocks(
        _predict_block,
        data,
        func,
        n_out,
        dtype,
        dtype="float32",
        chunks=((n_out,), *data.chunks[1:]),
    )


def _map_classes(features: xr.DataArray, func: Callable, chunk: int, dtype="float64") -> dsa.Array:
    """Lazy ``(y, x)`` uint8 codes of ``func`` over the valid pixels, chunk by chunk."""
    data = _blocks(features, chunk)
    return dsa.map_blocks(
        _classes_block, data, func, dtype, dtype="uint8", drop_axis=0, chunks=data.chunks[1:]
    )


class _Forest:
    """Exact, faster ``predict_proba`` / ``predict`` of a fitted forest of decision trees.

    Everything runs on the calling thread, on float32 pixels. ``predict_proba`` equals,
    bit for bit, the forest's ``predict_proba`` with ``n_jobs=1`` (per pixel, the trees'
    leaf values summed in tree order into a zeroed float64 buffer, then divided by the
    number of trees); ``predict`` / ``predict_bands`` give ``classes_`` at its argmax,
    as the forest's ``predict`` (see the module notes for how).
    """

    def __init__(self, model) -> None:
        self.trees = list(model.estimators_)
        self.classes = np.asarray(model.classes_)
        n_classes = self.classes.size
        # a tree's predict_proba is tree_.value[leaf, 0, :n_classes] (fractions of the leaf)
        self.tables = [np.ascontiguousarray(t.tree_.value[:, 0, :n_classes]) for t in self.trees]
        self._pack()
        # Morton key: the most used split features, each quantised between its extreme
        # thresholds (values beyond them take the same branch in every split)
        splits = [t.tree_ for t in self.trees]
        feature = np.concatenate([t.feature[t.children_left >= 0] for t in splits])
        threshold = np.concatenate([t.threshold[t.children_left >= 0] for t in splits])
        counts = np.bincount(feature, minlength=model.n_features_in_)
        used = np.flatnonzero(counts)
        self.key_features = used[np.argsort(-counts[used], kind="stable")][:_KEY_FEATURES]
        d = max(self.key_features.size, 1)
        bits = min(_KEY_BITS // d, 16)
        self.levels = float(2**bits - 1)
        lo = np.array([threshold[feature == f].min() for f in self.key_features])
        hi = np.array([threshold[feature == f].max() for f in self.key_features])
        self.lo = lo.astype("float32")
        span = hi - lo  # 0 for a feature split at one value only: all its pixels key alike
        self.scale = np.divide(self.levels, span, out=np.zeros_like(span), where=span > 0)
        self.scale = self.scale.astype("float32")
        values = np.arange(2**bits, dtype="uint64")
        self.spread = []  # value → its bits at positions bit * d + j (interleaved)
        for j in range(self.key_features.size):
            spread = np.zeros_like(values)
            for bit in range(bits):
                spread |= ((values >> np.uint64(bit)) & np.uint64(1)) << np.uint64(bit * d + j)
            self.spread.append(spread)

    def _pack(self) -> None:
        """Fixed-point copies of the leaf values, :data:`_LANES` classes per uint64 word.

        Each value v becomes round(v · 2**bits) in a 16-bit lane; ``bits`` is the largest
        that keeps the sum over all trees below 2**16, so summing the words of every
        tree adds all classes at once without carries between lanes. ``self.slack`` bounds
        how far such a sum, divided by 2**bits, can be from the forest's float64 sum.
        """
        n_trees, n_classes = len(self.trees), self.classes.size
        self.bits = int(np.floor(np.log2((2**_LANE_BITS - 1) / n_trees)))
        self.words = []
        if self.bits < 4 or n_classes < 2:  # a huge forest, or nothing to choose: exact path
            return
        scale = float(2**self.bits)
        error = 0.0
        for table in self.tables:
            q = np.rint(table * scale)
            error += float(np.abs(q / scale - table).max())
            q = q.astype("uint64")
            words = np.zeros((-(-n_classes // _LANES), table.shape[0]), dtype="uint64")
            for c in range(n_classes):
                words[c // _LANES] |= q[:, c] << np.uint64(_LANE_BITS * (c % _LANES))
            self.words.append(words)
        # trees after which decided pixels leave the batch: none can be decided before a
        # class holds more than half of the trees; then ever more sparsely
        first = n_trees // 2 + 1
        self.checks = {first + step for step in (0, 1, 3, 5, 9, 13, 21, 29, 41) if step < n_trees}
        # rounding of the leaf values, plus the float64 rounding of the forest's own sum
        # of n_trees values ≤ 1 (≤ n_trees² · 2**-53, taken twice) and of its division
        self.slack = error + n_trees * n_trees * 2.0**-52 + 2.0**-40

    @classmethod
    def of(cls, model) -> _Forest | None:
        """Return the fast path of ``model``, or None if it is not a plain sklearn forest.

        Forests whose ``predict_proba``/``predict`` or trees are not scikit-learn's own
        (subclasses overriding them), multi-output and unfitted forests get None.
        """
        trees = getattr(model, "estimators_", None)
        kind = type(model)
        if not (
            isinstance(model, (RandomForestClassifier, ExtraTreesClassifier))
            # both inherit these from sklearn's ForestClassifier; a subclass may override
            and kind.predict_proba is RandomForestClassifier.predict_proba
            and kind.predict is RandomForestClassifier.predict
            and getattr(model, "n_outputs_", None) == 1
            and trees
            and all(
                isinstance(t, DecisionTreeClassifier)
                and type(t).predict_proba is DecisionTreeClassifier.predict_proba
                and type(t).apply is DecisionTreeClassifier.apply
                for t in trees
            )
        ):
            return None
        return cls(model)

    def order(self, bands: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Return the permutation of ``index`` that sorts its pixels along a Morton curve.

        ``bands`` is ``(features, N)`` (any strides); ``index`` picks the pixels.
        """
        key = np.zeros(index.size, dtype="uint64")
        for j, f in enumerate(self.key_features):
            with np.errstate(over="ignore"):  # huge values: inf, clipped to the last level
                q = (bands[f].take(index).astype("float32") - self.lo[j]) * self.scale[j]
            np.clip(q, 0, self.levels, out=q)
            key |= self.spread[j].take(q.astype("intp"))
        return np.argsort(key)

    def _walk(self, pixels: np.ndarray, each: Callable[[int, np.ndarray], None]) -> None:
        """Call ``each(start, mean probabilities)`` for every batch of ``pixels`` in order."""
        n_classes, n_trees = self.classes.size, len(self.trees)
        acc = np.empty((min(pixels.shape[0], _BATCH), n_classes), dtype="float64")
        leaf_values = np.empty_like(acc)
        for start in range(0, pixels.shape[0], _BATCH):
            X = pixels[start : start + _BATCH]
            total, tmp = acc[: X.shape[0]], leaf_values[: X.shape[0]]
            total.fill(0.0)
            for tree, table in zip(self.trees, self.tables, strict=True):
                table.take(tree.tree_.apply(X), axis=0, out=tmp)
                total += tmp
            total /= n_trees
            each(start, total)

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Return ``(n, n_classes)`` float64 probabilities, as the forest's ``predict_proba``."""
        pixels = np.asarray(pixels, dtype="float32")
        order = self.order(pixels.T, np.arange(pixels.shape[0]))
        ordered = pixels.take(order, axis=0)  # take: 4× faster than pixels[order]
        out = np.empty((ordered.shape[0], self.classes.size), dtype="float64")

        def put(start: int, proba: np.ndarray) -> None:
            out[order[start : start + proba.shape[0]]] = proba

        self._walk(ordered, put)
        return out

    def _exact_predict(self, pixels: np.ndarray) -> np.ndarray:
        """Return the classes of C-contiguous float32 ``pixels`` from the exact float64 sums."""
        out = np.empty(pixels.shape[0], dtype=self.classes.dtype)

        def put(start: int, proba: np.ndarray) -> None:
            out[start : start + proba.shape[0]] = self.classes.take(proba.argmax(axis=1))

        self._walk(pixels, put)
        return out

    def _lead(self, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the class index with the largest fixed-point sum, and its lead on the next."""
        n = total.shape[1]
        sums = np.empty((n, self.classes.size), dtype="int64")
        mask = np.uint64(2**_LANE_BITS - 1)
        for c in range(self.classes.size):
            sums[:, c] = (total[c // _LANES] >> np.uint64(_LANE_BITS * (c % _LANES))) & mask
        best = sums.argmax(axis=1)
        rows = np.arange(n)
        top = sums[rows, best]
        sums[rows, best] = -1
        return best, top - sums.max(axis=1)

    def _vote(self, X: np.ndarray) -> np.ndarray:
        """Return the classes of a batch from fixed-point sums, stopping early where decided.

        A pixel whose largest fixed-point sum leads every other by more than what the
        trees not yet walked can add (each adds at most 2**bits to a class) plus twice
        ``slack`` has that class as the largest of the forest's float64 sums, with no tie:
        it drops out of the batch. After the last tree, the pixels left with a lead of at
        most twice ``slack`` (ties, near-ties) are summed again exactly.
        """
        n_trees = len(self.trees)
        unit, margin = float(2**self.bits), 2.0 * self.slack * 2.0**self.bits
        out = np.empty(X.shape[0], dtype=self.classes.dtype)
        active = np.arange(X.shape[0])
        total = np.zeros((len(self.words[0]), X.shape[0]), dtype="uint64")
        tmp = np.empty(X.shape[0], dtype="uint64")
        for k, (tree, words) in enumerate(zip(self.trees, self.words, strict=True), 1):
            leaves = tree.tree_.apply(X)
            part = tmp[: X.shape[0]]
            for total_w, word in zip(total, words, strict=True):
                word.take(leaves, out=part)
                total_w += part
            if k in self.checks and k < n_trees:
                best, lead = self._lead(total)
                done = lead > (n_trees - k) * unit + margin
                if done.any():
                    out[active[done]] = self.classes.take(best[done])
                    keep = np.flatnonzero(~done)
                    active, X = active.take(keep), X.take(keep, axis=0)
                    total = total.take(keep, axis=1)
                    if not active.size:
                        return out
        best, lead = self._lead(total)
        out[active] = self.classes.take(best)
        close = lead <= margin
        if close.any():
            out[active[close]] = self._exact_predict(np.ascontiguousarray(X[close]))
        return out

    def predict_bands(self, bands: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Return the classes, as the forest's ``predict``, of the pixels ``bands[:, index]``.

        ``bands`` is ``(features, N)``: a block's bands, flattened. Only one batch of
        pixels at a time is copied out as ``(batch, features)`` float32 for the trees.
        """
        order = self.order(bands, index)
        ordered = index.take(order)
        found = np.empty(index.size, dtype=self.classes.dtype)
        for start in range(0, index.size, _BATCH):
            picked = bands.take(ordered[start : start + _BATCH], axis=1)
            X = np.ascontiguousarray(picked.T, dtype="float32")
            found[start : start + X.shape[0]] = (
                self._vote(X) if self.words else self._exact_predict(X)
            )
        out = np.empty_like(found)
        out[order] = found
        return out

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Return ``(n,)`` classes of ``(n, features)`` pixels, as the forest's ``predict``."""
        pixels = np.asarray(pixels)
        return self.predict_bands(pixels.T, np.arange(pixels.shape[0]))


def _forest_block(block: np.ndarray, forest: _Forest) -> np.ndarray:
    """Return the ``(y, x)`` uint8 classes of a (band, y, x) block, 255 where invalid."""
    _, ny, nx = block.shape
    bands = block.reshape(block.shape[0], -1)
    index = np.flatnonzero(np.isfinite(bands).all(axis=0))
    out = np.full(ny * nx, CLASS_NODATA, dtype="uint8")
    if index.size:
        out[index] = forest.predict_bands(bands, index)
    return out.reshape(ny, nx)


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


def _class_codes(model, what: str, needs: str) -> np.ndarray:
    """Return ``model.classes_``; refuse a model without ``needs`` or classes in [0, 254]."""
    codes = np.asarray(getattr(model, "classes_", []))
    if not hasattr(model, needs) or not (
        codes.size
        and np.issubdtype(codes.dtype, np.integer)
        and codes.min() >= 0
        and codes.max() < CLASS_NODATA
    ):
        raise InvalidParameterError(
            f"{what} needs a fitted classifier with {needs} and integer classes in "
            f"[0, {CLASS_NODATA - 1}]; got {type(model).__name__} with classes {codes.tolist()!r}. "
            "Fit it on integer class codes (e.g. `SVC(probability=True)` for SVMs)."
        )
    return codes


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

    See Also
    --------
    predict_classes : the classes alone, faster when the probabilities are not needed.

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
    codes = _class_codes(model, "predict_raster", "predict_proba")
    _check_features(features, model.n_features_in_, "model")
    forest = _Forest.of(model)
    predict_proba = model.predict_proba if forest is None else forest.predict_proba

    def classify(pixels: np.ndarray) -> np.ndarray:
        proba = predict_proba(pixels)
        return np.column_stack([codes[proba.argmax(axis=1)], proba])

    dtype = "float64" if forest is None else "float32"
    stacked = _map_pixels(features, classify, codes.size + 1, chunk, dtype)
    classes = _layer(_to_classes(stacked[0]), features, "classes", ("y", "x"))
    probabilities = _layer(
        stacked[1:], features, "probabilities", ("class", "y", "x"), {"class": codes}
    )
    return classes, probabilities


def predict_classes(model, features: xr.DataArray, *, chunk: int = 512) -> xr.DataArray:
    """Classify every valid pixel of a feature cube into class codes, lazily, chunk by chunk.

    The same classes as ``model.predict`` on the valid pixels, without computing or
    holding probability layers. A scikit-learn forest (random forest, extra trees) takes
    the fast path described in this module's notes; any other classifier is called
    with ``model.predict`` on float64 pixels.

    Parameters
    ----------
    model : fitted sklearn classifier
        Must have ``predict`` and integer ``classes_`` in [0, 254].
    features : xarray.DataArray
        ``(band, y, x)`` cube, bands in training order; NaN in any band marks an
        invalid pixel.
    chunk : int
        Side in pixels of the square windows predicted at once (a multiple of the
        cube's chunks avoids splitting them).

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` uint8 class codes, 255 on invalid pixels (dask-backed), with the
        cube's CRS and transform.

    Raises
    ------
    InvalidParameterError
        The model lacks ``predict`` or integer classes in [0, 254], its number of
        features differs from the bands, or ``chunk`` is not a positive int.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from geo.testing import make_raster
    >>> f = make_raster([[[0, 1], [np.nan, 1]]])
    >>> m = RandomForestClassifier(5, bootstrap=False, random_state=0).fit([[0.0], [1.0]], [3, 7])
    >>> predict_classes(m, f, chunk=1).values.tolist()
    [[3, 7], [255, 7]]
    """
    _class_codes(model, "predict_classes", "predict")
    _check_features(features, model.n_features_in_, "model")
    forest = _Forest.of(model)
    if forest is None:
        labels = _map_classes(features, model.predict, chunk)
    else:
        data = _blocks(features, chunk)
        labels = dsa.map_blocks(
            _forest_block, data, forest, dtype="uint8", drop_axis=0, chunks=data.chunks[1:]
        )
    return _layer(labels, features, "classes", ("y", "x"))


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

    labels = _map_classes(cube, model.predict, chunk)
    return _layer(labels, cube, "clusters", ("y", "x")), model
