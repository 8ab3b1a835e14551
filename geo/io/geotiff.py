"""Plain multi-band GeoTIFFs: band roles from band descriptions or from the caller."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from geo.errors import BandError, ProductError
from geo.io._raster import DEFAULT_CHUNK, open_chunked, probe
from geo.io.scene import Scene
from geo.sensors import ROLES

__all__ = ["SKIP_ROLE", "open_geotiff"]

logger = logging.getLogger(__name__)

#: Role name that drops a band of a plain GeoTIFF (e.g. a thermal or QA band).
SKIP_ROLE = "skip"


def _resolve_roles(
    path: Path, count: int, descriptions: tuple, roles: list[str] | None
) -> list[str]:
    source = "the pipeline file" if roles is not None else "the band descriptions"
    if roles is None:
        if not all(descriptions):
            raise BandError(
                f"{path}: band roles are unknown: {sum(1 for d in descriptions if not d)} of {count} "
                f"bands have no description. Give the roles in band order in the pipeline file "
                f"(inputs.scene.roles: [blue, green, red, ...]) or set band descriptions to roles "
                f"({', '.join(ROLES)})."
            )
        roles = [str(d).strip().lower() for d in descriptions]
    if len(roles) != count:
        raise BandError(
            f"{path}: {source} give {len(roles)} band roles but the file has {count} bands; "
            f"give one role per band (use {SKIP_ROLE!r} for a band to ignore)."
        )
    for i, role in enumerate(roles, 1):
        if role != SKIP_ROLE and role not in ROLES:
            raise BandError(
                f"{path}: band {i} has role {role!r} (from {source}); expected one of "
                f"{', '.join(ROLES)} or {SKIP_ROLE!r}."
            )
    kept = [r for r in roles if r != SKIP_ROLE]
    duplicates = sorted({r for r in kept if kept.count(r) > 1})
    if duplicates:
        raise BandError(f"{path}: role(s) {', '.join(duplicates)} given to more than one band.")
    return roles


def open_geotiff(
    path: str | Path,
    *,
    roles: list[str] | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Scene:
    """Open a multi-band GeoTIFF of reflectance (or scaled reflectance) as a :class:`Scene`.

    Parameters
    ----------
    path : str or Path
        The GeoTIFF.
    roles : list of str, optional
        One role per band in band order (``"skip"`` drops a band). Without it the band
        descriptions must name the roles.
    sensor : str, optional
        Sensor name recorded in attrs (``"unknown"`` if not given).
    scale, offset : float, optional
        Reflectance = value × scale + offset. Default: the file's own GDAL scale/offset.
    chunk : int
        Target chunk edge in pixels.

    Raises
    ------
    BandError
        Roles are missing, unknown, duplicated, or do not match the band count.
    CRSError
        The file has no CRS.
    ProductError
        Integer data without any scale or offset (DN of unknown meaning).
    """
    path = Path(path)
    info = probe(str(path), label="the GeoTIFF")
    count, nodata, dtype = info.count, info.nodata, info.dtype
    descriptions, file_scales, file_offsets = info.descriptions, info.scales, info.offsets
    roles = _resolve_roles(path, count, descriptions, roles)
    if scale is None and offset is None:
        scales, offsets, scale_source = list(file_scales), list(file_offsets), "file"
    else:
        scales = [1.0 if scale is None else float(scale)] * count
        offsets = [0.0 if offset is None else float(offset)] * count
        scale_source = "pipeline"
    if (
        np.issubdtype(np.dtype(dtype), np.integer)
        and all(s == 1 for s in scales)
        and not any(offsets)
    ):
        raise ProductError(
            f"{path}: bands are {dtype} with no scale or offset, so their values are not "
            "reflectance. Give inputs.scene.scale and offset in the pipeline file "
            "(e.g. scale: 0.0001 for reflectance × 10000)."
        )
    raw = open_chunked(str(path), info, chunk)
    keep = [i for i, r in enumerate(roles) if r != SKIP_ROLE]
    raw = raw.isel(band=keep)
    valid = raw.notnull() if nodata is None else (raw != nodata) & raw.notnull()
    factors = np.array([scales[i] for i in keep], dtype="float32")[:, None, None]
    adds = np.array([offsets[i] for i in keep], dtype="float32")[:, None, None]
    reflectance = (raw.astype("float32") * factors + adds).where(valid).astype("float32")
    reflectance = reflectance.assign_coords(band=[roles[i] for i in keep]).rename("reflectance")
    reflectance.attrs = {
        "sensor": sensor or "unknown",
        "platform": "unknown",
        "scene_id": path.stem,
        "date": "unknown",
        "processing_level": "unknown",
        "units": "reflectance (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "geotiff",
        "file": str(path),
        "scene_id": path.stem,
        "sensor": sensor or "unknown",
        "nodata": None if nodata is None else float(nodata),
        "scale_source": scale_source,
        "bands": {roles[i]: {"band": i + 1, "mult": scales[i], "add": offsets[i]} for i in keep},
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    return Scene(reflectance, {}, metadata, [str(path)])
