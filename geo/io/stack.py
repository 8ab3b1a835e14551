"""Several scenes of one area on one common grid and CRS, reprojected chunk by chunk.

The grid is always explicit: the caller names the CRS and the resolution, and the extent is
the union of the scenes' footprints in that CRS, snapped outward to whole pixels. Nothing is
guessed, so scenes from different UTM zones land on one grid only when the user says which.

Reprojection is lazy: each output chunk is one task that warps just the source window it
needs (found by transforming the chunk's bounds back to the source CRS), so memory stays at
a few chunks whatever the scenes' size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import from_bounds

from geo.errors import InvalidParameterError
from geo.io.scene import Scene

__all__ = ["Grid", "common_grid", "reproject_to_grid", "stack_scenes"]

_PAD = 3  # source pixels added around each window, enough for cubic kernels
_MAX_PIXELS = 40_000 * 40_000  # larger than any sane stack of scenes of one area


@dataclass(frozen=True)
class Grid:
    """A target pixel grid: CRS, north-up transform and shape ``(height, width)``."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in grid CRS units."""
        h, w = self.shape
        left, top = self.transform.c, self.transform.f
        return left, top + h * self.transform.e, left + w * self.transform.a, top


def common_grid(arrays: list[xr.DataArray], *, crs: str | CRS, resolution: float) -> Grid:
    """Return the grid covering every array's footprint in ``crs`` at ``resolution``.

    The extent is snapped outward to whole pixels, keeping the pixel phase of the first
    array that is already on this CRS and resolution.

    Raises
    ------
    InvalidParameterError
        No arrays, a resolution ≤ 0, or a CRS pyproj cannot parse.
    """
    if not arrays:
        raise InvalidParameterError("common_grid needs at least one scene.")
    if not resolution > 0:
        raise InvalidParameterError(f"--resolution must be > 0; got {resolution!r}.")
    try:
        target = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError subclasses of Exception
        raise InvalidParameterError(
            f"--crs {crs!r} is not a CRS pyproj understands ({exc})."
        ) from None
    boxes = [transform_bounds(a.rio.crs, target, *a.rio.bounds(), densify_pts=21) for a in arrays]
    # keep the pixel phase of a scene already on this CRS and resolution (Landsat grids sit
    # on 15 m + k·30 m), so that scene is not resampled at all; else whole multiples
    ox, oy = 0.0, 0.0
    for a in arrays:
        t = a.rio.transform()
        if (
            CRS.from_user_input(a.rio.crs) == target
            and math.isclose(t.a, resolution)
            and math.isclose(-t.e, resolution)
        ):
            ox, oy = t.c % resolution, t.f % resolution
            break
    left = math.floor((min(b[0] for b in boxes) - ox) / resolution) * resolution + ox
    bottom = math.floor((min(b[1] for b in boxes) - oy) / resolution) * resolution + oy
    right = math.ceil((max(b[2] for b in boxes) - ox) / resolution) * resolution + ox
    top = math.ceil((max(b[3] for b in boxes) - oy) / resolution) * resolution + oy
    shape = (round((top - bottom) / resolution), round((right - left) / resolution))
    if shape[0] * shape[1] > _MAX_PIXELS:
        raise InvalidParameterError(
            f"The common grid would be {shape[1]} x {shape[0]} pixels at {resolution:g} "
            f"{target.axis_info[0].unit_name} in {target.to_string()}: check that --resolution is "
            "in the units of --crs (metres for UTM, degrees for EPSG:4326) and that the scenes "
            "cover one area."
        )
    return Grid(target, Affine(resolution, 0.0, left, 0.0, -resolution, top), shape)


def _warp_block(
    source: np.ndarray,
    src_transform: Affine,
    src_crs: CRS,
    dst_transform: Affine,
    dst_crs: CRS,
    shape: tuple[int, ...],
    resampling: Resampling,
) -> np.ndarray:
    out = np.full(shape, np.nan, dtype="float32")
    if source.size:
        reproject(
            source=np.ascontiguousarray(source, dtype="float32"),
            destination=out,
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=np.nan,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=resampling,
        )
    return out


def reproject_to_grid(
    da: xr.DataArray, grid: Grid, *, resampling: str = "bilinear", chunk: int = 1024
) -> xr.DataArray:
    """Reproject a ``(band, y, x)`` or ``(y, x)`` array onto ``grid``, lazily, chunk by chunk.

    NaN is nodata on both sides and never blends into valid pixels. Use ``"nearest"`` for
    classes and masks, ``"bilinear"`` or ``"cubic"`` for reflectance, ``"average"`` when
    going to coarser pixels.

    Returns
    -------
    xarray.DataArray
        float32 on ``grid`` (CRS and transform written), same leading dims and attrs.
    """
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown resampling {resampling!r}; use nearest, bilinear, cubic or average."
        ) from None
    squeeze = da.ndim == 2
    src = da.expand_dims("band") if squeeze else da
    data = src.data if isinstance(src.data, dsa.Array) else dsa.from_array(src.data)
    src_transform, src_crs = src.rio.transform(), src.rio.crs
    n, (height, width) = src.shape[0], grid.shape
    src_h, src_w = src.shape[-2:]
    rows = []
    for r0 in range(0, height, chunk):
        row = []
        for c0 in range(0, width, chunk):
            h, w = min(chunk, height - r0), min(chunk, width - c0)
            dst_transform = grid.transform * Affine.translation(c0, r0)
            left, top = dst_transform.c, dst_transform.f
            bounds = (left, top + h * dst_transform.e, left + w * dst_transform.a, top)
            sb = transform_bounds(grid.crs, src_crs, *bounds, densify_pts=21)
            win = from_bounds(*sb, transform=src_transform)
            i0 = max(math.floor(win.row_off) - _PAD, 0)
            j0 = max(math.floor(win.col_off) - _PAD, 0)
            i1 = min(math.ceil(win.row_off + win.height) + _PAD, src_h)
            j1 = min(math.ceil(win.col_off + win.width) + _PAD, src_w)
            piece = data[:, i0 : max(i1, i0), j0 : max(j1, j0)]
            block = dask.delayed(_warp_block)(
                piece,
                src_transform * Affine.translation(j0, i0),
                src_crs,
                dst_transform,
                grid.crs,
                (n, h, w),
                method,
            )
            row.append(dsa.from_delayed(block, shape=(n, h, w), dtype="float32"))
        rows.append(row)
    warped = dsa.block(rows)
    res = grid.transform.a
    coords = {
        "y": grid.transform.f + grid.transform.e * (np.arange(height) + 0.5),
        "x": grid.transform.c + res * (np.arange(width) + 0.5),
    }
    if not squeeze:
        coords["band"] = src["band"].values
    out = xr.DataArray(
        warped[0] if squeeze else warped,
        dims=da.dims,
        coords=coords,
        attrs=dict(da.attrs),
        name=da.name,
    )
    out = out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return out.rio.write_nodata(np.nan, encoded=False)


def stack_scenes(
    scenes: list[Scene],
    *,
    crs: str | CRS,
    resolution: float,
    resampling: str = "bilinear",
    chunk: int = 1024,
) -> xr.DataArray:
    """Put several scenes on one grid: ``(scene, band, y, x)`` with the bands they all have.

    Parameters
    ----------
    scenes : list of Scene
        Opened scenes (any sensors, CRSs and pixel sizes).
    crs : str or pyproj.CRS
        Target CRS, e.g. ``"EPSG:32735"``. Required: geo never picks one.
    resolution : float
        Target pixel size in CRS units. Required.
    resampling : str
        Resampling for reflectance (``bilinear`` by default).
    chunk : int
        Output chunk edge.

    Raises
    ------
    InvalidParameterError
        The scenes share no band role, or the grid parameters are invalid.
    """
    roles = [str(b) for b in scenes[0].reflectance["band"].values]
    common = [r for r in roles if all(r in s.reflectance["band"].values for s in scenes)]
    if not common:
        raise InvalidParameterError("The scenes share no band role; nothing to stack.")
    grid = common_grid([s.reflectance for s in scenes], crs=crs, resolution=resolution)
    layers = [
        reproject_to_grid(s.reflectance.sel(band=common), grid, resampling=resampling, chunk=chunk)
        for s in scenes
    ]
    ids = [str(s.reflectance.attrs.get("scene_id")) for s in scenes]
    out = xr.concat(layers, dim="scene", coords="minimal", compat="override").assign_coords(
        scene=ids
    )
    out.attrs = {
        "scenes": ids,
        "resampling": resampling,
        "sensors": [s.reflectance.attrs.get("sensor") for s in scenes],
    }
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
