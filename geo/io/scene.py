"""The ingested scene and the one entry point that detects the product kind."""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geo.errors import InputNotFoundError, ProductError
from geo.io._raster import PreviewSource, read_preview

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
    previews : dict of str to PreviewSource
        Bands whose files can serve a decimated read of the whole scene (see
        :meth:`preview`); readers fill it where a band's file covers the grid exactly.
    """

    reflectance: xr.DataArray
    qa: dict[str, xr.DataArray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    previews: dict[str, PreviewSource] = field(default_factory=dict)

    def preview(self, roles: list[str], step: int) -> np.ndarray | None:
        """Reflectance of ``roles`` on a grid ``step`` times coarser, or None.

        Read through the band files' overviews (the full-resolution tiles are not
        decoded); the grid is ``ceil(rows / step) × ceil(cols / step)`` over the scene's
        extent, like ``reflectance[:, ::step, ::step]`` up to which pixel of each
        ``step × step`` cell is taken. None when a role has no preview source: take the
        slice of :attr:`reflectance` instead.
        """
        if not roles or any(role not in self.previews for role in roles):
            return None
        rows, cols = self.reflectance.shape[-2:]
        shape = (-(-rows // step), -(-cols // step))
        return read_preview([self.previews[role] for role in roles], shape)


def _describe_folder(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"it holds {len(names)} entries ({shown})" if names else "it is empty"


def open_scene(
    path: str | Path,
    *,
    roles: list[str] | None = None,
    bands: Mapping[str, str | Path] | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    resolution: float | None = None,
    chunk: int | None = None,
) -> Scene:
    """Open a scene product and return reflectance with its QA layers and metadata.

    Detects the kind of product from ``path``:

    - a Landsat 4–9 product (Collection 2 Level-2 or Level-1, or an older Level-1): its
      folder, its ``*_MTL.txt`` / ``*_MTL.json``, or the ``.tar`` USGS delivers (read in place);
    - a Sentinel-2 L2A or L1C product: the ``.SAFE`` folder, its ``MTD_MSIL*.xml``, or the
      ``.zip`` ESA delivers (read in place), resampled to ``resolution`` (default 20 m);
    - an ASTER L1T or AST_07XT product (see :mod:`geo.io.aster` for the forms read);
    - a STAC Item JSON whose assets are local files (``resolution`` needed when bands differ);
    - one file per band: a folder with a ``bands.yaml`` sidecar, or ``bands`` given;
    - a plain multi-band GeoTIFF, with band roles from its band descriptions or ``roles``.

    Parameters
    ----------
    path : str or Path
        The product.
    roles : list of str, optional
        Band roles of a multi-band GeoTIFF, in band order (overrides band descriptions).
    bands : mapping of str to path, optional
        One file per role; relative names are resolved against ``path`` (a folder).
    sensor : str, optional
        Sensor name recorded for plain GeoTIFFs and band files.
    resolution : float, optional
        Pixel size in metres of the analysis grid for products whose bands come at several
        resolutions (Sentinel-2, ASTER, STAC items); each reader documents its default.
    scale, offset : float, optional
        Reflectance = DN × scale + offset for plain GeoTIFFs (overrides the file's own).
    chunk : int, optional
        Target chunk edge in pixels.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    ProductError
        ``path`` exists but is not a product geo can read; the message says what was seen.
    """
    from geo.io import aster, geotiff, landsat, sentinel2, stac  # they import Scene from here

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: scene not found.")
    kwargs: dict[str, Any] = {} if chunk is None else {"chunk": chunk}
    plain = {"sensor": sensor, "scale": scale, "offset": offset, **kwargs}
    name = path.name.lower()
    multi = kwargs if resolution is None else {**kwargs, "resolution": resolution}
    if bands:
        base = path if path.is_dir() else path.parent
        files = {role: base / f for role, f in bands.items()}
        return geotiff.open_band_files(files, scene_id=path.stem, **plain)
    if sentinel2.is_sentinel2(path):
        return sentinel2.open_sentinel2(path, **multi)
    if aster.is_aster(path):
        return aster.open_aster(path, **multi)
    if path.is_dir():
        if any(path.glob("*_MTL.txt")) or any(path.glob("*_MTL.json")):
            return landsat.open_landsat(path, **kwargs)
        if (path / geotiff.SIDECAR).is_file():
            side = geotiff.read_sidecar(path / geotiff.SIDECAR)
            return geotiff.open_band_files(
                side["bands"],
                sensor=sensor or side.get("sensor"),
                scale=scale if scale is not None else side.get("scale"),
                offset=offset if offset is not None else side.get("offset"),
                scene_id=side.get("scene_id", path.name),
                **kwargs,
            )
        raise ProductError(
            f"{path}: not a product folder geo recognises: {_describe_folder(path)}. Expected a "
            f"Landsat product (an *_MTL.txt or *_MTL.json), or single-band files described by "
            f"a {geotiff.SIDECAR} sidecar (bands: {{red: B4.tif, ...}})."
        )
    if name.endswith(("_mtl.txt", "_mtl.json")):
        return landsat.open_landsat(path, **kwargs)
    if name.endswith(".tar"):
        if not tarfile.is_tarfile(path):
            raise ProductError(f"{path}: not a readable tar archive (truncated download?).")
        return landsat.open_landsat(path, **kwargs)
    if name.endswith(".json") and stac.is_stac_item(path):
        return stac.open_stac_item(path, resolution=resolution, **kwargs)
    if name.endswith((".tif", ".tiff")):
        return geotiff.open_geotiff(path, roles=roles, **plain)
    raise ProductError(
        f"{path}: not a recognised scene (a {path.suffix or 'suffix-less'} file). Expected a "
        "Landsat folder, MTL or .tar, a Sentinel-2 .SAFE folder or .zip, an ASTER product, a "
        "STAC Item .json, a folder of band files with a bands.yaml sidecar, or a multi-band "
        "GeoTIFF (.tif)."
    )
