"""Low-level raster reading shared by the product readers: open, check, chunk."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import rasterio
import rioxarray
import xarray as xr
from rasterio.errors import RasterioIOError

from geo.errors import CRSError, GridMismatchError, InputNotFoundError, ProductError

logger = logging.getLogger(__name__)

#: Default chunk edge in pixels. Chunks are snapped to a multiple of the file's
#: internal tile size so every chunk decodes whole tiles exactly once.
DEFAULT_CHUNK = 1024


def aligned_chunk(block: int, target: int = DEFAULT_CHUNK, multiple: int = 1) -> int:
    """Return a chunk edge that is a multiple of ``block`` (and of ``multiple``) close to ``target``.

    ``multiple`` is for readers that aggregate k x k pixels per chunk (k = ``multiple``): the
    edge is then a multiple of both the file's tile and k.

    Examples
    --------
    >>> aligned_chunk(512, 1024), aligned_chunk(256, 1000), aligned_chunk(1, 1024)
    (1024, 1024, 1024)
    >>> aligned_chunk(1024, 2048, multiple=6), aligned_chunk(1024, 2048, multiple=2)
    (3072, 2048)
    """
    step = math.lcm(max(int(block), 1), max(int(multiple), 1))
    return max(step, round(target / step) * step)


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, read from its header only."""

    count: int
    dtype: str
    nodata: float | None
    descriptions: tuple
    scales: tuple
    offsets: tuple
    block: int


def probe(path: str, *, label: str) -> RasterInfo:
    """Read a raster's header; require a CRS.

    Raises
    ------
    InputNotFoundError
        The file is missing or GDAL cannot open it.
    CRSError
        The file has no CRS.
    """
    try:
        with rasterio.open(path) as src:
            info = RasterInfo(
                count=src.count,
                dtype=src.dtypes[0],
                nodata=src.nodata,
                descriptions=src.descriptions,
                scales=src.scales,
                offsets=src.offsets,
                block=max(src.block_shapes[0]),
            )
            crs = src.crs
    except RasterioIOError as exc:
        raise InputNotFoundError(f"{path}: cannot open {label}: {exc}") from None
    if crs is None:
        raise CRSError(
            f"{path}: {label} has no CRS. geo never guesses a CRS; assign the right one "
            "first (e.g. `gdal_edit.py -a_srs EPSG:32635 FILE`)."
        )
    return info


def open_chunked(
    path: str, info: RasterInfo, chunk: int = DEFAULT_CHUNK, *, multiple: int = 1
) -> xr.DataArray:
    """Open a raster lazily as (band, y, x) raw values, chunks aligned to its tiles.

    ``multiple``: make the chunk edge a multiple of it too (see :func:`aligned_chunk`).
    """
    edge = aligned_chunk(info.block, chunk, multiple)
    return rioxarray.open_rasterio(
        path, chunks={"band": 1, "y": edge, "x": edge}, lock=False, cache=False, masked=False
    )


def open_band(
    path: str, *, label: str, chunk: int = DEFAULT_CHUNK, multiple: int = 1
) -> xr.DataArray:
    """Open one single-band raster lazily as a (y, x) dask-backed DataArray of raw values.

    Parameters
    ----------
    path : str
        File path or GDAL virtual path (``/vsitar/...``).
    label : str
        What the file is (``"band 4 (red) X_SR_B4.TIF"``), used in error messages.
    chunk : int
        Target chunk edge; snapped to the file's block size.
    multiple : int
        Also make the chunk edge a multiple of this (a reader that averages k x k pixels
        passes k, so no output pixel straddles two chunks).

    Raises
    ------
    InputNotFoundError
        The file is missing or GDAL cannot open it.
    CRSError
        The file has no CRS.
    ProductError
        The file has more than one band.
    """
    info = probe(path, label=label)
    if info.count != 1:
        raise ProductError(f"{path}: {label} should hold 1 band, found {info.count}.")
    return open_chunked(path, info, chunk, multiple=multiple).squeeze("band", drop=True)


def check_same_grid(arrays: dict[str, xr.DataArray], *, source: str) -> None:
    """Raise :class:`GridMismatchError` unless all arrays share shape, transform and CRS."""
    items = list(arrays.items())
    ref_name, ref = items[0]
    for name, da in items[1:]:
        if da.shape != ref.shape or da.rio.transform() != ref.rio.transform():
            raise GridMismatchError(
                f"{source}: {name} is on a different pixel grid from {ref_name} "
                f"(shape {da.shape} vs {ref.shape}, transform {tuple(da.rio.transform())[:6]} vs "
                f"{tuple(ref.rio.transform())[:6]}). Resample them onto one grid before ingesting."
            )
        if da.rio.crs != ref.rio.crs:
            raise CRSError(
                f"{source}: {name} has CRS {da.rio.crs} but {ref_name} has {ref.rio.crs}; "
                "all bands of a product must share one CRS."
            )


def require_exists(path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise :class:`InputNotFoundError` naming ``what``."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found.")
    return path
