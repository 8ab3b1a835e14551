"""Plain multi-band GeoTIFFs: band roles from band descriptions or from the caller."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from geo.errors import BandError, MetadataError, ProductError
from geo.io._raster import (
    DEFAULT_CHUNK,
    PreviewSource,
    RasterInfo,
    check_same_grid,
    finite_number,
    open_chunked,
    probe,
    scale_values,
)
from geo.io.scene import Scene
from geo.sensors import ROLES

__all__ = ["SIDECAR", "SKIP_ROLE", "open_band_files", "open_geotiff", "read_sidecar"]

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


def _scaling(
    path: Path, info: RasterInfo, scale: float | None, offset: float | None
) -> tuple[list[float], list[float], str]:
    """Per-band (scales, offsets, source): the caller's values, else the file's own.

    Integer data with neither is refused: its values are DN of unknown meaning.
    """
    if scale is not None or offset is not None:
        n = info.count
        given_scale = 1.0
        if scale is not None:
            given_scale = finite_number(
                scale,
                what=f"{path}: the scene scale",
                positive=True,
                fix="Reflectance = value x scale + offset (e.g. scale 0.0001 for reflectance x "
                "10000); fix inputs.scene.scale in the pipeline file (or --scale).",
            )
        given_offset = 0.0
        if offset is not None:
            given_offset = finite_number(
                offset,
                what=f"{path}: the scene offset",
                fix="Reflectance = value x scale + offset (e.g. offset -0.1, or 0); fix "
                "inputs.scene.offset in the pipeline file (or --offset).",
            )
        return [given_scale] * n, [given_offset] * n, "pipeline"
    scales, offsets = list(info.scales), list(info.offsets)
    for band, (file_scale, file_offset) in enumerate(zip(scales, offsets, strict=True), 1):
        fix = (
            "The file's scale/offset metadata is damaged; repair it (`gdal_edit.py -scale "
            "0.0001 -offset 0 FILE`) or give inputs.scene.scale and offset in the pipeline file."
        )
        finite_number(
            file_scale,
            what=f"{path}: band {band} GDAL scale",
            positive=True,
            fix=fix,
            error=MetadataError,
        )
        finite_number(
            file_offset, what=f"{path}: band {band} GDAL offset", fix=fix, error=MetadataError
        )
    if (
        np.issubdtype(np.dtype(info.dtype), np.integer)
        and all(v == 1 for v in scales)
        and not any(offsets)
    ):
        raise ProductError(
            f"{path}: bands are {info.dtype} with no scale or offset, so their values are not "
            "reflectance. Give inputs.scene.scale and offset in the pipeline file "
            "(e.g. scale: 0.0001 for reflectance × 10000; scale: 1 to use the DN as they are)."
        )
    return scales, offsets, "file"


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
    count, nodata = info.count, info.nodata
    roles = _resolve_roles(path, count, info.descriptions, roles)
    scales, offsets, scale_source = _scaling(path, info, scale, offset)
    raw = open_chunked(str(path), info, chunk, label="the GeoTIFF")
    keep = [i for i, r in enumerate(roles) if r != SKIP_ROLE]
    raw = raw.isel(band=keep)
    reflectance = scale_values(
        raw, [scales[i] for i in keep], [offsets[i] for i in keep], nodata=(nodata,)
    )
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
    previews = {
        roles[i]: PreviewSource(str(path), i + 1, scales[i], offsets[i], (nodata,)) for i in keep
    }
    return Scene(reflectance, {}, metadata, [str(path)], previews)


def open_band_files(
    bands: Mapping[str, str | Path],
    *,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunk: int = DEFAULT_CHUNK,
    scene_id: str | None = None,
) -> Scene:
    """Open one single-band file per role (``{"red": "B3.tif", ...}``) as a :class:`Scene`.

    Every file must be on the same pixel grid and CRS. Each file's own nodata value
    becomes NaN; scale/offset as in :func:`open_geotiff`, per file.

    Raises
    ------
    BandError
        A role is unknown, or a file holds more than one band.
    GridMismatchError, CRSError
        The files are not on one grid.
    """
    unknown = sorted(set(bands) - set(ROLES))
    if unknown:
        raise BandError(
            f"Unknown band role(s) {', '.join(unknown)} in the band-file mapping; expected "
            f"{', '.join(ROLES)}."
        )
    ordered = [r for r in ROLES if r in bands]
    layers, grids, meta, files, previews = [], {}, {}, [], {}
    for role in ordered:
        path = Path(bands[role])
        label = f"band file for {role!r}"
        info = probe(str(path), label=label)
        if info.count != 1:
            raise BandError(
                f"{path}: the {label} holds {info.count} bands; give one band per file."
            )
        scales, offsets, source = _scaling(path, info, scale, offset)
        raw = open_chunked(str(path), info, chunk, label=label).squeeze("band", drop=True)
        layers.append(scale_values(raw, scales[0], offsets[0], nodata=(info.nodata,)))
        previews[role] = PreviewSource(str(path), 1, scales[0], offsets[0], (info.nodata,))
        grids[f"{role} {path.name}"] = raw
        meta[role] = {
            "file": str(path),
            "mult": scales[0],
            "add": offsets[0],
            "scale_source": source,
            "nodata": info.nodata,
        }
        files.append(str(path))
    check_same_grid(grids, source="band files")
    reflectance = xr.concat(layers, dim="band", coords="minimal", compat="override")
    reflectance = reflectance.assign_coords(band=ordered).rename("reflectance")
    scene_id = scene_id or Path(files[0]).parent.name
    reflectance.attrs = {
        "sensor": sensor or "unknown",
        "platform": "unknown",
        "scene_id": scene_id,
        "date": "unknown",
        "processing_level": "unknown",
        "units": "reflectance (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "band_files",
        "scene_id": scene_id,
        "sensor": sensor or "unknown",
        "bands": meta,
        "qa_layers": [],
        "qa_kind": None,
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    return Scene(reflectance, {}, metadata, files, previews)


#: Name of the sidecar that describes a folder of single-band files (or a multi-band file).
SIDECAR = "bands.yaml"


def read_sidecar(path: Path) -> dict:
    """Read a ``bands.yaml`` sidecar: ``{bands: {role: file}, sensor, scale, offset}``.

    File names are resolved against the sidecar's folder.

    Raises
    ------
    ProductError
        The sidecar is not valid YAML or lacks a ``bands`` mapping.
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ProductError(
            f"{path}: the band sidecar is not valid YAML ({exc}).".replace("\n", " ")
        ) from None
    allowed = {"bands", "sensor", "scale", "offset", "scene_id"}
    extra = sorted(set(doc) - allowed)
    if extra or not isinstance(doc.get("bands"), dict):
        raise ProductError(
            f"{path}: a band sidecar needs a 'bands' mapping of role to file name (and may give "
            f"sensor, scale, offset, scene_id); found keys {', '.join(map(str, doc)) or 'none'}."
        )
    for key, positive, example in (("scale", True, "0.0001"), ("offset", False, "-0.1")):
        if doc.get(key) is not None:
            doc[key] = finite_number(
                doc[key],
                what=f"{path}: {key}",
                positive=positive,
                fix=f"Fix it in the band sidecar (e.g. {key}: {example}).",
                error=ProductError,
            )
    doc["bands"] = {role: path.parent / name for role, name in doc["bands"].items()}
    return doc
