"""The ingested scene and the one entry point that detects the product kind."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from geo.errors import InputNotFoundError, ProductError

__all__ = ["Scene", "open_scene"]


@dataclass(frozen=True)
class Scene:
    """A scene ready for the spectral stages.

    Attributes
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` float32 reflectance, dask-backed, NaN where invalid (fill,
        nodata), ``band`` coordinate = roles (``coastal, blue, ..., swir2``), CRS and
        transform on ``.rio``; ``attrs`` hold ``sensor``, ``scene_id``, ``date``.
    qa : dict of str to xarray.DataArray
        Product quality layers on the same grid, raw integers (``qa_pixel``,
        ``qa_radsat`` for Landsat); empty when the product has none.
    metadata : dict
        Everything read from the product's metadata and applied (scale, offset per
        band, sun elevation, cloud cover...), recorded in the run manifest.
    files : list of str
        Every file read, for the manifest's checksums.
    """

    reflectance: xr.DataArray
    qa: dict[str, xr.DataArray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def open_scene(
    path: str | Path,
    *,
    roles: list[str] | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunk: int | None = None,
) -> Scene:
    """Open a scene product and return reflectance with its QA layers and metadata.

    Detects the kind of product from ``path``:

    - a Landsat Collection 2 Level-2 product: its folder, its ``*_MTL.txt`` /
      ``*_MTL.json``, or the ``.tar`` USGS delivers (read in place, not extracted);
    - a plain multi-band GeoTIFF, with band roles from its band descriptions or ``roles``.

    Parameters
    ----------
    path : str or Path
        The product.
    roles : list of str, optional
        Band roles of a plain GeoTIFF, in band order (overrides band descriptions).
    sensor : str, optional
        Sensor name recorded for a plain GeoTIFF.
    scale, offset : float, optional
        Reflectance = DN × scale + offset for a plain GeoTIFF (overrides the file's own).
    chunk : int, optional
        Target chunk edge in pixels.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    ProductError
        ``path`` exists but is not a product geo can read; the message says what was seen.
    """
    from geo.io import geotiff, landsat  # local import: both import Scene from here

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: scene not found.")
    kwargs: dict[str, Any] = {} if chunk is None else {"chunk": chunk}
    name = path.name.lower()
    if path.is_dir() or name.endswith(("_mtl.txt", "_mtl.json")):
        return landsat.open_landsat(path, **kwargs)
    if name.endswith(".tar"):
        if not tarfile.is_tarfile(path):
            raise ProductError(f"{path}: not a readable tar archive (truncated download?).")
        return landsat.open_landsat(path, **kwargs)
    if name.endswith((".tif", ".tiff")):
        return geotiff.open_geotiff(
            path, roles=roles, sensor=sensor, scale=scale, offset=offset, **kwargs
        )
    raise ProductError(
        f"{path}: not a recognised scene. Expected a Landsat Collection 2 Level-2 folder, "
        "its *_MTL.txt/*_MTL.json, the USGS .tar, or a multi-band GeoTIFF (.tif)."
    )
