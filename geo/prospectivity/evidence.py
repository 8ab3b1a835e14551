"""Structural and map evidence layers on a raster grid: distances, densities, codes, slope.

Every function takes a vector layer (GeoDataFrame or GeoSeries) and a *template*: a ``(y, x)``
DataArray whose CRS and transform live on ``.rio`` (build one with
:func:`geo.testing.make_raster`). The result is a new float32 DataArray on the template grid.

CRS policy: the template must carry a projected CRS in metres. A layer without a CRS raises
:class:`~geo.errors.CRSError` (coordinates without a CRS are never compared). A layer in
another CRS is reprojected to the template CRS with ``to_crs`` and the reprojection is logged
at INFO level; pass ``reproject=False`` to raise :class:`~geo.errors.CRSError` instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from affine import Affine
from pyproj import CRS
from rasterio import features
from scipy import ndimage

from geo.errors import CRSError, InvalidParameterError, VectorError

__all__ = [
    "distance_to_lines",
    "distance_to_points",
    "line_density",
    "line_intersections",
    "point_pixels",
    "points_to_mask",
    "rasterize_attribute",
    "slope_degrees",
]

logger = logging.getLogger(__name__)

_LINES = ("LineString", "MultiLineString")
_POINTS = ("Point", "MultiPoint")
_POLYGONS = ("Polygon", "MultiPolygon")
_EDT_PAD_PX = 64  # halo (pixels) rasterized around the grid before the distance transform
_EDT_TILE_PX = 512  # distance transform strip height and tile width (pixels)
_EDT_COARSE = 16  # pixels per coarse cell edge of the distance bound
_EDT_WINDOW_PX = 2048 * 2048  # largest grown tile (~40 MB); beyond, the separable transform
_EDT_FEW_PX = 64  # at most this many burned pixels (points): an envelope of their columns only


def distance_to_lines(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    reproject: bool = True,
    name: str = "distance_to_lines",
    path: str | Path | None = None,
    chunk: int = 1024,
) -> xr.DataArray:
    """Euclidean distance in metres from each pixel centre to the nearest line.

    The lines are rasterized with ``all_touched=True`` on the grid plus a 64-pixel halo and
    a Euclidean distance transform runs with the pixel size as sampling, a strip of rows at
    a time (equal to one whole-grid transform; memory follows the strip). The
    error is at most half a pixel diagonal (pixels the line crosses read 0; a pixel centre
    at distance *d* from a line reads within ``d ± sqrt(dx² + dy²) / 2``). Pixels whose
    nearest rasterized line lies beyond the halo, so a line further out could be nearer,
    get the exact shapely distance instead.

    Parameters
    ----------
    lines : geopandas.GeoDataFrame or geopandas.GeoSeries
        (Multi)LineString layer (faults, lineaments) with a CRS.
    template : xarray.DataArray
        ``(y, x)`` grid with a projected CRS in metres on ``.rio``.
    reproject : bool
        Reproject a layer in another CRS (logged); False raises CRSError instead.
    name : str
        Name of the result.
    path : str or pathlib.Path, optional
        Write the distances to this (uncompressed, tiled) GeoTIFF a strip of rows at a
        time and return it opened lazily in ``chunk`` x ``chunk`` blocks: the grid is never
        held whole (a Landsat scene's float32 grid is 0.24 GB). The caller deletes the file.
    chunk : int
        Block size of the returned array when ``path`` is given.

    Returns
    -------
    xarray.DataArray
        float32 ``(y, x)`` distances in metres on the template grid, no NaN (dask-backed,
        read from ``path``, when ``path`` is given; else in memory).

    Raises
    ------
    VectorError
        The layer is empty or holds other geometry types.
    CRSError
        The layer or template has no CRS, the template CRS is not projected in metres, or
        the CRSs differ and ``reproject`` is False.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((1, 4)), res=10.0, origin=(0.0, 10.0))
    >>> line = gpd.GeoSeries([LineString([(5, 0), (5, 10)])], crs=t.rio.crs)
    >>> distance_to_lines(line, t).values.tolist()
    [[0.0, 10.0, 20.0, 30.0]]
    """
    geoms = _prepare(lines, template, kinds=_LINES, what="lines", reproject=reproject)
    if path is not None:
        return _distance_file(geoms, template, Path(path), chunk, name=name)
    out = _distance(geoms, template.rio.transform(), template.shape)
    return _wrap(out, template, name=name, units="m")


def distance_to_points(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    reproject: bool = True,
    name: str = "distance_to_points",
    path: str | Path | None = None,
    chunk: int = 1024,
) -> xr.DataArray:
    """Euclidean distance in metres from each pixel centre to the nearest point.

    Same method and error bound as :func:`distance_to_lines`: each point marks the pixel
    that holds it, so the error is at most half a pixel diagonal.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or geopandas.GeoSeries
        (Multi)Point layer (fault intersections, occurrences) with a CRS.
    template : xarray.DataArray
        ``(y, x)`` grid with a projected CRS in metres on ``.rio``.
    reproject : bool
        Reproject a layer in another CRS (logged); False raises CRSError instead.
    name : str
        Name of the result.
    path : str or pathlib.Path, optional
        Write the distances to this (uncompressed, tiled) GeoTIFF a strip of rows at a
        time and return it opened lazily in ``chunk`` x ``chunk`` blocks: the grid is never
        held whole (a Landsat scene's float32 grid is 0.24 GB). The caller deletes the file.
    chunk : int
        Block size of the returned array when ``path`` is given.

    Returns
    -------
    xarray.DataArray
        float32 ``(y, x)`` distances in metres on the template grid, no NaN (dask-backed,
        read from ``path``, when ``path`` is given; else in memory).

    Raises
    ------
    VectorError
        The layer is empty or holds other geometry types.
    CRSError
        As for :func:`distance_to_lines`.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((1, 3)), res=10.0, origin=(0.0, 10.0))
    >>> p = gpd.GeoSeries([Point(5, 5)], crs=t.rio.crs)
    >>> distance_to_points(p, t).values.tolist()
    [[0.0, 10.0, 20.0]]
    """
    geoms = _prepare(points, template, kinds=_POINTS, what="points", reproject=reproject)
    if path is not None:
        return _distance_file(geoms, template, Path(path), chunk, name=name)
    out = _distance(geoms, template.rio.transform(), template.shape)
    return _wrap(out, template, name=name, units="m")


def line_intersections(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    include_end_joins: bool = False,
    tolerance: float = 1e-6,
) -> gpd.GeoDataFrame:
    """Points where two different lines of a network cross or touch.

    Candidate pairs come from a :class:`shapely.STRtree`; each pair is intersected once.
    Collinear overlaps (shared stretches) are not points and are left out. Points closer
    than ``tolerance`` are merged into one.

    Parameters
    ----------
    lines : geopandas.GeoDataFrame or geopandas.GeoSeries
        (Multi)LineString layer with a CRS.
    include_end_joins : bool
        Keep points that are an end point of *both* lines. Digitised faults are often split
        into pieces that join end to end; such joins are not intersections, so they are
        dropped by default. A T-junction (the end of one line on the other) is kept.
    tolerance : float
        Merge distance in CRS units; coordinates are snapped to a grid of this size.

    Returns
    -------
    geopandas.GeoDataFrame
        One Point per intersection with column ``n_lines`` (how many lines meet there), in
        the layer CRS, sorted by x then y. Empty (same columns) when no lines cross.

    Raises
    ------
    VectorError
        The layer is empty or holds other geometry types.
    CRSError
        The layer has no CRS.
    InvalidParameterError
        ``tolerance`` is not a positive number.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> cross = gpd.GeoSeries(
    ...     [LineString([(0, 0), (10, 10)]), LineString([(0, 10), (10, 0)])], crs="EPSG:3067"
    ... )
    >>> pts = line_intersections(cross)
    >>> pts.geometry.iloc[0].coords[0], int(pts["n_lines"].iloc[0])
    ((5.0, 5.0), 2)
    """
    _check_positive(tolerance, "tolerance")
    geoms = _validated_geoms(lines, kinds=_LINES, what="lines")
    if lines.crs is None:
        raise CRSError(_no_crs_message("lines"))
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    hits = shapely.intersection(geoms[left], geoms[right])
    parts, pair = shapely.get_parts(hits, return_index=True)
    is_point = shapely.get_type_id(parts) == 0
    n_overlaps = int((~is_point & ~shapely.is_empty(parts)).sum())
    if n_overlaps:
        logger.info("line_intersections: ignored %d collinear overlap(s).", n_overlaps)
    parts, pair = parts[is_point], pair[is_point]
    a, b = left[pair], right[pair]
    xy = shapely.get_coordinates(parts)
    if not include_end_joins and len(xy):
        ends = shapely.boundary(geoms)
        near_a = shapely.dwithin(ends[a], parts, tolerance)
        near_b = shapely.dwithin(ends[b], parts, tolerance)
        xy, a, b = xy[~(near_a & near_b)], a[~(near_a & near_b)], b[~(near_a & near_b)]
    snapped = np.round(xy / tolerance) * tolerance
    frame = pd.DataFrame({"x": snapped[:, 0], "y": snapped[:, 1], "a": a, "b": b})
    pairs = frame.melt(id_vars=["x", "y"], value_name="line")
    counts = pairs.groupby(["x", "y"], sort=True)["line"].nunique()
    x = counts.index.get_level_values("x").to_numpy(dtype="float64")
    y = counts.index.get_level_values("y").to_numpy(dtype="float64")
    return gpd.GeoDataFrame(
        {"n_lines": counts.to_numpy(dtype="int64")},
        geometry=shapely.points(x, y),
        crs=lines.crs,
    )


def line_density(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    radius_m: float,
    reproject: bool = True,
    name: str = "line_density",
) -> xr.DataArray:
    """Line length per unit area in km/km² inside a circular window around each pixel.

    The lines are cut into pieces no longer than a quarter of the smaller pixel side and
    each piece's length goes to the pixel holding its midpoint, so the total length is
    exact and at most an eighth of a pixel of length per crossing lands in a neighbour.
    The per-pixel lengths (on the grid plus a halo of ``radius_m``, so lines just outside
    the grid count) are summed over a disc of pixel centres within ``radius_m`` and
    divided by the disc's area (its pixel count times the pixel area, which tends to
    ``π r²`` when ``radius_m`` spans many pixels). A long straight line through a pixel
    centre reads ``2 r / (π r²)``, i.e. ``2000 / (π r)`` km/km² with ``r`` in metres.

    Parameters
    ----------
    lines : geopandas.GeoDataFrame or geopandas.GeoSeries
        (Multi)LineString layer with a CRS.
    template : xarray.DataArray
        ``(y, x)`` grid with a projected CRS in metres on ``.rio``.
    radius_m : float
        Window radius in metres (DOMAIN.md suggests 1–5 km, tuned to the deposit scale).
    reproject : bool
        Reproject a layer in another CRS (logged); False raises CRSError instead.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        float32 ``(y, x)`` density in km/km² on the template grid, no NaN.

    Raises
    ------
    InvalidParameterError
        ``radius_m`` is not a positive number.
    VectorError, CRSError
        As for :func:`distance_to_lines`.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((3, 3)), res=1000.0, origin=(0.0, 3000.0))
    >>> line = gpd.GeoSeries([LineString([(-9e3, 1500), (9e3, 1500)])], crs=t.rio.crs)
    >>> d = line_density(line, t, radius_m=1000.0)  # middle row: 3 km of line in 5 km²
    >>> [round(float(v), 3) for v in d.values[1]]
    [0.6, 0.6, 0.6]
    """
    _check_positive(radius_m, "radius_m")
    geoms = _prepare(lines, template, kinds=_LINES, what="lines", reproject=reproject)
    transform = template.rio.transform()
    dx, dy = abs(transform.a), abs(transform.e)
    pad = math.ceil(radius_m / min(dx, dy))
    ny, nx = template.shape
    length = _length_per_pixel(geoms, _padded(transform, pad), (ny + 2 * pad, nx + 2 * pad))
    oy, ox = np.ogrid[-pad : pad + 1, -pad : pad + 1]
    disc = ((oy * dy) ** 2 + (ox * dx) ** 2 <= radius_m**2).astype("float64")
    total = ndimage.convolve(length, disc, mode="constant", cval=0.0)[pad:-pad, pad:-pad]
    density = total / (disc.sum() * dx * dy) * 1e3  # m/m² -> km/km²
    return _wrap(density, template, name=name, units="km/km2")


def rasterize_attribute(
    polygons: gpd.GeoDataFrame,
    template: xr.DataArray,
    column: str,
    *,
    reproject: bool = True,
    name: str | None = None,
) -> tuple[xr.DataArray, dict[int, object]]:
    """Rasterize a categorical polygon attribute (e.g. lithology) to integer codes.

    The distinct values of ``column`` (rows with a missing value are skipped and logged)
    are sorted and numbered from 1. A pixel takes the code of the polygon that holds its
    centre; where polygons overlap, the later row wins. Pixels outside all polygons are NaN.

    Parameters
    ----------
    polygons : geopandas.GeoDataFrame
        (Multi)Polygon layer with a CRS.
    template : xarray.DataArray
        ``(y, x)`` grid with a projected CRS in metres on ``.rio``.
    column : str
        Attribute to rasterize.
    reproject : bool
        Reproject a layer in another CRS (logged); False raises CRSError instead.
    name : str, optional
        Name of the result; defaults to ``column``.

    Returns
    -------
    codes : xarray.DataArray
        float32 ``(y, x)`` codes 1..n on the template grid, NaN outside the polygons.
    legend : dict of int to object
        Code -> attribute value.

    Raises
    ------
    VectorError
        The layer is empty, holds other geometry types, lacks ``column`` (the message lists
        the columns present) or has no non-missing value in it.
    CRSError
        As for :func:`distance_to_lines`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((1, 4)), res=10.0, origin=(0.0, 10.0))
    >>> geol = gpd.GeoDataFrame(
    ...     {"rock": ["granite", "basalt"]}, geometry=[box(0, 0, 20, 10), box(20, 0, 30, 10)],
    ...     crs=t.rio.crs,
    ... )
    >>> codes, legend = rasterize_attribute(geol, t, "rock")
    >>> codes.values.tolist(), legend
    ([[2.0, 2.0, 1.0, nan]], {1: 'basalt', 2: 'granite'})
    """
    if not isinstance(polygons, gpd.GeoDataFrame) or column not in polygons.columns:
        present = list(getattr(polygons, "columns", []))
        raise VectorError(
            f"rasterize_attribute needs a GeoDataFrame with column {column!r}; got columns "
            f"{present}. Pass one of those as 'column'."
        )
    geometry = polygons.geometry
    polygons = polygons[~(geometry.isna() | geometry.is_empty).to_numpy()]
    geoms = _prepare(polygons, template, kinds=_POLYGONS, what="polygons", reproject=reproject)
    values = polygons[column].reset_index(drop=True)
    present = values.notna().to_numpy()
    if not present.any():
        raise VectorError(f"Column {column!r} holds only missing values; nothing to rasterize.")
    if not present.all():
        logger.info("rasterize_attribute: skipped %d row(s) with no %r.", (~present).sum(), column)
    categories = _sorted_unique(values[present])
    code_of = {value: code for code, value in enumerate(categories, start=1)}
    shapes = [(g, code_of[v]) for g, v, ok in zip(geoms, values, present, strict=True) if ok]
    codes = features.rasterize(
        shapes,
        out_shape=template.shape,
        transform=template.rio.transform(),
        fill=0,
        dtype="int32",
    ).astype("float32")
    codes[codes == 0] = np.nan
    legend = {code: value for value, code in code_of.items()}
    return _wrap(codes, template, name=name or column, units="code"), legend


def points_to_mask(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    reproject: bool = True,
    name: str = "points",
) -> xr.DataArray:
    """Mark the pixels that hold at least one point (deposits, occurrences).

    Points outside the grid are ignored and their count is logged; several points in one
    pixel give a single marked pixel (unit-cell counting, as in weights of evidence).

    Parameters
    ----------
    points : geopandas.GeoDataFrame or geopandas.GeoSeries
        (Multi)Point layer with a CRS.
    template : xarray.DataArray
        ``(y, x)`` grid with a projected CRS in metres on ``.rio``.
    reproject : bool
        Reproject a layer in another CRS (logged); False raises CRSError instead.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        float32 ``(y, x)`` mask: 1.0 where a pixel holds a point, 0.0 elsewhere.

    Raises
    ------
    VectorError, CRSError
        As for :func:`distance_to_points`.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((1, 3)), res=10.0, origin=(0.0, 10.0))
    >>> p = gpd.GeoSeries([Point(5, 5), Point(6, 4), Point(99, 5)], crs=t.rio.crs)
    >>> points_to_mask(p, t).values.tolist()
    [[1.0, 0.0, 0.0]]
    """
    rows, cols = point_pixels(points, template, reproject=reproject)
    mask = np.zeros(template.shape, dtype="float32")
    mask[rows, cols] = 1.0
    return _wrap(mask, template, name=name, units="1")


def point_pixels(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    reproject: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the pixels that hold at least one point (each pixel once).

    The pixels :func:`points_to_mask` marks, without a grid in memory. Points outside
    the grid are ignored and their count is logged.

    Raises
    ------
    VectorError, CRSError
        As for :func:`distance_to_points`.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> from geo.testing import make_raster
    >>> t = make_raster(np.zeros((2, 3)), res=10.0, origin=(0.0, 20.0))
    >>> p = gpd.GeoSeries([Point(25, 5), Point(26, 4), Point(5, 15), Point(99, 5)], crs=t.rio.crs)
    >>> [a.tolist() for a in point_pixels(p, t)]
    [[0, 1], [0, 2]]
    """
    geoms = _prepare(points, template, kinds=_POINTS, what="points", reproject=reproject)
    xy = shapely.get_coordinates(geoms)
    rows, cols = _pixel_index(xy, template.rio.transform())
    ny, nx = template.shape
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    if not inside.all():
        logger.info("points_to_mask: %d point(s) fall outside the grid.", (~inside).sum())
    flat = np.unique(rows[inside] * nx + cols[inside])  # row-major order, each pixel once
    return flat // nx, flat % nx


def slope_degrees(dem: xr.DataArray, *, name: str = "slope") -> xr.DataArray:
    """Terrain slope in degrees from a DEM with heights in metres.

    Central differences (one-sided at the edges) via :func:`numpy.gradient` with the pixel
    size; ``slope = atan(hypot(dz/dx, dz/dy))``. A NaN height makes its neighbours NaN.

    Parameters
    ----------
    dem : xarray.DataArray
        ``(y, x)`` heights in metres with a projected CRS in metres on ``.rio``.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        float32 ``(y, x)`` slope in degrees [0, 90) on the DEM grid.

    Raises
    ------
    CRSError
        The DEM has no CRS or its CRS is not projected in metres.
    InvalidParameterError
        The DEM is not ``(y, x)`` or its grid is rotated.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> dem = make_raster([[0.0, 10.0, 20.0], [0.0, 10.0, 20.0]], res=10.0)
    >>> slope_degrees(dem).values.round(1).tolist()
    [[45.0, 45.0, 45.0], [45.0, 45.0, 45.0]]
    """
    _check_template(dem, what="dem")
    transform = dem.rio.transform()
    z = np.asarray(dem.values, dtype="float64")
    dz_dy, dz_dx = np.gradient(z, abs(transform.e), abs(transform.a))
    return _wrap(np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))), dem, name=name, units="degree")


def _prepare(
    layer: gpd.GeoDataFrame | gpd.GeoSeries,
    template: xr.DataArray,
    *,
    kinds: tuple[str, ...],
    what: str,
    reproject: bool,
) -> np.ndarray:
    """Validate ``layer`` and ``template`` and return the geometries in the template CRS."""
    _check_template(template, what="template")
    geoms = _validated_geoms(layer, kinds=kinds, what=what)
    if layer.crs is None:
        raise CRSError(_no_crs_message(what))
    target = _as_pyproj(template.rio.crs)
    if _as_pyproj(layer.crs) == target:
        return geoms
    if not reproject:
        raise CRSError(
            f"The {what} layer is in {layer.crs.to_string()} but the template grid is in "
            f"{target.to_string()}. Reproject with `layer.to_crs(template.rio.crs)` or pass "
            "reproject=True."
        )
    logger.info("Reprojecting %s from %s to %s.", what, layer.crs.to_string(), target.to_string())
    return gpd.GeoSeries(geoms, crs=layer.crs).to_crs(target).to_numpy()


def _validated_geoms(
    layer: gpd.GeoDataFrame | gpd.GeoSeries, *, kinds: tuple[str, ...], what: str
) -> np.ndarray:
    """Non-empty geometries of ``layer``, all of one of ``kinds``, as an array."""
    if not isinstance(layer, gpd.GeoDataFrame | gpd.GeoSeries):
        raise VectorError(
            f"The {what} layer must be a GeoDataFrame or GeoSeries; got {type(layer).__name__}."
        )
    geoms = np.asarray(layer.geometry.to_numpy(), dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0:
        raise VectorError(f"The {what} layer has no geometries; check the file and any filter.")
    found = set(shapely.get_type_id(geoms).tolist())
    allowed = {shapely.GeometryType[k.upper()].value for k in kinds}
    if not found <= allowed:
        types = sorted(set(gpd.GeoSeries(geoms).geom_type))
        raise VectorError(
            f"The {what} layer must hold {' or '.join(kinds)} geometries; found {', '.join(types)}."
        )
    return geoms


def _check_template(template: xr.DataArray, *, what: str) -> None:
    """Raise unless ``template`` is an unrotated ``(y, x)`` grid in a projected metric CRS."""
    if template.dims != ("y", "x"):
        raise InvalidParameterError(
            f"The {what} must be a 2-D (y, x) DataArray; got dims {template.dims}. "
            "Select one band first, e.g. `cube.sel(band=...)`."
        )
    if template.rio.crs is None:
        raise CRSError(
            f"The {what} has no CRS; write one with `{what}.rio.write_crs(...)` (a projected "
            "CRS in metres, e.g. UTM)."
        )
    crs = _as_pyproj(template.rio.crs)
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise CRSError(
            f"The {what} CRS must be projected in metres; got {crs.to_string()}. Reproject the "
            "grid first, e.g. with `rio.reproject(rio.estimate_utm_crs())`."
        )
    transform = template.rio.transform()
    if transform.b != 0 or transform.d != 0:
        raise InvalidParameterError(f"The {what} grid is rotated ({transform}); warp it first.")


def _as_pyproj(crs) -> CRS:
    """Return a pyproj CRS, built from the EPSG code when there is one.

    rasterio and pyproj may ship different EPSG databases (rasterio can read EPSG:3067 as
    "EUREF-FIN", pyproj as "ETRS89"), so equal codes are compared by code, not by WKT.
    """
    epsg = crs.to_epsg()
    return CRS.from_epsg(epsg) if epsg else CRS.from_user_input(crs)


def _check_positive(value: float, label: str) -> None:
    """Raise InvalidParameterError unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidParameterError(f"'{label}' must be a finite number > 0; got {value!r}.")


def _no_crs_message(what: str) -> str:
    return (
        f"The {what} layer has no CRS, so its coordinates cannot be placed on the grid. Set "
        "the right one with `layer.set_crs(...)` (check the source's .prj or metadata)."
    )


def _distance(geoms: np.ndarray, transform: Affine, shape: tuple[int, ...]) -> np.ndarray:
    """Distance transform of ``geoms`` on a haloed grid; exact distance where that can err."""
    out = np.empty(shape, dtype="float32")
    for r0, r1, strip in _distance_strips(geoms, transform, shape):
        out[r0:r1] = strip
    return out


def _distance_file(
    geoms: np.ndarray, template: xr.DataArray, path: Path, chunk: int, *, name: str
) -> xr.DataArray:
    """Write :func:`_distance` of ``geoms`` to ``path`` strip by strip; return it opened lazily."""
    import rasterio
    from rasterio.windows import Window

    from geo.io.layers import open_run_layer

    transform = template.rio.transform()
    ny, nx = template.shape
    profile = {
        "driver": "GTiff",
        "height": ny,
        "width": nx,
        "count": 1,
        "dtype": "float32",
        "crs": template.rio.crs,
        "transform": transform,
        "nodata": np.nan,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for r0, r1, strip in _distance_strips(geoms, transform, (ny, nx)):
            dst.write(strip, 1, window=Window(0, r0, nx, r1 - r0))
    out = open_run_layer(path, chunk).assign_coords(x=template.x, y=template.y).rename(name)
    out.attrs["units"] = "m"
    return out


def _distance_strips(
    geoms: np.ndarray, transform: Affine, shape: tuple[int, ...]
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(first row, end row, float32 distances)`` of :func:`_distance`, strip by strip.

    Memory: the rasterized features (one byte a pixel of the haloed grid) and one strip.
    """
    ny, nx = shape
    dx, dy = abs(transform.a), abs(transform.e)
    pad = _EDT_PAD_PX
    burned = features.rasterize(
        ((g, 1) for g in geoms),
        out_shape=(ny + 2 * pad, nx + 2 * pad),
        transform=_padded(transform, pad),
        fill=0,
        all_touched=True,
        dtype="uint8",
    )
    # A geometry beyond the halo can only be nearer than the rasterized ones where the EDT
    # distance exceeds the way out of the halo; there (and only if some geometry reaches
    # beyond it) the exact shapely distance replaces the EDT value.
    left, bottom, right, top = (
        transform.c - pad * dx,
        transform.f - (ny + pad) * dy,
        transform.c + (nx + pad) * dx,
        transform.f + pad * dy,
    )
    beyond = ~shapely.contains_properly(shapely.box(left, bottom, right, top), geoms)
    tree = shapely.STRtree(geoms) if beyond.any() else None
    n_burned = int(np.count_nonzero(burned))
    if n_burned == 0:
        strips: Iterator[tuple[int, int, np.ndarray]] = (
            (
                r0,
                min(r0 + _EDT_TILE_PX, ny),
                np.full((min(r0 + _EDT_TILE_PX, ny) - r0, nx), np.inf, "float32"),
            )
            for r0 in range(0, ny, _EDT_TILE_PX)
        )
    elif n_burned <= _EDT_FEW_PX:
        strips = _few_edt_strips(burned, (dy, dx), pad, rows=_EDT_TILE_PX)
    else:
        strips = _edt_strips(burned, (dy, dx), pad, tile=_EDT_TILE_PX)
    half = math.hypot(dx, dy) / 2
    for r0, r1, out in strips:
        if tree is not None:
            for s0 in range(0, r1 - r0, 64):  # 64 rows at a time: small temporaries
                s1 = min(s0 + 64, r1 - r0)
                rr = np.arange(r0 + s0, r0 + s1)[:, None]
                cc = np.arange(nx)[None, :]
                to_edge = np.minimum(
                    np.minimum(rr + pad + 0.5, ny - rr + pad - 0.5) * dy,
                    np.minimum(cc + pad + 0.5, nx - cc + pad - 0.5) * dx,
                )
                r, c = np.nonzero(out[s0:s1] + half > to_edge)
                r += s0
                for i in range(0, r.size, 1 << 20):  # bounded batches of query points
                    ri, ci = r[i : i + (1 << 20)], c[i : i + (1 << 20)]
                    # affine maps arrays of points as it does one point; its overloads name floats
                    xs, ys = transform * (ci + 0.5, ri + r0 + 0.5)  # type: ignore[operator]
                    _, dist = tree.query_nearest(
                        shapely.points(xs, ys), return_distance=True, all_matches=False
                    )
                    out[ri, ci] = dist
        yield r0, r1, out


def _few_edt_strips(
    burned: np.ndarray, sampling: tuple[float, float], pad: int, *, rows: int = _EDT_TILE_PX
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield the distance transform of a few burned pixels (points), by strips.

    Per strip, each column holding a burned pixel gets the squared vertical distance from
    every row to its nearest burned pixel, ``(Δr·dy)²``; each row then reads the lower
    envelope of those few parabolas (:func:`_lower_envelope`) at every column, adding
    ``(Δc·dx)²`` in float64 as the separable transform does: exact, and the envelope has
    as many vertices as there are such columns (the points), not the grid's width.
    """
    dy, dx = sampling
    big_y, big_x = burned.shape
    ny, nx = big_y - 2 * pad, big_x - 2 * pad
    br, bc = np.nonzero(burned)
    x = np.arange(big_x) * dx
    cols, which = np.unique(bc, return_inverse=True)  # the columns holding a point
    for r0 in range(0, ny, rows):
        r1 = min(r0 + rows, ny)
        r = np.arange(r0 + pad, r1 + pad, dtype="float64")
        sq = np.full((cols.size, r1 - r0), np.inf)  # a column's vertical part, squared
        for a, j in zip(br, which, strict=True):
            np.minimum(sq[j], ((r - a) * dy) ** 2, out=sq[j])
        d2 = _lower_envelope(np.ascontiguousarray(sq.T), x[cols], x[pad : pad + nx])
        del sq
        yield r0, r1, np.sqrt(d2, out=d2).astype("float32")
        del d2


def _tiled_edt(
    burned: np.ndarray,
    sampling: tuple[float, float],
    pad: int,
    out: np.ndarray,
    *,
    tile: int = _EDT_TILE_PX,
) -> None:
    """Fill ``out`` with the distance from each pixel to the nearest nonzero pixel of ``burned``.

    ``burned`` is ``out``'s grid grown by ``pad`` pixels on every side; see
    :func:`_edt_strips`, whose strips this writes into ``out``.
    """
    for r0, r1, strip in _edt_strips(burned, sampling, pad, tile=tile):
        out[r0:r1] = strip


def _edt_strips(
    burned: np.ndarray,
    sampling: tuple[float, float],
    pad: int,
    *,
    tile: int = _EDT_TILE_PX,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield the distance from each pixel to the nearest nonzero pixel of ``burned``, by strips.

    ``burned`` is the output grid grown by ``pad`` pixels on every side. The strips
    (``(first row, end row, float32 distances)``, ``tile`` rows each) equal one Euclidean
    distance transform of the whole grid, computed a strip at a time so memory follows
    the strip, not the scene (a whole-grid feature transform of a Landsat scene holds
    0.5 GB of int32 indices):

    1. a coarse grid (``_EDT_COARSE`` pixels a cell) marks the cells holding a burned pixel;
       its distance transform bounds, for every pixel, the distance to its nearest burned
       pixel from above (coarse distance plus one cell diagonal);
    2. each ``tile`` x ``tile`` tile's transform runs on the tile grown by that bound, which
       therefore holds the nearest burned pixel of every pixel of the tile: exact;
    3. a strip with a tile so far from every burned pixel that its grown window would exceed
       ``_EDT_WINDOW_PX`` pixels (sparse faults, points) is transformed whole-width by the
       separable algorithm of Felzenszwalb & Huttenlocher (2012, "Distance transforms of
       sampled functions", Theory of Computing 8): per column, the distance to the nearest
       burned pixel above or below (carried between strips), then per row the lower envelope
       of parabolas. Also exact.
    """
    dy, dx = sampling
    big_y, big_x = burned.shape
    ny, nx = big_y - 2 * pad, big_x - 2 * pad
    f = _EDT_COARSE
    # any burned pixel in each f x f cell (max over rows, then over columns)
    coarse = np.maximum.reduceat(burned, np.arange(0, big_y, f), axis=0)
    coarse = np.maximum.reduceat(coarse, np.arange(0, big_x, f), axis=1)
    bound = ndimage.distance_transform_edt(coarse == 0, sampling=(f * dy, f * dx))
    bound += f * math.hypot(dx, dy)  # from any pixel of a cell to a burned pixel of the nearest
    del coarse
    starts = list(range(0, ny, tile))
    # nearest burned row at or below each strip's end, per column (bottom-up), for the
    # separable transform; and the last burned row above the first strip (the halo)
    none_below = np.iinfo(np.int32).max // 2
    below = {}
    carry = _first_burned(burned[pad + ny :], pad + ny, none_below)
    for r0 in reversed(starts):
        r1 = min(r0 + tile, ny)
        below[r0] = carry
        carry = np.minimum(carry, _first_burned(burned[pad + r0 : pad + r1], pad + r0, none_below))
    above = _last_burned(burned[:pad], 0, -none_below)
    for r0 in starts:
        r1 = min(r0 + tile, ny)
        R0, R1 = r0 + pad, r1 + pad
        windows = []
        for c0 in range(0, nx, tile):
            c1 = min(c0 + tile, nx)
            C0, C1 = c0 + pad, c1 + pad
            reach = float(bound[R0 // f : (R1 - 1) // f + 1, C0 // f : (C1 - 1) // f + 1].max())
            hy, hx = math.ceil(reach / dy) + 1, math.ceil(reach / dx) + 1
            w0, w1 = max(R0 - hy, 0), min(R1 + hy, big_y)
            v0, v1 = max(C0 - hx, 0), min(C1 + hx, big_x)
            windows.append((c0, c1, w0, w1, v0, v1))
        out = np.empty((r1 - r0, nx), dtype="float32")
        if all((w1 - w0) * (v1 - v0) <= _EDT_WINDOW_PX for *_, w0, w1, v0, v1 in windows):
            rows = np.arange(R0, R1, dtype="float64")[:, None]
            for c0, c1, w0, w1, v0, v1 in windows:
                C0, C1 = c0 + pad, c1 + pad
                near_r, near_c = _feature_transform(burned[w0:w1, v0:v1], (dy, dx))
                near_r = near_r[R0 - w0 : R1 - w0, C0 - v0 : C1 - v0]
                near_c = near_c[R0 - w0 : R1 - w0, C0 - v0 : C1 - v0]
                cols = np.arange(C0, C1, dtype="float64")[None, :]
                out[:, c0:c1] = np.hypot((near_r + w0 - rows) * dy, (near_c + v0 - cols) * dx)
                del near_r, near_c
        else:
            strip = burned[R0:R1] != 0
            r = np.arange(R0, R1, dtype=np.int32)[:, None]
            last = np.maximum.accumulate(np.where(strip, r, -none_below), axis=0)
            np.maximum(last, above, out=last)
            nxt = np.minimum.accumulate(np.where(strip, r, none_below)[::-1], axis=0)[::-1]
            np.minimum(nxt, below[r0], out=nxt)
            g = np.minimum(r - last, nxt - r).astype("float64")
            del last, nxt, strip
            sq = np.where(g < none_below // 2, (g * dy) ** 2, np.inf)  # vertical part, squared
            del g
            x = np.arange(big_x) * dx
            d2 = _lower_envelope(sq, x, x[pad : pad + nx])
            out[:] = np.sqrt(d2)
            del sq, d2
        above = np.maximum(above, _last_burned(burned[R0:R1], R0, -none_below))
        yield r0, r1, out
        del out


def _first_burned(rows: np.ndarray, start: int, none: int) -> np.ndarray:
    """Per column, the first row (absolute index) holding a burned pixel, else ``none``."""
    if not rows.shape[0]:
        return np.full(rows.shape[1], none, dtype=np.int32)
    hit = rows != 0
    return np.where(hit.any(axis=0), start + hit.argmax(axis=0), none).astype(np.int32)


def _last_burned(rows: np.ndarray, start: int, none: int) -> np.ndarray:
    """Per column, the last row (absolute index) holding a burned pixel, else ``none``."""
    if not rows.shape[0]:
        return np.full(rows.shape[1], none, dtype=np.int32)
    hit = rows[::-1] != 0
    last = start + rows.shape[0] - 1 - hit.argmax(axis=0)
    return np.where(hit.any(axis=0), last, none).astype(np.int32)


def _lower_envelope(sq: np.ndarray, x: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Row by row ``min over q of sq[:, q] + (xs[p] - x[q])**2`` at every output ``xs[p]``.

    The lower envelope of parabolas of Felzenszwalb & Huttenlocher (2012), vectorised over
    the rows: one pass over the columns builds every row's envelope (vertices ``v``, their
    values ``fv = sq + x²`` and boundaries ``z``), then each row reads its envelope at every
    output position with one binary search (the boundaries increase). ``x`` increases;
    ``inf`` in ``sq`` is a column without a burned pixel. The envelopes are stored flat,
    position ``i`` of row ``r`` at ``i * n_rows + r``, so one index serves ``v``, ``fv``
    and ``z``.
    """
    n_rows, n = sq.shape
    k = np.full(n_rows, -1, dtype=np.int64)  # index of the last parabola of each envelope
    v = np.zeros(n * n_rows, dtype=np.int32)  # vertices
    fv = np.empty(n * n_rows, dtype=np.float64)  # sq + x**2 at the vertices
    z = np.empty((n + 1) * n_rows, dtype=np.float64)  # boundaries
    x2 = x * x
    whole = np.isfinite(sq).all(axis=0)  # columns finite in every row
    every = np.arange(n_rows, dtype=np.int64)
    started = False  # every row has its first parabola
    for q in range(n):
        col = sq[:, q]
        if whole[q]:
            act = every
        else:
            act = np.flatnonzero(np.isfinite(col))
            if not act.size:
                continue
            col = col[act]
        fq = col + x2[q]
        kk = k[act]
        if not started:
            first = kk < 0
            if first.any():  # the first parabola of these rows
                a = act[first]
                v[a] = q
                fv[a] = fq[first]
                z[a] = -np.inf
                z[n_rows + a] = np.inf
                k[a] = 0
                act, kk, fq = act[~first], kk[~first], fq[~first]
                started = bool((k >= 0).all())
                if not act.size:
                    continue
        xq = x[q]
        pos = kk * n_rows + act
        while True:  # drop the parabolas the new one hides
            s = (fq - fv[pos]) / (2.0 * (xq - x[v[pos]]))
            hidden = s <= z[pos]
            if not hidden.any():
                break
            pos -= hidden * n_rows
        pos += n_rows
        v[pos] = q
        fv[pos] = fq
        z[pos] = s
        z[pos + n_rows] = np.inf
        k[act] = (pos - act) // n_rows
    del fv
    d2 = np.full((n_rows, xs.size), np.inf)
    vr = v.reshape(n, n_rows)
    zr = z.reshape(n + 1, n_rows)
    for r in np.flatnonzero(k >= 0):
        # the parabola of each output column: the number of boundaries z[1..k] left of it
        j = np.searchsorted(zr[1 : k[r] + 1, r], xs, side="left")
        vq = vr[j, r]
        d = xs - x[vq]
        d2[r] = d * d + sq[r, vq]
    return d2


def _feature_transform(burned: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Row and column of the nearest nonzero pixel of ``burned`` (int32, shape (2, ny, nx)).

    ``scipy.ndimage.distance_transform_edt`` first turns its input into int64 with
    ``np.where`` (8 bytes a pixel: 0.5 GB on a Landsat scene) before the int8 the algorithm
    uses; its compiled feature transform is called with the int8 input directly when it is
    available, else the public function is used (same result, more memory).
    """
    try:
        from scipy.ndimage import _nd_image

        transform = _nd_image.euclidean_feature_transform
    except (ImportError, AttributeError):  # pragma: no cover - other scipy layouts
        return ndimage.distance_transform_edt(
            burned == 0, sampling=sampling, return_distances=False, return_indices=True
        )
    background = (burned == 0).view(np.int8)  # 1 where no feature: the EDT's input
    ft = np.zeros((2, *burned.shape), dtype=np.int32)
    transform(background, np.asarray(sampling, dtype=np.float64), ft)
    return ft


def _length_per_pixel(geoms: np.ndarray, transform: Affine, shape: tuple[int, ...]) -> np.ndarray:
    """Line length (CRS units) in each pixel, from pieces assigned by their midpoints."""
    step = min(abs(transform.a), abs(transform.e)) / 4
    parts = shapely.get_parts(shapely.segmentize(geoms, step))
    xy, which = shapely.get_coordinates(parts, return_index=True)
    same = which[:-1] == which[1:]
    start, end = xy[:-1][same], xy[1:][same]
    rows, cols = _pixel_index((start + end) / 2, transform)
    ny, nx = shape
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    lengths = np.hypot(*(end - start).T)
    flat = np.bincount(rows[inside] * nx + cols[inside], weights=lengths[inside], minlength=ny * nx)
    return flat.reshape(shape)


def _pixel_index(xy: np.ndarray, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the pixels holding the points ``xy`` (may fall off the grid)."""
    cols = np.floor((xy[:, 0] - transform.c) / transform.a).astype("int64")
    rows = np.floor((xy[:, 1] - transform.f) / transform.e).astype("int64")
    return rows, cols


def _padded(transform: Affine, pad: int) -> Affine:
    """Transform of the same grid grown by ``pad`` pixels on every side."""
    return transform * Affine.translation(-pad, -pad)


def _sorted_unique(values: pd.Series) -> list:
    """Distinct values, sorted naturally, or by their text when types do not compare."""
    unique = list(pd.unique(values))
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _wrap(values: np.ndarray, template: xr.DataArray, *, name: str, units: str) -> xr.DataArray:
    """Wrap ``values`` as float32 on the template grid (coords, CRS, transform), NaN nodata."""
    out = xr.DataArray(
        np.asarray(values, dtype="float32"),
        dims=("y", "x"),
        coords={"y": template["y"].values, "x": template["x"].values},
        name=name,
        attrs={"units": units},
    )
    # in place: rioxarray's default deep-copies the whole grid at each call
    out.rio.write_crs(template.rio.crs, inplace=True)
    out.rio.write_transform(template.rio.transform(), inplace=True)
    out.rio.write_nodata(np.nan, encoded=False, inplace=True)
    return out
