"""STAC Items whose assets are local files: Landsat C2 L2 and Sentinel-2 L2A.

Reads one Item JSON as served by Microsoft Planetary Computer or Element84 Earth Search,
after its assets were downloaded: relative hrefs are resolved against the item file,
absolute paths and local GDAL paths (``/vsizip/...``) are opened as they are. Nothing is
ever fetched over the network; a remote href of an asset geo needs is an error.

- **Band roles** come from each asset's band name (``B05``, ``B8A``, ``OLI_B4``, matched
  to the sensor's band numbers), then its ``eo`` common name (:data:`COMMON_NAME_ROLES`),
  then its asset key. Only single-band assets that map to a reflective role are read;
  thermal, visual/TCI, preview and auxiliary assets are not bands.
- **Scaling**: reflectance = DN × ``scale`` + ``offset`` from the raster extension, else
  from the file's own GDAL scale/offset; integer data with neither is refused. ``nodata``
  (raster extension, else the file's) becomes NaN.
- **QA**: ``qa_pixel`` and ``qa_radsat`` (Landsat, kind ``landsat_c2``) or ``scl``
  (Sentinel-2, kind ``sentinel2_scl``) become raw ``scene.qa`` layers.
- **Grids**: bands of different pixel sizes (Sentinel-2 10/20/60 m) need ``resolution``;
  every layer is then resampled, chunk by chunk, onto the grid of the bands at that pixel
  size: average from finer, bilinear from coarser, nearest for QA.

References: STAC ``eo`` v1.1 and ``raster`` v1.1 extensions; DOMAIN.md §1.5 (SCL,
Sentinel-2 offset, nearest-only SCL) and §4 "Pitfalls to guard in code" (mixing 10/20/60 m).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dask.array as da
import numpy as np
import pystac
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from geo.errors import (
    BandError,
    CRSError,
    GridMismatchError,
    InputNotFoundError,
    InvalidParameterError,
    MetadataError,
    ProductError,
)
from geo.io._raster import (
    DEFAULT_CHUNK,
    READ_ERRORS,
    RasterInfo,
    check_same_grid,
    finite_number,
    open_band,
    probe,
    read_error,
    scale_values,
)
from geo.io.scene import Scene
from geo.sensors import Sensor, get_sensor

__all__ = ["COMMON_NAME_ROLES", "is_stac_item", "open_stac_item"]

logger = logging.getLogger(__name__)

#: STAC ``eo`` common name → geo roles in order of preference; the first role the sensor
#: has wins (``nir08`` is Sentinel-2 B8A but the only NIR band of Landsat). ``rededge`` is
#: left out on purpose: it names three Sentinel-2 bands, told apart by band name.
COMMON_NAME_ROLES: dict[str, tuple[str, ...]] = {
    "coastal": ("coastal",),
    "blue": ("blue",),
    "green": ("green",),
    "red": ("red",),
    "nir": ("nir",),
    "nir08": ("nir_narrow", "nir"),
    "nir09": ("water_vapour",),
    "cirrus": ("cirrus",),
    "swir16": ("swir1",),
    "swir22": ("swir2",),
}


@dataclass(frozen=True)
class _Family:
    """What a STAC item of one sensor holds besides its bands."""

    instruments: tuple[str, ...]  # STAC ``instruments`` tokens that confirm the sensor
    qa_assets: tuple[str, ...]  # asset keys (case-insensitive) read as QA layers
    qa_kind: str  # how the runner decodes them


_LANDSAT_QA = ("qa_pixel", "qa_radsat")
_FAMILIES: dict[str, _Family] = {
    "landsat_oli": _Family(("oli",), _LANDSAT_QA, "landsat_c2"),
    "landsat_etm": _Family(("etm+", "etm"), _LANDSAT_QA, "landsat_c2"),
    "landsat_tm": _Family(("tm",), _LANDSAT_QA, "landsat_c2"),
    "sentinel2_msi": _Family(("msi",), ("scl",), "sentinel2_scl"),
}
_PROCESSING_KEYS = ("landsat:correction", "s2:processing_baseline", "processing:level")
# A band name: "B05", "B8A", or a sensor-prefixed one ("OLI_B4", "ETM_B3", "TIRS_B10").
_BAND_NAME = re.compile(r"^(?:[a-z0-9+]+_)?b(\d{1,2}a?)$")
# GDAL virtual file systems that read over the network.
_NETWORK_VSI = re.compile(r"/vsi(?:curl|s3|gs|az|adls|oss|swift|hdfs|webhdfs)(?:_streaming)?/")
_VSI_HANDLER = re.compile(r"^/vsi[a-z0-9_]+/")
# Earth Search ships every band twice, as COG and as JPEG 2000; the COG is read.
_JP2_SUFFIX = "-jp2"


@dataclass(frozen=True)
class _Layer:
    """One asset opened lazily on its own grid."""

    name: str  # band role or QA layer name
    key: str  # asset key in the item
    path: str  # what GDAL opens
    raw: xr.DataArray  # (y, x) raw values, dask-backed
    nodata: float | None
    scaling: tuple[float, float, str] | None  # (mult, add, where from); None for QA

    @property
    def label(self) -> str:
        return f"asset {self.key!r} ({self.name})"

    @property
    def pixel_size(self) -> float:
        return abs(self.raw.rio.transform().a)


def is_stac_item(path: Path) -> bool:
    """Tell whether ``path`` is a STAC Item JSON file.

    Parameters
    ----------
    path : Path
        Any path.

    Returns
    -------
    bool
        True for a readable ``.json`` file holding an object with ``"type": "Feature"``,
        ``stac_version`` and ``assets``.
    """
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        return _looks_like_item(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def open_stac_item(
    path: str | Path, *, resolution: float | None = None, chunk: int = DEFAULT_CHUNK
) -> Scene:
    """Open a STAC Item with local assets as a :class:`Scene` of surface reflectance.

    Parameters
    ----------
    path : str or Path
        The Item JSON file.
    resolution : float, optional
        Pixel size in CRS units (metres) of the analysis grid, required when the bands
        come at several pixel sizes (Sentinel-2: 10, 20 or 60). All layers are resampled
        onto the grid of the bands at that pixel size.
    chunk : int
        Target chunk edge in pixels (snapped to the files' internal tiles).

    Returns
    -------
    Scene
        Reflectance ``(band, y, x)`` float32, NaN for nodata, bands in the sensor table's
        order; QA layers ``qa_pixel``/``qa_radsat`` (Landsat) or ``scl`` (Sentinel-2) when
        the item has them; ``metadata["bands"][role]`` records asset, file, scale, offset
        and resampling method.

    Raises
    ------
    InputNotFoundError
        ``path`` or a local asset file is missing.
    ProductError
        ``path`` is not a STAC Item, its platform is not a supported sensor, or an asset
        geo needs has a remote href (download it first).
    MetadataError
        An integer band has no scale or offset in the item nor in its file.
    BandError
        No asset maps to a reflective band role, or two assets claim the same role.
    InvalidParameterError
        Bands differ in pixel size and ``resolution`` is missing or matches none of them.
    GridMismatchError, CRSError
        Layers at one pixel size do not share one grid, or layers do not cover the same
        footprint in the same CRS.
    """
    path = Path(path)
    source = str(path)
    item = _read_item(path)
    props = item.properties
    sensor, platform = _sensor_of(props, source)
    family = _FAMILIES[sensor.name]
    band_keys = _band_assets(item, sensor, source)
    if not band_keys:
        raise BandError(
            f"{source}: no asset maps to a reflective band of {sensor.name}; assets: "
            f"{', '.join(item.assets)}. Band roles come from eo:bands name/common_name or "
            f"the asset key ({', '.join(COMMON_NAME_ROLES)}, B01...)."
        )
    missing = [r for r in sensor.roles if r not in band_keys]
    if missing:
        logger.info("%s: the item has no asset for %s", source, ", ".join(missing))

    layers = [
        _open_asset(item, key, role, source=source, chunk=chunk, scaled=True)
        for role, key in band_keys.items()
    ]
    qa_layers = [
        _open_asset(item, key, name, source=source, chunk=chunk, scaled=False)
        for name, key in _qa_assets(item, family, source).items()
    ]

    target = _target_resolution([*layers, *qa_layers], resolution, source)
    on_target = [la for la in (*layers, *qa_layers) if math.isclose(la.pixel_size, target)]
    check_same_grid({la.label: la.raw for la in on_target}, source=source)
    like = on_target[0].raw
    bands: dict[str, xr.DataArray] = {}
    band_meta: dict[str, dict[str, Any]] = {}
    for layer in layers:
        method = _method(layer.pixel_size, target, qa=False)
        grid = _on_grid(layer, like, method, source)
        assert layer.scaling is not None  # band layers are opened with scaled=True
        mult, add, scale_source = layer.scaling
        nodata = layer.nodata if method == "none" else None  # resampled: NaN already
        bands[layer.name] = _dn_to_reflectance(grid, mult, add, nodata)
        band_meta[layer.name] = {
            "asset": layer.key,
            "file": layer.path,
            "mult": mult,
            "add": add,
            "nodata": layer.nodata,
            "scale_source": scale_source,
            "pixel_size": layer.pixel_size,
            "resampling": method,
        }
    qa: dict[str, xr.DataArray] = {}
    qa_meta: dict[str, dict[str, Any]] = {}
    for layer in qa_layers:
        method = _method(layer.pixel_size, target, qa=True)
        qa[layer.name] = _on_grid(layer, like, method, source)
        qa_meta[layer.name] = {"asset": layer.key, "file": layer.path, "resampling": method}

    order = [r for r in sensor.roles if r in bands]
    reflectance = xr.concat(
        [bands[r] for r in order], dim="band", coords="minimal", compat="override"
    )
    reflectance = reflectance.assign_coords(band=order).rename("reflectance")
    scene_id = item.id or path.stem
    date = _date(item)
    level = next((str(props[k]) for k in _PROCESSING_KEYS if props.get(k)), "unknown")
    reflectance.attrs = {
        "sensor": sensor.name,
        "platform": platform,
        "scene_id": scene_id,
        "date": date,
        "processing_level": level,
        "units": "reflectance (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "stac_item",
        "item": source,
        "collection": item.collection_id,
        "scene_id": scene_id,
        "sensor": sensor.name,
        "platform": platform,
        "processing_level": level,
        "date_acquired": date,
        "cloud_cover": props.get("eo:cloud_cover"),
        "sun_elevation": props.get("view:sun_elevation"),
        "sun_azimuth": props.get("view:sun_azimuth"),
        "resolution": target,
        "bands": band_meta,
        "qa_layers": sorted(qa),
        "qa_assets": qa_meta,
        "qa_kind": family.qa_kind,
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    files = [source]
    for layer in (*layers, *qa_layers):
        on_disk = _file_on_disk(layer.path)
        if on_disk is not None and on_disk not in files:
            files.append(on_disk)
    return Scene(reflectance, qa, metadata, files)


def _looks_like_item(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("type") == "Feature"
        and "stac_version" in doc
        and isinstance(doc.get("assets"), dict)
    )


def _read_item(path: Path) -> pystac.Item:
    """Parse the Item JSON; its own path (not its ``self`` link) anchors relative hrefs."""
    if not path.is_file():
        raise InputNotFoundError(f"{path}: STAC item not found.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProductError(f"{path}: not readable JSON ({exc}).") from None
    if not _looks_like_item(doc):
        seen = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise ProductError(
            f'{path}: not a STAC Item: expected a JSON object with "type": "Feature", '
            f'"stac_version" and "assets"; got type {seen!r}. Give the item of one scene '
            "(not a collection, catalog or search result)."
        )
    try:
        return pystac.Item.from_dict(doc, href=str(path.resolve()), preserve_dict=False)
    except (pystac.STACError, KeyError, TypeError, ValueError) as exc:
        raise ProductError(f"{path}: invalid STAC Item ({exc}).") from None


def _norm_platform(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _sensor_of(props: dict[str, Any], source: str) -> tuple[Sensor, str]:
    """Return the sensor table and the platform (as the table spells it) of an item.

    ``platform`` decides and ``instruments`` must agree with it (Landsat 4/5 also carried
    MSS); without ``platform``, ``instruments`` decide.
    """
    platform = props.get("platform")
    instruments = {str(i).lower() for i in props.get("instruments") or []}
    seen = (
        f"platform={platform!r}, constellation={props.get('constellation')!r}, "
        f"instruments={sorted(instruments)}"
    )
    for name, family in _FAMILIES.items():
        sensor = get_sensor(name)
        confirmed = bool(instruments & set(family.instruments))
        if platform is None:
            if confirmed:
                return sensor, str(props.get("constellation") or "unknown")
            continue
        wanted = _norm_platform(str(platform))
        known = next((p for p in sensor.platforms if _norm_platform(p) == wanted), None)
        if known is None:
            continue
        if instruments and not confirmed:
            raise ProductError(
                f"{source}: {seen}; geo reads {known} items from the "
                f"{'/'.join(family.instruments).upper()} instrument only."
            )
        return sensor, known
    raise ProductError(
        f"{source}: cannot tell the sensor ({seen}). This reader handles items of Landsat 4/5 "
        "TM, Landsat 7 ETM+, Landsat 8/9 OLI (platform 'landsat-8'...) and Sentinel-2A/B/C "
        "MSI (platform 'sentinel-2a'...)."
    )


def _band_fields(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Return per-band ``name``, ``common_name``, ``scale``, ``offset``, ``nodata`` of an asset.

    Reads STAC 1.0 (``eo:bands`` and ``raster:bands``) and STAC 1.1 (``bands`` with
    ``eo:common_name``, ``raster:scale``, ``raster:offset``, ``nodata``, which may also sit
    on the asset itself). An asset without band fields counts as one band.
    """
    if "eo:bands" in fields or "raster:bands" in fields:
        eo = [b for b in fields.get("eo:bands") or [] if isinstance(b, dict)]
        raster = [b for b in fields.get("raster:bands") or [] if isinstance(b, dict)]
        count = max(len(eo), len(raster), 1)
        return [
            {**(raster[i] if i < len(raster) else {}), **(eo[i] if i < len(eo) else {})}
            for i in range(count)
        ]
    bands = [b for b in fields.get("bands") or [{}] if isinstance(b, dict)] or [{}]
    return [
        {
            "name": merged.get("name"),
            "common_name": merged.get("eo:common_name"),
            "scale": merged.get("raster:scale"),
            "offset": merged.get("raster:offset"),
            "nodata": merged.get("nodata"),
        }
        for merged in ({**fields, **b} for b in bands)
    ]


def _norm_number(number: str) -> str:
    return number.lstrip("0").upper()


def _token_role(token: str, sensor: Sensor) -> str | None:
    """Map a band name, common name or asset key to a role of ``sensor``, or None."""
    token = token.strip().lower()
    match = _BAND_NAME.match(token)
    if match:
        number = _norm_number(match.group(1))
        return next((b.role for b in sensor.bands if _norm_number(b.number) == number), None)
    for role in COMMON_NAME_ROLES.get(token, ()):
        if role in sensor.roles:
            return role
    return token if token in sensor.roles else None


def _asset_role(key: str, asset: pystac.Asset, sensor: Sensor) -> str | None:
    """Return the band role of a single-band asset: band name, then common name, then key."""
    bands = _band_fields(asset.extra_fields)
    if len(bands) != 1:
        return None  # visual/TCI and other multi-band assets are not bands
    for token in (bands[0].get("name"), bands[0].get("common_name"), key):
        role = _token_role(str(token), sensor) if token else None
        if role is not None:
            return role
    return None


def _band_assets(item: pystac.Item, sensor: Sensor, source: str) -> dict[str, str]:
    """Return ``{role: asset key}`` in the sensor's band order."""
    claims: dict[str, list[str]] = {}
    for key, asset in item.assets.items():
        role = _asset_role(key, asset, sensor)
        if role is not None:
            claims.setdefault(role, []).append(key)
    chosen: dict[str, str] = {}
    for role in sensor.roles:
        keys = claims.get(role, [])
        if len(keys) > 1:
            keys = [k for k in keys if not k.lower().endswith(_JP2_SUFFIX)]
        if len(keys) > 1:
            raise BandError(
                f"{source}: assets {', '.join(map(repr, keys))} all map to band role {role!r}; "
                "remove the extra ones from the item."
            )
        if keys:
            chosen[role] = keys[0]
    return chosen


def _asset_path(item: pystac.Item, key: str, what: str, source: str) -> str:
    """Return the local path GDAL opens for an asset; refuse anything remote."""
    href = item.assets[key].href
    scheme = urlsplit(href).scheme.lower()
    if scheme not in ("", "file") or _NETWORK_VSI.search(href):
        raise ProductError(
            f"{source}: asset {key!r} ({what}) is remote ({href}); geo never downloads data. "
            "Download the asset first (e.g. `stac-asset download ITEM.json DIR`, after "
            "signing Planetary Computer hrefs) and point its href at the local file "
            "(relative hrefs are resolved against the item file), or use a local copy."
        )
    if href.startswith("/vsi"):
        return href
    absolute = item.assets[key].get_absolute_href() or href
    return unquote(urlsplit(absolute).path) if scheme == "file" else absolute


def _scaling(
    band: dict[str, Any], info: RasterInfo, key: str, source: str
) -> tuple[float, float, str]:
    """Return ``(mult, add, where from)``: raster extension, else the file's own, else refuse."""
    scale, offset = band.get("scale"), band.get("offset")
    if scale is not None or offset is not None:
        fix = (
            "The item is damaged; fix the asset's raster:bands (e.g. scale 2.75e-05, offset -0.2)."
        )
        what = f"{source}: asset {key!r} raster:bands"
        mult = 1.0
        if scale is not None:
            mult = finite_number(
                scale, what=f"{what} scale", positive=True, fix=fix, error=MetadataError
            )
        add = 0.0
        if offset is not None:
            add = finite_number(offset, what=f"{what} offset", fix=fix, error=MetadataError)
        return mult, add, "raster:bands"
    fix = (
        "The file's scale/offset metadata is damaged; repair it (`gdal_edit.py -scale ...`) "
        "or give raster:bands scale and offset in the item."
    )
    what = f"{source}: asset {key!r}: the file's GDAL"
    file_scale = finite_number(
        info.scales[0], what=f"{what} scale", positive=True, fix=fix, error=MetadataError
    )
    file_offset = finite_number(
        info.offsets[0], what=f"{what} offset", fix=fix, error=MetadataError
    )
    if file_scale != 1 or file_offset != 0:
        return file_scale, file_offset, "file"
    if np.issubdtype(np.dtype(info.dtype), np.integer):
        raise MetadataError(
            f"{source}: asset {key!r} holds {info.dtype} values with no scale or offset, "
            "neither in the item (raster:bands scale/offset) nor in the file, so they are not "
            'reflectance. Add raster:bands [{"scale": ..., "offset": ...}] to the asset '
            "(e.g. Sentinel-2 L2A: 0.0001 and -0.1 from processing baseline 04.00, 0 before)."
        )
    return 1.0, 0.0, "none"


def _qa_assets(item: pystac.Item, family: _Family, source: str) -> dict[str, str]:
    """Return ``{QA layer: asset key}``; asset keys match case-insensitively (``SCL``)."""
    keys = {k.lower(): k for k in item.assets}
    found = {name: keys[name] for name in family.qa_assets if name in keys}
    for name in family.qa_assets:
        if name not in found:
            logger.warning("%s: the item has no %r asset; its masks are skipped", source, name)
    return found


def _open_asset(
    item: pystac.Item, key: str, name: str, *, source: str, chunk: int, scaled: bool
) -> _Layer:
    """Open one asset lazily; ``scaled`` reads its scale and offset (bands, not QA)."""
    band = _band_fields(item.assets[key].extra_fields)[0]
    path = _asset_path(item, key, name, source)
    label = f"asset {key!r} ({name})"
    info = probe(path, label=label)
    scaling = _scaling(band, info, key, source) if scaled else None
    nodata = info.nodata if band.get("nodata") is None else float(band["nodata"])
    return _Layer(name, key, path, open_band(path, label=label, chunk=chunk), nodata, scaling)


def _target_resolution(layers: list[_Layer], resolution: float | None, source: str) -> float:
    """Return the analysis pixel size: the only one, or ``resolution`` if a layer has it."""
    sizes: dict[float, list[str]] = {}
    for layer in layers:
        size = next((s for s in sizes if math.isclose(s, layer.pixel_size)), layer.pixel_size)
        sizes.setdefault(size, []).append(layer.name)
    listing = "; ".join(f"{s:g} m: {', '.join(n)}" for s, n in sorted(sizes.items()))
    if resolution is None:
        if len(sizes) == 1:
            return next(iter(sizes))
        raise InvalidParameterError(
            f"{source}: the bands come at several pixel sizes ({listing}). Pass resolution= "
            f"one of {', '.join(f'{s:g}' for s in sorted(sizes))} to resample every band onto "
            "the grid of the bands at that pixel size."
        )
    match = [s for s in sizes if math.isclose(s, resolution)]
    if not match:
        raise InvalidParameterError(
            f"The 'resolution' parameter of open_stac_item must be the pixel size of some "
            f"of the item's bands ({listing}). Got {resolution!r} instead."
        )
    return match[0]


def _method(pixel_size: float, target: float, *, qa: bool) -> str:
    """Resampling method name: none, nearest (QA), average (finer), bilinear (coarser)."""
    if math.isclose(pixel_size, target):
        return "none"
    if qa:
        return "nearest"
    return "average" if pixel_size < target else "bilinear"


def _on_grid(layer: _Layer, like: xr.DataArray, method: str, source: str) -> xr.DataArray:
    """Return the layer's values on the grid of ``like``, resampled chunk by chunk.

    Bands come back as float32 with NaN for nodata; QA layers keep their integer type,
    with their nodata (or 0) outside the footprint.
    """
    if method == "none":
        return layer.raw
    _check_footprint(layer, like, source)
    dtype = layer.raw.dtype if method == "nearest" else np.dtype("float32")
    fill = np.nan if method != "nearest" else (0 if layer.nodata is None else layer.nodata)
    block = partial(
        _warp_block,
        path=layer.path,
        transform=like.rio.transform(),
        crs=like.rio.crs,
        resampling=Resampling[method],
        src_nodata=layer.nodata,
        fill=fill,
        dtype=dtype.name,
    )
    data = da.map_blocks(block, chunks=like.chunks, dtype=dtype, meta=np.array((), dtype=dtype))
    return xr.DataArray(data, coords=like.coords, dims=like.dims)


def _check_footprint(layer: _Layer, like: xr.DataArray, source: str) -> None:
    """Require the same CRS and the same bounds (within half the coarser pixel)."""
    if layer.raw.rio.crs != like.rio.crs:
        raise CRSError(
            f"{source}: {layer.label} has CRS {layer.raw.rio.crs} but the analysis grid has "
            f"{like.rio.crs}; all assets of an item must share one CRS."
        )
    tolerance = max(layer.pixel_size, abs(like.rio.transform().a)) / 2
    theirs, ours = layer.raw.rio.bounds(), like.rio.bounds()
    if any(abs(a - b) > tolerance for a, b in zip(theirs, ours, strict=True)):
        raise GridMismatchError(
            f"{source}: {layer.label} covers {tuple(theirs)} but the analysis grid covers "
            f"{tuple(ours)}; the assets of one item must cover the same footprint."
        )


def _warp_block(
    *,
    path: str,
    transform: Affine,
    crs: CRS,
    resampling: Resampling,
    src_nodata: float | None,
    fill: float,
    dtype: str,
    block_info: dict | None = None,
) -> np.ndarray:
    """Read one output chunk of ``path`` resampled onto the target grid (dask block)."""
    assert block_info is not None  # dask passes it to a block function that takes it
    (row0, row1), (col0, col1) = block_info[None]["array-location"]
    window = Window(col0, row0, col1 - col0, row1 - row0)
    nodata = {} if src_nodata is None else {"src_nodata": src_nodata}
    try:
        with (
            rasterio.open(path) as src,
            WarpedVRT(
                src,
                crs=crs,
                transform=window_transform(window, transform),
                width=col1 - col0,
                height=row1 - row0,
                resampling=resampling,
                nodata=fill,
                dtype=dtype,
                **nodata,
            ) as vrt,
        ):
            return vrt.read(1)
    except READ_ERRORS as exc:
        what = f"the pixels under analysis-grid rows {row0}-{row1 - 1}, cols {col0}-{col1 - 1}"
        error = read_error(path, exc, what=what)
    raise error  # outside the except block: no GDAL context to pickle (distributed)


def _dn_to_reflectance(
    dn: xr.DataArray, mult: float, add: float, nodata: float | None
) -> xr.DataArray:
    """Scale DN to float32 reflectance; ``nodata`` and NaN become NaN. Lazy on dask input."""
    return scale_values(dn, mult, add, nodata=(nodata,))


def _date(item: pystac.Item) -> str:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:  # pystac refuses to load such an item; this narrows the type
        raise MetadataError(f"STAC item {item.id!r}: neither datetime nor start_datetime.")
    return when.date().isoformat()


def _file_on_disk(gdal_path: str) -> str | None:
    """Return the file a GDAL path reads: itself, or the archive behind ``/vsizip/`` etc."""
    handler = _VSI_HANDLER.match(gdal_path)
    if handler is None:
        return gdal_path
    inner = Path(gdal_path[handler.end() :])
    return next((str(p) for p in (inner, *inner.parents) if p.is_file()), None)
