"""Read only the pixels under polygons.

One polygon: the window around it and its mask in it (:func:`polygon_window`). Many
polygons (a cadastre of thousands of licences): per-polygon sums over the grid, one
rasterisation per block and group of disjoint polygons (:func:`zonal_sums`).
"""

from __future__ import annotations

import dask
import numpy as np
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import from_bounds


def polygon_window(geom, transform: Affine, shape: tuple[int, ...]):
    """Return ``((row slice, col slice), inside)`` for ``geom`` on a grid.

    ``inside`` is a boolean array of the window's shape, True on pixels whose centre lies in
    ``geom``. The window is clipped to the grid; a polygon off the grid gives an empty one.
    """
    win = from_bounds(*geom.bounds, transform=transform).round_offsets().round_lengths()
    r0, c0 = max(int(win.row_off), 0), max(int(win.col_off), 0)
    r1 = max(min(int(win.row_off + win.height) + 1, shape[0]), r0)
    c1 = max(min(int(win.col_off + win.width) + 1, shape[1]), c0)
    if r1 == r0 or c1 == c0:
        return (slice(r0, r0), slice(c0, c0)), np.zeros((0, 0), bool)
    local = transform * Affine.translation(c0, r0)
    inside = (
        features.rasterize(
            [(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=local, dtype="uint8"
        )
        == 1
    )
    return (slice(r0, r1), slice(c0, c1)), inside


def read_windows(layers, window, dtype="float64") -> list[np.ndarray]:
    """Compute only ``window`` (row slice, col slice) of each 2-D layer, in one pass.

    Slicing before computing matters: ``layer.values[window]`` would compute (read) the
    whole layer for every polygon.
    """
    parts = [layer[window].data for layer in layers]
    return [np.asarray(p, dtype=dtype) for p in dask.compute(*parts)]


def read_windows_many(layer_lists, windows, dtype="float64") -> list[list[np.ndarray]]:
    """:func:`read_windows` for several windows at once (one scheduler pass for all)."""
    parts = [
        [layer[w].data for layer in layers]
        for layers, (w, _) in zip(layer_lists, windows, strict=True)
    ]
    flat = dask.compute(*[p for group in parts for p in group])
    out, i = [], 0
    for group in parts:
        out.append([np.asarray(a, dtype=dtype) for a in flat[i : i + len(group)]])
        i += len(group)
    return out


def grid_blocks(layer, max_edge: int = 2048) -> list[tuple[slice, slice]]:
    """Split a 2-D layer's grid into windows along its dask chunks, each at most ``max_edge``.

    A numpy-backed layer is cut into ``max_edge`` squares, so that work on one window (an
    id grid, a read) needs memory for one block, not for the scene.
    """
    chunks = getattr(layer, "chunks", None)
    if not chunks or len(chunks) != 2:
        chunks = tuple(
            (max_edge,) * (n // max_edge) + ((n % max_edge,) if n % max_edge else ())
            for n in layer.shape
        )

    def edges(sizes):
        out, start = [], 0
        for size in sizes:
            for s in range(start, start + size, max_edge):
                out.append(slice(s, min(s + max_edge, start + size)))
            start += size
        return out

    return [(r, c) for r in edges(chunks[0]) for c in edges(chunks[1])]


def disjoint_groups(geoms) -> np.ndarray:
    """Colour polygons so that no two of one colour intersect or touch (greedy colouring).

    Polygons of one colour can be burnt into one id grid without losing a pixel: a pixel
    centre lies in at most one of them. A cadastre of adjacent parcels needs about four
    colours; ``n`` polygons that all overlap need ``n``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> disjoint_groups([box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6), box(0, 0, 2, 1)])
    array([0, 1, 0, 2])
    """
    geoms = np.asarray(geoms, dtype=object)
    colour = np.full(len(geoms), -1, dtype="int64")
    if not len(geoms):
        return colour
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left != right
    left, right = left[pair], right[pair]
    if not len(left):
        colour[:] = 0
        return colour
    order = np.lexsort((right, left))
    left, right = left[order], right[order]
    starts = np.searchsorted(left, np.arange(len(geoms) + 1))
    colour[np.diff(starts) == 0] = 0  # isolated polygons
    for i in np.flatnonzero(np.diff(starts)):
        used = set(colour[right[starts[i] : starts[i + 1]]].tolist())
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return colour


def zonal_sums(
    geoms, layers, per_pixel, n_values: int, *, transform: Affine, shape, blocks=None
) -> np.ndarray:
    """Sum per-pixel values over the pixels whose centre lies in each polygon.

    Each polygon gets the pixels :func:`polygon_window` gives it, but found with one
    rasterisation per grid block and colour of :func:`disjoint_groups` (so overlapping
    polygons each keep all their pixels) instead of one per polygon: polygons off the grid
    cost nothing, and a block is read only when a polygon meets it.

    Parameters
    ----------
    geoms : array of shapely polygons
        In the grid's CRS.
    layers : list of xarray.DataArray
        2-D layers on the grid (dask-backed or not); only blocks under a polygon are read.
    per_pixel : callable
        ``per_pixel(arrays) -> list of n_values 2-D arrays``: one block's values to sum
        (boolean arrays are counted), from the block of each layer (float64).
    n_values : int
        How many arrays ``per_pixel`` returns.
    transform, shape
        The grid.
    blocks : list of (row slice, col slice), optional
        Default :func:`grid_blocks` of ``layers[0]``.

    Returns
    -------
    numpy.ndarray
        ``(len(geoms), n_values)`` sums; zeros for polygons with no pixel centre on the grid.

    Examples
    --------
    >>> import xarray as xr
    >>> from shapely.geometry import box
    >>> grid = xr.DataArray(np.arange(16.0).reshape(4, 4))  # 1 x 1 pixels, origin (0, 4)
    >>> t = Affine(1, 0, 0, 0, -1, 4)
    >>> polys = [box(0, 2, 2, 4), box(1, 2, 3, 4), box(10, 10, 11, 11)]  # overlap; off grid
    >>> zonal_sums(polys, [grid], lambda a: [np.ones_like(a[0]), a[0]], 2, transform=t,
    ...            shape=(4, 4)).tolist()
    [[4.0, 10.0], [4.0, 14.0], [0.0, 0.0]]
    """
    from shapely.geometry import box

    geoms = np.asarray(geoms, dtype=object)
    sums = np.zeros((len(geoms), n_values))
    if not len(geoms):
        return sums

    def extent(r0, c0, r1, c1):
        (x0, y0), (x1, y1) = transform * (c0, r0), transform * (c1, r1)
        return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    tree = shapely.STRtree(geoms)
    on_grid = np.sort(tree.query(extent(0, 0, *shape), predicate="intersects"))
    if not len(on_grid):
        return sums
    colour = np.full(len(geoms), -1, dtype="int64")
    colour[on_grid] = disjoint_groups(geoms[on_grid])
    for rows, cols in blocks if blocks is not None else grid_blocks(layers[0]):
        members = tree.query(
            extent(rows.start, cols.start, rows.stop, cols.stop), predicate="intersects"
        )
        if not len(members):
            continue
        values = per_pixel(read_windows(layers, (rows, cols)))
        for c in np.unique(colour[members]):
            group = np.sort(members[colour[members] == c])
            # rasterise only the group's part of the block
            win = from_bounds(*shapely.total_bounds(geoms[group]), transform=transform)
            r0 = max(int(np.floor(win.row_off)) - 1, rows.start)
            c0 = max(int(np.floor(win.col_off)) - 1, cols.start)
            r1 = min(int(np.ceil(win.row_off + win.height)) + 1, rows.stop)
            c1 = min(int(np.ceil(win.col_off + win.width)) + 1, cols.stop)
            if r1 <= r0 or c1 <= c0:
                continue
            ids = features.rasterize(
                zip(_geo_interfaces(geoms[group]), range(1, len(group) + 1), strict=True),
                out_shape=(r1 - r0, c1 - c0),
                transform=transform * Affine.translation(c0, r0),
                fill=0,
                dtype="int32",
            )
            inside = ids > 0
            if not inside.any():
                continue
            idx = ids[inside]
            part = (
                slice(r0 - rows.start, r1 - rows.start),
                slice(c0 - cols.start, c1 - cols.start),
            )
            for k, v in enumerate(values):
                v = v[part][inside]
                sums[group, k] += (
                    np.bincount(idx[v], minlength=len(group) + 1)
                    if v.dtype == bool
                    else np.bincount(idx, weights=v, minlength=len(group) + 1)
                )[
                    # boolean values are counts: no float copy of them
                    1:
                ]
    return sums


def _geo_interfaces(geoms) -> list[dict]:
    """GeoJSON-like mappings of polygons, built from shapely's arrays in a few passes.

    What :func:`rasterio.features.rasterize` reads from each shape, without the cost of
    ``__geo_interface__`` per polygon (most of the time of burning thousands of them).

    Examples
    --------
    >>> from shapely.geometry import MultiPolygon, box
    >>> _geo_interfaces([box(0, 0, 1, 1), MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])])[1]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'type': 'MultiPolygon', 'coordinates': [[[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0],
    [1.0, 0.0]]], [[[3.0, 0.0], [3.0, 1.0], [2.0, 1.0], [2.0, 0.0], [3.0, 0.0]]]]}
    """
    geoms = np.asarray(geoms, dtype=object)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)

    def split(items, owner, n):  # items grouped by their (sorted) owner index
        ends = np.searchsorted(owner, np.arange(1, n + 1)).tolist()
        return [items[s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]

    polygons = split(split(coords.tolist(), coord_of, len(rings)), ring_of, len(parts))
    return [
        {"type": "Polygon", "coordinates": mine[0]}
        if len(mine) == 1
        else {"type": "MultiPolygon", "coordinates": mine}
        for mine in split(polygons, part_of, len(geoms))
    ]
