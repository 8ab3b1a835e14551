"""Sentinel-2 MSI Level-2A and Level-1C products: SAFE folder, its product XML, or the ESA ``.zip``.

Radiometry (DOMAIN.md §1.5 "Sentinel-2 L2A", from ESA text [V STEP forum]):

- reflectance = (DN + offset) / quantification, DN 0 = NO_DATA → NaN;
- the quantification value is ``BOA_QUANTIFICATION_VALUE`` (L2A) or ``QUANTIFICATION_VALUE``
  (L1C), read from the product XML, never assumed;
- the offset is ``BOA_ADD_OFFSET`` (L2A) / ``RADIO_ADD_OFFSET`` (L1C), keyed by ``band_id``
  and mapped to a physical band through ``Spectral_Information[@bandId]/@physicalBand``
  (never by position). It applies from processing baseline 04.00 on, chosen by **baseline,
  not date**: the Collection-1 reprocessing (05.xx) carries it on old acquisitions too. Before
  04.00 the offset is 0; a ≥ 04.00 product without the list gets 0 and a logged warning.

Layout (DOMAIN.md §1.5): ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` at the SAFE root and the band
files under ``GRANULE/<granule>/IMG_DATA`` (L2A: ``R10m|R20m|R60m``). Three band-file naming
forms are accepted: ``T33SWC_20190607T095031_B12_20m.jp2``, the 2017 Sen2Cor
``L2A_T21NUE_…_B08_10m.jp2`` and the very old ``S2A_USER_MSI_L2A_TL_…_B08_10m.jp2``
(L1C: ``T33SWC_…_B12.jp2``, no resolution suffix). Each band is read from its native-resolution
file (band table and GSD: DOMAIN.md §1.3, :data:`geo.sensors.MSI_BANDS`); B10 (cirrus) exists
in L1C only.

One grid: every layer is put on the tile's own grid at ``resolution`` (10, 20 or 60 m). The
three grids share the tile's upper-left corner, so every resampling is an exact integer factor
on aligned pixels and is done lazily, chunk by chunk, on the dask arrays:

- finer reflectance → coarser: **average** of the k × k pixels (xarray ``coarsen(...).mean()``,
  NaN-aware: nodata pixels are left out of the mean; a block with no valid pixel is NaN);
- coarser reflectance → finer: **bilinear** on pixel centres with edge clamping, weights
  renormalised over valid neighbours so nodata does not bleed in; a fine pixel is NaN exactly
  where the coarse pixel containing it is nodata (the nodata footprint is not grown or shrunk);
- SCL (L2A, 20 m) → **nearest** only, so class values are never blended (DOMAIN.md §1.5
  [V Sentinel Hub forum]).

``rioxarray``'s ``reproject_match`` is not used: on dask arrays it loads whole bands, and a
general warp is not needed for aligned integer factors.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import xarray as xr

from geo.errors import (
    GridMismatchError,
    InputNotFoundError,
    InvalidParameterError,
    MetadataError,
    ProductError,
)
from geo.io._raster import DEFAULT_CHUNK, PreviewSource, open_band
from geo.io.scene import Scene
from geo.sensors import BandInfo, get_sensor

__all__ = ["RESOLUTIONS", "is_sentinel2", "open_sentinel2"]

logger = logging.getLogger(__name__)

#: The tile's own grids in metres; ``open_sentinel2(resolution=...)`` takes one of these.
RESOLUTIONS: tuple[float, ...] = (10.0, 20.0, 60.0)

#: Product XML at the SAFE root: ``MTD_MSIL2A.xml``, ``MTD_MSIL1C.xml``, and the pre-2017
#: long names (``S2A_USER_MTD_SAFL2A_…xml``, ``S2A_OPER_MTD_SAFL1C_…xml``) [U: old names].
_PRODUCT_XML = re.compile(r"(?:\w+_)?MTD_(?:MSI|SAF)L(?:1C|2A)\w*\.xml", re.IGNORECASE)
_BAND_TOKEN = re.compile(r"B(?:0[1-9]|1[0-2]|8A)", re.IGNORECASE)
_RES_TOKEN = re.compile(r"(\d{2})m", re.IGNORECASE)
#: SCL class values 0–11 (DOMAIN.md §1.5); its native grid is 20 m.
_SCL_RESOLUTION = 20.0
_L2A_QUANTIFICATION = ("BOA_QUANTIFICATION_VALUE", "L2A_BOA_QUANTIFICATION_VALUE")
#: Processing baseline from which the radiometric offset applies (DOMAIN.md §1.5).
_OFFSET_BASELINE = (4, 0)


@dataclass(frozen=True)
class _Safe:
    """Where a SAFE product's pieces are, whether in a folder or a zip read in place."""

    name: str  # SAFE folder name, e.g. "S2A_MSIL2A_..._T33SWC_....SAFE"
    location: str  # the SAFE folder as named in messages ("/x/y.SAFE", "/x/y.zip!y.SAFE")
    xml: bytes
    xml_source: str  # the product XML as named in messages
    members: tuple[str, ...]  # files under GRANULE/, POSIX paths relative to the SAFE root
    resolve: Callable[[str], str]  # relative member path -> path GDAL opens
    files: tuple[str, ...]  # what Scene.files records before the band files
    archive: bool  # read in place from a zip: members are not files of their own


@dataclass(frozen=True)
class _ProductInfo:
    """What the reader takes from the product XML."""

    level: str  # "L2A" or "L1C"
    product_uri: str | None
    baseline: str
    spacecraft: str
    start_time: str
    date: str
    cloud_cover: float | None
    quantification: float
    offsets: dict[str, float] | None  # band code ("B01", "B8A") -> DN offset; None: no list


def is_sentinel2(path: Path) -> bool:
    """Tell cheaply whether ``path`` looks like a Sentinel-2 SAFE product.

    True for a ``*.SAFE`` folder (or a folder holding ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml``),
    for a product XML itself, and for a ``.zip`` whose single top folder is ``*.SAFE`` (only
    the zip's central directory is read). Nothing is decoded.

    Parameters
    ----------
    path : Path
        A candidate scene path.

    Returns
    -------
    bool
        Whether :func:`open_sentinel2` should be tried on ``path``.

    Examples
    --------
    >>> is_sentinel2(Path("nowhere/S2A_MSIL2A_20190607T095031_N0212_R079_T33SWC_X.SAFE"))
    False
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        return name.upper().endswith(".SAFE") or any(
            (path / xml).is_file() for xml in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
        )
    if not path.is_file():
        return False
    if name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                return _safe_top_folder(zf.namelist()) is not None
        except (zipfile.BadZipFile, OSError):
            return False
    return _PRODUCT_XML.fullmatch(name) is not None


def open_sentinel2(
    path: str | Path, *, resolution: float = 20.0, chunk: int = DEFAULT_CHUNK
) -> Scene:
    """Open a Sentinel-2 L2A or L1C product on one grid of the tile.

    Parameters
    ----------
    path : str or Path
        The ``*.SAFE`` folder, its ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml``, or the ESA ``.zip``
        (read in place through GDAL ``/vsizip/``, never extracted).
    resolution : float
        Output pixel size in metres: 10, 20 (default; where the SWIR bands live) or 60. The
        grid is the tile's own grid at that resolution.
    chunk : int
        Target chunk edge in output pixels (snapped to the files' internal tiles).

    Returns
    -------
    Scene
        ``reflectance``: ``(band, y, x)`` float32, dask-backed, NaN where DN is 0 (no data);
        bands are the sensor roles in band order (``coastal`` … ``swir2``), ``cirrus`` (B10)
        only for L1C. ``qa``: ``{"scl": uint8 (y, x)}`` for L2A on the same grid, ``{}`` for
        L1C. ``metadata``: scaling and resampling per band, baseline, offset source, grid.
        ``files``: the product XML and band files read, or the ``.zip`` itself.

    Raises
    ------
    InvalidParameterError
        ``resolution`` is not 10, 20 or 60.
    InputNotFoundError
        ``path`` or a band file is missing (the message names the band and folder).
    ProductError
        Not a readable single-tile SAFE product (no product XML, no GRANULE, several
        granules, unknown spacecraft, band file at the wrong resolution).
    MetadataError
        The product XML is malformed or lacks a required element (quantification value,
        processing baseline, an offset for a band).
    GridMismatchError
        A band file does not cover the tile's extent in the tile's CRS.
    """
    target = _check_resolution(resolution)
    path = Path(path)
    safe = _locate(path)
    info = _parse_product_xml(safe.xml, safe.xml_source)
    sensor = get_sensor("sentinel2_msi")
    if info.spacecraft not in sensor.platforms:
        raise ProductError(
            f"{safe.xml_source}: SPACECRAFT_NAME is {info.spacecraft!r}; this reader handles "
            f"{', '.join(sensor.platforms)}."
        )
    granule, images = _image_index(safe)
    offsets, offset_source = _choose_offsets(info, safe.xml_source)
    bands = [b for b in sensor.bands if info.level == "L1C" or b.role != "cirrus"]

    members: dict[str, str] = {}
    raw: dict[str, xr.DataArray] = {}
    for band in bands:
        code = f"B{band.number}"
        members[band.role] = _band_member(images, code, band, info.level, granule, safe)
        label = f"{code} ({band.role})"
        raw[band.role] = _open_native(safe, members[band.role], band.gsd_m, label, chunk, target)
    ref = raw[next(b.role for b in bands if b.gsd_m == target)]

    layers: dict[str, xr.DataArray] = {}
    scaling: dict[str, dict[str, float | str]] = {}
    previews: dict[str, PreviewSource] = {}
    for band in bands:
        code = f"B{band.number}"
        offset = _band_offset(offsets, code, safe.xml_source)
        method = _method(band.gsd_m, target, categorical=False)
        refl = _dn_to_reflectance(raw[band.role], offset, info.quantification)
        label = f"{code} ({PurePosixPath(members[band.role]).name})"
        layers[band.role] = _to_grid(refl, ref, method, label=label, source=safe.xml_source)
        scaling[band.role] = {
            "band": code,
            "file": PurePosixPath(members[band.role]).name,
            "mult": 1.0 / info.quantification,
            "add": offset / info.quantification,
            "native_resolution_m": band.gsd_m,
            "resampling": method,
        }
        # _to_grid checked that the band's file covers the tile's grid exactly
        previews[band.role] = PreviewSource(
            safe.resolve(members[band.role]),
            1,
            1.0 / info.quantification,
            offset / info.quantification,
            (0,),
        )

    qa: dict[str, xr.DataArray] = {}
    qa_resampling: dict[str, str] = {}
    if info.level == "L2A":
        members["scl"] = _band_member(images, "SCL", None, info.level, granule, safe)
        scl = _open_native(safe, members["scl"], _SCL_RESOLUTION, "SCL", chunk, target)
        qa_resampling["scl"] = _method(_SCL_RESOLUTION, target, categorical=True)
        qa["scl"] = _to_grid(scl, ref, qa_resampling["scl"], label="SCL", source=safe.xml_source)
        qa["scl"] = qa["scl"].astype("uint8").rename("scl")

    reflectance = xr.concat(list(layers.values()), dim="band", coords="minimal", compat="override")
    reflectance = reflectance.assign_coords(band=list(layers)).rename("reflectance")
    scene_id = _scene_id(info, safe)
    reflectance.attrs = {
        "sensor": sensor.name,
        "platform": info.spacecraft,
        "scene_id": scene_id,
        "date": info.date,
        "processing_level": info.level,
        "units": "reflectance (unitless)"
        if info.level == "L2A"
        else "top-of-atmosphere reflectance (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "sentinel2_safe",
        "xml": safe.xml_source,
        "scene_id": scene_id,
        "spacecraft": info.spacecraft,
        "sensor": sensor.name,
        "processing_level": info.level,
        "processing_baseline": info.baseline,
        "date_acquired": info.date,
        "product_start_time": info.start_time,
        "cloud_cover": info.cloud_cover,
        "quantification": info.quantification,
        "offset_source": offset_source,
        "fill_dn": 0,
        "granule": granule,
        "resolution_m": target,
        "bands": scaling,
        "qa_layers": sorted(qa),
        "qa_kind": "sentinel2_scl" if qa else None,
        "qa_resampling": qa_resampling,
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    files = list(safe.files)
    if not safe.archive:  # an archive is recorded as itself, not as /vsizip/ members
        files += [safe.resolve(m) for m in members.values()]
    return Scene(reflectance, qa, metadata, files, previews)


# --------------------------------------------------------------------------- locating


def _check_resolution(resolution: float) -> float:
    """Return ``resolution`` as a float in :data:`RESOLUTIONS`, else raise."""
    try:
        value = float(resolution)
    except (TypeError, ValueError):
        value = float("nan")
    if value not in RESOLUTIONS:
        raise InvalidParameterError(
            "The 'resolution' parameter of open_sentinel2 must be one of the tile's grids, "
            f"10, 20 or 60 (metres). Got {resolution!r} instead."
        )
    return value


def _safe_top_folder(names: list[str]) -> str | None:
    """Return the single top folder of zip member ``names`` if it is a ``*.SAFE``, else None."""
    tops = {name.split("/", 1)[0] for name in names if name}
    if len(tops) != 1:
        return None
    top = tops.pop()
    return top if top.upper().endswith(".SAFE") else None


def _product_xml_name(names: list[str], where: str) -> str:
    """Pick the product XML among the SAFE root's file ``names``; raise when none or several."""
    found = sorted(n for n in names if _PRODUCT_XML.fullmatch(n))
    if not found:
        raise ProductError(
            f"{where}: no MTD_MSIL2A.xml or MTD_MSIL1C.xml at the top of the SAFE product; "
            "point the scene at the *.SAFE folder (or the .zip) ESA delivers."
        )
    if len(found) > 1:
        raise ProductError(f"{where}: holds several product XMLs ({', '.join(found)}); give one.")
    return found[0]


def _locate(path: Path) -> _Safe:
    if path.is_file() and path.name.lower().endswith(".zip"):
        return _locate_zip(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: Sentinel-2 product not found.")
    if path.is_dir():
        root = path
        xml_path = root / _product_xml_name(
            [p.name for p in root.iterdir() if p.is_file()], str(root)
        )
    else:
        root, xml_path = path.parent, path
    try:
        xml = xml_path.read_bytes()
    except OSError as exc:
        raise InputNotFoundError(f"{xml_path}: cannot read the product XML ({exc}).") from None
    members = tuple(
        p.relative_to(root).as_posix() for p in sorted((root / "GRANULE").rglob("*")) if p.is_file()
    )

    def resolve(member: str) -> str:
        return str(root / member)

    return _Safe(
        root.name, str(root), xml, str(xml_path), members, resolve, (str(xml_path),), False
    )


def _locate_zip(path: Path) -> _Safe:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            top = _safe_top_folder(names)
            if top is None:
                raise ProductError(
                    f"{path}: not a Sentinel-2 SAFE archive; its top level should be one "
                    "*.SAFE folder (the .zip ESA delivers)."
                )
            relative = [n[len(top) + 1 :] for n in names]
            xml_name = _product_xml_name([r for r in relative if "/" not in r], str(path))
            xml = zf.read(f"{top}/{xml_name}")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProductError(
            f"{path}: cannot read the zip archive ({exc}); truncated download?"
        ) from None
    absolute = path.resolve()

    def resolve(member: str) -> str:
        return f"/vsizip/{absolute}/{top}/{member}"

    members = tuple(r for r in relative if r.startswith("GRANULE/"))
    location = f"{path}!{top}"
    return _Safe(top, location, xml, f"{location}/{xml_name}", members, resolve, (str(path),), True)


def _parse_image_name(name: str) -> tuple[str, float | None] | None:
    """Return ``(band code, resolution m or None)`` for a band or SCL file name, else None.

    Examples
    --------
    >>> _parse_image_name("T33SWC_20190607T095031_B12_20m.jp2")
    ('B12', 20.0)
    >>> _parse_image_name("S2A_USER_SCL_L2A_TL_SGS__20160309T141637_A003741_T20LQR_20m.jp2")
    ('SCL', 20.0)
    >>> _parse_image_name("T33SWC_20190607T095031_B8A.jp2"), _parse_image_name("X_TCI_10m.jp2")
    (('B8A', None), None)
    """
    if not name.lower().endswith(".jp2"):
        return None
    tokens = name[: -len(".jp2")].split("_")
    resolution = None
    match = _RES_TOKEN.fullmatch(tokens[-1])
    if match:
        resolution = float(match.group(1))
        tokens = tokens[:-1]
    if _BAND_TOKEN.fullmatch(tokens[-1]):
        return tokens[-1].upper(), resolution
    if "SCL" in (t.upper() for t in tokens):
        return "SCL", resolution
    return None


def _image_index(safe: _Safe) -> tuple[str, dict[tuple[str, float | None], str]]:
    """Index the granule's ``IMG_DATA`` files by (band code, resolution); one granule only."""
    granules = sorted({m.split("/")[1] for m in safe.members if m.count("/") >= 2})
    if not granules:
        raise ProductError(
            f"{safe.xml_source}: the SAFE product has no GRANULE/<granule>/IMG_DATA files "
            "(incomplete download or extraction?)."
        )
    if len(granules) > 1:
        raise ProductError(
            f"{safe.xml_source}: holds {len(granules)} granules ({', '.join(granules)}); "
            "geo reads single-tile products."
        )
    images: dict[tuple[str, float | None], str] = {}
    for member in safe.members:
        parts = member.split("/")
        in_img_data = len(parts) > 3 and parts[2] == "IMG_DATA"
        parsed = _parse_image_name(parts[-1]) if in_img_data else None
        if parsed is None:
            continue
        if parsed in images:
            raise ProductError(
                f"{safe.xml_source}: two files for {parsed[0]} at {parsed[1]} m: "
                f"{images[parsed]} and {member}."
            )
        images[parsed] = member
    return granules[0], images


def _band_member(
    images: dict[tuple[str, float | None], str],
    code: str,
    band: BandInfo | None,
    level: str,
    granule: str,
    safe: _Safe,
) -> str:
    """Return the member holding ``code`` at its native resolution, or raise naming it."""
    native = band.gsd_m if band is not None else _SCL_RESOLUTION
    key = (code, native if level == "L2A" else None)
    if key in images:
        return images[key]
    if level == "L2A":
        folder = f"GRANULE/{granule}/IMG_DATA/R{native:g}m"
        expected = f"*_{code}_{native:g}m.jp2"
    else:
        folder = f"GRANULE/{granule}/IMG_DATA"
        expected = f"*_{code}.jp2"
    others = sorted(f"{r:g} m" if r else "no resolution suffix" for c, r in images if c == code)
    seen = f"; the product has {code} only at {', '.join(others)}" if others else ""
    role = f" ({band.role})" if band is not None else ""
    raise InputNotFoundError(
        f"{safe.location}: band {code}{role} at its native {native:g} m is missing: expected "
        f"{expected} in {folder}{seen}. The product is incomplete; download it again."
    )


# --------------------------------------------------------------------------- product XML


def _local(tag: str) -> str:
    """Strip the ``{namespace}`` from an element tag (namespaces vary between versions)."""
    return tag.rsplit("}", 1)[-1]


def _elements(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if _local(e.tag) == name]


def _optional_text(root: ET.Element, name: str) -> str | None:
    """Return the text of the first non-empty element with local name ``name``, or None."""
    for element in _elements(root, name):
        if element.text and element.text.strip():
            return element.text.strip()
    return None


def _text(root: ET.Element, names: tuple[str, ...], source: str) -> str:
    """Text of the first element named like one of ``names``; MetadataError when absent."""
    for name in names:
        text = _optional_text(root, name)
        if text is not None:
            return text
    raise MetadataError(
        f"{source}: the product XML has no {' or '.join(names)} element; is the file complete?"
    )


def _number(
    text: str, what: str, source: str, *, positive: bool = False, usual: str | None = None
) -> float:
    """Return ``text`` as a finite float (> 0 if ``positive``); else one-line MetadataError.

    A damaged product XML can hold ``nan``, ``inf``, ``0`` or text where a scaling number
    belongs; reflectance computed from it would be NaN or 0 everywhere.

    Examples
    --------
    >>> _number("10000", "BOA_QUANTIFICATION_VALUE", "MTD_MSIL2A.xml", positive=True)
    10000.0
    >>> _number("inf", "BOA_QUANTIFICATION_VALUE", "MTD_MSIL2A.xml", positive=True, usual="10000")
    Traceback (most recent call last):
    ...
    geo.errors.MetadataError: MTD_MSIL2A.xml: BOA_QUANTIFICATION_VALUE is 'inf'; expected a finite, positive number (ESA gives 10000). The metadata file is damaged; download the product again.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if math.isfinite(value) and (value > 0 or not positive):
        return value
    expected = "a finite, positive number" if positive else "a finite number"
    hint = f" (ESA gives {usual})" if usual else ""
    raise MetadataError(
        f"{source}: {what} is {text!r}; expected {expected}{hint}. The metadata file is "
        "damaged; download the product again."
    )


def _baseline(text: str, source: str) -> tuple[int, int]:
    """Parse a processing baseline ``"05.09"`` into ``(5, 9)``.

    Examples
    --------
    >>> _baseline("05.09", "x"), _baseline("02.14", "x") < (4, 0)
    ((5, 9), True)
    """
    match = re.fullmatch(r"(\d{1,2})\.(\d{1,2})", text)
    if match is None:
        raise MetadataError(
            f"{source}: PROCESSING_BASELINE should look like '05.09', got {text!r}."
        )
    return int(match.group(1)), int(match.group(2))


def _band_code(physical: str) -> str:
    """Physical band name as in the XML (``B1``, ``B8A``) → file-name code (``B01``, ``B8A``)."""
    match = re.fullmatch(r"B(\d{1,2})(A?)", physical.strip().upper())
    if match is None:
        return physical
    number, suffix = int(match.group(1)), match.group(2)
    return f"B{number}{suffix}" if suffix else f"B{number:02d}"


def _offset_list(root: ET.Element, tag: str, source: str) -> dict[str, float] | None:
    """Offsets ``tag[@band_id]`` mapped to band codes through ``Spectral_Information``."""
    items = _elements(root, tag)
    if not items:
        return None
    physical = {
        e.get("bandId"): _band_code(e.get("physicalBand", ""))
        for e in _elements(root, "Spectral_Information")
    }
    offsets: dict[str, float] = {}
    for item in items:
        band_id = item.get("band_id")
        if band_id not in physical:
            raise MetadataError(
                f"{source}: {tag}[@band_id={band_id!r}] has no "
                f"Spectral_Information[@bandId={band_id!r}] naming its physical band."
            )
        what = f"{tag}[@band_id={band_id}]"
        offsets[physical[band_id]] = _number(
            (item.text or "").strip(), what, source, usual="-1000 from baseline 04.00"
        )
    return offsets


def _parse_product_xml(data: bytes, source: str) -> _ProductInfo:
    """Read level, baseline, spacecraft, date, cloud cover and scaling from the product XML."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MetadataError(f"{source}: not a well-formed XML file ({exc}).") from None
    kind = _local(root.tag)
    quant_tags: tuple[str, ...]
    if kind.startswith("Level-2A"):
        # Sen2Cor 2.x products name it L2A_BOA_QUANTIFICATION_VALUE (seen in public readers)
        level, quant_tags, offset_tag = "L2A", _L2A_QUANTIFICATION, "BOA_ADD_OFFSET"
    elif kind.startswith("Level-1C"):
        level, quant_tags, offset_tag = "L1C", ("QUANTIFICATION_VALUE",), "RADIO_ADD_OFFSET"
    else:
        raise ProductError(
            f"{source}: root element <{kind}> is not a Sentinel-2 Level-2A or Level-1C "
            "user product (MTD_MSIL2A.xml / MTD_MSIL1C.xml)."
        )
    quantification = _number(
        _text(root, quant_tags, source), quant_tags[0], source, positive=True, usual="10000"
    )
    start_time = _text(root, ("PRODUCT_START_TIME",), source)
    if re.match(r"\d{4}-\d{2}-\d{2}", start_time) is None:
        raise MetadataError(
            f"{source}: PRODUCT_START_TIME should start with a YYYY-MM-DD date, got {start_time!r}."
        )
    cloud = _optional_text(root, "Cloud_Coverage_Assessment")
    return _ProductInfo(
        level=level,
        product_uri=_optional_text(root, "PRODUCT_URI"),
        baseline=_text(root, ("PROCESSING_BASELINE",), source),
        spacecraft=_text(root, ("SPACECRAFT_NAME",), source),
        start_time=start_time,
        date=start_time[:10],
        cloud_cover=None if cloud is None else _number(cloud, "Cloud_Coverage_Assessment", source),
        quantification=quantification,
        offsets=_offset_list(root, offset_tag, source),
    )


def _choose_offsets(info: _ProductInfo, source: str) -> tuple[dict[str, float], str]:
    """Offsets to apply and where they come from, chosen by processing baseline (not date)."""
    if _baseline(info.baseline, source) < _OFFSET_BASELINE:
        return {}, "none before 04.00"
    if info.offsets is None:
        tag = "BOA_ADD_OFFSET" if info.level == "L2A" else "RADIO_ADD_OFFSET"
        logger.warning(
            "%s: processing baseline %s (>= 04.00) but no %s list; using offset 0, so "
            "reflectance may be 0.1 too high",
            source,
            info.baseline,
            tag,
        )
        return {}, "missing list"
    return info.offsets, "baseline>=04.00"


def _band_offset(offsets: dict[str, float], code: str, source: str) -> float:
    """Return the DN offset of band ``code``: 0 when no offsets apply, else it must be listed."""
    if not offsets:
        return 0.0
    if code not in offsets:
        raise MetadataError(
            f"{source}: the offset list has no entry whose Spectral_Information physicalBand is "
            f"{code}; found {', '.join(sorted(offsets))}."
        )
    return offsets[code]


def _scene_id(info: _ProductInfo, safe: _Safe) -> str:
    name = info.product_uri or safe.name
    return name[: -len(".SAFE")] if name.upper().endswith(".SAFE") else name


# --------------------------------------------------------------------------- pixels


def _open_native(
    safe: _Safe, member: str, native: float, label: str, chunk: int, target: float
) -> xr.DataArray:
    """Open one band file lazily, in chunks aligned to its tiles (see :func:`_to_grid`).

    A finer band is averaged k x k, so its chunk edge is a multiple of k and of the file's
    tile, near two output chunks (k = 2: ``2 * chunk``, as before). It is not ``k * chunk``:
    at 10 m -> 60 m that is a 6144 px float32 chunk (150 MB) per task. A coarser band is read
    in whole tiles; :func:`_to_grid` splits them before upsampling.
    """
    source = safe.resolve(member)
    name = f"{label} {PurePosixPath(member).name}"
    if native < target:
        k = round(target / native)
        da = open_band(source, label=name, chunk=chunk * min(k, 2), multiple=k)
    else:
        edge = max(1, chunk // round(native / target))
        da = open_band(source, label=name, chunk=edge)
    got = abs(da.rio.resolution()[0])
    if not np.isclose(got, native):
        raise ProductError(f"{source}: {label} is at {got:g} m, expected its native {native:g} m.")
    return da


def _method(native: float, target: float, *, categorical: bool) -> str:
    """Resampling from ``native`` to ``target`` metres: none, nearest, average or bilinear.

    Examples
    --------
    >>> [_method(10, 20, categorical=False), _method(60, 20, categorical=False),
    ...  _method(20, 60, categorical=True), _method(20, 20, categorical=True)]
    ['average', 'bilinear', 'nearest', 'none']
    """
    if native == target:
        return "none"
    if categorical:
        return "nearest"
    return "average" if native < target else "bilinear"


def _dn_to_reflectance(dn: xr.DataArray, offset: float, quantification: float) -> xr.DataArray:
    """Scale a dask-backed DN band to reflectance, one task per chunk (see :func:`_scale`)."""
    data = dn.data.map_blocks(_scale, offset, quantification, dtype="float32")
    return dn.copy(data=data)


def _scale(dn: np.ndarray, offset: float, quantification: float) -> np.ndarray:
    """Return (DN + offset) / quantification as float32, NaN where DN is 0 (no data).

    Examples
    --------
    >>> _scale(np.array([0, 1000, 3500], dtype="uint16"), -1000.0, 10000.0).tolist()
    [nan, 0.0, 0.25]
    """
    out = (dn.astype("float32") + np.float32(offset)) / np.float32(quantification)
    out[dn == 0] = np.nan
    return out


def _to_grid(
    da: xr.DataArray, ref: xr.DataArray, method: str, *, label: str, source: str
) -> xr.DataArray:
    """Put ``da`` on ``ref``'s grid (same tile, integer resolution ratio) with ``method``."""
    if da.rio.crs != ref.rio.crs or not np.allclose(da.rio.bounds(), ref.rio.bounds(), atol=1e-3):
        raise GridMismatchError(
            f"{source}: {label} does not cover the tile's grid: CRS {da.rio.crs}, bounds "
            f"{da.rio.bounds()} vs CRS {ref.rio.crs}, bounds {ref.rio.bounds()}. Band files of "
            "one product must share the tile extent."
        )
    ref_chunks = ref.chunks
    assert ref_chunks is not None  # the tile grid is opened dask-backed
    ratio = abs(da.rio.resolution()[0]) / abs(ref.rio.resolution()[0])  # > 1: upsampling
    if method == "none":
        data = da.data
    elif method == "average":
        k = round(1 / ratio)
        # xarray's float mean skips NaN: no data is left out, an all-NaN block stays NaN
        data = da.coarsen(y=k, x=k, boundary="exact").mean().data
    elif method == "bilinear":
        k = round(ratio)
        data = _upsample_bilinear(_split_for_upsampling(da.data, ref_chunks, k), k)
    elif ratio > 1:  # nearest, upsampling
        k = round(ratio)
        data = _nearest(_split_for_upsampling(da.data, ref_chunks, k), k)
    else:
        data = _nearest(da.data, -round(1 / ratio))
    out = xr.DataArray(data, dims=("y", "x"), coords=ref.coords, name=da.name)
    return out.chunk(dict(zip(("y", "x"), ref_chunks, strict=True)))


def _split_for_upsampling(a, ref_chunks: tuple[tuple[int, ...], ...], k: int):
    """Rechunk a coarse dask array so each chunk, upsampled ``k`` times, is about one ref chunk.

    Coarse bands are read in whole file tiles (1024 px of B01 at 60 m is 3072 px at 20 m and
    6144 px at 10 m). Upsampled whole, each would be a chunk k² times the analysis chunk, with
    the bilinear kernel's temporaries on top, computed again for every block written
    downstream (measured on a full tile, B01 alone written block by block: +0.4 GB RSS at
    20 m, +1.3 GB at 10 m). Split first, each piece upsamples to about one analysis chunk;
    the read chunk itself is only sliced.
    """
    if not hasattr(a, "rechunk"):
        return a
    return a.rechunk(tuple(max(1, -(-max(c) // k)) for c in ref_chunks))


def _nearest(a, k: int):
    """Nearest neighbour on aligned grids: ``k > 0`` upsamples k times, ``k < 0`` downsamples.

    Each target pixel takes the source pixel containing its centre: repetition when
    upsampling, the central (lower-right of centre for even factors) pixel of each block when
    downsampling. Chunk-local on dask arrays.

    Examples
    --------
    >>> a = np.arange(9).reshape(3, 3)
    >>> _nearest(a, 2)[:2].tolist(), _nearest(a, -3).tolist()
    ([[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2]], [[4]])
    """
    if k > 0:
        return np.repeat(np.repeat(a, k, axis=0), k, axis=1)
    return a[-k // 2 :: -k, -k // 2 :: -k]


def _bilinear_kernel(padded: np.ndarray, k: int) -> np.ndarray:
    """Upsample the interior of an edge-padded block ``k`` times, bilinear and NaN-aware.

    ``padded`` carries a one-pixel halo on every side (edge-replicated at the tile border,
    which equals clamping to the outer pixel centres). Output pixel ``j`` sits at interior
    position ``(j + 0.5) / k - 0.5``, so its two taps always lie within the halo. Weights are
    renormalised over valid taps; an output pixel is NaN exactly where the interior pixel
    containing it is NaN.

    Examples
    --------
    >>> row = np.array([[0.0, 3.0, np.nan]], dtype="float32")
    >>> out = _bilinear_kernel(np.pad(row, 1, mode="edge"), 3)
    >>> out.shape, np.round(out[1], 3).tolist()
    ((3, 9), [0.0, 0.0, 1.0, 2.0, 3.0, 3.0, nan, nan, nan])
    """
    valid = ~np.isnan(padded)
    num = np.where(valid, padded, np.float32(0))
    den = valid.astype("float32")
    for axis in (0, 1):
        n = padded.shape[axis] - 2
        pos = (np.arange(n * k) + 0.5) / k + 0.5  # in padded coordinates, within [0.5, n + 0.5]
        i0 = np.floor(pos).astype(np.intp)
        w = (pos - i0).astype("float32")
        shape = (-1, 1) if axis == 0 else (1, -1)
        w = w.reshape(shape)
        num = np.take(num, i0, axis) * (1 - w) + np.take(num, i0 + 1, axis) * w
        den = np.take(den, i0, axis) * (1 - w) + np.take(den, i0 + 1, axis) * w
    inside = _nearest(valid[1:-1, 1:-1], k)
    value = num / np.where(den > 0, den, np.float32(1))
    return np.where(inside, value, np.float32(np.nan)).astype("float32")


def _upsample_bilinear(a, k: int):
    """Bilinear ``k``-times upsampling of a 2-D float32 dask array, chunk by chunk.

    Each chunk is processed with a one-pixel halo from its neighbours (``map_overlap``), so
    the result does not depend on the chunking; see :func:`_bilinear_kernel`.
    """
    chunks = tuple(tuple(c * k for c in axis) for axis in a.chunks)
    return a.map_overlap(
        _bilinear_kernel,
        depth=1,
        boundary="nearest",
        trim=False,
        chunks=chunks,
        dtype="float32",
        k=k,
    )
