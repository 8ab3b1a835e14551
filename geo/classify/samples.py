"""Conversions between rasters and sample tables for supervised classification.

Training polygons (or points) are burnt onto the feature grid with
:func:`rasterio.features.rasterize`, giving a class raster and a polygon-id raster;
the polygon ids are the groups that keep every polygon in a single
cross-validation fold (``../shared/DOMAIN.md`` §3, "Supervised classification").
:func:`raster_to_samples` turns a ``(band, y, x)`` cube into an ``(n, band)`` table
of valid pixels and :func:`samples_to_raster` puts per-sample values back on the grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from affine import Affine
from pyproj import CRS
from rasterio.features import rasterize

from geo.errors import CRSError, GridMismatchError, InvalidParameterError, VectorError

__all__ = ["labels_from_polygons", "raster_to_samples", "samples_to_raster"]

_GEOM_TYPES = ("Polygon", "MultiPolygon", "Point", "MultiPoint")


def _burn(geoms, values: np.ndarray, shape: tuple[int, int], transform: Affine) -> np.ndarray:
    """Burn ``values`` onto an int32 ``shape`` grid (0 where no geometry); later rows win overlaps."""
    if len(values) == 0:
        return np.zeros(shape, dtype="int32")
    return rasterize(
        zip(geoms, values.tolist(), strict=True),
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )


def _check_crs(polygons, template: xr.DataArray) -> None:
    raster_crs = template.rio.crs
    if polygons.crs is None or raster_crs is None:
        raise CRSError(
            f"Training polygons and the feature raster must both have a CRS; got polygons CRS "
            f"{polygons.crs} and raster CRS {raster_crs}. Set it with `gdf.set_crs(...)` or "
            "`da.rio.write_crs(...)`."
        )
    if not CRS.from_user_input(polygons.crs).equals(
        CRS.from_user_input(raster_crs.to_wkt()), ignore_axis_order=True
    ):
        raise CRSError(
            f"Training polygons and the feature raster must share one CRS; got polygons CRS "
            f"{polygons.crs.to_string()} vs raster CRS {raster_crs.to_string()}. Reproject the "
            "polygons first with `polygons.to_crs(template.rio.crs)`."
        )


def _grid_like(values: np.ndarray, template: xr.DataArray, name: str) -> xr.DataArray:
    """Wrap ``(y, x)`` or ``(k, y, x)`` values with the template's coordinates, CRS and transform."""
    dims = ("y", "x") if values.ndim == 2 else ("band", "y", "x")
    coords = {"y": template["y"].values, "x": template["x"].values}
    da = xr.DataArray(values, dims=dims, coords=coords, name=name)
    if template.rio.crs is not None:
        da = da.rio.write_crs(template.rio.crs)
    return da.rio.write_transform(template.rio.transform())


def labels_from_polygons(
    polygons, template: xr.DataArray, *, label_column: str
) -> tuple[xr.DataArray, xr.DataArray]:
    """Rasterize training polygons or points onto the template's pixel grid.

    A pixel belongs to a polygon when its centre falls inside it; a point labels the
    pixel that contains it. Where geometries overlap, the later row wins.

    Parameters
    ----------
    polygons : geopandas.GeoDataFrame
        Polygon, MultiPolygon, Point or MultiPoint geometries in the template's CRS.
    template : xarray.DataArray
        ``(y, x)`` or ``(band, y, x)`` raster giving the grid, CRS and transform.
    label_column : str
        Column with integer class codes ≥ 1 (0 means "no label").

    Returns
    -------
    labels : xarray.DataArray
        ``(y, x)`` int32 class codes, 0 outside every geometry.
    polygon_id : xarray.DataArray
        ``(y, x)`` int32 id of the geometry each pixel came from (row position + 1),
        0 outside every geometry. Use it as the cross-validation groups.

    Raises
    ------
    CRSError
        Either side has no CRS, or the CRSs differ (both are named).
    VectorError
        ``label_column`` is missing or a geometry is not a polygon or point.
    InvalidParameterError
        Labels are not integers ≥ 1.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((2, 3)), res=1.0, origin=(0.0, 2.0))
    >>> gdf = gpd.GeoDataFrame({"cls": [4]}, geometry=[box(0, 0, 2, 1)], crs=t.rio.crs)
    >>> labels, pid = labels_from_polygons(gdf, t, label_column="cls")
    >>> labels.values.tolist(), pid.values.tolist()
    ([[0, 0, 0], [4, 4, 0]], [[0, 0, 0], [1, 1, 0]])
    """
    _check_crs(polygons, template)
    if label_column not in polygons.columns:
        raise VectorError(
            f"The 'label_column' {label_column!r} is not a column of the training polygons; "
            f"available columns: {', '.join(map(str, polygons.columns))}."
        )
    bad = sorted(set(polygons.geom_type.dropna()) - set(_GEOM_TYPES))
    if bad or polygons.geometry.isna().any():
        raise VectorError(
            f"Training geometries must be polygons or points ({', '.join(_GEOM_TYPES)}); got "
            f"{', '.join(bad) or 'missing geometries'}. Drop or convert those rows first."
        )
    codes = pd.to_numeric(polygons[label_column], errors="coerce").to_numpy(dtype="float64")
    if not (np.isfinite(codes).all() and (codes == np.round(codes)).all() and (codes >= 1).all()):
        raise InvalidParameterError(
            f"The 'label_column' {label_column!r} must hold integer class codes ≥ 1 (0 means no "
            f"label); got {polygons[label_column].head().tolist()!r}. Map names to codes first, "
            "e.g. with `pandas.factorize(...)[0] + 1`."
        )
    shape = (template.sizes["y"], template.sizes["x"])
    transform = template.rio.transform()
    geoms = polygons.geometry.to_numpy()
    labels = _burn(geoms, codes.astype("int32"), shape, transform)
    ids = _burn(geoms, np.arange(1, len(polygons) + 1, dtype="int32"), shape, transform)
    return _grid_like(labels, template, "labels"), _grid_like(ids, template, "polygon_id")


def _as_grid(values, shape: tuple[int, int], name: str) -> np.ndarray:
    array = np.asarray(values.data if isinstance(values, xr.DataArray) else values)
    if array.shape != shape:
        raise GridMismatchError(
            f"'{name}' must share the features' (y, x) grid {shape}; got shape {array.shape}. "
            "Build it from the same template with `labels_from_polygons`."
        )
    return array


def raster_to_samples(
    features: xr.DataArray, labels=None, groups=None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Turn a feature cube into a sample table of valid (and labelled) pixels.

    Parameters
    ----------
    features : xarray.DataArray
        ``(band, y, x)`` features (numpy or dask backed); NaN marks invalid pixels.
    labels : xarray.DataArray or numpy.ndarray, optional
        ``(y, x)`` integer classes with 0 = unlabelled. When given, only labelled
        pixels are kept; only those pixels are read from a dask-backed cube.
    groups : xarray.DataArray or numpy.ndarray, optional
        ``(y, x)`` group ids (polygon or block ids) sampled at the same pixels.

    Returns
    -------
    X : numpy.ndarray
        ``(n, band)`` float64 features of pixels where every band is finite.
    y : numpy.ndarray or None
        ``(n,)`` labels, or None without ``labels``.
    groups : numpy.ndarray or None
        ``(n,)`` groups, or None without ``groups``.
    index : numpy.ndarray
        ``(n,)`` int64 flat (row-major) pixel positions, for :func:`samples_to_raster`.

    Raises
    ------
    GridMismatchError
        ``labels`` or ``groups`` are not on the features' grid.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> f = make_raster([[[1, 2], [np.nan, 4]], [[5, 6], [7, 8]]])
    >>> X, y, g, index = raster_to_samples(f, np.array([[1, 0], [2, 3]]))
    >>> X.tolist(), y.tolist(), index.tolist()
    ([[1.0, 5.0], [4.0, 8.0]], [1, 3], [0, 3])
    """
    features = features.transpose("band", "y", "x")
    shape = (features.sizes["y"], features.sizes["x"])
    if labels is not None:
        label_grid = _as_grid(labels, shape, "labels")
        index = np.flatnonzero(label_grid.ravel() > 0)
    else:
        index = np.arange(shape[0] * shape[1])
    rows, cols = np.divmod(index, shape[1])
    picked = features.isel(y=xr.DataArray(rows, dims="s"), x=xr.DataArray(cols, dims="s"))
    X = np.asarray(picked.transpose("s", "band").values, dtype="float64")
    keep = np.isfinite(X).all(axis=1)
    X, index = X[keep], index[keep]
    y = label_grid.ravel()[index] if labels is not None else None
    g = _as_grid(groups, shape, "groups").ravel()[index] if groups is not None else None
    return X, y, g, index.astype("int64")


def samples_to_raster(
    values, index, template: xr.DataArray, *, name: str, fill: float = np.nan
) -> xr.DataArray:
    """Put per-sample values back on the template's grid.

    Parameters
    ----------
    values : array-like
        ``(n,)`` values, or ``(n, k)`` for ``k`` layers.
    index : array-like
        ``(n,)`` flat pixel positions from :func:`raster_to_samples`.
    template : xarray.DataArray
        Raster giving the ``(y, x)`` grid, CRS and transform.
    name : str
        Name of the result.
    fill : float or int
        Value of pixels without a sample (NaN by default).

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` (or ``(band, y, x)`` for 2-D values) of the common dtype of
        ``values`` and ``fill``; ``fill`` where no sample exists.

    Raises
    ------
    InvalidParameterError
        ``values`` and ``index`` lengths differ or an index is off the grid.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((2, 2)))
    >>> samples_to_raster(np.array([7, 9]), np.array([0, 3]), t, name="c", fill=0).values.tolist()
    [[7, 0], [0, 9]]
    """
    values = np.asarray(values)
    index = np.asarray(index, dtype="int64")
    ny, nx = template.sizes["y"], template.sizes["x"]
    if values.shape[0] != index.shape[0] or values.ndim not in (1, 2):
        raise InvalidParameterError(
            f"'values' must be (n,) or (n, k) with n = len(index) = {index.shape[0]}; got shape "
            f"{values.shape}. Pass the index returned with the samples by `raster_to_samples`."
        )
    if index.size and (index.min() < 0 or index.max() >= ny * nx):
        raise InvalidParameterError(
            f"'index' must hold flat pixel positions in [0, {ny * nx}) for the {ny}×{nx} template; "
            f"got range [{index.min()}, {index.max()}]. Use the template the samples came from."
        )
    layers = values.reshape(values.shape[0], -1).T
    out = np.full((layers.shape[0], ny * nx), fill, dtype=np.result_type(values, np.asarray(fill)))
    out[:, index] = layers
    out = out.reshape(-1, ny, nx)
    return _grid_like(out[0] if values.ndim == 1 else out, template, name)
