"""Read only the pixels under a polygon: the window around it and the polygon's mask in it."""

from __future__ import annotations

import dask
import numpy as np
from affine import Affine
from rasterio import features
from rasterio.windows import from_bounds


def polygon_window(geom, transform: Affine, shape: tuple[int, int]):
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
