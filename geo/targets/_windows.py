"""Read only the pixels under (or near) polygons.

One polygon: the window around it and its mask in it (:func:`polygon_window`). Many
polygons (a cadastre of thousands of licences): per-polygon sums over the grid, one
rasterisation per block and group of disjoint polygons (:func:`zonal_sums`), and the same
over the pixels near each polygon, its pixels dilated by a footprint (:func:`near_sums`).
Unions of many groups of polygons in a few vectorised calls: :func:`union_groups`.
"""

from __future__ import annotations

import dask
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import Window, from_bounds

from geo.io.layers import run_layer_file


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
    """:func:`read_windows` for several windows at once.

    A layer as :func:`~geo.io.layers.open_run_layer` opened it is read (in a float
    ``dtype``) window by window from its file, decoding only the file's tiles under each
    window; the others are computed through dask, in one scheduler pass for all.
    """
    out: list[list] = [[None] * len(layers) for layers in layer_lists]
    lazy: list[tuple[int, int, object]] = []
    files: dict[tuple[str, bool], list[tuple[int, int, tuple[slice, slice]]]] = {}
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    for i, (layers, (w, _)) in enumerate(zip(layer_lists, windows, strict=True)):
        for j, layer in enumerate(layers):
            found = run_layer_file(layer) if floating else None
            if found is None:
                lazy.append((i, j, layer[w].data))
            else:
                files.setdefault(found, []).append((i, j, w))
    for (path, masked), reads in files.items():
        with rasterio.open(path) as src:
            for i, j, (rows, cols) in reads:
                out[i][j] = _file_window(src, rows, cols, masked, dtype)
    if lazy:
        computed = dask.compute(*[part for _, _, part in lazy])
        for (i, j, _), values in zip(lazy, computed, strict=True):
            out[i][j] = np.asarray(values, dtype=dtype)
    return out


def _file_window(src, rows: slice, cols: slice, masked: bool, dtype) -> np.ndarray:
    """Band 1 of ``src`` under a window (clipped to the grid), masked pixels as NaN.

    The values :func:`~geo.io.layers.open_run_layer` gives: with ``masked``, rioxarray
    reads the band's mask (its nodata) and fills what it masks with NaN, as here.
    """
    shape = (max(rows.stop - rows.start, 0), max(cols.stop - cols.start, 0))
    if 0 in shape:
        return np.empty(shape, dtype=dtype)
    window = Window.from_slices(rows, cols)
    if not masked:
        return src.read(1, window=window).astype(dtype)
    return np.ma.filled(src.read(1, window=window, masked=True).astype(dtype), np.nan)


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


def disjoint_groups(geoms, *, distance: float = 0.0) -> np.ndarray:
    """Colour polygons so that no two of one colour intersect or touch (greedy colouring).

    Polygons of one colour can be burnt into one id grid without losing a pixel: a pixel
    centre lies in at most one of them. A cadastre of adjacent parcels needs about four
    colours; ``n`` polygons that all overlap need ``n``. With ``distance`` > 0, no two
    polygons of one colour lie within ``distance`` of each other either (their
    neighbourhoods up to ``distance / 2`` are disjoint too).

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
    tree = shapely.STRtree(geoms)
    if distance > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=distance)
    else:
        left, right = tree.query(geoms, predicate="intersects")
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


def union_groups(geoms, group) -> np.ndarray:
    """Union of the geometries of each group, in a few vectorised calls.

    ``group`` gives each geometry's group, sorted (equal values together); the result has one
    geometry per group, in that order, each the same as ``shapely.union_all`` of the group's
    geometries in their order (the groups are padded with None, which a union ignores, into
    one table per size class of groups, so a group of 2 is not padded to the largest).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> out = union_groups([box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)], [0, 0, 3])
    >>> [g.equals(want) for g, want in zip(out, [box(0, 0, 2, 1), box(5, 5, 6, 6)], strict=True)]
    [True, True]
    """
    geoms = np.asarray(geoms, dtype=object)
    group = np.asarray(group)
    if not len(geoms):
        return np.empty(0, dtype=object)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    position = np.arange(len(group)) - np.repeat(starts, sizes)  # rank within the group
    row = np.repeat(np.arange(len(starts)), sizes)
    size_class = np.ceil(np.log2(sizes)).astype("int64")
    out = np.empty(len(starts), dtype=object)
    for c in np.unique(size_class):
        which = np.flatnonzero(size_class == c)
        slot = np.full(len(starts), -1, dtype="int64")
        slot[which] = np.arange(len(which))
        members = np.flatnonzero(slot[row] >= 0)
        table = np.full((len(which), int(sizes[which].max())), None, dtype=object)
        table[slot[row[members]], position[members]] = geoms[members]
        out[which] = shapely.union_all(table, axis=1)
    return out


def near_sums(
    geoms,
    layer,
    per_pixel,
    n_values: int,
    *,
    transform: Affine,
    shape,
    footprint: np.ndarray,
    dtype="float64",
    blocks=None,
) -> np.ndarray:
    """Sum per-pixel values over the pixels near each polygon, block by block.

    A pixel is near a polygon when, placing ``footprint`` on it, the footprint covers a pixel
    whose centre lies in the polygon (the polygon's pixels of :func:`polygon_window`,
    dilated by ``footprint``; pixels off the grid count as outside). Instead of a window
    per polygon, each grid block is read once, and the polygons near it are burnt into one
    id grid (block plus a halo of the footprint's radius) per colour of
    :func:`disjoint_groups` (polygons whose dilated pixels could meet get different
    colours), dilated with a running maximum over the footprint's offsets and summed
    with :func:`numpy.bincount`: the number of reads, rasterisations and array passes
    grows with the blocks and colours, not with the polygons.

    Parameters
    ----------
    geoms : array of shapely polygons
        In the grid's CRS.
    layer : xarray.DataArray
        2-D layer on the grid (dask-backed or not); only blocks near a polygon are read.
    per_pixel : callable
        ``per_pixel(values) -> list of n_values arrays``: from the layer's values (``dtype``)
        of the near pixels (1-D), the values to sum (boolean arrays are counted).
    n_values : int
        How many arrays ``per_pixel`` returns.
    transform, shape
        The grid.
    footprint : numpy.ndarray of bool
        ``(2p + 1, 2p + 1)`` neighbourhood, centred, symmetric (a disk).
    dtype
        Type the layer's values are read as.
    blocks : list of (row slice, col slice), optional
        Default :func:`grid_blocks` of ``layer``.

    Returns
    -------
    numpy.ndarray
        ``(len(geoms), n_values)`` sums.

    Examples
    --------
    >>> import xarray as xr
    >>> from shapely.geometry import box
    >>> grid = xr.DataArray(np.arange(25.0).reshape(5, 5))  # 1 x 1 pixels, origin (0, 5)
    >>> t = Affine(1, 0, 0, 0, -1, 5)
    >>> cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    >>> near_sums([box(0, 4, 1, 5)], grid, lambda v: [np.ones(len(v), bool), v], 2,
    ...           transform=t, shape=(5, 5), footprint=cross).tolist()  # pixels 0, 1 and 5
    [[3.0, 6.0]]
    """
    from shapely.geometry import box

    geoms = np.asarray(geoms, dtype=object)
    sums = np.zeros((len(geoms), n_values))
    if not len(geoms):
        return sums
    footprint = np.asarray(footprint, dtype=bool)
    pad = footprint.shape[0] // 2
    offsets = np.argwhere(footprint) - pad  # (dy, dx)
    # how far (map units) a near pixel's centre lies at most from a pixel centre inside
    reach = float(
        np.max(np.hypot(offsets[:, 1] * abs(transform.a), offsets[:, 0] * abs(transform.e)))
    )
    height, width = shape

    def extent(r0, c0, r1, c1):
        (x0, y0), (x1, y1) = transform * (c0, r0), transform * (c1, r1)
        return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    tree = shapely.STRtree(geoms)
    on_grid = np.sort(tree.query(extent(0, 0, height, width), predicate="intersects"))
    if not len(on_grid):
        return sums
    colour = np.full(len(geoms), -1, dtype="int64")
    # two polygons further apart than twice the reach (plus a pixel, for safety) have no
    # near pixel in common: one id grid holds both
    colour[on_grid] = disjoint_groups(
        geoms[on_grid], distance=2 * reach + max(abs(transform.a), abs(transform.e))
    )
    for rows, cols in blocks if blocks is not None else grid_blocks(layer):
        members = tree.query(
            extent(rows.start - pad, cols.start - pad, rows.stop + pad, cols.stop + pad),
            predicate="intersects",
        )
        members = members[colour[members] >= 0]
        if not len(members):
            continue
        block = read_windows([layer], (rows, cols), dtype=dtype)[0]
        for c in np.unique(colour[members]):
            group = np.sort(members[colour[members] == c])
            # the group's pixels and their halo, within the block's halo and the grid
            win = from_bounds(*shapely.total_bounds(geoms[group]), transform=transform)
            r0 = max(int(np.floor(win.row_off)) - 1 - pad, rows.start - pad, 0)
            c0 = max(int(np.floor(win.col_off)) - 1 - pad, cols.start - pad, 0)
            r1 = min(int(np.ceil(win.row_off + win.height)) + 1 + pad, rows.stop + pad, height)
            c1 = min(int(np.ceil(win.col_off + win.width)) + 1 + pad, cols.stop + pad, width)
            # where the sums are taken: the block's part of it
            k0, k1 = max(r0, rows.start), min(r1, rows.stop)
            l0, l1 = max(c0, cols.start), min(c1, cols.stop)
            if k1 <= k0 or l1 <= l0:
                continue
            ids = features.rasterize(
                zip(_geo_interfaces(geoms[group]), range(1, len(group) + 1), strict=True),
                out_shape=(r1 - r0, c1 - c0),
                transform=transform * Affine.translation(c0, r0),
                fill=0,
                dtype="uint16" if len(group) < 2**16 - 1 else "int32",
            )
            if not ids.any():
                continue
            # dilation: the largest id under the footprint (one id at most, by the colouring)
            ids = np.pad(ids, pad)
            near = np.zeros((k1 - k0, l1 - l0), dtype=ids.dtype)
            for dy, dx in offsets:
                top, left = k0 - r0 + pad + dy, l0 - c0 + pad + dx
                np.maximum(near, ids[top : top + k1 - k0, left : left + l1 - l0], out=near)
            hit = near > 0
            if not hit.any():
                continue
            idx = near[hit].astype("int64")
            picked = block[k0 - rows.start : k1 - rows.start, l0 - cols.start : l1 - cols.start][
                hit
            ]
            for k, v in enumerate(per_pixel(picked)):
                sums[group, k] += (
                    np.bincount(idx[v], minlength=len(group) + 1)
                    if v.dtype == bool
                    else np.bincount(idx, weights=v, minlength=len(group) + 1)
                )[1:]
    return sums
