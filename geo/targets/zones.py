"""Anomaly rasters to alteration-zone polygons with per-zone index statistics."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from affine import Affine
from rasterio import features
from scipy import ndimage

from geo.errors import InvalidParameterError
from geo.targets._windows import read_windows, union_groups

__all__ = ["ZONE_COLUMNS", "extract_zones"]

ZONE_COLUMNS = ["zone_id", "kind", "n_pixels", "area_ha"]
_EIGHT = np.ones((3, 3), dtype=bool)


def extract_zones(
    anomaly: xr.DataArray,
    *,
    kind: str,
    values: dict[str, xr.DataArray] | None = None,
    min_area_ha: float = 1.0,
    sieve_px: int = 4,
    tile: int = 1024,
) -> gpd.GeoDataFrame:
    """Vectorise one boolean anomaly raster into zone polygons, tile by tile.

    Steps: sieve clumps smaller than ``sieve_px`` pixels (8-connected; holes that
    small are filled too), label connected components (8-connected), summarise
    ``values`` per component, polygonise, and drop zones below ``min_area_ha``.

    Only one ``tile`` × ``tile`` window (plus a ``sieve_px`` halo) of the value layers is
    in memory at a time, and of the anomaly mask (one byte a pixel) the rows of about two
    rows of tiles, so that each of its pixels is read once; memory does not grow with
    the scene. The result equals a whole-raster computation: the halo makes the sieve
    exact (a clump smaller than ``sieve_px`` lies wholly inside it), and components cut by
    tile edges are joined again by comparing the label rows and columns on both sides of
    every edge (8-connected, diagonals included) before their statistics and polygons
    are merged.

    The statistics of all the components of a tile come from one labelled pass
    (:func:`numpy.bincount` on the label raster). A component that touches no tile edge
    is whole, so one below ``min_area_ha`` is dropped at once: the value layers are read
    only for tiles that keep a component, and only the kept components are polygonised.

    Parameters
    ----------
    anomaly : xarray.DataArray of bool
        ``(y, x)`` anomaly mask with CRS and transform on ``.rio`` (numpy or dask backed).
    kind : str
        Zone kind written to every row (usually the index name).
    values : dict of str to xarray.DataArray, optional
        Layers on the same grid to summarise (``{"iron_oxide": ..., "z": ...}``); each
        gives ``mean_<name>`` and ``max_<name>`` columns (NaN pixels ignored).
    min_area_ha : float
        Minimum zone area in hectares.
    sieve_px : int
        Sieve size in pixels (0 or 1 disables it).
    tile : int
        Tile edge in pixels.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per zone, MultiPolygon geometry in the raster CRS, columns
        ``zone_id, kind, n_pixels, area_ha`` and the statistics; sorted by area,
        largest first.

    Examples
    --------
    >>> import numpy as np
    >>> from geo.testing import make_raster
    >>> a = np.zeros((8, 8)); a[1:4, 1:4] = 1; a[6, 6] = 1
    >>> z = extract_zones(make_raster(a) > 0, kind="demo", min_area_ha=0.5, sieve_px=2)
    >>> z[["zone_id", "n_pixels", "area_ha"]].values.tolist()
    [['demo-001', 9, 0.81]]
    >>> extract_zones(make_raster(a) > 0, kind="demo", min_area_ha=0.5, sieve_px=2, tile=2
    ...               )[["zone_id", "n_pixels", "area_ha"]].values.tolist()  # from 2 x 2 tiles
    [['demo-001', 9, 0.81]]
    """
    if min_area_ha < 0 or sieve_px < 0:
        raise InvalidParameterError(
            f"min_area_ha and sieve_px must be >= 0; got {min_area_ha!r} and {sieve_px!r}."
        )
    if tile < 1:
        raise InvalidParameterError(f"tile must be >= 1 pixel; got {tile!r}.")
    transform, crs = anomaly.rio.transform(), anomaly.rio.crs
    pixel_ha = abs(transform.a * transform.e - transform.b * transform.d) / 1e4
    layers = values or {}
    names = list(layers)
    columns = ZONE_COLUMNS + [f"{s}_{name}" for name in names for s in ("mean", "max")]
    width = anomaly.shape[1]
    halo = sieve_px if sieve_px > 1 else 0
    # a whole component (one touching no tile edge) this small cannot reach min_area_ha:
    # the area is rounded to 4 decimals, which adds at most 0.5e-4 ha (the last test is exact)
    min_kept_ha = min_area_ha - 1e-4
    found_any = False  # any component at all (then an empty result keeps typed columns)
    counts: list[np.ndarray] = []  # per tile with kept pieces: pixels of each kept piece
    stats: list[np.ndarray] = []  # per such tile: (pieces, 3, layers) finite count, sum, peak
    polygons: list[np.ndarray] = []  # per such tile: its polygons and the piece of each
    polygon_piece: list[np.ndarray] = []
    n_pieces = 0  # kept pieces so far (a piece: a component's part in one tile)
    edges: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for ti, (r0, r1, R0, rows) in enumerate(_mask_rows(anomaly, tile, halo)):
        for tj, c0 in enumerate(range(0, width, tile)):
            c1 = min(c0 + tile, width)
            C0, C1 = max(c0 - halo, 0), min(c1 + halo, width)
            window = rows[:, C0:C1]
            if not window.any():  # nothing to sieve or label (a sieve keeps zeros zeros)
                continue
            mask = window.astype("uint8")
            if sieve_px > 1:
                mask = features.sieve(mask, size=sieve_px, connectivity=8)
            core = mask[r0 - R0 : r1 - R0, c0 - C0 : c1 - C0]
            labels, n = ndimage.label(core, structure=_EIGHT)
            if n == 0:
                continue
            found_any = True
            lines = {
                "top": labels[0],
                "bottom": labels[-1],
                "left": labels[:, 0],
                "right": labels[:, -1],
            }
            # one labelled pass: the pixels of every component of the tile
            count = np.bincount(labels.ravel(), minlength=n + 1)
            on_edge = np.zeros(n + 1, dtype=bool)
            for line in lines.values():
                on_edge[line] = True
            kept = np.flatnonzero((on_edge | (count * pixel_ha >= min_kept_ha))[1:]) + 1
            if not len(kept):
                continue
            local = np.zeros(n + 1, dtype="int64")  # label -> 1-based rank among kept ones
            local[kept] = np.arange(1, len(kept) + 1)
            # global piece ids (1-based; 0: no kept piece) along the tile's four edges; only
            # the edges, not a whole tile of ids, are kept
            edges[(ti, tj)] = {
                side: np.where(local[line] > 0, local[line] + n_pieces, 0)
                for side, line in lines.items()
            }
            counts.append(count[kept])
            piece_of = local[labels]
            inside = piece_of > 0
            if names:
                zone_of = piece_of[inside]  # in raster order, as the sums always added them
                arrays = read_windows(
                    [layers[name] for name in names], (slice(r0, r1), slice(c0, c1))
                )
                stats.append(
                    np.stack([_piece_stats(zone_of, a[inside], len(kept)) for a in arrays], -1)
                )
            geoms, value = _polygonise(labels, inside, transform * Affine.translation(c0, r0))
            polygons.append(geoms)
            polygon_piece.append(local[value] - 1 + n_pieces)
            n_pieces += len(kept)
    if not found_any:
        return gpd.GeoDataFrame(columns=columns, geometry=[], crs=crs)
    if n_pieces:
        root = _join_across_tiles(n_pieces, edges)
        # zones in the order of their first piece (a root is the smallest piece of its zone)
        order = np.argsort(root, kind="stable")
        starts = np.flatnonzero(np.r_[True, root[order][1:] != root[order][:-1]])
        members: list[np.ndarray] = np.split(order, starts[1:])
        piece_pixels = np.concatenate(counts)
        pixels = [int(piece_pixels[m].sum()) for m in members]
    else:  # only components too small to keep: an empty frame with the columns' types
        members, pixels = [], [0]
    records = [
        {
            "kind": kind,
            "n_pixels": n,
            "area_ha": round(n * pixel_ha, 4),
            **{f"{s}_{name}": np.nan for name in names for s in ("mean", "max")},
        }
        for n in pixels
    ]
    survive = np.array([r["area_ha"] >= min_area_ha for r in records[: len(members)]], bool)
    geoms = np.full(len(records), None, dtype=object)
    if survive.any():
        if names:
            piece_stats = np.concatenate(stats)
            for z in np.flatnonzero(survive):
                for j, name in enumerate(names):
                    # Python sums over the pieces in order: the figures of the per-piece code
                    cnt: float = sum(piece_stats[members[z], 0, j].tolist())
                    total = sum(piece_stats[members[z], 1, j].tolist())
                    peak = max(piece_stats[members[z], 2, j].tolist())
                    records[z][f"mean_{name}"] = total / cnt if cnt > 0 else np.nan
                    records[z][f"max_{name}"] = peak if cnt > 0 else np.nan
        # the polygons of the surviving zones, zone by zone and piece by piece in order,
        # unioned in a few vectorised calls
        zone_of_piece = np.empty(n_pieces, dtype="int64")
        for zi, m in enumerate(members):
            zone_of_piece[m] = zi
        piece = np.concatenate(polygon_piece)
        zone = zone_of_piece[piece]
        wanted = np.flatnonzero(survive[zone])
        wanted = wanted[np.lexsort((piece[wanted], zone[wanted]))]  # stable: polygon order
        unions = union_groups(np.concatenate(polygons)[wanted], zone[wanted])
        # the union of polygons is a Polygon or a MultiPolygon
        single = shapely.get_type_id(unions) != shapely.GeometryType.MULTIPOLYGON
        unions[single] = shapely.multipolygons(unions[single].reshape(-1, 1))
        geoms[np.flatnonzero(survive)] = unions
    gdf = gpd.GeoDataFrame(pd.DataFrame(records), geometry=list(geoms), crs=crs)
    gdf = gdf[gdf["area_ha"] >= min_area_ha].sort_values(
        ["area_ha", "n_pixels"], ascending=False, kind="stable"
    )
    gdf.insert(0, "zone_id", [f"{kind}-{i:03d}" for i in range(1, len(gdf) + 1)])
    return gdf.reset_index(drop=True)[[*columns, "geometry"]]


def _mask_rows(
    anomaly: xr.DataArray, tile: int, halo: int
) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield ``(r0, r1, R0, rows)`` per row of tiles: the mask's rows ``R0`` to ``r1 + halo``.

    ``rows`` covers the whole width, from ``R0 = max(r0 - halo, 0)``. The mask is computed
    (read) one whole row of tiles at a time, each row once, and rows above ``R0`` are let go,
    so at most about two rows of tiles are held (reading the halo of every tile on its own
    would read each chunk of a dask-backed mask up to nine times).
    """
    height = anomaly.shape[0]
    held = np.zeros((0, anomaly.shape[1]), dtype=bool)  # rows start .. start + len(held)
    start = 0
    for r0 in range(0, height, tile):
        r1 = min(r0 + tile, height)
        R0, R1 = max(r0 - halo, 0), min(r1 + halo, height)
        parts = [held[R0 - start :]]
        end = start + len(held)
        while end < R1:
            stop = min(end + tile, height)
            parts.append(np.asarray(anomaly[end:stop].values, dtype=bool))
            end = stop
        held, start = (np.concatenate(parts) if len(parts) > 1 else parts[0]), R0
        yield r0, r1, R0, held[: R1 - R0]


def _piece_stats(zone_of: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """``(n, 3)``: finite pixels, their sum and their maximum per piece (ids 1..n)."""
    finite = np.isfinite(v)
    idx, v = zone_of[finite], v[finite]
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, idx, v)
    return np.stack(
        [
            np.bincount(idx, minlength=n + 1)[1:].astype("float64"),
            np.bincount(idx, weights=v, minlength=n + 1)[1:],
            peak[1:],
        ],
        axis=1,
    )


def _polygonise(
    labels: np.ndarray, inside: np.ndarray, transform: Affine
) -> tuple[np.ndarray, np.ndarray]:
    """Polygons of the labelled pixels under ``inside`` and the label of each.

    The polygons of :func:`rasterio.features.shapes`, turned into shapely geometries in
    two vectorised calls instead of one ``shape()`` per polygon (the same coordinates,
    so the same geometries).
    """
    rings: list[list] = []
    ring_sizes: list[int] = []
    polygon_rings: list[int] = []
    value: list[float] = []
    for geom, v in features.shapes(
        labels.astype("int32", copy=False), mask=inside, transform=transform, connectivity=8
    ):
        coordinates = geom["coordinates"]
        polygon_rings.append(len(coordinates))
        ring_sizes.extend(len(ring) for ring in coordinates)
        rings.extend(coordinates)
        value.append(v)
    xy = np.array(list(chain.from_iterable(rings)), dtype="float64").reshape(-1, 2)
    linear = shapely.linearrings(xy, indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
    geoms = shapely.polygons(
        np.asarray(linear, dtype=object),
        indices=np.repeat(np.arange(len(polygon_rings)), polygon_rings),
    )
    return np.asarray(geoms, dtype=object), np.asarray(value, dtype="int64")


def _join_across_tiles(n: int, edges: dict[tuple[int, int], dict[str, np.ndarray]]) -> np.ndarray:
    """Union the pieces that touch (8-connected) across tile edges; return each one's root."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def link(a: np.ndarray, b: np.ndarray) -> None:
        """Join pieces a[k] with b[k-1], b[k], b[k+1] (two facing pixel lines)."""
        for shift in (-1, 0, 1):
            if shift < 0:
                x, y = a[1:], b[:-1]
            elif shift > 0:
                x, y = a[:-1], b[1:]
            else:
                x, y = a, b
            both = (x > 0) & (y > 0)
            for p, q in zip(x[both] - 1, y[both] - 1, strict=True):
                rp, rq = find(int(p)), find(int(q))
                if rp != rq:
                    parent[max(rp, rq)] = min(rp, rq)

    for (ti, tj), e in edges.items():
        if (ti, tj + 1) in edges:
            link(e["right"], edges[(ti, tj + 1)]["left"])
        if (ti + 1, tj) in edges:
            link(e["bottom"], edges[(ti + 1, tj)]["top"])
        if (ti + 1, tj + 1) in edges:  # corner to corner, diagonally
            link(e["bottom"][-1:], edges[(ti + 1, tj + 1)]["top"][:1])
        if (ti + 1, tj - 1) in edges:
            link(e["bottom"][:1], edges[(ti + 1, tj - 1)]["top"][-1:])
    return np.array([find(i) for i in range(n)])
