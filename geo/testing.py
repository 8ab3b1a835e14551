"""Tiny rasters, scenes and licence layers for tests, doctests and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from shapely.geometry import box

__all__ = ["make_licences", "make_raster"]


def make_raster(
    data,
    *,
    bands: Sequence[str] | None = None,
    crs: str | None = "EPSG:32635",
    res: float = 30.0,
    origin: tuple[float, float] = (500_000.0, -2_380_000.0),
    attrs: dict | None = None,
    name: str = "reflectance",
) -> xr.DataArray:
    """Build a georeferenced float32 DataArray from literal values.

    Parameters
    ----------
    data : array-like
        2-D ``(y, x)`` or 3-D ``(band, y, x)`` values.
    bands : sequence of str, optional
        Band coordinate (roles) for 3-D data.
    crs : str or None
        CRS to write; None leaves the array without CRS (to test that error).
    res : float
        Pixel size in CRS units.
    origin : tuple of float
        Upper-left corner ``(x, y)``.
    attrs : dict, optional
        Attributes to set (``sensor``, ``scene_id``...).
    name : str
        Array name.

    Examples
    --------
    >>> r = make_raster([[1, 2], [3, 4]])
    >>> r.dims, float(r.x[0]), r.rio.resolution()
    (('y', 'x'), 500015.0, (30.0, -30.0))
    """
    values = np.asarray(data, dtype="float32")
    ny, nx = values.shape[-2:]
    coords: dict[str, np.ndarray | list[Any]] = {
        "x": origin[0] + res * (np.arange(nx) + 0.5),
        "y": origin[1] - res * (np.arange(ny) + 0.5),
    }
    dims: tuple[str, ...] = ("y", "x")
    if values.ndim == 3:
        dims = ("band", "y", "x")
        coords["band"] = list(bands) if bands is not None else list(range(1, values.shape[0] + 1))
    da = xr.DataArray(values, dims=dims, coords=coords, name=name, attrs=dict(attrs or {}))
    if crs is not None:
        da = da.rio.write_crs(crs)
    return da.rio.write_transform(Affine(res, 0.0, origin[0], 0.0, -res, origin[1]))


def make_licences(
    boxes: dict[str, tuple[float, float, float, float]],
    *,
    crs: str | None = "EPSG:32635",
    holder: str = "Test Holder",
    status: str = "granted",
) -> gpd.GeoDataFrame:
    """Build a licence layer from ``{licence_id: (minx, miny, maxx, maxy)}``.

    Examples
    --------
    >>> make_licences({"L1": (0, 0, 10, 10)}).area.tolist()
    [100.0]
    """
    return gpd.GeoDataFrame(
        {
            "licence_id": list(boxes),
            "holder": [holder] * len(boxes),
            "status": [status] * len(boxes),
        },
        geometry=[box(*b) for b in boxes.values()],
        crs=crs,
    )
