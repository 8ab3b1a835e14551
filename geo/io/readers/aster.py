"""ASTER (Terra) VNIR + SWIR products: AST_L1T to TOA reflectance, AST_07XT surface reflectance.

Supported forms
---------------
- **GeoTIFF delivery** (AST_L1T and AST_07XT): a folder or ``.zip`` holding one georeferenced
  GeoTIFF per band, named ``<granule>...ImageData<n>.tif`` or ``<granule>...Band<n>.tif``
  (``n`` = 1, 2, 3N, 4..9; LP DAAC writes ``<granule>.VNIR_Swath.ImageData1.tif``), with
  the ECS metadata text (``.met`` / ``.txt``, ODL) beside them. AST_07XT comes as two
  granules (VNIR and SWIR) with the same acquisition stamp; both are read as one scene.
- **HDF-EOS granule** (AST_L1T only, needs the optional package ``pyhdf``; the GDAL in the
  rasterio wheel has no HDF4 driver): ``AST_L1T_<...>.hdf``, bands from the ``ImageData<n>``
  datasets, metadata from its ``coremetadata``/``productmetadata`` attributes, the grid from
  ``UPPERLEFTM`` (centre of the upper-left pixel, as the LP DAAC conversion scripts read it),
  ``UTMZONENUMBER``/``UTMZONECODE`` and ``NORTHBOUNDINGCOORDINATE``. AST_07XT HDF files are
  swath geometry without a north-up map grid and are refused.
- Not band data: ``_V.tif`` / ``_T.tif`` (full-resolution browse composites), ``_BR.hdf``.

Radiometry (DOMAIN.md §1.4-1.5)
-------------------------------
- AST_L1T: L = (DN - 1) x UCC[band, gain]; rho = pi L d^2 / (ESUN sin(sun elevation));
  gain per band from the ``GAIN`` objects, sun elevation from ``SOLARDIRECTION``
  (azimuth, elevation), d from the day of year of the acquisition.
- AST_07XT: rho = DN x scale (+ offset), the scale read from each band file (GDAL band scale
  or ``scale_factor`` tag). It is never assumed: LP DAAC documents both 0.001 and 0.0001.
- DN 0 is fill (NaN) in both; DN 1 of AST_L1T is radiance 0.

Grid
----
VNIR (15 m) and SWIR (30 m) are brought onto one grid: at 30 m the SWIR grid, VNIR averaged
over the 15 m pixels each 30 m pixel covers, area-weighted and NaN-aware (2 x 2 when the
grids nest; 3 x 3 with weights 1/4, 1/2, 1/4 per axis when pixel centres coincide, as in the
HDF convention); at 15 m the VNIR grid, SWIR interpolated bilinearly (NaN-aware). All lazy.

SWIR detector failure
---------------------
SWIR data acquired on or after 2008-04-01 are flagged, not dropped:
``reflectance.attrs["unusable_bands"]`` lists the SWIR roles and ``metadata["swir_failure"]``
records the rule.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from dask.base import tokenize

from geo.errors import (
    CRSError,
    GridMismatchError,
    InputNotFoundError,
    InvalidParameterError,
    MetadataError,
    ProductError,
)
from geo.io._raster import DEFAULT_CHUNK, check_same_grid, open_band, read_error, scale_values
from geo.io.scene import Scene
from geo.sensors import BandInfo, get_sensor

__all__ = [
    "RADIOMETRY",
    "SWIR_FAILURE_DATE",
    "SWIR_FAILURE_RULE",
    "Radiometry",
    "earth_sun_distance",
    "is_aster",
    "open_aster",
    "toa_factor",
]

logger = logging.getLogger(__name__)


class Radiometry(NamedTuple):
    """UCC per gain (W m-2 sr-1 um-1 per DN; None: no such gain) and ESUN (W m-2 um-1)."""

    ucc_high: float
    ucc_normal: float
    ucc_low1: float
    ucc_low2: float | None
    esun: float


#: Per-band calibration constants. UCC: Abrams (1999), as tabulated in the LP DAAC ASTER L1T
#: DN-to-reflectance script; ESUN: Thome et al. (2001). DOMAIN.md §1.5 "DN to radiance" and
#: "TOA reflectance". VNIR bands have no Low 2 gain.
RADIOMETRY: dict[str, Radiometry] = {
    "1": Radiometry(0.676, 1.688, 2.25, None, 1848.0),
    "2": Radiometry(0.708, 1.415, 1.89, None, 1549.0),
    "3N": Radiometry(0.423, 0.862, 1.15, None, 1114.0),
    "4": Radiometry(0.1087, 0.2174, 0.290, 0.290, 225.4),
    "5": Radiometry(0.0348, 0.0696, 0.0925, 0.409, 86.63),
    "6": Radiometry(0.0313, 0.0625, 0.0830, 0.390, 81.85),
    "7": Radiometry(0.0299, 0.0597, 0.0795, 0.332, 74.85),
    "8": Radiometry(0.0209, 0.0417, 0.0556, 0.245, 66.49),
    "9": Radiometry(0.0159, 0.0318, 0.0424, 0.265, 59.85),
}
#: Gain codes of the ``GAIN`` metadata (DOMAIN.md §1.5) -> Radiometry field. ``LOW`` is the
#: single low gain of VNIR, i.e. the "Low 1" column.
_GAIN_FIELD = {
    "HGH": "ucc_high",
    "NOR": "ucc_normal",
    "LOW": "ucc_low1",
    "LO1": "ucc_low1",
    "LO2": "ucc_low2",
}

#: ASTER SWIR User Advisory (2008), rule of DOMAIN.md §1.4: reject B4-B9 from this date on.
SWIR_FAILURE_DATE = date(2008, 4, 1)
SWIR_FAILURE_RULE = (
    "ASTER SWIR detector failure, data from 2008-04-01 on are refused for SWIR indices "
    "(ASTER SWIR User Advisory 2008)"
)

_VNIR_BANDS = ("1", "2", "3N")
_FILL_DN = 0
#: Granule name: AST_L1T_003MMDDYYYYHHMMSS_YYYYMMDDHHMMSS_NNNNN (DOMAIN.md §1.5); the
#: cloud-processed AST_07XT V004 names have no trailing random number.
_NAME = re.compile(
    r"^(?P<granule>AST_(?P<product>L1T|07XT)_\d{3}(?P<acquired>\d{14})_\d{14}(?:_\d+)?)"
)
_BAND_FILE = re.compile(r"(?:ImageData|Band)(?P<band>1|2|3N|[4-9])\.tiff?$", re.IGNORECASE)
_BAND_SDS = re.compile(r"(?:ImageData|Band)(?P<band>1|2|3N|[4-9])$", re.IGNORECASE)
_METADATA_SUFFIXES = (".met", ".txt")
_PRODUCTS = {
    "L1T": {"product": "aster_l1t", "level": "L1T", "units": "TOA reflectance"},
    "07XT": {"product": "aster_07xt", "level": "AST_07XT", "units": "surface reflectance"},
}
_HDF_LOCK = threading.Lock()  # the HDF4 library is not thread-safe


# --------------------------------------------------------------------------------------
# Public API


def is_aster(path: str | Path) -> bool:
    """Return True if ``path`` is named like an ASTER AST_L1T / AST_07XT granule or holds one.

    Only names are looked at (no file is opened): the path's own name, or for a folder the
    names of its entries.

    Parameters
    ----------
    path : str or Path
        A granule file, a band GeoTIFF, a metadata file, a ``.zip`` or a folder.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_aster("AST_L1T_00306042003004247_20150428235500_35366.hdf")
    True
    >>> is_aster("LC08_L2SP_171075_20230601_20230607_02_T1_MTL.txt")
    False
    """
    path = Path(path)
    if _parse_name(path.name) is not None:
        return True
    if path.is_dir():
        try:
            return any(_parse_name(p.name) is not None for p in path.iterdir())
        except OSError:
            return False
    return False


def open_aster(path: str | Path, *, resolution: float = 30.0, chunk: int = DEFAULT_CHUNK) -> Scene:
    """Open an ASTER AST_L1T or AST_07XT product as reflectance on one grid.

    Parameters
    ----------
    path : str or Path
        The product folder, its ``.zip``, any of its files (band GeoTIFF, ``.met``), or the
        AST_L1T ``.hdf`` granule. See the module docstring for the supported forms.
    resolution : float
        30.0 (default): the SWIR grid, VNIR averaged onto it. 15.0: the VNIR grid, SWIR
        upsampled bilinearly (adds no information, only aligns pixels).
    chunk : int
        Target chunk edge in pixels.

    Returns
    -------
    Scene
        ``reflectance`` ``(band, y, x)`` float32, dask-backed, NaN at fill, bands ``green, red,
        nir, swir1, swir2165, swir2205, swir2260, swir2330, swir2395``; attrs ``sensor="aster"``,
        ``platform="TERRA"``, ``scene_id``, ``date``, ``processing_level``, ``units`` and,
        for acquisitions on or after 2008-04-01, ``unusable_bands``. ``qa`` is empty.
        ``metadata["bands"][role]`` records gain, UCC, ESUN, the applied ``mult``/``add``
        (reflectance = DN x mult + add), native resolution and resampling.

    Raises
    ------
    InvalidParameterError
        ``resolution`` is neither 15 nor 30.
    InputNotFoundError
        ``path`` does not exist, or a band file cannot be opened.
    ProductError
        No ASTER product, several scenes, a missing band, non-integer DN, an unreadable form.
    MetadataError
        Unknown gain code, missing gain, sun elevation or AST_07XT scale factor, dates that
        disagree.
    GridMismatchError, CRSError
        The band files are not on consistent 15 m / 30 m grids.
    """
    if resolution not in (15.0, 30.0):
        raise InvalidParameterError(
            "The 'resolution' parameter of open_aster must be 15.0 (the VNIR grid) or 30.0 "
            f"(the SWIR grid). Got {resolution!r} instead."
        )
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: ASTER product not found.")
    layout = _locate(path)
    sensor = get_sensor("aster")
    _require_bands(layout, sensor.bands)
    odl = _read_odl(layout.texts)
    acquired, date_source = _acquisition_date(odl, layout)
    sun = _sun_direction(odl, layout.where)
    if layout.product == "L1T":
        if sun is None:
            raise MetadataError(
                f"{layout.where}: no SOLARDIRECTION (solar azimuth, elevation) in "
                f"{_sources(layout)}; TOA reflectance needs the sun elevation."
            )
        distance = earth_sun_distance(acquired.timetuple().tm_yday)
        scaling = _l1t_scaling(odl, layout, distance, sun[1])
    else:
        distance = None
        scaling = _07xt_scaling(layout)
    native = _native_reflectance(layout, sensor.bands, scaling, chunk)
    bands, methods = _on_one_grid(native, layout, sensor.bands, resolution)

    info = _PRODUCTS[layout.product]
    scene_id = layout.granules[0]
    reflectance = xr.concat(list(bands.values()), dim="band", coords="minimal", compat="override")
    reflectance = reflectance.assign_coords(band=list(bands)).rename("reflectance")
    reflectance.attrs = {
        "sensor": sensor.name,
        "platform": "TERRA",
        "scene_id": scene_id,
        "date": acquired.isoformat(),
        "processing_level": info["level"],
        "units": info["units"],
    }
    swir_roles = [b.role for b in sensor.bands if not _is_vnir(b)]
    swir_failure = _swir_failure(acquired, swir_roles, scene_id)
    if swir_failure is not None:
        reflectance.attrs["unusable_bands"] = ",".join(swir_roles)
        reflectance.attrs["unusable_reason"] = (
            f"acquired {acquired.isoformat()}: {SWIR_FAILURE_RULE}"
        )
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    records = {
        b.role: {
            "band": b.number,
            "file": layout.bands[b.number].label,
            **scaling[b.number],
            "native_resolution_m": b.gsd_m,
            "resampling": methods[b.role],
        }
        for b in sensor.bands
    }
    metadata = {
        "product": info["product"],
        "form": layout.form,
        "scene_id": scene_id,
        "granules": list(layout.granules),
        "sensor": sensor.name,
        "platform": "TERRA",
        "processing_level": info["level"],
        "date_acquired": acquired.isoformat(),
        "date_source": date_source,
        "sun_elevation": None if sun is None else sun[1],
        "sun_azimuth": None if sun is None else sun[0],
        "earth_sun_distance": distance,
        "fill_dn": _FILL_DN,
        "resolution_m": resolution,
        "metadata_files": [source for source, _ in layout.texts],
        "bands": records,
        "swir_failure": swir_failure,
        "qa_layers": [],
        "qa_kind": None,
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    return Scene(reflectance, {}, metadata, list(layout.files))


def _require_bands(layout: _Layout, bands: tuple[BandInfo, ...]) -> None:
    missing = [b for b in bands if b.number not in layout.bands]
    if missing:
        names = ", ".join(f"{b.number} ({b.role})" for b in missing)
        raise ProductError(
            f"{layout.where}: band(s) {names} missing from {layout.granules[0]}; found "
            f"{', '.join(sorted(layout.bands)) or 'none'}. geo needs VNIR bands 1-3N and SWIR "
            "bands 4-9 (ASTER scenes acquired after January 2009 carry no SWIR)."
        )


def _native_reflectance(
    layout: _Layout,
    bands: tuple[BandInfo, ...],
    scaling: dict[str, dict[str, Any]],
    chunk: int,
) -> dict[str, xr.DataArray]:
    """Open each band lazily and scale it to reflectance on its own 15 m or 30 m grid."""
    native: dict[str, xr.DataArray] = {}
    for band in bands:
        source = layout.bands[band.number]
        dn = source.load(chunk=chunk)
        _check_dn(dn, source.label)
        _check_native_grid(dn, band.gsd_m, source.label)
        coefficients = scaling[band.number]
        native[band.role] = _dn_to_reflectance(dn, coefficients["mult"], coefficients["add"])
    vnir = [b for b in bands if _is_vnir(b)]
    swir = [b for b in bands if not _is_vnir(b)]
    for group in (vnir, swir):
        grids = {layout.bands[b.number].label: native[b.role] for b in group}
        check_same_grid(grids, source=layout.where)
    vnir_crs, swir_crs = native["green"].rio.crs, native["swir1"].rio.crs
    if vnir_crs != swir_crs:
        raise CRSError(
            f"{layout.where}: the VNIR bands have CRS {vnir_crs} but the SWIR bands have "
            f"{swir_crs}; one product must use one CRS."
        )
    return native


def _on_one_grid(
    native: dict[str, xr.DataArray],
    layout: _Layout,
    bands: tuple[BandInfo, ...],
    resolution: float,
) -> tuple[dict[str, xr.DataArray], dict[str, str]]:
    """Bring every band onto the 30 m (SWIR) or 15 m (VNIR) grid; return bands and methods."""
    target = native["swir1"] if resolution == 30.0 else native["green"]
    out: dict[str, xr.DataArray] = {}
    methods: dict[str, str] = {}
    for band in bands:
        if band.gsd_m == resolution:
            out[band.role], methods[band.role] = native[band.role], "none"
        else:
            label = layout.bands[band.number].label
            out[band.role] = _onto_grid(native[band.role], target, source=label)
            methods[band.role] = "average" if band.gsd_m < resolution else "bilinear"
    return out, methods


def _swir_failure(acquired: date, swir_roles: list[str], scene_id: str) -> dict[str, str] | None:
    """Return the SWIR detector-failure record (and log it) if the rule applies, else None."""
    if acquired < SWIR_FAILURE_DATE:
        return None
    logger.warning(
        "%s: acquired %s, on or after %s; SWIR bands %s are marked unusable (%s).",
        scene_id,
        acquired.isoformat(),
        SWIR_FAILURE_DATE.isoformat(),
        ", ".join(swir_roles),
        SWIR_FAILURE_RULE,
    )
    return {"acquired": acquired.isoformat(), "rule": SWIR_FAILURE_RULE}


def earth_sun_distance(day_of_year: int) -> float:
    """Return the Earth-Sun distance in astronomical units for a day of year.

    d = 1 - 0.01672 cos(0.9856 (DOY - 4)), the argument in degrees (DOMAIN.md §1.5, from the
    LP DAAC ASTER L1T script).

    Parameters
    ----------
    day_of_year : int
        1 for 1 January.

    Returns
    -------
    float

    Examples
    --------
    >>> round(earth_sun_distance(4), 5), round(earth_sun_distance(187), 4)
    (0.98328, 1.0167)
    """
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (day_of_year - 4)))


# --------------------------------------------------------------------------------------
# Finding the files of one scene


class _Name(NamedTuple):
    granule: str
    product: str
    acquired: datetime


def _parse_name(name: str) -> _Name | None:
    """Parse an ASTER granule name (or a file name that starts with one)."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        acquired = datetime.strptime(match["acquired"], "%m%d%Y%H%M%S")
    except ValueError:
        return None
    return _Name(match["granule"], match["product"], acquired)


@dataclass(frozen=True)
class _Entry:
    """One file of a product, on disk or inside a ``.zip``."""

    name: str
    gdal_path: str
    local: Path | None
    read_text: Callable[[], str]


class _Loader(Protocol):
    """Open one band's DN lazily in chunks of ``chunk`` pixels."""

    def __call__(self, *, chunk: int) -> xr.DataArray: ...


@dataclass(frozen=True)
class _BandSource:
    """Where one band's DN are and how to open them lazily."""

    label: str
    load: _Loader
    gdal_path: str | None


@dataclass(frozen=True)
class _Layout:
    product: str
    form: str
    granules: tuple[str, ...]
    acquired: date
    bands: dict[str, _BandSource]
    texts: tuple[tuple[str, str], ...]
    files: tuple[str, ...]
    where: str


def _locate(path: Path) -> _Layout:
    in_zip = path.is_file() and path.suffix.lower() == ".zip"
    if in_zip:
        entries, where = _zip_entries(path), str(path)
    else:
        folder = path if path.is_dir() else path.parent
        entries, where = _folder_entries(folder), str(folder)
    scenes: dict[tuple[str, datetime], list[tuple[_Entry, _Name]]] = {}
    for entry in entries:
        name = _parse_name(entry.name)
        if name is not None:
            scenes.setdefault((name.product, name.acquired), []).append((entry, name))
    if path.is_file() and not in_zip:
        own = _parse_name(path.name)
        if own is None:
            raise ProductError(
                f"{path}: not an ASTER file name; expected AST_L1T_003MMDDYYYYHHMMSS_... or "
                "AST_07XT_... ."
            )
        scenes = {(own.product, own.acquired): scenes[(own.product, own.acquired)]}
    if not scenes:
        raise ProductError(
            f"{where}: no ASTER AST_L1T_* or AST_07XT_* files found; "
            f"saw {', '.join(sorted(e.name for e in entries)[:8]) or 'nothing'}."
        )
    if len(scenes) > 1:
        found = ", ".join(f"AST_{p} acquired {t:%Y-%m-%d %H:%M:%S}" for p, t in sorted(scenes))
        raise ProductError(
            f"{where}: holds several ASTER scenes ({found}); point at one scene's folder or file."
        )
    members = next(iter(scenes.values()))
    product, acquired = members[0][1].product, members[0][1].acquired.date()
    granules = tuple(sorted({n.granule for _, n in members}))
    metadata_files = [e for e, _ in members if e.name.lower().endswith(_METADATA_SUFFIXES)]
    texts = tuple((_entry_label(e, where), e.read_text()) for e in metadata_files)
    tifs = [(e, m["band"].upper()) for e, _ in members if (m := _BAND_FILE.search(e.name))]
    hdfs = [
        e
        for e, _ in members
        if e.name.lower().endswith(".hdf") and not e.name.lower().endswith("_br.hdf")
    ]
    if tifs:
        bands = _geotiff_bands(tifs, where)
        read = [e for e, _ in tifs] + metadata_files
        files = (where,) if in_zip else tuple(str(e.local) for e in read)
        return _Layout(product, "geotiff", granules, acquired, bands, texts, files, where)
    if hdfs:
        return _hdf_layout(hdfs, product, granules, acquired, texts, where)
    raise ProductError(
        f"{where}: the ASTER scene {granules[0]} has no band data geo can read; saw "
        f"{', '.join(sorted(e.name for e, _ in members))}. Expected one GeoTIFF per band "
        "(*ImageData1.tif ... *ImageData9.tif) or the AST_L1T .hdf granule; _V.tif/_T.tif are "
        "browse composites, not calibrated DN."
    )


def _folder_entries(folder: Path) -> list[_Entry]:
    return [
        _Entry(p.name, str(p), p, partial(p.read_text, encoding="utf-8", errors="replace"))
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]


def _zip_entries(path: Path) -> list[_Entry]:
    def read(member: str) -> str:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member).decode("utf-8", errors="replace")

    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProductError(f"{path}: cannot read the zip archive ({exc}).") from None
    absolute = path.resolve()
    return [
        _Entry(Path(m).name, f"/vsizip/{absolute}/{m}", None, partial(read, m)) for m in members
    ]


def _entry_label(entry: _Entry, where: str) -> str:
    return str(entry.local) if entry.local is not None else f"{where}!{entry.name}"


def _geotiff_bands(tifs: list[tuple[_Entry, str]], where: str) -> dict[str, _BandSource]:
    found: dict[str, list[_Entry]] = {}
    for entry, number in tifs:
        found.setdefault(number, []).append(entry)
    for number, entries in found.items():
        if len(entries) > 1:
            raise ProductError(
                f"{where}: band {number} is in several files "
                f"({', '.join(e.name for e in entries)}); keep one per band."
            )
    return {
        number: _BandSource(
            entry.name, partial(open_band, entry.gdal_path, label=entry.name), entry.gdal_path
        )
        for number, (entry,) in found.items()
    }


def _sources(layout: _Layout) -> str:
    return ", ".join(source for source, _ in layout.texts) or "no metadata file (.met/.txt)"


# --------------------------------------------------------------------------------------
# ODL metadata (ECS .met files and the HDF coremetadata/productmetadata attributes)

_ODL_STATEMENT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$")
_ODL_STRUCTURE = {"GROUP", "END_GROUP", "GROUPTYPE", "CLASS", "NUM_VAL"}
_ODL_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_Odl = dict[str, list[tuple[Any, str]]]


def _odl_statements(text: str) -> Iterable[tuple[str, str]]:
    """Yield ``(key, raw value)``; a value continues over lines while quotes or () are open."""
    pending = ""
    for line in text.replace("\x00", "").splitlines():
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        bare = re.sub(r'"[^"]*"', "", pending)
        if '"' in bare or bare.count("(") > bare.count(")"):
            continue
        match = _ODL_STATEMENT.match(pending)
        pending = ""
        if match:
            yield match.group(1).upper(), match.group(2)


def _odl_scalar(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    if _ODL_NUMBER.match(raw):
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    return raw


def _odl_value(raw: str) -> Any:
    """Convert an ODL value; a ``( , )`` tuple becomes a list."""
    raw = raw.strip()
    if raw.startswith("(") and raw.endswith(")"):
        return [_odl_scalar(item) for item in re.findall(r'"[^"]*"|[^,]+', raw[1:-1])]
    return _odl_scalar(raw)


def _parse_odl(text: str) -> list[tuple[str, Any]]:
    """Return ``(name, value)`` for each ``OBJECT = name ... VALUE = v`` and each bare key."""
    out: list[tuple[str, Any]] = []
    objects: list[str] = []
    for key, raw in _odl_statements(text):
        if key == "OBJECT":
            objects.append(raw.strip().upper())
        elif key == "END_OBJECT":
            if objects:
                objects.pop()
        elif key == "VALUE" and objects:
            out.append((objects[-1], _odl_value(raw)))
        elif not objects and key not in _ODL_STRUCTURE:
            out.append((key, _odl_value(raw)))
    return out


def _read_odl(texts: Iterable[tuple[str, str]]) -> _Odl:
    odl: _Odl = {}
    for source, text in texts:
        for name, value in _parse_odl(text):
            odl.setdefault(name, []).append((value, source))
    return odl


def _lookup(
    odl: _Odl, name: str, where: str, parse: Callable[[Any], Any], expected: str
) -> tuple[Any, str] | None:
    """Return ``(parsed value, first source)`` of ``name``, None if absent.

    Every occurrence is parsed; occurrences that disagree after parsing raise (a ``.met``
    writes ``2003-06-04`` where the HDF attribute writes ``20030604``: that is agreement).
    """
    found = []
    for value, source in odl.get(name, []):
        try:
            found.append((parse(value), source))
        except (TypeError, ValueError):
            raise MetadataError(
                f"{source}: cannot read {name} = {value!r}; expected {expected}."
            ) from None
    if len({value for value, _ in found}) > 1:
        seen = "; ".join(f"{v} in {s}" for v, s in found)
        raise MetadataError(f"{where}: {name} has conflicting values: {seen}.")
    return found[0] if found else None


def _calendar_date(value: Any) -> date:
    text = str(value).strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return datetime.strptime(text, "%Y%m%d").date()


def _pair(value: Any) -> tuple[float, float]:
    first, second = value
    return float(first), float(second)


def _acquisition_date(odl: _Odl, layout: _Layout) -> tuple[date, str]:
    """Return the acquisition date and where it was read; metadata must agree with the name."""
    found = _lookup(odl, "CALENDARDATE", layout.where, _calendar_date, "YYYY-MM-DD or YYYYMMDD")
    if found is None:
        return layout.acquired, "granule name"
    parsed, source = found
    if parsed != layout.acquired:
        raise MetadataError(
            f"{source}: CALENDARDATE is {parsed} but the granule name {layout.granules[0]} "
            f"says {layout.acquired}; the metadata belongs to another acquisition."
        )
    return parsed, source


def _sun_direction(odl: _Odl, where: str) -> tuple[float, float] | None:
    """Return ``(azimuth, elevation)`` in degrees from ``SOLARDIRECTION``, or None."""
    found = _lookup(odl, "SOLARDIRECTION", where, _pair, "(azimuth, elevation) in degrees")
    if found is None:
        return None
    (azimuth, elevation), source = found
    if not (math.isfinite(azimuth) and math.isfinite(elevation)):
        raise MetadataError(
            f"{source}: SOLARDIRECTION is ({azimuth}, {elevation}); expected finite (azimuth, "
            "elevation) in degrees. The metadata file is damaged; download the product again."
        )
    if not 0.0 < elevation <= 90.0:
        raise MetadataError(
            f"{source}: the sun elevation in SOLARDIRECTION is {elevation} degrees; reflectance "
            "needs the sun above the horizon (night scenes have none)."
        )
    return azimuth, elevation


def _gains(odl: _Odl, where: str) -> dict[str, tuple[str, str]]:
    """Return ``{band: (gain code, source)}`` from the ``GAIN`` objects ``("01", "HGH")``."""
    gains: dict[str, tuple[str, str]] = {}
    for value, source in odl.get("GAIN", []):
        if not (isinstance(value, list) and len(value) == 2):
            raise MetadataError(f"{source}: GAIN should be (band, code), got {value!r}.")
        band = str(value[0]).strip().upper().lstrip("0")
        code = str(value[1]).strip().upper()
        if band in gains and gains[band][0] != code:
            raise MetadataError(
                f"{where}: band {band} has gain {gains[band][0]} in {gains[band][1]} but "
                f"{code} in {source}."
            )
        gains[band] = (code, source)
    return gains


def _l1t_scaling(
    odl: _Odl, layout: _Layout, distance: float, sun_elevation: float
) -> dict[str, dict[str, Any]]:
    """DN -> TOA reflectance coefficients per band: reflectance = DN x mult + add."""
    gains = _gains(odl, layout.where)
    scaling: dict[str, dict[str, Any]] = {}
    for number, constants in RADIOMETRY.items():
        if number not in gains:
            seen = ", ".join(f"{b}={c}" for b, (c, _) in sorted(gains.items())) or "none"
            raise MetadataError(
                f"{layout.where}: no GAIN for band {number} in {_sources(layout)} (gains seen: "
                f"{seen}); the UCC depends on it. Keep the product's metadata (.met, or the "
                "productmetadata text of a GeoTIFF order) beside the band files."
            )
        code, source = gains[number]
        field = _GAIN_FIELD.get(code)
        if field is None:
            raise MetadataError(
                f"{source}: band {number} has gain code {code!r}; known codes: "
                f"{', '.join(_GAIN_FIELD)}."
            )
        ucc = getattr(constants, field)
        if ucc is None:
            raise MetadataError(
                f"{source}: band {number} reports gain {code}, which VNIR bands do not have "
                "(no UCC); the metadata is inconsistent."
            )
        mult = toa_factor(ucc, constants.esun, distance, sun_elevation)
        scaling[number] = {
            "gain": code,
            "ucc": ucc,
            "esun": constants.esun,
            "mult": mult,
            "add": -mult,
        }
    return scaling


def _07xt_scaling(layout: _Layout) -> dict[str, dict[str, Any]]:
    """Surface reflectance = DN x scale + offset, both read from each band file."""
    scaling: dict[str, dict[str, Any]] = {}
    for number, source in layout.bands.items():
        assert source.gdal_path is not None  # AST_07XT is read from GeoTIFFs only
        mult, add, where = _tif_scale(source.gdal_path, source.label)
        scaling[number] = {
            "gain": None,
            "ucc": None,
            "esun": None,
            "mult": mult,
            "add": add,
            "scale_source": where,
        }
    return scaling


def _tif_scale(path: str, label: str) -> tuple[float, float, str]:
    with rasterio.open(path) as src:
        scale, offset = src.scales[0], src.offsets[0]
        tags = {k.lower(): v for k, v in {**src.tags(), **src.tags(1)}.items()}
    if scale != 1.0:
        found: tuple[Any, Any, str] = (scale, offset, "GDAL band scale/offset")
    elif "scale_factor" in tags:
        found = (tags["scale_factor"], tags.get("add_offset", 0.0), "scale_factor tag")
    else:
        raise MetadataError(
            f"{path}: {label} carries no reflectance scale factor (no GDAL band scale, no "
            "scale_factor tag). AST_07XT DN are scaled integers and LP DAAC documents both "
            "0.001 and 0.0001, so geo will not guess; set the scale on the file from the "
            "product's documentation (e.g. `gdal_edit.py -scale 0.001 FILE`)."
        )
    try:
        mult, add = float(found[0]), float(found[1])
    except (TypeError, ValueError):
        raise MetadataError(
            f"{path}: the {found[2]} of {label} is {found[0]!r} / {found[1]!r}, not numbers."
        ) from None
    if not (math.isfinite(mult) and mult > 0):
        raise MetadataError(
            f"{path}: the {found[2]} of {label} is {mult}; expected a finite, positive scale "
            "(LP DAAC documents 0.001 and 0.0001). The file is damaged or was edited; download "
            "it again or set the scale (`gdal_edit.py -scale 0.001 FILE`)."
        )
    if not math.isfinite(add):
        raise MetadataError(
            f"{path}: the {found[2]} of {label} gives offset {add}; expected a finite number "
            "(usually 0). The file is damaged or was edited; download it again or set the "
            "offset (`gdal_edit.py -offset 0 FILE`)."
        )
    return mult, add, found[2]


# --------------------------------------------------------------------------------------
# Radiometry and grids (pure helpers)


def toa_factor(ucc: float, esun: float, distance: float, sun_elevation: float) -> float:
    """Return the factor f with TOA reflectance = (DN - 1) x f.

    f = pi UCC d^2 / (ESUN sin(sun elevation)) (DOMAIN.md §1.5).

    Examples
    --------
    >>> round(toa_factor(0.2174, 225.4, 1.0, 90.0), 6)
    0.00303
    """
    return math.pi * ucc * distance**2 / (esun * math.sin(math.radians(sun_elevation)))


def _dn_to_reflectance(dn: xr.DataArray, mult: float, add: float) -> xr.DataArray:
    """Reflectance = DN x mult + add in float32; DN 0 and the file's nodata become NaN."""
    return scale_values(dn, mult, add, nodata=(_FILL_DN, dn.rio.nodata))


def _is_vnir(band: BandInfo) -> bool:
    return band.number in _VNIR_BANDS


def _check_dn(dn: xr.DataArray, label: str) -> None:
    if dn.dtype.kind not in "iu":
        raise ProductError(
            f"{label}: holds {dn.dtype} values; ASTER band files hold integer DN. Converted "
            "radiance or reflectance (such as the *_radiance.tif / *_reflectance.tif the LP "
            "DAAC scripts write) cannot be read as a product; give the DN files."
        )


def _check_native_grid(band: xr.DataArray, gsd: float, label: str) -> None:
    transform = band.rio.transform()
    if transform.b != 0 or transform.d != 0:
        raise GridMismatchError(
            f"{label}: the pixel grid is rotated ({tuple(transform)[:6]}); geo reads north-up "
            "grids only. Warp it north-up first (gdalwarp)."
        )
    if not (math.isclose(transform.a, gsd) and math.isclose(-transform.e, gsd)):
        raise GridMismatchError(
            f"{label}: pixel size is {transform.a} x {-transform.e} m; ASTER delivers this "
            f"band at {gsd:g} m. Give the product's own band files, not resampled copies."
        )


def _onto_grid(band: xr.DataArray, target: xr.DataArray, *, source: str) -> xr.DataArray:
    """Resample ``band`` onto ``target``'s grid: area-weighted mean down, bilinear up."""
    src, dst = band.rio.transform(), target.rio.transform()
    if abs(dst.c - src.c) > max(src.a, dst.a) or abs(dst.f - src.f) > max(src.a, dst.a):
        raise GridMismatchError(
            f"{source}: its grid starts at ({src.c}, {src.f}) but the target grid at "
            f"({dst.c}, {dst.f}); the VNIR and SWIR files of one scene cover the same area."
        )
    ratio = dst.a / src.a
    shift_x = round((dst.c - src.c) / src.a, 6)  # target origin in source pixels
    shift_y = round((src.f - dst.f) / src.a, 6)
    taps = _area_taps if ratio > 1 else _bilinear_taps
    data = _weighted_mean(
        band.data,
        taps(target.sizes["y"], ratio, shift_y, band.sizes["y"]),
        taps(target.sizes["x"], ratio, shift_x, band.sizes["x"]),
    )
    return xr.DataArray(data.rechunk(target.data.chunks), coords=target.coords, dims=target.dims)


_Taps = list[tuple[np.ndarray, np.ndarray]]


def _area_taps(n_out: int, ratio: float, shift: float, n_in: int) -> _Taps:
    """Source indices and overlap weights along one axis for an area-weighted mean.

    Output pixel ``i`` covers source positions ``[shift + ratio i, shift + ratio (i + 1))``
    (in source pixels, ``ratio`` a whole number). Out-of-range taps get weight 0.

    Examples
    --------
    >>> [(i.tolist(), w.tolist()) for i, w in _area_taps(2, 2, -0.5, 4)]
    [([0, 1], [0.0, 0.5]), ([0, 2], [1.0, 1.0]), ([1, 3], [0.5, 0.5])]
    """
    start = shift + ratio * np.arange(n_out)
    first = np.floor(start).astype(int)
    frac = start - first
    steps = round(ratio)
    weights = [1.0 - frac] + [np.ones(n_out)] * (steps - 1) + [frac]
    return _in_range([(first + m, w) for m, w in enumerate(weights)], n_in)


def _bilinear_taps(n_out: int, ratio: float, shift: float, n_in: int) -> _Taps:
    """Source indices and weights along one axis for bilinear interpolation at pixel centres.

    Examples
    --------
    >>> [(i.tolist(), w.tolist()) for i, w in _bilinear_taps(4, 0.5, 0.0, 2)]
    [([0, 0, 0, 1], [0.0, 0.75, 0.25, 0.75]), ([0, 1, 1, 1], [0.75, 0.25, 0.75, 0.0])]
    """
    position = shift + (np.arange(n_out) + 0.5) * ratio - 0.5
    first = np.floor(position).astype(int)
    frac = position - first
    return _in_range([(first, 1.0 - frac), (first + 1, frac)], n_in)


def _in_range(taps: list[tuple[np.ndarray, np.ndarray]], n_in: int) -> _Taps:
    """Clip indices into ``[0, n_in)``, zero the weight of clipped ones, drop empty taps."""
    out = []
    for index, weight in taps:
        inside = (index >= 0) & (index < n_in)
        weight = np.where(inside, weight, 0.0).astype("float32")
        if weight.any():
            out.append((np.clip(index, 0, n_in - 1), weight))
    return out


def _weighted_mean(data: da.Array, taps_y: _Taps, taps_x: _Taps) -> da.Array:
    """Separable weighted mean of ``data`` over the taps, ignoring NaN (NaN if none valid)."""
    num = den = None
    for rows, wy in taps_y:
        picked_rows = data[rows]
        for cols, wx in taps_x:
            values = picked_rows[:, cols]
            valid = da.isfinite(values)
            term = da.where(valid, values, 0.0) * wy[:, None] * wx[None, :]
            mass = valid * wy[:, None] * wx[None, :]
            num = term if num is None else num + term
            den = mass if den is None else den + mass
    assert num is not None and den is not None
    has = den > 0
    return da.where(has, num / da.where(has, den, 1.0), np.nan).astype("float32")


# --------------------------------------------------------------------------------------
# The AST_L1T HDF-EOS granule (optional: pyhdf)


def _pyhdf(source: str) -> Any:
    try:
        from pyhdf import SD
    except ImportError:
        raise ProductError(
            f"{source}: reading the ASTER HDF-EOS granule needs the optional package pyhdf "
            "(`pip install pyhdf`); it is not installed. Alternatively order the GeoTIFF "
            "delivery of the same granule."
        ) from None
    return SD


def _hdf_layout(
    hdfs: list[_Entry],
    product: str,
    granules: tuple[str, ...],
    acquired: date,
    companions: tuple[tuple[str, str], ...],
    where: str,
) -> _Layout:
    if product != "L1T":
        raise ProductError(
            f"{where}: geo reads AST_07XT only as its GeoTIFF delivery (one georeferenced .tif "
            "per band); the HDF-EOS files hold swath geometry without a north-up map grid."
        )
    if len(hdfs) != 1 or hdfs[0].local is None:
        raise ProductError(
            f"{where}: expected one AST_L1T .hdf granule on disk, found "
            f"{', '.join(e.name for e in hdfs)} (extract it from any archive first)."
        )
    path = str(hdfs[0].local)
    pyhdf_sd = _pyhdf(path)
    try:
        sd = pyhdf_sd.SD(path, pyhdf_sd.SDC.READ)
    except pyhdf_sd.HDF4Error as exc:
        raise ProductError(f"{path}: cannot open the HDF4 granule ({exc}).") from None
    try:
        texts = tuple(
            (f"{path}:{name}", value)
            for name, value in sorted(sd.attributes().items())
            if isinstance(value, str)
            and name.lower().startswith(("coremetadata", "productmetadata"))
        )
        datasets: dict[str, tuple[str, tuple[int, int], np.dtype]] = {}
        for sds_name, (_, shape, *_) in sd.datasets().items():
            match = _BAND_SDS.search(sds_name)
            if match is not None and len(shape) == 2:
                sds = sd.select(sds_name)
                dtype = np.asarray(sds[0:1, 0:1]).dtype
                sds.endaccess()
                datasets[match["band"].upper()] = (sds_name, (shape[0], shape[1]), dtype)
    finally:
        sd.end()
    texts = texts + companions
    crs, easting, northing = _hdf_georeference(_read_odl(texts), path)
    gsds = {b.number: b.gsd_m for b in get_sensor("aster").bands}
    bands = {}
    for number, (sds_name, shape, dtype) in datasets.items():
        gsd = gsds[number]
        transform = Affine(gsd, 0.0, easting - gsd / 2, 0.0, -gsd, northing + gsd / 2)
        load = partial(_open_sds, path, sds_name, shape, dtype, transform, crs)
        bands[number] = _BandSource(f"{Path(path).name}:{sds_name}", load, None)
    files = (path, *(s for s, _ in companions))
    return _Layout(product, "hdf4", granules, acquired, bands, texts, files, where)


def _hdf_georeference(odl: _Odl, source: str) -> tuple[str, float, float]:
    """Return the CRS and the centre of the upper-left pixel (easting, northing).

    LP DAAC's conversion scripts read ``UPPERLEFTM`` as (northing, easting) of the upper-left
    pixel centre, the UTM zone from ``UTMZONENUMBER``/``UTMZONECODE``, and take a negative
    ``NORTHBOUNDINGCOORDINATE`` as the southern hemisphere (northing + 10 000 000 m).
    """
    corner = _lookup(odl, "UPPERLEFTM", source, _pair, "(northing, easting) in metres")
    zone = _lookup(odl, "UTMZONENUMBER", source, int, "a UTM zone number") or _lookup(
        odl, "UTMZONECODE", source, int, "a UTM zone number"
    )
    north = _lookup(odl, "NORTHBOUNDINGCOORDINATE", source, float, "a latitude in degrees")
    if corner is None or zone is None or north is None:
        absent = [
            name
            for name, found in (
                ("UPPERLEFTM", corner),
                ("UTMZONENUMBER/UTMZONECODE", zone),
                ("NORTHBOUNDINGCOORDINATE", north),
            )
            if found is None
        ]
        raise MetadataError(
            f"{source}: the granule metadata lacks {', '.join(absent)}; geo cannot place the "
            "AST_L1T grid without them."
        )
    (northing, easting), zone_number, south = corner[0], zone[0], north[0] < 0
    if not 1 <= zone_number <= 60:
        raise MetadataError(f"{source}: UTM zone {zone_number} is not in 1-60.")
    if south:
        northing += 10_000_000.0
    return f"EPSG:{(32700 if south else 32600) + zone_number}", easting, northing


class _SdsReader:
    """Array-like view of one HDF4 dataset for dask; each read opens the file under a lock."""

    def __init__(self, path: str, name: str, shape: tuple[int, int], dtype: np.dtype):
        self.path, self.name, self.shape, self.dtype = path, name, shape, dtype
        self.ndim = len(shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        bounds = [k.indices(n) for k, n in zip(key, self.shape, strict=True)]
        if any(len(range(*b)) == 0 for b in bounds):  # pyhdf reads everything for [0:0]
            return np.empty(tuple(len(range(*b)) for b in bounds), self.dtype)
        pyhdf_sd = _pyhdf(self.path)
        try:
            with _HDF_LOCK:
                sd = pyhdf_sd.SD(self.path, pyhdf_sd.SDC.READ)
                try:
                    sds = sd.select(self.name)
                    try:
                        block = np.asarray(sds[tuple(slice(b[0], b[1]) for b in bounds)])
                    finally:
                        sds.endaccess()
                finally:
                    sd.end()
        except pyhdf_sd.HDF4Error as exc:
            (r0, r1, _), (c0, c1, _) = bounds
            error = read_error(
                self.path, exc, rows=(r0, r1 - 1), cols=(c0, c1 - 1), label=self.name
            )
        else:
            return block[tuple(slice(None, None, b[2]) for b in bounds)]
        raise error  # outside the except block: picklable for dask distributed


def _open_sds(
    path: str,
    name: str,
    shape: tuple[int, int],
    dtype: np.dtype,
    transform: Affine,
    crs: str,
    chunk: int,
) -> xr.DataArray:
    data = da.from_array(
        _SdsReader(path, name, shape, dtype),
        chunks=(chunk, chunk),
        meta=np.empty((0, 0), dtype),
        name=f"aster-hdf-{tokenize(path, name, Path(path).stat().st_mtime_ns)}",
    )
    ny, nx = shape
    coords = {
        "y": transform.f + transform.e * (np.arange(ny) + 0.5),
        "x": transform.c + transform.a * (np.arange(nx) + 0.5),
    }
    band = xr.DataArray(data, dims=("y", "x"), coords=coords)
    return band.rio.write_crs(crs).rio.write_transform(transform)
