"""Landsat 8/9 Collection 2 Level-2 products: folder, MTL file or the USGS ``.tar``.

Reflectance = DN × ``REFLECTANCE_MULT_BAND_n`` + ``REFLECTANCE_ADD_BAND_n``, both read
from the MTL group ``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS`` (never from the Level-1
group that uses the same key names). DN 0 is fill and becomes NaN.
Reference: USGS Landsat 8-9 Collection 2 Level 2 Science Product Guide; DOMAIN.md §1.5.
"""

from __future__ import annotations

import logging
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import xarray as xr

from geo.errors import InputNotFoundError, MetadataError, ProductError
from geo.io._raster import DEFAULT_CHUNK, check_same_grid, open_band
from geo.io.mtl import Mtl, parse_mtl
from geo.io.scene import Scene
from geo.sensors import get_sensor

__all__ = ["L2_GROUP", "open_landsat_c2"]

logger = logging.getLogger(__name__)

L2_GROUP = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
_CONTENTS = "PRODUCT_CONTENTS"
_IMAGE = "IMAGE_ATTRIBUTES"
_SENSOR_BY_SPACECRAFT = {"LANDSAT_8": "landsat_oli", "LANDSAT_9": "landsat_oli"}
_QA_KEYS = {
    "qa_pixel": "FILE_NAME_QUALITY_L1_PIXEL",
    "qa_radsat": "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION",
}


@dataclass(frozen=True)
class _Product:
    """Where a product's files are: the MTL text and a resolver from file name to GDAL path."""

    mtl_text: str
    mtl_source: str
    resolve: Callable[[str], str]
    files: tuple[str, ...]


def _locate(path: Path) -> _Product:
    if path.is_file() and path.name.lower().endswith(".tar"):
        return _locate_tar(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        mtls = sorted(folder.glob("*_MTL.json")) or sorted(folder.glob("*_MTL.txt"))
        if not mtls:
            raise ProductError(
                f"{folder}: no *_MTL.txt or *_MTL.json file; a Landsat Collection 2 product "
                "folder holds one. Point --scene at the product folder USGS delivers."
            )
        if len(mtls) > 1:
            names = ", ".join(m.name for m in mtls)
            raise ProductError(f"{folder}: holds several products ({names}); give one MTL file.")
        mtl_path = mtls[0]
    else:
        mtl_path = path
    try:
        text = mtl_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputNotFoundError(f"{mtl_path}: cannot read the MTL file ({exc}).") from None

    def resolve(name: str) -> str:
        return str(folder / name)

    return _Product(text, str(mtl_path), resolve, (str(mtl_path),))


def _locate_tar(path: Path) -> _Product:
    try:
        with tarfile.open(path) as tar:
            members = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
            mtl_names = [n for n in members if n.endswith("_MTL.json")] or [
                n for n in members if n.endswith("_MTL.txt")
            ]
            if not mtl_names:
                raise ProductError(f"{path}: the archive holds no *_MTL.txt or *_MTL.json file.")
            handle = tar.extractfile(members[mtl_names[0]])
            text = handle.read().decode("utf-8", errors="replace") if handle else ""
    except (tarfile.TarError, OSError) as exc:
        raise ProductError(f"{path}: cannot read the tar archive ({exc}).") from None
    absolute = path.resolve()

    def resolve(name: str) -> str:
        if name not in members:
            raise InputNotFoundError(
                f"{path}: the archive has no member {name!r} named by the MTL."
            )
        return f"/vsitar/{absolute}/{members[name].name}"

    return _Product(text, f"{path}!{mtl_names[0]}", resolve, (str(path),))


def _number(mtl: Mtl, group: str, key: str) -> float:
    value = mtl.get(group, key)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MetadataError(
            f"{mtl.source}: {group}/{key} should be a number, got {value!r}."
        ) from None


def open_landsat_c2(path: str | Path, *, chunk: int = DEFAULT_CHUNK) -> Scene:
    """Open a Landsat 8/9 Collection 2 Level-2 surface-reflectance product.

    Parameters
    ----------
    path : str or Path
        The product folder, its ``*_MTL.txt`` / ``*_MTL.json``, or the ``.tar`` archive.
    chunk : int
        Target chunk edge in pixels (snapped to the files' internal tiles).

    Returns
    -------
    Scene
        Reflectance ``(band, y, x)`` float32 with NaN for fill (DN 0), bands
        ``coastal, blue, green, red, nir, swir1, swir2``; QA layers ``qa_pixel`` and,
        when the product has it, ``qa_radsat``.

    Raises
    ------
    MetadataError
        The MTL lacks the Level-2 group (for example a Level-1 product) or a key.
    ProductError
        The spacecraft is not Landsat 8 or 9.
    InputNotFoundError
        A band file named by the MTL is missing.
    """
    path = Path(path)
    product = _locate(path)
    mtl = parse_mtl(product.mtl_text, source=product.mtl_source)
    level = str(mtl.get(_CONTENTS, "PROCESSING_LEVEL", "unknown"))
    if not mtl.has_group(L2_GROUP):
        raise MetadataError(
            f"{mtl.source}: the MTL has no {L2_GROUP} group (processing level {level}). "
            "geo reads Collection 2 Level-2 surface reflectance; order the Level-2 "
            "Science Product (L2SP/L2SR) for this scene."
        )
    spacecraft = str(mtl.get(_IMAGE, "SPACECRAFT_ID"))
    if spacecraft not in _SENSOR_BY_SPACECRAFT:
        raise ProductError(
            f"{mtl.source}: SPACECRAFT_ID is {spacecraft!r}; this reader handles LANDSAT_8 "
            "and LANDSAT_9 Collection 2 Level-2 products."
        )
    sensor = get_sensor(_SENSOR_BY_SPACECRAFT[spacecraft])

    bands: dict[str, xr.DataArray] = {}
    grids: dict[str, xr.DataArray] = {}  # keyed by a label that names the file, for messages
    scaling: dict[str, dict[str, float | str]] = {}
    files = list(product.files)
    for band in sensor.bands:
        name = str(mtl.get(_CONTENTS, f"FILE_NAME_BAND_{band.number}"))
        source = product.resolve(name)
        mult = _number(mtl, L2_GROUP, f"REFLECTANCE_MULT_BAND_{band.number}")
        add = _number(mtl, L2_GROUP, f"REFLECTANCE_ADD_BAND_{band.number}")
        label = f"band {band.number} ({band.role}) {name}"
        dn = open_band(source, label=label, chunk=chunk)
        bands[band.role] = _dn_to_reflectance(dn, mult, add)
        grids[label] = dn
        scaling[band.role] = {"band": band.number, "file": name, "mult": mult, "add": add}
        if not source.startswith("/vsi"):
            files.append(source)
    qa: dict[str, xr.DataArray] = {}
    for layer, key in _QA_KEYS.items():
        name = mtl.get(_CONTENTS, key, None)
        if name is None:
            logger.warning(
                "%s: the MTL names no %s file; %s masks are skipped", mtl.source, key, layer
            )
            continue
        source = product.resolve(str(name))
        label = f"{layer} {name}"
        qa[layer] = open_band(source, label=label, chunk=chunk)
        grids[label] = qa[layer]
        if not source.startswith("/vsi"):
            files.append(source)
    check_same_grid(grids, source=mtl.source)

    reflectance = xr.concat(list(bands.values()), dim="band", coords="minimal", compat="override")
    reflectance = reflectance.assign_coords(band=list(bands)).rename("reflectance")
    scene_id = str(mtl.get(_CONTENTS, "LANDSAT_PRODUCT_ID", path.stem))
    date = str(mtl.get(_IMAGE, "DATE_ACQUIRED"))
    reflectance.attrs = {
        "sensor": sensor.name,
        "platform": spacecraft,
        "scene_id": scene_id,
        "date": date,
        "processing_level": level,
        "units": "reflectance (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "landsat_c2_l2",
        "mtl": mtl.source,
        "scene_id": scene_id,
        "spacecraft": spacecraft,
        "sensor": sensor.name,
        "processing_level": level,
        "date_acquired": date,
        "scene_center_time": mtl.get(_IMAGE, "SCENE_CENTER_TIME", None),
        "sun_elevation": mtl.get(_IMAGE, "SUN_ELEVATION", None),
        "sun_azimuth": mtl.get(_IMAGE, "SUN_AZIMUTH", None),
        "cloud_cover": mtl.get(_IMAGE, "CLOUD_COVER", None),
        "cloud_cover_land": mtl.get(_IMAGE, "CLOUD_COVER_LAND", None),
        "fill_dn": 0,
        "scaling_group": L2_GROUP,
        "bands": scaling,
        "qa_layers": sorted(qa),
        "qa_kind": "landsat_c2",
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    return Scene(reflectance, qa, metadata, files)


def _dn_to_reflectance(dn: xr.DataArray, mult: float, add: float) -> xr.DataArray:
    """Scale DN to float32 reflectance; DN 0 (fill) becomes NaN. Lazy on dask input."""
    out = dn.astype("float32") * np.float32(mult) + np.float32(add)
    return out.where(dn != 0).astype("float32")
